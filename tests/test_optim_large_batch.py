"""LARS and LAMB against their papers' algorithms written out per tensor (float64, 1e-10): two param
groups (one without weight decay), an lr changed at every step, a parameter without a gradient, a
weight at zero, the exclusion of 1-D tensors on and off; then an exact resume and the compiled update."""

import functools
import io
import math

import pytest
import torch
from torch import nn

import netopt.optim as netopt_optim
from tests.test_optim import STEPS, assert_close, batch, make_net, take_step
from tests.test_optim_compile import fresh_dynamo, run  # noqa: F401 (fresh_dynamo: a fixture)

LR = {"LARS": 0.5, "LAMB": 0.01}


def zero_bias_net() -> nn.Module:
    """The parity net with its output bias at zero, where the trust ratio falls back to 1."""
    net = make_net()
    with torch.no_grad():
        net.out.bias.zero_()
    return net


def groups(net: nn.Module, lr: float, second: dict) -> list[dict]:
    """The hidden layer and the frozen parameter in one group; the output layer, at half the lr and
    with the options ``second``, in the other."""
    return [
        {"params": [*net.hidden.parameters(), net.frozen], "lr": lr},
        {"params": list(net.out.parameters()), "lr": lr / 2, **second},
    ]


def group_options(defaults: dict, kwargs: dict, second: dict) -> list[tuple[list[str], dict]]:
    """For the reference: the names of each group's parameters (of ``net.named_parameters()``) and
    the group's settings."""
    first = {**defaults, **kwargs}
    return [
        (["hidden.weight", "hidden.bias", "frozen"], first),
        (["out.weight", "out.bias"], {**first, **second}),
    ]


def trust_ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor | float:
    return numerator / denominator if numerator > 0 and denominator > 0 else 1.0


def lars_step(p: torch.Tensor, state: dict, lr: float, options: dict) -> None:
    """Algorithm 1 of You, Gitman & Ginsburg 2017 for one layer (lr: the global rate gamma_t)."""
    g = -p.grad if options["maximize"] else p.grad
    adapted = p.ndim > 1 or not options["exclude_1d"]
    beta = options["weight_decay"] if adapted else 0.0
    local_lr = 1.0
    if adapted:
        local_lr = trust_ratio(options["trust_coefficient"] * p.norm(), g.norm() + beta * p.norm())
    v = state.setdefault("v", torch.zeros_like(p))
    v.mul_(options["momentum"]).add_(lr * local_lr * (g + beta * p))
    p.sub_(v)


def lamb_step(p: torch.Tensor, state: dict, lr: float, options: dict) -> None:
    """Algorithm 2 of You et al. 2020 for one layer, phi(z) = min(max(z, low), high)."""
    g = -p.grad if options["maximize"] else p.grad
    (beta1, beta2), eps, (low, high) = options["betas"], options["eps"], options["norm_bounds"]
    m, v = state.setdefault("m", torch.zeros_like(p)), state.setdefault("v", torch.zeros_like(p))
    t = state["t"] = state.get("t", 0) + 1
    m.mul_(beta1).add_((1 - beta1) * g)
    v.mul_(beta2).add_((1 - beta2) * g * g)
    r = (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps)
    ratio = 1.0
    if p.ndim > 1 or not options["exclude_1d"]:
        r = r + options["weight_decay"] * p
        ratio = trust_ratio(p.norm().clamp(low, high), r.norm())
    p.sub_(lr * ratio * r)


DEFAULTS = {
    "LARS": dict(momentum=0.9, weight_decay=0.0, trust_coefficient=0.001, exclude_1d=True, maximize=False),
    "LAMB": dict(
        betas=(0.9, 0.999),
        eps=1e-6,
        weight_decay=0.01,
        norm_bounds=(0.0, 10.0),
        exclude_1d=True,
        maximize=False,
    ),
}
REFERENCE = {"LARS": lars_step, "LAMB": lamb_step}
NO_DECAY = {"weight_decay": 0.0}
CASES = [
    ("LARS", {"trust_coefficient": 0.02}, NO_DECAY),
    ("LARS", {"trust_coefficient": 0.02, "weight_decay": 0.01}, {"weight_decay": 0.05, "exclude_1d": False}),
    ("LARS", {"trust_coefficient": 0.05, "weight_decay": 0.1, "exclude_1d": False, "maximize": True}, {}),
    ("LARS", {"trust_coefficient": 0.02, "momentum": 0.0, "weight_decay": 0.01, "foreach": False}, NO_DECAY),
    ("LAMB", {}, NO_DECAY),
    ("LAMB", {"weight_decay": 0.1, "norm_bounds": (0.0, math.inf)}, {"exclude_1d": False}),
    ("LAMB", {"norm_bounds": (0.5, 1.2), "exclude_1d": False, "betas": (0.8, 0.99)}, {"weight_decay": 0.0}),
    ("LAMB", {"weight_decay": 0.05, "eps": 1e-8, "maximize": True, "foreach": False}, {}),
]


