"""Write docs/experiments.md from the folders of real, full runs of the chapter's experiments
(Qiu Xipeng, Neural Networks and Deep Learning, ch. 7).

Each folder is a sweep an experiment preset left (``netopt-train experiment=<name>``: its
``multirun.yaml``, ``claims.json`` and report figures) or an output folder of ``netopt-trajectories`` or
``netopt-hpo-budget`` that holds ``claims.json`` and ``report.md``. For each the page gets the command,
the main figure (copied to ``docs/experiments/<name>.png``) and the evidence of its claims (claims.png,
copied to ``docs/experiments/<name>_claims.png``), the chapter's claims with the measured
numbers and the verdicts computed from them, and its wall time (from the folder's first file to the
last file of its jobs: a sweep's multirun.yaml is written before its first job, so the time includes
building, data loading and every job, not only training; a report written again later does not
count); a table of every verdict comes first, and the presets without a run are named last. Nothing
is written in by hand: rerun the presets and this script to refresh it.

    python scripts/experiments_doc.py outputs/multirun/batch_size/<date> outputs/multirun/lr_range/<date> ...
"""

import argparse
import json
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import yaml

from netopt.console import duration
from netopt.labels import bookkeeping
from netopt.report.claims import counts
from netopt.report.document import CLAIMS_NOTE, effect_text

ROOT = Path(__file__).resolve().parents[1]
#: Presets of one run (a recipe), not experiments with claims.
SINGLE_RUNS = ("fashion_mnist_fast", "fashion_mnist_record")
#: The figure that shows each experiment best (a file of its folder).
MAIN = {
    "batch_size": "curves.png",
    "lr_range": "sensitivity.png",
    "warmup": "curves.png",
    "adaptive_lr": "final.png",
    "init": "final.png",
    "norm_lr": "sensitivity.png",
    "covariate_shift": "curves.png",
    "regularization": "gap.png",
    "l1_sparsity": "final.png",
    "dropout_ensemble": "final.png",
    "rnn": "curves.png",
    "residual": "curves.png",
    "sharpness": "final.png",
    "optimizers_toy": "saddle.png",
    "hpo_budget": "anytime.png",
    "nas": "search.png",
    "label_smoothing": "final.png",
    "nesterov": "sensitivity.png",
    "weight_decay": "sensitivity.png",
    "small_batch_norm": "sensitivity.png",
    "dropconnect": "gap.png",
    "linear_scaling": "sensitivity.png",
    "large_batch": "final.png",
    "averaging": "final.png",
}


def describe(folder: Path) -> dict[str, Any]:
    """What the page says of one experiment folder."""
    multirun = (
        yaml.safe_load((folder / "multirun.yaml").read_text()) if (folder / "multirun.yaml").exists() else {}
    )
    if multirun:
        words = ["netopt-train", *multirun["hydra"]["overrides"]["task"]]
    else:  # netopt-trajectories or netopt-hpo-budget: the command opens its report.md
        words = shlex.split(re.search(r"```\n(.*?)\n```", (folder / "report.md").read_text(), re.S)[1])
    experiment = [w.split("=", 1)[1] for w in words if w.startswith("experiment=")]
    name = experiment[0] if experiment else words[0].removeprefix("netopt-").replace("-", "_")
    kept = [w for w in words if w.startswith("experiment=") or not bookkeeping(w.split("=", 1)[0])]
    out = {j for i, w in enumerate(kept) if w == "--out" for j in (i, i + 1)}  # the flag and its value
    shown = [w for i, w in enumerate(kept) if i not in out and not w.startswith(("out=", "--out="))]
    command = shlex.join(shown)
    claims = json.loads((folder / "claims.json").read_text()) if (folder / "claims.json").exists() else []
    files = [p for p in folder.rglob("*") if p.is_file()]
    jobs = [p for p in files if p.parent != folder or p.name == "multirun.yaml"]  # not a rewritten report
    times = [p.stat().st_mtime for p in (jobs if len(jobs) > 1 else files)]
    wall = max(times) - min(times)
    figure = folder / MAIN.get(name, "curves.png")
    if not figure.exists():
        figure = next(iter(sorted(folder.glob("*.png"))), figure)
    return {
        "name": name,
        "folder": folder,
        "command": command,
        "claims": claims,
        "wall": wall,
        "figure": figure,
    }


