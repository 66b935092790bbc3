"""Every model config trains through the Hydra pipeline (one batch), with each impl."""

import pytest

from c147.app.train import train
from tests.conftest import CONFIG_GROUPS

MODELS = sorted(p.stem for p in (CONFIG_GROUPS / "model").glob("*.yaml"))
# what a model needs from the data beyond the defaults: multitask trains on a second label; the ResNets take the
# digits at their native 8x8 (the small stem's smallest case, and 16 times fewer pixels than the default 32x32)
NEEDS = {"multitask": ["data.second_label=parity"], "resnet18": ["data.image_size=8"],
         "resnet50": ["data.image_size=8"]}
# the eight VGG configs are one class with other layer lists (tests/models/test_vgg.py runs each one's forward
# and backward, tests/app/test_configs.py instantiates each config): through the pipeline, 2-6 s a run here, the
# shallowest with and without batch norm and the deepest with it (impl=c147), the shallowest and the deepest
# (impl=torch)
VGG_RUNS = {"c147": ("vgg11", "vgg11_bn", "vgg19_bn"), "torch": ("vgg11", "vgg19_bn")}
# the three ResNets are one class with other block tables (tests/models/test_resnet.py checks each against
# torchvision): both blocks with our layers, the basic one with torch's
RESNET_RUNS = {"c147": ("resnet18", "resnet50"), "torch": ("resnet18",)}
RUNS = [(impl, model) for impl in ("c147", "torch") for model in MODELS
        if not model.startswith(("vgg", "resnet")) or model in VGG_RUNS[impl] + RESNET_RUNS[impl]]


@pytest.mark.slow
@pytest.mark.parametrize("impl, model", RUNS)
def test_fast_dev_run_of_every_model(train_config, model, impl):
    metrics = train(train_config(f"model={model}", f"impl={impl}", "debug=fast", "data.batch_size=4",
                                 *NEEDS.get(model, [])))
    assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["test/loss"] > 0
