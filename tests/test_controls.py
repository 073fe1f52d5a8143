"""Every claim can fail: controls.

Fast: every claim of every experiment preset, judged on synthetic records, does not hold when its
effect is on the wrong side of its bound, and does not hold (or is inconclusive) without an effect
when it claims one; it holds with a clear effect on its side, so neither outcome is built in. And
the adaptive learning rates under a constant gradient, the control of adaptive_lr's claims.

Slow: the presets' main claims on miniatures of their runs with the mechanism switched off or broken
(no batch norm, dropout p = 0, L1 by subgradient instead of its proximal step, Xavier in place of
the fixed variances, no layer norm, SAM with rho = 0): the runs of the claimed side are made without
it, and the claim must not hold.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from torch import nn

import netopt.optim as netopt_optim
from netopt import config
from netopt.probes import ProbeContext
from netopt.probes.effective_lr import EffectiveLR
from netopt.report.claims import Claim, judge
from netopt.report.records import RunRecord
from netopt.report.selection import matches
from netopt.studies.nas import claims as nas_claims
from tests.helpers import train

CONF = Path(config.__file__).parent / "conf" / "experiment"
EXPERIMENTS = sorted(set(config.OPTIONS["experiment"]) - {"fashion_mnist_fast"})
SEEDS = (0, 1, 2, 3, 4)


def preset_claims(name: str) -> list[Claim]:
    """The claims of ``conf/experiment/<name>.yaml`` (read as they are written: no interpolations)."""
    preset = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    raw = preset.get("hydra", {}).get("callbacks", {}).get("summary", {}).get("claims") or []
    return [Claim.parse(claim, f"{name} claims[{i}]") for i, claim in enumerate(raw)]


def _separable(claim: Claim) -> bool:
    """Whether synthetic runs of one side are not selected by the other (and the metric is a number)."""
    if claim.metric == "diverged":
        return False
    if not isinstance(claim.right, dict):
        return True
    left, right = (RunRecord(dict(select), {}) for select in (claim.left, claim.right))
    return not matches(left, claim.right) and not matches(right, claim.left)


#: The claims of a command that makes them from its runs, as every experiment's (netopt-nas: 16 trials
#: of 10 epochs, the search's best val_acc 0.86).
COMMAND_CLAIMS = {"nas": nas_claims(16, 10, 0.86)}
ALL_CLAIMS = [
    pytest.param(claim, id=f"{name}-{i}")
    for name in EXPERIMENTS
    for i, claim in enumerate(preset_claims(name))
    if _separable(claim)
] + [
    pytest.param(Claim.parse(raw, f"{name} claims[{i}]"), id=f"{name}-{i}")
    for name, raws in COMMAND_CLAIMS.items()
    for i, raw in enumerate(raws)
]


def _record(select: dict[str, Any], metric: str, value: float, seed: int) -> RunRecord:
    """A completed run of the selected configuration whose ``metric`` is ``value``."""
    column, _, epoch = metric.partition("@")
    epochs = {"epoch": np.array([float(epoch or 0)]), column: np.array([value])}
    return RunRecord(dict(select), {column: value}, seed=seed, epochs=epochs if epoch else {})


def synthetic(claim: Claim, effect: float, noise: float) -> list[RunRecord]:
    """Five seeds whose left - right is ``effect`` plus a noise of mean 0 (``noise`` x -2 ... 2)."""
    base = 0.5 if isinstance(claim.right, dict) else claim.right
    records = []
    for seed, jitter in zip(SEEDS, (-2, -1, 0, 1, 2), strict=True):
        records.append(_record(claim.left, claim.metric, base + effect + noise * jitter, seed))
        if isinstance(claim.right, dict):
            records.append(_record(claim.right, claim.metric, base, seed))
    return records


def _claimed_side(claim: Claim) -> float:
    return 1.0 if claim.op.startswith(">") else -1.0


@pytest.mark.parametrize("claim", ALL_CLAIMS)
def test_a_claim_does_not_hold_with_its_effect_on_the_wrong_side(claim):
    step = 0.05 + abs(claim.bound)
    wrong = judge(claim, synthetic(claim, claim.bound - _claimed_side(claim) * step, step / 20))
    assert wrong.verdict == "does not hold", wrong.reason
    right = judge(claim, synthetic(claim, claim.bound + _claimed_side(claim) * step, step / 20))
    assert right.verdict == ("by construction" if claim.by_construction else "holds"), right.reason


@pytest.mark.parametrize("claim", ALL_CLAIMS)
def test_a_claimed_effect_does_not_hold_without_one(claim):
    """A claim of an effect (its bound 0 or beyond it on the claimed side; not a claim that two
    things are within a margin of each other) does not hold where there is none."""
    if claim.by_construction or _claimed_side(claim) * claim.bound < 0:
        pytest.skip("not a claim of an effect")
    none = judge(claim, synthetic(claim, 0.0, 0.01 + abs(claim.bound) / 20))
    assert none.verdict in ("does not hold", "inconclusive"), none.reason


def _constant_gradient_rise(name: str, steps: int = 20) -> float:
    """effective_lr_rise of the optimizer on a loss whose gradient never changes."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 4))
    optimizer = getattr(netopt_optim, name)(model.parameters())
    probe = EffectiveLR(ProbeContext(model, optimizer), every=1)
    direction = [torch.randn_like(p) for p in model.parameters()]
    for step in range(steps):
        optimizer.zero_grad()
        sum((p * d).sum() for p, d in zip(model.parameters(), direction, strict=True)).backward()
        optimizer.step()
        probe.on_step(step)
    return probe.on_fit_end()["effective_lr_rise"]


