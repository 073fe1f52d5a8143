"""scripts/bench_time_to_accuracy.py: its arguments, the reference model, the preset it times;
scripts/bench_train.py: its reference loop alternating with netopt's epochs."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch
from hydra.types import RunMode

from netopt.components import preflight
from netopt.data.datasets import DEBIAN_FASHION_MNIST
from netopt.loop import Trainer
from netopt.run.runner import run
from tests.helpers import compose_config

needs_fashion_mnist = pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian package dataset-fashion-mnist absent"
)
SCRIPTS = Path(__file__).parents[1] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    yield load_script("bench_time_to_accuracy")
    del sys.modules["bench_time_to_accuracy"]


@pytest.fixture(scope="module")
def bench_train():
    yield load_script("bench_train")
    del sys.modules["bench_train"]


def test_bench_train_runs_one_reference_epoch_after_each_of_netopts(bench_train, tmp_path):
    cfg = compose_config("trainer.max_epochs=3", "trainer.limit_batches=4")
    reference = bench_train.Reference(cfg, torch.device("cpu"))
    train_epoch = Trainer.train_epoch
    with bench_train.alternating(reference):
        metrics = run(cfg, tmp_path)
    assert Trainer.train_epoch is train_epoch  # put back
    assert metrics["epochs"] == 3 and reference.seen == 3 * len(reference.x)
    assert reference.samples_per_s() > 0


def test_arguments_default_to_all_cores_one_repeat_and_91_percent(bench):
    args = bench.parse_args([])
    assert (args.threads, args.repeats, args.quick, args.target, args.epochs) == (
        len(bench.os.sched_getaffinity(0)),
        1,
        False,
        0.91,
        14,
    )
    args = bench.parse_args(["--threads", "2", "--repeats", "3", "--quick", "trainer.max_epochs=1"])
    assert (args.threads, args.repeats, args.quick, args.overrides) == (2, 3, True, ["trainer.max_epochs=1"])
    args = bench.parse_args(["--quick", "optimizer.lr=0.1"])
    assert (args.target, args.epochs, args.overrides) == (
        0.80,
        2,
        ["trainer.max_epochs=2", "optimizer.lr=0.1"],
    )


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--repeats", "0"], ["--target", "1.5"]])
def test_bad_arguments_end_with_a_usage_error(bench, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.parse_args(argv)
    assert stop.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_reference_is_the_pytorch_mnist_example_net(bench):
    model = bench.ReferenceNet()
    # conv 1->32 (320) + conv 32->64 (18,496) + linear 9216->128 (1,179,776) + linear 128->10 (1,290)
    assert sum(p.numel() for p in model.parameters()) == 1_199_882
    log_p = model.eval()(torch.randn(5, 1, 28, 28))
    assert log_p.shape == (5, 10)
    torch.testing.assert_close(log_p.exp().sum(1), torch.ones(5))


def test_time_to_accuracy_is_the_first_epoch_reaching_it(bench):
    curve = bench.Curve("x", seconds=[10.0, 20.0, 30.0], accuracy=[0.8, 0.92, 0.91])
    assert curve.time_to(0.91) == 20.0
    assert curve.time_to(0.95) == math.inf
    assert math.isnan(bench.ratio(curve.time_to(0.95), 10.0))


@pytest.mark.parametrize("preset", ["fashion_mnist_fast", "fashion_mnist_record"])
def test_the_preset_composes_as_one_run_and_passes_the_dry_build(bench, tmp_path, preset):
    assert compose_config(f"experiment={preset}", hydra=True).hydra.mode in (None, RunMode.RUN)  # no sweep
    cfg = bench.compose_preset(str(tmp_path), threads=1, preset=preset)
    assert cfg.dataset._target_.endswith("FashionMNIST")
    assert cfg.trainer.num_threads == 1
    settings, dataset, device = preflight(cfg)
    assert dataset.val_fraction > 0  # hyperparameters chosen on validation accuracy
    assert device.type in ("cpu", "cuda")


@needs_fashion_mnist
def test_netopt_curve_has_one_test_accuracy_per_epoch_ending_at_the_runs_own(bench, tmp_path):
    tiny = ["trainer.batch_size=16", "trainer.eval_batch_size=50", "trainer.limit_batches=2"]
    cfg = bench.compose_preset(str(tmp_path), 1, ["trainer.max_epochs=2", *tiny])
    curve, metrics = bench.train_netopt(cfg)
    assert len(curve.seconds) == len(curve.accuracy) == 2
    assert 0 < curve.seconds[0] < curve.seconds[1]
    assert curve.accuracy[-1] == pytest.approx(metrics["test_acc"], abs=1e-3)


@pytest.mark.slow
@needs_fashion_mnist
def test_a_short_bench_prints_both_tables_and_the_ratios(bench, tmp_path, capsys):
    bench.main(["--limit-batches", "3", "--epochs", "2", "--threads", "1", "--root", str(tmp_path),
                "--target", "0.1", "trainer.max_epochs=2", "trainer.eval_batch_size=50"])  # fmt: skip
    out = capsys.readouterr().out
    assert "reference s" in out and "netopt s" in out
    assert "ratio netopt/reference" in out and "netopt reaches it in" in out


def test_report_prints_both_curves_and_the_ratios(bench, capsys):
    reference = bench.Curve("reference", seconds=[100.0, 200.0, 300.0], accuracy=[0.89, 0.905, 0.915])
    ours = bench.Curve("netopt", seconds=[20.0, 40.0], accuracy=[0.9, 0.92])
    lines = bench.table([reference, ours]).splitlines()
    assert len(lines) == 2 + 3 and "reference s" in lines[0] and "netopt s" in lines[0]
    assert lines[-1].rstrip(" |").endswith("0.9150")  # netopt's column left blank after its last epoch
    ratios = bench.compare(reference, ours, target=0.91, complete=True)
    assert ratios == pytest.approx({"to_target": 40.0 / 300.0, "to_final": 40.0 / 300.0})
    assert "ratio netopt/reference 0.133" in capsys.readouterr().out
    assert bench.compare(reference, ours, target=0.91, complete=False).keys() == {"to_target"}


@pytest.fixture(scope="module")
def scaling():
    yield load_script("bench_scaling")
    del sys.modules["bench_scaling"]


def test_scaling_spans_1e4_to_1e7_parameters_for_the_mlp_and_the_cnn(scaling):
    for family in ("mlp", "cnn"):
        counts = [
            scaling.parameters(compose_config(*w.overrides))
            for w in scaling.workloads(quick=False)
            if w.family == family
        ]
        assert counts == sorted(counts) and counts[0] < 2e4 and counts[-1] > 5e6, (family, counts)
    assert {w.family for w in scaling.workloads(quick=True)} == {"mlp", "cnn", "batch"}


def test_step_flops_count_the_forward_and_backward_matrix_products(scaling):
    cfg = compose_config("model.width=8", "trainer.batch_size=64")  # digits MLP 64 -> 8 -> 8 -> 10
    macs = 64 * 8 + 8 * 8 + 8 * 10
    # forward and the weights' gradients: 2 B macs each; the inputs' gradients of the 2nd and 3rd layer
    assert scaling.step_flops(cfg) == 2 * 64 * (2 * macs + 8 * 8 + 8 * 10)
    assert scaling.matmul_peak(n=64, seconds=0.05) > 0


def test_every_ablation_row_composes_and_passes_the_dry_build(tmp_path):
    ablate = load_script("ablate_record")
    try:
        names = [name for name, _, _ in ablate.ROWS]
        assert len(set(names)) == len(names) and ablate.ROWS[-1][1] == "fashion_mnist_fast"
        for _, preset, overrides in ablate.ROWS:
            preflight(ablate.compose_preset(str(tmp_path), 1, overrides, preset))
    finally:
        del sys.modules["ablate_record"]


def test_the_ablation_prints_each_rows_time_with_its_interval_and_the_ratio_last(monkeypatch, capsys):
    ablate = load_script("ablate_record")
    try:

        def fake_run(cfg):  # 10 s + the seed to the target; 5 s more without the whitening
            seconds = 10.0 + cfg.trainer.seed + (0.0 if cfg.model.get("whiten", False) else 5.0)
            curve = sys.modules["bench_time_to_accuracy"].Curve("netopt", seconds=[seconds], accuracy=[0.95])
            return curve, {"test_acc": 0.93 + 0.001 * cfg.trainer.seed}

        monkeypatch.setattr(ablate, "train_netopt", fake_run)
        monkeypatch.setattr(ablate, "ROWS", [ablate.ROWS[0], ablate.ROWS[1], ablate.ROWS[-1]])
        monkeypatch.setattr(ablate.FashionMNIST, "load", lambda self: None)
        ablate.main(["--seeds", "3"])
        lines = capsys.readouterr().out.splitlines()
        assert lines[-1] == "ratio record/fast, mean time to 93.00%: 0.688"  # 11 / 16
        record = next(line for line in lines if line.startswith("record (all ideas)"))
        assert "11.0 (" in record and "3/3" in record  # the mean over seeds, with an interval
        row = next(line for line in lines if line.startswith("- patch whitening"))
        assert "5.0 (5.0 to 5.0)" in row  # 5 s slower on every seed: the paired difference
    finally:
        del sys.modules["ablate_record"]


def test_the_ablation_resumes_from_an_earlier_runs_lines(monkeypatch, capsys, tmp_path):
    """Seeds 0 and 1 read from an earlier output; only seed 2 runs, and the table holds all three."""
    ablate = load_script("ablate_record")
    try:
        ran: list[int] = []

        def fake_run(cfg):
            ran.append(cfg.trainer.seed)
            curve = sys.modules["bench_time_to_accuracy"].Curve("netopt", seconds=[12.0], accuracy=[0.95])
            return curve, {"test_acc": 0.932}

        rows = [ablate.ROWS[0], ablate.ROWS[-1]]
        earlier = tmp_path / "earlier.log"
        earlier.write_text(
            "1 thread, 2 seed(s)\n"
            + "".join(
                ablate.LINE.format(seed, name, 10.0 + seed, 0.93) + "\n"
                for seed in (0, 1)
                for name, _, _ in rows
            )
            + "seed 1 fast preset (none of them): inf s to target, test acc 0.9100\n"  # a later line wins
        )
        monkeypatch.setattr(ablate, "train_netopt", fake_run)
        monkeypatch.setattr(ablate, "ROWS", rows)
        monkeypatch.setattr(ablate.FashionMNIST, "load", lambda self: None)
        ablate.main(["--seeds", "3", "--resume", str(earlier)])
        lines = capsys.readouterr().out.splitlines()
        assert ran == [2, 2]
        assert "seed 0 record (all ideas): 10.0 s to target, test acc 0.9300" in lines
        fast = next(line for line in lines if line.startswith("fast preset (none of them)") and "/3" in line)
        assert "2/3" in fast  # seed 1 never reached the target
    finally:
        del sys.modules["ablate_record"]


def test_bench_async_measures_idle_time_until_the_drain_and_the_launch_gaps():
    """Two workers: A [0, 4] and B [0, 2], then C [2, 4] at once, then D [4, 10] alone (the drain).
    Idle 1 - 14 / (2 x 10); until the drain (the second-last end, 4) nothing is idle."""
    measure = load_script("bench_async").measure
    spans = {"A": (0, 4, 1.0), "B": (0, 2, 0.0), "C": (2, 4, 3.0), "D": (4, 10, 5.0)}
    jobs = [
        {"wall_time_s": end - start, "metrics": {"finished_at": 100 + end}, "objective": value}
        for start, end, value in spans.values()
    ]
    m = measure(jobs, target=3.0)
    assert m == pytest.approx(
        {"idle": 0.3, "idle until drain": 0.0, "to target": 4.0, "wall": 10.0, "launch gap": 0.0}
    )
