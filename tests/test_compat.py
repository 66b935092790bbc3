"""c147._compat: each private torch API c147 uses still exists and does what c147 relies on."""

import torch

from c147 import _compat


def test_reduction_legacy_arguments():
    assert _compat.legacy_get_string(None, None, emit_warning=False) == "mean"
    assert _compat.legacy_get_string(False, None, emit_warning=False) == "sum"
    assert _compat.legacy_get_string(None, False, emit_warning=False) == "none"


def test_optimizer_helpers():
    params = [torch.zeros(2), torch.zeros(3)]
    fused, foreach = _compat._default_to_fused_or_foreach(params, differentiable=False, use_fused=False)
    assert fused is False and foreach is False  # CPU tensors: the single-tensor path, as torch picks
    assert _compat._get_scalar_dtype() in (torch.float32, torch.float64)
    z = torch.zeros(2, dtype=torch.complex64)
    grads, states = [z.clone()], [z.clone()]
    _compat._view_as_real([z], grads, states)
    assert grads[0].dtype == torch.float32 and grads[0].shape == (2, 2)
    assert "epoch" in _compat.EPOCH_DEPRECATION_WARNING


def test_foreach_utils():
    tensors = [torch.zeros(2), torch.zeros(2, dtype=torch.float64)]
    groups = _compat._group_tensors_by_device_and_dtype([tensors])
    assert len(groups) == 2
    assert isinstance(_compat._has_foreach_support(tensors, torch.device("cpu")), bool)
    assert isinstance(_compat._device_has_foreach_support(torch.device("cpu")), bool)


def test_trunc_normal_probe_leaves_the_generator_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    assert isinstance(_compat.trunc_normal_by_rejection(), bool)
    assert torch.equal(torch.rand(3), expected)


def test_dispatch_mode_active_sees_flop_counter_mode():
    from torch.utils.flop_counter import FlopCounterMode

    from c147._compat import dispatch_mode_active

    assert not dispatch_mode_active()
    with FlopCounterMode(display=False):
        assert dispatch_mode_active()
    assert not dispatch_mode_active()


def test_tensorboard_file_writer_writes_a_summary_and_reopens_after_close(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import scalar

    writer = SummaryWriter(str(tmp_path))
    writer.close()
    file_writer = _compat.tensorboard_file_writer(writer)  # reopened: close() dropped it
    file_writer.add_summary(scalar("x", 1.5), global_step=3)
    writer.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("x")] == [(3, 1.5)]


def test_count_kernels_counts_the_passes_over_memory_not_views_or_scalars():
    x, g = torch.randn(100, requires_grad=True), torch.randn(100)
    assert _compat.count_kernels(lambda: torch.tanh(x).backward(g)) == 2  # tanh, tanh_backward
    assert _compat.count_kernels(lambda: x.detach().view(10, 10).t().unsqueeze(0)) == 0  # views: no pass
    assert _compat.count_kernels(lambda: x.detach().view(10, 10).t().reshape(-1)) == 1  # a copy: one pass
    assert _compat.count_kernels(lambda: x.new_tensor(2.0) * 3) == 0  # 0-d scalars
    assert _compat.count_kernels(lambda: (x.detach() * 2).exp_().sum()) == 3
    assert _compat.count_kernels(lambda: None) == 0


def test_dispatch_mode_active_sees_other_modes_not_the_kernel_counter():
    from torch.utils.flop_counter import FlopCounterMode

    seen = []
    _compat.count_kernels(lambda: seen.append(_compat.dispatch_mode_active()))
    with FlopCounterMode(display=False):
        seen.append(_compat.dispatch_mode_active())
    assert seen == [False, True] and _compat.dispatch_mode_active() is False
