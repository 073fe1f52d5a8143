"""Schedules against torch.optim.lr_scheduler (the oracle), against their formulas, and as configs."""

import math
from collections.abc import Callable

import pytest
import torch
from hydra.utils import instantiate
from torch.optim import lr_scheduler

from netopt import config, schedules
from netopt.components import preflight
from netopt.errors import UserError
from tests.helpers import compose_config

LR, STEPS = 0.1, 300
NAMES = sorted(config.OPTIONS["scheduler"])
PURE = [name for name in NAMES if name != "plateau"]


def torch_lrs(make: Callable[[torch.optim.Optimizer], object], steps: int = STEPS) -> list[float]:
    """The lr a torch scheduler sets at steps 0..steps-1 (stepped once per iteration)."""
    optimizer = torch.optim.SGD(
        [torch.zeros(1, dtype=torch.float64, requires_grad=True)], lr=LR, momentum=0.9
    )
    scheduler = make(optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def scaled(factory: Callable, *run, **hyper) -> Callable[[int], float]:
    """The lr a schedule gives a group whose base lr is LR: LR times its factor."""
    factor = factory(*run, **hyper)
    return lambda t: LR * factor(t)


def ours(factory: Callable, steps: int = STEPS, steps_per_epoch: int = 10, **hyper) -> list[float]:
    lr_at = scaled(factory, steps, steps_per_epoch, **hyper)
    return [lr_at(t) for t in range(steps)]


def assert_close(actual: list[float], expected: list[float], rel: float = 1e-12) -> None:
    assert len(actual) == len(expected)
    for t, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert a == pytest.approx(e, rel=rel, abs=0.0), f"t={t}: {a} != {e}"


def compose_scheduler(*overrides: str):
    cfg = compose_config(*overrides)
    preflight(cfg)
    return cfg.scheduler


S = schedules
PARITY = {
    "multistep": (
        S.step,
        dict(unit="step", milestones=[30, 80, 150], gamma=0.5),
        lambda o: lr_scheduler.MultiStepLR(o, milestones=[30, 80, 150], gamma=0.5),
    ),
    "multistep_epochs": (
        S.step,
        dict(milestones=[3, 8], gamma=0.3),
        lambda o: lr_scheduler.MultiStepLR(o, milestones=[30, 80], gamma=0.3),
    ),
    "steplr": (
        S.step,
        dict(unit="step", step_size=40, gamma=0.7),
        lambda o: lr_scheduler.StepLR(o, step_size=40, gamma=0.7),
    ),
    "steplr_epochs": (
        S.step,
        dict(step_size=2.5, gamma=0.8),
        lambda o: lr_scheduler.StepLR(o, step_size=25, gamma=0.8),
    ),
    "exponential": (
        S.exponential,
        dict(unit="step", gamma=0.99),
        lambda o: lr_scheduler.ExponentialLR(o, gamma=0.99),
    ),
    "cyclic": (
        S.cyclic,
        dict(unit="step", step_size_up=25, div_factor=8.0),
        lambda o: lr_scheduler.CyclicLR(o, LR / 8.0, LR, step_size_up=25, cycle_momentum=False),
    ),
    "cyclic2_epochs": (
        S.cyclic,
        dict(step_size_up=1.7, div_factor=4.0, mode="triangular2"),
        lambda o: lr_scheduler.CyclicLR(
            o, LR / 4.0, LR, step_size_up=17, mode="triangular2", cycle_momentum=False
        ),
    ),
    "sgdr": (
        S.sgdr,
        dict(unit="step", T_0=20, min_factor=1e-3 / LR),
        lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=20, eta_min=1e-3),
    ),
    "sgdr_mult_epochs": (
        S.sgdr,
        dict(T_0=1, T_mult=2, min_factor=2e-3 / LR),
        lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=2e-3),
    ),
    "sgdr_mult3": (
        S.sgdr,
        dict(unit="step", T_0=7, T_mult=3, min_factor=1e-4 / LR),
        lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=7, T_mult=3, eta_min=1e-4),
    ),
    "onecycle": (S.onecycle, dict(), lambda o: lr_scheduler.OneCycleLR(o, max_lr=LR, total_steps=STEPS)),
    "onecycle_linear": (
        S.onecycle,
        dict(pct_start=0.25, anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0),
        lambda o: lr_scheduler.OneCycleLR(
            o,
            max_lr=LR,
            total_steps=STEPS,
            pct_start=0.25,
            anneal_strategy="linear",
            div_factor=10.0,
            final_div_factor=100.0,
        ),
    ),
    "onecycle_three_phase": (
        S.onecycle,
        dict(pct_start=0.2, three_phase=True),
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=LR, total_steps=STEPS, pct_start=0.2, three_phase=True),
    ),
}


