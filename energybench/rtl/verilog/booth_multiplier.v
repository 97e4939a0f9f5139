// WIDTH x WIDTH radix-4 (modified) Booth multiplier: product = a * b (2*WIDTH bits).
// b is recoded into digits d_r in {-2,-1,0,1,2} from bit triplets (b[2r+1], b[2r], b[2r-1]),
// halving the number of partial-product rows. SIGNED=1: two's complement operands;
// SIGNED=0: unsigned (b is zero-extended by one bit so its top digit is never negative).
// WIDTH >= 2.
// Row r is d_r * a as an L = WIDTH+2 bit two's complement number: the one's complement of
// the selected multiple plus a `neg` bit at column 2r. Instead of sign-extending every
// row, its sign bit s is replaced by ~s and the constant -2^(L-1+2r) is folded into one
// precomputed correction word (sign-extension prevention). Rows are summed by the same
// carry-save array and final ripple-carry adder as array_multiplier.
module booth_multiplier #(
    parameter WIDTH  = 8,
    parameter SIGNED = 1
) (
    input  wire [WIDTH-1:0]   a,
    input  wire [WIDTH-1:0]   b,
    output wire [2*WIDTH-1:0] product
);
    localparam PW  = 2 * WIDTH;
    localparam L   = WIDTH + 2;                                 // bits per partial product
    localparam MB  = (SIGNED != 0) ? WIDTH : WIDTH + 1;         // multiplier bits to recode
    localparam NPP = (MB + 1) / 2;                              // Booth digits = rows
    localparam [PW-1:0] ONE = 1;

    // Sum over rows of -2^(L-1+2r), modulo 2^PW. It is a multiple of 2^(WIDTH+1), so it
    // never shares a column with the neg bits (columns 2r <= WIDTH).
    function [PW-1:0] correction;
        input integer rows;
        integer r;
        begin
            correction = {PW{1'b0}};
            for (r = 0; r < rows; r = r + 1)
                if (L - 1 + 2 * r < PW)
                    correction = correction - (ONE << (L - 1 + 2 * r));
        end
    endfunction
    localparam [PW-1:0] CORRECTION = correction(NPP);

    // bx = {b sign- or zero-extended, 0}, so every recoding triplet exists.
    // ax = {a extended, 0}: ax[L:1] is a and ax[L-1:0] is 2a, both L bits wide.
    wire           b_fill = (SIGNED != 0) ? b[WIDTH-1] : 1'b0;
    wire           a_fill = (SIGNED != 0) ? a[WIDTH-1] : 1'b0;
    wire [2*NPP:0] bx;
    wire [L:0]     ax = {{2{a_fill}}, a, 1'b0};
    wire [PW-1:0]  neg_bits;                                    // +1 of each negative row
    genvar j, r;
    generate
        for (j = 0; j <= 2 * NPP; j = j + 1) begin : g_bx
            if (j == 0) begin : g_zero
                assign bx[j] = 1'b0;
            end else if (j <= WIDTH) begin : g_b
                assign bx[j] = b[j-1];
            end else begin : g_fill
                assign bx[j] = b_fill;
            end
        end
        for (j = 0; j < PW; j = j + 1) begin : g_neg
            if (j % 2 == 0 && j / 2 < NPP) begin : g_row_neg
                assign neg_bits[j] = bx[j+2];                   // t2 of row j/2
            end else begin : g_none
                assign neg_bits[j] = 1'b0;
            end
        end
        for (r = 0; r < NPP; r = r + 1) begin : g_row
            // Booth encoder for digit r.
            wire t2 = bx[2*r+2], t1 = bx[2*r+1], t0 = bx[2*r];
            wire one = t1 ^ t0;                                 // |d| == 1
            wire two = (t2 & ~t1 & ~t0) | (~t2 & t1 & t0);      // |d| == 2
            // Selector: |d| * a, inverted when d < 0 (t2 = 1 with d = 0 gives -1 + 1 = 0);
            // the top bit is then flipped for sign-extension prevention.
            wire [L-1:0] mag = ({L{one}} & ax[L:1]) | ({L{two}} & ax[L-1:0]);
            wire [L-1:0] row = mag ^ {L{t2}} ^ (ONE[L-1:0] << (L - 1));
            wire [PW-1:0] pp = {{PW{1'b0}}, row} << (2 * r);
            // (s, c): the carry-save pair after rows 0..r.
            wire [PW-1:0] s, c;
            if (r == 0) begin : g_first
                assign s = pp;
                assign c = CORRECTION | neg_bits;
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
        .a(g_row[NPP-1].s), .b(g_row[NPP-1].c), .sum(product), .cout(unused_cout)
    );
endmodule
