"""Gradient noise (Neelakantan et al. 2015), a gradient transform in front of any optimizer
(``netopt.optim.with_transforms``, the ``grad_noise`` group): its statistics, seeding, save/restore,
and that switched off it changes nothing."""

import copy
import functools
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import netopt.optim as netopt_optim
from netopt.errors import ConfigValueError
from netopt.optim import GradientNoise, with_transforms
from tests.helpers import train
from tests.test_optim import batch, make_net, param_groups, take_step

ETA, GAMMA = 0.3, 0.55
OPTIMIZERS = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "NAdam", "RAdam", "Lion"]
FEW_STEPS = 12


def with_noise(
    optimizer: torch.optim.Optimizer, eta: float = 0.0, gamma: float = 0.55
) -> torch.optim.Optimizer:
    """``optimizer`` stepping on g + N(0, eta / (1 + t)^gamma), as the runner builds it."""
    return with_transforms(optimizer, grad_noise=GradientNoise(eta, gamma))


def zero_grad_step(optimizer: torch.optim.Optimizer, params: list[torch.Tensor]) -> None:
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()


def test_noise_has_mean_zero_and_the_decaying_variance() -> None:
    """With g = 0 and SGD at lr = 1 a step moves theta by -n: per step, over N = 200,000 elements, the
    sample mean is within 5 standard errors of 0 (5 sigma_t / sqrt(N)) and the sample variance within
    5 standard errors (5 sqrt(2 / N) = 1.6%) of sigma_t^2 = eta / (1 + t)^gamma; t = 0 ... 19 covers a
    decay to 0.19 of the first variance."""
    n = 200_000
    params = [torch.zeros(n // 2, dtype=torch.float64), torch.zeros(n // 4, 2, dtype=torch.float64)]
    optimizer = with_noise(netopt_optim.SGD(params, lr=1.0), ETA, GAMMA)
    for t in range(20):
        before = torch.cat([p.flatten() for p in params])
        zero_grad_step(optimizer, params)
        noise = before - torch.cat([p.flatten() for p in params])
        variance = ETA / (1 + t) ** GAMMA
        assert abs(noise.mean().item()) < 5 * math.sqrt(variance / n)
        assert noise.var().item() == pytest.approx(variance, rel=5 * math.sqrt(2 / n))


def test_one_draw_per_device_and_dtype_and_none_when_off(monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[torch.Size] = []
    randn = torch.randn

    def counted(*args: object, **kwargs: object) -> torch.Tensor:
        result = randn(*args, **kwargs)
        draws.append(result.shape)
        return result

    monkeypatch.setattr(torch, "randn", counted)
    params = [torch.zeros(3), torch.zeros(2, 2), torch.zeros(5, dtype=torch.float64), torch.zeros(7)]
    noisy = with_noise(netopt_optim.Adam(params), 0.1)
    zero_grad_step(noisy, params)
    assert sorted(draws) == [torch.Size([5]), torch.Size([14])]
    draws.clear()
    zero_grad_step(with_noise(netopt_optim.Adam(params)), params)
    assert draws == []


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_noise_off_changes_nothing(name: str) -> None:
    """eta = 0 (``grad_noise=none``): ``step`` is the bare update (bit for bit) and draws nothing
    from torch's RNG."""
    net, reference = make_net(), make_net()
    ours = with_noise(getattr(netopt_optim, name)(param_groups(net, 0.01)))
    bare = getattr(netopt_optim, name)(param_groups(reference, 0.01))
    rng = torch.get_rng_state()
    for t in range(FEW_STEPS):
        x, y = batch(t)
        for model in (net, reference):
            model.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
        ours.step()
        with torch.no_grad():
            for group in bare.param_groups:
                for params, grads, states, _ in bare._batches(group):
                    bare._update(group, params, grads, states)
    assert torch.equal(torch.get_rng_state(), rng)
    for a, b in zip(net.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b)


Make = Callable[[Any], torch.optim.Optimizer]


def noisy_run(make: Make, steps: int, seed: int = 0, stop_at: int | None = None) -> list[torch.Tensor]:
    """Train the test net ``steps`` steps with a noisy optimizer built after ``torch.manual_seed(seed)``;
    with ``stop_at`` the optimizer is saved there (through torch.save and a weights-only load) and a
    new one, built under another seed, loads it and carries on."""
    net = make_net()
    torch.manual_seed(seed)
    optimizer = make(param_groups(net, 0.01))
    for t in range(steps):
        if t == stop_at:
            buffer = io.BytesIO()
            torch.save(optimizer.state_dict(), buffer)
            buffer.seek(0)
            torch.manual_seed(seed + 1)
            optimizer = make(param_groups(net, 0.01))
            optimizer.load_state_dict(torch.load(buffer, weights_only=True))
        x, y = batch(t)
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    return [p.detach().clone() for p in net.parameters()]


def noisy(make: Make, eta: float, gamma: float = 0.55) -> Make:
    """Build ``make(params)`` with gradient noise in front of it."""
    return lambda params: with_noise(make(params), eta, gamma)


NOISY = {
    "SGD": noisy(functools.partial(netopt_optim.SGD, momentum=0.9), 0.01),
    "Adam": noisy(netopt_optim.Adam, 0.01, gamma=0.3),
    "SAM": noisy(functools.partial(netopt_optim.SAM, base=netopt_optim.SGD, rho=0.05), 0.01),
}
WITHOUT = {
    "SGD": noisy(functools.partial(netopt_optim.SGD, momentum=0.9), 0.0),
    "Adam": noisy(netopt_optim.Adam, 0.0, gamma=0.3),
}


def sam_run(steps: int, stop_at: int | None = None) -> tuple[list[torch.Tensor], netopt_optim.SAM]:
    """:func:`noisy_run` for SAM, stepping through a closure (and a changing lr); also returns the
    optimizer."""
    net = make_net()
    optimizer = NOISY["SAM"](param_groups(net, 0.01))
    for t in range(steps):
        if t == stop_at:
            state = copy.deepcopy(optimizer.state_dict())
            torch.manual_seed(1)
            optimizer = NOISY["SAM"](param_groups(net, 0.01))
            optimizer.load_state_dict(state)
        take_step(net, optimizer, t, 0.01)
    return [p.detach().clone() for p in net.parameters()], optimizer


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_a_seeded_run_is_reproducible_and_the_noise_acts(name: str) -> None:
    first, again = noisy_run(NOISY[name], FEW_STEPS), noisy_run(NOISY[name], FEW_STEPS)
    other_seed = noisy_run(NOISY[name], FEW_STEPS, seed=5)
    without = noisy_run(WITHOUT[name], FEW_STEPS)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other_seed, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, without, strict=True))


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_a_resumed_run_continues_the_same_noise(name: str) -> None:
    """Stopped at step 5 and resumed from ``state_dict`` (step count and generator state), the run
    is bit for bit the one that never stopped."""
    straight = noisy_run(NOISY[name], FEW_STEPS)
    resumed = noisy_run(NOISY[name], FEW_STEPS, stop_at=5)
    assert all(torch.equal(a, b) for a, b in zip(straight, resumed, strict=True))


def test_sam_adds_the_noise_in_its_base_step_and_resumes_exactly() -> None:
    """SAM's base step adds the noise to g_sam, once per SAM step (two closure calls); SAM's state
    dict is its base's, noise state included."""
    (straight, sam), (resumed, _) = sam_run(FEW_STEPS), sam_run(FEW_STEPS, stop_at=5)
    assert all(torch.equal(a, b) for a, b in zip(straight, resumed, strict=True))
    assert isinstance(sam, netopt_optim.SAM) and sam.base.transforms["grad_noise"].eta == 0.01
    assert sam.state_dict()["grad_noise"]["step"] == FEW_STEPS


def test_a_deep_copy_carries_the_noise_state() -> None:
    params = [torch.zeros(10)]
    optimizer = with_noise(netopt_optim.SGD(params, lr=1.0), 1.0)
    zero_grad_step(optimizer, params)
    twin = copy.deepcopy(optimizer)
    twin_params = twin.param_groups[0]["params"]
    zero_grad_step(optimizer, params)
    zero_grad_step(twin, twin_params)
    assert torch.equal(params[0], twin_params[0])


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_state_dicts_interchange_with_torch(name: str) -> None:
    """torch's optimizer loads netopt's state dict (it ignores ``grad_noise``) and netopt's loads
    torch's (the noise keeping its own step count and generator)."""
    net = make_net()
    ours = with_noise(getattr(netopt_optim, name)(param_groups(net, 0.01)), 0.01)
    for t in range(3):
        x, y = batch(t)
        ours.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        ours.step()
    theirs = getattr(torch.optim, name)(param_groups(net, 0.01))
    theirs.load_state_dict(copy.deepcopy(ours.state_dict()))
    saved = ours.state_dict()["grad_noise"]
    ours.load_state_dict(theirs.state_dict())
    assert ours.transforms["grad_noise"].eta == 0.01
    assert ours.state_dict()["grad_noise"]["step"] == saved["step"] == 3


def test_the_defaults_are_the_papers() -> None:
    """gamma = 0.55 (Neelakantan et al.); eta = 0, ``grad_noise=none``, adds nothing: the optimizer
    is left as it is, as a torch optimizer would be."""
    noise = GradientNoise()
    assert (noise.eta, noise.gamma, noise.seed, noise.active) == (0.0, 0.55, None, False)
    optimizer = netopt_optim.SGD(make_net().parameters())
    assert with_transforms(optimizer, grad_noise=noise) is optimizer
    theirs = torch.optim.SGD(make_net().parameters())
    assert with_transforms(theirs, grad_noise=GradientNoise(0.1)).base is theirs  # around any optimizer


@pytest.mark.parametrize("key", ["eta", "gamma"])
def test_negative_noise_settings_name_the_key(key: str) -> None:
    with pytest.raises(ConfigValueError, match=f"{key}=-0.1: must be finite and >= 0"):
        GradientNoise(**{key: -0.1})


# --- through the runner: the grad_noise group ---------------------------------------------------
RUN = ["trainer.limit_batches=3", "grad_noise=gaussian", "grad_noise.eta=0.1", "trainer.seed=4"]
TIMING = {"wall_time_s", "samples_per_s"}


def test_the_runner_checkpoints_the_noise_and_resumes_it_exactly(tmp_path: Path) -> None:
    """An epoch, then resumed for a second from the checkpoint: the run that never stopped, bit for
    bit (the noise's step count and generator travel in the optimizer's state); the noise acts."""
    first = train(tmp_path / "resumed", *RUN, "trainer.max_epochs=1")
    quiet = train(tmp_path / "quiet", *RUN[:1], *RUN[-1:], "trainer.max_epochs=1")
    assert first["train_loss_running"] != quiet["train_loss_running"]
    resumed = train(tmp_path / "resumed", *RUN, "trainer.max_epochs=2", "trainer.resume=true")
    straight = train(tmp_path / "straight", *RUN, "trainer.max_epochs=2")
    assert {k: v for k, v in resumed.items() if k not in TIMING} == {
        k: v for k, v in straight.items() if k not in TIMING
    }
    saved = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["optimizer"]["grad_noise"]
    assert saved["step"] == 6 and saved["seed"] is not None
