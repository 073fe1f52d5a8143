"""netopt's Hydra sweepers (``hydra/sweeper=random``, ``bayes``, ``hyperband``, ``asha``, ``bohb``,
``pbt``) and the summary callback.

Thin adapters: the search logic lives in :mod:`netopt.hpo`. Hydra imports every public module of
this package when it scans for plugins, so they import nothing heavy at the top; the sweep loop is
in ``_core`` (Hydra skips modules whose name starts with an underscore).

Usage::

    netopt-train -m hydra/sweeper=bayes 'optimizer.lr=tag(log, interval(1e-4, 1))' model.depth='range(1, 5)'
    netopt-train hparams_search=lr_bayes                  # presets in conf/hparams_search
    netopt-train hparams_search=hyperband hydra/launcher=joblib hydra.launcher.n_jobs=4

Every launcher works, since the sweepers only hand batches of overrides to it: the basic one (one
trial after another), joblib (parallel processes; loky caps each worker's torch threads at
cores / n_jobs), submitit_local (it starts a whole round at once and caps nothing: add
``trainer.num_threads=<cores / batch_size>``), and SLURM on a cluster (``hydra/launcher=slurm``,
netopt's preset of submitit_slurm with its partition, time, GPU and task settings; the sweep folder
must be on a shared filesystem). A round holds ``hydra.sweeper.batch_size`` jobs, by default as many
as the launcher runs at once (joblib's ``n_jobs``, SLURM's ``array_parallelism``). Rounds wait for
their slowest job; ``hydra.sweeper.asynchronous=true`` (the default of ``asha``, ``bohb`` and
``pbt``) does not: a worker that frees up gets the next job at once (joblib: loky's process pool;
submitit: one job per submission, polled until it ends; the basic launcher: one job after another).

Each trial runs in ``<hydra.sweep.dir>/NNN_<values tried>`` (e.g. ``003_lr=0.0123,momentum=0.81``).
A trial that raises is recorded as failed with its error line, one whose objective is NaN as
diverged; the sweep stops only when more than ``max_failure_rate`` of its jobs went wrong.
Interrupted? Run the same command again with ``hydra.sweep.dir=<that folder>``: finished jobs are
read from ``journal.jsonl``, cut-off ones continue from their checkpoints. The sweep folder ends
with ``results.csv``, ``best.yaml`` and a table; ``tensorboard --logdir <sweep dir>`` compares the
trials in its HParams tab.
"""
