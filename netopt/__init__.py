"""netopt: the methods of network optimization and regularization (Qiu Xipeng, *Neural Networks and
Deep Learning*, chapter 7), each written from scratch, and a runner that composes, trains and compares
them. The library's three functions are :func:`compose`, :func:`build` and :func:`fit`
(:mod:`netopt.api`); they are imported on first use, so ``import netopt`` stays light."""

from typing import Any

__all__ = ["build", "compose", "fit"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from netopt import api

        return getattr(api, name)
    raise AttributeError(f"module 'netopt' has no attribute {name!r}")
