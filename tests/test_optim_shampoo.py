"""Shampoo against two references: the pip package torch-optimizer where its algorithm is the
paper's, and the grafted, averaged Shampoo written out here from its formulas; float64 trajectories
with an lr changed at every step, a frozen parameter and a state_dict reload mid-trajectory; a
resumed run; one-line errors."""

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from netopt.components import preflight
from netopt.errors import UserError
from netopt.optim import Shampoo
from tests.helpers import compose_config, straight_and_resumed
from tests.test_optim_modern import Net, follow, make_net, two_groups

torch_optimizer = pytest.importorskip("torch_optimizer")


def to_shampoo(params: Any, **kwargs: Any) -> Shampoo:
    """netopt's Shampoo set as torch-optimizer's: plain sums (b2 = 1) with eps * I added, every
    factor's root recomputed at every ``update_freq``-th step from the first, no grafting, no
    momentum, and its root -1/k for a tensor of k dimensions (the paper's is -1/(2k))."""
    return Shampoo(
        params,
        lr=kwargs["lr"],
        betas=(0.0, 1.0),
        matrix_eps=kwargs["epsilon"],
        precondition_frequency=kwargs["update_freq"],
        start_preconditioning_step=1,
        grafting="none",
        precondition_1d=True,
        inv_root_override=1,
    )


@pytest.mark.parametrize("update_freq", [1, 3])
@pytest.mark.parametrize("size", [1, 5, 12])
def test_a_vector_steps_as_torch_optimizers_shampoo(size: int, update_freq: int) -> None:
    """On a vector torch-optimizer's Shampoo is the paper's full-matrix AdaGrad,
    g <- (eps * I + sum g g^T)^(-1) g, its root -1 where the paper's is -1/2 (its issue #502).
    On matrices and conv kernels it is not the paper's algorithm: it accumulates the statistic of
    each dimension after the next has preconditioned the gradient, so it serves as oracle on
    vectors only (the matrices are checked against the formulas below)."""
    torch.manual_seed(size)
    ours = torch.randn(size, dtype=torch.float64, requires_grad=True)
    theirs = ours.detach().clone().requires_grad_(True)
    kwargs = {"lr": 0.1, "epsilon": 1e-3, "update_freq": update_freq}
    mine, other = to_shampoo([ours], **kwargs), torch_optimizer.Shampoo([theirs], **kwargs)
    for _ in range(8):
        grad = torch.randn(size, dtype=torch.float64)
        ours.grad, theirs.grad = grad.clone(), grad.clone()
        mine.step()
        other.step()
        assert torch.linalg.vector_norm(ours - theirs) <= 1e-11 * torch.linalg.vector_norm(theirs)


class ShampooReference(torch.optim.Optimizer):
    """Shampoo written from the formulas of netopt's docstring, one tensor at a time."""

    def __init__(self, params: Any, **kwargs: Any) -> None:
        defaults = dict(
            lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, matrix_eps=1e-6,
            precondition_frequency=10, start_preconditioning_step=10, max_preconditioner_dim=1024,
            grafting="adam", nesterov=False, precondition_1d=False, inv_root_override=None, maximize=False,
        )  # fmt: skip
        super().__init__(params, {**defaults, **kwargs})

    @staticmethod
    def root(factor: torch.Tensor, p: int, eps: float) -> torch.Tensor:
        values, vectors = torch.linalg.eigh(factor + eps * torch.eye(len(factor), dtype=factor.dtype))
        return vectors @ torch.diag(values ** (-1 / p)) @ vectors.T

    @torch.no_grad()
    def step(self, closure: Any) -> Any:
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = -p.grad if group["maximize"] else p.grad
                state = self.state[p]
                if not state:
                    state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                    sides = (("L", len(g)), ("R", g[0].numel())) if g.dim() >= 2 else (("L", len(g)),)
                    for side, size in sides:
                        wanted = g.dim() >= 2 or group["precondition_1d"]
                        if wanted and size <= group["max_preconditioner_dim"]:
                            state[side] = torch.zeros(size, size, dtype=p.dtype)
                            state["P" + side] = torch.eye(size, dtype=p.dtype)
                state["step"] += 1
                t = state["step"]
                if group["grafting"] == "adam":
                    state["v"] = b2 * state["v"] + (1 - b2) * g * g
                    graft = g / ((state["v"] / (1 - b2**t)).sqrt() + group["eps"])
                elif group["grafting"] == "adagrad":
                    state["v"] = state["v"] + g * g
                    graft = g / (state["v"].sqrt() + group["eps"])
                else:
                    graft = g
                G = g.reshape(len(g), -1) if g.dim() >= 2 else g.reshape(-1, 1)
                for side, stat in (("L", G @ G.T), ("R", G.T @ G)):
                    if side in state:
                        state[side] = state[side] + stat if b2 == 1 else b2 * state[side] + (1 - b2) * stat
                start, every = group["start_preconditioning_step"], group["precondition_frequency"]
                p_root = group["inv_root_override"] or (4 if g.dim() >= 2 else 2)
                if t >= start and (t - start) % every == 0:
                    scale = 1.0 if b2 == 1 else 1 - b2**t
                    for side in ("L", "R"):
                        if side in state:
                            state["P" + side] = self.root(state[side] / scale, p_root, group["matrix_eps"])
                if t >= start and ("L" in state or "R" in state):
                    D = G
                    if "L" in state:
                        D = state["PL"] @ D
                    if "R" in state:
                        D = D @ state["PR"]
                    D = D.reshape(g.shape)
                    if group["grafting"] != "none":
                        D = D * graft.norm() / D.norm()
                else:
                    D = graft
                if b1 > 0:
                    state["m"] = b1 * state["m"] + (1 - b1) * D
                    U = state["m"] / (1 - b1**t)
                    D = b1 * U + (1 - b1) * D if group["nesterov"] else U
                p.mul_(1 - group["lr"] * group["weight_decay"]).sub_(group["lr"] * D)
        return loss


