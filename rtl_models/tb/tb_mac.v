// Self-checking testbench: mac_unit in all four architecture combinations (array/booth
// multiplier x ripple-carry/Kogge-Stone adder) against a behavioural accumulator, over
// NCYCLES clock cycles of random operands with random resets and enables, then a burst
// of most-negative x most-negative products that walks the accumulator through its
// guard bits.
module tb_mac;
    parameter WIDTH   = 8;
    parameter SIGNED  = 1;
    parameter NCYCLES = 2000;
    parameter SEED    = 1;
    localparam ACC_WIDTH = 2 * WIDTH + 8;

    integer seed = SEED;
    `include "tb_common.vh"

    reg                  clk = 1'b0, rst = 1'b1, en = 1'b0;
    reg  [WIDTH-1:0]     a = 0, b = 0;
    wire [ACC_WIDTH-1:0] acc [0:3];
    mac_unit #(.WIDTH(WIDTH), .SIGNED(SIGNED), .MULTIPLIER("array"), .ADDER("ripple_carry"))
        mac_ar (.clk(clk), .rst(rst), .en(en), .a(a), .b(b), .acc(acc[0]));
    mac_unit #(.WIDTH(WIDTH), .SIGNED(SIGNED), .MULTIPLIER("array"), .ADDER("kogge_stone"))
        mac_ak (.clk(clk), .rst(rst), .en(en), .a(a), .b(b), .acc(acc[1]));
    mac_unit #(.WIDTH(WIDTH), .SIGNED(SIGNED), .MULTIPLIER("booth"), .ADDER("ripple_carry"))
        mac_br (.clk(clk), .rst(rst), .en(en), .a(a), .b(b), .acc(acc[2]));
    mac_unit #(.WIDTH(WIDTH), .SIGNED(SIGNED), .MULTIPLIER("booth"), .ADDER("kogge_stone"))
        mac_bk (.clk(clk), .rst(rst), .en(en), .a(a), .b(b), .acc(acc[3]));

    integer checks = 0, errors = 0, cycle, m;
    reg [ACC_WIDTH-1:0] model = 0, addend;

    // One clock cycle: apply inputs, update the model, compare after the edge.
    task step;
        begin
            if (SIGNED != 0)
                addend = $signed(a) * $signed(b);    // sign-extended to ACC_WIDTH
            else
                addend = a * b;
            if (rst)
                model = 0;
            else if (en)
                model = model + addend;
            #5 clk = 1'b1;
            #1;
            for (m = 0; m < 4; m = m + 1) begin
                checks = checks + 1;
                if (acc[m] !== model) begin
                    errors = errors + 1;
                    if (errors <= 10)
                        $display("mismatch mac_unit #%0d cycle=%0d got=%h expected=%h",
                                 m, cycle, acc[m], model);
                end
            end
            #4 clk = 1'b0;
        end
    endtask

    initial begin
        cycle = 0;
        step;                                        // leave reset
        rst = 1'b0;
        for (cycle = 1; cycle <= NCYCLES; cycle = cycle + 1) begin
            rst = ($random(seed) & 63) == 0;
            en  = ($random(seed) & 3) != 0;
            if (($random(seed) & 7) == 0) begin
                a = corner($unsigned($random(seed)) % NCORNER);
                b = corner($unsigned($random(seed)) % NCORNER);
            end else begin
                random_word(a);
                random_word(b);
            end
            step;
        end
        rst = 1'b0;
        en  = 1'b1;
        a = SIGNED ? corner(3) : corner(2);
        b = a;
        for (cycle = NCYCLES + 1; cycle <= NCYCLES + 300; cycle = cycle + 1)
            step;
        report(SIGNED != 0 ? "tb_mac signed" : "tb_mac unsigned", checks, errors);
        $finish;
    end
endmodule
