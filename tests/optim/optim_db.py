"""The optimizer table (torch's ``optim_db`` idea): what each c147 optimizer is tested with.

One :class:`OptimizerInfo` per optimizer: ours, torch's twin, their functional twins, the kwargs cases
every generic test draws from, and which generic behaviours apply (sparse gradients, state created at
construction, unimplemented switches, invalid arguments with torch's message, ...). The generic tests
are in ``test_optimizers.py``; what only one optimizer has (the sheet's forms and errata, Adagrad's
state at construction, AdamW's decoupled decay) stays in its own file.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from c147._compat import _get_scalar_dtype
from c147.optim.adagrad import Adagrad
from c147.optim.adam import Adam
from c147.optim.adamw import AdamW
from c147.optim.nadam import NAdam
from c147.optim.rmsprop import RMSprop
from c147.optim.sgd import SGD
from tests.optim.trajectory import EXACT

# float32 where ours rounds differently from torch (the same update, another order of operations): 60 steps
# of 1-ulp differences stay well inside this
FLOAT32_ROUNDING = dict(rtol=1e-5, atol=1e-6)

# a functional's state lists, then its keyword arguments, for parameters ``params`` and a param group ``h``
FunctionalInputs = Callable[[list[Tensor], dict[str, Any]], tuple[list[list[Any]], dict[str, Any]]]


@dataclass(eq=False)
class OptimizerInfo:
    """How one optimizer is tested.

    Attributes:
        ours, twin: our class and torch's.
        functional: the name of the functional twin, in ``c147.optim.<functional>`` and
            ``torch.optim.<functional>`` alike (``adam``, ``adamw``, ...).
        paths: the ``<name>`` of the free functions ``_single_tensor_<name>`` and
            ``_multi_tensor_<name>`` (AdamW runs Adam's), in ``c147.optim.<paths>``.
        cases: kwargs cases: every generic trajectory test runs all of them, others name a few.
        single_tensor_only: cases torch refuses with ``foreach=True`` (a tensor lr for Adam).
        layouts: the trajectory's param groups: two groups (the second with its own lr) always, one group
            too where the per-optimizer files ran it (a single group takes no path two groups do not, so
            it is not added where it was not: runtime).
        typical: the case of the tests that take one (closure, scheduler, complex, chunks, no grad, ...).
        exact_cases: cases bit-identical to torch's same path in float64 on CPU.
        float32: the float32 trajectory's case and tolerance (``EXACT`` where torch's order is kept).
        device_cases: cases run on every device of tests/twins.py.
        round_trip_cases: cases whose state_dict goes ours -> torch, torch -> ours and ours -> ours.
        state_keys: a case and the state keys a parameter has after one step, as torch's.
        sparse_cases: cases run with sparse gradients against torch (empty: sparse is refused).
        sparse_refused: the message both raise for a sparse gradient (None: sparse is supported).
        state_at_construction: the state of every parameter is built in ``__init__`` (Adagrad).
        newer_keys: param-group keys an old state_dict may lack, with the value loading fills in.
        invalid: (id, kwargs, the ValueError message, torch's exactly).
        unimplemented: torch's switches ours accepts off but refuses on (``fused=True`` is implemented:
            test_fused.py).
        functional_inputs: the state lists and keyword arguments of the functional twin.
    """

    ours: type[torch.optim.Optimizer]
    twin: type[torch.optim.Optimizer]
    functional: str
    paths: str
    cases: dict[str, dict[str, Any]]
    typical: str
    float32: tuple[str, dict[str, float]]
    device_cases: tuple[str, ...]
    round_trip_cases: tuple[str, ...]
    state_keys: tuple[tuple[str, frozenset[str]], ...]
    newer_keys: dict[str, Any]
    invalid: tuple[tuple[str, dict[str, Any], str], ...]
    unimplemented: tuple[str, ...]
    functional_inputs: FunctionalInputs
    single_tensor_only: frozenset[str] = frozenset()
    layouts: tuple[bool, ...] = (True,)
    exact_cases: tuple[str, ...] = ()
    sparse_cases: tuple[str, ...] = ()
    sparse_refused: str | None = None
    state_at_construction: bool = False
    defaults: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        assert self.sparse_refused is None or not self.sparse_cases
        named = {self.typical, self.float32[0], *self.exact_cases, *self.device_cases, *self.round_trip_cases,
                 *self.sparse_cases, *(case for case, _ in self.state_keys), *self.single_tensor_only}
        assert named <= self.cases.keys(), named - self.cases.keys()
        self.defaults = {
            name: p.default for name, p in inspect.signature(self.ours).parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    @property
    def name(self) -> str:
        return self.ours.__name__

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(f"c147.optim.{self.functional}")

    @property
    def paths_module(self) -> ModuleType:
        return importlib.import_module(f"c147.optim.{self.paths}")

    def foreach_values(self, case: str) -> tuple[bool, ...]:
        return (False,) if case in self.single_tensor_only else (False, True)

    def group(self, case: str) -> dict[str, Any]:
        """The hyperparameters of a param group of ``case``: the constructor's defaults, then the case."""
        return {**self.defaults, **self.cases[case]}


