"""c147.data.augment against torchvision.transforms.v2.functional, the random versions' seeding, and
the wiring into the data modules (training batches only, seeded per batch, the Hydra switch).

Tolerances. Flips, crops, padding, nearest resizing / subsampling, brightness and noise copy or scale
each value once, as torchvision does: they must be equal (atol = rtol = 0). The others sum a few
weighted values, ours in another order (matrix products, separable passes, float64 weights): a convex
combination of K values of size <= m computed in any order is within K u m of exact (Higham, eq. 3.5;
u = eps / 2), so two of them differ by at most 2 K u m = K eps m. ``terms`` below is that K (taps
per output value, plus the roundings of the weights), per case. Bilinear resizing and rotation also
move the sampling point: torchvision computes it in float32 from (normalized) coordinates, a few
roundings of values up to the input side S, so its point is off by ~ S eps pixels and its value by
that times the largest step between neighbours (2 m): 2 S more terms cover it.
"""

import math
from types import SimpleNamespace

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

import c147.data.augment as A
from c147.app.train import train
from c147.data import DigitsDataModule, SyntheticDataModule
from c147.data.augment.affine import inverse_affine_matrix, source_coords
from c147.data.base import batch_seed, bootstrap_indices
from tests.twins import DEVICES

NEAREST, BILINEAR = InterpolationMode.NEAREST, InterpolationMode.BILINEAR
H, W, S = 11, 13, 13  # odd, unequal sides: no symmetry hides a transposed index
FILL3 = [0.25, 0.5, 0.75]  # exactly representable: torchvision makes its fill tensor in float32 first

# (id, ours, twin, terms): terms = 0 means bit-for-bit equal
CASES = [
    ("hflip", A.horizontal_flip, TF.horizontal_flip, 0),
    ("vflip", A.vertical_flip, TF.vertical_flip, 0),
    ("crop_inside", lambda x: A.crop(x, 2, 3, 5, 7), lambda x: TF.crop(x, 2, 3, 5, 7), 0),
    ("crop_outside", lambda x: A.crop(x, -2, 4, 9, 14), lambda x: TF.crop(x, -2, 4, 9, 14), 0),
    *[(f"pad_{m}", lambda x, m=m: A.pad(x, [1, 2, 3, 4], padding_mode=m),
       lambda x, m=m: TF.pad(x, [1, 2, 3, 4], padding_mode=m), 0) for m in A.functional.PAD_MODES],
    ("pad_fill3", lambda x: A.pad(x, [2, 1], fill=FILL3), lambda x: TF.pad(x, [2, 1], fill=FILL3), 0),
    ("pad_int", lambda x: A.pad(x, 3, fill=0.5), lambda x: TF.pad(x, 3, fill=0.5), 0),
    # bilinear downsampling with antialias (torchvision's default): up to ceil(2 s) + 1 taps a side
    ("resize_down_aa", lambda x: A.resize(x, [5, 4]), lambda x: TF.resize(x, [5, 4]), 2 * (2 * 4 + 1) + 4 + 2 * S),
    ("resize_down_plain", lambda x: A.resize(x, [5, 4], antialias=False),
     lambda x: TF.resize(x, [5, 4], antialias=False), 8 + 2 * S),
    ("resize_up_short_side", lambda x: A.resize(x, 20), lambda x: TF.resize(x, 20), 8 + 2 * S),
    ("resize_up_plain", lambda x: A.resize(x, [30, 17], antialias=False),
     lambda x: TF.resize(x, [30, 17], antialias=False), 8 + 2 * S),
    ("resize_nearest", lambda x: A.resize(x, [7, 29], NEAREST), lambda x: TF.resize(x, [7, 29], NEAREST), 0),
    ("subsample_2", lambda x: A.subsample(x, 2), lambda x: TF.resize(x[..., ::2, ::2], [H, W], NEAREST), 0),
    ("subsample_3", lambda x: A.subsample(x, 3), lambda x: TF.resize(x[..., ::3, ::3], [H, W], NEAREST), 0),
    ("brightness", lambda x: A.adjust_brightness(x, 1.7), lambda x: TF.adjust_brightness(x, 1.7), 0),
    ("brightness_0", lambda x: A.adjust_brightness(x, 0.0), lambda x: TF.adjust_brightness(x, 0.0), 0),
    # contrast: a mean over H W values (torch's pairwise sum: ~log2(HW) roundings) then a blend of 2
    ("contrast_rgb", lambda x: A.adjust_contrast(x, 0.6), lambda x: TF.adjust_contrast(x, 0.6), 16),
    ("contrast_grey", lambda x: A.adjust_contrast(x[:, :1], 1.8), lambda x: TF.adjust_contrast(x[:, :1], 1.8), 16),
    # blur: K_x + K_y taps in two passes against torchvision's K_x K_y taps in one
    ("blur_3x5", lambda x: A.gaussian_blur(x, [3, 5], [0.8, 1.5]), lambda x: TF.gaussian_blur(x, [3, 5], [0.8, 1.5]),
     3 * 5 + 8),
    ("blur_default_sigma", lambda x: A.gaussian_blur(x, 5), lambda x: TF.gaussian_blur(x, 5), 5 * 5 + 10),
    ("rotate_90_exact", lambda x: A.rotate(x, 90), lambda x: TF.rotate(x, 90), 0),
    ("rotate_180", lambda x: A.rotate(x, -180, BILINEAR), lambda x: TF.rotate(x, -180, BILINEAR), 0),
    ("rotate_33_nearest", lambda x: A.rotate(x, 33), lambda x: TF.rotate(x, 33), 0),
    ("rotate_33_nearest_fill", lambda x: A.rotate(x, 33, fill=FILL3), lambda x: TF.rotate(x, 33, fill=FILL3), 0),
    ("rotate_-38_centre", lambda x: A.rotate(x, -38, center=[3, 4]), lambda x: TF.rotate(x, -38, center=[3, 4]), 0),
    ("rotate_-47_nearest", lambda x: A.rotate(x, -47), lambda x: TF.rotate(x, -47), 0),
    ("rotate_30_bilinear", lambda x: A.rotate(x, 30, BILINEAR), lambda x: TF.rotate(x, 30, BILINEAR), 4 + 2 * S),
    ("rotate_30_bilinear_fill", lambda x: A.rotate(x, 30, "bilinear", fill=0.5),
     lambda x: TF.rotate(x, 30, BILINEAR, fill=0.5), 4 + 2 * S),
    ("rotate_-45.5_bilinear_centre", lambda x: A.rotate(x, -45.5, "bilinear", center=[3, 4], fill=FILL3),
     lambda x: TF.rotate(x, -45.5, BILINEAR, center=[3, 4], fill=FILL3), 4 + 2 * S),
    ("affine_bilinear", lambda x: A.affine(x, 20, [1, -2], 1.2, [10, 5], "bilinear"),
     lambda x: TF.affine(x, 20, [1, -2], 1.2, [10, 5], BILINEAR), 4 + 2 * S),
]


