"""The regularization group: which parameters a penalty applies to, the composite the runner sees, the
presets (one key each, any combination), the old spellings, and runs through the real runner."""

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from netopt import config
from netopt.components import make, preflight
from netopt.errors import UserError
from netopt.regularization import MOVED, Regularizer, Regularizers, penalized_parameters
from netopt.regularization.dropout import Dropout
from netopt.regularization.l1 import L1
from netopt.regularization.l2 import L2
from netopt.regularization.label_smoothing import LabelSmoothing
from tests.helpers import compose_config, train


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.GroupNorm(1, 3),
        nn.Flatten(),
        nn.Linear(12, 4),
        nn.LayerNorm(4),
        nn.Linear(4, 2),
    ).double()


def test_penalties_skip_biases_and_norm_gains_by_default():
    model = _model()
    chosen = {id(p) for p in penalized_parameters(model)}
    weights = {id(model[i].weight) for i in (0, 3, 5)}
    assert chosen == weights
    assert len(penalized_parameters(model, penalize_all=True)) == len(list(model.parameters()))


def test_penalties_follow_the_formula_and_their_gradients():
    model = _model()
    params = penalized_parameters(model)
    regularization = Regularizers(l1=L1(1e-3), l2=L2(5e-2))
    regularization.attach(model)
    terms = regularization.penalties()
    flat = torch.cat([p.flatten() for p in params])
    torch.testing.assert_close(terms["l1"], 1e-3 * flat.abs().sum(), rtol=1e-12, atol=0)
    torch.testing.assert_close(terms["l2"], 0.5 * 5e-2 * flat.square().sum(), rtol=1e-12, atol=0)
    grads = torch.autograd.grad(terms["l1"] + terms["l2"], params)
    for p, g in zip(params, grads, strict=True):
        torch.testing.assert_close(g, 1e-3 * p.sign() + 5e-2 * p, rtol=1e-12, atol=1e-15)


def test_only_switched_on_penalties_are_returned():
    model = _model()
    regularization = Regularizers(l1=L1(0.0), l2=L2(0.0))
    regularization.attach(model)
    assert regularization.penalties() == {} and Regularizers().penalties() == {}
    switched_on = Regularizers(l1=L1(0.0), l2=L2(1.0))
    switched_on.attach(model)
    assert set(switched_on.penalties()) == {"l2"}


def test_a_penalty_may_cover_every_parameter():
    model = _model()
    l2 = L2(1.0, penalize_all=True)
    l2.attach(model)
    everything = 0.5 * sum(p.square().sum() for p in model.parameters())
    torch.testing.assert_close(l2.penalties()["l2"], everything, rtol=1e-12, atol=0)


def test_the_composite_is_the_protocols_do_nothing_defaults_when_empty():
    none, optimizer = Regularizers(), torch.optim.SGD(_model().parameters(), lr=0.1)
    assert none.model_arguments(nn.Linear, {}) == {} and none.measures() == {}
    assert none.step_hook(optimizer)() is None
    logits, target = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
    assert torch.equal(none.loss(logits, target), nn.functional.cross_entropy(logits, target))
    assert torch.equal(
        Regularizers(smooth=LabelSmoothing(0.2)).loss(logits, target),
        nn.functional.cross_entropy(logits, target, label_smoothing=0.2),
    )
    bare = Regularizer()
    assert bare.penalties() == {} and bare.measures() == {} and bare.step_hook(optimizer) is None


def test_the_composite_calls_every_step_hook_in_turn():
    calls = []

    class Counting(Regularizer):
        def __init__(self, name: str) -> None:
            self.name = name

        def step_hook(self, optimizer):
            return lambda: calls.append(self.name)

    hook = Regularizers(a=Counting("a"), b=Counting("b"), c=Regularizer()).step_hook(None)
    hook()
    assert calls == ["a", "b"]


def test_two_regularizers_may_not_hand_the_model_the_same_argument():
    from netopt.models.mlp import MLP

    with pytest.raises(
        UserError, match=r"^regularization.again: sets dropout as regularization.dropout does"
    ):
        Regularizers(dropout=Dropout(0.1), again=Dropout(0.2)).model_arguments(MLP, {})


@pytest.mark.parametrize("name", config.OPTIONS["regularization"])
def test_presets_compose_and_build(name):
    cfg = compose_config(f"regularization={name}")
    regularization = Regularizers.from_config(cfg.regularization)
    assert isinstance(regularization, Regularizers)
    assert all(isinstance(r, Regularizer) for r in regularization.regularizers.values())
    preflight(cfg)


def test_presets_combine_each_one_key():
    cfg = compose_config("regularization=[l1,l2,dropout,dropconnect,label_smoothing]")
    assert list(cfg.regularization) == ["l1", "l2", "dropout", "dropconnect", "label_smoothing"]
    assert list(compose_config("regularization=standard").regularization) == [
        "l2",
        "dropout",
        "label_smoothing",
    ]
    assert compose_config("regularization=standard").regularization.dropout.p == 0.3
    assert dict(compose_config().regularization) == {}
    preflight(cfg)


def test_a_regularizers_fields_are_typed():
    with pytest.raises(Exception, match="regularization.l2.strength"):
        compose_config("regularization=l2", "regularization.l2.strength=abc")
    with pytest.raises(Exception, match="regularization.l2.foo"):
        compose_config("regularization=l2", "regularization.l2.foo=1")


