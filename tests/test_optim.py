"""Parity of netopt.optim with torch.optim: float64 trajectories of 60 steps agree to 1e-10.

Each run has two param groups (their own lr / weight decay), a frozen parameter whose grad stays
None, an lr changed at every step as a schedule would, steps taken through a closure, and a
state_dict save and reload mid-trajectory (netopt -> netopt, then netopt -> torch).
"""

import copy
import functools
import inspect
import math

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

import netopt.optim as netopt_optim

STEPS = 60
RTOL = 1e-10

CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"momentum": 0.5, "dampening": 0.3, "weight_decay": 0.1, "maximize": True}),
    ("SGD", {"momentum": 0.9, "foreach": False}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.01, "weight_decay": 0.05, "initial_accumulator_value": 0.1}),
    ("Adagrad", {"maximize": True, "eps": 1e-6}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("RMSprop", {"momentum": 0.5, "alpha": 0.9, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"rho": 0.8, "weight_decay": 0.01, "eps": 1e-4}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"weight_decay": 0.05, "betas": (0.8, 0.99)}),
    ("Adam", {"amsgrad": True, "maximize": True, "weight_decay": 0.01, "foreach": False}),
    ("AdamW", {}),
    ("AdamW", {"amsgrad": True, "weight_decay": 0.1}),
    ("NAdam", {}),
    ("NAdam", {"weight_decay": 0.01, "momentum_decay": 0.01}),
    ("NAdam", {"weight_decay": 0.01, "decoupled_weight_decay": True, "maximize": True}),
    ("RAdam", {}),
    ("RAdam", {"weight_decay": 0.05, "betas": (0.8, 0.99)}),
    ("RAdam", {"weight_decay": 0.05, "decoupled_weight_decay": True, "maximize": True}),
    ("RAdam", {"weight_decay": 0.01, "decoupled_weight_decay": True, "foreach": False}),
]
LR = {
    "SGD": 0.05,
    "Adagrad": 0.05,
    "RMSprop": 0.003,
    "Adadelta": 1.0,
    "Adam": 0.005,
    "AdamW": 0.005,
    "NAdam": 0.005,
    "RAdam": 0.005,
}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(6, 8)
        self.out = nn.Linear(8, 3)
        self.frozen = nn.Parameter(torch.ones(4))  # not in forward: grad None unless a penalty uses it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))


def make_net() -> Net:
    torch.manual_seed(0)
    return Net().double()


def param_groups(net: Net, lr: float) -> list[dict]:
    return [
        {"params": [*net.hidden.parameters(), net.frozen], "lr": lr},
        {"params": list(net.out.parameters()), "lr": lr / 2, "weight_decay": 0.0},
    ]


