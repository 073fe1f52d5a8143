"""PCA and ZCA whitening (Qiu Xipeng, Neural Networks and Deep Learning, ch. 7), fitted on the
training split.

With mu the mean and Sigma = U Lambda U^T the (biased) covariance of the flattened training images,

    PCA:  x' = (Lambda + eps)^(-1/2) U^T (x - mu)     decorrelated components, largest variance first
    ZCA:  x' = U (Lambda + eps)^(-1/2) U^T (x - mu)   the same, rotated back to pixel space

so the whitened training data has covariance ~ I (exactly Lambda / (Lambda + eps) in the eigenbasis:
directions whose variance is not well above ``eps`` are damped, not amplified). The chapter adds no
``eps``; without it pixels that never vary in training would be divided by zero. PCA's output
keeps all components and the input's shape, so it suits models that flatten (mlp, rnn); ZCA keeps
the image layout for convolutions. The statistics are buffers: they move with the data and travel
in the checkpoint.
"""

import torch
from torch import Tensor

from netopt.checks import require_positive
from netopt.data.preprocess import Preprocess


class Whiten(Preprocess):
    """Shared fit and transform: x' = (x - mu) W, W from the eigendecomposition of the covariance."""

    def __init__(self, eps: float = 1e-2) -> None:
        super().__init__()
        require_positive(eps=eps)  # 0 divides directions of no variance by zero
        self.eps = eps
        self.register_buffer("mean", torch.zeros(1))
        self.register_buffer("matrix", torch.ones(1, 1))

    def fit(self, x: Tensor) -> "Whiten":
        flat = x.flatten(1)
        self.mean = flat.mean(dim=0)
        centered = flat - self.mean
        covariance = (centered.T @ centered).double() / len(flat)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
        eigenvalues, eigenvectors = eigenvalues.flip(0).clamp_min(0.0), eigenvectors.flip(1)
        self.matrix = self.whitening_matrix(eigenvectors, (eigenvalues + self.eps).rsqrt()).to(x.dtype)
        return self

    def whitening_matrix(self, eigenvectors: Tensor, scale: Tensor) -> Tensor:
        """The matrix W with x' = (x - mu) W (rows are samples), from U and (Lambda + eps)^(-1/2)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return ((x.flatten(1) - self.mean) @ self.matrix).reshape(x.shape)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        for name in ("mean", "matrix"):  # take the fitted shapes, whatever this instance holds
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class PCAWhiten(Whiten):
    """``preprocess=pca_whiten``: x' = (Lambda + eps)^(-1/2) U^T (x - mu), largest variance first."""

    def whitening_matrix(self, eigenvectors: Tensor, scale: Tensor) -> Tensor:
        return eigenvectors * scale


class ZCAWhiten(Whiten):
    """``preprocess=zca_whiten``: x' = U (Lambda + eps)^(-1/2) U^T (x - mu), the whitening closest to x."""

    def whitening_matrix(self, eigenvectors: Tensor, scale: Tensor) -> Tensor:
        return (eigenvectors * scale) @ eigenvectors.T
