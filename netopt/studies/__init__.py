"""Studies: the libraries behind the commands that train or analyse many runs and write a report.

- :mod:`netopt.studies.landscape`: the loss landscape of a run folder (``netopt-landscape``);
- :mod:`netopt.studies.trajectories`: every optimizer preset on the 2-D test functions, with a record
  per path (``netopt-trajectories``), and its report, :mod:`netopt.studies.trajectories_report`;
- :mod:`netopt.studies.hpo_budget`: grid, random, Bayesian and Hyperband search at one budget of
  epochs (``netopt-hpo-budget``), and its report, :mod:`netopt.studies.hpo_budget_report`.

They sit above the components, the runner, the search strategies and the reports, and below the
commands (:mod:`netopt.cli`).
"""
