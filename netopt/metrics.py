"""Metrics by name: how each improves and the range its values lie in, as the name says.

An accuracy (``*acc*``) improves up and lies in [0, 1], a loss (``*loss*``) improves down and has no
upper bound; a fraction (``diverged``: the share of runs that diverged, ``sparsity``) lies in [0, 1], and
so does an expected calibration error (``*_ece``), which improves down.
A probe declares the direction of its own metrics (:meth:`netopt.probes.Probe.metrics`), which wins
over the name. Light: the report and the sweep's summary read it without torch.
"""

from typing import Literal

#: How a metric improves: ``"max"`` (an accuracy), ``"min"`` (a loss), None (neither: a description).
Direction = Literal["min", "max"] | None
#: Metrics that are fractions without saying so in their name.
FRACTIONS = ("diverged", "sparsity")
#: The word of an expected calibration error (``val_ece``, ``test_ece``: netopt.calibration).
ECE = "ece"
#: Words that make a name with ``acc`` a difference of accuracies rather than an accuracy.
DIFFERENCES = ("gain", "gap", "delta", "diff")


def natural_direction(name: str) -> Direction:
    """``"max"`` for an accuracy (``*acc*``), ``"min"`` for a loss (``*loss*``) or an ECE, else None."""
    return "max" if "acc" in name else "min" if "loss" in name or ECE in _words(name) else None


def natural_range(name: str) -> tuple[float, float] | None:
    """``(0, 1)`` for an accuracy or a fraction, None for a metric without bounds (a loss, a norm)."""
    words = _words(name)
    if (
        name in FRACTIONS
        or ECE in words
        or (any(w.startswith("acc") for w in words) and not set(words) & set(DIFFERENCES))
    ):
        return (0.0, 1.0)
    return None


def _words(name: str) -> list[str]:
    """The words of a metric's name: ``test/acc_mc`` -> test, acc, mc."""
    return name.replace("/", "_").split("_")
