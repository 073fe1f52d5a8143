"""``python -m netopt.report DIR``, the same as ``netopt-report DIR``."""

from netopt.cli.report import main

main()