@pytest.mark.parametrize("case", PARITY)
def test_parity_with_torch(case: str) -> None:
    factory, hyper, make = PARITY[case]
    assert_close(ours(factory, **hyper), torch_lrs(make))


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("steps", [2, 3, 4, 7])
def test_onecycle_matches_torch_in_runs_too_short_for_its_phases(steps: int, three_phase: bool) -> None:
    expected = torch_lrs(
        lambda o: lr_scheduler.OneCycleLR(o, LR, total_steps=steps, three_phase=three_phase), steps
    )
    assert_close(ours(S.onecycle, steps, three_phase=three_phase), expected)


def cosine_closed_form(t_max: int, eta_min: float, steps: int) -> list[float]:
    """CosineAnnealingLR's closed form (its recursive form drifts) at steps 0..steps-1."""
    optimizer = torch.optim.SGD([torch.zeros(1, dtype=torch.float64, requires_grad=True)], lr=LR)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=t_max, eta_min=eta_min)
    lrs = []
    for t in range(steps):
        scheduler.last_epoch = t
        lrs.append(scheduler._get_closed_form_lr()[0])
    return lrs


@pytest.mark.parametrize(
    ("hyper", "t_max"),
    [
        (dict(min_factor=1e-3 / LR), STEPS),
        (dict(T_max=12, min_factor=0.05), 120),
        (dict(unit="step", T_max=250), 250),
    ],
)
def test_cosine_matches_torch_closed_form_then_stays_at_the_floor(hyper: dict, t_max: int) -> None:
    lrs = ours(S.cosine, **hyper)
    eta_min = LR * hyper.get("min_factor", 0.0)
    assert_close(lrs[:t_max], cosine_closed_form(t_max, eta_min, t_max))
    assert all(lr == pytest.approx(eta_min, abs=1e-15) for lr in lrs[t_max:])


@pytest.mark.parametrize(
    ("hyper", "iters"), [(dict(), STEPS), (dict(unit="step", total_iters=120, power=2.0), 120)]
)
def test_polynomial_matches_torch_closed_form(hyper: dict, iters: int) -> None:
    optimizer = torch.optim.SGD([torch.zeros(1, dtype=torch.float64, requires_grad=True)], lr=LR)
    oracle = lr_scheduler.PolynomialLR(optimizer, total_iters=iters, power=hyper.get("power", 1.0))
    expected = []
    for t in range(STEPS):
        oracle.last_epoch = t
        expected.append(oracle._get_closed_form_lr()[0])
    assert_close(ours(S.polynomial, **hyper), expected)


WARMED = {
    "cosine": (
        S.cosine,
        dict(min_factor=1e-3 / LR),
        lambda o, rest: lr_scheduler.CosineAnnealingLR(o, T_max=rest, eta_min=1e-3),
    ),
    "multistep": (
        S.step,
        dict(milestones=[10, 20]),
        lambda o, rest: lr_scheduler.MultiStepLR(o, milestones=[100, 200], gamma=0.1),
    ),
    "exponential": (
        S.exponential,
        dict(gamma=0.95),
        lambda o, rest: lr_scheduler.ExponentialLR(o, gamma=0.95**0.1),
    ),
}


@pytest.mark.parametrize("warmup", [2, 0.5])
@pytest.mark.parametrize("case", WARMED)
def test_warmup_matches_linear_then_sequential(case: str, warmup: float) -> None:
    factory, hyper, make = WARMED[case]
    warm = round(warmup * 10)

    def sequential(o: torch.optim.Optimizer) -> lr_scheduler.SequentialLR:
        linear = lr_scheduler.LinearLR(o, start_factor=1 / warm, end_factor=1.0, total_iters=warm - 1)
        return lr_scheduler.SequentialLR(o, [linear, make(o, STEPS - warm)], milestones=[warm])

    expected = torch_lrs(sequential)
    actual = ours(factory, warmup=warmup, **hyper)
    assert_close(actual, expected, rel=1e-11 if case == "cosine" else 1e-12)


@pytest.mark.parametrize("name", PURE)
def test_warmup_ramps_to_the_first_rate_then_runs_the_schedule_on_the_rest(name: str) -> None:
    cfg = compose_scheduler(f"scheduler={name}")
    plain = instantiate(cfg)(STEPS - 30, 10)
    cfg.warmup = 3
    warmed = instantiate(cfg)(STEPS, 10)
    ramp = [plain(0) * (t + 1) / 30 for t in range(30)]
    assert [warmed(t) for t in range(30)] == pytest.approx(ramp, rel=1e-15)
    assert [warmed(t) for t in range(30, STEPS)] == [plain(t) for t in range(STEPS - 30)]


