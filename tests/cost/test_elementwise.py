"""The element-wise table's bookkeeping: every spelling of an op (CPU, cuDNN, MIOpen) prices the
same work, views and copies are layout, broadcast operands are read once."""

from __future__ import annotations

import torch

from energybench.cost import elementwise as ew

aten = torch.ops.aten


def meta(*shape):
    return torch.empty(*shape, device="meta")


def test_every_batch_norm_kernel_prices_the_same_work():
    n, c = 4 * 3 * 5 * 5, 3
    x, w, b, rm, rv = meta(4, 3, 5, 5), meta(3), meta(3), meta(3), meta(3)
    out = (meta(4, 3, 5, 5), meta(3), meta(3))
    train = (3 * n + 8 * c, 4 * n + c)  # statistics per channel, scale and shift, running averages
    for op, args in ((aten.native_batch_norm, (x, w, b, rm, rv, True, 0.1, 1e-5)),
                     (aten.cudnn_batch_norm, (x, w, b, rm, rv, True, 0.1, 1e-5)),
                     (aten.miopen_batch_norm, (x, w, b, rm, rv, True, 0.1, 1e-5)),
                     (aten._batch_norm_with_update, (x, w, b, rm, rv, 0.1, 1e-5))):
        assert ew.op_cost(op.default, args, {}, out) == (train, False), op
    backward = (7 * n + c, 7 * n - 2 * c - 2 * c)  # input, weight and bias gradients
    for op, args in ((aten.native_batch_norm_backward, (x, x, w, rm, rv, meta(3), meta(3), True, 1e-5, [True] * 3)),
                     (aten.cudnn_batch_norm_backward, (x, x, w, rm, rv, meta(3), meta(3), 1e-5, meta(0))),
                     (aten.batch_norm_backward, (x, x, w, rm, rv, meta(3), meta(3), True, 1e-5, [True] * 3, meta(0)))):
        assert ew.op_cost(op.default, args, {}, out) == (backward, False), op
    eval_mode = (n + 2 * c, 2 * n + c)
    assert ew.op_cost(aten.native_batch_norm.default, (x, w, b, rm, rv, False, 0.1, 1e-5), {}, out)[0] == eval_mode
    assert ew.op_cost(aten._batch_norm_no_update.default, (x, w, b, rm, rv, 0.1, 1e-5), {}, out)[0] == eval_mode


def test_views_copies_and_unknown_ops_are_told_apart():
    for op in (aten.view.default, aten.transpose.int, aten.expand.default, aten.select.int, aten.detach.default):
        assert ew.classify(op) == ew.LAYOUT_OP, op  # found from the schema: the output aliases an input
    for op in (aten.clone.default, aten.cat.default, aten.constant_pad_nd.default, aten.copy_.default,
               aten.randn.default):
        assert ew.classify(op) == ew.LAYOUT_OP, op  # copies, fills and fresh tensors (listed)
    for op in (aten.add_.Tensor, aten.gelu.default, aten.native_layer_norm.default, aten.sum.dim_IntList,
               aten.mish.default):  # mish: no entry, but tagged pointwise (priced by default)
        assert ew.classify(op) == ew.ELEMENTWISE, op
    assert ew.classify(aten.median.default) == ew.UNKNOWN
    x = meta(4, 5)
    assert ew.op_cost(aten.mish.default, (x,), {}, meta(4, 5)) == ((0, 20), True)
    assert ew.op_cost(aten.add_.Tensor, (x, x), {"alpha": 2}, x) == ((20, 20), False)  # a + alpha * b


def test_a_broadcast_operand_is_read_once_and_in_place_names_are_plain():
    bias = torch.zeros(8).expand(4, 8)
    assert bias.numel() == 32 and ew.distinct(bias) == 8
    assert ew.base_name("add_") == "add" and ew.base_name("_foreach_mul_") == "mul"
    assert ew.base_name("_softmax") == "_softmax"
