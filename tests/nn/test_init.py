"""c147.nn.init against torch.nn.init: same numbers for the same seed, right moments, the sheet's rules."""

import math

import pytest
import torch

from c147 import _compat
from c147.nn import init

SHAPES = [(300, 200), (64, 32, 3, 3), (16, 8, 5), (10, 1)]
INITS = ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "uniform_", "normal_"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "name, kwargs",
    [(n, {}) for n in INITS]
    + [
        ("xavier_uniform_", dict(gain=5 / 3)),
        ("xavier_normal_", dict(gain=math.sqrt(2))),
        ("kaiming_uniform_", dict(a=math.sqrt(5))),
        ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu")),
        ("kaiming_normal_", dict(nonlinearity="relu")),
        ("kaiming_normal_", dict(a=0.2, mode="fan_out")),
        ("uniform_", dict(a=-0.3, b=0.7)),
        ("normal_", dict(mean=1.0, std=0.01)),
    ],
)
def test_same_seed_same_weights_as_torch(shape, name, kwargs):
    ours, theirs = torch.empty(shape), torch.empty(shape)
    torch.manual_seed(1)
    getattr(init, name)(ours, **kwargs)
    torch.manual_seed(1)
    getattr(torch.nn.init, name)(theirs, **kwargs)
    assert torch.equal(ours, theirs)


def test_generator_argument_is_used():
    a, b = torch.empty(50, 50), torch.empty(50, 50)
    init.kaiming_normal_(a, generator=torch.Generator().manual_seed(3))
    init.kaiming_normal_(b, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("shape", SHAPES)
def test_fan_conventions_are_torchs(shape):
    t = torch.empty(shape)
    assert init._calculate_fan_in_and_fan_out(t) == torch.nn.init._calculate_fan_in_and_fan_out(t)


@pytest.mark.parametrize(
    "nonlinearity, param",
    [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
     ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)],
)
def test_calculate_gain_is_torchs(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, param))


def sample_var_bounds(var: float, n: int, kurtosis_excess: float) -> tuple[float, float]:
    """6-sigma bounds for the sample variance of n iid draws with true variance var."""
    sd = var * math.sqrt((2 + kurtosis_excess) / n)
    return var - 6 * sd, var + 6 * sd


@pytest.mark.parametrize(
    "name, kwargs, shape, variance, kurtosis_excess",
    [
        ("xavier_uniform_", {}, (400, 600), 2 / (400 + 600), -1.2),
        ("xavier_normal_", {}, (400, 600), 2 / (400 + 600), 0.0),
        ("kaiming_uniform_", dict(nonlinearity="relu"), (500, 300), 2 / 300, -1.2),
        ("kaiming_normal_", dict(nonlinearity="relu"), (64, 32, 3, 3), 2 / (32 * 9), 0.0),
        ("kaiming_normal_", dict(nonlinearity="relu", mode="fan_out"), (64, 32, 3, 3), 2 / (64 * 9), 0.0),
        ("normal_", dict(std=0.01), (300, 300), 1e-4, 0.0),
    ],
)
def test_moments_within_statistical_bounds(name, kwargs, shape, variance, kurtosis_excess):
    g = torch.Generator().manual_seed(0)
    w = getattr(init, name)(torch.empty(shape, dtype=torch.float64), generator=g, **kwargs)
    n = w.numel()
    assert abs(w.mean().item()) < 6 * math.sqrt(variance / n)
    lo, hi = sample_var_bounds(variance, n, kurtosis_excess)
    assert lo < w.var().item() < hi


def test_xavier_uniform_bound_is_sqrt_6_over_fan_sum():
    fan_in, fan_out = 200, 100
    w = init.xavier_uniform_(torch.empty(fan_out, fan_in, dtype=torch.float64))
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound


