"""c147.functional losses against torch's, class_weights against scikit-learn, and the sheet's errata."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight
from torch.autograd import gradcheck, gradgradcheck

from c147.functional import loss as L
from c147.functional.bce import (
    BinaryCrossEntropyFunction,
    BinaryCrossEntropyWithLogitsFunction,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
)
from c147.functional.cross_entropy import CrossEntropyFunction, NLLLossFunction, cross_entropy, nll_loss
from tests.twins import (
    DEVICES,
    DTYPES,
    assert_backward_is,
    assert_function_parity,
    assert_reduced_precision_parity,
    rand,
)

REDUCTIONS = ["mean", "sum", "none"]


def uniform(*shape: int, low: float = 0.0, high: float = 1.0, dtype=torch.float64, device="cpu", seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (low + (high - low) * torch.rand(shape, generator=g, dtype=torch.float64)).to(device=device, dtype=dtype)


def labels(shape: tuple[int, ...], num_classes: int, device="cpu", seed: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_classes, shape, generator=g).to(device)


def class_weight(c: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    return uniform(c, low=0.2, high=2.0, dtype=dtype, device=device, seed=3)


# ---------------------------------------------------------------- cross_entropy and nll_loss

# (input shape, target: "index" or "prob", kwargs; weight=True means a class-weight tensor, ignore=k sets
#  k targets to ignore_index)
CE_CASES = [
    ((6, 5), "index", {}),
    ((6, 5), "index", dict(weight=True)),
    ((6, 5), "index", dict(ignore=2)),
    ((6, 5), "index", dict(ignore=2, ignore_index=3)),  # ignore_index may be a real class
    ((6, 5), "index", dict(label_smoothing=0.1)),
    ((6, 5), "index", dict(weight=True, ignore=2, label_smoothing=0.25)),
    ((3, 5, 4, 2), "index", dict(weight=True, ignore=3, label_smoothing=0.1)),
    ((5,), "index", {}),  # unbatched: target ()
    ((5,), "index", dict(weight=True, label_smoothing=0.3)),
    ((6, 5), "index", dict(label_smoothing=1.0)),
    ((6, 5), "prob", {}),
    ((6, 5), "prob", dict(weight=True, label_smoothing=0.2)),
    ((3, 5, 4, 2), "prob", dict(weight=True)),
    ((5,), "prob", dict(label_smoothing=0.1)),
]


NLL_CASES = [c for c in CE_CASES if c[1] == "index" and "label_smoothing" not in c[2]]


def ce_inputs(shape, kind, kwargs, dtype, device):
    """``[input, target]`` and the torch keyword arguments for a CE_CASES row."""
    kwargs = dict(kwargs)
    cd = 0 if len(shape) == 1 else 1
    x = rand(*shape, scale=2.0, dtype=dtype, device=device)
    if kind == "prob":
        target = uniform(*shape, dtype=dtype, device=device)
    else:
        target = labels(shape[:cd] + shape[cd + 1:], shape[cd], device)
        k = kwargs.pop("ignore", 0)
        if k:
            target.view(-1)[:k] = kwargs.get("ignore_index", -100)
    if kwargs.pop("weight", False):
        kwargs["weight"] = class_weight(shape[cd], dtype, device)
    return [x, target], kwargs


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, kind, kwargs", CE_CASES)
def test_cross_entropy_parity(shape, kind, kwargs, reduction, dtype, device):
    inputs, kw = ce_inputs(shape, kind, kwargs, dtype, device)
    out = assert_function_parity(cross_entropy, F.cross_entropy, inputs, reduction=reduction, **kw)
    assert_backward_is(out, CrossEntropyFunction)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, kind, kwargs", NLL_CASES)
def test_nll_loss_parity(shape, kind, kwargs, reduction, dtype, device):
    inputs, kw = ce_inputs(shape, kind, kwargs, dtype, device)
    out = assert_function_parity(nll_loss, F.nll_loss, inputs, reduction=reduction, **kw)
    assert_backward_is(out, NLLLossFunction)


def test_cross_entropy_weight_gradient_with_probabilities():
    """torch differentiates the class weights of probability targets (not of class indices): so do we."""
    x, t, w = rand(6, 5), uniform(6, 5), class_weight(5)
    out = assert_function_parity(lambda a, b, c: cross_entropy(a, b, c, label_smoothing=0.2),
                                 lambda a, b, c: F.cross_entropy(a, b, c, label_smoothing=0.2), [x, t, w])
    assert_backward_is(out, CrossEntropyFunction)


def test_cross_entropy_all_ignored_as_torch():
    x, y = rand(4, 3), torch.full((4,), -100)
    assert cross_entropy(x, y).isnan() and F.cross_entropy(x, y).isnan()  # 0 / 0 weight
    assert cross_entropy(x, y, reduction="sum").item() == F.cross_entropy(x, y, reduction="sum").item() == 0.0


def test_cross_entropy_is_nll_of_log_softmax():
    from c147.functional.softmax import log_softmax

    x, y, w = rand(6, 5, scale=3.0), labels((6,), 5), class_weight(5)
    torch.testing.assert_close(cross_entropy(x, y, w), nll_loss(log_softmax(x, 1), y, w))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_huge_logits_stay_finite(dtype, device):
    x = torch.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]], dtype=dtype, device=device)
    y = torch.tensor([2, 0], device=device)
    out = assert_function_parity(cross_entropy, F.cross_entropy, [x, y], label_smoothing=0.1)
    assert out.isfinite()


# ---------------------------------------------------------------- multi_margin_loss

# (input shape, target shape, kwargs)
MM_CASES = [
    ((6, 5), (6,), {}),
    ((6, 5), (6,), dict(p=2)),
    ((6, 5), (6,), dict(margin=0.3, weight=True)),
    ((6, 5), (6,), dict(p=2, margin=2.0, weight=True)),
    ((5,), (), dict(p=1)),
    ((5,), (1,), dict(p=2, weight=True)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, tshape, kwargs", MM_CASES)
def test_multi_margin_loss_parity(shape, tshape, kwargs, reduction, dtype, device):
    kwargs = dict(kwargs)
    if kwargs.pop("weight", False):
        kwargs["weight"] = class_weight(shape[-1], dtype, device)
    x, y = rand(*shape, dtype=dtype, device=device), labels(tshape, shape[-1], device)
    out = assert_function_parity(L.multi_margin_loss, F.multi_margin_loss, [x, y], reduction=reduction, **kwargs)
    assert_backward_is(out, L.MultiMarginLossFunction)


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss_kink_as_torch(p):
    """At exactly z = margin - x_y + x_j = 0 torch takes the subgradient 0 (strict z > 0): so do we."""
    x = torch.tensor([[1.0, 0.0, 0.5], [2.0, 1.0, -3.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 2])  # row 0: z_1 = 1 - 1 + 0 = 0 exactly
    assert_function_parity(L.multi_margin_loss, F.multi_margin_loss, [x, y], p=p, reduction="sum")
    a = x.clone().requires_grad_()
    L.multi_margin_loss(a, y, p=p, reduction="sum").backward()
    assert a.grad[0, 1] == 0


# ---------------------------------------------------------------- binary cross-entropy

# (input shape, kwargs; weight / pos_weight: the shape of that tensor)
BCE_CASES = [
    ((7,), {}),
    ((4, 5), dict(weight=(4, 5))),
    ((4, 5), dict(weight=(5,))),
    ((4, 5), dict(weight=(4, 1))),
    ((2, 3, 4), dict(weight=())),
]
BCEL_CASES = [
    *BCE_CASES,
    ((4, 5), dict(pos_weight=(5,))),
    ((4, 5), dict(weight=(4, 1), pos_weight=(5,))),
    ((2, 3, 4), dict(pos_weight=(3, 1))),
]


def bce_kwargs(kwargs, dtype, device):
    return {k: uniform(*s, low=0.2, high=3.0, dtype=dtype, device=device, seed=4 + i)
            for i, (k, s) in enumerate(kwargs.items())}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, kwargs", BCE_CASES)
def test_binary_cross_entropy_parity(shape, kwargs, reduction, dtype, device):
    p = uniform(*shape, low=0.02, high=0.98, dtype=dtype, device=device)
    t = uniform(*shape, dtype=dtype, device=device, seed=2)
    out = assert_function_parity(binary_cross_entropy, F.binary_cross_entropy, [p, t], reduction=reduction,
                                 **bce_kwargs(kwargs, dtype, device))
    assert_backward_is(out, BinaryCrossEntropyFunction)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, kwargs", BCEL_CASES)
def test_binary_cross_entropy_with_logits_parity(shape, kwargs, reduction, dtype, device):
    x = rand(*shape, scale=4.0, dtype=dtype, device=device)
    t = uniform(*shape, dtype=dtype, device=device, seed=2)
    out = assert_function_parity(binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, [x, t],
                                 reduction=reduction, **bce_kwargs(kwargs, dtype, device))
    assert_backward_is(out, BinaryCrossEntropyWithLogitsFunction)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_clamps_as_torch(dtype):
    """x = 0 or 1 against the wrong label: loss 100 (log clamped at -100), gradients as torch's clamps."""
    p = torch.tensor([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], dtype=dtype)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.3], dtype=dtype)
    out = assert_function_parity(binary_cross_entropy, F.binary_cross_entropy, [p, t], reduction="none")
    assert out[0] == out[1] == 100


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_with_logits_huge_logits(dtype, device):
    x = torch.tensor([-1e4, -80.0, -30.0, 0.0, 30.0, 80.0, 1e4], dtype=dtype, device=device)
    t = torch.tensor([1.0, 0.0, 0.5, 1.0, 0.0, 1.0, 0.0], dtype=dtype, device=device)
    pw = torch.full((7,), 2.5, dtype=dtype, device=device)
    out = assert_function_parity(binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, [x, t],
                                 reduction="none", pos_weight=pw)
    assert out.isfinite().all()


