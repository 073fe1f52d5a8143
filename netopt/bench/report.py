"""The benchmark's report: the scores table, the performance profiles, the time to target per workload
and the tuning-budget curve (report.md, report.html, trials.csv and three figures).

Per submission, workload and seed the time that counts is the best trial's (external tuning) or the
one trial's (self-tuning); the tuning-budget curve recomputes the score with only the first k trials
of every search (the best result after k trials), k = 1 .. N.
"""

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from netopt.bench import scoring
from netopt.bench.runs import Result, write_csv
from netopt.bench.suite import Workload
from netopt.report.document import Contents, write_documents

FIGURES = {
    "profiles.png": "Performance profiles: the share of workloads reached within tau of the fastest",
    "times.png": "Time to target per workload (median over seeds, 95% bootstrap interval; x: missed)",
    "budget.png": "Tuning budget: the score after k trials, against the fastest after all of them",
}


def best_times(results: Sequence[Result], measure: str, trials: int | None = None) -> dict:
    """(submission, workload, seed) -> the fewest steps (or least time) to target over trials 1..trials."""
    best: dict[tuple[str, str, int], float] = {}
    for r in results:
        t = r.trial
        if trials is not None and t.index > trials:
            continue
        key = (t.submission, t.workload, t.seed)
        best[key] = min(best.get(key, math.inf), getattr(r, measure))
    return best


def report(
    out: Path,
    results: Sequence[Result],
    workloads: Sequence[Workload],
    submissions: Sequence[str],
    seeds: Sequence[int],
    ruleset: str,
    measure: str,
    command: str,
) -> Contents:
    """Write the report into ``out``; what it shows."""
    import matplotlib

    matplotlib.use("Agg")
    names = [w.name for w in workloads]
    per_seed = _per_seed(results, measure, submissions, names, seeds)
    s = scoring.scores(per_seed, submissions, names)
    write_csv(results, out / "trials.csv")
    _profiles(s, per_seed).savefig(out / "profiles.png", dpi=100)
    _times(s, measure).savefig(out / "times.png", dpi=100)
    n_trials = max(1, *(r.trial.index for r in results))  # self-tuning: its one trial, index 0
    fastest = scoring.median_times(per_seed).min(axis=0)  # with every trial: the curve's fixed yardstick
    curve = [
        scoring.score(
            scoring.ratios(
                scoring.median_times(_per_seed(results, measure, submissions, names, seeds, k)), fastest
            )
        )
        for k in range(1, n_trials + 1)
    ]
    _budget(np.array(curve), submissions).savefig(out / "budget.png", dpi=100)
    ratio = [np.mean([min(r.value, 1e300) for r in row]) for row in s.ratios]  # ties: nearer the fastest
    order = sorted(range(len(submissions)), key=lambda i: (-s.scores[i].value, ratio[i]))
    unit = "s" if measure == "time" else "steps"
    headers = ["submission", "score B [95% CI]", *(f"{w.name}: {unit} to target (ratio)" for w in workloads)]
    rows = [
        [submissions[i], str(s.scores[i])]
        + [f"{s.times[i][j]} ({_ratio(s.ratios[i][j].value)})" for j in range(len(workloads))]
        for i in order
    ]
    targets = "; ".join(
        f"{w.name}: {w.metric} {'>=' if w.maximize else '<='} {w.target:g} within {w.budget} steps "
        f"(test target {w.test_target:g}; "
        f"reached at the end by {_test_share(results, w)} of the runs that hit the validation target)"
        for w in workloads
    )
    contents = Contents(
        title=f"Optimizer benchmark ({ruleset} tuning, scored by {measure} to target)",
        folder=out,
        command=command,
        summary=(
            f"{len(submissions)} submissions, {len(workloads)} workloads, seeds {list(seeds)}, "
            f"{n_trials} trial(s) per search, {len(results)} runs. Targets: {targets}."
        ),
        verdicts=[],
        headers=headers,
        numeric=[False] + [True] * (len(headers) - 1),
        rows=rows,
        stopped=[(str(r.trial.folder), r.status) for r in results if r.status != "completed"],
        figures=FIGURES,
        note=(
            f"Best {'/'.join(sorted({w.metric for w in workloads}))} within the budget (median over seeds of"
            f" the best trial, to calibrate the targets): {_best_values(results, workloads, submissions)}. "
            "Per workload the median over seeds of the best trial's time to target (inf: missed in most"
            " seeds) and its ratio to the fastest submission. B = 1/(r_max - 1) * integral from 1 to r_max"
            f" = {scoring.R_MAX:g} of the performance profile rho(tau); intervals: the 2.5 and 97.5"
            " percentiles of a bootstrap over seeds, paired (the same draw for every submission)."
        ),
        records="trials.csv",
    )
    write_documents(contents)
    return contents


