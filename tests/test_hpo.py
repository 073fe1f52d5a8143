"""netopt.hpo: search spaces, the GP surrogate (against scikit-learn), expected improvement (against
its closed form and Monte Carlo), random / Bayesian search, Hyperband brackets, records and summary."""

import csv
import math
from dataclasses import replace

import pytest
import torch
import yaml
from scipy.stats import norm
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from netopt.errors import UserError
from netopt.hpo import (
    BayesSearch,
    Choice,
    Hyperband,
    Integer,
    Job,
    Journal,
    RandomSearch,
    Record,
    SearchSpace,
    Uniform,
    bracket_rungs,
    outcome,
)
from netopt.hpo.acquisition import expected_improvement, propose_batch
from netopt.hpo.gp import (
    GaussianProcess,
    Hyperparameters,
    fit_hyperparameters,
    log_marginal_likelihood,
    matern52,
)
from netopt.hpo.summary import format_value, write_summary

SPACE = SearchSpace(
    [
        Uniform("lr", 1e-4, 1.0, log=True),
        Uniform("momentum", 0.0, 0.9),
        Integer("depth", 1, 4),
        Choice("act", ("relu", "tanh", "gelu")),
    ]
)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def quadratic(p: dict) -> float:
    """A smooth objective to maximize; its best is at lr=0.01, momentum=0.5, depth=3, act=tanh."""
    act = {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[p["act"]]
    return (
        -((math.log10(p["lr"]) + 2) ** 2) - 4 * (p["momentum"] - 0.5) ** 2 - 0.2 * (p["depth"] - 3) ** 2 + act
    )


# ---------------------------------------------------------------------------- search spaces


def test_sampling_follows_each_distribution():
    configs = SPACE.sample(20000, generator())
    log_lr = torch.tensor([math.log10(c["lr"]) for c in configs])
    assert abs(log_lr.mean() + 2.0) < 0.03 and log_lr.min() >= -4 and log_lr.max() <= 0  # log-uniform
    momentum = torch.tensor([c["momentum"] for c in configs])
    assert abs(momentum.mean() - 0.45) < 0.01
    for values, k in (
        ([c["depth"] for c in configs], [1, 2, 3, 4]),
        ([c["act"] for c in configs], SPACE.dimensions[3].values),
    ):
        counts = [values.count(v) / len(values) for v in k]
        assert max(abs(c - 1 / len(k)) for c in counts) < 0.015


def test_unit_cube_round_trip_and_encoding():
    configs = SPACE.sample(50, generator(1))
    for back, config in zip(SPACE.from_unit(SPACE.to_unit(configs)), configs, strict=True):
        assert back == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in config.items()}
    features = SPACE.encode(configs)
    assert features.shape == (50, 1 + 1 + 1 + 3) and features.min() >= 0 and features.max() <= 1
    assert torch.equal(features[:, 3:].sum(1), torch.ones(50))  # one-hot choice
    lr = torch.tensor([c["lr"] for c in configs], dtype=torch.float64)
    assert torch.allclose(features[:, 0], (lr.log10() + 4) / 4)  # log dimension in log space


def test_integer_steps_and_log_integers():
    assert sorted({Integer("w", 16, 64, 16).from_unit(u / 100) for u in range(100)}) == [16, 32, 48, 64]
    log_ints = [Integer("w", 1, 1000, log=True).from_unit(u / 1000) for u in range(1000)]
    assert sum(v <= 10 for v in log_ints) == pytest.approx(
        1000 * math.log10(10.5) / 3, abs=2
    )  # nearest value


@pytest.mark.parametrize(
    ("dimension", "message"),
    [
        (lambda: Uniform("optimizer.lr", 1.0, 0.1), "optimizer.lr: lower bound"),
        (
            lambda: Uniform("optimizer.lr", 0.0, 1.0, log=True),
            "optimizer.lr: a log-scaled range needs bounds > 0",
        ),
        (lambda: Choice("norm", ()), r"norm: choice\(\) needs at least one value"),
        (lambda: SearchSpace([]), "hydra.sweeper.params: the search space is empty"),
    ],
)
def test_bad_spaces_name_the_key(dimension, message):
    with pytest.raises(UserError, match=message):
        dimension()


# ---------------------------------------------------------------------------- Gaussian process