def test_inverse_time_formula() -> None:
    per_step = scaled(S.inverse_time, total_steps=STEPS, steps_per_epoch=10, unit="step", decay_rate=0.01)
    assert [per_step(t) for t in (0, 100, 300)] == pytest.approx([LR, LR / 2, LR / 4], rel=1e-15)
    per_epoch = scaled(S.inverse_time, total_steps=STEPS, steps_per_epoch=50, decay_rate=1.0)
    assert [per_epoch(t) for t in (0, 25, 50, 150)] == pytest.approx(
        [LR, LR / 1.5, LR / 2, LR / 4], rel=1e-15
    )


def test_natural_exp_formula() -> None:
    per_step = scaled(
        S.natural_exp, total_steps=STEPS, steps_per_epoch=10, unit="step", decay_rate=math.log(2) / 100
    )
    assert [per_step(t) for t in (0, 100, 200, 50)] == pytest.approx(
        [LR, LR / 2, LR / 4, LR / 2**0.5], rel=1e-14
    )
    per_epoch = scaled(S.natural_exp, total_steps=STEPS, steps_per_epoch=10, decay_rate=0.3)
    assert [per_epoch(t) for t in (0, 7, 40)] == pytest.approx(
        [LR, LR * math.exp(-0.21), LR * math.exp(-1.2)], rel=1e-14
    )


def test_step_factors_multiply_at_each_milestone() -> None:
    lr_at = scaled(S.step, total_steps=STEPS, steps_per_epoch=10, milestones=[1, 2.5], factors=[0.5, 0.2])
    assert [lr_at(t) for t in (0, 9, 10, 24, 25, 299)] == pytest.approx(
        [LR, LR, LR / 2, LR / 2, LR / 10, LR / 10], rel=1e-15
    )


def test_sgdr_peak_decays_by_gamma_at_each_restart() -> None:
    lr_at = scaled(S.sgdr, total_steps=STEPS, steps_per_epoch=10, T_0=1, T_mult=2, gamma=0.5, min_factor=0.0)
    restarts = [0, 10, 30, 70, 150]
    assert [lr_at(t) for t in restarts] == pytest.approx([LR * 0.5**m for m in range(5)], rel=1e-15)
    assert lr_at(20) == pytest.approx(LR * 0.5 / 2, rel=1e-14)  # the middle of the second cycle


PLATEAU_METRICS = [
    1.0,
    0.9,
    0.9,
    0.95,
    0.9,
    0.8999,
    0.91,
    0.9,
    0.85,
    0.85,
    0.86,
    0.86,
    0.84,
    0.9,
    0.9,
    0.9,
    0.9,
    0.83,
    0.83,
    0.83,
    0.83,
    0.83,
    0.83,
]


@pytest.mark.parametrize(
    "hyper",
    [
        dict(patience=1),
        dict(patience=2, factor=0.5, cooldown=2, threshold=0.01, min_lr=0.02),
        dict(patience=0, threshold=0.02, threshold_mode="abs", factor=0.3),
        dict(monitor="val_acc", mode="max", patience=1, factor=0.7),
    ],
)
def test_plateau_matches_torch(hyper: dict) -> None:
    torch_hyper = {k: v for k, v in hyper.items() if k != "monitor"}
    optimizer = torch.optim.SGD([torch.zeros(1, dtype=torch.float64, requires_grad=True)], lr=LR)
    oracle = lr_scheduler.ReduceLROnPlateau(optimizer, **torch_hyper)
    relative = {
        ("min_factor" if k == "min_lr" else k): (v / LR if k == "min_lr" else v) for k, v in hyper.items()
    }
    plateau = S.ReduceLROnPlateau(STEPS, 10, eps=1e-8 / LR, **relative)  # torch's eps is absolute
    metrics = PLATEAU_METRICS if hyper.get("mode") != "max" else [-m for m in PLATEAU_METRICS]
    for epoch, metric in enumerate(metrics):
        oracle.step(metric)
        assert plateau.on_validation({plateau.monitor: metric}) is False
        lr = optimizer.param_groups[0]["lr"]
        assert LR * plateau(10 * epoch + 5) == pytest.approx(lr, rel=1e-12), epoch


def test_plateau_resumes_from_its_state_dict_with_warmup() -> None:
    def build() -> S.ReduceLROnPlateau:
        return S.ReduceLROnPlateau(STEPS, 10, warmup=1.5, patience=1)

    whole, first = build(), build()
    for metric in PLATEAU_METRICS[:8]:
        whole.on_validation({"val_loss": metric})
        first.on_validation({"val_loss": metric})
    second = build()
    second.load_state_dict(first.state_dict())
    for metric in PLATEAU_METRICS[8:]:
        whole.on_validation({"val_loss": metric})
        second.on_validation({"val_loss": metric})
    assert second.state_dict() == whole.state_dict()
    assert whole(0) == pytest.approx(whole.scale / 15, rel=1e-15) and whole(15) == whole.scale < 1


