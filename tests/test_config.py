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
        ("+optimiser.lr=0.5", "optimiser: unknown key; allowed: augmentation, clip, dataset"),
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
