"""Every experiment preset (but the single runs) runs from the command line as a miniature (one seed,
two batches an epoch, one epoch) and ends with its report and a verdict for each of its claims (slow:
`make test-all`)."""

import json

import pytest
import yaml

from netopt import config
from netopt.report.claims import VERDICTS

#: Presets of one run, a recipe rather than a comparison: no seeds, no report (each has its own test).
SINGLE_RUNS = {"fashion_mnist_fast", "fashion_mnist_record"}  # tests/test_bench_scripts.py
EXPERIMENTS = sorted(set(config.OPTIONS["experiment"]) - SINGLE_RUNS)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_the_experiment_runs_and_writes_its_report_with_verdicts(cli, tmp_path, name):
    from netopt.data.datasets import DEBIAN_FASHION_MNIST
    from tests.helpers import compose_config

    dataset = compose_config(f"experiment={name}").dataset._target_
    if dataset.endswith("FashionMNIST") and not DEBIAN_FASHION_MNIST.exists():
        pytest.skip(f"{name} trains on Fashion-MNIST: apt-get install dataset-fashion-mnist")
    sweep = tmp_path / "sweep"
    status, err = cli(
        f"experiment={name}",
        "trainer.seed=0",
        "trainer.max_epochs=1",
        "trainer.limit_batches=2",
        f"hydra.sweep.dir={sweep}",
    )
    assert status == 0, err
    assert (sweep / "report.html").exists() and (sweep / "report.md").exists()
    claims = yaml.safe_load((sweep / "multirun.yaml").read_text())["hydra"]["callbacks"]["summary"]["claims"]
    if claims:
        verdicts = json.loads((sweep / "claims.json").read_text())
        assert [v["statement"] for v in verdicts] == [c["statement"] for c in claims]
        assert all(v["verdict"] in VERDICTS for v in verdicts)


def test_every_experiment_runs_five_seeds():
    from tests.helpers import compose_config

    for name in EXPERIMENTS:
        params = compose_config(f"experiment={name}", hydra=True).hydra.sweeper.params
        assert params["trainer.seed"] == "0,1,2,3,4", name
