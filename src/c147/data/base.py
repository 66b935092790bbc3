"""Shared pieces of c147's LightningDataModules: seeded splits and loaders, the bootstrap resample
and the training-time augmentation."""

from __future__ import annotations

import functools
import inspect
import math
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, SequentialSampler, Subset, default_collate
from torch.utils.data.distributed import DistributedSampler

from c147.data.augment import Lighting, build_augment, pixel_covariance


def seeded_split(n: int, sizes: list[int], seed: int) -> list[torch.Tensor]:
    """Split ``range(n)`` into consecutive chunks of ``sizes`` after a seeded shuffle.

    Raises:
        ValueError: if the sizes do not add up to ``n`` or one is negative.
    """
    if any(s < 0 for s in sizes) or sum(sizes) != n:
        raise ValueError(f"split sizes must be non-negative and add up to {n}, got {sizes}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return list(torch.split(perm, sizes))


def fraction_to_count(fraction: float, n: int, name: str) -> int:
    """``round(fraction * n)``, after checking ``0 <= fraction < 1``."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {fraction}")
    return int(round(fraction * n))


def split_counts(n: int, val_fraction: float, test_fraction: float) -> list[int]:
    """Sizes ``[train, val, test]`` of ``n`` samples for the given held-out fractions.

    Raises:
        ValueError: a fraction outside [0, 1), or nothing left for training.
    """
    n_val = fraction_to_count(val_fraction, n, "val_fraction")
    n_test = fraction_to_count(test_fraction, n, "test_fraction")
    if n_val + n_test >= n:
        raise ValueError(
            f"val_fraction + test_fraction must leave training data, got {val_fraction} + {test_fraction}"
        )
    return [n - n_val - n_test, n_val, n_test]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s shuffle: a function of the run's seed and the epoch alone."""
    return (seed * 1_000_003 + epoch) % 2**63


def batch_seed(seed: int, epoch: int, batch: int) -> int:
    """The seed of the augmentation of batch ``batch`` of epoch ``epoch``: a function of these alone,
    so a resumed run draws the same crops, flips, ... as an uninterrupted one."""
    return (epoch_seed(seed, epoch) * 1_000_003 + batch) % 2**63


def bootstrap_indices(n: int, seed: int) -> torch.Tensor:
    """``n`` draws with replacement from ``range(n)`` (a bootstrap resample, bagging's training set).

    About 1 - (1 - 1/n)^n -> 1 - 1/e = 63.2 % of the samples appear at least once.
    """
    return torch.randint(n, (n,), generator=torch.Generator().manual_seed(seed))


class ResumableRandomSampler(DistributedSampler):
    """A shuffling sampler whose order is a function of ``(seed, epoch)`` alone, so that a resumed
    run draws the same batches as an uninterrupted one, and a run on W processes the same global
    batches as one process.

    torch's ``RandomSampler(generator=g)`` draws epoch e's order from ``g``'s state after e earlier
    epochs; rebuilt on resume, ``g`` starts again and epoch 15 replays epoch 0. Here Lightning calls
    :meth:`set_epoch` at the start of every epoch (as for a ``DistributedSampler``), and a run resumed
    in the middle of an epoch skips the samples its checkpoint had already used (:meth:`resume`).

    Distributed (``num_replicas`` W > 1, as ``DistributedSampler``): one permutation of all ``size``
    samples, padded with its first samples to a multiple of W, and rank r takes its positions
    r, r + W, r + 2W, ... With b samples per batch on each rank, the k-th batches of the W ranks are
    then together positions kWb .. (k+1)Wb - 1 of the permutation: the k-th batch of one process with
    batch size Wb. A ``DistributedSampler`` subclass, so that Lightning leaves it in place.

    Args:
        size: the number of samples of the split.
        seed: the run's seed.
        num_replicas: W, the number of processes sharing the split (the trainer's world size).
        rank: this process's rank in ``0 .. W-1``.
    """

    def __init__(self, size: int, seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        # no DistributedSampler.__init__: it asks torch.distributed for the world; this one is told it
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"size must be a non-negative integer, got {size!r}")
        _check_shard(num_replicas, rank)
        self.size, self.seed, self.epoch = size, seed, 0
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.drop_last = True, False  # what DistributedSampler's readers look at
        self.num_samples = math.ceil(size / num_replicas)  # per rank, as DistributedSampler's
        self.total_size = self.num_samples * num_replicas
        self._resume: tuple[int, int] | None = None  # (epoch, samples of it already used on this rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume(self, epoch: int, skip: int) -> None:
        """The next pass over epoch ``epoch`` starts after this rank's first ``skip`` samples."""
        self._resume = (epoch, skip)

    def skipped(self) -> int:
        """How many samples the next pass will skip."""
        return self._resume[1] if self._resume is not None and self._resume[0] == self.epoch else 0

    def __len__(self) -> int:
        return self.num_samples

    def order(self) -> torch.Tensor:
        """This pass's sample indices on this rank (a tensor), after the skipped ones; the skip is then used up."""
        skip = self.skipped()
        self._resume = None
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        perm = torch.randperm(self.size, generator=generator)
        if self.num_replicas > 1:
            padding = self.total_size - self.size  # < W: the first samples again, as DistributedSampler
            perm = torch.cat([perm, perm.repeat(math.ceil(padding / max(self.size, 1)))[:padding]])
            perm = perm[self.rank : self.total_size : self.num_replicas]
        return perm[skip:]

    def __iter__(self) -> Iterator[int]:
        yield from self.order().tolist()


class ShardSampler(DistributedSampler):
    """Rank r's share of a split evaluated on W processes: samples r, r + W, r + 2W, ... in order, with
    no padding (``DistributedSampler`` repeats samples to even the shards out, and the repeated ones
    would count twice in validation and test metrics). The shards may differ by one sample: the
    metrics are summed over the ranks (torchmetrics), so each sample counts exactly once.

    Args:
        size: the number of samples of the split.
        num_replicas: W.
        rank: this process's rank in ``0 .. W-1``.
    """

    def __init__(self, size: int, num_replicas: int, rank: int) -> None:
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"size must be a non-negative integer, got {size!r}")
        _check_shard(num_replicas, rank)
        self.size, self.num_replicas, self.rank = size, num_replicas, rank
        self.shuffle, self.drop_last, self.seed, self.epoch = False, False, 0, 0
        self.num_samples = len(range(rank, size, num_replicas))
        self.total_size = size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def order(self) -> torch.Tensor:
        """This rank's sample indices (a tensor)."""
        return torch.arange(self.rank, self.size, self.num_replicas)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.num_replicas))