@pytest.mark.parametrize(
    ("factory", "hyper", "key"),
    [
        (S.step, dict(milestones=[5, 3]), "milestones"),
        (S.step, dict(milestones=[0.12, 0.14]), "milestones"),  # both round to step 1
        (S.step, dict(milestones=[5], factors=[0.1, 0.2]), "factors"),
        (S.step, dict(milestones=[5], step_size=2), "step_size"),
        (S.sgdr, dict(T_0=0.01), "T_0"),
        (S.cyclic, dict(step_size_up=0.04, div_factor=4.0), "step_size_up"),
        (S.cosine, dict(T_max=0.02), "T_max"),
        (S.polynomial, dict(total_iters=0.01), "total_iters"),
        (S.ReduceLROnPlateau, dict(monitor="val_acc", mode="min"), "mode"),
        (S.constant, dict(warmup=30), "warmup"),
    ],
)
def test_inconsistent_values_are_user_errors_naming_the_key(factory: Callable, hyper: dict, key: str) -> None:
    with pytest.raises(UserError, match=f"^{key}="):
        factory(STEPS, 10, **hyper)


# --- the config group, composed as the CLI composes it -------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_each_scheduler_composes_and_builds_for_long_and_tiny_runs(name: str) -> None:
    """Rates stay within [0, lr], also in a 3-step debug run and a 1-step run."""
    factory = instantiate(compose_scheduler(f"scheduler={name}"))
    for total, per_epoch in ((STEPS, 10), (3, 3), (1, 1)):
        factor = factory(total, per_epoch)
        assert all(0.0 <= factor(t) <= 1 + 1e-12 for t in range(total + 2)), (total, per_epoch)


EPOCH_VALUES = [
    ("step", "milestones", [2, 5]),
    ("steplr", "step_size", 3),
    ("cosine", "T_max", 7),
    ("cyclic", "step_size_up", 2),
    ("sgdr", "T_0", 2),
    ("constant", "warmup", 2),
    ("exponential", "gamma", 0.5),
    ("inverse_time", "decay_rate", 2.0),
    ("natural_exp", "decay_rate", 0.7),
]


@pytest.mark.parametrize(("name", "key", "value"), EPOCH_VALUES)
def test_epochs_convert_with_steps_per_epoch(name: str, key: str, value) -> None:
    """A value in epochs equals the same value times steps_per_epoch in steps (rates: to the power 1/13)."""
    in_steps = [v * 13 for v in value] if isinstance(value, list) else value * 13
    if key == "gamma":
        in_steps = value ** (1 / 13)
    elif key == "decay_rate":
        in_steps = value / 13
    epochs = compose_scheduler(f"scheduler={name}", f"scheduler.{key}={value}")
    steps = compose_scheduler(f"scheduler={name}", "scheduler.unit=step", f"scheduler.{key}={in_steps}")
    by_epoch, by_step = instantiate(epochs)(STEPS, 13), instantiate(steps)(STEPS, 13)
    assert [by_epoch(t) for t in range(STEPS)] == pytest.approx([by_step(t) for t in range(STEPS)], rel=1e-12)


def test_timeline_turns_durations_in_its_unit_into_whole_steps() -> None:
    by_epoch = schedules.Timeline(total_steps=130, steps_per_epoch=13, warmup=2)
    assert (by_epoch.steps(1.5, "T_0"), by_epoch.units(26)) == (20, 2.0)
    assert (by_epoch.warmup_steps, by_epoch.remaining) == (26, 104)
    by_step = schedules.Timeline(total_steps=130, steps_per_epoch=13, unit="step")
    assert (by_step.steps(1.5, "T_0"), by_step.units(26)) == (2, 26.0)
    with pytest.raises(UserError, match=r"^T_0=0\.01: must be at least 1 step\(s\) \(1 epoch = 13 steps\)"):
        by_epoch.steps(0.01, "T_0")


def test_out_of_range_override_is_a_user_error_naming_the_key() -> None:
    with pytest.raises(UserError, match=r"^scheduler\.T_mult=0: must be a whole number >= 1"):
        compose_scheduler("scheduler=sgdr", "scheduler.T_mult=0")
    with pytest.raises(UserError, match=r"^scheduler\.warmup=25: must be shorter than the run \(20 epochs\)"):
        compose_scheduler("scheduler.warmup=25")


def test_compare_schedules_preset_sweeps_every_schedule() -> None:
    cfg = compose_config("experiment=compare_schedules", hydra=True)
    assert sorted(cfg.hydra.sweeper.params.scheduler.split(",")) == NAMES
