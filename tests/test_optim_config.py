"""Every optimizer and clip option composes from the real config tree, validates and builds."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import DictConfig

import netopt.schema
from netopt.errors import UserError
from tests.conftest import compose_config, train

CONF = Path(netopt.schema.__file__).parents[1] / "conf"
OPTIMIZERS = sorted(p.stem for p in (CONF / "optimizer").glob("*.yaml"))
SAM_BASES = sorted(p.stem for p in (CONF / "optimizer" / "base").glob("*.yaml"))


CHAPTER = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw"]


def compose_train(*overrides: str) -> DictConfig:
    cfg = compose_config(*overrides)
    netopt.schema.validate(cfg)
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
    assert set(OPTIMIZERS) - {"sam"} == set(SAM_BASES)


def test_compare_optimizers_sweeps_the_chapter() -> None:
    with initialize_config_module("netopt.conf", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=compare_optimizers"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params.optimizer.split(",") == CHAPTER


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_option_builds_and_steps(name: str) -> None:
    cfg = compose_train(f"optimizer={name}")
    model = torch.nn.Linear(3, 2)
    optimizer = instantiate(cfg.optimizer)(model.parameters())
    assert type(optimizer).__name__.lower() == cfg.optimizer._target_.rsplit(".", 1)[1].lower()
    before = model.weight.detach().clone()
    one_step(optimizer, model)
    assert not torch.equal(before, model.weight)


@pytest.mark.parametrize("base", ["sgd", "adam"])
def test_sam_takes_any_base(base: str) -> None:
    cfg = compose_train(
        "optimizer=sam", f"optimizer/base={base}", "optimizer.base.lr=0.02", "optimizer.rho=0.1"
    )
    optimizer = instantiate(cfg.optimizer)(torch.nn.Linear(3, 2).parameters())
    assert optimizer.base.__class__.__name__.lower() == cfg.optimizer.base._target_.rsplit(".", 1)[1].lower()
    assert optimizer.param_groups[0]["lr"] == 0.02 and optimizer.param_groups[0]["rho"] == 0.1


def test_overrides_reach_the_optimizer() -> None:
    cfg = compose_train("optimizer=rmsprop", "optimizer.alpha=0.9", "optimizer.momentum=0.5")
    group = instantiate(cfg.optimizer)(torch.nn.Linear(3, 2).parameters()).param_groups[0]
    assert (group["alpha"], group["momentum"]) == (0.9, 0.5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optimizer=adam", "optimizer.betas=[0.9,1.5]"], r"optimizer.betas=\[0.9, 1.5\]: must be < 1.0"),
        (["optimizer=sgd", "optimizer.lr=-0.1"], "optimizer.lr=-0.1: must be >= 0"),
        (
            ["optimizer=sam", "optimizer/base=adam", "optimizer.base.eps=-1"],
            "optimizer.base.eps=-1.0: must be >= 0",
        ),
        (["clip=norm", "clip.max_norm=0"], "clip.max_norm=0.0: must be > 0"),
    ],
)
def test_out_of_range_values_are_user_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        compose_train(*overrides)


def test_nesterov_without_momentum_is_a_user_error() -> None:
    cfg = compose_train("optimizer=nesterov", "optimizer.momentum=0")
    with pytest.raises(UserError, match="nesterov=True: must be used with momentum > 0"):
        instantiate(cfg.optimizer)(torch.nn.Linear(3, 2).parameters())


@pytest.mark.parametrize(
    ("overrides", "bound"),
    [
        (["clip=none"], None),
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