def batch(t: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(t)
    x = torch.randn(16, 6, dtype=torch.float64, generator=generator)
    return x, torch.randint(0, 3, (16,), generator=generator)


def set_lrs(optimizer: torch.optim.Optimizer, t: int, base_lr: float) -> None:
    """A schedule changing lr at every step, keeping the groups' ratio."""
    for group, share in zip(optimizer.param_groups, (1.0, 0.5), strict=True):
        group["lr"] = base_lr * share * (1 + 0.5 * math.sin(t))


def take_step(net: Net, optimizer: torch.optim.Optimizer, t: int, base_lr: float) -> float:
    set_lrs(optimizer, t, base_lr)
    x, y = batch(t)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        return loss

    return optimizer.step(closure).item()


def assert_close(ours: list[torch.Tensor], theirs: list[torch.Tensor]) -> None:
    for a, b in zip(ours, theirs, strict=True):
        assert torch.linalg.vector_norm(a - b) <= RTOL * torch.linalg.vector_norm(b) + 1e-300, (a, b)


def rebuild(optimizer_cls: type, net: Net, lr: float, kwargs: dict, state: dict) -> torch.optim.Optimizer:
    optimizer = optimizer_cls(param_groups(net, lr), **kwargs)
    optimizer.load_state_dict(copy.deepcopy(state))
    return optimizer


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{'-'.join(k) or 'default'}" for n, k in CASES])
def test_trajectory_matches_torch(name: str, kwargs: dict) -> None:
    ours_cls, torch_cls, lr = getattr(netopt_optim, name), getattr(torch.optim, name), LR[name]
    net, reference = make_net(), make_net()
    ours, theirs = ours_cls(param_groups(net, lr), **kwargs), torch_cls(param_groups(reference, lr), **kwargs)
    for t in range(STEPS):
        if t == STEPS // 3:  # stop and reload: netopt from its own state_dict
            ours = rebuild(ours_cls, net, lr, kwargs, ours.state_dict())
        if t == 2 * STEPS // 3:  # netopt's state_dict drives torch's optimizer, and back
            theirs = rebuild(torch_cls, reference, lr, kwargs, ours.state_dict())
            ours = rebuild(ours_cls, net, lr, kwargs, theirs.state_dict())
        loss, expected = take_step(net, ours, t, lr), take_step(reference, theirs, t, lr)
        assert loss == pytest.approx(expected, rel=RTOL)
    assert_close(list(net.parameters()), list(reference.parameters()))
    assert net.frozen.grad is None and torch.equal(net.frozen, torch.ones(4, dtype=torch.float64))
    ours_state, theirs_state = ours.state_dict()["state"], theirs.state_dict()["state"]
    assert ours_state.keys() - {2} == theirs_state.keys() - {2}  # 2: the frozen parameter
    for index, state in theirs_state.items():
        assert state.keys() == ours_state[index].keys()
        assert_close(
            [torch.as_tensor(v) for v in ours_state[index].values() if v is not None],
            [torch.as_tensor(v) for v in state.values() if v is not None],
        )


def test_sgd_weight_decay_is_l2_penalty() -> None:
    """Chapter: for SGD, weight decay lambda equals the penalty lambda/2 * ||theta||^2 on the loss."""
    decay = 0.1
    net, penalized = make_net(), make_net()
    with_decay = netopt_optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=decay)
    plain = netopt_optim.SGD(penalized.parameters(), lr=0.1, momentum=0.9)
    for t in range(STEPS):
        x, y = batch(t)
        for model, optimizer, l2 in ((net, with_decay, 0.0), (penalized, plain, decay)):
            optimizer.zero_grad()
            penalty = sum(p.pow(2).sum() for p in model.parameters())
            (nn.functional.cross_entropy(model(x), y) + l2 / 2 * penalty).backward()
            optimizer.step()
    assert_close(
        [p for p in net.parameters() if p is not net.frozen],
        [p for p in penalized.parameters() if p is not penalized.frozen],
    )


def train_adam(optimizer_cls: type, **kwargs: object) -> list[torch.Tensor]:
    net = make_net()
    optimizer = optimizer_cls(param_groups(net, 0.01), **kwargs)
    for t in range(STEPS):
        take_step(net, optimizer, t, 0.01)
    return list(net.parameters())


def test_adam_coupled_decay_differs_from_adamw() -> None:
    """Chapter: for adaptive methods L2 (coupled decay) and weight decay (decoupled) differ."""
    coupled = train_adam(netopt_optim.Adam, weight_decay=0.1)
    decoupled = train_adam(netopt_optim.AdamW, weight_decay=0.1)
    assert_close(decoupled, train_adam(netopt_optim.Adam, weight_decay=0.1, decoupled_weight_decay=True))
    gap = sum(torch.linalg.vector_norm(a - b) for a, b in zip(coupled, decoupled, strict=True))
    assert gap > 1e-3