def test_sheet_erratum_xavier_uniform_bound():
    """The sheet: U(-sqrt(6)/(n_in+n_out), sqrt(6)/(n_in+n_out)). Its variance is 2/(n_in+n_out)^2,
    not the 2/(n_in+n_out) Xavier asks for; the bound is sqrt(6/(n_in+n_out))."""
    n_in, n_out = 200, 100
    sheet_bound = math.sqrt(6) / (n_in + n_out)
    wanted_var = 2 / (n_in + n_out)
    assert sheet_bound**2 / 3 == pytest.approx(2 / (n_in + n_out) ** 2)
    assert sheet_bound**2 / 3 < wanted_var / 100  # off by the factor n_in + n_out = 300
    w = init.xavier_uniform_(torch.empty(n_out, n_in, dtype=torch.float64), generator=torch.Generator().manual_seed(0))
    assert w.var().item() == pytest.approx(wanted_var, rel=0.05)  # 60,000 draws: ~0.5% sd


def _deep_tanh(std_of: callable, depth: int = 10, width: int = 256) -> list[float]:
    """Activation variance after each layer of a deep tanh MLP (no biases) on N(0, 1) input."""
    g = torch.Generator().manual_seed(0)
    h = torch.randn(1024, width, generator=g, dtype=torch.float64)
    variances = []
    for _ in range(depth):
        w = torch.empty(width, width, dtype=torch.float64)
        std_of(w, g)
        h = torch.tanh(h @ w.T)
        variances.append(h.var().item())
    return variances


def test_xavier_keeps_activation_variance_while_small_init_vanishes_and_large_saturates():
    xavier = _deep_tanh(lambda w, g: init.xavier_normal_(w, gain=init.calculate_gain("tanh"), generator=g))
    small = _deep_tanh(lambda w, g: init.normal_(w, 0.0, 0.01, generator=g))
    large = _deep_tanh(lambda w, g: init.normal_(w, 0.0, 1.0, generator=g))
    assert 0.5 < xavier[-1] / xavier[0] < 2.0, xavier  # roughly constant across 10 layers
    assert small[-1] < 1e-12 * small[0], small  # shrinks by ~(0.01^2 * 256)^depth
    assert large[-1] > 0.9, large  # saturated: |tanh| ~ 1 everywhere


