// WIDTH-bit Kogge-Stone parallel-prefix (carry-lookahead) adder: {cout, sum} = a + b.
// log2(WIDTH) prefix levels combine (generate, propagate) pairs at distance 1, 2, 4, ...;
// fastest carry, but about WIDTH*log2(WIDTH) prefix cells, so more energy per add than
// ripple-carry.
module kogge_stone_adder #(
    parameter WIDTH = 8
) (
    input  wire [WIDTH-1:0] a,
    input  wire [WIDTH-1:0] b,
    output wire [WIDTH-1:0] sum,
    output wire             cout
);
    localparam LEVELS = (WIDTH > 1) ? $clog2(WIDTH) : 1;
    genvar l;
    generate
        // One whole vector per level: per-bit drivers of one shared vector make
        // event-driven simulators re-evaluate every reader on every bit change.
        for (l = 0; l <= LEVELS; l = l + 1) begin : g_level
            wire [WIDTH-1:0] g, p;
            if (l == 0) begin : g_init
                assign g = a & b;
                assign p = a ^ b;
            end else begin : g_merge
                localparam D = 1 << (l - 1);
                // Bits below D have no partner at distance D and pass through unchanged.
                wire [WIDTH-1:0] low = {WIDTH{1'b1}} >> (WIDTH - D);
                assign g = g_level[l-1].g | (g_level[l-1].p & (g_level[l-1].g << D));
                assign p = g_level[l-1].p & ((g_level[l-1].p << D) | low);
            end
        end
    endgenerate
    // The carry into bit i is the group generate of bits [i-1:0].
    wire [WIDTH-1:0] group_g = g_level[LEVELS].g;
    assign sum  = g_level[0].p ^ (group_g << 1);
    assign cout = group_g[WIDTH-1];
endmodule
