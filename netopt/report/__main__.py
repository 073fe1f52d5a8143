"""``python -m netopt.report DIR``, the same as ``netopt-report DIR``."""

from netopt.report.cli import main

main()
