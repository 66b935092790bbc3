"""c147.nn.Dropout / Dropout2d / BatchNorm1d / BatchNorm2d against torch.nn's."""

from __future__ import annotations

import pytest
import torch

from c147.functional.batch_norm import BatchNormFunction
from c147.functional.dropout import DropoutFunction
from c147.nn.batchnorm import BatchNorm1d, BatchNorm2d
from c147.nn.dropout import Dropout, Dropout2d
from tests.twins import DEVICES, DTYPES, assert_backward_is, assert_module_parity, assert_reduced_precision, rand, tol

DROPOUTS = [(Dropout, torch.nn.Dropout, (6, 50)), (Dropout2d, torch.nn.Dropout2d, (4, 8, 3, 3))]
NORMS = [(BatchNorm1d, torch.nn.BatchNorm1d, (8, 4)), (BatchNorm1d, torch.nn.BatchNorm1d, (5, 4, 7)),
         (BatchNorm2d, torch.nn.BatchNorm2d, (3, 4, 5, 6))]



# ---------------------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("p, inplace", [(0.5, False), (0.2, True)])
@pytest.mark.parametrize("cls, twin_cls, shape", DROPOUTS)
def test_dropout_seeded_parity_repr_and_state_cpu(cls, twin_cls, shape, p, inplace):
    ours, twin = cls(p, inplace), twin_cls(p, inplace)
    assert repr(ours) == repr(twin)
    assert ours.state_dict().keys() == twin.state_dict().keys() == set()
    x = rand(*shape, seed=1)
    for _ in range(2):  # the same global seed draws the same mask (torch 2.14 on CPU)
        torch.manual_seed(0)
        out = ours(x.clone())
        torch.manual_seed(0)
        torch.testing.assert_close(out, twin(x.clone()), **tol(x.dtype))
        torch.testing.assert_close(out, x * ours.last_mask / (1 - p), **tol(x.dtype))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls, twin_cls, shape", DROPOUTS)
def test_dropout_module_eval_identity_mask_and_generator(cls, twin_cls, shape, device):
    x = rand(*shape, device=device).requires_grad_(True)
    ours = cls(0.5, generator=torch.Generator(device=device).manual_seed(3))
    out = ours(x)
    assert_backward_is(out, DropoutFunction)
    mask = ours.last_mask
    assert mask.shape == (shape if cls is Dropout else shape[:2] + (1, 1))
    ours.generator.manual_seed(3)
    ours(x)
    assert torch.equal(ours.last_mask, mask)  # same seed, same mask
    ours.eval()
    assert ours(x) is x and twin_cls(0.5).eval()(x) is x
    assert ours.last_mask is None


def test_dropout_module_rejects_bad_p_like_torch():
    for cls in (Dropout, Dropout2d, torch.nn.Dropout, torch.nn.Dropout2d):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.2"):
            cls(1.2)


# ------------------------------------------------------------------------------------- batch norm

NORM_KWARGS = [
    dict(),
    dict(momentum=None),
    dict(momentum=0.3, eps=1e-3),
    dict(affine=False),
    dict(affine=False, momentum=None),
    dict(track_running_stats=False),
    dict(affine=False, track_running_stats=False),
    dict(bias=False),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("kwargs", NORM_KWARGS)
@pytest.mark.parametrize("cls, twin_cls, shape", NORMS)
def test_batchnorm_parity(cls, twin_cls, shape, kwargs, mode, dtype, device):
    C = shape[1]
    torch.manual_seed(0)
    twin = twin_cls(C, **kwargs, device=device, dtype=dtype)
    if twin.affine:  # away from the identity init, so that the parameters matter
        with torch.no_grad():
            twin.weight.copy_(rand(C, dtype=dtype, device=device, seed=1))
            if twin.bias is not None:
                twin.bias.copy_(rand(C, dtype=dtype, device=device, seed=2))
    with torch.no_grad():  # a few batches, so that the running statistics are not (0, 1)
        for s in range(3):
            twin(rand(*shape, dtype=dtype, device=device, seed=10 + s) * 2 + 1)
    ours = cls(C, **kwargs, device=device, dtype=dtype)
    ours.train(mode == "train")
    twin.train(mode == "train")
    x = rand(*shape, dtype=dtype, device=device, seed=20) * 3 - 1
    assert_module_parity(ours, twin, x, steps=3)  # buffers compared after each step
    if ours.track_running_stats:
        assert ours.num_batches_tracked.dtype == torch.long
        assert ours.num_batches_tracked.item() == twin.num_batches_tracked.item() == (6 if mode == "train" else 3)
    assert_backward_is(ours(x.requires_grad_(True)), BatchNormFunction)


@pytest.mark.parametrize("kwargs", NORM_KWARGS)
@pytest.mark.parametrize("cls, twin_cls, shape", NORMS)
def test_batchnorm_init_repr_and_state_dict_both_ways(cls, twin_cls, shape, kwargs):
    C = shape[1]
    ours, twin = cls(C, **kwargs), twin_cls(C, **kwargs)
    assert repr(ours) == repr(twin)
    for (n, a), (m, b) in zip(ours.state_dict().items(), twin.state_dict().items(), strict=True):
        assert n == m and a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        assert (getattr(ours, name) is None) == (getattr(twin, name) is None), name
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in twin.named_parameters()]
    # train ours, load into torch; train torch further, load back into ours: same evaluation
    x = rand(*shape, dtype=torch.float32, seed=1)
    ours(x)
    twin.load_state_dict(ours.state_dict())
    twin(x * 2)
    ours.load_state_dict(twin.state_dict())
    ours.eval()
    twin.eval()
    torch.testing.assert_close(ours(x), twin(x), **tol(x.dtype))