def test_lion_matches_its_formula() -> None:
    lr, (beta1, beta2), decay = 0.01, (0.9, 0.99), 0.1
    net, reference = make_net(), make_net()
    optimizer = netopt_optim.Lion(param_groups(net, lr), betas=(beta1, beta2), weight_decay=decay)
    layers = [(list(reference.hidden.parameters()), 1.0, decay), (list(reference.out.parameters()), 0.5, 0.0)]
    momenta = [torch.zeros_like(p) for params, _, _ in layers for p in params]
    for t in range(STEPS):
        take_step(net, optimizer, t, lr)
        x, y = batch(t)
        reference.zero_grad()
        nn.functional.cross_entropy(reference(x), y).backward()
        step_lr = lr * (1 + 0.5 * math.sin(t))
        with torch.no_grad():
            updates = [
                (p, step_lr * share, group_decay) for params, share, group_decay in layers for p in params
            ]
            for (p, p_lr, p_decay), m in zip(updates, momenta, strict=True):
                direction = torch.sign(torch.lerp(m, p.grad, 1 - beta1))  # b1 * m + (1 - b1) * g
                p.mul_(1 - p_lr * p_decay).sub_(p_lr * direction)
                m.lerp_(p.grad, 1 - beta2)
    assert_close(list(net.parameters()), list(reference.parameters()))


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("SGD", {"lr": -1.0}, "lr=-1.0: must be finite and >= 0"),
        ("SGD", {"lr": float("nan")}, "lr=nan: must be finite and >= 0"),
        ("SGD", {"momentum": 1.5}, r"momentum=1.5: must be in \[0, 1\)"),
        ("SGD", {"dampening": -0.5}, r"dampening=-0.5: must be in \[0, 1\]"),
        ("SGD", {"nesterov": True}, "nesterov=True: must be used with momentum > 0"),
        ("Adam", {"betas": (0.9, 1.0)}, r"betas\[1\]=1.0: must be in \[0, 1\)"),
        ("RMSprop", {"alpha": 1.5}, "alpha=1.5"),
        ("RMSprop", {"capturable": True}, "capturable=True: must be false"),
    ],
)
def test_bad_hyperparameters_name_the_key(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        getattr(netopt_optim, name)(make_net().parameters(), **kwargs)


@pytest.mark.parametrize("name", sorted(LR))
def test_the_signature_is_torchs(name: str) -> None:
    """A drop-in: every parameter is one of torch's namesake's, with its default and kind, and the
    positional ones are torch's first ones in torch's order (so a positional call means the same)."""
    ours = inspect.signature(getattr(netopt_optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    for key, parameter in ours.items():
        assert key in theirs, f"{name}({key}=...): not a parameter of torch.optim.{name}"
        assert (parameter.default, parameter.kind) == (theirs[key].default, theirs[key].kind), key
    positional = [k for k, p in ours.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert (
        positional == [k for k, p in theirs.items() if p.kind is p.POSITIONAL_OR_KEYWORD][: len(positional)]
    )
    keyword_only = [k for k, p in ours.items() if p.kind is p.KEYWORD_ONLY]
    assert keyword_only == [k for k in theirs if k in keyword_only]  # torch's order


def test_param_groups_hold_only_hyperparameters() -> None:
    """The features of every optimizer (gradient noise, the compiled update) live outside it."""
    for name in [*LR, "Lion"]:
        group = getattr(netopt_optim, name)(make_net().parameters()).param_groups[0]
        assert not {"grad_noise", "grad_noise_decay", "compile"} & set(group), name
    lion = inspect.signature(netopt_optim.Lion).parameters
    assert list(lion) == ["params", "lr", "betas", "weight_decay", "foreach", "maximize"]


def sam_reference_step(
    net: Net, optimizer: torch.optim.Optimizer, t: int, rho: float, adaptive: bool
) -> None:
    """SAM written out: gradient at theta, perturbation e, gradient at theta + e, base step at theta."""
    x, y = batch(t)
    params = [p for p in net.parameters() if p is not net.frozen]
    optimizer.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    with torch.no_grad():
        scaled = [p.grad * p.abs() if adaptive else p.grad for p in params]
        norm = torch.sqrt(sum(s.pow(2).sum() for s in scaled))
        saved = [p.clone() for p in params]
        for p, s in zip(params, scaled, strict=True):
            p.add_(rho * (p.abs() if adaptive else 1) * s / (norm + 1e-12))
    optimizer.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    with torch.no_grad():
        for p, original in zip(params, saved, strict=True):
            p.copy_(original)
    optimizer.step()


@pytest.mark.parametrize("adaptive", [False, True])
def test_sam_matches_its_formula_around_torch_adam(adaptive: bool) -> None:
    lr, rho = 0.01, 0.1
    net, reference = make_net(), make_net()

    def build(state: dict | None = None) -> netopt_optim.SAM:
        base = functools.partial(netopt_optim.Adam, amsgrad=True)
        sam = netopt_optim.SAM(param_groups(net, lr), base=base, rho=rho, adaptive=adaptive)
        if state is not None:
            sam.load_state_dict(copy.deepcopy(state))
        return sam

    sam, adam = build(), torch.optim.Adam(param_groups(reference, lr), amsgrad=True)
    for t in range(STEPS):
        if t == STEPS // 2:  # stop and reload mid-trajectory; the state is Adam's
            sam = build(sam.state_dict())
            adam.load_state_dict(copy.deepcopy(sam.state_dict()))
        take_step(net, sam, t, lr)
        set_lrs(adam, t, lr)
        sam_reference_step(reference, adam, t, rho, adaptive)
    assert sam.base.param_groups is sam.param_groups
    assert_close(list(net.parameters()), list(reference.parameters()))


def test_sam_needs_a_closure() -> None:
    sam = netopt_optim.SAM(make_net().parameters(), base=netopt_optim.SGD)
    with pytest.raises(RuntimeError, match="closure"):
        sam.step()


def hook_calls(optimizer: torch.optim.Optimizer, scope: str) -> list[str]:
    """Step once with a pre and a post hook registered on ``optimizer`` or on all optimizers
    (``scope``), then once more without; the calls the hooks saw. The pre hook replaces the
    closure through the (args, kwargs) it returns, as torch allows."""
    calls: list[str] = []
    net = make_net()

    def closure() -> torch.Tensor:
        calls.append("closure")
        return torch.tensor(0.0)

    def pre(opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> tuple:
        calls.append("pre")
        return args, {"closure": closure}

    def post(*_: object) -> None:
        calls.append("post")

    if scope == "instance":
        handles = [optimizer.register_step_pre_hook(pre), optimizer.register_step_post_hook(post)]
    else:
        handles = [register_optimizer_step_pre_hook(pre), register_optimizer_step_post_hook(post)]
    try:
        nn.functional.cross_entropy(net(batch(0)[0]), batch(0)[1]).backward()
        optimizer.step()
    finally:
        for handle in handles:
            handle.remove()
    optimizer.step()  # no hooks left: nothing more is called
    return calls


@pytest.mark.parametrize("scope", ["instance", "global"])
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_step_hooks_run_as_in_torch(name: str, scope: str) -> None:
    ours = hook_calls(getattr(netopt_optim, name)(make_net().parameters()), scope)
    assert ours == hook_calls(getattr(torch.optim, name)(make_net().parameters()), scope)
    assert ours == ["pre", "closure", "post"]


def test_profiler_records_step_and_zero_grad_as_in_torch() -> None:
    net = make_net()
    optimizer = netopt_optim.SGD(net.parameters(), lr=0.1)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        nn.functional.cross_entropy(net(batch(0)[0]), batch(0)[1]).backward()
        optimizer.step()
        optimizer.zero_grad()
    names = {event.name for event in profiler.events()}
    assert {"Optimizer.step#SGD.step", "Optimizer.zero_grad#SGD.zero_grad"} <= names


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_matches_torch(set_to_none: bool) -> None:
    grads = []
    for optimizer_class in (netopt_optim.SGD, torch.optim.SGD):
        net = make_net()
        optimizer = optimizer_class(net.parameters(), lr=0.1)
        nn.functional.cross_entropy(net(batch(0)[0]), batch(0)[1]).backward()
        optimizer.zero_grad(set_to_none=set_to_none)
        grads.append([None if p.grad is None else p.grad.clone() for p in net.parameters()])
    assert len(grads[0]) == len(grads[1])
    for ours, theirs in zip(*grads, strict=True):
        assert (ours is None) == (theirs is None)
        if ours is not None:
            assert torch.equal(ours, theirs) and not ours.any()


def test_the_private_hook_registries_netopt_reads_are_the_ones_torch_fills() -> None:
    """netopt.optim.hooks reads torch's private registries of global step hooks; if torch renames or
    stops filling them, netopt would skip hooks silently, so this fails loudly instead."""
    from netopt.optim.hooks import GLOBAL_STEP_HOOKS, hooked

    optimizer = netopt_optim.SGD(make_net().parameters())
    assert not hooked(optimizer)
    for register, registry in zip(
        (register_optimizer_step_pre_hook, register_optimizer_step_post_hook), GLOBAL_STEP_HOOKS, strict=True
    ):
        handle = register(lambda *_: None)
        assert len(registry) == 1 and hooked(optimizer)
        handle.remove()
    assert not any(GLOBAL_STEP_HOOKS) and not hooked(optimizer)
