"""Schemas of the ``dataset`` group (netopt.data.datasets)."""

from dataclasses import dataclass

from netopt.schema import bounded, register


@dataclass
class _DatasetConfig:
    val_fraction: float = bounded(0.1, ge=0.0, lt=1.0)  # of the training set, held out for validation
    train_size: int | None = bounded(None, ge=1)  # keep only this many training samples (null: all)
    split_seed: int = 0  # seeds the validation split, independent of trainer.seed


@dataclass
class DigitsConfig(_DatasetConfig):
    _target_: str = "netopt.data.datasets.digits"
    test_fraction: float = bounded(0.2, gt=0.0, lt=1.0)


@dataclass
class _FilesConfig(_DatasetConfig):
    root: str = "${oc.env:NETOPT_DATA,./data}"
    download: bool = False


@dataclass
class MNISTConfig(_FilesConfig):
    _target_: str = "netopt.data.datasets.mnist"


@dataclass
class FashionMNISTConfig(_FilesConfig):
    _target_: str = "netopt.data.datasets.fashion_mnist"


@dataclass
class CIFAR10Config(_FilesConfig):
    _target_: str = "netopt.data.datasets.cifar10"


@dataclass
class CIFAR100Config(_FilesConfig):
    _target_: str = "netopt.data.datasets.cifar100"


register("dataset", "digits", DigitsConfig)
register("dataset", "mnist", MNISTConfig)
register("dataset", "fashion_mnist", FashionMNISTConfig)
register("dataset", "cifar10", CIFAR10Config)
register("dataset", "cifar100", CIFAR100Config)