def _check_shard(num_replicas: int, rank: int) -> None:
    if not isinstance(num_replicas, int) or num_replicas < 1:
        raise ValueError(f"num_replicas must be a positive integer, got {num_replicas!r}")
    if not isinstance(rank, int) or not 0 <= rank < num_replicas:
        raise ValueError(f"rank must be in [0, {num_replicas - 1}], got {rank!r}")


class ResumableBatches:
    """What Lightning saves of a loader over a :class:`ResumableRandomSampler` (``state_dict`` /
    ``load_state_dict``): the epoch and how many of its batches were handed out (``_batches``, counted by
    the loader's ``__iter__``)."""

    sampler: Any
    batch_size: int
    _batches = 0

    def state_dict(self) -> dict[str, Any]:
        if not isinstance(self.sampler, ResumableRandomSampler):
            return {}
        return {"epoch": self.sampler.epoch, "batches": self._batches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state and isinstance(self.sampler, ResumableRandomSampler):
            self.sampler.resume(state["epoch"], state["batches"] * self.batch_size)


class ResumableDataLoader(ResumableBatches, DataLoader):
    """A ``DataLoader`` over a :class:`ResumableRandomSampler` that Lightning saves and restores
    (``state_dict`` / ``load_state_dict``): the epoch and how many of its batches were handed out.

    Lightning stores this in every checkpoint and, when a run resumes mid-epoch, loads it before the
    epoch's iterator starts, so the resumed epoch continues with the batch after the last one
    trained on. Worker processes are seeded from the loader's own generator (never the global RNG,
    whose state the checkpoint restores for dropout).
    """

    def __iter__(self):
        sampler = self.sampler if isinstance(self.sampler, ResumableRandomSampler) else None
        self._batches = sampler.skipped() // self.batch_size if sampler is not None else 0
        for batch in super().__iter__():
            self._batches += 1
            yield batch


class DeviceLoader(ResumableBatches):
    """A split held whole on the training device and cut into batches by index (``data.on_device=true``):
    no worker processes, no host-to-device copy per batch, so a small model on a GPU is not held up by
    the loader. The same batches in the same order as the ``DataLoader`` path (shuffled by a
    :class:`ResumableRandomSampler`, which Lightning's ``set_epoch`` reaches as ``self.sampler``), and
    resumable like :class:`ResumableDataLoader` (``state_dict`` / ``load_state_dict``).

    Args:
        dataset: a map-style dataset of ``(x, y)`` samples; collated into two tensors once, on first use.
        batch_size: samples per batch (the last batch may be smaller, as the DataLoader's).
        sampler: the shuffling sampler of a training split, a :class:`ShardSampler` (a rank's share of an
            evaluation split), or None for the split in order (then ``self.sampler`` is a
            ``SequentialSampler``, which tells Lightning the loader does not shuffle).
        device: a callable giving the device to hold the split on (asked at each pass: the trainer's).
    """

    def __init__(self, dataset: Dataset, batch_size: int, sampler: ResumableRandomSampler | ShardSampler | None,
                 device: Callable[[], torch.device]) -> None:
        self.dataset, self.batch_size, self.device = dataset, batch_size, device
        self.sampler: Sampler[int] = sampler if sampler is not None else SequentialSampler(dataset)
        self.batch_sampler = None  # what Lightning reads next to ``sampler``
        self._tensors: tuple[Any, Any] | None = None
        self._batches = 0

    def tensors(self) -> tuple[Any, Any]:
        """The whole split as ``(inputs, labels)`` on the device (collated and moved once)."""
        device = torch.device(self.device())
        if self._tensors is None or self._tensors[0].device != device:
            x, y = default_collate([self.dataset[i] for i in range(len(self.dataset))])
            self._tensors = (x.to(device), y.to(device))
        return self._tensors

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.tensors()
        if isinstance(self.sampler, (ResumableRandomSampler, ShardSampler)):  # shuffled, or a rank's share
            resumable = isinstance(self.sampler, ResumableRandomSampler)
            self._batches = self.sampler.skipped() // self.batch_size if resumable else 0
            order = self.sampler.order().to(x.device)
        else:  # in order: views, no copy
            self._batches = 0
            for start in range(0, len(x), self.batch_size):
                yield x[start : start + self.batch_size], y[start : start + self.batch_size]
            return
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            self._batches += 1
            yield x.index_select(0, index), y.index_select(0, index)


class ClassificationDataModule(L.LightningDataModule):
    """Base class: subclasses fill ``self.train_set``, ``self.val_set``, ``self.test_set`` in
    :meth:`setup` and set the class attributes describing the data.

    Attributes:
        num_classes: number of target classes.
        in_channels: channels of one input (1 for grey images, 3 for RGB; 0 for flat vectors).
        image_size: side of the square images fed to the network (0 for flat vectors).
        in_features: length of one flattened input.
        pixel_stats: per-channel (mean, std) the inputs were normalized with, or None; augmentations see
            the images in [0, 1] (x std + mean), as torchvision's do, and the model the normalized result.

    Args:
        batch_size: samples per batch, per process: on W processes (DDP) a step trains on W x batch_size
            samples, the batches of one process with batch_size W x batch_size.
        num_workers: loader worker processes.
        seed: the run's seed: shuffling, the bootstrap resample and the augmentations (and the splits when
            ``split_seed`` is None).
        split_seed: the seed of the train / val / test split (and of generated data); None: ``seed``. The
            configs fix it, so that runs over several seeds (an ensemble, bagging) share one test split.
        augment: null, an augmentation name or preset (``alexnet``), or a list of names (``[flip, crop]``):
            applied to training batches only, on the device, in :meth:`on_after_batch_transfer`; ``lighting``
            takes its principal components from the training split (:meth:`fit_augment`).
        bootstrap: train on a bootstrap resample of the training split (n draws with replacement);
            validation and test are unchanged.
        on_device: hold each split whole on the training device and take batches by index
            (:class:`DeviceLoader`): for small datasets on a GPU; the same batches as the default loaders.
    """

    num_classes: int = 0
    in_channels: int = 0
    image_size: int = 0

    def __init__(self, batch_size: int = 64, num_workers: int = 0, seed: int = 0,
                 augment: str | Sequence[str] | None = None, bootstrap: bool = False,
                 split_seed: int | None = None, on_device: bool = False) -> None:
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        if split_seed is not None and (not isinstance(split_seed, int) or isinstance(split_seed, bool)):
            raise ValueError(f"split_seed must be an integer or null, got {split_seed!r}")
        self.split_seed = seed if split_seed is None else split_seed
        if not isinstance(bootstrap, bool):
            raise ValueError(f"bootstrap must be true or false, got {bootstrap!r}")  # noqa: TRY004
        self.augment = build_augment(augment)
        self.bootstrap = bootstrap
        if not isinstance(on_device, bool):
            raise ValueError(f"on_device must be true or false, got {on_device!r}")  # noqa: TRY004
        if on_device and num_workers > 0:
            raise ValueError(f"on_device=true takes batches by index on the device, without worker processes: "
                             f"set num_workers=0 (got {num_workers})")
        self.on_device = on_device
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    @property
    def in_features(self) -> int:
        return self.in_channels * self.image_size * self.image_size

    def _device(self) -> torch.device:
        """The device the trainer trains on (the CPU outside a trainer)."""
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def _shard(self) -> tuple[int, int]:
        """``(world size, rank)`` of the trainer's processes (``(1, 0)`` outside a trainer)."""
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader | DeviceLoader:
        """A split's loader. On W processes (DDP) each rank gets its own share: training, every W-th sample
        of one shuffled order (:class:`ResumableRandomSampler`: the same global batches as one process with
        W times the batch size); evaluation, every W-th sample in order (:class:`ShardSampler`: each sample
        counted once)."""
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before asking for loaders")
        world, rank = self._shard()
        if shuffle:
            sampler = ResumableRandomSampler(len(dataset), self.seed, num_replicas=world, rank=rank)
        else:
            sampler = ShardSampler(len(dataset), world, rank) if world > 1 else None
        if self.on_device:
            return DeviceLoader(dataset, self.batch_size, sampler, self._device)
        # the loader's own generator seeds worker processes: building an iterator never draws from the
        # global RNG (a resumed run restores that RNG for dropout and must see the same draws)
        kwargs = dict(batch_size=self.batch_size, num_workers=self.num_workers,
                      persistent_workers=self.num_workers > 0, generator=torch.Generator().manual_seed(self.seed))
        if shuffle:
            return ResumableDataLoader(dataset, sampler=sampler, **kwargs)
        return DataLoader(dataset, shuffle=False, sampler=sampler, **kwargs)

    @property
    def pixel_stats(self) -> tuple[Sequence[float], Sequence[float]] | None:
        return None

    def train_dataloader(self) -> DataLoader:
        self.fit_augment()
        if self.bootstrap and self.train_set is not None:
            indices = bootstrap_indices(len(self.train_set), self.seed)
            return self._loader(Subset(self.train_set, indices.tolist()), shuffle=True)
        return self._loader(self.train_set, shuffle=True)

    def _normalization(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``pixel_stats`` as (C, 1, 1) tensors in ``x``'s dtype and device, or None."""
        stats = self.pixel_stats
        return None if stats is None else tuple(
            torch.as_tensor(v, dtype=x.dtype, device=x.device).view(-1, 1, 1) for v in stats)

    def training_pixels(self) -> Iterator[torch.Tensor]:
        """The whole training split (not a bootstrap resample of it) in pixel space, [0, 1] as the augmentations
        see it, batch by batch: the images only."""
        if self.train_set is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before reading the training split")
        for batch in DataLoader(self.train_set, batch_size=self.batch_size, num_workers=self.num_workers):
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            stats = self._normalization(x)
            yield x if stats is None else x * stats[1] + stats[0]

    def fit_augment(self) -> None:
        """Give the augmentations that need the training split's statistics (``lighting``: the principal components
        of its pixel colours) them, once: from the training split alone, never validation or test data, and the
        same on every process. Called before training (:meth:`train_dataloader`) and by :meth:`augment_batch`."""
        pending = [t for t in getattr(self.augment, "transforms", ()) if isinstance(t, Lighting) and not t.fitted]
        if pending:
            covariance = pixel_covariance(self.training_pixels())
            for transform in pending:
                transform.fit(covariance)

    def augment_batch(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``self.augment`` applied to a normalized batch: undo the normalization, augment, redo it."""
        if self.augment is None:
            return x
        self.fit_augment()
        stats = self._normalization(x)
        if stats is None:
            return self.augment(x, generator)
        mean, std = stats
        return (self.augment(x * std + mean, generator) - mean) / std

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Augment training batches (never validation or test ones) on the device they were moved to,
        with a generator seeded from (seed, epoch, batch index within the epoch)."""
        trainer = self.trainer
        if self.augment is None or trainer is None or not trainer.training:
            return batch
        # the index of this batch: Lightning counts it as ready right after this hook
        index = trainer.fit_loop.epoch_loop.batch_progress.current.ready
        generator = torch.Generator().manual_seed(batch_seed(self.seed, trainer.current_epoch, index))
        x, y = batch
        return self.augment_batch(x, generator), y

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)


def loader_arguments(**defaults: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a subclass's ``__init__(self, <its own arguments>, **loader)`` the loader arguments, declared once:
    :class:`ClassificationDataModule`'s (batch_size, num_workers, seed, augment, bootstrap, split_seed,
    on_device), which ``loader`` then holds, with the base class's defaults unless ``defaults`` changes them
    (``@loader_arguments(batch_size=32)``).

    The decorated ``__init__`` shows them in its signature and type hints, keyword-only after its own
    arguments, as if declared there: the configs pass them as flat keys (``data.batch_size=16``), and the
    config checks read the target's signature to name a bad value's key (``data.batch_size: expected int``).

    Raises:
        TypeError: a default for an argument the base class does not take.
    """
    base = inspect.signature(ClassificationDataModule.__init__)
    names = [name for name in base.parameters if name != "self"]
    unknown = sorted(set(defaults) - set(names))
    if unknown:
        raise TypeError(f"loader_arguments: {unknown[0]!r} is not a loader argument ({', '.join(names)})")
    # resolved hints, not the strings of ``from __future__ import annotations``: a subclass's module need not
    # import the names they use (``Sequence``)
    hints = typing.get_type_hints(ClassificationDataModule.__init__)
    params = [base.parameters[name].replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[name],
                                            default=defaults.get(name, base.parameters[name].default))
              for name in names]

    def decorate(init: Callable[..., None]) -> Callable[..., None]:
        *own, loader = inspect.signature(init).parameters.values()
        if loader.kind is not inspect.Parameter.VAR_KEYWORD:
            raise TypeError(f"loader_arguments: {init.__qualname__} must end with **loader")

        @functools.wraps(init)
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **{**defaults, **kwargs})

        __init__.__signature__ = inspect.signature(init).replace(parameters=[*own, *params])
        __init__.__annotations__ = {**{k: v for k, v in init.__annotations__.items() if k != loader.name},
                                    **{name: hints[name] for name in names}}
        return __init__

    return decorate


__all__ = [
    "ClassificationDataModule",
    "DeviceLoader",
    "ResumableBatches",
    "ResumableDataLoader",
    "ResumableRandomSampler",
    "ShardSampler",
    "Subset",
    "batch_seed",
    "bootstrap_indices",
    "epoch_seed",
    "fraction_to_count",
    "loader_arguments",
    "seeded_split",
    "split_counts",
]