def test_under_a_constant_gradient_only_adadeltas_rate_rises():
    """adaptive_lr's control: with nothing to forget, RMSprop's and Adam's rates never rise (and the
    preset's claims on them would not hold), while AdaDelta's still does: its numerator, the average
    of its own squared steps, fills in from 0."""
    claims = {c.left["optimizer"]: c for c in preset_claims("adaptive_lr")}
    for name, optimizer in (("rmsprop", "RMSprop"), ("adam", "Adam"), ("adadelta", "Adadelta")):
        rise = _constant_gradient_rise(optimizer)
        records = [RunRecord({"optimizer": name}, {"effective_lr_rise": rise}, seed=s) for s in SEEDS]
        verdict = judge(claims[name], records).verdict
        assert (rise > 0, verdict) == ((True, "holds") if name == "adadelta" else (False, "does not hold"))


# --- the mechanism switched off, on miniatures of the presets' runs (slow) -------------------------


def claim_of(name: str, statement: str) -> Claim:
    """The preset's claim whose statement starts with ``statement``."""
    (claim,) = [c for c in preset_claims(name) if c.statement.startswith(statement)]
    return claim


def verdict_of(claim: Claim, name: str, tmp_path: Path, left: tuple[str, ...], right: tuple[str, ...]) -> str:
    """The claim judged on three seeds of miniature runs of the preset: ``left`` and ``right`` are the
    overrides each side's runs are made with (the claimed side's with its mechanism off, say), recorded
    under the side's selector as a sweep would record them."""
    records = []
    sides = (("left", left), ("right", right)) if isinstance(claim.right, dict) else (("left", left),)
    for side, overrides in sides:
        for seed in SEEDS[:3]:
            metrics = train(
                tmp_path / f"{side}{seed}", f"experiment={name}", f"trainer.seed={seed}", *overrides
            )
            select = getattr(claim, side)
            records.append(RunRecord(dict(select), metrics, seed=seed, status=metrics["status"]))
    return judge(claim, records).verdict


FAILS = ("does not hold", "inconclusive")


@pytest.mark.slow
@pytest.mark.parametrize(("norm", "verdicts"), [("batch", ("holds",)), ("none", FAILS)])
def test_covariate_shift_control_without_batch_norm(tmp_path, norm, verdicts):
    """The per-unit drift of the input to the normalization: lower with batch norm, not without."""
    claim = claim_of("covariate_shift", "Batch norm steadies the inputs")
    mini = ("trainer.max_epochs=1", "trainer.limit_batches=8", "probes.layer_stats.every=2")
    assert (
        verdict_of(claim, "covariate_shift", tmp_path, (f"norm={norm}", *mini), ("norm=none", *mini))
        in verdicts
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("statement", "init"),
    [
        ("A large fixed variance (N(0, 0.5^2)) saturates", "xavier_normal"),
        ("With a small fixed variance the signal vanishes", "xavier_normal"),
        ("He keeps the signal through 10 ReLU layers", "xavier_normal"),
    ],
)
def test_init_controls_with_xavier_in_place_of_the_claimed_init(tmp_path, statement, init):
    claim = claim_of("init", statement)
    mini = ("trainer.max_epochs=1", "trainer.limit_batches=1")
    activation = f"model.activation={claim.left['model.activation']}"
    right = () if not isinstance(claim.right, dict) else (f"init={claim.right['init']}", activation, *mini)
    assert verdict_of(claim, "init", tmp_path, (f"init={init}", activation, *mini), right) in FAILS


