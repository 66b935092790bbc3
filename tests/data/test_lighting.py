"""``lighting``, AlexNet's PCA colour shift: against a plain float64 computation (torchvision has no twin), its law
(the span of the components, the covariance P diag(sigma^2 lambda^2) P^T), and its statistics, which come from the
training split alone.

Tolerances. ``adjust_lighting`` computes the shift s in float64, rounds it to the image's dtype and adds it: two
roundings, each within u = eps / 2 of values up to m = max |x| + max |s|, so it is within eps m of the float64
``x + s``.
"""

import math
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import TensorDataset

import c147.data.augment as A
import c147.data.base as base
from c147.app.train import train
from c147.data import DigitsDataModule
from c147.data.base import ClassificationDataModule, batch_seed
from tests.conftest import compose_config
from tests.data.test_vision import make
from tests.twins import DEVICES

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]  # the floating dtypes check_image takes


def rgb_pixels(n: int, side: int = 4, seed: int = 0) -> torch.Tensor:
    """Seeded RGB images in [0, 1] whose channels share a brightness (correlated, as natural images' are)."""
    g = torch.Generator().manual_seed(seed)
    grey = torch.rand(n, 1, side, side, generator=g, dtype=torch.float64)
    return (0.7 * grey + 0.3 * torch.rand(n, 3, side, side, generator=g, dtype=torch.float64)) * torch.tensor(
        [1.0, 0.9, 0.6], dtype=torch.float64).view(3, 1, 1)


