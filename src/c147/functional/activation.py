"""Activations (the sheet's "introduce nonlinearity" list), each with a hand-written backward.

Twins: ``torch.sigmoid``, ``torch.tanh`` and ``torch.nn.functional.{relu, leaky_relu, prelu, elu,
softplus}``. Maxout, which has no twin, lives in :mod:`c147.functional.maxout`.

Conventions shared by the ops below:

* Transcendental ops (sigmoid, tanh, elu, softplus) and leaky_relu compute in float32 for float16/bfloat16
  inputs and round once at the end (torch does so for bfloat16; its float16 kernels round some
  intermediates). Integer inputs are promoted to the default float dtype.
* ``inplace=True`` overwrites the input (``ctx.mark_dirty``); the backward then uses the output, as
  torch's does (leaky_relu: its saved slope), which tells the sign of the input only for a
  non-negative ``negative_slope``/``alpha``: like torch we refuse a negative one when a gradient is
  wanted (torch fails in backward; we raise ``ValueError`` up front).
* Every backward is made of differentiable tensor ops, so double backward works.
* Speed (CPU): piecewise choices use 0/1 float masks from ``sign`` and ``clamp`` (:func:`_step`) and
  exact blends (``lerp``, a product with 1 or a slope), never a boolean mask (``torch.where`` is
  several times slower); fresh temporaries are updated in place where autograd allows, and a new tensor
  costs more than a pass (freed 8 MB blocks go back to the system and fault in again). ``exp`` is the
  cheapest transcendental pass (2M floats, 2 threads, beyond a copy: exp 0.2 ms, 2^{x log2 e} 0.5, log1p 0.8,
  expm1 1.2 on an Intel Xeon; the same order with AVX2 or no vector kernels); tanh still takes 1 - e^{-2|x|} from
  one ``expm1`` (exact near 0; a Taylor series near 0 and exp outside took 27 passes). On an AMD EPYC torch's
  float32 ``expm1`` and ``log1p`` take 10x ``exp``'s time and its float64 ones do not: there (and everywhere, for
  float32 on the CPU) they run in float64 a cache-sized block at a time (:func:`_wide_`).
  The textbook forms stay beside them as ``_reference_sigmoid`` and ``_reference_tanh``, which the tests compare
  the fast forms against.
  Under ``torch.compile``, where each form is one fused loop, ELU's forward is the select instead (the clamps'
  NaN-propagating min and max cost more there than the select).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_HALF = (torch.float16, torch.bfloat16)
_FULL = (torch.float32, torch.float64)


def _opmath(x: Tensor) -> Tensor:
    """``x`` in the dtype the math runs in: float32 for half types, the default dtype for integers."""
    if x.dtype in _HALF:
        return x.float()
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


def _result_dtype(x: Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


def _check_inplace(name: str, input: Tensor, inplace: bool, arg: str, value: float) -> None:
    if inplace and value < 0 and torch.is_grad_enabled() and input.requires_grad:
        raise ValueError(f"{name}: inplace=True needs {arg} >= 0 when a gradient is wanted, got {arg}={value}")


# float64 elements of the block buffer of _wide_ (512 KB: stays in cache between its three passes)
_WIDE_BLOCK = 1 << 16


def _wide_(t: Tensor, name: str) -> Tensor:
    """``expm1`` or ``log1p`` (``name``) of the temporary ``t`` in place. A float32 CPU tensor in eager mode goes
    through float64 a cache-sized block at a time (copy in, the float64 kernel, copy back rounded once: at least as
    exact as the float32 kernel): on an AMD EPYC (AVX-512, torch 2.14.1, 2 threads, 2M floats) torch's float32
    ``expm1`` took 11-13 ms and ``log1p`` 11-12 ms against 1.4 and 2.2 ms in float64 (``exp`` 0.7-1.0), and the
    blocks 2.3 ms; one whole float64 temporary instead costs a 16 MB allocation that faults in again on every call
    (up to 10 ms more). Elsewhere (other dtypes, CUDA, under ``torch.compile``): the op itself, in place."""
    if t.dtype != torch.float32 or t.device.type != "cpu" or not t.is_contiguous() or torch.compiler.is_compiling():
        return getattr(t, name + "_")()
    flat = t.view(-1)
    buffer = torch.empty(min(flat.numel(), _WIDE_BLOCK), dtype=torch.float64)
    for start in range(0, flat.numel(), _WIDE_BLOCK):
        piece = flat[start: start + _WIDE_BLOCK]
        wide = buffer[: piece.numel()]
        wide.copy_(piece)
        piece.copy_(getattr(wide, name + "_")())
    return t


def _step(t: Tensor, threshold: float = 0.0) -> Tensor:
    """``[t > threshold]`` as 0/1 floats, a constant (its derivative is 0 almost everywhere); 0 at nan, as
    torch's ``sign(nan) = 0``, like ``t > threshold``. ``sign`` and ``clamp_min`` are fast passes on one
    temporary; a boolean mask, ``torch.where`` or ``masked_fill`` are several times slower on CPU."""
    s = (t.detach() - threshold).sign_() if threshold else t.detach().sign()
    return s.clamp_min_(0)


def _reference_sigmoid(x: Tensor) -> Tensor:
    """The textbook σ(x) = 1 / (1 + e^{-x}), for the tests (it overflows to 0 below x = -88.7 in float32)."""
    return 1 / (1 + torch.exp(-x))


def _reference_tanh(x: Tensor) -> Tensor:
    """The textbook tanh(x) = (e^{2x} - 1) / (e^{2x} + 1) = expm1(2x) / (expm1(2x) + 2), for the tests."""
    t = torch.expm1(2 * x.clamp_max(20))
    return t / (t + 2)


def _times(t: Tensor, other: Tensor) -> Tensor:
    """``t * other``, written into the temporary ``t`` when autograd is not recording (a backward without
    ``create_graph``), where no saved tensor can be overwritten: one fewer allocation."""
    return t * other if torch.is_grad_enabled() else t.mul_(other)


class SigmoidFunction(torch.autograd.Function):
    """σ(x) = 1 / (1 + e^{-x}); dσ/dx = σ(1 - σ).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
        >>> (ours,) = torch.autograd.grad(SigmoidFunction.apply(x), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.sigmoid(x), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor) -> Tensor:
        # σ(x) = e^x / (1 + e^x) = 1 / (1 + 1/e^x), in place on one temporary (a second costs more than a
        # pass): with c = 2^-64, σ = c / (c + u), u = c / e^x. Unlike 1/e^x, u stays finite where e^x is
        # subnormal, so σ keeps its relative precision deep in the negative tail (torch's float32
        # σ(-89) = 2e-39 is 0); u = 0 where e^x = inf (σ = 1), u = inf at e^x = 0 (σ = 0)
        e = torch.exp(_opmath(input))
        c = e.new_tensor(2.0**-64)  # c / t in one pass (c * t.reciprocal() is two)
        y = torch.div(c, torch.div(c, e, out=e).add_(c), out=e).to(_result_dtype(input))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor | None:
        (y,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None
        s = _opmath(y)
        # dL/dx = dL/dy σ (1 - σ) = dL/dy (σ - σ σ)
        return torch.addcmul(s, s, s, value=-1).mul_(grad_output).to(grad_output.dtype)


class TanhFunction(torch.autograd.Function):
    """tanh(x) = 2σ(2x) - 1 = (e^{2x} - 1) / (e^{2x} + 1); dtanh/dx = 1 - tanh^2.

    Computed as sign(x) (1 - e^{-2|x|}) / (1 + e^{-2|x|}), with 1 - e^{-2|x|} from ``expm1`` (exact near 0,
    where 1 minus a rounded e^{-2|x|} would cancel); ``_reference_tanh`` keeps the textbook
    expm1(2x) / (expm1(2x) + 2).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
        >>> (ours,) = torch.autograd.grad(TanhFunction.apply(x), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.tanh(x), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor) -> Tensor:
        x = _opmath(input)
        # tanh|x| = (1 - e^{-2|x|}) / (1 + e^{-2|x|}) = -u / (2 + u) with u = e^{-2|x|} - 1 = expm1(-2|x|) in (-1, 0]:
        # expm1 keeps 1 - e^{-2|x|} to its last digit near 0 (tanh(1e-20) = 1e-20), and u -> -1 for large |x|
        # (tanh(inf) = 1, nothing overflows). u / (2 + u) = 1 / (1 + 2 / u) <= 0 (no cancellation: 2 / u <= -2;
        # u = -0 at x = 0 gives -0) has the magnitude tanh|x|: copysign gives it x's sign (tanh(-0) = -0).
        # Seven passes in place on one temporary (a second 8 MB one costs more than a pass: glibc hands it
        # back to the system and faults it in again on the next call)
        u = _wide_(torch.abs(x).mul_(-2), "expm1")
        r = torch.div(u.new_tensor(2.0), u, out=u).add_(1).reciprocal_()
        y = torch.copysign(r, x, out=r).to(_result_dtype(input))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor | None:
        (y,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None
        t = _opmath(y)
        # dL/dx = dL/dy (1 - tanh^2 x)
        return torch.addcmul(t.new_ones(()), t, t, value=-1).mul_(grad_output).to(grad_output.dtype)


class ReLUFunction(torch.autograd.Function):
    """relu(x) = max(x, 0); d/dx = 1 if x > 0 else 0 (0 at x = 0, as torch).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
        >>> (ours,) = torch.autograd.grad(ReLUFunction.apply(x, False), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.relu(x), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, inplace: bool) -> Tensor:
        if inplace:  # the input object itself is returned (torch.compile's rule for a dirty input)
            ctx.mark_dirty(input)
            input.clamp_min_(0)
            y = input
        else:
            y = input.clamp_min(0)
        ctx.save_for_backward(y)  # y > 0 exactly where x > 0
        return y

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, None]:
        (y,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        # dL/dx = dL/dy [x > 0], with [x > 0] = sign(y) as y >= 0
        return y.sign().mul_(grad_output), None


class LeakyReLUFunction(torch.autograd.Function):
    """leaky_relu(x) = x if x > 0 else a x; d/dx = 1 if x > 0 else a.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
        >>> (ours,) = torch.autograd.grad(LeakyReLUFunction.apply(x, 0.1, False), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.leaky_relu(x, 0.1), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, negative_slope: float, inplace: bool) -> Tensor:
        a, x = negative_slope, _opmath(input)
        if inplace:
            ctx.mark_dirty(input)
        ctx.slope = a
        if 0 <= a <= 1:
            # y = max(x, a x), the sheet's x^+ + a x^-; y > 0 exactly where x > 0, so the backward's slope
            # 1 if x > 0 else a is max(sign y, a): only y is saved
            ax = x * a
            if inplace:
                torch.maximum(ax, x, out=input)
                y = input
            else:
                y = torch.maximum(ax, x, out=ax).to(_result_dtype(input))
            ctx.save_for_backward(y)
            return y
        # the slope f = dy/dx = 1 if x > 0 else a, summed as (a - a [x > 0]) + [x > 0] so that both
        # branches are exact; y = f x
        step = _step(x)
        f = step.mul(-a).add_(a).add_(step)
        if inplace:
            input.mul_(f)
            y = input
        else:
            y = (x * f).to(_result_dtype(input))
        ctx.save_for_backward(f)
        return y

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, None, None]:
        (s,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None
        # dL/dx = dL/dy (1 if x > 0 else a); the slope is piecewise constant, so its own derivative is 0
        if not 0 <= ctx.slope <= 1:  # the saved slope f
            return (grad_output * s).to(grad_output.dtype), None, None
        return _times(_opmath(s).sign().clamp_min_(ctx.slope), _opmath(grad_output)).to(grad_output.dtype), None, None


class PReLUFunction(torch.autograd.Function):
    """prelu(x) = x if x > 0 else a_c x, with a learned slope per channel (dim 1) or one shared slope.

    dy/dx = 1 if x > 0 else a_c;  dL/da_c = sum over all but the channel dim of [x <= 0] x dL/dy.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(2, 3, 4, requires_grad=True), torch.randn(2, 3, 4)
        >>> w = torch.rand(3, requires_grad=True)
        >>> ours = torch.autograd.grad(PReLUFunction.apply(x, w), (x, w), g)
        >>> theirs = torch.autograd.grad(torch.nn.functional.prelu(x, w), (x, w), g)
        >>> all(torch.allclose(o, t, atol=1e-6) for o, t in zip(ours, theirs, strict=True))
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(input, weight)
        # y = max(x, 0) + a_c min(x, 0)
        return input.clamp_min(0).addcmul_(_channel_view(weight, input), input.clamp_max(0))

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, Tensor | None]:
        input, weight = ctx.saved_tensors
        grad_input = grad_weight = None
        if ctx.needs_input_grad[0]:
            # dL/dx = dL/dy (1 if x > 0 else a_c): lerp picks dL/dy exactly where [x > 0] is 1
            grad_input = (_channel_view(weight, input) * grad_output).lerp_(grad_output, _step(input))
        if ctx.needs_input_grad[1]:
            # dL/da_c = sum_{i in channel c} [x_i <= 0] x_i dL/dy_i = sum min(x_i, 0) dL/dy_i
            g = input.clamp_max(0).mul_(grad_output)
            g = g.sum() if weight.numel() == 1 else g.sum([d for d in range(g.dim()) if d != 1])
            grad_weight = g.reshape(weight.shape)
        return grad_input, grad_weight


