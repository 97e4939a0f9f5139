// One-bit full adder: the cell every adder and multiplier array here is built from.
// Written as gate expressions (not `+`) so Yosys keeps the architecture we describe
// instead of substituting its own adder.
module full_adder (
    input  wire a,
    input  wire b,
    input  wire c,
    output wire s,
    output wire co
);
    wire p = a ^ b;
    assign s  = p ^ c;
    assign co = (a & b) | (p & c);
endmodule