def sklearn_gp(hp: Hyperparameters) -> GaussianProcessRegressor:
    kernel = ConstantKernel(float(hp.signal_variance), "fixed") * Matern(
        hp.length_scale.numpy(), "fixed", nu=2.5
    )
    return GaussianProcessRegressor(kernel, alpha=float(hp.noise_variance) + 1e-9, optimizer=None)


@pytest.mark.parametrize("d", [1, 3])
def test_matern52_posterior_and_likelihood_match_sklearn(d):
    g = generator(d)
    x = torch.rand(12, d, generator=g, dtype=torch.float64)
    y = torch.sin(4 * x).sum(1)
    hp = Hyperparameters(
        torch.rand(d, generator=g, dtype=torch.float64) + 0.2,
        torch.tensor(1.7, dtype=torch.float64),
        torch.tensor(0.01, dtype=torch.float64),
    )
    reference = sklearn_gp(hp)
    assert torch.allclose(
        matern52(x, x, hp.length_scale, hp.signal_variance),
        torch.from_numpy(reference.kernel(x.numpy())),
        atol=1e-12,
    )
    gp = GaussianProcess.fit(x, y, hp)
    reference.fit(x.numpy(), gp.z.numpy())
    x_new = torch.rand(30, d, generator=g, dtype=torch.float64)
    mean, std = gp.predict(x_new)
    ref_mean, ref_std = reference.predict(x_new.numpy(), return_std=True)
    assert torch.allclose((mean - gp.y_mean) / gp.y_std, torch.from_numpy(ref_mean), atol=1e-9)
    assert torch.allclose(std / gp.y_std, torch.from_numpy(ref_std), atol=1e-7)
    lml = log_marginal_likelihood(x, gp.z, hp)
    assert float(lml) == pytest.approx(reference.log_marginal_likelihood_value_, abs=1e-8)


def test_fitted_hyperparameters_reach_sklearns_marginal_likelihood():
    """Adam on the log-parameters gets as high a marginal likelihood as sklearn's L-BFGS-B in the same box."""
    g = generator(3)
    x = torch.rand(25, 2, generator=g, dtype=torch.float64)
    y = (
        torch.sin(5 * x[:, 0])
        + 0.5 * torch.cos(3 * x[:, 1])
        + 0.05 * torch.randn(25, generator=g, dtype=torch.float64)
    )
    z = (y - y.mean()) / y.std()
    hp = fit_hyperparameters(x, z)
    kernel = ConstantKernel(1.0, (0.05, 20.0)) * Matern([0.5, 0.5], (0.01, 20.0), nu=2.5) + WhiteKernel(
        1e-3, (1e-6, 1.0)
    )
    reference = GaussianProcessRegressor(kernel, alpha=1e-9, n_restarts_optimizer=2, random_state=0).fit(
        x.numpy(), z.numpy()
    )
    assert float(log_marginal_likelihood(x, z, hp)) == pytest.approx(
        reference.log_marginal_likelihood_value_, abs=0.1
    )
    assert float(hp.noise_variance) == pytest.approx(reference.kernel_.k2.noise_level, rel=0.1)
    assert hp.length_scale[0] < hp.length_scale[1]  # the faster-varying input gets the shorter length scale


def test_expected_improvement_matches_closed_form_and_monte_carlo():
    mean = torch.tensor([0.0, 1.0, -0.5, 2.0], dtype=torch.float64)
    std = torch.tensor([1.0, 0.3, 2.0, 1e-3], dtype=torch.float64)
    best, xi = 0.8, 0.05
    ei = expected_improvement(mean, std, best, xi)
    z = (mean - best - xi) / std
    closed = (mean - best - xi).numpy() * norm.cdf(z.numpy()) + std.numpy() * norm.pdf(z.numpy())
    assert torch.allclose(ei, torch.from_numpy(closed), atol=1e-12)
    samples = mean + std * torch.randn(400_000, 4, generator=generator(), dtype=torch.float64)
    assert torch.allclose(ei, (samples - best - xi).clamp_min(0).mean(0), atol=5e-3)


def test_batch_proposals_are_distinct_and_explore_near_the_optimum():
    space = SearchSpace([Uniform("x", 0.0, 1.0)])
    configs = [{"x": x} for x in (0.0, 0.1, 0.5, 0.7, 0.9, 1.0)]
    scores = torch.tensor([-((c["x"] - 0.3) ** 2) for c in configs], dtype=torch.float64)
    batch = propose_batch(space, configs, scores, 3, generator(5), n_candidates=256)
    xs = [c["x"] for c in batch]
    assert abs(xs[0] - 0.3) < 0.1  # the most promising point first
    assert (
        min(abs(a - b) for i, a in enumerate(xs) for b in xs[i + 1 :]) > 1e-3
    )  # kriging believer spreads them


