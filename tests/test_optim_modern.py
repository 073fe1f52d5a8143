"""The optimizers beyond the chapter (Muon and its split with AdamW, Adafactor, Adamax, ASGD, ADOPT,
Prodigy) against their references: torch.optim where torch has them, the authors' ``prodigyopt``,
and ADOPT's algorithm written out here. float64 trajectories of 40 steps agree to 1e-10, with an
lr changed at every step, steps through a closure, a frozen parameter, and a state_dict reload
mid-trajectory (netopt -> netopt, and through torch's optimizer where torch has one)."""

import copy
import functools
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.optim._muon as torch_muon
from hydra.utils import instantiate
from prodigyopt import Prodigy as ProdigyReference
from torch import nn

import netopt.optim as netopt_optim
from netopt.components import assemble, preflight
from netopt.errors import UserError
from netopt.models.cnn import CNN
from netopt.nn.norm import BatchNormalization
from netopt.optim.split import is_matrix
from tests.helpers import compose_config, train
from tests.test_optim import test_the_signature_is_torchs as signature_is_torchs

STEPS = 40
RTOL = 1e-10
Build = Callable[[list[dict]], torch.optim.Optimizer]


class Net(nn.Module):
    """A conv layer (a 4-D kernel), a hidden layer, the output layer and a frozen parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.hidden = nn.Linear(12, 8)
        self.out = nn.Linear(8, 3)
        self.frozen = nn.Parameter(torch.ones(4))  # not in forward: its grad stays None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(torch.tanh(self.conv(x)).flatten(1))))


def make_net() -> Net:
    torch.manual_seed(0)
    return Net().double()


def two_groups(net: Net, lr: float, matrices_only: bool = False) -> list[dict]:
    """Two param groups of different lr and weight decay; weight matrices only for torch's Muon."""
    first = [net.hidden.weight] if matrices_only else [net.conv.weight, *net.hidden.parameters(), net.frozen]
    second = [net.out.weight] if matrices_only else list(net.out.parameters())
    return [{"params": first, "lr": lr}, {"params": second, "lr": lr / 2, "weight_decay": 0.0}]


