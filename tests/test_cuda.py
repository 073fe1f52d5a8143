"""On a CUDA device (``pytest -m cuda``; skipped without one): fp16 and bf16 runs, the loss scaler
against torch's GradScaler and its skip on CUDA tensors, channels-last, ``trainer.compile`` with
inductor, and one synchronization per training step.

``scripts/gpu_check.sh`` runs these with the benchmarks. The fp16 / bf16 runs are checked against
the fp32 run of the same config: test accuracy within 0.03 (digits, 360 test images: 11 images),
not bit for bit, since the 16-bit products round differently.
"""

import logging
import math
import warnings

import pytest
import torch
from torch import nn

from netopt import compiling
from netopt.data.augment import Augment
from tests.helpers import train
from tests.test_precision import INF, NAN, check_against_grad_scaler, toy_trainer
from tests.test_train import events

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]
CUDA = torch.device("cuda")
CNN = ["model=cnn", "norm=batch", "trainer.max_epochs=2", "trainer.device=cuda"]


def record_output_dtypes(kind: type[nn.Module]) -> tuple[list[torch.dtype], object]:
    seen: list[torch.dtype] = []
    handle = nn.modules.module.register_module_forward_hook(
        lambda module, args, out: seen.append(out.dtype) if isinstance(module, kind) else None
    )
    return seen, handle


@pytest.fixture(scope="module")
def fp32_cnn(tmp_path_factory) -> dict:
    return train(tmp_path_factory.mktemp("fp32"), *CNN)


@pytest.mark.parametrize(("precision", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_16_bit_runs_on_cuda(tmp_path, fp32_cnn, precision: str, dtype: torch.dtype) -> None:
    seen, handle = record_output_dtypes(nn.Conv2d)
    try:
        metrics = train(tmp_path, *CNN, f"trainer.precision={precision}")
    finally:
        handle.remove()
    assert metrics["status"] == "completed"
    assert metrics["test_acc"] == pytest.approx(fp32_cnn["test_acc"], abs=0.03)
    assert set(seen) == {dtype}
    scales = [e.value for e in events(tmp_path).Scalars("train/loss_scale")] if precision == "fp16" else []
    assert len(scales) == (metrics["steps"] if precision == "fp16" else 0)


@pytest.mark.parametrize("bad", [INF, NAN])
def test_the_loss_scaler_matches_grad_scaler_on_cuda(bad: float) -> None:
    check_against_grad_scaler(CUDA, torch.float32, bad)


@pytest.mark.parametrize("bad", [INF, NAN])
def test_an_fp16_overflow_on_cuda_is_skipped(bad: float) -> None:
    trainer = toy_trainer("fp16", CUDA)
    weight = trainer.model[1].weight
    weight.register_hook(lambda g: torch.full_like(g, bad))
    before = weight.detach().clone()
    values = trainer.train_step(trainer.data.train.x[:16], trainer.data.train.y[:16])
    assert torch.equal(weight, before) and math.isfinite(values["train/batch_loss"])
    assert trainer.scaler.scale == 2.0**15


def synchronizations(step, times: int) -> list[str]:
    """The messages of torch's sync debug mode while ``step()`` runs ``times`` times."""
    step()  # CUDA's lazy initialization, cuBLAS handles
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(times):
                step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return [str(w.message) for w in caught if "synchroniz" in str(w.message)]


@pytest.mark.parametrize(("precision", "per_step"), [("fp32", 1), ("bf16", 1), ("fp16", 2)])
def test_a_training_step_synchronizes_once(precision: str, per_step: int) -> None:
    """The loop's one read of the step's scalars (for logging and the divergence check), and under
    fp16 the loss scaler's read of whether to skip; augmentation (with translation) adds none."""
    trainer = toy_trainer(precision, CUDA)
    augment = Augment(flip_p=0.5, rotate_p=0.5, degrees=10, translate_p=0.5, translate=0.1, noise_p=0.5)
    x, y = trainer.data.train.x[:16], trainer.data.train.y[:16]

    def step() -> None:
        trainer.train_step(augment(x, trainer.rng.noise), y)

    syncs = synchronizations(step, 3)
    assert len(syncs) == 3 * per_step, syncs


def test_channels_last_is_on_for_a_cnn_on_cuda(tmp_path) -> None:
    layouts: list[bool] = []
    handle = nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: (
            layouts.append(args[0].is_contiguous(memory_format=torch.channels_last))
            if isinstance(module, nn.Conv2d) and module.in_channels == 1
            else None
        )
    )
    try:
        metrics = train(tmp_path, *CNN, "trainer.max_epochs=1", "trainer.precision=bf16")
    finally:
        handle.remove()
    assert metrics["status"] == "completed" and layouts and all(layouts)
    weight = torch.load(tmp_path / "checkpoint.pt")["model"]["features.0.weight"]
    assert weight.is_contiguous(memory_format=torch.channels_last)


def test_compile_with_inductor_on_cuda(tmp_path, fp32_cnn, caplog) -> None:
    torch._dynamo.reset()
    with caplog.at_level(logging.WARNING, logger=compiling.__name__):
        metrics = train(tmp_path, *CNN, "trainer.compile=true")
    torch._dynamo.reset()
    assert not [r for r in caplog.records if r.name == compiling.__name__]
    assert metrics["status"] == "completed"
    assert metrics["test_acc"] == pytest.approx(fp32_cnn["test_acc"], abs=0.03)
    keys = list(torch.load(tmp_path / "checkpoint.pt")["model"])
    assert not any("_orig_mod" in key for key in keys)
