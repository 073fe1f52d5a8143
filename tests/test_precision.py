"""Mixed precision, channels-last and compile on the CPU: bf16 autocast trains with bf16
activations, the loss scaler against torch's GradScaler, fp16 steps that overflow are skipped (and
are no divergence), a resumed fp16 run continues its loss scale exactly, the compile fallback.

Oracle tolerance: none. With power-of-two scales, dividing a gradient by S is exact in float32 and
float64, so the scaler's unscaled gradients, scales and parameters must equal GradScaler's bit for
bit.
"""

import contextlib
import functools
import logging
import math
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import netopt.components
from netopt import compiling
from netopt import precision as mixed_precision
from netopt.data import Data, Split
from netopt.errors import ConfigValueError, UserError
from netopt.loop import Trainer
from netopt.optim.clip import clip_grad_value_, grad_norm
from netopt.precision import LossScaler, autocast
from netopt.run.record import SilentRecorder
from netopt.settings import TrainerSettings
from netopt.state import History, RandomState
from tests.helpers import train

CPU = torch.device("cpu")
INF, NAN = math.inf, math.nan


class Captured(SilentRecorder):
    """A recorder that keeps the scalars logged at each step."""

    def __init__(self) -> None:
        super().__init__(Path("."))
        self.rows: list[dict[str, float]] = []

    def scalars(self, values, step) -> None:
        self.rows.append(dict(values))


def toy_data(n: int = 64, seed: int = 0) -> Data:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 4, 4, generator=generator)
    y = (x.flatten(1).sum(1) > 0).long()
    return Data(Split(x, y), Split(x[:0], y[:0]), Split(x, y), 2)


