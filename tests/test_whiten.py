"""PCA and ZCA whitening: the whitened training data has covariance ~ I; fitted state round-trips."""

import pytest
import torch
from hydra.utils import instantiate

from netopt.data.whiten import PCAWhiten, ZCAWhiten
from tests.helpers import compose_config


def _correlated_images(n: int = 4000, seed: int = 0) -> torch.Tensor:
    """(n, 2, 3, 3) images whose 18 pixels are strongly correlated, with a non-zero mean."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(18, 18, generator=generator, dtype=torch.float64)
    return (torch.randn(n, 18, generator=generator, dtype=torch.float64) @ mixing + 3.0).reshape(n, 2, 3, 3)


def _covariance(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    centered = flat - flat.mean(0)
    return centered.T @ centered / len(flat)


@pytest.mark.parametrize("whiten", [PCAWhiten, ZCAWhiten])
def test_whitened_training_data_has_identity_covariance(whiten):
    x = _correlated_images()
    assert (_covariance(x) - torch.eye(18)).abs().max() > 1.0
    white = whiten(eps=1e-8).fit(x)(x)
    assert white.shape == x.shape
    zeros, identity = torch.zeros(18, dtype=torch.float64), torch.eye(18, dtype=torch.float64)
    torch.testing.assert_close(white.flatten(1).mean(0), zeros, atol=1e-8, rtol=0)
    torch.testing.assert_close(_covariance(white), identity, atol=1e-6, rtol=0)


def test_pca_components_come_in_descending_variance_and_zca_stays_closest_to_the_input():
    x = _correlated_images()
    variances = PCAWhiten(eps=1.0).fit(x)(x).flatten(1).var(0)
    assert (variances[:-1] >= variances[1:] - 1e-9).all()
    pca, zca = PCAWhiten(eps=1e-8).fit(x), ZCAWhiten(eps=1e-8).fit(x)
    centered = x - x.mean(0)
    assert (zca(x) - centered).norm() < (pca(x) - centered).norm()
    torch.testing.assert_close(zca.matrix, zca.matrix.T)  # ZCA's matrix is symmetric


def test_eps_damps_directions_that_never_vary():
    x = _correlated_images(n=500)
    x[:, 0, 0, 0] = 0.5  # a constant pixel, like the border of a digit
    white = ZCAWhiten(eps=1e-2).fit(x)
    assert torch.isfinite(white.matrix).all()
    test = x.clone()
    test[:, 0, 0, 0] = 0.6  # a value the training data never had
    assert white(test).abs().max() < 100


@pytest.mark.parametrize("whiten", [PCAWhiten, ZCAWhiten])
def test_state_dict_restores_the_fitted_transform(whiten):
    x, other = _correlated_images(n=300), _correlated_images(n=50, seed=1)
    fitted = whiten().fit(x)
    restored = whiten()
    restored.load_state_dict(fitted.state_dict())
    torch.testing.assert_close(restored(other), fitted(other))


def test_float32_images_stay_float32():
    x = _correlated_images(n=300).float()
    assert ZCAWhiten().fit(x)(x).dtype == torch.float32


@pytest.mark.parametrize(("option", "cls"), [("pca_whiten", PCAWhiten), ("zca_whiten", ZCAWhiten)])
def test_whitening_options_compose_and_instantiate(option, cls):
    cfg = compose_config(f"preprocess={option}", "preprocess.eps=0.5")
    whiten = instantiate(cfg.preprocess)
    assert type(whiten) is cls and whiten.eps == 0.5
