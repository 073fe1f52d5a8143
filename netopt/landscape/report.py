"""The outcome of every path of ``netopt-trajectories``, the claims checked on them, and its report.

Each path (a function, an optimizer with its learning rate, a gradient-noise level and a seed) ends
in an :class:`Outcome`: its final loss, whether and at which step it escaped the function's saddle
point, whether it ran off the function's box. summary.json lists them. A claim
(:mod:`netopt.report.claims`) selects outcomes by ``function``, ``optimizer``, ``noise`` and ``seed``
and compares ``final_loss``, ``escaped`` (1 or 0), ``escape_step`` (a path that never escaped has
none) or ``left_box`` (1 or 0) between them, reduced over the selected paths (mean, min or max).
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from netopt.landscape.toy import Function, Trajectory
from netopt.report.claims import Claim, Verdict, check
from netopt.report.document import Contents, write_documents
from netopt.report.runs import Run
from netopt.report.stats import mean_ci

NOTE = (
    "final loss: mean over seeds ± half-width of its 95% interval (Student t) where the seeds differ; "
    "escaped: paths that went past the saddle point and 1 below its value, of all seeds; escape step: "
    "the range of the steps at which they did."
)


@dataclass(frozen=True)
class Outcome:
    """What one path did (``escaped`` and ``escape_step`` are None on a function without a saddle)."""

    function: str
    optimizer: str
    lr: float
    noise: float
    seed: int
    start: list[float]
    steps: int
    final_loss: float
    escaped: bool | None
    escape_step: int | None
    left_box: bool

    @classmethod
    def of(
        cls, function: Function, optimizer: str, lr: float, noise: float, seed: int, path: Trajectory
    ) -> "Outcome":
        saddle = function.saddle is not None
        return cls(
            function=function.name,
            optimizer=optimizer,
            lr=lr,
            noise=noise,
            seed=seed,
            start=path.path[0].tolist(),
            steps=len(path.path) - 1,
            final_loss=path.loss[-1].item(),
            escaped=path.escaped if saddle else None,
            escape_step=path.escape_step,
            left_box=path.left_box,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_run(self, folder: Path) -> Run:
        """The outcome as a run of :mod:`netopt.report`, for the claims."""
        metrics: dict[str, Any] = {"final_loss": self.final_loss, "left_box": float(self.left_box)}
        if self.escaped is not None:
            metrics |= {"escaped": float(self.escaped), "escape_step": self.escape_step}
        overrides = {
            "function": self.function,
            "optimizer": self.optimizer,
            "noise": str(self.noise),
            "seed": str(self.seed),
        }
        return Run(dir=folder, status="completed", metrics=metrics, overrides=overrides)


def parse_claims(raw: Sequence[Mapping[str, Any]]) -> list[Claim]:
    """The claims of the ``claims`` key (checked before any path is run)."""
    return [Claim.parse(claim, f"claims[{i}]") for i, claim in enumerate(raw)]


def verdicts(claims: Sequence[Claim], outcomes: Sequence[Outcome], folder: Path) -> list[Verdict]:
    runs = [o.as_run(folder) for o in outcomes]
    return [check(claim, runs) for claim in claims]


def table(outcomes: Sequence[Outcome]) -> tuple[list[str], list[bool], list[list[str]]]:
    """One row per function, optimizer and noise level, over its seeds."""
    groups: dict[tuple[str, str, float], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.function, o.optimizer, o.noise), []).append(o)
    headers = ["function", "optimizer", "lr", "noise", "seeds", "final loss", "escaped", "escape step"]
    rows = []
    for (function, optimizer, noise), mine in groups.items():
        steps = [o.escape_step for o in mine if o.escape_step is not None]
        saddle = mine[0].escaped is not None
        rows.append(
            [
                function,
                optimizer,
                f"{mine[0].lr:g}",
                f"{noise:g}",
                str(len(mine)),
                _loss(mine),
                f"{len(steps)}/{len(mine)}" if saddle else "-",
                _range(steps),
            ]
        )
    return headers, [False, False, True, True, True, True, True, True], rows


def _range(steps: Sequence[int]) -> str:
    if not steps:
        return "-"
    return f"{min(steps)}" if min(steps) == max(steps) else f"{min(steps)}–{max(steps)}"


def _loss(outcomes: Sequence[Outcome]) -> str:
    estimate = mean_ci(o.final_loss for o in outcomes)
    if estimate.n > 1 and estimate.half_width > 1e-9 * abs(estimate.mean):  # not rounding noise
        return f"{estimate.mean:.3g} ± {estimate.half_width:.2g}"
    return f"{estimate.mean:.3g}"


def write_report(
    out: Path, outcomes: Sequence[Outcome], claims: Sequence[Claim], figures: Mapping[str, str], command: str
) -> Path:
    """report.md, report.html and (with claims) claims.json in out, beside its figures; the path of
    report.html."""
    headers, numeric, rows = table(outcomes)
    seeds = sorted({o.seed for o in outcomes})
    noise = sorted({o.noise for o in outcomes})
    contents = Contents(
        title="Optimizer trajectories on 2-D test functions",
        folder=out.resolve(),
        command=command,
        summary=f"{len({o.optimizer for o in outcomes})} optimizers on {len({o.function for o in outcomes})} "
        f"functions, gradient noise {', '.join(f'{n:g}' for n in noise)}, seeds "
        f"{', '.join(map(str, seeds))}: {len(outcomes)} paths.",
        verdicts=verdicts(claims, outcomes, out),
        headers=headers,
        numeric=numeric,
        rows=rows,
        stopped=[],
        figures=dict(figures),
        note=NOTE,
        records="summary.json",
    )
    return write_documents(contents)