def components(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return A.principal_components(torch.cov(rgb_pixels(50, seed=seed).transpose(0, 1).reshape(3, -1)))


def reference(x: torch.Tensor, alpha: torch.Tensor, eigval: torch.Tensor, eigvec: torch.Tensor) -> torch.Tensor:
    """x + sum_i alpha_i lambda_i p_i, term by term, in float64."""
    alpha = alpha.double()
    shift = sum(alpha[..., i, None] * eigval[i] * eigvec[:, i] for i in range(len(eigval)))  # (..., C)
    return x.double() + shift[..., None, None]


# ---------------------------------------------------------------------------------- the functional op


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_equals_the_float64_formula(dtype, device):
    eigval, eigvec = components()
    g = torch.Generator().manual_seed(1)
    for shape in ((5, 3, 6, 7), (3, 6, 7), (2, 4, 3, 6, 7)):  # a batch, one image, extra leading dimensions
        x = torch.rand(shape, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
        for alpha in (torch.randn(*shape[:-3], 3, generator=g, dtype=torch.float64), torch.randn(3, generator=g)):
            out = A.adjust_lighting(x, alpha, eigval, eigvec)
            assert out.dtype == dtype and out.device == x.device and out.shape == x.shape
            ref = reference(x, alpha.to(device), eigval.to(device), eigvec.to(device))
            m = x.abs().max().item() + (ref - x.double()).abs().max().item()
            torch.testing.assert_close(out.double(), ref, rtol=0, atol=torch.finfo(dtype).eps * m)


def test_the_shift_lies_in_the_span_of_the_components():
    """With lambda_3 = 0 the shift is orthogonal to p_3, and its coordinate along p_i is alpha_i lambda_i; every
    pixel of an image moves by the same colour."""
    eigval, eigvec = components()
    eigval = eigval * torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    x = rgb_pixels(8, side=5, seed=2)
    alpha = torch.randn(8, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    # (x + s) - x is s up to the rounding of x + s (values < 2): within eps; the projection adds 3 terms' worth
    eps = torch.finfo(torch.float64).eps
    shift = A.adjust_lighting(x, alpha, eigval, eigvec) - x  # (8, 3, 5, 5)
    torch.testing.assert_close(shift, shift[..., :1, :1].expand_as(shift), rtol=0, atol=2 * eps)
    coords = shift.mean((-2, -1)) @ eigvec  # (8, 3): the shift in the basis of the components
    torch.testing.assert_close(coords, alpha * eigval, rtol=0, atol=8 * eps)
    assert coords[:, 2].abs().max() < 8 * eps and coords[:, :2].abs().min() > 1e-4


def test_the_shift_covariance_is_alphas_law():
    """Monte Carlo over N images: the shift s = P (alpha * lambda), alpha ~ N(0, sigma^2 I), is Gaussian with mean 0
    and covariance C = P diag(sigma^2 lambda^2) P^T. The estimate S = (1/N) sum s s^T (the mean is known: 0) has
    Var S_ab = Var(s_a s_b) / N = (C_aa C_bb + C_ab^2) / N (Isserlis), and the mean's entry a has variance
    C_aa / N: each must be within 5 of its standard deviations (a miss has probability ~6e-7 per entry)."""
    n, sigma = 100_000, 0.1
    eigval, eigvec = components()
    shift = A.Lighting(sigma, eigval, eigvec)(torch.zeros(n, 3, 1, 1, dtype=torch.float64),
                                              torch.Generator().manual_seed(0))[..., 0, 0]  # (N, 3)
    expected = eigvec @ torch.diag(sigma**2 * eigval**2) @ eigvec.T
    diag = expected.diagonal()
    sd = ((diag[:, None] * diag[None, :] + expected**2) / n).sqrt()
    assert ((shift.T @ shift / n - expected).abs() <= 5 * sd).all()
    assert (shift.mean(0).abs() <= 5 * (diag / n).sqrt()).all()
    assert (5 * sd < 0.05 * diag.max()).all()  # the check is fine enough to see a wrong factor


def test_grey_images_shift_by_a_brightness_per_image():
    """C = 1: the covariance is the pixel variance v, P = [1], and each image moves by alpha v."""
    x = rgb_pixels(6, seed=4)[:, :1]
    variance = A.pixel_covariance([x])
    eigval, eigvec = A.principal_components(variance)
    assert eigval.shape == (1,) and eigvec.abs().item() == 1.0
    torch.testing.assert_close(eigval, x.var().view(1), rtol=1e-12, atol=0)
    out = A.Lighting(0.1).fit(variance)(x, torch.Generator().manual_seed(5))
    alpha = 0.1 * torch.randn(6, 1, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    torch.testing.assert_close(out - x, (alpha * x.var()).view(6, 1, 1, 1).expand_as(x), rtol=0, atol=1e-15)


def test_random_lighting_is_seeded_and_per_image():
    t = A.build_augment(["lighting"]).transforms[0]
    assert isinstance(t, A.Lighting) and t.sigma == 0.1 and not t.fitted
    t.fit(A.pixel_covariance([rgb_pixels(20)]))
    x = rgb_pixels(1).to(torch.float32).expand(8, -1, -1, -1)  # eight copies of one image
    a, b = (t(x, torch.Generator().manual_seed(3)) for _ in range(2))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, t(x, torch.Generator().manual_seed(4)))
    assert len({tuple(img.flatten().tolist()) for img in a}) == 8
    assert a.dtype == torch.float32 and a.shape == x.shape


# ---------------------------------------------------------------------------------- the statistics


def test_pixel_covariance_equals_torch_cov_in_one_pass():
    """Batches of different sizes, far from 0 (shifted by 1e4: raw sums of squares would lose ~eps 1e8 / var
    relative, ~1e-7; the shifted sums keep ~1e-12)."""
    x = rgb_pixels(30, seed=6) + 1e4
    ours = A.pixel_covariance([x[:7], x[7:8], x[8:]])
    ref = torch.cov(x.transpose(0, 1).reshape(3, -1))
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=0)
    eigval, eigvec = A.principal_components(ours)
    assert (eigval[:-1] >= eigval[1:]).all() and (eigval >= 0).all()
    torch.testing.assert_close(eigvec.T @ eigvec, torch.eye(3, dtype=torch.float64), rtol=0, atol=1e-14)
    torch.testing.assert_close(eigvec @ torch.diag(eigval) @ eigvec.T, ours, rtol=0, atol=1e-15)


class RGBModule(ClassificationDataModule):
    """A small RGB data module normalized per channel, as CIFAR-10's: the statistics must be taken in pixel
    space (x std + mean), channel by channel."""

    num_classes, in_channels, image_size = 2, 3, 4
    mean, std = (0.5, 0.45, 0.3), (0.25, 0.2, 0.15)

    @property
    def pixel_stats(self):
        return self.mean, self.std

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        m, s = (torch.tensor(v, dtype=torch.float64).view(3, 1, 1) for v in (self.mean, self.std))
        return ((pixels - m) / s).float()

    def setup(self, stage=None):
        y = torch.zeros(40, dtype=torch.int64)
        self.train_set = TensorDataset(self.normalize(rgb_pixels(40, seed=7)), y)
        self.val_set = TensorDataset(self.normalize(rgb_pixels(40, seed=8)), y)
        self.test_set = TensorDataset(self.normalize(rgb_pixels(40, seed=9)), y)


def fitted(dm: ClassificationDataModule) -> A.Lighting:
    (lighting,) = [t for t in dm.augment.transforms if isinstance(t, A.Lighting)]
    return lighting


def test_the_statistics_come_from_the_training_pixels():
    """Fitted before training (train_dataloader), in pixel space: the float32 normalization and its undoing round
    each pixel a few times (<= 4 eps of values <= 1), which moves the covariance by < 1e-5."""
    dm = RGBModule(augment="alexnet", batch_size=7)
    dm.setup()
    assert not fitted(dm).fitted
    dm.train_dataloader()
    eigval, eigvec = A.principal_components(torch.cov(rgb_pixels(40, seed=7).transpose(0, 1).reshape(3, -1)))
    torch.testing.assert_close(fitted(dm).eigval, eigval, rtol=0, atol=1e-5)
    torch.testing.assert_close(fitted(dm).eigvec.abs(), eigvec.abs(), rtol=0, atol=1e-3)  # signs are free


@pytest.mark.parametrize("module", [RGBModule, DigitsDataModule], ids=["rgb", "digits"])
def test_validation_and_test_data_do_not_change_the_statistics(module):
    dm, other = module(augment=["lighting"]), module(augment=["lighting"], bootstrap=True)
    dm.setup(), other.setup()
    garbage = TensorDataset(torch.full_like(other.val_set[:][0], 5.0), other.val_set[:][1])
    other.val_set = other.test_set = garbage
    dm.fit_augment()
    other.train_dataloader()  # a bootstrap resample trains; the statistics are the whole training split's
    assert torch.equal(fitted(dm).eigval, fitted(other).eigval) and torch.equal(fitted(dm).eigvec, fitted(other).eigvec)


def test_fitted_once_then_applied_in_pixel_space(monkeypatch):
    calls = []
    monkeypatch.setattr(base, "pixel_covariance", lambda batches: calls.append(1) or A.pixel_covariance(batches))
    dm = DigitsDataModule(augment=["lighting"], seed=0)
    dm.setup()
    x = dm.val_set.tensors[0][:4]
    out = dm.augment_batch(x, torch.Generator().manual_seed(0))  # fits on first use too (a study's sample grid)
    dm.train_dataloader(), dm.augment_batch(x, torch.Generator().manual_seed(0))
    assert calls == [1]
    (mean,), (std,) = dm.pixel_stats
    (variance,) = fitted(dm).eigval.tolist()
    pixels = dm.train_set.tensors[0].double() * std + mean
    assert variance == pytest.approx(pixels.var().item(), rel=1e-5)
    alpha = 0.1 * torch.randn(4, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close((out - x).double() * std, (alpha * variance).view(4, 1, 1, 1).expand_as(x),
                               rtol=0, atol=1e-5)


def test_cifar10_statistics_are_its_training_pixels(tmp_path, monkeypatch):
    """On the tiny CIFAR-10 files of test_vision (torchvision's reader, then ToTensor and Normalize), image k is the
    constant colour (k, k + 50, k + 100) / 255: the training split's covariance is v J, v the variance of k / 255 over
    its pixels and J the all-ones matrix, so one component, (1, 1, 1) / sqrt 3, with eigenvalue 3 v. The float32
    round trip through Normalize moves the pixels by a few eps: relative 1e-5 covers it."""
    dm = make("cifar10", tmp_path, monkeypatch, val_fraction=0.25, augment="alexnet", batch_size=4)
    dm.setup("fit")
    dm.train_dataloader()
    k = torch.tensor(dm.train_set.indices, dtype=torch.float64).repeat_interleave(32 * 32)  # image k is index k
    eigval, eigvec = fitted(dm).eigval, fitted(dm).eigvec
    torch.testing.assert_close(eigval[0], 3 * (k / 255).var(), rtol=1e-5, atol=0)
    assert eigval[1:].abs().max() < 1e-5 * eigval[0]
    torch.testing.assert_close(eigvec[:, 0].abs(), torch.full((3,), 3**-0.5, dtype=torch.float64), rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------- errors and wiring


BAD = [
    (lambda: A.adjust_lighting(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(3), *components()),
     "expected a floating-point tensor of shape"),
    (lambda: A.adjust_lighting(torch.zeros(1, 3, 2, 2), torch.zeros(1), torch.ones(1), torch.ones(1, 1)),
     r"expected eigval of shape \(3,\) and eigvec of shape \(3, 3\) .* got \(1,\) and \(1, 1\)"),
    (lambda: A.adjust_lighting(torch.zeros(2, 3, 2, 2), torch.zeros(2), *components()),
     r"expected alpha of shape \(3,\) or \(2, 3\), got \(2,\)"),
    (lambda: A.Lighting(-0.1), "expected sigma a finite non-negative number, got -0.1"),
    (lambda: A.Lighting("0.1"), "expected sigma a finite non-negative number, got '0.1'"),
    (lambda: A.Lighting(0.1, eigval=torch.ones(3)), "expected eigval and eigvec both or neither"),
    (lambda: A.Lighting(0.1, torch.ones(3), torch.eye(2)), r"expected eigval of shape \(3,\)"),
    (lambda: A.Lighting()(torch.zeros(1, 3, 2, 2), torch.Generator()), "expected the principal components"),
    (lambda: A.Lighting().fit(torch.ones(1, 1))(torch.zeros(1, 3, 2, 2), torch.Generator()),
     r"expected eigval of shape \(3,\) .* got \(1,\) and \(1, 1\)"),
    (lambda: A.principal_components(torch.zeros(2, 3)), r"expected a \(C, C\) covariance, got shape \(2, 3\)"),
    (lambda: A.principal_components(torch.tensor([[1.0, 0.5], [0.0, 1.0]])), "expected a symmetric covariance"),
    (lambda: A.pixel_covariance([]), "expected at least 2 pixels, got 0"),
    (lambda: A.pixel_covariance([torch.zeros(3, 2, 2)]), r"expected batches of shape \(N, C, H, W\), got \(3, 2, 2\)"),
    (lambda: A.pixel_covariance([torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2)]),
     r"expected batches of shape \(N, 3, H, W\), got \(1, 1, 2, 2\)"),
]


@pytest.mark.parametrize(("call", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_reading_the_training_split_needs_setup():
    with pytest.raises(RuntimeError, match=r"setup\(\) must run before reading the training split"):
        DigitsDataModule(augment=["lighting"]).fit_augment()


def test_a_config_with_lighting_builds_and_augments(tmp_path):
    """``data.augment=[lighting]`` from the train config: the module builds, fits on its training split and
    augments a training batch (in process, no Trainer)."""
    dm = instantiate(compose_config("train", [f"paths.data_dir={tmp_path}", "data.augment=[lighting]"]).data)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert fitted(dm).fitted
    progress = SimpleNamespace(current=SimpleNamespace(ready=0))
    dm.trainer = SimpleNamespace(training=True, current_epoch=0,
                                 fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))
    out, labels = dm.on_after_batch_transfer((x, y), 0)
    assert labels is y and out.shape == x.shape and out.dtype == x.dtype and not torch.equal(out, x)
    assert torch.equal(out, dm.augment_batch(x, torch.Generator().manual_seed(batch_seed(dm.seed, 0, 0))))
    dm.trainer = None


@pytest.mark.slow
def test_train_with_lighting_in_process(train_config):
    metrics = train(train_config("data.augment=[lighting]", "debug=fast", "~logger"))
    assert 0.0 <= metrics["test/acc"] <= 1.0 and math.isfinite(metrics["test/loss"])
