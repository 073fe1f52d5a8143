"""The presets experiment=l1_sparsity, dropout_ensemble and rnn: what they sweep and claim (fast), and a
miniature of each through the real command line, down to the report's claim verdicts (slow)."""

import json

import pytest
from omegaconf import OmegaConf

from netopt.data.datasets import DEBIAN_FASHION_MNIST
from netopt.report.claims import VERDICTS, Claim
from tests.helpers import compose_config

PRESETS = {
    "l1_sparsity": {"regularization.l1.strength", "regularization.l1.proximal"},
    "dropout_ensemble": {"regularization.dropout.p"},
    "rnn": {"norm", "regularization.dropout.rnn_dropout"},
}
#: What the presets' runs record, beside the loop's metrics.
RECORDED = {
    "sparsity",
    "test_acc",
    "test_loss",
    "mc_acc_gain",
    "mc_disagreement",
    "preact_std_cv",
    "preact_std_cv_raw",
}


@pytest.mark.parametrize(("name", "varied"), PRESETS.items())
def test_each_preset_sweeps_three_seeds_and_claims_what_its_runs_record(name, varied):
    cfg = compose_config(f"experiment={name}", hydra=True)
    params = cfg.hydra.sweeper.params
    assert set(params) == {*varied, "trainer.seed"} and params["trainer.seed"] == "0,1,2,3,4"
    assert cfg.hydra.mode.name == "MULTIRUN" and f"multirun/{name}/" in cfg.hydra.sweep.dir
    raw = OmegaConf.to_container(cfg.hydra.callbacks.summary.claims)
    claims = [Claim.parse(claim, f"claims[{i}]") for i, claim in enumerate(raw)]
    assert len(claims) >= 2 and {c.metric for c in claims} <= RECORDED
    for claim in claims:
        sides = [claim.left] + ([claim.right] if isinstance(claim.right, dict) else [])
        for side in sides:
            for key, value in side.items():  # every selector names a swept key and one of its values
                assert key in varied and any(_same(value, v) for v in params[key].split(",")), (key, value)


def _same(value: object, swept: str) -> bool:
    """A selector's value and a swept value as the claims compare them: numbers as numbers."""
    try:
        return float(str(value)) == float(swept)
    except ValueError:
        return str(value).lower() == swept.lower()


def _miniature(cli, tmp_path, name: str, *overrides: str) -> list[dict]:
    status, err = cli(
        f"experiment={name}",
        "trainer.limit_batches=2",
        "trainer.max_epochs=2",
        "hydra.sweeper.params={trainer.seed:0}",  # merged into the preset's: one seed
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        *overrides,
    )
    assert status == 0, err
    sweep = tmp_path / "sweep"
    assert (sweep / "report.html").is_file() and (sweep / "report.md").is_file()
    verdicts = json.loads((sweep / "claims.json").read_text())
    declared = compose_config(f"experiment={name}", hydra=True).hydra.callbacks.summary.claims
    assert [v["statement"] for v in verdicts] == [c.statement for c in declared]
    assert all(v["verdict"] in VERDICTS for v in verdicts)
    return verdicts


@pytest.mark.slow
def test_l1_sparsity_miniature(cli, tmp_path):
    verdicts = _miniature(cli, tmp_path, "l1_sparsity")
    assert all(v["verdict"] != "undecided" for v in verdicts)
    runs = [json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/metrics.json")]
    assert len(runs) == 8 and sum("sparsity" in run for run in runs) == 6


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian package dataset-fashion-mnist absent")
def test_dropout_ensemble_miniature(cli, tmp_path):
    verdicts = _miniature(cli, tmp_path, "dropout_ensemble", f"dataset.root={tmp_path / 'data'}")
    assert all(v["verdict"] != "undecided" for v in verdicts)


@pytest.mark.slow
def test_rnn_miniature(cli, tmp_path):
    verdicts = _miniature(cli, tmp_path, "rnn")
    assert all(v["verdict"] != "undecided" for v in verdicts)
