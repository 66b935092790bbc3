"""The model suite: one training step (forward, backward, SGD step) on impl=c147 against impl=torch.

Both networks get the same weights; the rows report milliseconds per step of a batch, so the
throughput in images/s is ``batch / ms * 1000`` (written to results.json as ``*_images_per_s``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import c147.models
from c147.bench.harness import Pair, relative_error

BATCH = 64


@dataclass
class Case:
    family: str  # the model
    name: str
    in_channels: int
    image_size: int
    num_classes: int = 10


CASES = [
    Case("lenet5", "train step", 1, 32),
    Case("vgg11", "train step", 3, 32),
]
FAMILIES = [c.family for c in CASES]
# what every suite declares (c147.app.bench): images a timed call processes, for a throughput column
IMAGES_PER_STEP: int | None = BATCH  # one training step on a batch


TINY_BATCH = 4  # size=tiny


def closures(case: Case, device: str, dtype: torch.dtype, seed: int = 0, *, tiny: bool = False,
             compiled: bool = False) -> Pair:
    """Closures running one training step each (network and loss ``torch.compile``d when ``compiled``;
    the optimizer step stays eager). The accuracy columns compare the logits and the parameter
    gradients of one forward + backward (in eval mode: no dropout) with impl=torch in float64 on the
    same weights."""
    factory = getattr(c147.models, case.family)
    kwargs = dict(num_classes=case.num_classes, in_channels=case.in_channels, image_size=case.image_size)
    batch = TINY_BATCH if tiny else BATCH
    torch.manual_seed(seed)
    x = torch.randn(batch, case.in_channels, case.image_size, case.image_size, device=device, dtype=dtype)
    y = torch.randint(0, case.num_classes, (batch,), device=device)
    state = factory(impl="torch", **kwargs).state_dict()

    def network(impl: str, dt: torch.dtype = dtype):
        net = factory(impl=impl, **kwargs).to(device=device, dtype=dt).train()
        net.load_state_dict(state)
        return net, c147.layers(impl).CrossEntropyLoss()

    def make(impl: str, compile_: bool):
        net, loss_fn = network(impl)
        opt = c147.make(net.parameters(), kind="optim", name="SGD", impl=impl, lr=1e-3, momentum=0.9)
        run_net, run_loss = (torch.compile(net), torch.compile(loss_fn)) if compile_ else (net, loss_fn)

        def step():
            opt.zero_grad()
            run_loss(run_net(x), y).backward()
            opt.step()

        return step, (net, run_net, run_loss)

    def outputs(net, run_net, run_loss, xs=x):
        net.eval()  # dropout off (VGG's classifier): the devices' random streams differ
        logits = run_net(xs)
        run_loss(logits, y).backward()
        net.train()
        return [logits, *[p.grad for p in net.parameters()]]

    ours, ours_parts = make("c147", compiled)
    twin, twin_parts = make("torch", compiled)
    ref_net, ref_loss = network("torch", torch.float64)
    ref = outputs(ref_net, ref_net, ref_loss, x.double())
    errors = {"ours_err": relative_error(outputs(*ours_parts), ref),
              "twin_err": relative_error(outputs(*twin_parts), ref)}
    breaks = None
    if compiled:
        net, _, run_loss = ours_parts
        breaks = (torch._dynamo.explain(net)(x).graph_break_count
                  + torch._dynamo.explain(run_loss._orig_mod)(net(x), y).graph_break_count)
    return Pair(ours, twin, f"{batch}x{case.in_channels}x{case.image_size}x{case.image_size}",
                twin_eager=make("torch", False)[0] if compiled else None, graph_breaks=breaks, errors=errors)