def test_batchnorm_reset_running_stats_and_parameters():
    bn = BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.mul_(3)
        bn.bias.add_(1)
    bn(torch.randn(4, 3, 2, 2) * 5 + 2)
    assert bn.num_batches_tracked.item() == 1 and not torch.equal(bn.running_var, torch.ones(3))
    bn.reset_running_stats()
    assert torch.equal(bn.running_mean, torch.zeros(3)) and torch.equal(bn.running_var, torch.ones(3))
    assert bn.num_batches_tracked.item() == 0 and torch.equal(bn.weight, torch.full((3,), 3.0))
    bn.reset_parameters()
    assert torch.equal(bn.weight, torch.ones(3)) and torch.equal(bn.bias, torch.zeros(3))


def test_batchnorm_momentum_none_is_the_cumulative_average():
    bn = BatchNorm1d(2, momentum=None, dtype=torch.float64)
    batches = [rand(6, 2, seed=s) * (s + 1) for s in range(4)]
    for b in batches:
        bn(b)
    torch.testing.assert_close(bn.running_mean, torch.stack([b.mean(0) for b in batches]).mean(0))
    torch.testing.assert_close(bn.running_var, torch.stack([b.var(0) for b in batches]).mean(0))


def test_batchnorm_half_input_float32_module_like_torch():
    """A float32 module on a bfloat16 input (parameters and statistics stay float32), as torch."""
    torch.manual_seed(0)
    ours, twin, exact = BatchNorm2d(4), torch.nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4).double()
    x = (rand(8, 4, 5, 5, dtype=torch.float32) * 2 + 1).to(torch.bfloat16)
    out, ref, want = ours(x), twin(x), exact(x.double())
    assert out.dtype == ref.dtype == torch.bfloat16
    # against float64 on the same values (tests/twins.py): the 200 elements of a channel summed in float32
    # (mean, variance), then a few roundings (x_hat, the output; the running statistics' update)
    assert_reduced_precision(out, ref, want, terms=3, accumulated=2 * 200)
    for name in ("running_mean", "running_var"):
        assert_reduced_precision(getattr(ours, name), getattr(twin, name), getattr(exact, name), terms=3,
                                 accumulated=2 * 200, name=name)


BAD = [
    (BatchNorm1d(3), rand(2, 3, 4, 5), r"expected 2D or 3D input \(got 4D input\)"),
    (BatchNorm1d(3), rand(3), r"expected 2D or 3D input \(got 1D input\)"),
    (BatchNorm2d(3), rand(2, 3, 4), r"expected 4D input \(got 3D input\)"),
    (BatchNorm1d(3), rand(2, 4), r"BatchNorm1d: expected input with 3 channels \(dim 1\), got 4"),
    (BatchNorm2d(3, affine=False, track_running_stats=False), rand(2, 5, 2, 2), r"expected input with 3 channels"),
    (BatchNorm1d(3), rand(1, 3), r"Expected more than 1 value per channel when training, got input size \[1, 3\]"),
    (BatchNorm2d(3), rand(1, 3, 1, 1), r"Expected more than 1 value per channel when training"),
]


@pytest.mark.parametrize("module, x, msg", BAD)
def test_batchnorm_bad_inputs(module, x, msg):
    with pytest.raises(ValueError, match=msg):
        module.to(x.dtype)(x)


@pytest.mark.parametrize("ours, twin", [(BatchNorm1d, torch.nn.BatchNorm1d), (BatchNorm2d, torch.nn.BatchNorm2d)])
def test_a_version_1_state_dict_loads_as_torch_migrates_it(ours, twin):
    """_version = 2 (torch's): a state_dict saved before version 2 lacks num_batches_tracked."""
    modules = [ours(3), twin(3)]
    for m in modules:
        m.num_batches_tracked.fill_(7)
        old = torch.nn.BatchNorm1d(3).state_dict()
        del old["num_batches_tracked"]
        old._metadata[""]["version"] = 1
        m.load_state_dict(old)  # strict: would fail without the migration
    assert modules[0].num_batches_tracked.item() == modules[1].num_batches_tracked.item() == 7
    with pytest.raises(RuntimeError, match="num_batches_tracked"):  # a version 2 state_dict must have it
        new = torch.nn.BatchNorm1d(3).state_dict()
        del new["num_batches_tracked"]
        modules[0].load_state_dict(new)