def _steps(params: list[Tensor]) -> list[Tensor]:
    return [torch.tensor(0.0, dtype=_get_scalar_dtype()) for _ in params]


def _zeros(params: list[Tensor], wanted: bool = True) -> list[Tensor]:
    return [torch.zeros_like(p) for p in params] if wanted else []


def _sgd_inputs(params, h):
    keys = ("weight_decay", "momentum", "lr", "dampening", "nesterov", "maximize")
    return [[None] * len(params) if h["momentum"] != 0 else []], {k: h[k] for k in keys}


def _adagrad_inputs(params, h):
    sums = [torch.full_like(p, h["initial_accumulator_value"]) for p in params]
    return [sums, _steps(params)], {k: h[k] for k in ("lr", "weight_decay", "lr_decay", "eps", "maximize")}


def _adam_inputs(params, h, decoupled_key=True):
    lists = [_zeros(params), _zeros(params), _zeros(params, h["amsgrad"]), _steps(params)]
    beta1, beta2 = h["betas"]
    kwargs = {k: h[k] for k in ("amsgrad", "lr", "weight_decay", "eps", "maximize")}
    kwargs.update(beta1=beta1, beta2=beta2)
    if decoupled_key:
        kwargs["decoupled_weight_decay"] = h["decoupled_weight_decay"]
    return lists, kwargs


def _adamw_inputs(params, h):
    return _adam_inputs(params, h, decoupled_key=False)


