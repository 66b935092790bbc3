"""Softmax, log-softmax and log-sum-exp: twins of ``F.softmax``, ``F.log_softmax``, ``torch.logsumexp``.

The sheet:

    softmax_i(z) = e^{z_i} / sum_j e^{z_j}        (the probability that x belongs to class i)
    LSE(x) = ln sum_{i=1}^n e^{x_i},   max_i x_i <= LSE(x) <= max_i x_i + ln n

(the sheet writes the bounds with ``||x||_inf = max_i |x_i|``, which is only right when the largest
entry of ``x`` is also the largest in absolute value: for ``x = (-5, -6)``, ``LSE(x) = -4.69 < 6``;
see ``test_sheet_erratum_lse_bounds``).

All three are computed around the maximum ``m`` along ``dim``, so that no ``e^{x - m} <= 1``
overflows: ``LSE(x) = m + ln sum_i e^{x_i - m}``, ``log_softmax(x) = x - LSE(x)`` (as torch's CPU kernel;
the textbook ``(x - m) - ln sum_i e^{x_i - m}`` is ``_reference_log_softmax``),
``softmax(x) = e^{x - m} / sum_i e^{x_i - m}``. ``float16``/``bfloat16`` inputs are computed in
``float32`` and rounded once at the end, as torch's kernels do. Rows of ``-inf`` and ``+inf`` give
torch's ``nan``/``inf`` values. The backward passes are differentiable, so double backward works.

Speed (CPU): fresh temporaries are updated in place, and a backward that autograd does not record (no
``create_graph``) works in place too. The textbook compositions stay
beside them as ``_reference_softmax`` and ``_reference_log_softmax``, which the tests compare against.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.autograd import Function

_HALF = (torch.float16, torch.bfloat16)


def _acc(x: Tensor) -> Tensor:
    """``x`` in the dtype the arithmetic runs in (float32 for the 16-bit types)."""
    return x.float() if x.dtype in _HALF else x


def _amax(x: Tensor, dim: int | tuple[int, ...]) -> Tensor:
    """``max`` along ``dim`` (kept), the shift that keeps ``e^{x - m}`` from overflowing; 0 along a
    dim of size zero, where there is no maximum (the sum of no exponentials is 0: softmax of an empty
    row is empty, its log-sum-exp -inf, as torch's)."""
    dims = {d % max(x.dim(), 1) for d in ((dim,) if isinstance(dim, int) else dim)}
    if x.dim() and any(x.shape[d] == 0 for d in dims):
        return x.new_zeros([1 if i in dims else n for i, n in enumerate(x.shape)])
    return x.amax(dim=dim, keepdim=True)


def _finite_max(x: Tensor, dim: int | tuple[int, ...]) -> Tensor:
    """:func:`_amax`, set to 0 where it is infinite, as torch's ``logsumexp`` does (a row of ``-inf``
    then gives ``-inf``, a row holding ``+inf`` gives ``+inf``); ``where`` on the reduced tensor is cheap."""
    m = _amax(x, dim)
    return torch.where(m.isinf(), 0, m)


def _logsumexp(x: Tensor, dim: int | tuple[int, ...], keepdim: bool = False) -> Tensor:
    """``m + ln sum e^{x - m}`` along ``dim``, with ``m`` from :func:`_finite_max`."""
    m = _finite_max(x, dim)
    out = m + (x - m).exp_().sum(dim=dim, keepdim=True).log()
    return out if keepdim else out.squeeze(dim)


def _reference_softmax(x: Tensor, dim: int) -> Tensor:
    """The textbook e^{x_i - m} / sum_j e^{x_j - m}, for the tests."""
    e = (x - x.amax(dim, keepdim=True)).exp()
    return e / e.sum(dim, keepdim=True)


def _reference_log_softmax(x: Tensor, dim: int) -> Tensor:
    """The textbook (x_i - m) - ln sum_j e^{x_j - m}, for the tests."""
    shifted = x - x.amax(dim, keepdim=True)
    return shifted - shifted.exp().sum(dim, keepdim=True).log()


def _check_dim(name: str, input: Tensor, dim: int) -> int:
    n = max(input.dim(), 1)
    if isinstance(dim, bool) or not isinstance(dim, int) or not -n <= dim < n:
        raise ValueError(f"{name}: expected dim in [{-n}, {n - 1}] for an input of shape {tuple(input.shape)}, "
                         f"got {dim!r}")
    return dim % n


def _check_floating(name: str, input: Tensor) -> None:
    if not input.is_floating_point():
        raise ValueError(f"{name}: expected a floating point input, got {input.dtype}")


class LogSumExpFunction(Function):
    """``LSE(x) = ln sum_i e^{x_i}`` along ``dim``; ``dLSE/dx_i = e^{x_i - LSE(x)} = softmax_i(x)``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(3, 4, requires_grad=True), torch.randn(3)
        >>> (ours,) = torch.autograd.grad(LogSumExpFunction.apply(x, (1,), False), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.logsumexp(x, 1), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, dim: tuple[int, ...], keepdim: bool) -> Tensor:
        out = _logsumexp(_acc(input), dim, keepdim).to(input.dtype)
        ctx.save_for_backward(input, out)
        ctx.dim, ctx.keepdim = dim, keepdim
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        input, out = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None
        if not ctx.keepdim:  # put the reduced dims back (size 1) to broadcast against x
            kept = [1 if i in ctx.dim else n for i, n in enumerate(input.shape)]
            out, grad = out.reshape(kept), grad.reshape(kept)
        # dL/dx = dL/dLSE * e^{x - LSE(x)}
        dx = _acc(grad) * (_acc(input) - _acc(out)).exp()
        return dx.to(input.dtype), None, None


class SoftmaxFunction(Function):
    """``s = softmax(x)`` along ``dim``; ``dL/dx = s * (g - sum_j g_j s_j)`` (``J = diag(s) - s s^T``).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
        >>> (ours,) = torch.autograd.grad(SoftmaxFunction.apply(x, 1), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.softmax(x, 1), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, dim: int) -> Tensor:
        x = _acc(input)
        e = (x - _amax(x, dim)).exp_()  # e^{x - m} <= 1
        out = e.mul_(e.sum(dim=dim, keepdim=True).reciprocal_()).to(input.dtype)  # times 1 / sum, as torch
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        (out,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        s, g = _acc(out), _acc(grad)
        # dL/dx_i = s_i (g_i - sum_j g_j s_j) = g_i s_i - s_i sum_j g_j s_j: two passes over g s
        gs = g * s
        dot = gs.sum(dim=ctx.dim, keepdim=True)
        dx = torch.addcmul(gs, s, dot, value=-1) if torch.is_grad_enabled() else gs.addcmul_(s, dot, value=-1)
        return dx.to(out.dtype), None


class LogSoftmaxFunction(Function):
    """``o = log_softmax(x) = x - LSE(x)`` along ``dim``; ``dL/dx = g - e^{o} sum_j g_j``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
        >>> (ours,) = torch.autograd.grad(LogSoftmaxFunction.apply(x, 1), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.log_softmax(x, 1), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, dim: int) -> Tensor:
        x = _acc(input)
        m = _amax(x, dim)
        # o = x - LSE(x), LSE = m + ln sum_i e^{x_i - m} (one temporary, written twice)
        e = (x - m).exp_()  # e^{x - m} <= 1
        out = torch.sub(x, m + e.sum(dim=dim, keepdim=True).log(), out=e).to(input.dtype)
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        (out,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        g = _acc(grad)
        # dL/dx_i = g_i - softmax_i(x) sum_j g_j, softmax = e^{o}; in place on e^{o} unless autograd
        # records (create_graph: double backward)
        p, gsum = torch.exp(_acc(out)), g.sum(dim=ctx.dim, keepdim=True)
        dx = torch.addcmul(g, p, gsum, value=-1, out=None if torch.is_grad_enabled() else p)
        return dx.to(out.dtype), None


def logsumexp(input: Tensor, dim: int | Sequence[int], keepdim: bool = False) -> Tensor:
    """``ln sum_i e^{x_i}`` over ``dim`` (an int or a sequence of ints), computed stably.

    Twin of ``torch.logsumexp``. Integer inputs are promoted to the default float dtype, as torch does.

    Raises:
        ValueError: a dimension out of range, or repeated.

    Shape:
        - Input: (*).
        - Output: the input's shape without the ``dim`` dims (size 1 with ``keepdim``).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = 10 * torch.randn(2, 3, 4)
        >>> logsumexp(x, (0, 2)).shape
        torch.Size([3])
        >>> torch.allclose(logsumexp(x, (0, 2)), torch.logsumexp(x, (0, 2)), atol=1e-5)
        True
    """
    if not input.is_floating_point():
        input = input.to(torch.get_default_dtype())
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = tuple(_check_dim("logsumexp", input, d) for d in dims)
    if not dims or len(set(dims)) != len(dims):
        raise ValueError(f"logsumexp: expected one or more distinct dims, got {dim!r}")
    return LogSumExpFunction.apply(input, dims, keepdim)


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    """torch's deprecated implicit ``dim``: 0 for 0-, 1- and 3-D inputs, else 1 (with its warning)."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: torch.dtype | None = None) -> Tensor:
    """``softmax_i(z) = e^{z_i} / sum_j e^{z_j}`` along ``dim``. Twin of ``F.softmax``.

    Args:
        input: logits.
        dim: the class dimension. ``None`` picks torch's deprecated implicit dimension, with its warning.
        _stacklevel: the warning's stack level, as in torch.
        dtype: cast ``input`` to this dtype first (e.g. to compute a float16 model's softmax in float32).

    Raises:
        ValueError: a non-floating input or ``dim`` out of range.

    Shape:
        - Input: (*).
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = 10 * torch.randn(2, 3)
        >>> softmax(x, dim=1).shape
        torch.Size([2, 3])
        >>> torch.allclose(softmax(x, dim=1), torch.nn.functional.softmax(x, dim=1), atol=1e-6)
        True
    """
    if dim is None:
        dim = _softmax_dim("softmax", input.dim(), _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    _check_floating("softmax", input)
    return SoftmaxFunction.apply(input, _check_dim("softmax", input, dim))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: torch.dtype | None = None) -> Tensor:
    """``log softmax_i(z) = z_i - LSE(z)`` along ``dim``. Twin of ``F.log_softmax``; arguments as :func:`softmax`.

    Raises:
        ValueError: a non-floating input or ``dim`` out of range.

    Shape:
        - Input: (*).
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = 10 * torch.randn(2, 3)
        >>> log_softmax(x, dim=1).shape
        torch.Size([2, 3])
        >>> torch.allclose(log_softmax(x, dim=1), torch.nn.functional.log_softmax(x, dim=1), atol=1e-6)
        True
    """
    if dim is None:
        dim = _softmax_dim("log_softmax", input.dim(), _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    _check_floating("log_softmax", input)
    return LogSoftmaxFunction.apply(input, _check_dim("log_softmax", input, dim))


__all__ = [
    "LogSoftmaxFunction",
    "LogSumExpFunction",
    "SoftmaxFunction",
    "log_softmax",
    "logsumexp",
    "softmax",
]