def _best_values(results: Sequence[Result], workloads: Sequence[Workload], submissions: Sequence[str]) -> str:
    """Per submission and workload the median over seeds of the best validation value of its trials."""
    parts = []
    for name in submissions:
        cells = []
        for w in workloads:
            by_seed: dict[int, list[float]] = {}
            for r in results:
                if (r.trial.submission, r.trial.workload) == (name, w.name) and not math.isnan(r.best):
                    by_seed.setdefault(r.trial.seed, []).append(r.best)
            best = [(max if w.maximize else min)(v) for v in by_seed.values()]
            cells.append(f"{w.name} {np.median(best):.4g}" if best else f"{w.name} -")
        parts.append(f"{name}: {', '.join(cells)}")
    return "; ".join(parts)


def _per_seed(
    results: Sequence[Result],
    measure: str,
    submissions: Sequence[str],
    workloads: Sequence[str],
    seeds: Sequence[int],
    k: int | None = None,
) -> np.ndarray:
    """(submissions, workloads, seeds): each seed's best time over the first k trials (all: None)."""
    return scoring.per_seed_array(best_times(results, measure, k), submissions, workloads, seeds)


def _ratio(r: float) -> str:
    return "miss" if math.isinf(r) else f"x{r:.2f}"


def _test_share(results: Sequence[Result], w: Workload) -> str:
    hits = [r for r in results if r.trial.workload == w.name and math.isfinite(r.steps)]
    good = sum(r.test >= w.test_target if w.maximize else r.test <= w.test_target for r in hits)
    return f"{good}/{len(hits)}"


def _profiles(s: scoring.Scores, per_seed: np.ndarray):  # noqa: ANN202 (a Figure)
    import matplotlib.pyplot as plt

    taus = np.linspace(1.0, scoring.R_MAX, 601)
    rho = scoring.profile(scoring.ratios(scoring.median_times(per_seed)), taus)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, (name, row, b) in enumerate(zip(s.submissions, rho, s.scores, strict=True)):
        ax.step(taus, row, where="post", label=f"{name} (B={b.value:.2f})", **_style(i))
    ax.set(xlabel="tau (ratio to the fastest)", ylabel="rho(tau): share of workloads", ylim=(-0.02, 1.02))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _times(s: scoring.Scores, measure: str):  # noqa: ANN202 (a Figure)
    import matplotlib.pyplot as plt

    n = len(s.workloads)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 1, 0.35 * len(s.submissions) + 1.5), squeeze=False)
    y = np.arange(len(s.submissions))
    for j, (ax, name) in enumerate(zip(axes[0], s.workloads, strict=True)):
        cells = [s.times[i][j] for i in range(len(s.submissions))]
        finite = [c.value for c in cells if math.isfinite(c.value)]
        top = max([c.high for c in cells if math.isfinite(c.high)] + finite + [1.0])
        for i, c in enumerate(cells):
            if math.isfinite(c.value):
                high = c.high if math.isfinite(c.high) else top
                err = [[c.value - c.low], [high - c.value]] if not math.isnan(c.low) else None
                ax.barh(i, c.value, xerr=err, color="C0", capsize=2)
            else:
                ax.plot([0], [i], "x", color="C3")
        ax.set(title=name, xlabel="seconds" if measure == "time" else "steps", xlim=(0, top * 1.05))
        ax.set_yticks(y, s.submissions if j == 0 else [""] * len(y))
        ax.invert_yaxis()
    fig.tight_layout()
    return fig


def _budget(curve: np.ndarray, submissions: Sequence[str]):  # noqa: ANN202 (a Figure)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    k = np.arange(1, len(curve) + 1)
    for i, name in enumerate(submissions):
        ax.plot(k, curve[:, i], marker="o", label=name, **_style(i))
    ax.set(xlabel="trials k", ylabel="score B after k trials", ylim=(-0.02, 1.02), xticks=k)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _style(i: int) -> dict[str, Any]:
    """A colour of tab10 and, past ten submissions, another line style: every line told apart."""
    return {"color": f"C{i % 10}", "linestyle": ("-", "--", ":")[i // 10 % 3]}