def _rmsprop_inputs(params, h):
    lists = [_zeros(params), _zeros(params, h["centered"]), _zeros(params, h["momentum"] > 0), _steps(params)]
    return lists, {k: h[k] for k in ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize")}


def _nadam_inputs(params, h):
    mu_products = [torch.tensor(1.0, dtype=_get_scalar_dtype()) for _ in params]
    lists = [_zeros(params), _zeros(params), mu_products, _steps(params)]
    beta1, beta2 = h["betas"]
    keys = ("lr", "weight_decay", "momentum_decay", "eps", "maximize", "decoupled_weight_decay")
    return lists, dict({k: h[k] for k in keys}, beta1=beta1, beta2=beta2)


ADAM_STATE = frozenset({"step", "exp_avg", "exp_avg_sq"})
ADAM_INVALID = (
    ("negative_lr", dict(lr=-1e-3), "Invalid learning rate: -0.001"),
    ("negative_eps", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("beta1_one", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("beta1_negative", dict(betas=(-0.1, 0.999)), "Invalid beta parameter at index 0: -0.1"),
    ("beta2_one", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("negative_weight_decay", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("float_and_tensor_betas", dict(betas=(0.9, torch.tensor(0.999))),
     "betas must be either both floats or both Tensors"),
    ("lr_of_two_elements", dict(lr=torch.tensor([0.1, 0.2])), "Tensor lr must be 1-element"),
    ("tensor_lr_foreach", dict(lr=torch.tensor(0.1), foreach=True),
     "lr as a Tensor is not supported for capturable=False and foreach=True"),
)
ADAM_NEWER_KEYS = dict(amsgrad=False, maximize=False, foreach=None, capturable=False, differentiable=False,
                       fused=None, decoupled_weight_decay=False)

OPTIMIZERS = [
    OptimizerInfo(
        ours=SGD,
        twin=torch.optim.SGD,
        functional="sgd",
        layouts=(False, True),
        paths="sgd",
        cases={
            "default": dict(),
            "lr": dict(lr=0.1),
            "weight_decay": dict(lr=0.1, weight_decay=0.05),
            "momentum": dict(lr=0.05, momentum=0.9),
            "momentum_weight_decay": dict(lr=0.05, momentum=0.9, weight_decay=0.05),
            "dampening": dict(lr=0.05, momentum=0.9, dampening=0.3),
            "nesterov": dict(lr=0.05, momentum=0.9, nesterov=True),
            "nesterov_weight_decay": dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05),
            "maximize": dict(lr=0.01, maximize=True, weight_decay=0.05),
            "maximize_momentum": dict(lr=0.01, momentum=0.9, dampening=0.1, weight_decay=0.05, maximize=True),
            "maximize_nesterov": dict(lr=0.01, momentum=0.9, nesterov=True, maximize=True),
            "everything": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05, maximize=True),
            "tensor_lr": dict(lr=torch.tensor(0.05), momentum=0.9),
        },
        typical="everything",
        # ours: one-pass b = g + μ b, and θ - γ g - γ μ b instead of θ - γ (g + μ b)
        float32=("everything", FLOAT32_ROUNDING),
        device_cases=("weight_decay", "nesterov_weight_decay", "maximize_momentum"),
        round_trip_cases=("momentum", "nesterov_weight_decay", "maximize_momentum"),
        state_keys=(("lr", frozenset()), ("momentum", frozenset({"momentum_buffer"}))),
        # torch itself refuses weight_decay with sparse gradients (add(sparse, dense))
        sparse_cases=("lr", "momentum", "dampening", "nesterov", "maximize_nesterov"),
        newer_keys=dict(nesterov=False, maximize=False, foreach=None, differentiable=False, fused=False),
        invalid=(
            ("negative_lr", dict(lr=-0.1), "Invalid learning rate: -0.1"),
            ("lr_of_two_elements", dict(lr=torch.tensor([0.1, 0.2])), "Tensor lr must be 1-element"),
            ("negative_momentum", dict(momentum=-0.5), "Invalid momentum value: -0.5"),
            ("negative_weight_decay", dict(weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
            ("nesterov_without_momentum", dict(nesterov=True),
             "Nesterov momentum requires a momentum and zero dampening"),
            ("nesterov_with_dampening", dict(nesterov=True, momentum=0.9, dampening=0.1),
             "Nesterov momentum requires a momentum and zero dampening"),
        ),
        unimplemented=("differentiable",),
        functional_inputs=_sgd_inputs,
    ),
    OptimizerInfo(
        ours=Adagrad,
        twin=torch.optim.Adagrad,
        functional="adagrad",
        layouts=(False, True),
        paths="adagrad",
        cases={
            "default": dict(),
            "lr": dict(lr=0.1),
            "lr_decay": dict(lr=0.1, lr_decay=0.05),
            "weight_decay": dict(lr=0.1, weight_decay=0.05),
            "initial_accumulator_value": dict(lr=0.1, initial_accumulator_value=0.3),
            "eps": dict(lr=0.1, eps=1e-3),
            "maximize": dict(lr=0.01, maximize=True),
            "maximize_weight_decay_lr_decay": dict(lr=0.01, maximize=True, weight_decay=0.05, lr_decay=0.1),
            "all": dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1, eps=1e-6),
            "tensor_lr": dict(lr=torch.tensor(0.1), lr_decay=0.01),
        },
        typical="all",
        # ours multiplies -γ̃ into addcdiv's scalar where torch's foreach multiplies it into g first
        float32=("all", FLOAT32_ROUNDING),
        device_cases=("lr_decay", "all", "maximize_weight_decay_lr_decay"),
        round_trip_cases=("lr_decay", "all"),
        state_keys=(("default", frozenset({"step", "sum"})),),
        sparse_cases=("default", "lr_decay", "initial_accumulator_value", "maximize"),
        state_at_construction=True,
        newer_keys=dict(foreach=None, maximize=False, differentiable=False, fused=None),
        invalid=(
            ("negative_lr", dict(lr=-0.1), "Invalid learning rate: -0.1"),
            ("lr_of_two_elements", dict(lr=torch.tensor([0.1, 0.2])), "Tensor lr must be 1-element"),
            ("negative_lr_decay", dict(lr_decay=-0.5), "Invalid lr_decay value: -0.5"),
            ("negative_weight_decay", dict(weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
            ("negative_initial_accumulator_value", dict(initial_accumulator_value=-1.0),
             "Invalid initial_accumulator_value value: -1.0"),
            ("negative_eps", dict(eps=-1e-10), "Invalid epsilon value: -1e-10"),
        ),
        unimplemented=("differentiable",),
        functional_inputs=_adagrad_inputs,
    ),
    OptimizerInfo(
        ours=Adam,
        twin=torch.optim.Adam,
        functional="adam",
        paths="adam",
        cases={
            "default": {},
            "lr": dict(lr=0.01),
            "betas": dict(betas=(0.5, 0.9)),
            "eps": dict(eps=1e-3),
            "weight_decay": dict(weight_decay=0.1),
            "amsgrad": dict(amsgrad=True),
            "maximize": dict(maximize=True),
            "maximize_weight_decay": dict(maximize=True, weight_decay=0.1),
            "decoupled": dict(weight_decay=0.1, decoupled_weight_decay=True),
            "everything": dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True),
            # float64: torch computes lr / (1 - β1^t) in the tensor's dtype, ours in Python floats (a float32
            # tensor lr gives steps 1e-9 apart in relative terms, torch's being the less exact)
            "tensor_lr": dict(lr=torch.tensor(0.01, dtype=torch.float64)),
        },
        single_tensor_only=frozenset({"tensor_lr"}),
        typical="everything",
        # torch's order of operations is kept (√v / √(1 - β2^t) + δ, step size ε / (1 - β1^t))
        exact_cases=("everything",),
        float32=("everything", EXACT),
        device_cases=("everything",),
        round_trip_cases=("weight_decay", "everything"),
        state_keys=(("default", ADAM_STATE), ("amsgrad", ADAM_STATE | {"max_exp_avg_sq"})),
        sparse_refused="Adam does not support sparse gradients, please consider SparseAdam instead",
        newer_keys=ADAM_NEWER_KEYS,
        invalid=ADAM_INVALID,
        unimplemented=("capturable", "differentiable"),
        functional_inputs=_adam_inputs,
    ),
    OptimizerInfo(
        ours=AdamW,
        twin=torch.optim.AdamW,
        functional="adamw",
        paths="adam",
        cases={
            "default": {},
            "weight_decay": dict(weight_decay=0.1),
            "amsgrad": dict(amsgrad=True),
            "maximize": dict(maximize=True),
            "everything": dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True),
        },
        typical="everything",
        exact_cases=("everything",),
        float32=("everything", EXACT),
        device_cases=("everything",),
        round_trip_cases=("weight_decay", "everything"),
        state_keys=(("default", ADAM_STATE), ("amsgrad", ADAM_STATE | {"max_exp_avg_sq"})),
        sparse_refused="Adam does not support sparse gradients, please consider SparseAdam instead",
        newer_keys=dict(ADAM_NEWER_KEYS, decoupled_weight_decay=True),  # AdamW is always decoupled
        invalid=ADAM_INVALID,
        unimplemented=("capturable", "differentiable"),
        functional_inputs=_adamw_inputs,
    ),
    OptimizerInfo(
        ours=RMSprop,
        twin=torch.optim.RMSprop,
        functional="rmsprop",
        paths="rmsprop",
        cases={
            "default": {},
            "lr": dict(lr=1e-3),
            "alpha": dict(alpha=0.9),
            "eps": dict(eps=1e-3),
            "weight_decay": dict(weight_decay=0.1),
            "momentum": dict(momentum=0.9),
            "centered": dict(centered=True),
            "momentum_centered": dict(momentum=0.5, centered=True),
            "maximize": dict(maximize=True),
            "maximize_weight_decay": dict(maximize=True, weight_decay=0.1),
            "everything": dict(lr=1e-3, alpha=0.9, weight_decay=0.1, momentum=0.9, centered=True, maximize=True),
            "tensor_lr": dict(lr=torch.tensor(0.01)),
        },
        typical="everything",
        exact_cases=("everything",),  # torch's order of operations is kept
        float32=("everything", EXACT),
        device_cases=("everything",),
        round_trip_cases=("default", "everything"),
        state_keys=(
            ("default", frozenset({"step", "square_avg"})),
            ("momentum", frozenset({"step", "square_avg", "momentum_buffer"})),
            ("centered", frozenset({"step", "square_avg", "grad_avg"})),
            ("momentum_centered", frozenset({"step", "square_avg", "momentum_buffer", "grad_avg"})),
        ),
        sparse_refused="RMSprop does not support sparse gradients",
        newer_keys=dict(momentum=0, centered=False, foreach=None, maximize=False, differentiable=False,
                        capturable=False),
        invalid=(
            ("negative_lr", dict(lr=-0.01), "Invalid learning rate: -0.01"),
            ("negative_eps", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
            ("negative_momentum", dict(momentum=-0.5), "Invalid momentum value: -0.5"),
            ("negative_weight_decay", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
            ("negative_alpha", dict(alpha=-0.9), "Invalid alpha value: -0.9"),
            ("lr_of_two_elements", dict(lr=torch.tensor([0.1, 0.2])), "Tensor lr must be 1-element"),
        ),
        unimplemented=("capturable", "differentiable"),
        functional_inputs=_rmsprop_inputs,
    ),
    OptimizerInfo(
        ours=NAdam,
        twin=torch.optim.NAdam,
        functional="nadam",
        paths="nadam",
        cases={
            "default": {},
            "lr": dict(lr=0.01),
            "betas": dict(betas=(0.5, 0.9)),
            "eps": dict(eps=1e-3),
            "momentum_decay": dict(momentum_decay=0.1),
            "weight_decay": dict(weight_decay=0.1),
            "decoupled": dict(weight_decay=0.1, decoupled_weight_decay=True),
            "maximize": dict(maximize=True),
            "maximize_weight_decay": dict(maximize=True, weight_decay=0.1),
            "everything": dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, momentum_decay=0.01, maximize=True),
            "everything_decoupled": dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
            # torch takes a tensor lr on both paths (as a number on the foreach one); float64: torch's single-tensor
            # path computes its step sizes in the tensor's dtype, ours in Python floats
            "tensor_lr": dict(lr=torch.tensor(0.01, dtype=torch.float64)),
        },
        typical="everything",
        # torch's order of operations is kept on each path (single: √(v / (1 - β2^t)), foreach: √v / √(1 - β2^t))
        exact_cases=("everything", "everything_decoupled"),
        float32=("everything", EXACT),
        device_cases=("everything",),
        round_trip_cases=("weight_decay", "everything", "everything_decoupled"),
        state_keys=(("default", frozenset({"step", "mu_product", "exp_avg", "exp_avg_sq"})),),
        sparse_refused="NAdam does not support sparse gradients",
        newer_keys=dict(maximize=False, foreach=None, capturable=False, differentiable=False,
                        decoupled_weight_decay=False),
        invalid=(
            ("negative_lr", dict(lr=-1e-3), "Invalid learning rate: -0.001"),
            ("lr_of_two_elements", dict(lr=torch.tensor([0.1, 0.2])), "Tensor lr must be 1-element"),
            ("negative_eps", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
            ("beta1_one", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
            ("beta2_negative", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
            ("negative_weight_decay", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
            ("negative_momentum_decay", dict(momentum_decay=-0.004), "Invalid momentum_decay value: -0.004"),
        ),
        unimplemented=("capturable", "differentiable"),
        functional_inputs=_nadam_inputs,
    ),
]
BY_NAME = {info.name: info for info in OPTIMIZERS}
