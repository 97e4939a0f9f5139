// WIDTH-bit ripple-carry adder: {cout, sum} = a + b.
// Minimum gates and energy per add; delay grows linearly with WIDTH.
module ripple_carry_adder #(
    parameter WIDTH = 8
) (
    input  wire [WIDTH-1:0] a,
    input  wire [WIDTH-1:0] b,
    output wire [WIDTH-1:0] sum,
    output wire             cout
);
    genvar i;
    generate
        // Carries are separate scalar nets (not bits of one vector): event-driven
        // simulators re-evaluate every reader of a vector whenever any bit of it changes.
        for (i = 0; i < WIDTH; i = i + 1) begin : g_bit
            wire ci, co;
            if (i == 0) begin : g_lsb
                assign ci = 1'b0;
            end else begin : g_chain
                assign ci = g_bit[i-1].co;
            end
            full_adder fa (.a(a[i]), .b(b[i]), .c(ci), .s(sum[i]), .co(co));
        end
    endgenerate
    assign cout = g_bit[WIDTH-1].co;
endmodule
