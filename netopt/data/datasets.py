"""The datasets, as float tensors of shape (N, C, H, W) in [0, 1] with integer labels.

``digits`` is scikit-learn's bundled copy of the UCI handwritten digits (1,797 8x8 images), so the
default run needs no download. MNIST, Fashion-MNIST and CIFAR-10/100 are read with torchvision's
dataset classes from ``root``; Fashion-MNIST is also taken from the Debian package
``dataset-fashion-mnist`` when it is installed. Validation is carved from the training set by a
seeded split, so changing the training seed never changes which samples are validated on.
"""

import gzip
import shutil
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from netopt.errors import UserError

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


def split_off(data: Split, fraction: float, generator: torch.Generator) -> tuple[Split, Split]:
    """Split ``data`` at random into (the rest, a ``fraction`` of it)."""
    order = torch.randperm(len(data), generator=generator)
    n_off = round(fraction * len(data))
    return data.take(order[n_off:]), data.take(order[:n_off])


def _finish(
    train: Split, test: Split, num_classes: int, val_fraction: float, train_size: int | None, split_seed: int
) -> Data:
    generator = torch.Generator().manual_seed(split_seed)
    train, val = split_off(train, val_fraction, generator)
    if train_size is not None:
        if train_size > len(train):
            raise UserError(f"dataset.train_size={train_size}: must be at most {len(train)} for this dataset")
        train = train.take(torch.randperm(len(train), generator=generator)[:train_size])
    return Data(train, val, test, num_classes)


def digits(
    val_fraction: float = 0.1, test_fraction: float = 0.2, train_size: int | None = None, split_seed: int = 0
) -> Data:
    """scikit-learn's 8x8 handwritten digits (pixel values 0..16, scaled to [0, 1]).

    The set has no official test split: a seeded ``test_fraction`` is held out first.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    every = Split(
        torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0,
        torch.tensor(bunch.target, dtype=torch.int64),
    )
    rest, test = split_off(every, test_fraction, torch.Generator().manual_seed(split_seed))
    return _finish(rest, test, 10, val_fraction, train_size, split_seed + 1)


def _load(cls: type, root: str, download: bool, name: str) -> tuple[Split, Split, int]:
    """Read both official splits with a torchvision dataset class; clear errors when missing."""
    try:
        sets = [cls(root=root, train=train, download=download) for train in (True, False)]
    except (urllib.error.URLError, OSError) as error:
        raise UserError(f"dataset.download=true: could not fetch {name} into {root} ({error})") from None
    except RuntimeError:
        raise UserError(
            f"dataset.root={root}: no {name} files found there; put them there (or point NETOPT_DATA "
            f"at them), or add dataset.download=true when online"
        ) from None
    splits = []
    for ds in sets:
        images = torch.as_tensor(np.asarray(ds.data))
        images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
        splits.append(Split(images.float().div_(255.0).contiguous(), torch.as_tensor(ds.targets).long()))
    return splits[0], splits[1], len(sets[0].classes)


def _torchvision(cls_name: str, name: str):
    def load(
        root: str,
        download: bool = False,
        val_fraction: float = 0.1,
        train_size: int | None = None,
        split_seed: int = 0,
    ) -> Data:
        import torchvision.datasets

        cls = getattr(torchvision.datasets, cls_name)
        if cls_name == "FashionMNIST" and not download:
            _copy_debian_fashion_mnist(Path(root) / cls_name / "raw")
        train, test, num_classes = _load(cls, root, download, name)
        return _finish(train, test, num_classes, val_fraction, train_size, split_seed)

    load.__name__ = load.__qualname__ = name
    load.__doc__ = f"{name} from ``root`` through ``torchvision.datasets.{cls_name}``."
    return load


def _copy_debian_fashion_mnist(raw: Path) -> None:
    """Unpack the Debian package's gzipped IDX files into torchvision's folder, once."""
    if not DEBIAN_FASHION_MNIST.is_dir() or raw.exists():
        return
    raw.mkdir(parents=True)
    for packed in DEBIAN_FASHION_MNIST.glob("*-ubyte.gz"):
        with gzip.open(packed) as src, open(raw / packed.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)


mnist = _torchvision("MNIST", "mnist")
fashion_mnist = _torchvision("FashionMNIST", "fashion_mnist")
cifar10 = _torchvision("CIFAR10", "cifar10")
cifar100 = _torchvision("CIFAR100", "cifar100")