def run_strategy(search, objective) -> list[Record]:
    records: list[Record] = []
    while jobs := search.ask(records):
        records += [
            Record(j.trial, j.params, j.budget, "completed", objective(j.params, j.budget)) for j in jobs
        ]
    return records


def test_bayes_finds_the_optimum_of_branin():
    """Branin (minimum 0.397887): 20 evaluations of BO land close; random search's 20 do not."""
    space = SearchSpace([Uniform("x1", -5.0, 10.0), Uniform("x2", 0.0, 15.0)])

    def branin(p: dict, _: object) -> float:
        b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
        return (p["x2"] - b * p["x1"] ** 2 + c * p["x1"] - 6) ** 2 + 10 * (1 - t) * math.cos(p["x1"]) + 10

    bayes = run_strategy(
        BayesSearch(space, 20, batch_size=4, n_initial=8, maximize=False, n_candidates=512), branin
    )
    random = run_strategy(RandomSearch(space, 20), branin)
    assert [r.trial for r in bayes] == list(range(20))
    assert min(r.objective for r in bayes) < 0.6 < min(r.objective for r in random)


def test_bayes_steers_away_from_failed_trials_and_handles_minimization():
    space = SearchSpace([Uniform("x", 0.0, 1.0)])
    records = [
        Record(i, {"x": x}, status="failed" if x > 0.7 else "completed", objective=(x - 0.3) ** 2)
        for i, x in enumerate([0.05, 0.2, 0.5, 0.75, 0.8, 0.9, 0.95])
    ]
    jobs = BayesSearch(space, 10, batch_size=2, n_initial=3, maximize=False, n_candidates=256).ask(records)
    assert [j.trial for j in jobs] == [7, 8]
    assert all(j.params["x"] < 0.7 for j in jobs)


def test_searches_resume_from_their_records():
    search = RandomSearch(SPACE, 10, batch_size=4, seed=3)
    first = search.ask([])
    done = [Record(j.trial, j.params, status="completed", objective=0.0) for j in first]
    second = RandomSearch(SPACE, 10, batch_size=4, seed=3).ask(done)
    assert [j.trial for j in second] == [4, 5, 6, 7] and second[0].params == search.configs[4]
    sobol = BayesSearch(SPACE, 10, batch_size=3, n_initial=5).ask([])
    assert [j.trial for j in sobol] == [0, 1, 2]


# ---------------------------------------------------------------------------- Hyperband


def test_brackets_match_the_hyperband_paper():
    """Li et al. (2018), table 1: R = 81, eta = 3."""
    table = [[(n, r) for n, r in ((rung.n, rung.epochs) for rung in b)] for b in bracket_rungs(81, 1, 3)]
    assert table == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]
    with pytest.raises(UserError, match="eta >= 2"):
        bracket_rungs(9, 1, 1)


def test_hyperband_promotes_the_best_and_continues_them():
    objective = lambda p, epochs: quadratic(p) - 1.0 / epochs  # noqa: E731
    search = Hyperband(SPACE, max_epochs=9, eta=3, seed=1)
    records = run_strategy(search, objective)
    by_trial: dict[int, list[int]] = {}
    for r in records:
        by_trial.setdefault(r.trial, []).append(r.budget)
    assert len(by_trial) == 9 + 5 + 3
    assert sorted(b for budgets in by_trial.values() for b in budgets).count(9) == 1 + 1 + 3
    assert (
        sum(max(b) for b in by_trial.values())
        == search.total_epochs()
        == 6 * 1 + 2 * 3 + 9 + 4 * 3 + 9 + 3 * 9
    )
    first = [r for r in records if r.trial < 9 and r.budget == 1]
    promoted = {r.trial for r in records if r.trial < 9 and r.budget == 3}
    assert promoted == {r.trial for r in sorted(first, key=lambda r: -r.objective)[:3]}


def test_successive_halving_never_promotes_failed_trials():
    search = Hyperband(SearchSpace([Uniform("x", 0.0, 1.0)]), max_epochs=4, eta=2, n_brackets=1)
    first = search.ask([])
    assert [(j.trial, j.budget) for j in first] == [(t, 1) for t in range(4)]
    records = [
        Record(
            j.trial, j.params, 1, "failed" if j.trial < 3 else "completed", math.nan if j.trial < 3 else 0.5
        )
        for j in first
    ]
    assert [(j.trial, j.budget) for j in search.ask(records)] == [(3, 2)]