def toy_trainer(precision: str, device: torch.device = CPU, clip=grad_norm) -> Trainer:
    """A Trainer of a small MLP on a toy problem (64 samples of 4x4, 2 classes) on ``device``."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2)).to(device)
    return Trainer(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        schedule=lambda t: 1.0,
        clip=clip,
        augment=lambda x, generator: x,
        data=toy_data().to(device),
        recorder=Captured(),
        history=History(),
        rng=RandomState(0, device),
        max_epochs=3,
        batch_size=16,
        eval_batch_size=64,
        progress=False,
        autocast=autocast(precision, device),
        scaler=LossScaler(enabled=precision == "fp16"),
    )


def record_linear_output_dtypes() -> tuple[list[torch.dtype], object]:
    """The output dtypes of every ``nn.Linear`` called until the returned handle is removed."""
    seen: list[torch.dtype] = []
    handle = nn.modules.module.register_module_forward_hook(
        lambda module, args, out: seen.append(out.dtype) if isinstance(module, nn.Linear) else None
    )
    return seen, handle


# --- settings ------------------------------------------------------------------------------------
def test_bad_precision_and_fp16_with_sam_are_one_line_errors(cli) -> None:
    status, err = cli("trainer.precision=fp8")
    assert status == 2
    assert err.strip() == "netopt-train: error: trainer.precision=fp8: must be fp32, bf16 or fp16"
    status, err = cli("optimizer=sam", "trainer.precision=fp16")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "trainer.precision=fp16: not with optimizer=sam" in err and "trainer.precision=bf16" in err
    with pytest.raises(ConfigValueError, match=r"^channels_last=sometimes: must be auto, true or false$"):
        TrainerSettings(channels_last="sometimes")  # type: ignore[arg-type]


def test_autocast_types_on_the_cpu() -> None:
    assert autocast("fp32", CPU) is contextlib.nullcontext
    for precision, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        with autocast(precision, CPU)():
            assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == dtype


def test_a_type_the_device_cannot_autocast_to_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(mixed_precision, "autocasts", lambda device, dtype: False)
    refused = r"^trainer.precision=fp16: torch .* has no autocast to torch.float16 on cpu; use fp32 or bf16$"
    with pytest.raises(UserError, match=refused):
        autocast("fp16", CPU)


def test_channels_last_only_for_conv_models() -> None:
    conv, mlp = nn.Conv2d(1, 2, 3), nn.Linear(2, 2)
    cuda = torch.device("cuda")
    assert netopt.components.channels_last("auto", conv, cuda) and not netopt.components.channels_last(
        "auto", conv, CPU
    )
    assert netopt.components.channels_last(True, conv, CPU) and not netopt.components.channels_last(
        False, conv, cuda
    )
    assert not netopt.components.channels_last(True, mlp, cuda)


# --- bf16 ----------------------------------------------------------------------------------------
def test_a_bf16_run_trains_with_bf16_activations(tmp_path) -> None:
    seen, handle = record_linear_output_dtypes()
    try:
        metrics = train(tmp_path, "trainer.max_epochs=3", "trainer.precision=bf16")
    finally:
        handle.remove()
    assert metrics["status"] == "completed" and metrics["test_acc"] > 0.85
    assert set(seen) == {torch.bfloat16}  # training and evaluation
    losses = [
        row["train_loss_running"] for row in torch.load(tmp_path / "checkpoint.pt")["history"]["epochs"]
    ]
    assert losses[0] > losses[1] > losses[2]
    assert "scaler" not in torch.load(tmp_path / "checkpoint.pt")


def test_bf16_norm_layers_compute_in_float32(tmp_path) -> None:
    metrics = train(tmp_path, "model=cnn", "norm=batch", "trainer.max_epochs=1", "trainer.precision=bf16")
    assert metrics["status"] == "completed" and metrics["test_acc"] > 0.5


# --- the loss scaler against torch's GradScaler --------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bad", [INF, NAN])
def test_the_loss_scaler_matches_torch_grad_scaler(dtype: torch.dtype, bad: float) -> None:
    check_against_grad_scaler(CPU, dtype, bad)


def check_against_grad_scaler(device: torch.device, dtype: torch.dtype, bad: float) -> None:
    """12 steps with growth every 3 good steps and an overflow (an injected inf or NaN gradient) at
    steps 4 and 9: the same scale after every step, the same unscaled gradients, the same
    parameters (skipped steps included)."""
    options = dict(init_scale=2.0**10, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)
    ours, theirs = LossScaler(**options), torch.amp.GradScaler(device.type, **options)
    torch.manual_seed(0)
    a = nn.Linear(5, 3).to(device, dtype)
    b = nn.Linear(5, 3).to(device, dtype)
    b.load_state_dict(a.state_dict())
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    skipped, scales = [], []
    for t in range(12):
        x = torch.randn(8, 5, generator=generator, dtype=dtype).to(device)
        y = torch.randint(0, 3, (8,), generator=generator).to(device)
        overflow = t in (4, 9)

        def closure(x=x, y=y, overflow=overflow) -> torch.Tensor:
            opt_a.zero_grad()
            loss = F.cross_entropy(a(x), y)
            ours.scale_loss(loss).backward()
            if overflow:
                a.weight.grad[0, 0] = bad
            ours.unscale_(a.parameters())
            return loss

        _, stepped = ours.step(opt_a, closure)
        skipped.append(not stepped)
        opt_b.zero_grad()
        theirs.scale(F.cross_entropy(b(x), y)).backward()
        if overflow:
            b.weight.grad[0, 0] = bad
        theirs.unscale_(opt_b)
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0, equal_nan=True)
        theirs.step(opt_b)
        theirs.update()
        scales.append(ours.scale)
        assert ours.scale == theirs.get_scale(), t
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.equal(p, q), t
    assert [t for t, s in enumerate(skipped) if s] == [4, 9]
    # growth after 3 good steps, halved at each overflow (which restarts the count)
    assert [int(math.log2(s)) for s in scales] == [10, 10, 11, 11, 10, 10, 10, 11, 11, 10, 10, 10]


def test_the_loss_scaler_state_round_trips() -> None:
    scaler = LossScaler(growth_interval=2)
    scaler.update(True)
    scaler.update(False)
    scaler.update(True)
    other = LossScaler(growth_interval=2)
    other.load_state_dict(scaler.state_dict())
    assert other.state_dict() == {"scale": 2.0**15, "good_steps": 1}


def test_a_disabled_scaler_is_the_plain_step() -> None:
    scaler = LossScaler(enabled=False)
    loss = torch.tensor(3.0)
    assert scaler.scale_loss(loss) is loss
    calls = []
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    assert scaler.step(optimizer, lambda: calls.append(1) or loss) == (loss, True) and calls == [1]


# --- fp16 steps in the loop ----------------------------------------------------------------------
def test_an_fp16_step_whose_gradients_overflow_is_skipped_not_diverged() -> None:
    """An inf injected into one gradient at step 2, with clipping by value (which would make it
    finite if it ran before the check): that step leaves the weights as they were and halves the
    scale, and its logged loss is finite; the other steps move the weights."""
    trainer = toy_trainer("fp16", clip=functools.partial(clip_grad_value_, clip_value=1.0))
    weight = trainer.model[1].weight
    backward: list[int] = []

    def inject(grad: torch.Tensor) -> torch.Tensor:
        backward.append(1)
        return grad * INF if len(backward) == 3 else grad

    weight.register_hook(inject)
    x, y = trainer.data.train.x[:16], trainer.data.train.y[:16]
    weights, logged = [weight.detach().clone()], []
    for _ in range(4):
        logged.append(trainer.train_step(x, y))
        weights.append(weight.detach().clone())
    moved = [not torch.equal(before, after) for before, after in zip(weights, weights[1:], strict=False)]
    assert moved == [True, True, False, True]
    assert all(math.isfinite(values["train/batch_loss"]) for values in logged)
    assert [values["train/loss_scale"] for values in logged] == [2.0**16, 2.0**16, 2.0**16, 2.0**15]
    assert math.isinf(logged[2]["train/grad_norm"])


def test_fp16_trains_on_the_cpu_and_logs_its_scale() -> None:
    trainer = toy_trainer("fp16")
    metrics = trainer.fit()
    assert metrics["status"] == "completed" and metrics["test_acc"] > 0.7
    assert all(
        row["train/loss_scale"] == 2.0**16 for row in trainer.recorder.rows if "train/batch_loss" in row
    )


def test_a_resumed_fp16_run_continues_its_loss_scale_exactly(tmp_path, monkeypatch) -> None:
    """Growth every 5 good steps, so the scale moves up and down within the first epoch; a run stopped
    after it and resumed ends exactly as one that never stopped."""
    monkeypatch.setattr(netopt.components, "LossScaler", functools.partial(LossScaler, growth_interval=5))
    args = ["trainer.precision=fp16"]
    straight = train(tmp_path / "straight", *args, "trainer.max_epochs=2")
    train(tmp_path / "stopped", *args, "trainer.max_epochs=1")
    saved = torch.load(tmp_path / "stopped" / "checkpoint.pt")["scaler"]
    assert saved != {"scale": 2.0**16, "good_steps": 0}
    resumed = train(tmp_path / "stopped", *args, "trainer.max_epochs=2", "trainer.resume=true")
    timing = {"wall_time_s", "samples_per_s"}
    assert {k: v for k, v in resumed.items() if k not in timing} == {
        k: v for k, v in straight.items() if k not in timing
    }


# --- compile -------------------------------------------------------------------------------------
def no_compiler(*args: object, **kwargs: object):
    def compiled(*args: object, **kwargs: object) -> None:
        raise RuntimeError("InductorError: no working C++ compiler found\nmore detail")

    return compiled


def test_compile_without_a_compiler_warns_once_and_trains_eagerly(tmp_path, monkeypatch, caplog) -> None:
    eager = train(tmp_path / "eager", "trainer.max_epochs=2")
    monkeypatch.setattr(torch, "compile", no_compiler)
    with caplog.at_level(logging.WARNING, logger=compiling.__name__):
        compiled = train(tmp_path / "compiled", "trainer.max_epochs=2", "trainer.compile=true")
    assert [r.getMessage() for r in caplog.records if r.name == compiling.__name__] == [
        "trainer.compile=true failed (InductorError: no working C++ compiler found); the model runs eagerly"
    ]
    timing = {"wall_time_s", "samples_per_s"}
    assert {k: v for k, v in compiled.items() if k not in timing} == {
        k: v for k, v in eager.items() if k not in timing
    }


def test_a_compiled_run_saves_the_plain_models_keys(tmp_path, monkeypatch, caplog) -> None:
    """Traced by dynamo, run with its ``eager`` backend (no code generation: seconds, not minutes)."""
    torch._dynamo.reset()
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    with caplog.at_level(logging.WARNING, logger=compiling.__name__):
        metrics = train(tmp_path / "compiled", "trainer.max_epochs=1", "trainer.compile=true")
    torch._dynamo.reset()
    assert metrics["status"] == "completed" and not caplog.records
    train(tmp_path / "eager", "trainer.max_epochs=1")
    keys = [list(torch.load(tmp_path / run / "checkpoint.pt")["model"]) for run in ("compiled", "eager")]
    assert keys[0] == keys[1] and not any("_orig_mod" in key or key.startswith("module.") for key in keys[0])


# --- channels last -------------------------------------------------------------------------------
def test_channels_last_on_the_cpu_when_asked(tmp_path) -> None:
    args = ["model=cnn", "trainer.max_epochs=1", "trainer.limit_batches=5"]
    nhwc = train(tmp_path / "nhwc", *args, "trainer.channels_last=true")
    nchw = train(tmp_path / "nchw", *args)
    assert nhwc["status"] == nchw["status"] == "completed"
    assert nhwc["test_loss"] == pytest.approx(nchw["test_loss"], rel=1e-4)
    weight = torch.load(tmp_path / "nhwc" / "checkpoint.pt")["model"]["features.0.weight"]
    assert weight.is_contiguous(memory_format=torch.channels_last)


# --- scripts/gpu_check.sh ------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU driver")
def test_gpu_check_without_a_gpu_says_so_and_succeeds() -> None:
    script = Path(__file__).parents[1] / "scripts" / "gpu_check.sh"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, "no CUDA device\n", "")