@pytest.mark.parametrize(("name", "enabled"), [("none", False), ("val_loss", True), ("val_acc", True)])
def test_early_stopping_presets_compose_and_build(name, enabled):
    stopper = make(compose_config(f"early_stopping={name}"), "early_stopping", nn.Linear(2, 2))
    assert stopper.enabled == enabled and stopper.mode == ("max" if name == "val_acc" else "min")


def test_out_of_range_dropout_names_the_key():
    with pytest.raises(UserError, match=r"^regularization.dropout.p=1.0: must be in \[0, 1\)"):
        preflight(compose_config("regularization=dropout", "regularization.dropout.p=1.0"))
    with pytest.raises(UserError, match=r"^model.dropout=1.0: must be in \[0, 1\)"):
        preflight(compose_config("model.dropout=1.0"))


def test_the_model_and_the_dropout_regularizer_do_not_both_set_dropout():
    refused = r"^model.dropout=0.3: also set by regularization.dropout; set one of the two"
    with pytest.raises(UserError, match=refused):
        preflight(compose_config("regularization=dropout", "model.dropout=0.3"))
    with pytest.raises(UserError, match=r"^model.rnn_dropout=naive: also set by regularization.dropout"):
        preflight(compose_config("model=rnn", "regularization=dropout", "model.rnn_dropout=naive"))
    preflight(compose_config("model.dropout=0.3"))  # the model's own option alone
    preflight(compose_config("model=rnn", "model.dropout=0.3", "model.rnn_dropout=naive"))


@pytest.mark.parametrize("spelling", MOVED)
def test_every_old_spelling_names_the_new_one_which_composes(spelling):
    with pytest.raises(UserError) as refused:
        compose_config(f"{spelling}0.1")
    assert str(refused.value) == f"{spelling.rstrip('=')}: {MOVED[spelling]}"
    new = MOVED[spelling].split(" ")[2].rstrip(",")  # "moved to <new>, with regularization=<group> ..."
    group = MOVED[spelling].split("regularization=")[1].split(" ")[0]
    value = "true" if new.endswith(("proximal", "penalize_all")) else "0.1"
    assert OmegaConf.select(compose_config(f"regularization={group}", f"{new}={value}"), new) is not None


def test_an_old_spelling_on_a_chosen_regularizer_is_one_line():
    with pytest.raises(UserError, match=r"^regularization.l2: moved to regularization.l2.strength"):
        preflight(compose_config("regularization=l2", "regularization.l2=1e-4"))


def test_the_old_early_stopping_spelling_points_to_the_new_group(cli):
    status, err = cli("regularization=early_stopping")
    assert status == 2
    assert err.strip().splitlines() == [
        "netopt-train: error: regularization=early_stopping: early stopping is a group of its own: "
        "early_stopping=val_loss"
    ]


def test_the_regularization_experiment_sweeps_every_preset_with_and_without_augmentation():
    cfg = compose_config("experiment=regularization", hydra=True)
    params = cfg.hydra.sweeper.params
    assert params.regularization.split(",")[0] == "none" and params.augmentation == "none,standard"
    assert cfg.dataset.train_size == 5000


def test_runner_stops_early_restores_the_best_weights_and_logs_penalties(tmp_path):
    """Through the real runner: min_delta so large that only the first evaluation counts as better."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.helpers import read_metrics  # noqa: I001

    common = [
        "regularization=[l1,l2,label_smoothing,dropconnect]", "regularization.l1.strength=1e-5",
        "regularization.l2.strength=1e-4", "regularization.label_smoothing.eps=0.1",
        "regularization.dropconnect.p=0.1", "augmentation=standard", "dataset.train_size=64",
    ]  # fmt: skip
    stopped = train(
        tmp_path / "stopped", *common, "trainer.max_epochs=20", "early_stopping=val_loss",
        "early_stopping.patience=2", "early_stopping.min_delta=100",
    )  # fmt: skip
    assert (stopped["epochs"], stopped["stopped_epoch"], stopped["restored_epoch"]) == (3, 3, 1)
    assert read_metrics(tmp_path / "stopped")["stopped_epoch"] == 3
    first_epoch = train(tmp_path / "one", *common, "trainer.max_epochs=1")
    assert first_epoch["stopped_epoch"] is None and first_epoch["restored_epoch"] is None
    assert stopped["test_loss"] == first_epoch["test_loss"]
    events = EventAccumulator(str(tmp_path / "stopped")).Reload()
    assert {"train/l1", "train/l2"} <= set(events.Tags()["scalars"])
    assert events.Tags()["images"] == ["augmentation/samples"]


def test_the_dropout_regularizer_and_the_models_own_dropout_train_alike(tmp_path):
    """regularization=dropout hands its p to the model: the same run as the model's own dropout."""
    common = ["trainer.max_epochs=1", "dataset.train_size=256"]
    handed = train(tmp_path / "handed", *common, "regularization=dropout", "regularization.dropout.p=0.3")
    own = train(tmp_path / "own", *common, "model.dropout=0.3")
    timing = {"wall_time_s", "samples_per_s"}
    assert {k: v for k, v in handed.items() if k not in timing} == {
        k: v for k, v in own.items() if k not in timing
    }
