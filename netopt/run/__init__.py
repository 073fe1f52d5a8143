"""One run's life: its folder and lock (:mod:`~netopt.run.folder`), the resume decision, the checkpoint
(:mod:`~netopt.run.checkpoint`), what it records (:mod:`~netopt.run.record`) and the runner that ties
them to the training loop (:mod:`~netopt.run.runner`)."""
