"""Long runs (`make test-all`): the runner's accuracy targets on digits and Fashion-MNIST."""

import pytest

from netopt.data.datasets import DEBIAN_FASHION_MNIST
from tests.helpers import train


@pytest.mark.slow
def test_default_run_reaches_95_percent_on_digits(tmp_path):
    assert train(tmp_path)["test_acc"] >= 0.95


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian package dataset-fashion-mnist absent")
def test_cnn_reaches_90_percent_on_fashion_mnist_in_5_epochs(tmp_path):
    metrics = train(
        tmp_path,
        "dataset=fashion_mnist",
        f"dataset.root={tmp_path / 'data'}",
        "model=cnn",
        "trainer.max_epochs=5",
    )
    assert metrics["test_acc"] >= 0.90