def case_id(case: tuple[str, dict, dict]) -> str:
    name, kwargs, second = case
    return "-".join([name, *kwargs, *(f"out.{k}" for k in second)])


def reference_run(name: str, kwargs: dict, second: dict) -> dict[str, torch.Tensor]:
    net, lr = zero_bias_net(), LR[name]
    options = {
        n: settings for names, settings in group_options(DEFAULTS[name], kwargs, second) for n in names
    }
    shares = {
        n: share
        for (names, _), share in zip(group_options({}, {}, {}), (1.0, 0.5), strict=True)
        for n in names
    }
    states: dict[str, dict] = {n: {} for n in options}
    for t in range(STEPS):
        x, y = batch(t)
        net.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        with torch.no_grad():
            for n, p in net.named_parameters():
                if p.grad is not None:
                    step_lr = lr * shares[n] * (1 + 0.5 * math.sin(t))
                    REFERENCE[name](p, states[n], step_lr, options[n])
    return dict(net.named_parameters())


def optimizer_run(
    name: str, kwargs: dict, second: dict, stop_at: int | None = None
) -> dict[str, torch.Tensor]:
    """netopt's optimizer on the same steps; at ``stop_at`` its state goes through torch.save and a
    weights-only load into a new optimizer."""
    net, lr = zero_bias_net(), LR[name]

    def build() -> torch.optim.Optimizer:
        return getattr(netopt_optim, name)(groups(net, lr, second), **kwargs)

    optimizer = build()
    for t in range(STEPS):
        if t == stop_at:
            buffer = io.BytesIO()
            torch.save(optimizer.state_dict(), buffer)
            buffer.seek(0)
            optimizer = build()
            optimizer.load_state_dict(torch.load(buffer, weights_only=True))
        take_step(net, optimizer, t, lr)
    return dict(net.named_parameters())


@pytest.mark.parametrize(("name", "kwargs", "second"), CASES, ids=map(case_id, CASES))
def test_matches_the_papers_algorithm(name: str, kwargs: dict, second: dict) -> None:
    ours, reference = (
        optimizer_run(name, kwargs, second, stop_at=STEPS // 2),
        reference_run(name, kwargs, second),
    )
    assert_close(list(ours.values()), list(reference.values()))
    initial = dict(zero_bias_net().named_parameters())
    assert all(not torch.equal(ours[n], initial[n]) for n in ["hidden.weight", "out.bias"])  # they moved


@pytest.mark.parametrize("name", ["LARS", "LAMB"])
def test_a_resumed_run_is_the_one_that_never_stopped(name: str) -> None:
    kwargs, second = CASES[1][1] if name == "LARS" else CASES[5][1], NO_DECAY
    straight, resumed = optimizer_run(name, kwargs, second), optimizer_run(name, kwargs, second, stop_at=17)
    assert all(torch.equal(straight[n], resumed[n]) for n in straight)


def test_the_exclusion_leaves_the_biases_to_the_plain_step() -> None:
    """Without the exclusion the biases take the trust ratio and move otherwise; the parameter
    without a gradient never moves."""
    excluded = optimizer_run("LAMB", {}, NO_DECAY)
    included = optimizer_run("LAMB", {"exclude_1d": False}, NO_DECAY)
    assert not torch.equal(excluded["out.bias"], included["out.bias"])
    assert torch.equal(excluded["frozen"], torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("LARS", {"trust_coefficient": 0.0}, "trust_coefficient=0.0: must be finite and > 0"),
        ("LARS", {"momentum": 1.0}, r"momentum=1.0: must be in \[0, 1\)"),
        ("LAMB", {"norm_bounds": (2.0, 1.0)}, r"norm_bounds=\[2.0, 1.0\]: must be \[low, high\]"),
        ("LAMB", {"norm_bounds": (1.0,)}, r"norm_bounds=\[1.0\]: must be a list of 2 values"),
        ("LAMB", {"betas": (0.9, 1.0)}, r"betas\[1\]=1.0: must be in \[0, 1\)"),
    ],
)
def test_bad_hyperparameters_name_the_key(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        getattr(netopt_optim, name)(make_net().parameters(), **kwargs)


@pytest.mark.parametrize("name", ["LARS", "LAMB"])
def test_the_compiled_update_is_one_graph_and_the_eager_one(
    fresh_dynamo,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    """Traced with dynamo's eager backend (no code generation): built once, float32 parity."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))

    def compiled(*args: object, **kwargs: object) -> torch.optim.Optimizer:
        optimizer = getattr(netopt_optim, name)(*args, weight_decay=0.01, **kwargs)
        netopt_optim.compile_update(optimizer)
        return optimizer

    compiled.__name__ = name
    graphs: list[int] = []
    params, optimizer = run(functools.partial(compiled), graphs)
    assert not optimizer.compiled_update.failed
    assert graphs[0] == 0 and 1 <= graphs[1] <= 2 and graphs[-1] == graphs[1]
    eager, _ = run(functools.partial(getattr(netopt_optim, name), weight_decay=0.01))
    for a, b in zip(params, eager, strict=True):
        torch.testing.assert_close(a, b)