MC_MINI = ("trainer.max_epochs=2", "trainer.limit_batches=5", "probes.mc_dropout.samples=4")
MC_MINI += ("dataset=digits", "dataset.train_size=null", "dataset.val_fraction=0.1")


@pytest.mark.slow
@pytest.mark.parametrize(("p", "verdicts"), [(0.5, ("holds",)), (0.0, ("does not hold",))])
def test_dropout_ensemble_control_monte_carlo_passes_without_dropout(tmp_path, p, verdicts):
    """At p = 0 the Monte-Carlo passes are the weight-scaling pass: they cannot disagree."""
    claim = claim_of("dropout_ensemble", "Monte-Carlo dropout does switch dropout on")
    left = (f"regularization.dropout.p={p}", *MC_MINI)
    assert verdict_of(claim, "dropout_ensemble", tmp_path, left, ()) in verdicts


@pytest.mark.slow
def test_dropout_ensemble_control_regularizes_only_with_dropout(tmp_path):
    claim = claim_of("dropout_ensemble", "Dropout regularizes")
    runs = ("regularization.dropout.p=0", *MC_MINI)
    assert verdict_of(claim, "dropout_ensemble", tmp_path, runs, runs) in FAILS


@pytest.mark.slow
def test_l1_sparsity_control_the_subgradient_in_place_of_the_proximal_step(tmp_path):
    claim = claim_of("l1_sparsity", "Proximal L1 makes weights exactly zero")
    left = ("regularization.l1.strength=3e-3", "regularization.l1.proximal=false", "trainer.max_epochs=2")
    assert verdict_of(claim, "l1_sparsity", tmp_path, (*left, "trainer.limit_batches=5"), ()) in FAILS


@pytest.mark.slow
def test_rnn_control_without_layer_norm(tmp_path):
    claim = claim_of("rnn", "Layer norm steadies the raw net input")
    runs = ("norm=none", "trainer.max_epochs=1", "trainer.limit_batches=3", "model.hidden=32")
    assert verdict_of(claim, "rnn", tmp_path, runs, runs) in FAILS


SHARP_MINI = ("trainer.max_epochs=3", "trainer.limit_batches=4", "probes.sharpness.samples=128")
SHARP_MINI += ("probes.sharpness.at_step=8", "probes.sharpness.at_loss=10", "trainer.batch_size=32")


@pytest.mark.slow
def test_sharpness_control_sam_with_rho_0_is_its_base(tmp_path):
    """SAM with rho = 0 takes momentum's steps: no flatter at the same train loss."""
    claim = claim_of("sharpness", "SAM is flatter than momentum at the same train loss")
    left = ("optimizer=sam", "optimizer.rho=0", *SHARP_MINI)
    assert verdict_of(claim, "sharpness", tmp_path, left, ("optimizer=momentum", *SHARP_MINI)) in FAILS


@pytest.mark.slow
def test_sharpness_control_the_same_batch_on_both_sides(tmp_path):
    claim = claim_of("sharpness", "At the same number of steps (200) batch 1024 is sharper")
    runs = ("optimizer=sgd", *SHARP_MINI)
    assert verdict_of(claim, "sharpness", tmp_path, runs, runs) in FAILS


@pytest.mark.slow
@pytest.mark.parametrize(
    "statement", ["Dropout narrows the gap", "Dropout tests better than no regularization"]
)
def test_regularization_control_dropout_switched_off(tmp_path, statement):
    claim = claim_of("regularization", statement)
    runs = ("regularization=none", "augmentation=none", "trainer.max_epochs=2", "trainer.limit_batches=5")
    runs += ("dataset=digits", "dataset.train_size=null")
    assert verdict_of(claim, "regularization", tmp_path, runs, runs) in FAILS
