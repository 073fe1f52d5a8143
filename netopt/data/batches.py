"""Mini-batches over tensors already in memory: one index permutation per epoch, no per-sample Python."""

from collections.abc import Iterator

import torch
from torch import Tensor


def batches(
    x: Tensor,
    y: Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    limit: int | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(x[idx], y[idx])`` for consecutive slices of a permutation of the samples.

    With a ``generator`` the order is a fresh shuffle drawn from it (one draw per call, i.e. per
    epoch); without one the samples come in order (evaluation). The last batch may be smaller.
    ``limit`` stops after that many batches (debug runs).
    """
    n = len(x)
    order = torch.randperm(n, generator=generator).to(x.device) if generator is not None else None
    starts = range(0, n, batch_size)
    for start in starts[:limit]:
        if order is None:
            yield x[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield x.index_select(0, idx), y.index_select(0, idx)  # cheaper than advanced indexing x[idx]


def num_batches(n: int, batch_size: int, limit: int | None = None) -> int:
    """How many batches :func:`batches` yields for ``n`` samples."""
    count = -(-n // batch_size)
    return count if limit is None else min(count, limit)