# ---------------------------------------------------------------------------- records and summary


def test_outcomes_of_tasks():
    job = Job(3, {"lr": 0.1})
    error = outcome(job, RuntimeError("boom\nmore lines"), "val/acc")
    assert (error.status, error.error) == ("failed", "RuntimeError: boom")
    done = outcome(job, {"status": "completed", "val_acc": 0.9, "epochs": 4, "test_acc": 0.1}, "val/acc")
    assert (done.status, done.objective, done.epochs) == ("completed", 0.9, 4)
    assert outcome(job, {"val_acc": math.nan}, "val_acc").status == "diverged"
    assert outcome(job, {"status": "diverged", "val_acc": 0.1}, "val_acc").status == "diverged"
    assert outcome(job, 0.25, "loss").objective == 0.25
    with pytest.raises(KeyError):
        outcome(job, {"status": "completed", "val_loss": 1.0}, "val_acc")


def test_journal_keeps_the_last_line_per_job(tmp_path):
    journal = Journal(tmp_path)
    journal.append([Record.pending(Job(0, {"x": 1})), Record.pending(Job(1, {"x": 2}, 3))])
    journal.append([Record(0, {"x": 1}, status="completed", objective=0.5)])
    with journal.path.open("a") as f:
        f.write('{"trial": 1, "par')  # cut short by an interruption
    records = {r.key: r for r in journal.read()}
    assert records[(0, None)].status == "completed" and records[(1, 3)].status == "pending"


