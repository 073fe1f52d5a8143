"""Lookahead: the algorithm of Zhang et al. 2019 written out around torch's optimizers (float64, 1e-10),
an exact resume in the middle of a cycle, and a run through the runner resumed between sync points."""

import copy
import functools
import io
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

import netopt.optim as netopt_optim
from netopt.components import preflight
from netopt.errors import UserError
from netopt.optim import GradientNoise, compile_update, with_transforms
from netopt.report.records import read_records
from netopt.studies.trajectories import trajectories
from netopt.studies.trajectories_report import RECORDS
from tests.helpers import compose_config, straight_and_resumed, train
from tests.test_optim import STEPS, assert_close, batch, make_net, param_groups, set_lrs, take_step

BASES = {
    "Adam": (
        functools.partial(netopt_optim.Adam, amsgrad=True),
        functools.partial(torch.optim.Adam, amsgrad=True),
    ),
    "SGD": (
        functools.partial(netopt_optim.SGD, momentum=0.9, weight_decay=0.01),
        functools.partial(torch.optim.SGD, momentum=0.9, weight_decay=0.01),
    ),
}
LR = {"Adam": 0.005, "SGD": 0.05}


def reference_run(base: str, k: int, alpha: float) -> list[torch.Tensor]:
    """Algorithm 1 of the paper, with torch's optimizer as the inner one: phi <- theta_0; for each
    outer step, k inner steps from theta = phi, then phi <- phi + alpha * (theta - phi), theta <- phi.
    The inner optimizer keeps its state across outer steps; the lr changes at every inner step."""
    net, lr = make_net(), LR[base]
    inner = BASES[base][1](param_groups(net, lr))
    params = list(net.parameters())
    slow = [p.detach().clone() for p in params]
    for t in range(STEPS):
        set_lrs(inner, t, lr)
        x, y = batch(t)
        inner.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        inner.step()
        if (t + 1) % k == 0:
            with torch.no_grad():
                for p, phi in zip(params, slow, strict=True):
                    phi += alpha * (p - phi)
                    p.copy_(phi)
    return params


def lookahead_run(base: str, k: int, alpha: float, stop_at: int | None = None) -> list[torch.Tensor]:
    """netopt's Lookahead the same way; at ``stop_at`` its state goes through torch.save and a
    weights-only load into a new Lookahead on a new copy of the net (as a checkpoint's resume)."""
    net, lr = make_net(), LR[base]

    def build(model: nn.Module) -> netopt_optim.Lookahead:
        return netopt_optim.Lookahead(param_groups(model, lr), base=BASES[base][0], k=k, alpha=alpha)

    optimizer = build(net)
    for t in range(STEPS):
        if t == stop_at:
            buffer = io.BytesIO()
            torch.save(optimizer.state_dict(), buffer)
            buffer.seek(0)
            net = copy.deepcopy(net)
            optimizer = build(net)
            optimizer.load_state_dict(torch.load(buffer, weights_only=True))
        take_step(net, optimizer, t, lr)
    return list(net.parameters())


@pytest.mark.parametrize(("base", "k", "alpha"), [("Adam", 5, 0.5), ("SGD", 3, 0.8), ("Adam", 1, 1.0)])
def test_lookahead_matches_the_papers_algorithm(base: str, k: int, alpha: float) -> None:
    """k = 1, alpha = 1 is the base optimizer itself."""
    assert_close(lookahead_run(base, k, alpha), reference_run(base, k, alpha))


def test_a_resume_in_the_middle_of_a_cycle_is_exact() -> None:
    """Saved at step 32, 2 steps into a cycle of 5: the slow weights and the step count travel in the
    state, so the run is bit for bit the one that never stopped."""
    straight, resumed = lookahead_run("Adam", 5, 0.5), lookahead_run("Adam", 5, 0.5, stop_at=32)
    assert all(torch.equal(a, b) for a, b in zip(straight, resumed, strict=True))


