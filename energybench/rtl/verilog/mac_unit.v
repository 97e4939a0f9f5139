// Registered multiply-accumulate unit: on each rising clk edge,
//   rst      -> acc <= 0
//   else en  -> acc <= acc + a * b   (modulo 2^ACC_WIDTH)
// The product is sign-extended (SIGNED=1) or zero-extended (SIGNED=0) to ACC_WIDTH bits;
// the default ACC_WIDTH leaves 8 guard bits, enough for 256 worst-case accumulations.
// MULTIPLIER selects "array" or "booth"; ADDER selects "ripple_carry" or "kogge_stone".
module mac_unit #(
    parameter WIDTH      = 8,
    parameter ACC_WIDTH  = 2 * WIDTH + 8,
    parameter SIGNED     = 1,
    parameter MULTIPLIER = "array",
    parameter ADDER      = "ripple_carry"
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 en,
    input  wire [WIDTH-1:0]     a,
    input  wire [WIDTH-1:0]     b,
    output reg  [ACC_WIDTH-1:0] acc
);
    wire [2*WIDTH-1:0] product;
    generate
        if (MULTIPLIER == "booth") begin : g_booth
            booth_multiplier #(.WIDTH(WIDTH), .SIGNED(SIGNED)) mul (.a(a), .b(b), .product(product));
        end else begin : g_array
            array_multiplier #(.WIDTH(WIDTH), .SIGNED(SIGNED)) mul (.a(a), .b(b), .product(product));
        end
    endgenerate

    wire fill = (SIGNED != 0) ? product[2*WIDTH-1] : 1'b0;
    wire [ACC_WIDTH-1:0] addend;
    genvar i;
    generate
        for (i = 0; i < ACC_WIDTH; i = i + 1) begin : g_ext
            if (i < 2 * WIDTH) begin : g_p
                assign addend[i] = product[i];
            end else begin : g_fill
                assign addend[i] = fill;
            end
        end
    endgenerate

    wire [ACC_WIDTH-1:0] next;
    wire                 unused_cout;
    generate
        if (ADDER == "kogge_stone") begin : g_ks
            kogge_stone_adder #(.WIDTH(ACC_WIDTH)) add (.a(acc), .b(addend), .sum(next), .cout(unused_cout));
        end else begin : g_rca
            ripple_carry_adder #(.WIDTH(ACC_WIDTH)) add (.a(acc), .b(addend), .sum(next), .cout(unused_cout));
        end
    endgenerate

    always @(posedge clk) begin
        if (rst)
            acc <= {ACC_WIDTH{1'b0}};
        else if (en)
            acc <= next;
    end
endmodule
