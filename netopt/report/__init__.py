"""Reports of run records: :func:`write_report` for a sweep folder (the command ``netopt-report DIR``).

Reads every run folder below DIR as a record (:mod:`~netopt.report.runs`,
:mod:`~netopt.report.records`), groups the records into configurations over seeds
(:mod:`~netopt.report.configs`), estimates final metrics with 95% intervals
(:mod:`~netopt.report.stats`), draws the figures (:mod:`~netopt.report.figures`), judges the claims
(:mod:`~netopt.report.claims`) and writes report.md, report.html, runs.csv and claims.json into DIR
(:mod:`~netopt.report.sweep`, :mod:`~netopt.report.document`).

Its functions are imported on first use: the sweep's summary (:mod:`netopt.hpo.summary`), which a
Hydra plugin imports at every start, reads the ranking without matplotlib.
"""

from typing import Any

__all__ = ["step_series", "write_report"]


def __getattr__(name: str) -> Any:
    if name == "step_series":
        from netopt.report.runs import step_series

        return step_series
    if name == "write_report":
        from netopt.report.sweep import write_report

        return write_report
    raise AttributeError(f"module 'netopt.report' has no attribute {name!r}")
