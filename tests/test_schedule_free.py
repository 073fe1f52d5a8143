"""Schedule-Free SGD and AdamW against the ``schedulefree`` package (float64, 1e-10), their switch of the
weights for evaluation, and the loop's use of it: every evaluation and checkpoint sees x, resumes exactly."""

import copy

import pytest
import schedulefree
import torch

from netopt.averaging import evaluation_weights
from netopt.components import preflight
from netopt.errors import UserError
from netopt.optim import SAM, SGD, AdamWScheduleFree, GradientNoise, SGDScheduleFree, with_transforms
from tests.helpers import assert_batch_norm_recomputed, compose_config, straight_and_resumed

PAIRS = {
    "sgd": (SGDScheduleFree, schedulefree.SGDScheduleFree),
    "adamw": (AdamWScheduleFree, schedulefree.AdamWScheduleFree),
}
SETTINGS = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.3, "momentum": 0.5, "warmup_steps": 5, "weight_decay": 0.01, "r": 0.5}),
    ("sgd", {"lr": 0.2, "warmup_steps": 3, "weight_lr_power": 0.0, "foreach": False}),
    ("adamw", {}),
    ("adamw", {"lr": 0.01, "betas": (0.8, 0.99), "warmup_steps": 6, "weight_decay": 0.1, "r": 1.0}),
    ("adamw", {"lr": 0.02, "eps": 1e-6, "weight_lr_power": 1.0, "weight_decay": 0.05, "foreach": False}),
]


def problem(seed: int = 0) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Weights of a small softmax regression (two param groups' worth) and its data."""
    generator = torch.Generator().manual_seed(seed)
    weights = [torch.randn(4, 6, generator=generator), torch.randn(4, generator=generator)]
    return weights, torch.randn(32, 6, generator=generator), torch.randint(4, (32,), generator=generator)


def trajectory(make, steps: int = 25, seed: int = 0, switch_every: int = 4) -> list[torch.Tensor]:
    """The weights after ``steps`` steps, with train()/eval() switches along the way, in eval mode."""
    initial, x, y = problem(seed)
    params = [p.clone().requires_grad_() for p in initial]
    optimizer = make(
        [{"params": params[:1]}, {"params": params[1:], "weight_decay": 0.02, "warmup_steps": 2}]
    )
    optimizer.train()
    for t in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(x @ params[0].T + params[1], y).backward()
        optimizer.step()
        if t % switch_every == switch_every - 1:
            optimizer.eval()
            optimizer.train()
    optimizer.eval()
    return [p.detach() for p in params]


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(("kind", "kwargs"), SETTINGS)
def test_matches_the_schedulefree_package(kind, kwargs):
    ours, reference = PAIRS[kind]
    got = trajectory(lambda groups: ours(groups, **kwargs))
    expected = trajectory(lambda groups: reference(groups, **kwargs))
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("kind", PAIRS)
def test_state_dict_interchanges_with_the_package_and_resumes(kind):
    ours, reference = PAIRS[kind]
    kwargs = {"lr": 0.05, "warmup_steps": 3, "weight_decay": 0.01}
    initial, x, y = problem()

    def steps(optimizer, params, n):
        optimizer.train()
        for _ in range(n):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(x @ params[0].T + params[1], y).backward()
            optimizer.step()
        optimizer.eval()

    straight_params = [p.clone().requires_grad_() for p in initial]
    straight = ours(straight_params, **kwargs)
    steps(straight, straight_params, 4)  # evaluated after 4 steps, as the loop does after every epoch
    steps(straight, straight_params, 6)
    first_params = [p.clone().requires_grad_() for p in initial]
    first = ours(first_params, **kwargs)
    steps(first, first_params, 4)  # saved in eval mode, as the runner saves it
    for cls in (ours, reference):
        params = [p.detach().clone().requires_grad_() for p in first_params]
        resumed = cls(params, **kwargs)
        resumed.load_state_dict(copy.deepcopy(first.state_dict()))
        steps(resumed, params, 6)
        for a, b in zip(params, straight_params, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.usefixtures("float64")
def test_eval_and_train_switch_between_x_and_y_and_a_step_in_eval_mode_is_refused():
    initial, x, y = problem()
    params = [p.clone().requires_grad_() for p in initial]
    optimizer = SGDScheduleFree(params, lr=0.1, momentum=0.8)
    optimizer.eval()  # before any step: no z yet, nothing moves
    assert all(torch.equal(p, q) for p, q in zip(params, initial, strict=True))
    optimizer.train()
    torch.nn.functional.cross_entropy(x @ params[0].T + params[1], y).backward()
    optimizer.step()
    y_weights = [p.detach().clone() for p in params]
    optimizer.eval()
    for p, y_t, state in zip(params, y_weights, optimizer.state.values(), strict=True):
        torch.testing.assert_close(p.detach(), (y_t - 0.2 * state["z"]) / 0.8)  # x = (y - (1 - b) z) / b
    optimizer.eval()  # again: nothing changes
    with pytest.raises(RuntimeError, match="call train"):
        optimizer.step()


def test_the_loop_finds_the_evaluation_weights_behind_wrappers():
    params = [torch.zeros(3, requires_grad=True)]
    schedule_free = AdamWScheduleFree(params)
    assert evaluation_weights(schedule_free) is schedule_free
    assert (
        evaluation_weights(with_transforms(schedule_free, grad_noise=GradientNoise(eta=0.1))) is schedule_free
    )
    assert isinstance(evaluation_weights(SAM(params, base=SGDScheduleFree)), SGDScheduleFree)
    assert evaluation_weights(SGD(params)) is None


def test_refuses_bad_hyperparameters_and_averaging_on_top():
    with pytest.raises(UserError, match="momentum"):
        SGDScheduleFree([torch.zeros(1, requires_grad=True)], momentum=1.0)
    with pytest.raises(UserError, match="warmup_steps"):
        AdamWScheduleFree([torch.zeros(1, requires_grad=True)], warmup_steps=-1)
    with pytest.raises(UserError, match="averaging: not with AdamWScheduleFree"):
        preflight(compose_config("optimizer=schedule_free_adamw", "averaging=ema"))


SHORT = ["trainer.max_epochs=3", "dataset.train_size=400", "trainer.batch_size=32"]


def test_a_run_evaluates_and_saves_x_and_resumes_exactly(tmp_path):
    """Schedule-Free AdamW with batch norm through the runner: the checkpoint holds x (eval mode); a
    run interrupted after epoch 1 and resumed ends exactly as an uninterrupted one."""
    overrides = [*SHORT, "optimizer=schedule_free_adamw", "optimizer.warmup_steps=10", "norm=batch"]
    straight, saved = straight_and_resumed(tmp_path, 1, *overrides)
    assert straight["status"] == "completed" and straight["test_acc"] > 0.8
    assert not saved["optimizer"]["param_groups"][0]["train_mode"]  # saved while evaluating
    assert_batch_norm_recomputed(saved["model"])
