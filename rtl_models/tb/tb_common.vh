// Shared by the testbenches (included inside a module that defines WIDTH and `seed`).
// Operand sources: corner cases that exercise carries and sign bits, and random words.

localparam NCORNER = 8;

// Corner operand number idx (0 .. NCORNER-1).
function [WIDTH-1:0] corner;
    input integer idx;
    integer k;
    begin
        case (idx)
            0: corner = {WIDTH{1'b0}};                          // 0
            1: corner = {{(WIDTH-1){1'b0}}, 1'b1};              // 1
            2: corner = {WIDTH{1'b1}};                          // all ones (-1 signed)
            3: corner = {1'b1, {(WIDTH-1){1'b0}}};              // most negative signed
            4: corner = {1'b0, {(WIDTH-1){1'b1}}};              // most positive signed
            default: begin                                      // 0101.., 1010.., 0011..
                for (k = 0; k < WIDTH; k = k + 1)
                    corner[k] = (idx == 5) ? (k % 2 == 0) : (idx == 6) ? (k % 2 == 1) : ((k / 2) % 2 == 0);
            end
        endcase
    end
endfunction

// A uniformly random WIDTH-bit word, assembled from 32-bit $random calls.
task random_word;
    output [WIDTH-1:0] word;
    reg [WIDTH+31:0] acc;
    integer k;
    begin
        acc = 0;
        for (k = 0; k < WIDTH; k = k + 32)
            acc = {acc[WIDTH-1:0], $random(seed)};
        word = acc[WIDTH-1:0];
    end
endtask

// Last line every testbench prints ("PASS ..." or "FAIL ..."); a failure also ends the
// simulation with $fatal, so vvp exits non-zero (compile with iverilog -g2012).
task report;
    input [8*24-1:0] name;
    input integer checks;
    input integer errors;
    begin
        if (errors == 0)
            $display("PASS %0s WIDTH=%0d checks=%0d", name, WIDTH, checks);
        else
            $fatal(1, "FAIL %0s WIDTH=%0d checks=%0d errors=%0d", name, WIDTH, checks, errors);
    end
endtask
