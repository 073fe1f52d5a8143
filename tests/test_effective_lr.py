"""Per-element effective learning rates of the adaptive optimizers: each matches its update in
float64 (to 1e-9 relative, the rounding of theta_{t+1} - theta_t), Adagrad's never increases,
RMSprop's does, and the effective_lr probe logs their median and 90th percentile per layer."""

import math

import pytest
import torch
from torch import nn

import netopt.optim as netopt_optim
from netopt.models.mlp import MLP
from netopt.nn.norm import Normalization
from netopt.probes import ProbeContext
from netopt.probes.effective_lr import EffectiveLR
from tests.test_diagnostics import Writer
from tests.test_optim import batch, make_net

STEPS = 15
RTOL, ATOL = 1e-9, 1e-15


def training(optimizer_cls: type, steps: int = STEPS, **kwargs: object):
    """Train the test net with a constant lr; after each step yield (optimizer, parameters before the
    step, their gradients)."""
    net = make_net()
    params = [p for p in net.parameters() if p is not net.frozen]
    optimizer = optimizer_cls(params, **kwargs)
    for t in range(steps):
        x, y = batch(t)
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        before = [p.detach().clone() for p in params]
        optimizer.step()
        yield optimizer, params, before, [p.grad for p in params]


def assert_step(after: torch.Tensor, before: torch.Tensor, expected_step: torch.Tensor) -> None:
    torch.testing.assert_close(after - before, expected_step, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("Adagrad", {"lr": 0.05, "lr_decay": 0.01}),
        ("RMSprop", {"lr": 0.003}),
        ("RMSprop", {"lr": 0.003, "centered": True}),
    ],
)
def test_the_rate_times_the_gradient_is_the_step(name: str, kwargs: dict) -> None:
    for optimizer, params, before, grads in training(getattr(netopt_optim, name), **kwargs):
        for p, p0, g in zip(params, before, grads, strict=True):
            assert_step(p.detach(), p0, -optimizer.effective_lr(p) * g)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("Adam", {"lr": 0.005}),
        ("Adam", {"lr": 0.005, "amsgrad": True, "weight_decay": 0.05}),
        ("AdamW", {"lr": 0.005, "weight_decay": 0.1}),
        ("RAdam", {"lr": 0.005}),  # 15 steps: the plain phase (t <= 5), then the rectified one
    ],
)
def test_the_rate_times_the_corrected_moment_is_the_step(name: str, kwargs: dict) -> None:
    beta1 = 0.9
    decay = kwargs.get("weight_decay", 0.0) if name == "AdamW" else 0.0
    for optimizer, params, before, _ in training(getattr(netopt_optim, name), **kwargs):
        for p, p0 in zip(params, before, strict=True):
            state = optimizer.state[p]
            corrected = state["exp_avg"] / (1 - beta1 ** state["step"].item())
            decayed = (1 - kwargs["lr"] * decay) * p0  # AdamW shrinks theta first
            assert_step(p.detach(), decayed, -optimizer.effective_lr(p) * corrected)


def test_nadam_rate_times_its_nesterov_moment_is_the_step() -> None:
    beta1, psi = 0.9, 4e-3
    for optimizer, params, before, grads in training(netopt_optim.NAdam, lr=0.005):
        for p, p0, g in zip(params, before, grads, strict=True):
            state = optimizer.state[p]
            t, product = state["step"].item(), state["mu_product"].item()
            mu, mu_next = (beta1 * (1 - 0.5 * 0.96 ** (k * psi)) for k in (t, t + 1))
            moment = (1 - mu) / (1 - product) * g + mu_next / (1 - product * mu_next) * state["exp_avg"]
            assert_step(p.detach(), p0, -optimizer.effective_lr(p) * moment)


