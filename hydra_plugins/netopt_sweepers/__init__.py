"""netopt's Hydra sweepers (``hydra/sweeper=random``, ``bayes``, ``hyperband``) and the summary callback.

Thin adapters: the search logic lives in :mod:`netopt.hpo`. Hydra imports every public module of
this package when it scans for plugins, so they import nothing heavy at the top; the sweep loop is
in ``_core`` (Hydra skips modules whose name starts with an underscore).
"""
