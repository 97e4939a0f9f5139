// Self-checking testbench: ripple_carry_adder and kogge_stone_adder against a + b,
// on every pair of corner operands and NRAND random pairs.
module tb_adders;
    parameter WIDTH = 8;
    parameter NRAND = 2000;
    parameter SEED  = 1;

    integer seed = SEED;
    `include "tb_common.vh"

    reg  [WIDTH-1:0] a, b;
    wire [WIDTH-1:0] sum_rca, sum_ks;
    wire             cout_rca, cout_ks;
    ripple_carry_adder #(.WIDTH(WIDTH)) rca (.a(a), .b(b), .sum(sum_rca), .cout(cout_rca));
    kogge_stone_adder  #(.WIDTH(WIDTH)) ks  (.a(a), .b(b), .sum(sum_ks),  .cout(cout_ks));

    integer checks = 0, errors = 0, i, j;
    reg [WIDTH:0] expected;

    task check;
        begin
            #1;
            expected = {1'b0, a} + {1'b0, b};
            checks = checks + 1;
            if ({cout_rca, sum_rca} !== expected) begin
                errors = errors + 1;
                if (errors <= 10)
                    $display("mismatch ripple_carry_adder a=%h b=%h got=%h expected=%h",
                             a, b, {cout_rca, sum_rca}, expected);
            end
            if ({cout_ks, sum_ks} !== expected) begin
                errors = errors + 1;
                if (errors <= 10)
                    $display("mismatch kogge_stone_adder a=%h b=%h got=%h expected=%h",
                             a, b, {cout_ks, sum_ks}, expected);
            end
        end
    endtask

    initial begin
        for (i = 0; i < NCORNER; i = i + 1)
            for (j = 0; j < NCORNER; j = j + 1) begin
                a = corner(i);
                b = corner(j);
                check;
            end
        for (i = 0; i < NRAND; i = i + 1) begin
            random_word(a);
            random_word(b);
            check;
        end
        report("tb_adders", checks, errors);
        $finish;
    end
endmodule