def runs(value: dict[str, Any]) -> str:
    """The runs one side of a claim selects (a number stands for itself)."""
    if not value.get("select"):
        return f"{value['value']:g}"
    return ", ".join(f"{k}={v}" for k, v in value["select"].items())


def page(experiments: list[dict[str, Any]], conditions: str = "") -> str:
    lines = [
        "# The chapter's experiments",
        "",
        "The claims of the chapter on network optimization and regularization (Qiu Xipeng, *Neural",
        "Networks and Deep Learning*, chapter 7) that can be seen on a small net.",
        "",
        "Each experiment is one command; its sweep ends with a report (`report.html` in the sweep folder)",
        "whose claims section states the chapter's claim, the numbers that test it and a verdict computed",
        "from them. The figures and numbers below come from full runs on a 2-core CPU; this page is written",
        "by `scripts/experiments_doc.py` from those runs' folders.",
        *([conditions] if conditions else []),
        "",
        f"**{counts([c for e in experiments for c in e['claims']])}.** {CLAIMS_NOTE}.",
        "",
        "| experiment | claim | verdict | effect [95% interval] (n) |",
        "|---|---|---|---|",
    ]
    for e in experiments:
        for c in e["claims"]:
            row = [f"[{e['name']}](#{e['name']})", c["statement"], f"**{c['verdict']}**", effect_text(c)]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    for e in experiments:
        lines += ["", f"## {e['name']}", "", "```bash", e["command"], "```", ""]
        if e["figure"].exists():
            lines += [f"![{e['name']}](experiments/{e['name']}.png)", ""]
        if (e["folder"] / "claims.png").exists():
            lines += [f"![the evidence of each claim](experiments/{e['name']}_claims.png)", ""]
        for c in e["claims"]:
            lines += [
                f"- **{c['verdict']}**: {c['statement']}",
                f"  - {c['reason']}",
                f"  - left: {runs(c['left'])}; right: {runs(c['right'])}",
            ]
        wall = duration(e["wall"]) if e["wall"] >= 0.1 else "under 0.1 s"
        lines += ["", f"Wall time (its folder's first file to the last of its jobs): {wall}."]
    missing = sorted(set(comparisons()) - {e["name"] for e in experiments})
    if missing:
        lines += ["", "## Not run for this page", ""]
        lines.append(f"These presets had no full run when the page was written: {', '.join(missing)}.")
    return "\n".join(lines) + "\n"


def comparisons() -> list[str]:
    """Every experiment preset that is a comparison with claims (not a single recipe run)."""
    from netopt import config

    config.register()
    return [n for n in config.OPTIONS["experiment"] if n not in SINGLE_RUNS and not n.startswith("compare_")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "experiments.md")
    parser.add_argument("--conditions", default="", help="a sentence on the machine the runs shared")
    args = parser.parse_args(argv)
    experiments = [describe(folder) for folder in args.folders]
    figures = args.out.parent / "experiments"
    figures.mkdir(parents=True, exist_ok=True)
    for e in experiments:
        if e["figure"].exists():
            shutil.copyfile(e["figure"], figures / f"{e['name']}.png")
        if (e["folder"] / "claims.png").exists():  # each effect, its interval and a dot per seed
            shutil.copyfile(e["folder"] / "claims.png", figures / f"{e['name']}_claims.png")
    args.out.write_text(page(experiments, args.conditions))
    print(f"wrote {args.out} and {len(experiments)} figures in {figures}")


if __name__ == "__main__":
    main()