def test_adadelta_rate_is_the_next_step_before_g_enters_g_squared() -> None:
    """AdaDelta's rate lr sqrt(X + eps) / sqrt(G + eps) uses the accumulators after a step: the next
    update is -rate * sqrt((G + eps) / (G' + eps)) * g', G' the accumulator that g' updated."""
    eps, previous = 1e-6, None
    for optimizer, params, before, grads in training(netopt_optim.Adadelta, lr=1.0, eps=eps):
        if previous is not None:
            for p, p0, g, (rate, square_avg) in zip(params, before, grads, previous, strict=True):
                refresh = ((square_avg + eps) / (optimizer.state[p]["square_avg"] + eps)).sqrt()
                assert_step(p.detach(), p0, -rate * refresh * g)
        previous = [(optimizer.effective_lr(p), optimizer.state[p]["square_avg"].clone()) for p in params]


def test_adagrad_rate_never_increases_and_rmsprop_rate_does() -> None:
    """Adagrad divides by the sum of all squared gradients, which only grows; RMSprop by a decaying
    average, which falls when the gradients shrink (every element, every step, constant lr)."""
    for name, lr in (("Adagrad", 0.05), ("RMSprop", 0.003)):
        previous, increased = None, False
        for optimizer, params, _, _ in training(getattr(netopt_optim, name), steps=40, lr=lr):
            rates = torch.cat([optimizer.effective_lr(p).flatten() for p in params])
            if previous is not None:
                increased |= bool((rates > previous).any())
                if name == "Adagrad":
                    assert (rates <= previous).all()
            previous = rates
        assert increased == (name == "RMSprop")


@pytest.mark.parametrize("name", ["SGD", "Lion", "Adam", "Adagrad"])
def test_no_rate_before_the_first_step_or_without_one(name: str) -> None:
    net = make_net()
    optimizer = getattr(netopt_optim, name)(net.parameters())
    assert optimizer.effective_lr(net.hidden.weight) is None
    nn.functional.cross_entropy(net(batch(0)[0]), batch(0)[1]).backward()
    optimizer.step()
    assert (optimizer.effective_lr(net.hidden.weight) is None) == (name in ("SGD", "Lion"))
    assert optimizer.effective_lr(net.frozen) is None  # no gradient yet: no state


def test_sam_reports_its_base_optimizer_rates() -> None:
    net = make_net()
    sam = netopt_optim.SAM(net.parameters(), base=netopt_optim.Adam)
    x, y = batch(0)

    def closure() -> torch.Tensor:
        sam.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        return loss

    sam.step(closure)
    assert torch.equal(sam.effective_lr(net.hidden.weight), sam.base.effective_lr(net.hidden.weight))


@pytest.mark.parametrize("name", ["Adam", "SGD"])
def test_the_probe_logs_the_median_and_90th_percentile_rate_of_each_weight(name: str) -> None:
    torch.manual_seed(0)
    model = MLP((1, 8, 8), 10, Normalization(), dropout=0.0, depth=2, width=16)
    optimizer = getattr(netopt_optim, name)(model.parameters(), lr=0.01)
    writer = Writer()
    probe = EffectiveLR(ProbeContext(model, optimizer, recorder=writer), every=2)
    for t in range(3):  # steps 0, 1, 2: logged at 0 and 2
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(torch.randn(32, 1, 8, 8)), torch.randint(0, 10, (32,))).backward()
        optimizer.step()
        probe.on_step(t)
    logged = writer.logged.get(2, {})  # SGD: nothing logged
    layers = [(f"{n}.Linear", m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert len(layers) == 3
    for layer, module in layers:
        keys = (f"optim/effective_lr_median/{layer}", f"optim/effective_lr_p90/{layer}")
        if name == "SGD":
            assert not set(keys) & set(logged)
            continue
        rates = optimizer.effective_lr(module.weight).flatten()
        expected = torch.quantile(rates, torch.tensor([0.5, 0.9]))
        assert [logged[k] for k in keys] == pytest.approx(expected.tolist(), rel=1e-6)
        assert math.isfinite(logged[keys[0]]) and logged[keys[0]] <= logged[keys[1]]