def test_sheet_erratum_small_init_does_not_learn_fast():
    """The sheet: 'if too small, sigma ~ 0.01, decay -> 0, fast learning'. With sigma = 0.01 the
    gradient reaching the first layer of a deep tanh net vanishes: learning stalls, it is not fast."""

    def first_layer_grad_norm(std: float | None) -> float:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(256, 128, generator=g, dtype=torch.float64)
        ws = []
        for _ in range(8):
            w = torch.empty(128, 128, dtype=torch.float64)
            if std is None:
                init.xavier_normal_(w, gain=init.calculate_gain("tanh"), generator=g)
            else:
                init.normal_(w, 0.0, std, generator=g)
            ws.append(w.requires_grad_())
        h = x
        for w in ws:
            h = torch.tanh(h @ w.T)
        h.pow(2).sum().backward()
        return ws[0].grad.norm().item()

    assert first_layer_grad_norm(0.01) < 1e-8 * first_layer_grad_norm(None)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: init.xavier_uniform_(torch.empty(5)), "fewer than 2 dimensions, got 1"),
        (lambda: init.kaiming_normal_(torch.empty(3, 3), mode="fan_avg"), "Mode fan_avg not supported"),
        (lambda: init.calculate_gain("swish"), "Unsupported nonlinearity swish"),
        (lambda: init.calculate_gain("leaky_relu", "a"), "negative_slope a not a valid number"),
        (lambda: init.normal_(torch.empty(3), std=-1.0), "std must be >= 0, got -1.0"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


TRUNC_CASES = [
    (0.0, 0.01, -2.0, 2.0),  # GoogLeNet's (torchvision's): +-200 sigma, no redraw in practice
    (0.0, 1.0, -1.0, 1.0),  # mass 0.68: normal draws, several redraw rounds
    (0.5, 2.0, -1.0, 3.0),  # off-centre, mass 0.47
    (0.0, 1.0, -0.3, 0.3),  # mass 0.24: uniform proposals, accept/reject
    (0.0, 1.0, 1.5, 3.0),  # a one-sided tail, mass 0.065: uniform proposals, many rounds
]


@pytest.mark.parametrize("mean, std, a, b", TRUNC_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_trunc_normal_same_seed_as_torch(mean, std, a, b, dtype):
    """torch 2.14 samples by rejection, with the same calls: the same numbers, and the generator left
    where torch leaves it. An older torch (inverse CDF) gives other numbers of the same law: then both
    must pass the distribution test below."""
    torch.manual_seed(0)
    ours = init.trunc_normal_(torch.empty(64, 32, dtype=dtype), mean, std, a, b)
    ours_next = torch.rand(3)
    torch.manual_seed(0)
    theirs = torch.nn.init.trunc_normal_(torch.empty(64, 32, dtype=dtype), mean, std, a, b)
    if _compat.trunc_normal_by_rejection():
        assert torch.equal(ours, theirs)
        assert torch.equal(ours_next, torch.rand(3))
    else:
        for x in (ours, theirs):
            assert_truncated_normal(x.double(), mean, std, a, b)
    assert a <= ours.min() and ours.max() <= b


def truncated_normal_cdf(x: torch.Tensor, mean: float, std: float, a: float, b: float) -> torch.Tensor:
    phi = lambda z: 0.5 * (1 + torch.erf((z - mean) / (std * math.sqrt(2))))  # noqa: E731
    lo, hi = phi(torch.tensor(a, dtype=x.dtype)), phi(torch.tensor(b, dtype=x.dtype))
    return ((phi(x) - lo) / (hi - lo)).clamp(0, 1)


def assert_truncated_normal(x: torch.Tensor, mean: float, std: float, a: float, b: float) -> None:
    """Kolmogorov-Smirnov: sup |F_n - F| below the 99.99 % quantile sqrt(ln(2/1e-4) / (2 n)) (DKW)."""
    x = x.flatten().sort().values
    n = x.numel()
    cdf = truncated_normal_cdf(x, mean, std, a, b)
    i = torch.arange(1, n + 1, dtype=x.dtype)
    d = torch.maximum(i / n - cdf, cdf - (i - 1) / n).max().item()
    assert d < math.sqrt(math.log(2 / 1e-4) / (2 * n)), (d, n)


@pytest.mark.parametrize("mean, std, a, b", TRUNC_CASES[1:])
def test_trunc_normal_is_the_truncated_normal_law(mean, std, a, b):
    x = init.trunc_normal_(torch.empty(20_000, dtype=torch.float64), mean, std, a, b, torch.Generator().manual_seed(1))
    assert a <= x.min() and x.max() <= b
    assert_truncated_normal(x, mean, std, a, b)


def test_trunc_normal_check_can_fail():
    """The KS check rejects a plain clamp of N(0, 1) to [-1, 1] (mass piled at the bounds)."""
    x = torch.empty(20_000, dtype=torch.float64).normal_(generator=torch.Generator().manual_seed(1)).clamp_(-1, 1)
    with pytest.raises(AssertionError):
        assert_truncated_normal(x, 0.0, 1.0, -1.0, 1.0)


def test_trunc_normal_bad_input_and_far_mean_warning():
    with pytest.raises(ValueError, match="expected std > 0, got 0"):
        init.trunc_normal_(torch.empty(3), std=0.0)
    with pytest.raises(ValueError, match="expected a < b, got a=1, b=-1"):
        init.trunc_normal_(torch.empty(3), a=1, b=-1)
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        init.trunc_normal_(torch.empty(3), mean=5.0, std=1.0, a=-1.0, b=1.0)
    meta = torch.empty(3, device="meta")
    assert init.trunc_normal_(meta) is meta
