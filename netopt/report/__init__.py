"""The report of a sweep: ``netopt-report DIR`` or :func:`write_report`.

Reads every run folder below DIR (:mod:`~netopt.report.runs`), groups the runs into configurations
over seeds (:mod:`~netopt.report.configs`), estimates final metrics with 95% intervals
(:mod:`~netopt.report.stats`), draws the figures (:mod:`~netopt.report.figures`), checks the claims
(:mod:`~netopt.report.claims`) and writes report.md, report.html, runs.csv and claims.json into DIR
(:mod:`~netopt.report.document`).
"""

from netopt.report.cli import main
from netopt.report.document import write_report
from netopt.report.runs import step_series

__all__ = ["main", "step_series", "write_report"]
