// WIDTH x WIDTH carry-save array multiplier: product = a * b (2*WIDTH bits).
// SIGNED=1 treats a and b as two's complement (modified Baugh-Wooley: the partial
// products that pair one sign bit with a magnitude bit are inverted and 1 is added at
// columns WIDTH and 2*WIDTH-1); SIGNED=0 is unsigned. WIDTH >= 2.
// Row r adds partial-product row r into a (sum, carry) pair with one full adder per
// column; a final ripple-carry adder resolves the last pair. Columns whose inputs are
// constant collapse to half adders or wires in synthesis, leaving the classic array.
module array_multiplier #(
    parameter WIDTH  = 8,
    parameter SIGNED = 1
) (
    input  wire [WIDTH-1:0]   a,
    input  wire [WIDTH-1:0]   b,
    output wire [2*WIDTH-1:0] product
);
    localparam PW = 2 * WIDTH;
    localparam [PW-1:0] ONE = 1;
    localparam [PW-1:0] BAUGH_WOOLEY = (SIGNED != 0) ? ((ONE << WIDTH) | (ONE << (PW - 1))) : 0;
    genvar r;
    generate
        for (r = 0; r < WIDTH; r = r + 1) begin : g_row
            // Partial-product row r (a * b[r]) with its Baugh-Wooley inversions, aligned.
            wire [WIDTH-1:0] bits = a & {WIDTH{b[r]}};
            wire [WIDTH-1:0] inv  = (SIGNED == 0) ? {WIDTH{1'b0}}
                                  : (r == WIDTH - 1) ? {1'b0, {(WIDTH-1){1'b1}}}
                                  : {1'b1, {(WIDTH-1){1'b0}}};
            wire [PW-1:0] pp = {{WIDTH{1'b0}}, bits ^ inv} << r;
            // (s, c): the carry-save pair after rows 0..r.
            wire [PW-1:0] s, c;
            if (r == 0) begin : g_first
                assign s = pp;
                assign c = BAUGH_WOOLEY;
            end else begin : g_csa
                // One full adder per column; carries move one column left.
                wire [PW-1:0] s_in = g_row[r-1].s, c_in = g_row[r-1].c;
                assign s = s_in ^ c_in ^ pp;
                assign c = ((s_in & c_in) | (pp & (s_in ^ c_in))) << 1;
            end
        end
    endgenerate
    wire unused_cout;
    ripple_carry_adder #(.WIDTH(PW)) final_add (
        .a(g_row[WIDTH-1].s), .b(g_row[WIDTH-1].c), .sum(product), .cout(unused_cout)
    );
endmodule
