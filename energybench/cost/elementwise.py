"""Element-wise work: the arithmetic of the ops that are not multiply-accumulates (layer and batch
norm, softmax, GELU and other activations, residual and bias adds, pooling, reductions, losses),
as (multiplies, adds) per op, from its shapes; and which ops only arrange data (layout).

Conventions (one table, documented in cost/README.md):
- a division, square root, exponential, logarithm, erf or tanh is priced as one multiply, and
  a comparison, max, min or select as one add (the optimizer table's convention: an
  underestimate for the transcendental functions);
- a reduction of n inputs to m outputs costs n - m adds;
- `rows` are the independent vectors a norm or softmax works along (n / length of that dim).
Layout ops (views, copies, concatenation, padding, gathers, fills) do no arithmetic: a dataflow
accelerator realises them by addressing. Pure functions of shapes and arguments.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

Cost = tuple[int, int]  # (multiplies, adds) of one whole op


def numel(t: Any) -> int:
    return t.numel() if isinstance(t, torch.Tensor) else 0


def distinct(t: torch.Tensor) -> int:
    """Elements a tensor really holds: an expanded (stride-0) dimension repeats, not stores."""
    if t.is_contiguous():  # the common case, and quick
        return t.numel()
    return math.prod(s for s, st in zip(t.shape, t.stride()) if st != 0)


def base_name(name: str) -> str:
    """'add_' -> 'add', '_foreach_mul_' -> 'mul' ('_softmax' keeps its leading underscore)."""
    name = name.removeprefix("_foreach_")
    return name[:-1] if name.endswith("_") and not name.endswith("__") else name


# ----- per-element costs of pointwise ops (by output elements) -----------------------------------

def _scaled(kwargs: dict, args: tuple, key: str, pos: int) -> bool:
    return kwargs.get(key, args[pos] if len(args) > pos else 1) != 1


def _add(args, kwargs) -> Cost:  # a + alpha * b
    return (1, 1) if _scaled(kwargs, args, "alpha", 2) else (0, 1)


def _addcmul(args, kwargs) -> Cost:  # self + value * t1 (*|/) t2
    return (2, 1) if _scaled(kwargs, args, "value", 3) else (1, 1)


def _approximate(args, kwargs) -> str:
    return kwargs.get("approximate", "none")


def _gelu(args, kwargs) -> Cost:
    # 'none': 0.5 x (1 + erf(x / sqrt 2)); 'tanh': 0.5 x (1 + tanh(c (x + 0.044715 x^3)))
    return (7, 2) if _approximate(args, kwargs) == "tanh" else (4, 1)


def _gelu_backward(args, kwargs) -> Cost:
    # 'none': g * (Phi(x) + x phi(x)): Phi 3 mults 1 add, phi 4 mults, x phi 1 mult, sum 1 add, * g
    # 'tanh': the derivative of the tanh form: 13 mults, 5 adds (cost/README.md)
    return (13, 5) if _approximate(args, kwargs) == "tanh" else (9, 2)


_ONE_MULT = (1, 0)
_ONE_ADD = (0, 1)
PER_ELEMENT: dict[str, Cost | Callable[[tuple, dict], Cost]] = {
    "add": _add, "sub": _add, "rsub": _add,
    **dict.fromkeys(("mul", "div", "true_divide", "reciprocal", "sqrt", "rsqrt", "exp", "exp2", "expm1", "log",
                     "log1p", "log2", "erf", "erfinv", "tanh", "sin", "cos", "pow", "square"), _ONE_MULT),
    **dict.fromkeys(("neg", "abs", "sign", "relu", "threshold", "threshold_backward", "clamp", "clamp_min",
                     "clamp_max", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge", "where", "masked_fill",
                     "logical_not", "logical_and", "logical_or", "bernoulli", "tril", "triu"), _ONE_ADD),
    "hardtanh": (0, 2), "hardtanh_backward": (0, 2),
    "leaky_relu": (1, 1), "leaky_relu_backward": (1, 1),
    "sigmoid": (2, 1), "sigmoid_backward": (2, 1),  # 1 / (1 + exp(-x)); g y (1 - y)
    "tanh_backward": (2, 1),  # g (1 - y^2)
    "silu": (3, 1), "silu_backward": (5, 3),  # x sigmoid(x); g s (1 + x (1 - s))
    "gelu": _gelu, "gelu_backward": _gelu_backward,
    "lerp": (1, 2),  # a + w (b - a)
    "addcmul": _addcmul, "addcdiv": _addcmul,
    "native_dropout_backward": (2, 0),  # g * mask * scale
}


# ----- whole-op costs of the others --------------------------------------------------------------

def _out(out) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def _rows(x: torch.Tensor, dim: int) -> int:
    n = x.numel()
    return n // x.shape[dim] if x.dim() and x.shape[dim] else n


def _softmax(args, kwargs, out) -> Cost:
    # max (n - r compares), x - max (n), exp (n), sum (n - r), divide (n)
    n, r = args[0].numel(), _rows(args[0], args[1])
    return 2 * n, 3 * n - 2 * r


def _softmax_backward(args, kwargs, out) -> Cost:
    # g * y (n), row sums (n - r), g - s (n), y * (g - s) (n)
    n, r = args[0].numel(), _rows(args[0], args[2])
    return 2 * n, 2 * n - r


def _log_softmax(args, kwargs, out) -> Cost:
    # max (n - r), x - max (n), exp (n mults), sum (n - r), log (r mults), subtract it (n)
    n, r = args[0].numel(), _rows(args[0], args[1])
    return n + r, 4 * n - 2 * r


def _log_softmax_backward(args, kwargs, out) -> Cost:
    # g - exp(y) * sum(g): sums (n - r), exp (n), product (n), subtract (n)
    n, r = args[0].numel(), _rows(args[0], args[2])
    return 2 * n, 2 * n - r


def _normalize(n: int, rows: int, weight: bool, bias: bool) -> Cost:
    """Normalise n elements in `rows` groups from their own statistics, then scale and shift:
    mean (n - r adds, r divisions), x - mean (n), square (n), variance (n - r adds, r divisions),
    + eps and rsqrt (r, r), times rstd (n), times weight (n), plus bias (n)."""
    return 2 * n + 3 * rows + (n if weight else 0), 3 * n - rows + (n if bias else 0)


def _normalize_backward(n: int, rows: int, per_feature: int, weight: bool, mask) -> Cost:
    """Gradients of _normalize: x-hat recomputed (n adds, n mults) when any is needed; input:
    g * w (n), two row sums (2 (n - r)), g w x-hat (n), N g w, x-hat * sum, two subtractions and
    the rstd / N scaling (4n + r mults, 2n adds); weight: g * x-hat summed over rows (n mults,
    n - features adds); bias: g summed over rows (n - features adds)."""
    mults = adds = 0
    if mask[0] or mask[1]:
        mults, adds = n, n
    if mask[0]:
        mults += 4 * n + rows + (n if weight else 0)
        adds += 2 * (n - rows) + 2 * n
    if mask[1]:
        mults, adds = mults + n, adds + n - per_feature
    if mask[2]:
        adds += n - per_feature
    return mults, adds


def _layer_norm(args, kwargs, out) -> Cost:
    x, shape = args[0], args[1]
    per_row = math.prod(shape)
    return _normalize(x.numel(), x.numel() // max(per_row, 1), args[2] is not None, args[3] is not None)


def _layer_norm_backward(args, kwargs, out) -> Cost:
    # (grad_out, input, normalized_shape, mean, rstd, weight, bias, output_mask)
    x, per_row = args[1], math.prod(args[2])
    return _normalize_backward(x.numel(), x.numel() // max(per_row, 1), per_row, args[5] is not None, args[7])


def _group_norm(args, kwargs, out) -> Cost:
    # (input, weight, bias, N, C, HxW, group, eps): statistics per (sample, group), affine per channel
    x = args[0]
    return _normalize(x.numel(), args[3] * args[6], args[1] is not None, args[2] is not None)


def _group_norm_backward(args, kwargs, out) -> Cost:
    # (grad_out, input, mean, rstd, weight, N, C, HxW, group, output_mask)
    x = args[1]
    return _normalize_backward(x.numel(), args[5] * args[8], args[6], args[4] is not None, args[9])


def _batch_norm_train(x, weight, bias, running: bool, training: bool) -> Cost:
    n, c = x.numel(), (x.shape[1] if x.dim() > 1 else 1)
    if not training:  # running statistics: (x - mean) * (rstd * w) + b, with rstd and rstd * w per channel
        return n + 2 * c, n + c + (n if bias else 0)
    mults, adds = _normalize(n, c, weight, bias)
    if running:  # running mean and variance: (1 - m) r + m s each, variance made unbiased
        mults, adds = mults + 5 * c, adds + 2 * c
    return mults, adds


def _batch_norm(args, kwargs, out) -> Cost:
    # native_batch_norm / _native_batch_norm_legit(input, weight, bias, running_mean, running_var, training, ...)
    return _batch_norm_train(args[0], args[1] is not None, args[2] is not None, args[3] is not None, bool(args[5]))


def _batch_norm_no_stats(args, kwargs, out) -> Cost:  # _native_batch_norm_legit.no_stats(input, w, b, training, ...)
    return _batch_norm_train(args[0], args[1] is not None, args[2] is not None, False, bool(args[3]))


def _batch_norm_eval(args, kwargs, out) -> Cost:  # _native_batch_norm_legit_no_training(input, w, b, rm, rv, ...)
    return _batch_norm_train(args[0], args[1] is not None, args[2] is not None, True, False)


def _batch_norm_with_update(args, kwargs, out) -> Cost:  # (input, weight, bias, running_mean, running_var, ...)
    return _batch_norm_train(args[0], args[1] is not None, args[2] is not None, True, True)


def _batch_norm_no_update(args, kwargs, out) -> Cost:  # running statistics if given, else the batch's
    running = args[3] is not None
    return _batch_norm_train(args[0], args[1] is not None, args[2] is not None, False, not running)


def _batch_norm_backward_all(args, kwargs, out) -> Cost:
    # cudnn_batch_norm_backward / miopen_batch_norm_backward(input, grad_output, weight, ...): all three gradients
    x = args[0]
    c = x.shape[1] if x.dim() > 1 else 1
    return _normalize_backward(x.numel(), c, c, args[2] is not None, (True, True, True))


def _batch_norm_backward_new(args, kwargs, out) -> Cost:
    # batch_norm_backward(grad_out, input, weight, running_mean, running_var, save_mean, save_var, update, eps,
    # output_mask, reserve): batch statistics when they were saved, else the running ones
    save_mean = args[5]
    train = save_mean is not None and save_mean.numel() > 0
    return _batch_norm_backward((args[0], args[1], args[2], args[3], args[4], args[5], args[6], train, args[8],
                                 args[9]), kwargs, out)


def _batch_norm_backward(args, kwargs, out) -> Cost:
    # (grad_out, input, weight, running_mean, running_var, save_mean, save_invstd, train, eps, output_mask)
    x, train, mask = args[1], bool(args[7]), args[9]
    n, c = x.numel(), (x.shape[1] if x.dim() > 1 else 1)
    if train:
        return _normalize_backward(n, c, c, args[2] is not None, mask)
    mults = (n + c if mask[0] else 0) + (2 * n if mask[1] else 0)  # eval: dx = g * (w * invstd)
    adds = (n if mask[1] else 0) + (n - c if mask[1] else 0) + (n - c if mask[2] else 0)
    return mults, adds


def _reduction(args, kwargs, out) -> Cost:
    return 0, max(args[0].numel() - _out(out).numel(), 0)


def _max_min(args, kwargs, out) -> Cost:
    if len(args) > 1 and isinstance(args[1], torch.Tensor):  # max.other / min.other: element-wise
        return 0, _out(out).numel()
    return _reduction(args, kwargs, out)


def _mean(args, kwargs, out) -> Cost:
    m = _out(out).numel()
    return m, max(args[0].numel() - m, 0)


def _prod(args, kwargs, out) -> Cost:
    return max(args[0].numel() - _out(out).numel(), 0), 0


def _vector_norm(args, kwargs, out) -> Cost:
    n, m = args[0].numel(), _out(out).numel()
    order = kwargs.get("ord", args[1] if len(args) > 1 else 2)
    if order == 2:  # squares, sums, square roots
        return n + m, n - m
    return n + m, 2 * n - m  # |x| (an add), ^p (a mult), sums, p-th roots


def _var(args, kwargs, out, std: bool = False) -> Cost:
    # mean (n - m adds, m divisions), deviations (n), squares (n), sums (n - m), divisions (m) [, sqrt (m)]
    n, m = args[0].numel(), _out(out).numel()
    return n + 2 * m + (m if std else 0), 3 * n - 2 * m


def _dropout(args, kwargs, out) -> Cost:
    # native_dropout(input, p, train): a random draw compared with p (an add), x * mask * scale (2 mults)
    n, p, train = args[0].numel(), args[1], args[2] if len(args) > 2 else True
    return (2 * n, n) if train is not False and p > 0 else (0, 0)


def _nll_loss(args, kwargs, out) -> Cost:
    # pick each row's target log-probability, negate and sum them (rows adds), divide by the count
    rows = args[1].numel()
    return (1 if (args[3] if len(args) > 3 else 1) == 1 else 0), rows


def _nll_loss_backward(args, kwargs, out) -> Cost:
    return 1, 1  # -g / count, once; scattered to the target positions (layout)


def _mse_loss(args, kwargs, out) -> Cost:  # (x - y)^2, summed, averaged
    n = args[0].numel()
    return n + 1, 2 * n - 1


def _mse_loss_backward(args, kwargs, out) -> Cost:  # g * 2 (x - y) / n
    n = args[1].numel()
    return 2 * n, n


def _window(kernel) -> int:
    return math.prod(kernel) if isinstance(kernel, (list, tuple)) else int(kernel) ** 2


def _max_pool(args, kwargs, out) -> Cost:  # window - 1 comparisons per output
    return 0, _out(out).numel() * (_window(args[1]) - 1)


def _max_pool_backward(args, kwargs, out) -> Cost:  # every output gradient added at its argmax
    return 0, args[0].numel()


def _avg_pool(args, kwargs, out) -> Cost:  # window - 1 adds and one division per output
    m = _out(out).numel()
    return m, m * (_window(args[1]) - 1)


def _avg_pool_backward(args, kwargs, out) -> Cost:  # g / window spread over the window
    g = args[0].numel()
    return g, g * _window(args[2])


def _adaptive_avg_pool(args, kwargs, out) -> Cost:
    return _mean(args, kwargs, out)


def _adaptive_avg_pool_backward(args, kwargs, out) -> Cost:  # g / area spread over its inputs
    return args[0].numel(), args[1].numel()


def _index_put(args, kwargs, out) -> Cost:  # (self, indices, values, accumulate): adds only when accumulating
    accumulate = kwargs.get("accumulate", args[3] if len(args) > 3 else False)
    return (0, args[2].numel()) if accumulate else (0, 0)


def _scatter_add(args, kwargs, out) -> Cost:  # index_add(self, dim, index, source) / scatter_add(self, dim, index, src)
    return 0, args[3].numel()


def _embedding_backward(args, kwargs, out) -> Cost:  # every row gradient added into its weight row
    return 0, args[0].numel()


def _cumsum(args, kwargs, out) -> Cost:
    return 0, args[0].numel()


def _aminmax(args, kwargs, out) -> Cost:  # a min and a max reduction
    return 0, 2 * max(args[0].numel() - _out(out).numel(), 0)


def _select_k(n: int, length: int, k: int) -> int:
    """Comparisons to select the k largest of each row of `length` (a heap of k: log2 k each)."""
    return n * max(1, math.ceil(math.log2(k + 1))) if length else 0


def _topk(args, kwargs, out) -> Cost:  # (self, k, dim=-1, largest, sorted)
    x, k = args[0], int(args[1])
    dim = kwargs.get("dim", args[2] if len(args) > 2 else -1)
    return 0, _select_k(x.numel(), x.shape[dim] if x.dim() else 1, k)


def _sort(args, kwargs, out) -> Cost:  # (self, dim=-1, descending): n log2 n comparisons per row
    x = args[0]
    dim = kwargs.get("dim", args[1] if len(args) > 1 and isinstance(args[1], int) else -1)
    length = x.shape[dim] if x.dim() else 1
    return 0, _select_k(x.numel(), length, max(length - 1, 0))


def _bce_with_logits(args, kwargs, out) -> Cost:
    # max(x, 0) - x t + log(1 + exp(-|x|)): 3 mults, 5 adds per element (+1 mult per weight), then the
    # reduction: (self, target, weight, pos_weight, reduction)
    n = args[0].numel()
    weighted = sum(1 for i in (2, 3) if len(args) > i and args[i] is not None)
    reduction = kwargs.get("reduction", args[4] if len(args) > 4 else 1)
    mults, adds = (3 + weighted) * n, 5 * n
    if reduction:  # 1 mean, 2 sum
        mults, adds = mults + (1 if reduction == 1 else 0), adds + n - 1
    return mults, adds


WHOLE_OP: dict[str, Callable[[tuple, dict, Any], Cost]] = {
    "_softmax": _softmax, "_safe_softmax": _softmax, "_softmax_backward_data": _softmax_backward,
    "_log_softmax": _log_softmax, "_log_softmax_backward_data": _log_softmax_backward,
    "native_layer_norm": _layer_norm, "native_layer_norm_backward": _layer_norm_backward,
    "native_group_norm": _group_norm, "native_group_norm_backward": _group_norm_backward,
    "native_batch_norm": _batch_norm, "_native_batch_norm_legit": _batch_norm,
    "_native_batch_norm_legit_functional": _batch_norm,
    "_native_batch_norm_legit_no_training": _batch_norm_eval, "native_batch_norm_backward": _batch_norm_backward,
    # the GPU kernels' own batch-norm ops (cuDNN, MIOpen) and the newer update/no-update pair
    "cudnn_batch_norm": _batch_norm, "miopen_batch_norm": _batch_norm,
    "_batch_norm_with_update": _batch_norm_with_update,
    "_batch_norm_no_update": _batch_norm_no_update, "cudnn_batch_norm_backward": _batch_norm_backward_all,
    "miopen_batch_norm_backward": _batch_norm_backward_all, "batch_norm_backward": _batch_norm_backward_new,
    "sum": _reduction, "nansum": _reduction, "amax": _reduction, "amin": _reduction, "max": _max_min,
    "min": _max_min, "argmax": _reduction, "argmin": _reduction, "any": _reduction, "all": _reduction,
    "mean": _mean, "prod": _prod, "linalg_vector_norm": _vector_norm, "norm": _vector_norm,
    "var": _var, "std": lambda a, k, o: _var(a, k, o, std=True),
    "native_dropout": _dropout,
    "nll_loss_forward": _nll_loss, "nll_loss2d_forward": _nll_loss,
    "nll_loss_backward": _nll_loss_backward, "nll_loss2d_backward": _nll_loss_backward,
    "mse_loss": _mse_loss, "mse_loss_backward": _mse_loss_backward,
    "max_pool2d_with_indices": _max_pool, "max_pool3d_with_indices": _max_pool,
    "max_pool2d_with_indices_backward": _max_pool_backward, "max_pool3d_with_indices_backward": _max_pool_backward,
    "avg_pool2d": _avg_pool, "avg_pool2d_backward": _avg_pool_backward,
    "_adaptive_avg_pool2d": _adaptive_avg_pool, "_adaptive_avg_pool2d_backward": _adaptive_avg_pool_backward,
    "index_put": _index_put, "_index_put_impl": _index_put, "index_add": _scatter_add, "scatter_add": _scatter_add,
    "embedding_dense_backward": _embedding_backward, "cumsum": _cumsum, "aminmax": _aminmax,
    "topk": _topk, "sort": _sort, "binary_cross_entropy_with_logits": _bce_with_logits,
}

# Ops that only arrange data: copies (into another layout or device), concatenation, padding,
# gathers and scatters of whole elements, fills and fresh tensors (constant or random). (Views are found from their
# schemas: an output that aliases an input.)
LAYOUT = frozenset({
    "clone", "copy", "_to_copy", "contiguous", "_unsafe_view", "cat", "stack", "constant_pad_nd", "reflection_pad1d",
    "reflection_pad2d", "replication_pad2d", "roll", "flip", "index", "index_select", "gather", "scatter",
    "masked_scatter", "select_backward", "slice_backward", "select_scatter", "slice_scatter", "as_strided_scatter",
    "diagonal_backward", "unfold_backward", "new_zeros", "new_ones", "new_empty", "new_empty_strided", "new_full",
    "zeros", "ones", "empty", "empty_strided", "empty_like", "zeros_like", "ones_like", "full", "full_like", "fill",
    "zero", "scalar_tensor", "arange", "rand", "randn", "randint", "randperm", "rand_like", "randn_like",
    "randint_like", "normal", "uniform", "exponential", "random", "lift_fresh_copy", "repeat", "repeat_interleave",
    "expand_copy",
    "permute_copy", "view_copy", "_reshape_copy", "embedding", "as_strided", "resize", "set", "_pin_memory",
    "_local_scalar_dense", "upsample_nearest2d", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "im2col",
    "col2im", "_assert_async", "_assert_tensor_metadata", "_functional_assert_async", "sym_constrain_range",
    "sym_constrain_range_for_size",
})

ELEMENTWISE, LAYOUT_OP, UNKNOWN = "elementwise", "layout", "unknown"


def is_view(func) -> bool:
    """An op whose output aliases an input without writing it (view, transpose, expand, ...)."""
    return any(r.alias_info is not None and not r.alias_info.is_write for r in func._schema.returns)


def classify(func) -> str:
    """What an op does to data: ELEMENTWISE (priced here), LAYOUT_OP, or UNKNOWN (listed as
    uncounted). Pointwise or reduction ops without an entry are priced by default (op_cost)."""
    name = base_name(func._overloadpacket.__name__)
    if name in LAYOUT:
        return LAYOUT_OP
    if name in PER_ELEMENT or name in WHOLE_OP:
        return ELEMENTWISE
    if is_view(func):
        return LAYOUT_OP
    if torch.Tag.pointwise in func.tags or torch.Tag.reduction in func.tags:
        return ELEMENTWISE
    return UNKNOWN


# Ops whose outputs after the first are not data: batch norm in eval mode returns its (unused)
# saved statistics, empty on CPU and CUDA but sized on the meta device.
_FIRST_OUTPUT_ONLY = frozenset({"_native_batch_norm_legit_no_training"})


def written(func, out) -> int:
    """Words an op writes: the elements of its outputs."""
    if isinstance(out, (tuple, list)):
        if _entry(func)[2]:
            return numel(out[0])
        return sum(numel(t) for t in out)
    return numel(out)


_ENTRY: dict = {}  # op -> (whole-op function or None, per-element cost or None, first output only); the
# counter prices every element-wise op it sees, so the name lookups are done once per op


def _entry(func) -> tuple:
    entry = _ENTRY.get(func)
    if entry is None:
        name = base_name(func._overloadpacket.__name__)
        entry = _ENTRY[func] = (WHOLE_OP.get(name), PER_ELEMENT.get(name), name in _FIRST_OUTPUT_ONLY)
    return entry


def op_cost(func, args: tuple, kwargs: dict, out) -> tuple[Cost, bool]:
    """(multiplies, adds) of one call of an ELEMENTWISE op, and whether the default price was used
    (a pointwise op not in the table: one add per output element; a reduction: n - m adds)."""
    whole, per, _ = _entry(func)
    if whole is not None:
        return whole(args, kwargs, out), False
    n = sum(t.numel() for t in out) if isinstance(out, (tuple, list)) else numel(out)
    if per is None:
        if torch.Tag.reduction in func.tags:
            return _reduction(args, kwargs, out), True
        return (0, n), True
    m, a = per(args, kwargs) if callable(per) else per
    return (m * n, a * n), False