def _channel_view(weight: Tensor, input: Tensor) -> Tensor:
    """``weight`` shaped to broadcast over ``input``'s channel dim 1 (a scalar if it has one element)."""
    return weight.reshape(()) if weight.numel() == 1 else weight.reshape(-1, *[1] * (input.dim() - 2))


class ELUFunction(torch.autograd.Function):
    """elu(x) = x if x > 0 else α (e^x - 1)  (Clevert et al. 2016); d/dx = 1 if x > 0 else α e^x.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
        >>> (ours,) = torch.autograd.grad(ELUFunction.apply(x, 0.5, False), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.elu(x, 0.5), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, alpha: float, inplace: bool) -> Tensor:
        x = _opmath(input)
        if torch.compiler.is_compiling():
            # one fused loop either way; there the select is free and the NaN-propagating min and max are not
            # (inductor: 2.02 ms with the clamps, 1.67 with the select, on 2M floats). e^x - 1 of a large x
            # overflows to inf, which the select drops
            y = torch.where(x > 0, x, torch.expm1(x) * alpha).to(_result_dtype(input))
        else:
            # y = max(x, 0) + α (e^{min(x, 0)} - 1): one of the terms is 0, and e^x never overflows
            y = x.clamp_min(0).add_(_wide_(x.clamp_max(0), "expm1"), alpha=alpha).to(_result_dtype(input))
        if inplace:
            ctx.mark_dirty(input)
            input.copy_(y)
            y = input
        ctx.save_for_backward(y if inplace else input)
        ctx.alpha, ctx.inplace = alpha, inplace
        return y

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, None, None]:
        (s,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None
        s, g, alpha = _opmath(s), _opmath(grad_output), ctx.alpha
        # dL/dx = dL/dy (1 if x > 0 else α e^x). First dL/dy α e^{min(x, 0)}, which is already right
        # everywhere when α = 1; from the output y (inplace, α >= 0): α e^{min(x, 0)} = min(y, 0) + α
        grad = _times(s.clamp_max(0).add_(alpha) if ctx.inplace else s.clamp_max(0).exp_(), g)
        if not ctx.inplace and alpha != 1:
            grad.mul_(alpha)
        if alpha != 1:  # then dL/dy itself where x > 0 (y > 0 exactly there, as α >= 0 for inplace)
            grad.lerp_(g, _step(s))
        return grad.to(grad_output.dtype), None, None


def _linear_part_rounds_away(beta: float, threshold: float, dtype: torch.dtype) -> bool:
    """Whether softplus's linear part (x itself where βx > threshold) is what the smooth form rounds to anyway in
    ``dtype``, and its derivative 1 what σ(βx) rounds to: with z = βx > t >= 1, (1/β) log1p(e^{-z}) < e^{-z}/β is
    below a quarter ulp of x = z/β (at least x eps/4, β cancels) and 1 - σ(z) < e^{-z} below a quarter ulp of 1 when
    e^{-t} < eps/4 (float32: t > 17.3, so torch's default 20; float64 would need t > 37.4)."""
    return beta > 0 and threshold >= 1 and math.exp(-threshold) < torch.finfo(dtype).eps / 4


class SoftplusFunction(torch.autograd.Function):
    """softplus(x) = (1/β) log(1 + e^{βx}), and x itself where βx > threshold; d/dx = σ(βx) (1 there).

    Stable form: (1/β) log(1 + e^z) = (1/β) max(z, 0) + (1/β) log1p(e^{-|z|}), which never overflows;
    (1/β) max(βx, 0) is max(x, 0) for β > 0 and min(x, 0) for β < 0.

    Where the linear part is what the stable form rounds to anyway (:func:`_linear_part_rounds_away`: float32 at
    torch's threshold, float64 past 37.4; β > 0), no mask is made: the forward is 5 passes over memory (6 for
    β != 1), the backward dL/dy σ(βx) 5 (6). Elsewhere (float64 at torch's threshold, lower thresholds, β < 0, half
    types) the mask [βx > threshold] selects the linear part exactly. Only x is saved, as torch does (so the
    output may be changed in place before the backward; σ(βx) = e^{β(x - y)} from the output would save a pass).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
        >>> (ours,) = torch.autograd.grad(SoftplusFunction.apply(x, 2.0, 20.0), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.softplus(x, 2.0, 20.0), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, beta: float, threshold: float) -> Tensor:
        ctx.beta, ctx.threshold = beta, threshold
        x = _opmath(input)
        ctx.smooth = input.dtype in _FULL and _linear_part_rounds_away(beta, threshold, input.dtype)
        ctx.save_for_backward(input)  # (not y: as torch's, the output may be changed in place afterwards)
        z = x if beta == 1 else x * beta
        # [βx > threshold], unless the linear part is what the stable form rounds to anyway
        linear = _step(z, threshold) if threshold < math.inf and not ctx.smooth else None
        e = (torch.copysign(z, -1.0) if z is x else z.copysign_(-1.0)).exp_()  # e^{-|z|}, in place on βx
        if linear is not None and threshold >= 0:
            e.addcmul_(e, linear, value=-1)  # drops the log term there, leaving (1/β) max(βx, 0) = x
        out = linear if linear is not None and threshold >= 0 else None  # reuse that temporary
        r = torch.clamp_min(x, 0, out=out) if beta > 0 else torch.clamp_max(x, 0, out=out)  # (1/β) max(βx, 0)
        y = r.add_(_wide_(e, "log1p"), alpha=1 / beta)
        if linear is not None and threshold < 0:
            y = torch.where(linear > 0, x, y)  # there x need not be max(x, 0): select it (slow but rare)
        return y.to(_result_dtype(input))

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        (input,) = ctx.saved_tensors
        x, g = _opmath(input), _opmath(grad_output)
        z = x if ctx.beta == 1 else x * ctx.beta
        # dL/dx = dL/dy σ(βx), or dL/dy on the linear part (lerp picks it exactly; σ(βx) rounds to 1 there when
        # ctx.smooth)
        grad = _times(SigmoidFunction.apply(z), g)
        if ctx.threshold < math.inf and not ctx.smooth:
            grad.lerp_(g, _step(z, ctx.threshold))
        return grad.to(grad_output.dtype), None, None


def sigmoid(input: Tensor) -> Tensor:
    """σ(x) = 1 / (1 + e^{-x}), twin of ``torch.sigmoid`` (the sheet writes e^{x}, an erratum).

    Shape:
        - Input: (*), any shape.
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(2, 3)
        >>> sigmoid(x).shape
        torch.Size([2, 3])
        >>> torch.allclose(sigmoid(x), torch.sigmoid(x), atol=1e-6)
        True
    """
    return SigmoidFunction.apply(input)


def tanh(input: Tensor) -> Tensor:
    """tanh(x) = 2σ(2x) - 1, twin of ``torch.tanh`` (the sheet writes 2σ - 1, an erratum).

    Shape:
        - Input: (*), any shape.
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(tanh(x), torch.tanh(x), atol=1e-6)
        True
    """
    return TanhFunction.apply(input)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0), twin of ``torch.nn.functional.relu``.

    Shape:
        - Input: (*), any shape.
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(2, 3)
        >>> torch.equal(relu(x), torch.nn.functional.relu(x))
        True
    """
    return ReLUFunction.apply(input, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else a x, twin of ``torch.nn.functional.leaky_relu`` (the sheet's example slope is 0.1).

    Raises:
        ValueError: ``inplace=True`` with a negative slope on an input that needs a gradient.

    Shape:
        - Input: (*), any shape.
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(leaky_relu(x, 0.1), torch.nn.functional.leaky_relu(x, 0.1), atol=1e-6)
        True
    """
    _check_inplace("leaky_relu", input, inplace, "negative_slope", negative_slope)
    return LeakyReLUFunction.apply(input, negative_slope, inplace)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x if x > 0 else a_c x with learned slopes, twin of ``torch.nn.functional.prelu``.

    Args:
        input: any shape; the channel dim is 1 (an input of fewer than 2 dims has one channel).
        weight: 0-d or 1-D with 1 or C elements.

    Raises:
        ValueError: ``weight`` of more than 1 dim, or its size fits neither 1 nor C.

    Shape:
        - Input: (N, C, *) (channel dim 1), or fewer than 2 dims (one channel).
        - Weight: (1,), (C,) or ().
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, w = torch.randn(2, 3, 4), torch.rand(3)
        >>> prelu(x, w).shape
        torch.Size([2, 3, 4])
        >>> torch.allclose(prelu(x, w), torch.nn.functional.prelu(x, w), atol=1e-6)
        True
    """
    if weight.dim() > 1:
        raise ValueError(f"prelu: expected weight of 0 or 1 dims, got shape {tuple(weight.shape)}")
    channels = input.shape[1] if input.dim() >= 2 else 1
    if weight.numel() not in (1, channels):
        raise ValueError(f"prelu: expected weight of 1 or {channels} (channel) elements, got {weight.numel()}")
    return PReLUFunction.apply(input, weight)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else α (e^x - 1), twin of ``torch.nn.functional.elu``.

    The sheet's max(α(e^x - 1), x) is wrong for x > 0 (e^x - 1 > x) and, for α > 1, for x < 0 too.

    Raises:
        ValueError: ``inplace=True`` with a negative ``alpha`` on an input that needs a gradient.

    Shape:
        - Input: (*), any shape.
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(elu(x, 0.5), torch.nn.functional.elu(x, 0.5), atol=1e-6)
        True
    """
    _check_inplace("elu", input, inplace, "alpha", alpha)
    return ELUFunction.apply(input, alpha, inplace)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1/β) log(1 + e^{βx}), linear where βx > threshold, twin of ``torch.nn.functional.softplus``.

    Shape:
        - Input: (*), any shape.
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = 10 * torch.randn(2, 3)
        >>> torch.allclose(softplus(x, beta=2.0), torch.nn.functional.softplus(x, beta=2.0), atol=1e-6)
        True
    """
    return SoftplusFunction.apply(input, beta, threshold)


__all__ = [
    "ELUFunction", "LeakyReLUFunction", "PReLUFunction", "ReLUFunction", "SigmoidFunction", "SoftplusFunction",
    "TanhFunction", "elu", "leaky_relu", "prelu", "relu", "sigmoid", "softplus", "tanh",
]
