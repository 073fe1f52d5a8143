"""``torch.compile`` with a way out: where compiling fails (no working C++ compiler, code dynamo
cannot trace), one warning and the eager code from then on.

Used by the optimizers' compiled update (:func:`netopt.optim.compile_update`) and the
model's ``trainer.compile=true`` (:class:`CompiledModule`).
"""

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from netopt.errors import first_line

log = logging.getLogger(__name__)


class Compiled:
    """``function`` through ``torch.compile(function, **options)``, built at the first call.

    Compiling happens lazily at a call, so that is where it fails: the first failure logs
    ``"<label> failed (<reason>); <what> runs eagerly"`` once, and this call and every later one
    run ``eager`` (default: ``function``) with the same arguments. ``failed`` says which.
    """

    def __init__(
        self, function: Callable[..., Any], label: str, what: str, eager: Callable[..., Any] | None = None,
        **options: Any,
    ) -> None:  # fmt: skip
        self.function, self.label, self.what, self.options = function, label, what, options
        self.eager = function if eager is None else eager
        self.compiled: Callable[..., Any] | None = None
        self.failed = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.failed:
            try:
                if self.compiled is None:
                    self.compiled = torch.compile(self.function, **self.options)
                return self.compiled(*args, **kwargs)
            except Exception as error:  # torch raises many kinds: no C++ compiler, unsupported code
                log.warning("%s failed (%s); %s runs eagerly", self.label, first_line(error), self.what)
                self.failed = True
        return self.eager(*args, **kwargs)


class CompiledModule(nn.Module):
    """``module`` whose forward pass runs through ``torch.compile`` (``trainer.compile=true``), or
    eagerly where no compiler works (:class:`Compiled`).

    ``train()``/``eval()`` reach ``module``; checkpoints save ``module`` itself, so their keys are
    its own (no ``_orig_mod.`` prefix, as ``torch.compile(module)`` would add).
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.compiled = Compiled(module, "trainer.compile=true", "the model")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.compiled(*args, **kwargs)
