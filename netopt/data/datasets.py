"""The datasets, as float tensors of shape (N, C, H, W) in [0, 1] with integer labels.

A dataset of the ``dataset`` group is a small dataclass of its options (checked when it is built)
whose :meth:`Dataset.load` reads it into memory. ``digits`` is scikit-learn's bundled copy of the UCI
handwritten digits (1,797 8x8 images), so the default run needs no download. MNIST, Fashion-MNIST,
Kuzushiji-MNIST and CIFAR-10/100 are read with torchvision's dataset classes from ``root``;
Fashion-MNIST is also taken from the Debian package ``dataset-fashion-mnist`` when it is installed.
Validation is carved from the training set by a seeded split, so changing the training seed never
changes which samples are validated on; ``val_fraction=0`` leaves no validation set.
"""

import gzip
import os
import shutil
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from netopt.checks import require, require_count, require_fraction
from netopt.errors import UserError
from netopt.settings import MAX_SEED

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class Split:
    """Inputs ``x`` (N, C, H, W) and integer labels ``y`` (N,)."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: Tensor) -> "Split":
        return Split(self.x[idx], self.y[idx])

    def to(self, device: torch.device) -> "Split":
        return Split(self.x.to(device), self.y.to(device))


@dataclass
class Data:
    """The three splits of a dataset and its number of classes."""

    train: Split
    val: Split
    test: Split
    num_classes: int

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    def to(self, device: torch.device) -> "Data":
        return Data(self.train.to(device), self.val.to(device), self.test.to(device), self.num_classes)

    def map(self, transform: Callable[[Tensor], Tensor]) -> "Data":
        """The same splits with every input transformed (preprocessing)."""
        train, val, test = (Split(transform(s.x), s.y) for s in (self.train, self.val, self.test))
        return Data(train, val, test, self.num_classes)


def split_off(data: Split, fraction: float, generator: torch.Generator) -> tuple[Split, Split]:
    """Split ``data`` at random into (the rest, a ``fraction`` of it)."""
    order = torch.randperm(len(data), generator=generator)
    n_off = round(fraction * len(data))
    return data.take(order[n_off:]), data.take(order[:n_off])


@dataclass
class Dataset:
    """A dataset's options (the ``dataset`` group); :meth:`load` reads it.

    ``val_fraction`` of the training set is held out for validation (0: none), ``train_size`` keeps
    a seeded subset of the rest (None: all), ``split_seed`` seeds both, independent of the run's seed.
    """

    val_fraction: float = 0.1
    train_size: int | None = None
    split_seed: int = 0
    in_shape: ClassVar[tuple[int, int, int]]
    num_classes: ClassVar[int]

    def __post_init__(self) -> None:
        require_fraction(val_fraction=self.val_fraction)
        require_count(train_size=self.train_size)
        require(
            isinstance(self.split_seed, int) and 0 <= self.split_seed <= MAX_SEED,
            "split_seed",
            f"in [0, {MAX_SEED}]",
            self.split_seed,
        )

    def load(self) -> Data:
        """The three splits, in memory."""
        raise NotImplementedError

    def finish(self, train: Split, test: Split, generator: torch.Generator) -> Data:
        """Hold out the validation split, keep ``train_size`` of the rest."""
        train, val = split_off(train, self.val_fraction, generator)
        if self.train_size is not None:
            require(
                self.train_size <= len(train),
                "train_size",
                f"at most {len(train)} for this dataset",
                self.train_size,
            )
            train = train.take(torch.randperm(len(train), generator=generator)[: self.train_size])
        return Data(train, val, test, self.num_classes)


@dataclass
class Digits(Dataset):
    """scikit-learn's 8x8 handwritten digits (pixel values 0..16, scaled to [0, 1]).

    The set has no official test split: a seeded ``test_fraction`` is held out first.
    """

    test_fraction: float = 0.2
    in_shape = (1, 8, 8)
    num_classes = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 < self.test_fraction < 1, "test_fraction", "in (0, 1)", self.test_fraction)

    def load(self) -> Data:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        every = Split(
            torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0,
            torch.tensor(bunch.target, dtype=torch.int64),
        )
        rest, test = split_off(every, self.test_fraction, torch.Generator().manual_seed(self.split_seed))
        return self.finish(rest, test, torch.Generator().manual_seed(self.split_seed + 1))


@dataclass
class TorchvisionDataset(Dataset):
    """A dataset read with ``torchvision.datasets.<source>`` from ``root`` (None: $NETOPT_DATA, else
    ./data); ``download`` fetches it when online."""

    root: str | None = None
    download: bool = False
    source: ClassVar[str]

    @property
    def folder(self) -> str:
        return self.root or os.environ.get("NETOPT_DATA", "./data")

    def load(self) -> Data:
        import torchvision.datasets

        cls = getattr(torchvision.datasets, self.source)
        try:
            sets = [cls(root=self.folder, train=train, download=self.download) for train in (True, False)]
        except (urllib.error.URLError, OSError) as error:
            raise UserError(
                f"dataset.download=true: could not fetch {self.source} into {self.folder} ({error})"
            ) from None
        except RuntimeError:
            raise UserError(
                f"dataset.root={self.folder}: no {self.source} files found there; put them there (or point "
                "NETOPT_DATA at them), or add dataset.download=true when online"
            ) from None
        train, test = (self._split(ds) for ds in sets)
        return self.finish(train, test, torch.Generator().manual_seed(self.split_seed))

    @staticmethod
    def _split(ds: object) -> Split:
        images = torch.as_tensor(np.asarray(ds.data))  # type: ignore[attr-defined]
        images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
        labels = torch.as_tensor(ds.targets).long()  # type: ignore[attr-defined]
        return Split(images.float().div_(255.0).contiguous(), labels)


class MNIST(TorchvisionDataset):
    """MNIST handwritten digits, 28x28."""

    source, in_shape, num_classes = "MNIST", (1, 28, 28), 10


class FashionMNIST(TorchvisionDataset):
    """Fashion-MNIST (Xiao et al. 2017), 28x28 images of 10 kinds of clothing; also read, with no
    download, from the Debian package ``dataset-fashion-mnist``."""

    source, in_shape, num_classes = "FashionMNIST", (1, 28, 28), 10

    def load(self) -> Data:
        if not self.download:
            _copy_debian_fashion_mnist(Path(self.folder) / self.source / "raw")
        return super().load()


class KMNIST(TorchvisionDataset):
    """Kuzushiji-MNIST (Clanuwat et al. 2018), 28x28 images of 10 cursive Japanese characters."""

    source, in_shape, num_classes = "KMNIST", (1, 28, 28), 10


class CIFAR10(TorchvisionDataset):
    """CIFAR-10, 32x32 colour images of 10 classes."""

    source, in_shape, num_classes = "CIFAR10", (3, 32, 32), 10


class CIFAR100(TorchvisionDataset):
    """CIFAR-100, 32x32 colour images of 100 classes."""

    source, in_shape, num_classes = "CIFAR100", (3, 32, 32), 100


def _copy_debian_fashion_mnist(raw: Path) -> None:
    """Unpack the Debian package's gzipped IDX files into torchvision's folder, once."""
    if not DEBIAN_FASHION_MNIST.is_dir() or raw.exists():
        return
    raw.mkdir(parents=True)
    for packed in DEBIAN_FASHION_MNIST.glob("*-ubyte.gz"):
        with gzip.open(packed) as src, open(raw / packed.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
