"""Every optimizer and clip option composes from the real config tree, validates and builds."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from netopt import config
from netopt.components import assemble, preflight
from netopt.errors import UserError
from netopt.optim import GradientNoise
from tests.helpers import compose_config, train

OPTIMIZERS = sorted(config.OPTIONS["optimizer"])


CHAPTER = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw"]


def compose_train(*overrides: str) -> DictConfig:
    cfg = compose_config(*overrides)
    preflight(cfg)
    return cfg


def one_step(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> None:
    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = model(torch.ones(2, 3)).square().mean()
        loss.backward()
        return loss

    optimizer.step(closure)


def test_every_chapter_optimizer_has_an_option() -> None:
    assert {*CHAPTER, "sam"} <= set(OPTIMIZERS)


def test_compare_optimizers_sweeps_the_chapter() -> None:
    cfg = compose_config("experiment=compare_optimizers", hydra=True)
    assert cfg.hydra.sweeper.params.optimizer.split(",") == CHAPTER


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_option_builds_and_steps(name: str) -> None:
    cfg = compose_train(f"optimizer={name}")
    model = torch.nn.Linear(3, 2)
    optimizer = instantiate(cfg.optimizer)(model.parameters())
    assert type(optimizer).__name__.lower() == cfg.optimizer._target_.rsplit(".", 1)[1].lower()
    before = model.weight.detach().clone()
    one_step(optimizer, model)
    if name == "adopt":  # its first step only sets v = g * g (Taniguchi et al. 2024)
        assert torch.equal(before, model.weight)
        one_step(optimizer, model)
    assert not torch.equal(before, model.weight)


@pytest.mark.parametrize("base", ["sgd", "adam"])
def test_sam_takes_any_base(base: str) -> None:
    cfg = compose_train(
        "optimizer=sam", f"optimizer@optimizer.base={base}", "optimizer.base.lr=0.02", "optimizer.rho=0.1"
    )
    optimizer = instantiate(cfg.optimizer)(torch.nn.Linear(3, 2).parameters())
    assert optimizer.base.__class__.__name__.lower() == cfg.optimizer.base._target_.rsplit(".", 1)[1].lower()
    assert optimizer.param_groups[0]["lr"] == 0.02 and optimizer.param_groups[0]["rho"] == 0.1


def test_overrides_reach_the_optimizer() -> None:
    cfg = compose_train("optimizer=rmsprop", "optimizer.alpha=0.9", "optimizer.momentum=0.5")
    group = instantiate(cfg.optimizer)(torch.nn.Linear(3, 2).parameters()).param_groups[0]
    assert (group["alpha"], group["momentum"]) == (0.9, 0.5)


@pytest.mark.parametrize("name", ["adamw", "sam"])
def test_the_noise_group_and_the_compiled_update_reach_the_optimizer(name: str) -> None:
    """``grad_noise`` wraps the optimizer (SAM: its base) and ``trainer.compile_optimizer`` compiles
    its update, whatever the optimizer; its param groups hold its hyperparameters only."""
    cfg = compose_train(
        f"optimizer={name}", "grad_noise=gaussian", "grad_noise.gamma=0.3", "trainer.compile_optimizer=true"
    )
    assert cfg.trainer.compile_optimizer is True
    parts = assemble(cfg, instantiate(cfg.trainer), (3,), 2, steps_per_epoch=10, validation=True)
    optimizer = parts.optimizer if name != "sam" else parts.optimizer.base
    noise = optimizer.transforms["grad_noise"]
    assert (type(noise), noise.eta, noise.gamma) == (GradientNoise, 0.01, 0.3)
    assert optimizer.base.compiled_update is not None
    assert not {"grad_noise", "grad_noise_decay", "compile"} & set(optimizer.param_groups[0])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optimizer=adam", "optimizer.betas=[0.9,1.5]"], r"^optimizer.betas\[1\]=1.5: must be in \[0, 1\)"),
        (
            ["optimizer=adam", "optimizer.betas=[0.9]"],
            r"^optimizer.betas=\[0.9\]: must be a list of 2 values",
        ),
        (["optimizer=sgd", "optimizer.lr=-0.1"], "^optimizer.lr=-0.1: must be finite and >= 0"),
        (["optimizer=adam", "grad_noise.eta=-1"], "^grad_noise.eta=-1.0: must be finite and >= 0"),
        (["optimizer=sam", "grad_noise.gamma=-1"], "^grad_noise.gamma=-1.0: must be finite and >= 0"),
        (["optimizer=sgd", "optimizer.lr=1e30"], None),
        (
            ["optimizer=sgd", "optimizer.lr=1e308"],
            r"^optimizer.lr=1e\+308: must be at most 3.4e\+38 \(the weights' type\)$",
        ),
        (
            ["optimizer=sam", "optimizer@optimizer.base=adam", "optimizer.base.eps=-1"],
            "^optimizer.base.eps=-1.0: must be finite and >= 0",
        ),
        (["clip=norm", "clip.max_norm=0"], "^clip.max_norm=0.0: must be finite and > 0"),
        (["clip=value", "clip.interval=[0.1]"], r"^clip.interval=\[0.1\]: must be null"),
    ],
)
def test_out_of_range_values_are_user_errors(overrides: list[str], message: str | None) -> None:
    if message is None:  # a finite value the weights' type holds, however large, is allowed
        compose_train(*overrides)
        return
    with pytest.raises(UserError, match=message):
        compose_train(*overrides)


def test_nesterov_without_momentum_is_a_user_error() -> None:
    with pytest.raises(UserError, match="^optimizer.nesterov=True: must be used with momentum > 0"):
        compose_train("optimizer=nesterov", "optimizer.momentum=0")


@pytest.mark.parametrize(
    ("overrides", "bound"),
    [
        (["clip=norm", "clip.max_norm=0.01"], None),
        (["clip=value", "clip.clip_value=0.001"], (-0.001, 0.001)),
        (["clip=value", "clip.clip_value=null", "clip.interval=[-0.002,0.001]"], (-0.002, 0.001)),
    ],
)
def test_clip_options_return_the_pre_clip_norm(
    overrides: list[str], bound: tuple[float, float] | None
) -> None:
    clip = instantiate(compose_train(*overrides).clip)
    model = torch.nn.Linear(3, 2)
    model(torch.ones(2, 3)).square().mean().backward()
    norm = torch.sqrt(sum(p.grad.square().sum() for p in model.parameters()))
    assert torch.allclose(clip(model.parameters()), norm)
    if bound is not None:
        assert all(bound[0] <= g.min() and g.max() <= bound[1] for g in (p.grad for p in model.parameters()))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_trains_the_default_model(tmp_path: Path, name: str) -> None:
    metrics = train(tmp_path, f"optimizer={name}", "trainer.max_epochs=3")
    assert metrics["status"] == "completed" and metrics["test_acc"] > 0.8


def test_clip_none_leaves_the_gradients_and_measures_nothing() -> None:
    clip = instantiate(compose_train("clip=none").clip)
    model = torch.nn.Linear(3, 2)
    model(torch.ones(2, 3)).square().mean().backward()
    before = [p.grad.clone() for p in model.parameters()]
    assert clip(model.parameters()) is None
    assert all(torch.equal(a, p.grad) for a, p in zip(before, model.parameters(), strict=True))
