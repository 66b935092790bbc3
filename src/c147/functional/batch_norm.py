"""Batch normalization (Ioffe & Szegedy 2015), twin of ``torch.nn.functional.batch_norm``.

The sheet, per channel c over the m = N * (spatial size) values of a mini-batch:

    mu = 1/m sum_j x_j,   sigma^2 = 1/m sum_j (x_j - mu)^2        (biased: checked, correct)
    x_hat = (x - mu) / sqrt(sigma^2 + eps),   y = gamma x_hat + beta

In training the running statistics are updated in place, as torch does, with the *unbiased*
batch variance (Bessel's correction m / (m - 1)) for the running variance:

    running_mean = (1 - momentum) running_mean + momentum mu
    running_var  = (1 - momentum) running_var  + momentum sigma^2 m / (m - 1)

In evaluation mu and sigma^2 are the running statistics, constants, so y is a fixed affine map.

Backward (training), with g = dL/dy, sigma = sqrt(sigma^2 + eps) and sums over the m values of a
channel. From dL/dx_hat = gamma g, dx_hat/dmu = -1/sigma, dsigma^2/dx_j = 2 (x_j - mu) / m:

    dL/dbeta  = sum g
    dL/dgamma = sum g x_hat
    dL/dx     = gamma / (m sigma) * (m g - sum g - x_hat sum(g x_hat))

the first sum from mu's dependence on x, the second from sigma^2's. Backward (evaluation):

    dL/dx = gamma g / sigma,   dL/dgamma = sum g x_hat,   dL/dbeta = sum g

Both are written with differentiable ops; when a double backward is requested (create_graph)
mu and sigma are recomputed from the saved input so that their dependence on x is tracked too.
That is the reference form. Without create_graph the same sums take fewer passes and temporaries:
sigma^2 squares x - mu in place (one temporary, reused for y), and the backward forms x - mu once,
sum(g x_hat) = sum(g (x - mu)) / sigma, and

    dL/dx = gamma/sigma g - gamma/(m sigma) sum g - gamma/(m sigma^3) sum(g (x - mu)) (x - mu)

as one addcmul into the product's temporary and one in-place addcmul_.
"""

from __future__ import annotations

import torch
from torch import Tensor

_REDUCED = (torch.float16, torch.bfloat16)


def _layout(input: Tensor) -> tuple[int, list[int], tuple[int, ...], int, Tensor]:
    """C, the dims reduced per channel, the (1, C, 1, ...) shape of per-channel values, the values per channel
    m, and the input in the dtype the statistics are computed in (float32 for half and bfloat16, torch's
    "opmath")."""
    C = input.shape[1]
    x = input.float() if input.dtype in _REDUCED else input
    return C, [0, *range(2, input.dim())], (1, C) + (1,) * (input.dim() - 2), input.numel() // C, x


def _gamma_invstd(invstd: Tensor, weight: Tensor | None, dtype: torch.dtype) -> Tensor:
    """gamma / sigma per channel (1 / sigma without a weight), in the statistics' dtype: the scale of y's
    affine map and of every dL/dx."""
    return invstd if weight is None else invstd * weight.to(dtype)


def _affine(x: Tensor, mean: Tensor, invstd: Tensor, weight: Tensor | None, bias: Tensor | None,
            shape: tuple[int, ...], out: Tensor | None = None) -> Tensor:
    """y = (x - mu) * (gamma / sigma) + beta, as one scale and one shift per channel (into ``out`` if given)."""
    scale = _gamma_invstd(invstd, weight, x.dtype)
    shift = -mean * scale if bias is None else bias.to(x.dtype) - mean * scale
    return torch.addcmul(shift.view(shape), x, scale.view(shape), out=out)