@pytest.mark.parametrize(
    "value", ["adam", "resnet/18", "true", "1e-3", "with space", "it's", 0.001, 3, True, None, [1, "a"]]
)
def test_values_are_written_as_hydra_reads_them(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_override(f"key={format_value(value)}").value()
    assert parsed == value


def test_summary_files(tmp_path):
    records = [
        Record(0, {"lr": 0.1, "act": "relu"}, 1, "completed", 0.8, epochs=1, wall_time_s=1.0),
        Record(
            0,
            {"lr": 0.1, "act": "relu"},
            3,
            "completed",
            0.9,
            3,
            2.0,
            metrics={"train_acc": 0.95, "test_acc": 0.8},
        ),
        Record(1, {"lr": 1.0, "act": "tanh"}, 1, "failed", error="RuntimeError: boom"),
        Record(2, {"lr": 0.01, "act": "tanh"}, 1, "completed", 0.85, epochs=1, wall_time_s=1.0),
    ]
    best = write_summary(tmp_path, records, "val/acc", maximize=True)
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [r["trial"] for r in rows] == ["0", "2", "1"]  # best first, the failed trial last
    assert [r["rank"] for r in rows] == ["1", "2", "-"]  # one seed each: no ties to declare
    assert list(rows[0]) == [
        "rank",
        "trial",
        "lr",
        "act",
        "val_acc",  # the metric by its name
        "train_acc",
        "test_acc",
        "status",
        "epochs",
        "wall_time_s",
        "run_dir",
        "error",
    ]
    assert (rows[0]["val_acc"], rows[0]["epochs"], rows[0]["wall_time_s"]) == ("0.9", "3", "3.0")
    assert (rows[0]["train_acc"], rows[0]["test_acc"]) == ("0.95", "0.8")
    assert (rows[2]["error"], rows[2]["train_acc"]) == ("RuntimeError: boom", "")
    saved = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert best is not None and [r.trial for r in best.trials] == saved["trials"] == [0]
    assert saved["overrides"] == ["lr=0.1", "act=relu"] and saved["objective"] == 0.9
    assert saved["interval"] is None and (saved["seeds"], saved["runs"]) == (1, 1)
    lowest = write_summary(tmp_path, records, "val/acc", maximize=False)
    assert lowest is not None and [r.trial for r in lowest.trials] == [2]


def test_summary_table_shows_what_varies_and_fits_80_columns(tmp_path, capsys):
    fixed = {"debug": "fast", "trainer.progress": "False"}
    records = [
        Record(
            i,
            {
                **fixed,
                "optimizer": o,
                "optimizer.lr": lr,
                "model.hidden_sizes": f"[512,512,512,256,{i}]",
                "trainer.seed": i % 2,
                "regularization.early_stopping.patience": i,
            },
            status="failed" if i == 3 else "completed",
            objective=0.9 - i / 10,
            epochs=3,
            wall_time_s=1.5,
            error="RuntimeError: a long message " + "that goes on " * 10 if i == 3 else "",
        )
        for i, (o, lr) in enumerate([("sgd", 0.001), ("sgd", 0.1), ("adam", 0.001), ("adam", 0.1)])
    ]
    write_summary(tmp_path, records, "val_acc", maximize=True, show=True)  # stdout is not a terminal here
    *lines, written = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 80
    assert written == f"written: {tmp_path / 'results.csv'}, {tmp_path / 'best.yaml'}"  # whole paths
    header = lines[1].split()
    assert header == [  # the seed is pooled, not a hyperparameter
        "rank",
        "trial",
        "optimizer",
        "lr",
        "hidden_sizes",
        "patience",
        "val_acc",
        "status",
        "time",
    ]
    assert lines[3].split()[:4] == ["1", "0", "sgd", "0.001"] and "[512,512,51…" in lines[3]  # cut
    assert lines[3].endswith("1.5 s") and len(lines) == 9  # one line per trial and per error
    assert lines[-1].startswith("trial 3 failed: RuntimeError: a long") and lines[-1].endswith("…")


def seeded(values: dict[str, list[float]], metric: str = "val_acc") -> list[Record]:
    """One completed trial per (optimizer, seed) with these objective values, in launch order."""
    runs = [(o, seed, v) for o, vs in values.items() for seed, v in enumerate(vs)]
    return [
        Record(
            i, {"optimizer": o, "trainer.seed": s}, status="completed", objective=v, epochs=2, wall_time_s=1.0
        )
        for i, (o, s, v) in enumerate(runs)
    ]


def test_the_table_best_yaml_and_results_csv_name_the_best_configuration_not_the_luckiest_run(
    tmp_path, capsys
):
    records = seeded(
        {
            "sgd": [0.961, 0.90, 0.905, 0.91, 0.90],  # the luckiest single run, a worse mean
            "momentum": [0.96, 0.955, 0.958, 0.957, 0.956],
            "adam": [0.957, 0.956, 0.957, 0.958, 0.955],  # indistinguishable from momentum
        }
    )
    best = write_summary(tmp_path, records, "val_acc", maximize=True, show=True)
    assert best is not None and best.params == {"optimizer": "momentum"}
    saved = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert saved["params"] == {"optimizer": "momentum"} and saved["overrides"] == ["optimizer=momentum"]
    assert (
        saved["objective"] == pytest.approx(0.9572)
        and saved["seeds"] == 5
        and saved["trials"] == [5, 6, 7, 8, 9]
    )
    assert 0.954 < saved["interval"][0] < saved["objective"] < saved["interval"][1] < 0.96
    assert saved["indistinguishable"] == [
        {"params": {"optimizer": "adam"}, "objective": pytest.approx(0.9566)}
    ]
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [(r["rank"], r["optimizer"]) for r in rows[::5]] == [
        ("1", "momentum"),
        ("=1", "adam"),
        ("3", "sgd"),
    ]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].strip() == "15 trials: 15 completed, 0 diverged, 0 failed; 3 configurations"
    assert lines[1].split() == ["rank", "trials", "optimizer", "val_acc", "seeds", "time"]
    assert lines[3].split()[:3] == ["1", "5,6,7,8,9", "momentum"] and lines[3].split()[-3:-1] == ["5", "5.0"]
    assert [line.split()[0] for line in lines[4:6]] == ["=1", "3"]
    assert "=1: tied with the best" in "\n".join(lines)


def test_a_loss_is_minimized_and_repeated_seeds_count_once(tmp_path, capsys):
    records = seeded({"sgd": [0.30, 0.32, 0.31], "adam": [0.20, 0.21, 0.19]}, "val_loss")
    records.append(replace(records[0], trial=6, params={**records[0].params, "trainer.progress": "false"}))
    best = write_summary(tmp_path, records, "val_loss", maximize=False, show=True)
    assert best is not None and best.params == {"optimizer": "adam"}
    sgd = next(line for line in capsys.readouterr().out.splitlines() if "sgd" in line)
    assert sgd.split()[:2] == ["2", "0,1,2,6"] and "3 (4 runs)" in sgd  # seed 0 ran twice: one sample
