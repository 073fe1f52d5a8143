"""Datasets held as tensors in memory, their preprocessing, and the batch iterator."""

from netopt.data.batches import batches
from netopt.data.datasets import Data, Split

__all__ = ["Data", "Split", "batches"]