def test_the_state_is_the_bases_with_the_slow_weights() -> None:
    net = make_net()
    optimizer = netopt_optim.Lookahead(param_groups(net, 0.01), base=netopt_optim.Adam, k=4)
    for t in range(6):
        take_step(net, optimizer, t, 0.01)
    state = optimizer.state_dict()
    assert state["lookahead"]["fast_steps"] == 6 and sorted(state["lookahead"]["slow"]) == [0, 1, 2, 3, 4]
    assert optimizer.base.param_groups is optimizer.param_groups
    torch.optim.Adam(param_groups(net, 0.01)).load_state_dict(copy.deepcopy(state))  # torch ignores the key
    optimizer.load_state_dict(torch.optim.Adam(param_groups(net, 0.01)).state_dict())  # phi starts again
    assert optimizer.fast_steps == 0 and not optimizer.slow


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optimizer.alpha=0"], r"alpha=0.0: must be in \(0, 1\]"),
        (["optimizer.k=0"], "k=0: must be a whole number >= 1"),
    ],
)
def test_bad_settings_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(UserError, match=f"^optimizer.{message}"):
        preflight(compose_config("optimizer=lookahead", *overrides))


def test_the_base_steps_with_the_transforms_and_compiles() -> None:
    """Gradient noise and the compiled update reach the base, also when the base is SAM (which needs
    the closure Lookahead hands it)."""
    cfg = compose_config("optimizer=lookahead", "optimizer@optimizer.base=sam", "optimizer.k=2")
    net = make_net()
    optimizer = with_transforms(
        instantiate(cfg.optimizer)(param_groups(net, 0.01)), grad_noise=GradientNoise(0.01)
    )
    assert isinstance(optimizer, netopt_optim.Lookahead) and isinstance(optimizer.base, netopt_optim.SAM)
    assert optimizer.base.base.transforms["grad_noise"].eta == 0.01
    for t in range(3):
        take_step(net, optimizer, t, 0.01)
    assert optimizer.state_dict()["grad_noise"]["step"] == 3
    assert compile_update(optimizer) is optimizer.base.base.base.compiled_update


RUN = [
    "optimizer=lookahead",
    "optimizer@optimizer.base=momentum",
    "trainer.limit_batches=3",
    "trainer.seed=2",
]


def test_the_runner_resumes_lookahead_between_sync_points(tmp_path: Path) -> None:
    """3 steps an epoch, k = 5: the first epoch ends 3 steps into a cycle; interrupted there and
    resumed from the checkpoint, the run is the one that never stopped; the slow weights moved it."""
    straight, saved = straight_and_resumed(tmp_path, 1, *RUN, "trainer.max_epochs=2")
    base = train(tmp_path / "base", "optimizer=momentum", *RUN[2:], "trainer.max_epochs=2")
    assert straight["train_loss"] != base["train_loss"]
    assert saved["optimizer"]["lookahead"]["fast_steps"] == 6


def test_netopt_trajectories_draws_lookahead_and_sam_at_their_bases_lr(tmp_path: Path) -> None:
    """A wrapper's lr is its base's: ``lrs`` sets it there, and the report shows it."""
    out = trajectories(
        [f"out={tmp_path}", "optimizers=[lookahead,sam]", "functions=[sphere]", "++lrs.sphere.lookahead=0.2"]
    )
    rows = read_records(out / RECORDS)
    assert {(r.value("optimizer"), r.value("lr")) for r in rows} == {("lookahead", 0.2), ("sam", 0.05)}
    assert all(r.number("final_loss") < 0.1 for r in rows)  # from 25 at the start


def test_fp16_is_refused_with_sam_as_the_base(tmp_path: Path) -> None:
    """A step whose gradients overflow cannot be skipped between SAM's two passes, below Lookahead too."""
    with pytest.raises(UserError, match="^trainer.precision=fp16: not with optimizer=sam"):
        train(tmp_path, "optimizer=lookahead", "optimizer@optimizer.base=sam", "trainer.precision=fp16")
