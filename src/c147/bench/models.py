"""The model suite: one training step (forward, backward, SGD step) on impl=c147 against impl=torch.

Both networks get the same weights; the rows report milliseconds per step of a batch, so the
throughput in images/s is ``batch / ms * 1000`` (written to results.json as ``*_images_per_s``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import c147.models

BATCH = 64


@dataclass
class Case:
    family: str  # the model
    name: str
    in_channels: int
    image_size: int
    num_classes: int = 10


CASES = [
    Case("lenet5", "train step, batch 64, 1x32x32", 1, 32),
    Case("vgg11", "train step, batch 64, 3x32x32", 3, 32),
]
FAMILIES = [c.family for c in CASES]
# what every suite declares (c147.bench.run): images a timed call processes, for a throughput column
IMAGES_PER_STEP: int | None = BATCH  # one training step on a batch


def closures(case: Case, device: str, dtype: torch.dtype, seed: int = 0):
    """``(ours, twin, shape, bytes_moved)``: closures running one training step each."""
    factory = getattr(c147.models, case.family)
    kwargs = dict(num_classes=case.num_classes, in_channels=case.in_channels, image_size=case.image_size)
    torch.manual_seed(seed)
    x = torch.randn(BATCH, case.in_channels, case.image_size, case.image_size, device=device, dtype=dtype)
    y = torch.randint(0, case.num_classes, (BATCH,), device=device)

    def make(impl: str, state: dict | None):
        net = factory(impl=impl, **kwargs).to(device=device, dtype=dtype).train()
        if state is not None:
            net.load_state_dict(state)
        loss_fn = c147.layers(impl).CrossEntropyLoss()
        opt = c147.make(net.parameters(), kind="optim", name="SGD", impl=impl, lr=1e-3, momentum=0.9)

        def step():
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()

        return step, net.state_dict()

    twin, state = make("torch", None)
    ours, _ = make("c147", state)
    return ours, twin, f"{BATCH}x{case.in_channels}x{case.image_size}x{case.image_size}", 0
