"""``augmentation``: each named augmentation applied to four digits (a sample grid), and an MLP trained on 100
digits with and without ``data.augment=[rotate,scale,noise,blur]``.

Claim: augmentation narrows the train/val gap. It does, while the val accuracy itself falls: on 8x8 digits these
transforms cost more than they add.
"""

from __future__ import annotations

from typing import Any

import torch

from c147.app.studies.harness import Comparison, Study, claim, compare, finals

NONE, AUGMENTED = "none", "augmented"
COMPARISON = Comparison(
    # the native 8x8 digits, 100 training images: few enough for the network to overfit them
    train=["model=mlp", "model.hidden=[128]", "data.image_size=8", "data.train_samples=100"],
    # no crop: it pads by 4, half of an 8x8 digit
    settings={NONE: [], AUGMENTED: ["data.augment=[rotate,scale,noise,blur]"]},
    epochs=30, reduced_epochs=10)
# the sample grid: these training digits, at a size where the transforms are visible
SAMPLES, SAMPLE_SIZE = 4, 32


def samples(s: Study) -> None:
    """``figures/samples``: four training digits (32x32) and, row by row, each named augmentation of them as
    training sees it (the data module's own ``augment_batch``: in pixel space), drawn on one [0, 1] scale."""
    from c147.data import DigitsDataModule
    from c147.data.augment.random import AUGMENTATIONS
    from c147.lit.figures import image_grid_figure

    dm = DigitsDataModule(image_size=SAMPLE_SIZE)
    dm.setup("fit")
    x = dm.train_set.tensors[0][:SAMPLES]
    mean, std = (v[0] for v in dm.pixel_stats)
    rows, titles = [x], ["original"] * SAMPLES
    for name in AUGMENTATIONS:
        augmented = DigitsDataModule(image_size=SAMPLE_SIZE, augment=[name])
        augmented.setup("fit")
        rows.append(augmented.augment_batch(x.clone(), torch.Generator().manual_seed(0)))
        titles += [name] * SAMPLES
    images = torch.cat(rows) * std + mean  # back to pixels
    fig = image_grid_figure(images, titles, "each augmentation (data.augment=[NAME]) of four training digits",
                            value_range=(0.0, 1.0))
    s.figure("samples", fig)


def run(s: Study) -> dict[str, Any]:
    """The sample grid, both runs' curves (``figures/curves``); the claim compares their train/val gaps."""
    samples(s)
    runs, epochs = compare(s, COMPARISON, ("train/acc", "val/acc"))
    gap = {label: run["train/acc"] - run["val/acc"] for label, run in runs.items()}
    return {"epochs": epochs, "runs": finals(runs), "gap": gap,
            "claim": claim("augmentation narrows the gap between training and validation accuracy on a small "
                           "training split", gap[AUGMENTED] < gap[NONE], augmented=gap[AUGMENTED], none=gap[NONE],
                           val_acc_augmented=runs[AUGMENTED]["val/acc"], val_acc_none=runs[NONE]["val/acc"])}