def image(dtype, device, shape=(2, 3, H, W), seed=0):
    """Seeded uniform [0, 1) images (torchvision's float range), the same values in every dtype."""
    x = torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x.to(device=device, dtype=dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize(("ours", "twin", "terms"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_equals_torchvision(ours, twin, terms, dtype, device):
    for x in (image(dtype, device), image(dtype, device, (3, H, W), seed=1)):  # a batch and one image
        out, ref = ours(x), twin(x)
        assert out.dtype == ref.dtype == dtype and out.device == ref.device and out.shape == ref.shape
        atol = terms * torch.finfo(dtype).eps * max(ref.abs().max().item(), 1.0)
        torch.testing.assert_close(out, ref, rtol=0, atol=atol)


@pytest.mark.parametrize(("angle", "center"), [(33, None), (-38, [3, 4]), (-47, None)])
def test_nearest_cases_hold_no_ties(angle, center):
    """Nearest sampling is exact unless a source point is a tie (x.5): there, float32 rounding of the
    point, ours float64 and torchvision's float32, would decide. The table's nearest rotations keep
    every point at least 1e-3 pixels from a tie, so bit-for-bit equality there is a fair demand."""
    centre = [0.0, 0.0] if center is None else [center[0] - W / 2, center[1] - H / 2]
    xs, ys = source_coords(inverse_affine_matrix(centre, -angle, [0, 0], 1.0, [0, 0]), H, W)
    frac = torch.cat([xs.flatten(), ys.flatten()]).remainder(1)
    assert (frac - 0.5).abs().min() > 1e-3


def test_gaussian_noise_equals_torchvision_under_the_same_seed():
    x = image(torch.float32, "cpu")
    torch.manual_seed(7)
    ours = A.gaussian_noise(x, mean=0.1, sigma=0.2)
    torch.manual_seed(7)
    torch.testing.assert_close(ours, TF.gaussian_noise(x, mean=0.1, sigma=0.2), rtol=0, atol=0)
    torch.manual_seed(7)
    unclipped = A.gaussian_noise(x, sigma=0.5, clip=False)
    assert unclipped.min() < 0 < 1 < unclipped.max()


BAD = [
    (lambda: A.horizontal_flip(torch.zeros(3, 4, dtype=torch.uint8)), "floating-point tensor of shape"),
    (lambda: A.pad(torch.zeros(1, 4, 4), [1, 2, 3]), "padding must be"),
    (lambda: A.pad(torch.zeros(1, 4, 4), 1, padding_mode="wrap"), "padding_mode must be one of"),
    (lambda: A.pad(torch.zeros(1, 4, 4), 4, padding_mode="reflect"), "smaller than the side"),
    (lambda: A.crop(torch.zeros(1, 4, 4), 0, 0, 0, 2), "must be positive"),
    (lambda: A.resize(torch.zeros(1, 4, 4), [2, 0]), "size must be"),
    (lambda: A.resize(torch.zeros(1, 4, 4), 2, "bicubic"), "interpolation must be"),
    (lambda: A.subsample(torch.zeros(1, 4, 4), 0), "factor must be a positive integer"),
    (lambda: A.adjust_brightness(torch.zeros(1, 4, 4), -0.1), "brightness_factor must be non-negative"),
    (lambda: A.adjust_contrast(torch.zeros(2, 4, 4), 0.5), "expected 1 or 3 channels"),
    (lambda: A.gaussian_blur(torch.zeros(1, 4, 4), 4), "kernel_size must be odd"),
    (lambda: A.gaussian_blur(torch.zeros(1, 4, 4), 3, 0.0), "sigma must be positive"),
    (lambda: A.gaussian_noise(torch.zeros(1, 4, 4), sigma=-1.0), "sigma must be non-negative"),
    (lambda: A.rotate(torch.zeros(1, 4, 4), 10, expand=True), "expand=True is not supported"),
    (lambda: A.rotate(torch.zeros(3, 4, 4), 10, fill=[0, 1]), "fill needs 1 or 3 values"),
    (lambda: A.affine(torch.zeros(1, 4, 4), 0, [0, 0], 0.0, 0), "scale must be positive"),
    (lambda: A.build_augment(["flip", "mixup"]), "unknown augmentation 'mixup'; known: flip, vflip, crop"),
    (lambda: A.build_augment("flip")(torch.zeros(1, 1, 4, 4)), "pass a torch.Generator"),
    (lambda: SyntheticDataModule(augment="flip"), "the synthetic data are 2-D points"),
    (lambda: DigitsDataModule(bootstrap="yes"), "bootstrap must be true or false"),
]


@pytest.mark.parametrize(("call", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------- random versions


def test_random_pipeline_is_seeded_and_per_image():
    pipeline = A.build_augment(["sheet", "vflip", "contrast"])
    x = image(torch.float32, "cpu", (1, 1, 16, 16)).expand(8, -1, -1, -1)  # eight copies of one image
    a, b = (pipeline(x, torch.Generator().manual_seed(3)) for _ in range(2))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, pipeline(x, torch.Generator().manual_seed(4)))
    assert len({tuple(img.flatten().tolist()) for img in a}) == 8  # each image drew its own parameters
    assert a.shape == x.shape and a.dtype == x.dtype and 0 <= a.min() and a.max() <= 1


def test_random_crop_and_flip_are_the_functional_ops_at_the_drawn_parameters():
    x = image(torch.float64, "cpu", (6, 3, 8, 8))
    out = A.RandomCrop(padding=2)(x, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    top, left = torch.randint(5, (6,), generator=g), torch.randint(5, (6,), generator=g)
    for n in range(6):
        assert torch.equal(out[n], A.crop(x[n], int(top[n]) - 2, int(left[n]) - 2, 8, 8))
    flipped = A.RandomHorizontalFlip(0.5)(x, torch.Generator().manual_seed(1))
    mask = torch.rand(6, generator=torch.Generator().manual_seed(1)) < 0.5
    assert 0 < mask.sum() < 6
    for n in range(6):
        assert torch.equal(flipped[n], x[n].flip(-1) if mask[n] else x[n])


def test_per_image_rotation_equals_one_rotation_per_image():
    x = image(torch.float64, "cpu", (3, 1, 9, 9))
    angles = torch.tensor([10.0, -20.0, 35.0], dtype=torch.float64)
    out = A.rotate(x, angles, "bilinear", fill=0.0)
    for n in range(3):
        torch.testing.assert_close(out[n], A.rotate(x[n], float(angles[n]), "bilinear", fill=0.0), rtol=0, atol=1e-15)


def test_presets_and_names():
    assert A.augment_names("alexnet") == ["crop", "flip", "lighting"]
    assert A.augment_names(None) == [] and A.build_augment(None) is None
    assert set(A.augment_names("sheet")) <= set(A.AUGMENTATIONS)
    assert [type(t).__name__ for t in A.build_augment("alexnet").transforms] == ["RandomCrop", "RandomHorizontalFlip",
                                                                                 "Lighting"]


# ---------------------------------------------------------------------------------- wiring


@pytest.fixture(scope="module")
def digits():
    dm = DigitsDataModule(augment="alexnet", seed=0)
    dm.setup()
    return dm


def fake_trainer(training: bool, epoch: int = 0, ready: int = 0):
    progress = SimpleNamespace(current=SimpleNamespace(ready=ready))
    return SimpleNamespace(training=training, current_epoch=epoch,
                           fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))


def test_augments_training_batches_only_seeded_by_epoch_and_batch(digits):
    x, y = next(iter(digits.val_dataloader()))
    digits.trainer = fake_trainer(training=False)
    assert digits.on_after_batch_transfer((x, y), 0)[0] is x  # validation / test: untouched
    digits.trainer = fake_trainer(training=True, epoch=2, ready=5)
    a, labels = digits.on_after_batch_transfer((x, y), 0)
    assert labels is y and a.shape == x.shape and not torch.equal(a, x)
    assert torch.equal(digits.on_after_batch_transfer((x, y), 0)[0], a)  # same (seed, epoch, batch): same
    expected = digits.augment_batch(x, torch.Generator().manual_seed(batch_seed(0, 2, 5)))
    assert torch.equal(a, expected)
    digits.trainer = fake_trainer(training=True, epoch=2, ready=6)
    assert not torch.equal(digits.on_after_batch_transfer((x, y), 0)[0], a)
    digits.trainer = None


def test_augments_in_pixel_space(digits):
    """Augmentations see the images in [0, 1], as torchvision's run before Normalize: a crop's padding
    is black there, so after renormalizing the padded border holds -mean / std, not 0."""
    (mean,), (std,) = digits.pixel_stats
    x = next(iter(digits.val_dataloader()))[0][:2]
    saved, digits.augment = digits.augment, A.Compose([lambda img, g: A.crop(img, 0, 4, 32, 32)])  # shift left 4
    try:
        out = digits.augment_batch(x, torch.Generator().manual_seed(0))
    finally:
        digits.augment = saved
    # x std + mean and back: two roundings each way of values up to max |x| (float32)
    torch.testing.assert_close(out[..., :28], x[..., 4:], rtol=0, atol=8 * torch.finfo(x.dtype).eps * x.abs().max())
    torch.testing.assert_close(out[..., 28:], torch.full_like(out[..., 28:], -mean / std))


def test_bootstrap_draws_with_replacement():
    n = 1168  # the digits' training split
    unique = len(bootstrap_indices(n, 0).unique()) / n
    expected = 1 - (1 - 1 / n) ** n  # -> 1 - 1/e
    # the number of distinct draws has variance n (e^-1 - 2 e^-2) (+ O(1)): 5 standard deviations
    sd = math.sqrt((math.exp(-1) - 2 * math.exp(-2)) / n)
    assert abs(unique - expected) < 5 * sd and abs(expected - (1 - math.exp(-1))) < 1e-3
    assert not torch.equal(bootstrap_indices(n, 0), bootstrap_indices(n, 1))
    dm, plain = DigitsDataModule(bootstrap=True, seed=0), DigitsDataModule(seed=0)
    dm.setup(), plain.setup()
    loader = dm.train_dataloader()
    assert len(loader.dataset) == len(plain.train_set) == n
    assert len(set(loader.dataset.indices)) / n == pytest.approx(unique)
    assert len(plain.train_dataloader().dataset) == n and plain.train_dataloader().dataset is plain.train_set
    for split in ("val_set", "test_set"):
        assert torch.equal(getattr(dm, split).tensors[0], getattr(plain, split).tensors[0])


@pytest.mark.slow
def test_config_switches_train_in_process(train_config, capsys, monkeypatch):
    import c147.data.base as base

    seeds = []
    monkeypatch.setattr(base, "batch_seed", lambda *args: seeds.append(args) or batch_seed(*args))
    metrics = train(train_config("data.augment=alexnet", "data.bootstrap=true", "debug=fast", "~logger"))
    assert 0.0 <= metrics["test/acc"] <= 1.0
    assert seeds == [(0, 0, 0)]  # one training batch augmented (seed 0, epoch 0, batch 0); val and test not
    cfg = train_config("data.augment=[flip,crop]", "debug=fast")
    assert list(cfg.data.augment) == ["flip", "crop"] and cfg.data.bootstrap is False
    with pytest.raises(SystemExit) as exit_info:
        train(train_config("data.augment=[flip,mixup]", "debug=fast"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown augmentation 'mixup'; known: flip, vflip, crop" in err[0], err
