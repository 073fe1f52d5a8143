"""``compile_update`` (``trainer.compile_optimizer=true``): the update traced as one graph that is
compiled once (not at every step), its trajectory against torch's foreach optimizers, and the eager
fallback when no compiler works.

Tolerance of the float32 parity: torch's own test of its fused optimizers against the for-loop ones
(``test_fused_matches_forloop``) compares with ``torch.testing.assert_close``'s float32 defaults,
rtol = 1.3e-6 and atol = 1e-5; the same here after 20 steps. Compiling with inductor takes 20-80 s
per optimizer on a 2-core CPU, so those tests are slow; the fast one captures the graph as they do
(``fullgraph=True``, the same guards) and runs it with dynamo's ``eager`` backend, no code generation.
"""

import functools
import logging
import math

import pytest
import torch
from torch import nn
from torch._dynamo.utils import counters

import netopt.optim as netopt_optim
from netopt.errors import ConfigValueError
from netopt.optim import compiled as compiled_module
from tests.helpers import train

STEPS = 20
CASES = [
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr_decay": 0.01}),
    ("RMSprop", {"momentum": 0.9, "centered": True}),
    ("Adadelta", {}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),
    ("NAdam", {}),
    ("RAdam", {}),  # both of its phases within 20 steps
]
LR = {"SGD": 0.05, "Adagrad": 0.05, "RMSprop": 0.003, "Adadelta": 1.0}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(6, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))


def run(
    make: functools.partial, graphs: list[int] | None = None
) -> tuple[list[torch.Tensor], torch.optim.Optimizer]:
    """Train a float32 net 20 steps with two param groups (the second without weight decay) and an
    lr changed at every step; the parameters and the optimizer. ``graphs`` gets the number of graphs
    dynamo has built after each step."""
    torch.manual_seed(0)
    net = Net()
    lr = LR.get(make.func.__name__, 0.005)
    groups = [{"params": net.hidden.parameters()}, {"params": net.out.parameters(), "weight_decay": 0.0}]
    optimizer = make(groups, lr=lr)
    generator = torch.Generator().manual_seed(0)
    for t in range(STEPS):
        for group, share in zip(optimizer.param_groups, (1.0, 0.5), strict=True):
            group["lr"] = lr * share * (1 + 0.5 * math.sin(t))
        x, y = torch.randn(16, 6, generator=generator), torch.randint(0, 3, (16,), generator=generator)
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
        if graphs is not None:
            graphs.append(counters["stats"]["unique_graphs"])
    return [p.detach() for p in net.parameters()], optimizer


def ours(name: str, kwargs: dict) -> functools.partial:
    return functools.partial(getattr(netopt_optim, name), **kwargs)


def ours_compiled(name: str, kwargs: dict) -> functools.partial:
    """Build ``name`` and compile its update, as the runner does for ``trainer.compile_optimizer``."""

    def make(*args: object, **options: object) -> torch.optim.Optimizer:
        optimizer = getattr(netopt_optim, name)(*args, **kwargs, **options)
        netopt_optim.compile_update(optimizer)
        return optimizer

    make.__name__ = name  # run() takes the lr of the optimizer's name
    return functools.partial(make)


def torch_foreach(name: str, kwargs: dict) -> functools.partial:
    return functools.partial(getattr(torch.optim, name), foreach=True, **kwargs)


def case_id(case: tuple[str, dict]) -> str:
    return "-".join([case[0], *case[1]]) or case[0]


@pytest.fixture
def fresh_dynamo():
    """An empty cache of compiled code and a zero graph count, before and after."""
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def check_compiled_run(name: str, kwargs: dict) -> torch.optim.Optimizer:
    """The first step is eager, the second builds the graphs (one per param group whose constants
    differ) and the next 18, with a new lr each and new step counts, none; float32 parity with
    torch's foreach optimizer."""
    graphs: list[int] = []
    params, optimizer = run(ours_compiled(name, kwargs), graphs)
    assert not optimizer.compiled_update.failed
    assert graphs[0] == 0 and 1 <= graphs[1] <= 2 and graphs[-1] == graphs[1]
    expected, _ = run(torch_foreach(name, kwargs))
    for a, b in zip(params, expected, strict=True):
        torch.testing.assert_close(a, b)
    return optimizer


def test_the_update_is_one_graph_built_once(fresh_dynamo, monkeypatch: pytest.MonkeyPatch) -> None:
    """AdamW (step counts, scalar lists, decoupled decay) traced with dynamo's eager backend."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    check_compiled_run("AdamW", {})


def no_compiler(*args: object, **kwargs: object):
    def compiled(*args: object, **kwargs: object) -> None:
        raise RuntimeError("InductorError: no working C++ compiler found\nmore detail")

    return compiled


def test_without_a_compiler_one_warning_and_the_eager_update(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(torch, "compile", no_compiler)
    with caplog.at_level(logging.WARNING, logger=compiled_module.__name__):
        params, optimizer = run(ours_compiled("Adam", {}))
    assert optimizer.compiled_update.failed
    assert [r.getMessage() for r in caplog.records] == [
        "Adam: compile_update failed (InductorError: no working C++ compiler found); the update runs eagerly"
    ]
    eager, _ = run(ours("Adam", {}))
    assert all(torch.equal(a, b) for a, b in zip(params, eager, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=map(case_id, CASES))
def test_compiled_with_inductor(
    fresh_dynamo, caplog: pytest.LogCaptureFixture, name: str, kwargs: dict
) -> None:
    """:func:`check_compiled_run` with inductor; the compile time logged once, in ``compile_time_s``."""
    with caplog.at_level(logging.INFO, logger=compiled_module.__name__):
        optimizer = check_compiled_run(name, kwargs)
    assert optimizer.compiled_update.compile_time_s > 0
    compiled = [r.getMessage() for r in caplog.records if "compiled the update" in r.getMessage()]
    assert len(compiled) == 1 and compiled[0].startswith(f"{name}: compiled the update in ")


def test_the_runner_compiles_the_update_with_trainer_compile_optimizer(
    tmp_path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``trainer.compile_optimizer=true``: the runner compiles the update (here where no compiler
    works: one warning, and the run is the eager one)."""
    monkeypatch.setattr(torch, "compile", no_compiler)
    short = ["optimizer=momentum", "trainer.max_epochs=1", "trainer.limit_batches=3"]
    with caplog.at_level(logging.WARNING, logger=compiled_module.__name__):
        compiled = train(tmp_path / "compiled", *short, "trainer.compile_optimizer=true")
    assert [r.getMessage() for r in caplog.records if "compile_update" in r.getMessage()] == [
        "SGD: compile_update failed (InductorError: no working C++ compiler found); the update runs eagerly"
    ]
    eager = train(tmp_path / "eager", *short)
    timing = {"wall_time_s", "samples_per_s"}
    assert {k: v for k, v in compiled.items() if k not in timing} == {
        k: v for k, v in eager.items() if k not in timing
    }


def test_an_optimizer_netopt_did_not_write_is_refused() -> None:
    with pytest.raises(
        ConfigValueError, match="^compile_optimizer=True: must be false with SGD, whose update"
    ):
        netopt_optim.compile_update(torch.optim.SGD(Net().parameters()))