def _stats(x: Tensor, dims: list[int], m: int, shape: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """mu, biased sigma^2 and 1 / sqrt(sigma^2 + eps) per channel (two passes: mean, then centered).
    The reference form, written with differentiable ops (the double backward recomputes it)."""
    mean = x.sum(dims) / m
    centered = x - mean.view(shape)
    var = (centered * centered).sum(dims) / m
    return mean, var, (var + eps).rsqrt()


def _fast_stats(x: Tensor, dims: list[int], m: int, shape: tuple[int, ...],
                eps: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """:func:`_stats` with one temporary: x - mu, squared in place (``torch.var_mean``'s one-pass
    Welford is several times slower on CPU than these two passes). Also returns that temporary, a
    fresh x-shaped tensor for the output to be written into."""
    mean = x.sum(dims) / m
    buffer = x - mean.view(shape)
    var = buffer.mul_(buffer).sum(dims) / m
    return mean, var, (var + eps).rsqrt(), buffer


def _update_running(running_mean: Tensor, running_var: Tensor, mean: Tensor, var: Tensor, count: int,
                    momentum: float) -> None:
    """running = (1 - momentum) running + momentum batch, in place, with the unbiased variance
    sigma^2 count / (count - 1) of the ``count`` values per channel the batch statistics were taken over."""
    running_mean.lerp_(mean.to(running_mean.dtype), momentum)
    running_var.lerp_((var * (count / (count - 1))).to(running_var.dtype), momentum)


def _normalize(ctx, input: Tensor, x: Tensor, mean: Tensor, invstd: Tensor, weight: Tensor | None,
               bias: Tensor | None, shape: tuple[int, ...], out: Tensor | None) -> Tensor:
    """The end of a batch norm forward: y = gamma x_hat + beta (into ``out``, the statistics' x-shaped
    temporary, when there is one) in the input's dtype, and on ``ctx`` what the backward and :func:`_grads`
    read (x, gamma, mu, 1 / sigma and beta's dtype)."""
    y = _affine(x, mean, invstd, weight, bias, shape, out=out)
    ctx.save_for_backward(input, weight, mean, invstd)
    ctx.bias_dtype = None if bias is None else bias.dtype
    return y.to(input.dtype)


def _batch_grad_input(g: Tensor, x_hat: Tensor, mean_g: Tensor, mean_g_xhat: Tensor, gamma_invstd: Tensor,
                      shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """dL/dx through the batch statistics, in the reference form (differentiable ops):

        dL/dx = gamma / (m sigma) * (m g - sum g - x_hat sum(g x_hat))
              = (g - mean g - x_hat mean(g x_hat)) * gamma / sigma

    with ``mean_g`` = sum g / m and ``mean_g_xhat`` = sum(g x_hat) / m per channel: the means over the values
    the statistics were taken over (one batch's m here; the whole group's N for synchronized batch norm).
    Returned in ``dtype``, the input's."""
    centered_g = torch.addcmul(g - mean_g.view(shape), x_hat, -mean_g_xhat.view(shape))
    return (centered_g * gamma_invstd.view(shape)).to(dtype)


def _grads(ctx, grad_input: Tensor | None, weight: Tensor | None, sum_g_xhat: Tensor | None,
           sum_g: Tensor | None) -> tuple[Tensor | None, ...]:
    """A batch norm backward's answer for its forward's eight arguments (input, running_mean, running_var,
    weight, bias, then three that are not differentiable: the same positions in both Functions):
    dL/dx, dL/dgamma = sum g x_hat and dL/dbeta = sum g, each in its own tensor's dtype, None where not asked."""
    grad_weight = sum_g_xhat.to(weight.dtype) if ctx.needs_input_grad[3] else None
    grad_bias = sum_g.to(ctx.bias_dtype) if ctx.needs_input_grad[4] else None
    return grad_input, None, None, grad_weight, grad_bias, None, None, None


class BatchNormFunction(torch.autograd.Function):
    """y = gamma (x - mu) / sqrt(sigma^2 + eps) + beta with the hand-written backward above.

    ``training`` True: batch statistics (and in-place running-stat update when given);
    False: the running statistics. Double-differentiable.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(4, 3, 5, 5, requires_grad=True), torch.randn(4, 3, 5, 5)
        >>> w, b = torch.rand(3, requires_grad=True), torch.randn(3, requires_grad=True)
        >>> ours = torch.autograd.grad(BatchNormFunction.apply(x, None, None, w, b, True, 0.1, 1e-5), (x, w, b), g)
        >>> theirs = torch.autograd.grad(torch.nn.functional.batch_norm(x, None, None, w, b, True), (x, w, b), g)
        >>> all(torch.allclose(o, t, atol=1e-5) for o, t in zip(ours, theirs, strict=True))
        True
    """

    @staticmethod
    def forward(
        ctx,
        input: Tensor,
        running_mean: Tensor | None,
        running_var: Tensor | None,
        weight: Tensor | None,
        bias: Tensor | None,
        training: bool,
        momentum: float,
        eps: float,
    ) -> Tensor:
        C, dims, shape, m, x = _layout(input)  # half and bfloat16 in float32, then rounded back
        buffer = None
        if training:
            mean, var, invstd, buffer = _fast_stats(x, dims, m, shape, eps)
            if running_mean is not None and m > 0:  # an empty batch has no statistics: kept, as torch
                _update_running(running_mean, running_var, mean, var, m, momentum)
        else:
            # a copy: the buffer itself may be updated in place before this backward runs
            mean, invstd = running_mean.to(x.dtype, copy=True), (running_var.to(x.dtype) + eps).rsqrt()
        ctx.training, ctx.eps = training, eps
        return _normalize(ctx, input, x, mean, invstd, weight, bias, shape, out=buffer)  # into the stats' temporary

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        input, weight, mean, invstd = ctx.saved_tensors
        C, dims, shape, m, x = _layout(input)
        g = grad_output.to(x.dtype)
        need_x, need_w, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[3], ctx.needs_input_grad[4]
        batch_x = need_x and ctx.training  # dL/dx through the batch statistics needs both sums
        reference = torch.is_grad_enabled()  # a double backward: the reference form, with differentiable ops
        if reference and ctx.training:
            # mu and sigma as differentiable functions of x
            mean, _, invstd = _stats(x, dims, m, shape, ctx.eps)
        gamma_invstd = _gamma_invstd(invstd, weight, x.dtype)
        grad_input = sum_g_xhat = None
        sum_g = g.sum(dims) if need_b or batch_x else None  # dL/dbeta = sum g
        if (need_w or batch_x) and reference:
            x_hat = (x - mean.view(shape)) * invstd.view(shape)
            sum_g_xhat = (g * x_hat).sum(dims)  # dL/dgamma = sum g x_hat
            if batch_x:
                grad_input = _batch_grad_input(g, x_hat, sum_g / m, sum_g_xhat / m, gamma_invstd, shape, input.dtype)
        elif need_w or batch_x:
            # the same sums with fewer passes over x and g (x - mu is formed once, sum g (x - mu) is a
            # dot product, no x_hat), with sum(g x_hat) = sum(g (x - mu)) / sigma and
            #   dL/dx = g gamma / sigma - gamma / (m sigma) sum g - (x - mu) gamma / (m sigma^3) sum(g (x - mu))
            # as one addcmul and one in-place addcmul_
            centered = x - mean.view(shape)
            product = torch.mul(g, centered)  # then reused for dL/dx
            sum_g_xhat = product.sum(dims) * invstd if m > 0 else product.sum(dims)  # empty: 0, not NaN
            if batch_x:
                grad_input = torch.addcmul((-gamma_invstd * sum_g / m).view(shape), g, gamma_invstd.view(shape),
                                           out=product)
                grad_input.addcmul_(centered, (-gamma_invstd * invstd * sum_g_xhat / m).view(shape))
                grad_input = grad_input.to(input.dtype)
        if need_x and not ctx.training:
            # dL/dx = gamma g / sigma (the statistics are constants)
            grad_input = (g * gamma_invstd.view(shape)).to(input.dtype)
        return _grads(ctx, grad_input, weight, sum_g_xhat, sum_g)


def _check(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None,
           bias: Tensor | None, training: bool, eps: float) -> None:
    """batch_norm's argument checks, torch's rules (its messages where torch raises ValueError)."""
    if input.dim() < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, *), got {tuple(input.shape)}")
    C = input.shape[1]
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or neither be None")
    if not training and running_mean is None:
        raise ValueError("batch_norm: running_mean and running_var must be defined in evaluation mode")
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is None:
            continue
        if tuple(t.shape) != (C,):
            raise ValueError(f"batch_norm: expected {name} of shape ({C},) for an input with {C} channels, "
                             f"got {tuple(t.shape)}")
        # torch's CPU rule: parameters in the input's dtype, or float32 for a half/bfloat16 input
        if t.dtype != input.dtype and not (input.dtype in _REDUCED and t.dtype == torch.float32):
            raise ValueError(f"batch_norm: expected {name} of dtype {input.dtype} (or float32 for a half/bfloat16 "
                             f"input), got {t.dtype}")
    if training and input.numel() // C == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(input.shape)}")
    _check_eps(training, eps)


def _check_eps(training: bool, eps: float) -> None:
    """torch's eps rule: positive in training (1 / sqrt(sigma^2 + eps) of a constant channel), else non-negative."""
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")


def _empty_vector(input: Tensor, weight: Tensor | None, bias: Tensor | None, training: bool, eps: float) -> Tensor:
    """Batch norm of an empty 1-D input, shape (0,) (one of torch's OpInfo samples), as torch answers it.

    (0,) has no channel dim, so nothing is normalized and there is no C to check the (C,) tensors
    against: torch checks eps alone, ignores the running statistics (of any size, or none, even in
    evaluation: they are neither read nor updated) and returns its zero-size shortcut
    input * weight[0] + bias[0], an empty tensor in the input's dtype whose gradients are empty for x
    and zeros for gamma and beta. Here: an empty batch of one channel with gamma = weight[0] and
    beta = bias[0], through :class:`BatchNormFunction` (m = 0: no statistics, no update), so the
    backward is still the hand-written one. ``weight[0]`` of an empty or 0-dim weight raises torch's
    IndexError, with torch's message.
    """
    _check_eps(training, eps)
    gamma, beta = (None if t is None else t.select(0, 0).reshape(1) for t in (weight, bias))  # torch's weight[0]
    return BatchNormFunction.apply(input.reshape(0, 1), None, None, gamma, beta, True, 0.0, eps).reshape(0)


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over all dims but C, twin of ``torch.nn.functional.batch_norm``.

    Args:
        input: (N, C, *): (N, C) or (N, C, L) for BatchNorm1d, (N, C, H, W) for BatchNorm2d.
        running_mean, running_var: (C,) statistics, updated in place when ``training``; None
            (both) in training means batch statistics only. Not differentiable (no gradient).
        weight, bias: gamma and beta, (C,) or None (gamma = 1, beta = 0).
        training: normalize with the batch statistics (and update the running ones), else with
            the running statistics.
        momentum: weight of the new batch in the running averages.
        eps: added to the variance under the square root.

    Returns:
        y, same shape and dtype as ``input``.

    Raises:
        ValueError: rank below 2 (but for an empty vector), a (C,) tensor of another size or an
            unsupported dtype, only one running statistic, none in evaluation, a single value per
            channel in training, a non-positive eps in training (torch's messages where torch raises
            ValueError).
        IndexError: an empty vector with an empty weight or bias (torch's: it takes ``weight[0]``).

    Shape:
        - Input: (N, C) or (N, C, *); or (0,), an empty vector, as torch: the output is empty, the
          running statistics are ignored, and weight and bias of any (non-zero) size give their
          first element.
        - running_mean, running_var, weight, bias: (C,).
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, w, b = torch.randn(4, 3, 5, 5), torch.rand(3), torch.randn(3)
        >>> mean, var, their_mean, their_var = torch.zeros(3), torch.ones(3), torch.zeros(3), torch.ones(3)
        >>> y = batch_norm(x, mean, var, w, b, training=True)
        >>> y_theirs = torch.nn.functional.batch_norm(x, their_mean, their_var, w, b, training=True)
        >>> y.shape
        torch.Size([4, 3, 5, 5])
        >>> torch.allclose(y, y_theirs, atol=1e-5), torch.allclose(var, their_var, atol=1e-6)
        (True, True)
    """
    if input.shape == (0,):  # no channel dim: torch's zero-size shortcut
        return _empty_vector(input, weight, bias, training, eps)
    _check(input, running_mean, running_var, weight, bias, training, eps)
    return BatchNormFunction.apply(input, running_mean, running_var, weight, bias, training, momentum, eps)


__all__ = ["BatchNormFunction", "batch_norm"]
