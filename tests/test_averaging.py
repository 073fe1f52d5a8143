"""Weight averaging (EMA, SWA) against torch.optim.swa_utils (AveragedModel with get_ema_multi_avg_fn /
get_swa_multi_avg_fn, update_bn; float64), the exact swap of the weights, the SWA lr schedule, and runs
through the runner: evaluation, test and checkpoint use the average, and a resumed run ends exactly."""

import copy

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, get_swa_multi_avg_fn, update_bn

from netopt.averaging import EMA, SWA, recompute_batch_norm
from netopt.errors import UserError
from netopt.nn import BatchNorm1d
from tests.helpers import assert_batch_norm_recomputed, straight_and_resumed, train

STEPS_PER_EPOCH = 4


def network(norm: type[nn.Module] = nn.BatchNorm1d) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), norm(8), nn.ReLU(), nn.Linear(8, 3))


def train_with(model: nn.Module, average, oracle: AveragedModel, steps: int, decays=None) -> None:
    """SGD steps on random batches; after each, the averager's on_step and the oracle's update where
    the averager is due (the oracle's EMA decay set per update when ``decays`` gives it)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    generator = torch.Generator().manual_seed(1)
    for step in range(steps):
        x, y = torch.randn(16, 5, generator=generator), torch.randint(3, (16,), generator=generator)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        if average.due(step):
            if decays is not None:
                oracle.multi_avg_fn = get_ema_multi_avg_fn(decays(int(oracle.n_averaged)))
            oracle.update_parameters(model)
        average.on_step(step)


def assert_average_is(average, model: nn.Module, oracle: AveragedModel) -> None:
    trained = [p.detach().clone() for p in model.parameters()]
    average.eval()
    for mine, theirs in zip(model.parameters(), oracle.module.parameters(), strict=True):
        torch.testing.assert_close(mine.detach(), theirs.detach(), rtol=0, atol=1e-10)
    average.train()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), trained, strict=True))  # exact swap


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("decay", [0.9, 0.99])
def test_ema_without_warmup_is_torchs_averaged_model_with_the_ema_fn(decay):
    model = network()
    oracle = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    average = EMA(model, STEPS_PER_EPOCH, 10, decay=decay, warmup=None)
    train_with(model, average, oracle, 30)
    assert_average_is(average, model, oracle)


@pytest.mark.usefixtures("float64")
def test_ema_warmup_decays_as_min_decay_and_one_plus_n_over_warmup_plus_n():
    model = network()
    oracle = AveragedModel(model)
    average = EMA(model, STEPS_PER_EPOCH, 10, decay=0.95, warmup=10)
    train_with(model, average, oracle, 40, decays=lambda n: min(0.95, (1 + n) / (10 + n)))
    assert average.n_averaged == 40
    assert_average_is(average, model, oracle)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(("start_epoch", "every"), [(0, None), (2, 3), (5, 1)])
def test_swa_is_torchs_averaged_model_with_the_swa_fn_from_its_start(start_epoch, every):
    model = network()
    oracle = AveragedModel(model, multi_avg_fn=get_swa_multi_avg_fn())
    average = SWA(model, STEPS_PER_EPOCH, 8, start_epoch=start_epoch, every=every)
    train_with(model, average, oracle, 8 * STEPS_PER_EPOCH)
    first = start_epoch * STEPS_PER_EPOCH + (every or STEPS_PER_EPOCH)  # steps done at the first update
    assert average.n_averaged == (8 * STEPS_PER_EPOCH - first) // (every or STEPS_PER_EPOCH) + 1
    assert_average_is(average, model, oracle)


def test_before_the_first_update_the_model_is_evaluated_as_trained():
    model = network()
    average = SWA(model, STEPS_PER_EPOCH, 8, start_epoch=4)
    weights = [p.detach().clone() for p in model.parameters()]
    average.on_step(0)
    average.eval()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), weights, strict=True))
    average.train()


@pytest.mark.usefixtures("float64")
def test_batch_norm_statistics_are_recomputed_as_update_bn_does():
    """Netopt's recomputation on netopt's BatchNorm1d and on torch's, against update_bn on torch's."""
    torch_bn, netopt_bn = network(), network(BatchNorm1d)
    netopt_bn.load_state_dict(torch_bn.state_dict())
    for model in (torch_bn, netopt_bn):  # running statistics far from the data's
        model[1].running_mean.fill_(3.0)
        model[1].running_var.fill_(7.0)
    oracle = copy.deepcopy(torch_bn)
    generator = torch.Generator().manual_seed(2)
    inputs = [torch.randn(n, 5, generator=generator) * 2 + 1 for n in (32, 32, 7)]
    update_bn([(x,) for x in inputs], oracle)
    for model in (torch_bn, netopt_bn):
        model.eval()
        recompute_batch_norm(model, inputs)
        assert not model.training and model[1].momentum == 0.1  # left as it was
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            torch.testing.assert_close(getattr(model[1], name), getattr(oracle[1], name), rtol=0, atol=1e-10)


def test_swa_lr_is_constant_or_cyclic_after_the_start():
    model = network()
    base = lambda t: 1.0 - t / 100  # noqa: E731 (the run's factor of lr 0.2)
    constant = SWA(model, STEPS_PER_EPOCH, 8, start_epoch=2, swa_lr=0.05).lr_schedule(base, 0.2)
    assert [constant(t) for t in (0, 7, 8, 20)] == [1.0, base(7), 0.25, 0.25]
    cyclic = SWA(model, STEPS_PER_EPOCH, 8, start_epoch=2, every=4, swa_lr=0.05, cyclic=True).lr_schedule(
        base, 0.2
    )
    first = base(8)  # alpha_1: the run's factor at the start
    expected = [(1 - s) * first + s * 0.25 for s in (0.25, 0.5, 0.75, 1.0)] * 2
    assert [cyclic(t) for t in range(8, 16)] == pytest.approx(expected, abs=1e-15)
    assert SWA(model, STEPS_PER_EPOCH, 8).lr_schedule(base, 0.2) is base  # no swa_lr: the run's schedule


def test_refuses_bad_values():
    model = network()
    with pytest.raises(UserError, match="start_epoch"):
        SWA(model, STEPS_PER_EPOCH, 8, start_epoch=8)
    with pytest.raises(UserError, match="cyclic"):
        SWA(model, STEPS_PER_EPOCH, 8, cyclic=True)
    with pytest.raises(UserError, match="decay"):
        EMA(model, STEPS_PER_EPOCH, 8, decay=1.5)
    with pytest.raises(UserError, match="warmup"):
        EMA(model, STEPS_PER_EPOCH, 8, warmup=0.5)


SHORT = [
    "trainer.max_epochs=3",
    "dataset.train_size=400",
    "trainer.batch_size=32",
    "norm=batch",
    "probes=weight_norm",
]


@pytest.mark.parametrize(
    "averaging",
    [
        ["averaging=ema", "averaging.decay=0.95"],
        [
            "averaging=swa",
            "averaging.start_epoch=1",
            "averaging.every=5",
            "averaging.swa_lr=0.05",
            "averaging.cyclic=true",
        ],
    ],
)
def test_a_run_evaluates_tests_and_saves_the_average_and_resumes_exactly(tmp_path, averaging):
    overrides = [*SHORT, *averaging]
    straight, saved = straight_and_resumed(tmp_path, 1, *overrides)
    plain = train(tmp_path / "plain", *SHORT)
    assert straight["status"] == "completed" and straight["test_acc"] > 0.8
    assert straight["test_acc"] != plain["test_acc"] or straight["val_loss"] != plain["val_loss"]
    average = next(state for state in saved["probes"] if "n_averaged" in state)
    assert average["swapped"] and average["n_averaged"] > 1
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    weights = [v for k, v in saved["model"].items() if not k.endswith(statistics)]
    assert [w.shape for w in weights] == [w.shape for w in average["held"]]
    # the checkpoint's model is the average, not the trained weights (held), and the probes measured it
    assert straight["weight_norm"] == pytest.approx(torch.cat([w.flatten() for w in weights]).norm().item())
    assert straight["weight_norm"] != pytest.approx(
        torch.cat([w.flatten() for w in average["held"]]).norm().item()
    )
    assert_batch_norm_recomputed(saved["model"])
