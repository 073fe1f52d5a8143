"""Config validation: every bad input ends in one line naming the key, exit status 2, no traceback."""

import pytest

from tests.helpers import compose_config


def test_every_group_composes_with_its_default():
    cfg = compose_config()
    for group in [
        "dataset",
        "model",
        "optimizer",
        "scheduler",
        "clip",
        "grad_noise",
        "init",
        "norm",
        "regularization",
        "augmentation",
        "preprocess",
        "trainer",
        "early_stopping",
    ]:
        assert group in cfg


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("optimizer=adamm", "optimizer=adamm: no such option; choose one of"),
        (
            "optimizer.foo=1",
            "optimizer.foo: unknown key; allowed: dampening, foreach, lr, maximize, momentum, nesterov, "
            "weight_decay",
        ),
        ("trainer.max_epochs=abc", "trainer.max_epochs: Value 'abc' of type 'str' could not be converted"),
        ("optimizer.lr=-0.1", "optimizer.lr=-0.1: must be finite and >= 0"),
        ("trainer.batch_size=0", "trainer.batch_size=0: must be a whole number >= 1"),
        ("dataset.val_fraction=1.5", "dataset.val_fraction=1.5: must be in [0, 1)"),
        ("model.activation=swishy", "model.activation=swishy: must be one of relu, tanh"),
        ("+optimiser.lr=0.5", "optimiser: unknown key; allowed: augmentation, averaging, clip, dataset"),
        (
            "+optimizer.foo=1",
            "optimizer.foo: unknown key; allowed: dampening, foreach, lr, maximize, momentum, nesterov",
        ),
        ("nonsense=1", "nonsense: unknown key; allowed: "),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, override, expected):
    status, err = cli(override)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"netopt-train: error: {expected}"), lines[0]
    assert "Traceback" not in err


def test_missing_data_offline_says_what_to_do(cli, tmp_path):
    status, err = cli("dataset=mnist", f"dataset.root={tmp_path / 'nowhere'}")
    assert status == 2
    assert err.strip().splitlines() == [
        f"netopt-train: error: dataset.root={tmp_path / 'nowhere'}: no MNIST files found there; "
        "put them there (or point NETOPT_DATA at them), or add dataset.download=true when online"
    ]


def test_bookkeeping_is_said_once_by_the_trainer_fields():
    """The keys that leave a result unchanged come from TrainerSettings' field metadata, and run
    folder names, the HParams table, the report's configurations and resume all follow them."""
    from netopt.labels import bookkeeping, folder_name
    from netopt.run.folder import differences
    from netopt.run.record import compared
    from netopt.settings import bookkeeping_keys, resumable_keys

    keys = [k for k in bookkeeping_keys() if k.startswith("trainer.")]
    assert {"trainer.progress", "trainer.num_threads", "trainer.device", "trainer.resume"} <= set(keys)
    assert "trainer.seed" not in keys and "trainer.max_epochs" not in keys
    assert "trainer.max_epochs" in resumable_keys() and set(bookkeeping_keys()) - {
        "experiment",
        "hparams_search",
    } <= set(resumable_keys())
    overrides = {"optimizer": "adam", "trainer.seed": "1", **{k: "2" for k in keys}}
    assert folder_name(overrides) == "optimizer-adam+seed-1"
    assert all(bookkeeping(k) for k in keys) and not bookkeeping("trainer.seed")
    cfg = compose_config("trainer.num_threads=2", "trainer.seed=1")
    shown = compared(cfg, {"optimizer": "sgd"}, ["trainer.num_threads=2", "trainer.seed=1"])
    assert "trainer.num_threads" not in shown and shown["trainer.seed"] == 1
    saved = {"trainer": {"num_threads": 1, "max_epochs": 5, "seed": 0}}
    assert differences(saved, {"trainer": {"num_threads": 2, "max_epochs": 9, "seed": 0}}) == []
    assert differences(saved, {"trainer": {"num_threads": 1, "max_epochs": 5, "seed": 1}}) == [
        "trainer.seed: 0 -> 1"
    ]


def test_compose_needs_no_hydra_setup_and_leaves_the_callers():
    """netopt.compose works in a fresh process's state and inside a caller's own Hydra block, typed
    (presets as partials of their targets) and refusing mistakes as one line."""
    from hydra import initialize
    from hydra.core.global_hydra import GlobalHydra

    import netopt
    from netopt.errors import UserError

    cfg = netopt.compose("optimizer=adam")
    assert cfg.optimizer._target_ == "netopt.optim.Adam" and cfg.optimizer._partial_
    with initialize(version_base="1.3", config_path=None):
        caller = GlobalHydra.instance().hydra
        assert netopt.compose("optimizer=sgd").optimizer.lr == 0.1
        assert GlobalHydra.instance().hydra is caller
    assert not GlobalHydra.instance().is_initialized()
    with pytest.raises(UserError, match=r"^optimizer.lrr: unknown key; allowed: .*\blr\b"):
        netopt.compose("optimizer.lrr=1")
