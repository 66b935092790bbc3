"""Dropout and channel-wise Dropout2d, twins of ``torch.nn.functional.dropout`` / ``dropout2d``.

The sheet: dropout "applies a mask of bernoulli r.v.'s"; each mask is a different thinned model,
N units give 2^N of them, and training with random masks approximates bagging over them. The
sheet's plain mask ``x * m`` leaves out a rescaling (see docs/ERRATA.md). Srivastava et al. (2014)
multiply the outgoing weights by the keep probability 1 - p at test time; "inverted" dropout, as
torch does it, moves that factor into training instead:

    m ~ Bernoulli(1 - p)   (1 = keep, drawn independently per element)
    y = x * m / (1 - p)    so that E[y] = x * E[m] / (1 - p) = x

Without the 1 / (1 - p) an activation's expectation during training is (1 - p) x while at test
time (no mask) it is x: the next layer would see different statistics in training and in
evaluation. With it, evaluation is the plain identity.

Backward, for an upstream gradient dL/dy and the same (constant) mask:

    dL/dx = dL/dy * m / (1 - p)

Dropout2d draws one m per (sample, channel) and broadcasts it over the spatial dims, so whole
feature maps are zeroed (neighbouring pixels are correlated, element-wise dropout barely
regularizes convolutions; Tompson et al. 2015).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor


class DropoutFunction(torch.autograd.Function):
    """y = x * s with s = m / (1 - p) precomputed (broadcastable to x); dL/dx = dL/dy * s.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
        >>> s = torch.empty(3, 4).bernoulli_(0.5) / 0.5  # m / (1 - p)
        >>> (ours,) = torch.autograd.grad(DropoutFunction.apply(x, s, False), x, g)
        >>> (theirs,) = torch.autograd.grad(x * s, x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, scaled_mask: Tensor, inplace: bool) -> Tensor:
        ctx.save_for_backward(scaled_mask)
        if inplace:
            ctx.mark_dirty(input)
            input.mul_(scaled_mask)
            return input  # the object itself (torch.compile's rule for a dirty input)
        return input * scaled_mask

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, None, None]:
        (scaled_mask,) = ctx.saved_tensors
        # dL/dx = dL/dy * m / (1 - p); linear in dL/dy, so double backward is the same product
        grad_input = grad_output * scaled_mask if ctx.needs_input_grad[0] else None
        return grad_input, None, None


def _check(name: str, input: Tensor, p: float, training: bool) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if training and p > 0.0 and not input.is_floating_point():
        raise ValueError(f"{name}: expected a floating point input in training, got {input.dtype}")


def _apply(
    input: Tensor, mask_shape: tuple[int, ...], p: float, inplace: bool, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    # m ~ Bernoulli(1 - p), in the input's dtype and on its device
    mask = input.new_empty(mask_shape).bernoulli_(1.0 - p, generator=generator)
    # s = m / (1 - p); p = 1 drops everything (s = 0, not 0 / 0)
    scaled_mask = mask * (1.0 / (1.0 - p)) if p < 1.0 else mask
    return DropoutFunction.apply(input, scaled_mask, inplace), mask


def dropout(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
    return_mask: bool = False,
) -> Tensor | tuple[Tensor, Tensor | None]:
    """Inverted dropout y = x * m / (1 - p), m ~ Bernoulli(1 - p); twin of ``F.dropout``.

    Args:
        input: any shape, floating point when dropout is applied.
        p: probability of zeroing an element, in [0, 1]. p = 1 gives zeros, as torch.
        training: apply dropout; when False (evaluation) this is the identity.
        inplace: overwrite ``input`` (which then must not be a leaf that requires grad).
        generator: draws the mask (keyword only, not in torch's signature); a generator on the
            input's device. None uses the global RNG of that device.
        return_mask: also return the 0/1 mask m (keyword only, not in torch's signature).

    Returns:
        y, or (y, m) when ``return_mask``; m is None where the op is the identity (training
        False or p = 0), and ``input`` itself is returned then, as torch does.

    Raises:
        ValueError: p outside [0, 1] (torch's message) or a non-floating input in training.

    Shape:
        - Input: (*), any shape.
        - Output: the input's shape (the mask too).

    Example:
        >>> import torch
        >>> x = torch.randn(4, 5)
        >>> _ = torch.manual_seed(0)
        >>> y, m = dropout(x, 0.5, return_mask=True)
        >>> _ = torch.manual_seed(0)  # the same seed draws torch's mask
        >>> torch.equal(y, torch.nn.functional.dropout(x, 0.5)), torch.equal(y, x * m * 2)
        (True, True)
        >>> dropout(x, 0.5, training=False) is x
        True
    """
    _check("dropout", input, p, training)
    if not training or p == 0.0:
        out, mask = input, None
    else:
        out, mask = _apply(input, tuple(input.shape), p, inplace, generator)
    return (out, mask) if return_mask else out


def dropout2d(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
    return_mask: bool = False,
) -> Tensor | tuple[Tensor, Tensor | None]:
    """Channel-wise dropout: one m ~ Bernoulli(1 - p) per (n, c), y = x * m / (1 - p).

    Twin of ``F.dropout2d``, whose actual behaviour it copies: a 4-D input is (N, C, H, W) and
    the mask has shape (N, C, 1, 1); a 3-D input is read as (N, C, L) (not as an unbatched
    (C, H, W)), so the mask has shape (N, C, 1) and torch's warning about it is repeated.

    Args:
        input: (N, C, H, W), or (N, C, L) as described above.
        p, training, inplace, generator, return_mask: as :func:`dropout`; the returned mask has
            the broadcastable shape above.

    Raises:
        ValueError: p outside [0, 1], a non-floating input in training, or an input that is not
            3-D or 4-D (torch only warns that those are deprecated and will become an error).

    Shape:
        - Input: (N, C, H, W) or (N, C, L).
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3, 4, 4)
        >>> _ = torch.manual_seed(0)
        >>> y, m = dropout2d(x, 0.5, return_mask=True)
        >>> m.shape  # one draw per (sample, channel)
        torch.Size([2, 3, 1, 1])
        >>> _ = torch.manual_seed(0)
        >>> torch.equal(y, torch.nn.functional.dropout2d(x, 0.5))
        True
    """
    _check("dropout2d", input, p, training)
    if input.dim() not in (3, 4):
        raise ValueError(f"dropout2d: expected input of shape (N, C, H, W) or (N, C, L), got {tuple(input.shape)}")
    if input.dim() == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
            "desired - input is interpreted as shape (N, C, L), where C is the channel dim (as torch does).",
            stacklevel=2,
        )
    if not training or p == 0.0:
        out, mask = input, None
    else:
        mask_shape = tuple(input.shape[:2]) + (1,) * (input.dim() - 2)  # (N, C, 1, 1) or (N, C, 1)
        out, mask = _apply(input, mask_shape, p, inplace, generator)
    return (out, mask) if return_mask else out


__all__ = ["DropoutFunction", "dropout", "dropout2d"]