# ---------------------------------------------------------------- mse_loss

MSE_CASES = [((7,), (7,), False), ((4, 5), (4, 5), False), ((2, 3, 4), (2, 3, 4), True), ((4, 5), (4, 5), True)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, tshape, weighted", MSE_CASES)
def test_mse_loss_parity(shape, tshape, weighted, reduction, dtype, device):
    xs = [rand(*shape, dtype=dtype, device=device), rand(*tshape, dtype=dtype, device=device, seed=1)]
    if weighted:  # torch differentiates the weight: pass it as an input to compare its gradient
        xs.append(uniform(*shape, low=0.1, high=2.0, dtype=dtype, device=device))
    out = assert_function_parity(lambda *a, **k: L.mse_loss(*a[:2], weight=a[2] if weighted else None, **k),
                                 lambda *a, **k: F.mse_loss(*a[:2], weight=a[2] if weighted else None, **k),
                                 xs, reduction=reduction)
    assert_backward_is(out, L.MSELossFunction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, tshape", [((4, 5), (5,)), ((5,), (4, 5)), ((4, 1), (1, 5))])
def test_mse_loss_broadcast_target_warns_as_torch(shape, tshape, reduction):
    x, t = rand(*shape), rand(*tshape, seed=1)
    with pytest.warns(UserWarning, match="Using a target size"):
        out = assert_function_parity(L.mse_loss, F.mse_loss, [x, t], reduction=reduction)
    assert_backward_is(out, L.MSELossFunction)


def test_mse_sheet_convention_half_sum():
    """Convention note, not an error: the sheet's MSE = 1/2 sum_i (y_i - O_i)^2 is N/2 times torch's (and
    our) mean_i (x_i - y_i)^2; both have the same minimiser, the gradients differ by the factor N/2."""
    x, y = rand(10), rand(10, seed=1)
    sheet = 0.5 * ((y - x) ** 2).sum()
    torch.testing.assert_close(sheet, L.mse_loss(x, y) * x.numel() / 2)
    torch.testing.assert_close(L.mse_loss(x, y), F.mse_loss(x, y))
    assert not torch.isclose(sheet, L.mse_loss(x, y))


# ---------------------------------------------------------------- gradcheck / gradgradcheck

W5 = class_weight(5)
GRADCHECKS = {
    "cross_entropy index": (lambda x: cross_entropy(x, torch.tensor([0, 4, -100, 2]), W5, label_smoothing=0.3),
                            [(4, 5)]),
    "cross_entropy spatial none": (lambda x: cross_entropy(x, labels((2, 3), 5), reduction="none"), [(2, 5, 3)]),
    "cross_entropy prob": (lambda x, t, w: cross_entropy(x, t, w, label_smoothing=0.2), [(4, 5), (4, 5), (5,)]),
    "nll_loss": (lambda x: nll_loss(x, torch.tensor([0, 4, -100, 2]), W5), [(4, 5)]),
    "multi_margin p=1": (lambda x: L.multi_margin_loss(x, torch.tensor([0, 4, 1, 2]), weight=W5, margin=0.5),
                         [(4, 5)]),
    "multi_margin p=2": (lambda x: L.multi_margin_loss(x, torch.tensor([0, 4, 1, 2]), p=2), [(4, 5)]),
    "binary_cross_entropy": (lambda p, t: binary_cross_entropy(p.sigmoid(), t, weight=W5), [(4, 5), (4, 5)]),
    "bce_with_logits": (lambda x, t: binary_cross_entropy_with_logits(x, t, W5, pos_weight=W5.flip(0)),
                        [(4, 5), (4, 5)]),
    "mse_loss weighted": (lambda x, y, w: L.mse_loss(x, y, weight=w), [(4, 5), (4, 5), (4, 5)]),
    "mse_loss broadcast sum": (lambda x, y: L.mse_loss(x, y, reduction="sum"), [(4, 5), (5,)]),
}


@pytest.mark.filterwarnings("ignore:Using a target size")
@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradcheck_and_gradgradcheck(name):
    fn, shapes = GRADCHECKS[name]
    xs = [uniform(*s, low=0.1, high=0.9, seed=i) if i else rand(*s, seed=i) for i, s in enumerate(shapes)]
    xs = [x.requires_grad_() for x in xs]
    assert gradcheck(fn, xs)
    assert gradgradcheck(fn, xs)


# ---------------------------------------------------------------- half precision

HALF = {
    "cross_entropy": (cross_entropy, F.cross_entropy,
                      lambda d: [rand(16, 10, scale=2.0, dtype=d), labels((16,), 10)], dict(label_smoothing=0.1)),
    "cross_entropy prob": (cross_entropy, F.cross_entropy,
                           lambda d: [rand(16, 10, dtype=d), uniform(16, 10, dtype=d)], {}),
    "nll_loss": (nll_loss, F.nll_loss, lambda d: [rand(16, 10, dtype=d), labels((16,), 10)], {}),
    "binary_cross_entropy": (binary_cross_entropy, F.binary_cross_entropy,
                             lambda d: [uniform(16, 10, low=0.05, high=0.95, dtype=d),
                                        uniform(16, 10, dtype=d, seed=2)], {}),
    "bce_with_logits": (binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits,
                        lambda d: [rand(16, 10, scale=3.0, dtype=d), uniform(16, 10, dtype=d)], {}),
    "mse_loss": (L.mse_loss, F.mse_loss, lambda d: [rand(16, 10, dtype=d), rand(16, 10, dtype=d, seed=1)], {}),
}


# compared with float64 on the same values (tests/twins.py), norm-wise: the mean over 16 x 10 elements
# (160 terms), a log-sum-exp of 10 and 4 more roundings per element (log, exp, the product, the result)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("name", list(HALF))
def test_half_precision_parity(name, reduction, dtype):
    ours, twin, make, kwargs = HALF[name]
    assert_reduced_precision_parity(ours, twin, make(torch.float32), dtype, terms=160 + 10 + 4, seed=5,
                                    reduction=reduction, **kwargs)


# ---------------------------------------------------------------- bad inputs

X, Y = rand(4, 3), torch.tensor([0, 2, 1, 0])
BAD = [
    (cross_entropy, (X, Y), dict(reduction="avg"), r"expected reduction in \('mean', 'sum', 'none'\), got 'avg'"),
    (cross_entropy, (X, torch.tensor([0, 3, 1, 0])), {}, r"class indices in \[0, 2\].*got target 3"),
    (cross_entropy, (X, torch.tensor([0, -1, 1, 0])), {}, r"class indices in \[0, 2\].*got target -1"),
    (cross_entropy, (X, torch.tensor([0, 1])), {}, r"expected target of shape \(4,\) \(class indices\) or \(4, 3\)"),
    (cross_entropy, (X, Y.double()), {}, "expected integer class indices as target, got torch.float64"),
    (cross_entropy, (X, torch.ones(4, 3, dtype=torch.long)), {}, "expected floating class probabilities"),
    (cross_entropy, (X, rand(4, 3)), dict(ignore_index=1), "ignore_index is not supported for class probabilities"),
    (cross_entropy, (X, Y), dict(weight=torch.ones(4, dtype=torch.float64)), r"weight of shape \(3,\).*got \(4,\)"),
    (cross_entropy, (X, Y), dict(label_smoothing=1.5), r"label_smoothing in \[0.0, 1.0\], got 1.5"),
    (cross_entropy, (torch.tensor(1.0), torch.tensor(0)), {}, r"expected input of shape \(C,\), \(N, C\)"),
    (cross_entropy, (X, Y), dict(weight=torch.ones(3, dtype=torch.float64, requires_grad=True)),
     "not differentiable with respect to weight"),
    (nll_loss, (X, torch.tensor([0, 5, 1, 0])), {}, r"class indices in \[0, 2\].*got target 5"),
    (nll_loss, (X, Y), dict(reduction="avg"), "expected reduction in"),
    (nll_loss, (rand(2, 3, 4), torch.zeros(2, 5, dtype=torch.long)), {}, r"expected target of shape \(2, 4\)"),
    (L.multi_margin_loss, (X, Y), dict(p=3), "only p == 1 and p == 2 supported, got p=3"),
    (L.multi_margin_loss, (rand(2, 3, 4), Y[:2]), {}, r"expected input of shape \(C,\) or \(N, C\), got \(2, 3, 4\)"),
    (L.multi_margin_loss, (X, Y[:2]), {}, r"expected target of shape \(4,\) \(class indices\), got \(2,\)"),
    (L.multi_margin_loss, (X, torch.tensor([0, 3, 1, 0])), {}, r"class indices in \[0, 2\], got target 3"),
    (L.multi_margin_loss, (X, torch.tensor([0, -1, 1, 0])), {}, r"class indices in \[0, 2\], got target -1"),
    (L.multi_margin_loss, (X, Y.float()), {}, "expected integer class indices as target, got torch.float32"),
    (L.multi_margin_loss, (X, Y), dict(weight=torch.ones(4, dtype=torch.float64)), r"weight of shape \(3,\)"),
    (binary_cross_entropy, (torch.tensor([0.5, 1.5]), torch.tensor([1.0, 0.0])), {},
     r"every element of input \(probabilities\) in \[0, 1\]"),
    (binary_cross_entropy, (torch.tensor([0.5, float("nan")]), torch.tensor([1.0, 0.0])), {}, r"in \[0, 1\]"),
    (binary_cross_entropy, (torch.tensor([0.5, 0.2]), torch.tensor([1.0, 2.0])), {},
     r"every element of target in \[0, 1\]"),
    (binary_cross_entropy, (torch.rand(3), torch.rand(4)), {}, r"expected target of the input's shape \(3,\)"),
    (binary_cross_entropy, (torch.rand(3), torch.rand(3)), dict(weight=torch.rand(2, 3)),
     r"weight broadcastable to the input's shape \(3,\), got \(2, 3\)"),
    (binary_cross_entropy_with_logits, (X, X), dict(pos_weight=torch.rand(5, dtype=torch.float64)),
     r"pos_weight broadcastable to the input's shape \(4, 3\), got \(5,\)"),
    (binary_cross_entropy_with_logits, (X, X[:2]), {}, r"expected target of the input's shape \(4, 3\)"),
    (binary_cross_entropy_with_logits, (X, X), dict(pos_weight=torch.ones(3, requires_grad=True)),
     "not differentiable with respect to pos_weight"),
    (L.mse_loss, (X, rand(5)), {}, r"target broadcastable with the input's shape \(4, 3\), got \(5,\)"),
    (L.mse_loss, (X, X), dict(weight=rand(3)), r"weight of the input's shape \(4, 3\), got \(3,\)"),
    (L.mse_loss, (X, X), dict(reduction="mean "), "expected reduction in"),
]


@pytest.mark.parametrize("fn, args, kwargs, match", BAD)
def test_bad_inputs(fn, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(*args, **kwargs)


@pytest.mark.parametrize("size_average, reduce", [(True, None), (False, None), (None, False), (False, True)])
def test_legacy_size_average_reduce_as_torch(size_average, reduce):
    with pytest.warns(UserWarning, match="deprecated"):
        out = cross_entropy(X, Y, size_average=size_average, reduce=reduce)
    with pytest.warns(UserWarning, match="deprecated"):
        ref = F.cross_entropy(X, Y, size_average=size_average, reduce=reduce)
    torch.testing.assert_close(out, ref)


# ---------------------------------------------------------------- class weights


@pytest.mark.parametrize("num_classes, n, seed", [(2, 50, 0), (5, 200, 1), (10, 1000, 2)])
def test_class_weights_match_sklearn_balanced(num_classes, n, seed):
    g = torch.Generator().manual_seed(seed)
    # imbalanced labels: class c drawn with probability proportional to c + 1, every class present
    y = torch.multinomial(torch.arange(1.0, num_classes + 1), n, replacement=True, generator=g)
    y[:num_classes] = torch.arange(num_classes)
    ref = compute_class_weight("balanced", classes=np.arange(num_classes), y=y.numpy())
    w = L.class_weights(y, num_classes)
    assert w.dtype == torch.get_default_dtype()
    torch.testing.assert_close(w.double(), torch.from_numpy(ref), rtol=1e-6, atol=0)  # float32 result
    counts = torch.bincount(y, minlength=num_classes)
    torch.testing.assert_close(L.class_weights(counts.double(), counts=True), torch.from_numpy(ref))
    # every class then carries the same total weight, total / num_classes
    torch.testing.assert_close(L.class_weights(counts.double(), counts=True) * counts, torch.full(
        (num_classes,), n / num_classes, dtype=torch.float64))


def test_class_weights_spatial_labels_and_default_num_classes():
    y = torch.tensor([[0, 1], [1, 2]])
    torch.testing.assert_close(L.class_weights(y), torch.tensor([4 / 3, 2 / 3, 4 / 3]))


@pytest.mark.parametrize("args, kwargs, match", [
    ((torch.tensor([0, 2, 2]),), {}, r"class\(es\) \[1\] have no samples"),
    ((torch.tensor([0, 1, 1]),), dict(num_classes=4), r"class\(es\) \[2, 3\] have no samples"),
    ((torch.tensor([3.0, 0.0]),), dict(counts=True), r"class\(es\) \[1\] have no samples"),
    ((torch.tensor([0, 5]),), dict(num_classes=3), r"labels in \[0, 2\], got values in \[0, 5\]"),
    ((torch.tensor([0.0, 1.0]),), {}, "expected non-empty integer class labels, got torch.float32"),
    ((torch.tensor([3, -1]),), dict(counts=True), "expected non-negative counts"),
    ((torch.tensor([3, 1]),), dict(counts=True, num_classes=3), r"counts of shape \(3,\)"),
])
def test_class_weights_bad_inputs(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        L.class_weights(*args, **kwargs)


# ---------------------------------------------------------------- the sheet's errata


def test_sheet_erratum_class_weight():
    """Sheet: "Weight for class_i / #num_samples = total samples / #num_classes", i.e. weight_i =
    n_i * total / num_classes: it grows with the class size and up-weights the majority class. The balanced
    weight (sklearn's 'balanced', what the sheet means) is weight_i = total / (num_classes * n_i)."""
    y = torch.tensor([0] * 90 + [1] * 10)
    counts, total, k = torch.tensor([90.0, 10.0], dtype=torch.float64), 100, 2
    sheet = counts * total / k  # the sheet's formula, solved for the weight
    balanced = L.class_weights(counts, counts=True)
    ref = torch.from_numpy(compute_class_weight("balanced", classes=np.arange(2), y=y.numpy()))
    torch.testing.assert_close(balanced, ref)
    torch.testing.assert_close(balanced, torch.tensor([100 / 180, 100 / 20], dtype=torch.float64))
    assert sheet[0] > sheet[1]  # the sheet's formula favours the majority class ...
    assert balanced[0] < balanced[1]  # ... the balanced weights favour the minority class
    assert not torch.allclose(sheet, ref)
    # balanced: each class contributes total / num_classes; the sheet's: n_i^2 total / num_classes
    torch.testing.assert_close(balanced * counts, torch.full((2,), total / k, dtype=torch.float64))


def test_sheet_erratum_softmax_cross_entropy_gradient():
    """The sheet's L is the log-likelihood (its line 44), so for a linear model z^(n) = W x^(n) + b averaged over
    m samples dL/db_i = (1/m) sum_n ([y^(n) = i] - softmax_i(z^(n))) = (1/m) (c_i - sum_n softmax_i(z^(n))):
    onehot - softmax, the negative of the cross-entropy's gradient softmax - onehot. The sheet writes
    (1/m) [sum_j softmax_j(x^(i)) - c_i]: it sums the probabilities of one sample over classes j (that sum is 1,
    leaving (1 - c_i) / m, independent of the parameters), and even read as a sum over samples its sign is
    the cross-entropy's, not the log-likelihood's."""
    m = c = 4  # the sheet's indices mix samples and classes: make both run over 1..4
    x, y = rand(m, 3), torch.tensor([0, 1, 1, 3])
    w, b = rand(c, 3, seed=1).requires_grad_(), rand(c, seed=2).requires_grad_()
    z = x @ w.T + b
    F.cross_entropy(z, y).backward()  # torch's own loss and autograd: the gradient of -L
    p, onehot = F.softmax(z.detach(), 1), F.one_hot(y, c).double()
    counts = onehot.sum(0)
    torch.testing.assert_close(b.grad, (p - onehot).mean(0))
    torch.testing.assert_close(b.grad, (p.sum(0) - counts) / m)
    torch.testing.assert_close(w.grad, (p - onehot).T @ x / m)
    wl, bl = w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    log_likelihood = F.log_softmax(x @ wl.T + bl, 1).gather(1, y[:, None]).mean()  # the sheet's L (per sample)
    log_likelihood.backward()
    torch.testing.assert_close(bl.grad, (counts - p.sum(0)) / m)  # dL/db_i in the sheet's convention
    sheet = torch.stack([(p[i].sum() - counts[i]) / m for i in range(c)])  # (1/m)[sum_j softmax_j(x^(i)) - c_i]
    torch.testing.assert_close(sheet, (1 - counts) / m)
    assert not torch.allclose(sheet, bl.grad) and not torch.allclose(sheet, b.grad)
    over_samples = (p.sum(0) - counts) / m  # the kindest reading: summed over samples
    torch.testing.assert_close(over_samples, -bl.grad)  # ... is -dL/db: the sign of the cross-entropy
    # and our closed-form backward gives softmax(z) - onehot(y) per sample
    zl = z.detach().requires_grad_()
    cross_entropy(zl, y, reduction="sum").backward()
    torch.testing.assert_close(zl.grad, p - onehot)


def test_sheet_large_z_no_learning_holds_for_mse_not_cross_entropy():
    """Sheet, under "Output Activation", after its MSE and cross-entropy lines and before "Usually Softmax":
    "If z is large, the gradient ~ 0, therefore no learning". Right for the MSE on a sigmoid output, the case
    the line argues against: d/dz 1/2 (sigma(z) - y)^2 = (sigma(z) - y) sigma(z)(1 - sigma(z)) ~ 0 for large |z|
    whether the prediction is right or wrong. With cross-entropy, d CE / dz = sigma(z) - y vanishes only for a
    confident *right* prediction and stays ~1 for a confident wrong one (why the sheet then uses softmax + CE)."""
    z = torch.tensor([20.0, 20.0, -20.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)  # wrong, right, wrong
    zm = z.detach().requires_grad_()
    (0.5 * (torch.sigmoid(zm) - y) ** 2).sum().backward()  # the sheet's MSE on a sigmoid output
    assert (zm.grad.abs() < 1e-8).all()  # vanishes even when wrong: "no learning" holds here
    binary_cross_entropy_with_logits(z, y, reduction="sum").backward()
    torch.testing.assert_close(z.grad, torch.sigmoid(z.detach()) - y)
    assert z.grad[0] > 0.999 and z.grad[2] < -0.999  # confident and wrong: full-size gradient under CE
    assert z.grad[1].abs() < 1e-8  # confident and right: nothing to learn


def test_sheet_erratum_softmax_log_likelihood_derivation():
    """Sheet: sum_i log[e^{a_y} / sum_j e^{a_j}] = sum_i [log(e^{a_y} / sum_j e^{a_j}) - log sum_j e^{a_j}]:
    the second line subtracts LSE(a) twice. The right step is log e^{a_y} - log sum_j e^{a_j} = a_y - LSE(a).
    The extra -LSE(a) depends on the parameters, so it changes the maximiser: its gradient w.r.t. the logits
    is onehot(y) - 2 softmax(a), not the log-likelihood's onehot(y) - softmax(a)."""
    from c147.functional.softmax import log_softmax, logsumexp

    a, y = rand(5, 4, scale=2.0).requires_grad_(), labels((5,), 4)
    log_lik = -cross_entropy(a, y, reduction="sum")
    right = (a.gather(1, y[:, None]).squeeze(1) - logsumexp(a, 1)).sum()
    sheet = (log_softmax(a, 1).gather(1, y[:, None]).squeeze(1) - logsumexp(a, 1)).sum()
    torch.testing.assert_close(right, log_lik)
    torch.testing.assert_close(log_lik - sheet, logsumexp(a, 1).sum())
    assert not torch.isclose(sheet, log_lik)
    (g_sheet,) = torch.autograd.grad(sheet, a)
    p, onehot = F.softmax(a.detach(), 1), F.one_hot(y, 4).double()
    torch.testing.assert_close(g_sheet, onehot - 2 * p)
    (g_right,) = torch.autograd.grad(log_lik, a)
    torch.testing.assert_close(g_right, onehot - p)


# ---------------------------------------------------------------- fast backward against the textbook one


@pytest.mark.parametrize("kwargs", [{}, dict(label_smoothing=0.2, weight=True, ignore_index=1),
                                    dict(reduction="none", label_smoothing=0.1), dict(reduction="sum", weight=True)])
@pytest.mark.parametrize("shape", [(6, 5), (2, 5, 3), (5,)])
def test_cross_entropy_fast_backward_is_the_textbook_one(shape, kwargs):
    """float64, tight: the class-index backward that recomputes e^{z - m} in place (autograd not recording)
    against the differentiable composition through log_softmax that ``create_graph`` runs; the forward
    against -sum_j q_j log_softmax_j(z) with the textbook log_softmax."""
    from c147.functional.softmax import _reference_log_softmax

    kwargs = dict(kwargs)
    c, cd = shape[0 if len(shape) == 1 else 1], 0 if len(shape) == 1 else 1
    w = class_weight(c) if kwargs.pop("weight", False) else None
    x = rand(*shape, scale=3.0).requires_grad_()
    y = labels(shape[:cd] + shape[cd + 1:], c)
    out = cross_entropy(x, y, w, **kwargs)
    # the textbook forward: q = (1 - e) w_y onehot(y) + (e / C) w, 0 where y is ignored
    eps, ignore = kwargs.get("label_smoothing", 0.0), kwargs.get("ignore_index", -100)
    wc = torch.ones(c, dtype=torch.float64) if w is None else w
    view = [-1 if i == cd else 1 for i in range(len(shape))]
    valid = (y != ignore).unsqueeze(cd)
    q = ((1 - eps) * F.one_hot(y, c).movedim(-1, cd).double() * wc[y].unsqueeze(cd) + eps / c * wc.view(view)) * valid
    loss = -(q * _reference_log_softmax(x.detach(), cd)).sum(cd)
    reduction = kwargs.get("reduction", "mean")
    ref = loss if reduction == "none" else loss.sum() / (1 if reduction == "sum" else (wc[y] * valid.squeeze(cd)).sum())
    torch.testing.assert_close(out, ref, rtol=1e-13, atol=1e-13)
    g = rand(*out.shape, seed=3)
    (fast,) = torch.autograd.grad(out, x, g, retain_graph=True)
    (recorded,) = torch.autograd.grad(out, x, g, create_graph=True)
    torch.testing.assert_close(fast, recorded.detach(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_mse_loss_fast_backward_is_the_textbook_one(weighted, reduction):
    """float64, tight: the in-place backward (autograd not recording) against the differentiable one."""
    xs = [rand(4, 5).requires_grad_(), rand(4, 5, seed=1).requires_grad_()]
    w = uniform(4, 5, low=0.1, high=2.0).requires_grad_() if weighted else None
    out = L.mse_loss(*xs, reduction=reduction, weight=w)
    inputs = xs + ([w] if weighted else [])
    g = rand(*out.shape, seed=3)
    fast = torch.autograd.grad(out, inputs, g, retain_graph=True)
    recorded = torch.autograd.grad(out, inputs, g, create_graph=True)
    for a, b in zip(fast, recorded, strict=True):
        torch.testing.assert_close(a, b.detach(), rtol=1e-14, atol=1e-15)