CASES = [
    {},
    {"grafting": "adagrad", "betas": (0.9, 1.0), "nesterov": True, "weight_decay": 0.1},
    {"grafting": "sgd", "betas": (0.0, 0.99), "maximize": True, "precondition_1d": True},
    {"grafting": "none", "max_preconditioner_dim": 8, "inv_root_override": 2, "matrix_eps": 1e-3},
    {"start_preconditioning_step": 1, "precondition_frequency": 1, "foreach": False, "eps": 1e-3},
]


@pytest.mark.parametrize("kwargs", CASES, ids=lambda k: "-".join(k) or "default")
def test_trajectory_matches_the_formulas(kwargs: dict) -> None:
    """Net's conv kernel (3 x 9), hidden (8 x 12) and output (3 x 8) matrices, their biases and a
    frozen vector in two groups; roots at t = 3, 7, 11... (``max_preconditioner_dim`` 8 leaves the
    conv's and the hidden layer's right sides without a factor)."""
    kwargs = {"start_preconditioning_step": 3, "precondition_frequency": 4, **kwargs}
    theirs_kwargs = {k: v for k, v in kwargs.items() if k != "foreach"}

    def ours(groups: list[dict]) -> Shampoo:
        return Shampoo(groups, **kwargs)

    def theirs(groups: list[dict]) -> ShampooReference:
        return ShampooReference(groups, **theirs_kwargs)

    follow(ours, theirs, lambda net: two_groups(net, 0.01), torch_state=False)


def test_a_reloaded_state_continues_exactly() -> None:
    """Two optimizers, one reloaded from the other's state_dict after 7 steps (roots due at 10):
    the next steps are identical, bit for bit."""

    def run(reload: bool) -> list[torch.Tensor]:
        net = make_net()
        optimizer = Shampoo(net.parameters(), lr=0.01, precondition_frequency=3, start_preconditioning_step=4)
        for t in range(14):
            if reload and t == 7:
                state = copy.deepcopy(optimizer.state_dict())
                optimizer = Shampoo(net.parameters(), lr=0.5)
                optimizer.load_state_dict(state)
            optimizer.zero_grad()
            x = torch.randn(16, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(t))
            net(x).square().mean().backward()
            optimizer.step()
        return [p.detach().clone() for p in net.parameters()]

    for a, b in zip(run(False), run(True), strict=True):
        assert torch.equal(a, b)


def test_the_state_per_shape() -> None:
    """A matrix keeps L and R, a conv kernel the factors of its matrix (out x in * kh * kw), a side
    above ``max_preconditioner_dim`` none, a vector none unless ``precondition_1d``."""
    net = Net().double()
    optimizer = Shampoo(net.parameters(), max_preconditioner_dim=10, betas=(0.0, 0.999))
    net(torch.randn(2, 1, 4, 4, dtype=torch.float64)).sum().backward()
    optimizer.step()
    shapes = {
        name: {k: tuple(v.shape) for k, v in optimizer.state[p].items() if k.startswith("factor")}
        for name, p in net.named_parameters()
        if p.grad is not None
    }
    assert shapes == {
        "conv.weight": {"factor_0": (3, 3), "factor_1": (9, 9)},
        "conv.bias": {},
        "hidden.weight": {"factor_0": (8, 8)},
        "hidden.bias": {},
        "out.weight": {"factor_0": (3, 3), "factor_1": (8, 8)},
        "out.bias": {},
    }
    assert "exp_avg" not in optimizer.state[net.out.weight]  # b1 = 0: no momentum


def test_a_resumed_run_ends_as_one_that_never_stopped(tmp_path: Path) -> None:
    """Roots due mid-epoch, the checkpoint between: the resumed run ends as the straight one."""
    run = ("optimizer=shampoo", "optimizer.precondition_frequency=4", "trainer.max_epochs=2")
    straight, _ = straight_and_resumed(tmp_path, 1, *run)
    assert straight["status"] == "completed" and not math.isnan(straight["train_loss"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optimizer.betas=[0.9,1.5]", r"^optimizer.betas\[1\]=1.5: must be in \[0, 1\]"),
        ("optimizer.betas=[0.9,1.0]", r"^optimizer.betas\[1\]=1.0: must be below 1 with grafting=adam"),
        (
            "optimizer.grafting=rmsprop",
            "^optimizer.grafting=rmsprop: must be one of adam, adagrad, sgd, none",
        ),
        ("optimizer.matrix_eps=0", "^optimizer.matrix_eps=0.0: must be finite and > 0"),
        (
            "optimizer.precondition_frequency=0",
            "^optimizer.precondition_frequency=0: must be a whole number >= 1",
        ),
        (
            "optimizer.max_preconditioner_dim=-1",
            "^optimizer.max_preconditioner_dim=-1: must be a whole number >= 0",
        ),
        ("optimizer.inv_root_override=0", "^optimizer.inv_root_override=0: must be a whole number >= 1"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        preflight(compose_config("optimizer=shampoo", override))
