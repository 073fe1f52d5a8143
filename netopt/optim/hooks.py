"""Whether torch's optimizer step wrapper has work to do: the one place netopt reads torch internals.

torch wraps every ``Optimizer.step`` to open a profiler record and run the step hooks. netopt's
optimizers skip the wrapper when neither is needed (see :class:`netopt.optim.base.Optimizer`), which
needs the registries of the global step hooks; torch keeps them private
(``torch.optim.optimizer._global_optimizer_pre_hooks`` and ``_post_hooks``). ``tests/test_optim.py``
fails loudly if torch renames them.
"""

import torch
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

GLOBAL_STEP_HOOKS = (_global_optimizer_pre_hooks, _global_optimizer_post_hooks)


def hooked(optimizer: torch.optim.Optimizer) -> bool:
    """Whether a profiler runs or a step hook is registered, on this optimizer or on all."""
    return bool(
        torch.autograd._profiler_enabled()
        or optimizer._optimizer_step_pre_hooks
        or optimizer._optimizer_step_post_hooks
        or any(GLOBAL_STEP_HOOKS)
    )
