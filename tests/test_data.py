"""Datasets as tensors: seeded splits, the torchvision readers on tiny files, batches, preprocessing."""

import pickle
import struct

import numpy as np
import pytest
import torch

from netopt.data import batches
from netopt.data import datasets as ds
from netopt.data.batches import num_batches
from netopt.data.preprocess import MinMax, Standardize
from netopt.errors import UserError


def test_digits_splits_are_disjoint_seeded_and_sized():
    data = ds.Digits(val_fraction=0.1, test_fraction=0.2, split_seed=3).load()
    assert data.in_shape == (1, 8, 8) and data.num_classes == 10
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert len(data.test) == round(0.2 * 1797)
    rows = {tuple(r.tolist()) for split in (data.train, data.val, data.test) for r in split.x.flatten(1)}
    assert len(rows) > 1700  # a few digits are duplicated in the source itself
    again = ds.Digits(val_fraction=0.1, test_fraction=0.2, split_seed=3).load()
    assert torch.equal(again.val.x, data.val.x)
    assert not torch.equal(ds.Digits(split_seed=4).load().val.x[:10], data.val.x[:10])
    assert data.train.x.min() >= 0.0 and data.train.x.max() <= 1.0


def test_train_size_keeps_a_subset_and_checks_the_bound():
    assert len(ds.Digits(train_size=100).load().train) == 100
    with pytest.raises(UserError, match="^train_size=5000: must be at most"):
        ds.Digits(train_size=5000).load()
    with pytest.raises(UserError, match="^train_size=0: must be a whole number >= 1"):
        ds.Digits(train_size=0)


def test_no_validation_set_when_the_fraction_is_zero():
    data = ds.Digits(val_fraction=0.0).load()
    assert len(data.val) == 0 and len(data.train) + len(data.test) == 1797


def _write_idx(path, array: np.ndarray) -> None:
    code = {np.uint8: 0x08}[array.dtype.type]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


@pytest.mark.parametrize(
    ("loader", "folder"), [(ds.MNIST, "MNIST"), (ds.FashionMNIST, "FashionMNIST"), (ds.KMNIST, "KMNIST")]
)
def test_idx_files_load_through_torchvision(tmp_path, loader, folder):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 50), ("t10k", 20)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    data = loader(root=str(tmp_path), val_fraction=0.2).load()
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 20)
    assert data.in_shape == (1, 28, 28) and data.train.x.dtype == torch.float32
    assert data.train.x.max() <= 1.0 and data.train.y.dtype == torch.int64


def test_cifar_pickles_load_through_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as cifar

    # tiny files cannot match the published md5 sums that torchvision checks
    monkeypatch.setattr(cifar, "check_integrity", lambda path, md5=None: __import__("os").path.exists(path))
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        entry = {
            "data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
            "labels": list(rng.integers(0, 10, 4)),
        }
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    data = ds.CIFAR10(root=str(tmp_path), val_fraction=0.25).load()
    assert data.in_shape == (3, 32, 32) and data.num_classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (15, 5, 4)
    first = np.frombuffer(pickle.loads((folder / "test_batch").read_bytes())["data"][0], dtype=np.uint8)
    assert torch.allclose(data.test.x[0], torch.tensor(first.reshape(3, 32, 32) / 255.0, dtype=torch.float32))


def test_missing_files_are_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"dataset.root=.*: no CIFAR100 files found there"):
        ds.CIFAR100(root=str(tmp_path)).load()


@pytest.mark.skipif(
    not ds.DEBIAN_FASHION_MNIST.is_dir(), reason="Debian package dataset-fashion-mnist absent"
)
def test_fashion_mnist_from_the_debian_package(tmp_path):
    data = ds.FashionMNIST(root=str(tmp_path)).load()
    assert (len(data.train) + len(data.val), len(data.test)) == (60000, 10000)


def test_batches_reshuffle_every_epoch_and_cover_everything():
    x, y = torch.arange(10.0).view(10, 1), torch.arange(10)
    g = torch.Generator().manual_seed(0)
    epochs = [torch.cat([yb for _, yb in batches(x, y, 4, g)]) for _ in range(2)]
    assert [len(yb) for _, yb in batches(x, y, 4, g)] == [4, 4, 2]
    assert all(sorted(e.tolist()) == list(range(10)) for e in epochs)
    assert not torch.equal(epochs[0], epochs[1])
    assert torch.equal(torch.cat([yb for _, yb in batches(x, y, 3)]), y)  # no generator: in order
    assert len(list(batches(x, y, 3, g, limit=2))) == num_batches(10, 3, limit=2) == 2


def test_preprocessing_is_fitted_on_train_only():
    train = torch.rand(200, 3, 4, 4) * 5 + 2
    other = torch.rand(50, 3, 4, 4)
    standardize = Standardize().fit(train)
    z = standardize(train)
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-5)
    assert torch.allclose(standardize(other), (other - standardize.mean) / standardize.std)
    scaled = MinMax().fit(train)(train)
    assert (
        scaled.amin(dim=(0, 2, 3)).abs().max() < 1e-6 and (scaled.amax(dim=(0, 2, 3)) - 1).abs().max() < 1e-6
    )
    restored = Standardize().fit(other)
    restored.load_state_dict(standardize.state_dict())
    assert torch.equal(restored(other), standardize(other))
