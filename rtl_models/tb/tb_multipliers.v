// Self-checking testbench: array_multiplier and booth_multiplier against a * b
// (two's complement when SIGNED=1, unsigned when SIGNED=0), on every pair of corner
// operands and NRAND random pairs.
module tb_multipliers;
    parameter WIDTH  = 8;
    parameter SIGNED = 1;
    parameter NRAND  = 2000;
    parameter SEED   = 1;

    integer seed = SEED;
    `include "tb_common.vh"

    reg  [WIDTH-1:0]   a, b;
    wire [2*WIDTH-1:0] p_array, p_booth;
    array_multiplier #(.WIDTH(WIDTH), .SIGNED(SIGNED)) arr   (.a(a), .b(b), .product(p_array));
    booth_multiplier #(.WIDTH(WIDTH), .SIGNED(SIGNED)) booth (.a(a), .b(b), .product(p_booth));

    integer checks = 0, errors = 0, i, j;
    reg [2*WIDTH-1:0] expected;

    task check;
        begin
            #1;
            // Operands are extended to the 2*WIDTH-bit context before multiplying.
            if (SIGNED != 0)
                expected = $signed(a) * $signed(b);
            else
                expected = a * b;
            checks = checks + 1;
            if (p_array !== expected) begin
                errors = errors + 1;
                if (errors <= 10)
                    $display("mismatch array_multiplier SIGNED=%0d a=%h b=%h got=%h expected=%h",
                             SIGNED, a, b, p_array, expected);
            end
            if (p_booth !== expected) begin
                errors = errors + 1;
                if (errors <= 10)
                    $display("mismatch booth_multiplier SIGNED=%0d a=%h b=%h got=%h expected=%h",
                             SIGNED, a, b, p_booth, expected);
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
        report(SIGNED != 0 ? "tb_multipliers signed" : "tb_multipliers unsigned", checks, errors);
        $finish;
    end
endmodule