def batch_of(t: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(t)
    x = torch.randn(16, 1, 4, 4, dtype=torch.float64, generator=generator)
    return x, torch.randint(0, 3, (16,), generator=generator)


def take_step(net: Net, optimizer: torch.optim.Optimizer, t: int) -> float:
    """One step through a closure, every group's lr first scaled as a schedule would."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * (1 + 0.5 * math.sin(t))
    x, y = batch_of(t)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        return loss

    return float(optimizer.step(closure).detach())


def assert_close(ours: list[torch.Tensor], theirs: list[torch.Tensor], rtol: float = RTOL) -> None:
    for a, b in zip(ours, theirs, strict=True):
        assert torch.linalg.vector_norm(a - b) <= rtol * torch.linalg.vector_norm(b) + 1e-300, (a, b)


def reloaded(build: Build, groups: list[dict], state: dict) -> torch.optim.Optimizer:
    optimizer = build(groups)
    optimizer.load_state_dict(copy.deepcopy(state))
    return optimizer


def follow(
    ours: Build,
    theirs: Build,
    groups: Callable[[Net], list[dict]],
    torch_state: bool = True,
    rtol: float = RTOL,
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Train two copies of the net, one with ``ours`` and one with ``theirs``; reload ours from its
    state_dict a third of the way and, with ``torch_state``, swap the states through theirs at two
    thirds. Asserts equal losses and weights; returns the two optimizers at the end."""
    net, reference = make_net(), make_net()
    mine, other = ours(groups(net)), theirs(groups(reference))
    for t in range(STEPS):
        if t == STEPS // 3:
            mine = reloaded(ours, groups(net), mine.state_dict())
        if t == 2 * STEPS // 3 and torch_state:
            other = reloaded(theirs, groups(reference), mine.state_dict())
            mine = reloaded(ours, groups(net), other.state_dict())
        assert take_step(net, mine, t) == pytest.approx(take_step(reference, other, t), rel=rtol)
    assert_close(list(net.parameters()), list(reference.parameters()), rtol)
    assert net.frozen.grad is None and torch.equal(net.frozen, torch.ones(4, dtype=torch.float64))
    return mine, other


TORCH_CASES = [
    ("Adafactor", {}),
    ("Adafactor", {"weight_decay": 0.1, "maximize": True, "d": 2.0}),
    ("Adafactor", {"eps": (1e-20, 1e-2), "beta2_decay": -0.5, "foreach": False}),
    ("Adafactor", {"lr": 0.5}),  # above 1 / sqrt(t): the relative step's own decay decides
    ("Adamax", {}),
    ("Adamax", {"betas": (0.8, 0.99), "weight_decay": 0.05, "maximize": True}),
    ("Adamax", {"eps": 1e-3, "foreach": False}),
    ("ASGD", {}),
    ("ASGD", {"lambd": 0.01, "alpha": 0.5, "t0": 10, "weight_decay": 0.01}),
    ("ASGD", {"t0": 0, "maximize": True, "foreach": False}),
]
LR = {"Adafactor": 0.01, "Adamax": 0.01, "ASGD": 0.05}


@pytest.mark.parametrize(
    ("name", "kwargs"), TORCH_CASES, ids=[f"{n}-{'-'.join(k) or 'default'}" for n, k in TORCH_CASES]
)
def test_trajectory_matches_torch(name: str, kwargs: dict) -> None:
    kwargs = {"lr": LR[name], **kwargs}
    ours, theirs = follow(
        functools.partial(getattr(netopt_optim, name), **kwargs),
        functools.partial(getattr(torch.optim, name), **kwargs),
        lambda net: two_groups(net, kwargs["lr"]),
    )
    ours_state, theirs_state = ours.state_dict()["state"], theirs.state_dict()["state"]
    assert ours_state.keys() == theirs_state.keys()
    for index, state in theirs_state.items():
        assert state.keys() == ours_state[index].keys()
        assert_close(
            [torch.as_tensor(v) for v in ours_state[index].values()],
            [torch.as_tensor(v) for v in state.values()],
        )


@pytest.mark.parametrize("name", ["Muon", "Adafactor", "Adamax", "ASGD"])
def test_the_signature_is_torchs(name: str) -> None:
    signature_is_torchs(name)


@pytest.fixture
def float64_newton_schulz(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both Muons iterate in float64: netopt's by its class setting, torch's by its own iteration
    run with ``Tensor.bfloat16`` made a copy in the weights' dtype."""
    iterate = torch_muon._zeropower_via_newtonschulz

    def in_float64(*args: object, **kwargs: object) -> torch.Tensor:
        with monkeypatch.context() as patch:
            patch.setattr(torch.Tensor, "bfloat16", lambda self: self.clone())
            return iterate(*args, **kwargs)

    monkeypatch.setattr(torch_muon, "_zeropower_via_newtonschulz", in_float64)
    monkeypatch.setattr(netopt_optim.Muon, "newton_schulz_dtype", None)


MUON_CASES = [
    {},
    {"nesterov": False, "momentum": 0.9, "weight_decay": 0.0},
    {"adjust_lr_fn": "match_rms_adamw", "ns_steps": 3},
    {"adjust_lr_fn": "spectral_unclamped", "ns_coefficients": (2.0, -1.5, 0.5), "eps": 1e-3},
]


@pytest.mark.parametrize("kwargs", MUON_CASES, ids=["-".join(k) or "default" for k in MUON_CASES])
def test_muon_matches_torch_in_float64(float64_newton_schulz: None, kwargs: dict) -> None:
    kwargs = {"lr": 0.02, **kwargs}
    follow(
        functools.partial(netopt_optim.Muon, **kwargs),
        functools.partial(torch.optim.Muon, **kwargs),
        lambda net: two_groups(net, 0.02, matrices_only=True),
    )


def test_muon_matches_torch_in_bfloat16() -> None:
    """As torch runs it, the iteration in bfloat16: equal to bfloat16's precision."""
    follow(
        functools.partial(netopt_optim.Muon, lr=0.02),
        functools.partial(torch.optim.Muon, lr=0.02),
        lambda net: two_groups(net, 0.02, matrices_only=True),
        rtol=2**-8,
    )


def test_muon_steps_a_conv_kernel_as_the_matrix_of_its_out_channels(float64_newton_schulz: None) -> None:
    torch.manual_seed(1)
    kernel = torch.randn(4, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    matrix = kernel.detach().reshape(4, 18).clone().requires_grad_()
    ours, theirs = netopt_optim.Muon([kernel], lr=0.1), torch.optim.Muon([matrix], lr=0.1)
    for _ in range(5):
        grad = torch.randn(4, 2, 3, 3, dtype=torch.float64)
        kernel.grad, matrix.grad = grad, grad.reshape(4, 18).clone()
        ours.step()
        theirs.step()
    assert_close([kernel.reshape(4, 18)], [matrix])


def test_muon_refuses_a_vector_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^params=a tensor of shape \(8,\): must be weight matrices"):
        netopt_optim.Muon(make_net().hidden.parameters())


MUON = {"lr": 0.02, "weight_decay": 0.05}
ADAMW = {"lr": 0.01, "weight_decay": 0.01, "betas": (0.9, 0.95)}


class TorchSplit(torch.optim.Optimizer):
    """The split written with torch's optimizers: torch's Muon on the hidden matrices (the conv
    kernel seen as a matrix, since torch's Muon takes 2-D tensors only), torch's AdamW on the rest."""

    def __init__(self, groups: list[dict]) -> None:
        frozen, conv, conv_bias, hidden, hidden_bias, out, out_bias = groups[0]["params"]
        self.conv, self.view = conv, conv.detach().view(3, 9)
        self.muon = torch.optim.Muon([self.view, hidden], **MUON)
        self.adamw = torch.optim.AdamW([conv_bias, hidden_bias, out, out_bias, frozen], **ADAMW)
        super().__init__([*self.muon.param_groups, *self.adamw.param_groups], {})

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)
        self.conv.grad = None

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        loss = closure()
        self.view.grad = self.conv.grad.view(3, 9)
        self.muon.step()
        self.adamw.step()
        return loss


def build_split(groups: list[dict]) -> netopt_optim.Split:
    return netopt_optim.Split(
        groups,
        hidden=functools.partial(netopt_optim.Muon, **MUON),
        rest=functools.partial(netopt_optim.AdamW, **ADAMW),
    )


def test_split_is_torchs_muon_on_the_hidden_matrices_and_adamw_on_the_rest(
    float64_newton_schulz: None,
) -> None:
    """The conv kernel and the hidden weight go to Muon; biases, the output layer and the frozen
    vector to AdamW; a schedule scales each group's own lr; a reload mid-way resumes exactly."""
    ours, _ = follow(
        build_split, TorchSplit, lambda net: [{"params": list(net.parameters())}], torch_state=False
    )
    muon, adamw = ours.bases
    assert (type(muon), type(adamw)) == (netopt_optim.Muon, netopt_optim.AdamW)
    assert ours.param_groups == [*muon.param_groups, *adamw.param_groups]
    assert muon.state is ours.state and adamw.state is ours.state
    assert [tuple(p.shape) for p in muon.param_groups[0]["params"]] == [(3, 1, 3, 3), (8, 12)]
    assert [g["initial_lr"] for g in ours.param_groups] == [0.02, 0.01]
    assert ours.effective_lr(muon.param_groups[0]["params"][0]) is None
    assert ours.effective_lr(adamw.param_groups[0]["params"][2]) is not None


def test_the_runner_compiles_the_update_of_both_optimizers_of_the_split() -> None:
    """``trainer.compile_optimizer=true`` with ``optimizer=muon``, behind gradient noise."""
    cfg = compose_config("optimizer=muon", "trainer.compile_optimizer=true", "grad_noise=gaussian")
    parts = assemble(cfg, instantiate(cfg.trainer), (1, 8, 8), 10, steps_per_epoch=10, validation=True)
    split = parts.optimizer.base
    assert [type(b).__name__ for b in split.bases] == ["Muon", "AdamW"]
    assert all(base.compiled_update is not None for base in split.bases)


def test_split_keeps_the_groups_options_and_their_hidden_choice() -> None:
    net = make_net()
    split = build_split(
        [
            {"params": [net.conv.weight, net.hidden.weight, net.hidden.bias], "weight_decay": 0.0},
            {"params": net.out.weight, "hidden": True},
            {"params": iter([net.conv.bias, net.out.bias, net.frozen]), "lr": 0.001},
        ]
    )
    shapes = [
        (type(b).__name__, [tuple(p.shape) for p in g["params"]], g["lr"], g["weight_decay"])
        for b in split.bases
        for g in b.param_groups
    ]
    assert shapes == [
        ("Muon", [(3, 1, 3, 3), (8, 12)], 0.02, 0.0),
        ("Muon", [(3, 8)], 0.02, 0.05),
        ("AdamW", [(8,)], 0.01, 0.0),
        ("AdamW", [(3,), (3,), (4,)], 0.001, 0.01),
    ]


def test_what_is_a_hidden_matrix_in_netopts_models() -> None:
    """In the CNN: both conv kernels and the hidden layer's weight; not the classifier, the biases,
    the batch-norm gains, nor a weight-norm gain of shape (n, 1)."""
    model = CNN((1, 8, 8), 10, BatchNormalization())
    split = build_split(model.parameters())
    hidden = {id(p) for g in split.bases[0].param_groups for p in g["params"]}
    names = [name for name, p in model.named_parameters() if id(p) in hidden]
    assert names == ["features.0.weight", "features.4.weight", "classifier.1.weight"]
    assert not is_matrix(torch.ones(5, 1)) and not is_matrix(torch.ones(1, 5)) and is_matrix(torch.ones(2, 2))


def adopt_reference(net: Net, t: int, lr: float, state: dict, decay: float, decouple: bool) -> None:
    """Algorithm 2 of Taniguchi et al. 2024 (clipped ADOPT), per tensor: v_0 = g_0^2 at the first
    step; then m_t = b1 m + (1 - b1) clip(g_t / max(sqrt(v_{t-1}), eps), (t-1)^(1/4)),
    theta_t = theta - lr m_t, v_t = b2 v + (1 - b2) g_t^2."""
    beta1, beta2, eps = 0.9, 0.999, 1e-6
    with torch.no_grad():
        for p in net.parameters():
            if p.grad is None:
                continue
            g = p.grad + decay * p if not decouple else p.grad
            if p not in state:
                state[p] = {"m": torch.zeros_like(p), "v": g * g, "t": 1}
                continue
            s = state[p]
            if decouple:
                p.mul_(1 - lr * decay)
            bound = s["t"] ** 0.25
            s["m"] = beta1 * s["m"] + (1 - beta1) * (g / torch.clamp(s["v"].sqrt(), min=eps)).clamp(
                -bound, bound
            )
            p.sub_(lr * s["m"])
            s["v"] = beta2 * s["v"] + (1 - beta2) * g * g
            s["t"] += 1


@pytest.mark.parametrize(("decay", "decouple"), [(0.0, False), (0.01, False), (0.1, True)])
def test_adopt_matches_its_algorithm(decay: float, decouple: bool) -> None:
    net, reference = make_net(), make_net()
    build = functools.partial(
        netopt_optim.ADOPT, lr=0.01, betas=(0.9, 0.999), weight_decay=decay, decouple=decouple
    )
    optimizer, state = build(net.parameters()), {}
    for t in range(STEPS):
        if t == STEPS // 2:
            optimizer = reloaded(build, list(net.parameters()), optimizer.state_dict())
        take_step(net, optimizer, t)
        lr = 0.01 * (1 + 0.5 * math.sin(t))
        reference.zero_grad()
        x, y = batch_of(t)
        nn.functional.cross_entropy(reference(x), y).backward()
        adopt_reference(reference, t, lr, state, decay, decouple)
    assert_close(list(net.parameters()), list(reference.parameters()))


PRODIGY_CASES = [
    {},
    {"weight_decay": 0.01},
    {"weight_decay": 0.01, "decouple": False, "use_bias_correction": True},
    {"betas": (0.0, 0.99), "safeguard_warmup": True, "growth_rate": 1.02, "d_coef": 0.5},
    {"beta3": 0.9, "d0": 1e-4, "eps": 1e-6},
]


@pytest.mark.parametrize("kwargs", PRODIGY_CASES, ids=["-".join(k) or "default" for k in PRODIGY_CASES])
def test_prodigy_matches_prodigyopt(kwargs: dict) -> None:
    """Both groups at lr 1 (Prodigy's one d needs one lr), scaled together by the schedule; d and
    its accumulators are kept in the groups, so the reload resumes the estimate."""
    groups = lambda net: [{**g, "lr": 1.0} for g in two_groups(net, 1.0)]  # noqa: E731
    ours, theirs = follow(
        functools.partial(netopt_optim.Prodigy, **kwargs),
        functools.partial(ProdigyReference, **kwargs),
        groups,
        torch_state=False,
    )
    for ours_group, theirs_group in zip(ours.param_groups, theirs.param_groups, strict=True):
        for key in ("d", "d_max", "d_numerator", "d_hat", "k"):
            assert ours_group[key] == pytest.approx(theirs_group[key], rel=RTOL), key
    assert ours.param_groups[0]["d"] > 2 * ours.param_groups[0]["d0"]  # the estimate grew


def test_prodigy_refuses_groups_of_different_lr() -> None:
    optimizer = netopt_optim.Prodigy(two_groups(make_net(), 1.0))
    with pytest.raises(RuntimeError, match="same lr"):
        take_step(make_net(), optimizer, 0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["optimizer=muon", "optimizer.hidden.momentum=1.5"],
            r"^optimizer.hidden.momentum=1.5: must be in \[0, 1\)",
        ),
        (
            ["optimizer=muon", "optimizer.hidden.adjust_lr_fn=fast"],
            "^optimizer.hidden.adjust_lr_fn=fast: must be one of original, ",
        ),
        (["optimizer=muon", "optimizer.rest.lr=-1"], "^optimizer.rest.lr=-1.0: must be finite and >= 0"),
        (["optimizer=adafactor", "optimizer.d=0.5"], "^optimizer.d=0.5: must be >= 1"),
        (["optimizer=prodigy", "optimizer.growth_rate=0.5"], "^optimizer.growth_rate=0.5: must be >= 1"),
        (
            ["optimizer=adopt", "optimizer.clip_exponent=-1"],
            "^optimizer.clip_exponent=-1.0: must be finite and >= 0",
        ),
    ],
)
def test_bad_values_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        preflight(compose_config(*overrides))


@pytest.mark.parametrize("name", ["muon", "prodigy", "adafactor", "adopt", "asgd", "adamax"])
def test_a_resumed_run_ends_as_one_that_never_stopped(tmp_path: Path, name: str) -> None:
    """Each new option trains the default model, and its checkpoint (the split's two states,
    Prodigy's d in the param groups, ASGD's averages and step sizes) resumes exactly."""
    args = (f"optimizer={name}", "trainer.batch_size=128")
    straight = train(tmp_path / "straight", *args, "trainer.max_epochs=2")
    train(tmp_path / "resumed", *args, "trainer.max_epochs=1")
    resumed = train(tmp_path / "resumed", *args, "trainer.max_epochs=2", "trainer.resume=true")
    timing = {"wall_time_s", "samples_per_s", "restored_epoch"}
    assert {k: v for k, v in resumed.items() if k not in timing} == {
        k: v for k, v in straight.items() if k not in timing
    }
    assert straight["status"] == "completed" and straight["test_acc"] > 0.7
