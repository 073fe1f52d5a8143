"""Loss slices: endpoints, filter normalization, weights restored, CSV and figures."""

import copy
import csv

import pytest
import torch
import torch.nn.functional as F

from netopt.init import HeUniform
from netopt.landscape.plot import plot_interpolation, plot_plane
from netopt.landscape.slices import filter_normalized_direction, filter_norms, interpolation, plane, write_csv
from netopt.models.autoencoder import AutoEncoder
from netopt.models.cnn import CNN
from netopt.models.mlp import MLP
from netopt.nn import norm
from netopt.optim import SGD
from netopt.tasks import RECONSTRUCTION, Classification

NORMS = {
    "none": norm.Normalization(),
    "batch": norm.BatchNormalization(),
    "weight": norm.WeightNormalization(),
}


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Run:
    """A small MLP at initialization and after a few SGD steps, with train and test batches."""

    def __init__(self, option: str) -> None:
        torch.manual_seed(0)
        self.model = MLP((1, 4, 4), 3, NORMS[option], dropout=0.0, depth=2, width=16)
        HeUniform()(self.model)
        self.start = copy.deepcopy(self.model.state_dict())
        x, y = torch.randn(96, 1, 4, 4), torch.randint(0, 3, (96,))
        optimizer = SGD(self.model.parameters(), lr=0.1)
        for _ in range(20):
            optimizer.zero_grad()
            F.cross_entropy(self.model(x[:64]), y[:64]).backward()
            optimizer.step()
        self.splits = {"train": [(x[:40], y[:40]), (x[40:64], y[40:64])], "test": [(x[64:], y[64:])]}

    def loss(self, split: str) -> float:
        """The mean loss of the model as it is, in evaluation mode."""
        self.model.eval()
        with torch.no_grad():
            x = torch.cat([x for x, _ in self.splits[split]])
            y = torch.cat([y for _, y in self.splits[split]])
            value = F.cross_entropy(self.model(x), y).item()
        self.model.train()
        return value


@pytest.fixture(params=list(NORMS))
def run(request) -> Run:
    return Run(request.param)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in model.state_dict().items()}


def assert_unchanged(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_line_endpoints_are_the_initial_and_final_losses(run):
    final = {split: run.loss(split) for split in run.splits}
    end = snapshot(run.model)
    result = interpolation(run.model, run.start, run.splits, alphas=torch.tensor([0.0, 0.5, 1.0]))
    assert_unchanged(run.model, end)
    run.model.load_state_dict(run.start)
    initial = {split: run.loss(split) for split in run.splits}
    for split in run.splits:
        assert result.loss[split][0].item() == pytest.approx(initial[split], rel=1e-5)
        assert result.loss[split][2].item() == pytest.approx(final[split], rel=1e-5)
        assert 0.0 <= result.accuracy[split].min() <= result.accuracy[split].max() <= 1.0
    assert run.model.training


def test_plane_centre_is_the_final_loss_and_the_weights_come_back(run):
    before = snapshot(run.model)
    result = plane(run.model, run.splits, generator=generator(), coordinates=torch.linspace(-1, 1, 5))
    assert_unchanged(run.model, before)
    assert result.loss["train"].shape == (5, 5)
    assert result.loss["train"][2, 2].item() == pytest.approx(run.loss("train"), rel=1e-5)
    assert result.loss["train"][0, 0] > result.loss["train"][2, 2]


def test_weights_come_back_when_evaluation_fails():
    run, calls = Run("batch"), []

    class Failing(Classification):
        @staticmethod
        def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            calls.append(1)
            if len(calls) == 4:
                raise RuntimeError("boom")
            return F.cross_entropy(logits, y)

    before = snapshot(run.model)
    with pytest.raises(RuntimeError, match="boom"):
        plane(run.model, run.splits, generator=generator(), task=Failing())
    assert_unchanged(run.model, before)
    assert run.model.training


def test_an_autoencoders_slice_is_its_mean_squared_error_without_accuracy():
    torch.manual_seed(0)
    model = AutoEncoder((1, 4, 4), 3, norm.Normalization(), widths=(8,), code=2)
    start = copy.deepcopy(model.state_dict())
    x, y = torch.randn(24, 1, 4, 4), torch.randint(0, 3, (24,))
    splits = {"train": [(x[:16], y[:16]), (x[16:], y[16:])]}
    with torch.no_grad():
        model.decoder[-2].bias.add_(0.5)  # the end: other weights than the start
        end_loss = F.mse_loss(model(x), x).item()
    result = interpolation(model, start, splits, alphas=torch.tensor([0.0, 1.0]), task=RECONSTRUCTION)
    assert result.loss["train"][1].item() == pytest.approx(end_loss, rel=1e-5)
    model.load_state_dict(start)
    with torch.no_grad():
        assert result.loss["train"][0].item() == pytest.approx(F.mse_loss(model(x), x).item(), rel=1e-5)
    assert result.accuracy["train"].isnan().all()
    grid = plane(
        model, splits, generator=generator(), coordinates=torch.linspace(-1, 1, 3), task=RECONSTRUCTION
    )
    with torch.no_grad():
        assert grid.loss["train"][1, 1].item() == pytest.approx(F.mse_loss(model(x), x).item(), rel=1e-5)


def test_filter_normalized_direction_has_the_norm_of_each_weight_filter():
    model = CNN((1, 8, 8), 10, norm.BatchNormalization(), dropout=0.0, channels=(4, 8), hidden=16)
    direction = filter_normalized_direction(model, generator())
    weights = {name: p for name, p in model.named_parameters() if p.dim() >= 2}
    assert set(direction) == set(weights)  # no direction for biases or batch norm's gamma, beta
    for name, d in direction.items():
        torch.testing.assert_close(filter_norms(d), filter_norms(weights[name].detach()), rtol=1e-5, atol=0)
        assert d.shape == weights[name].shape and filter_norms(d).shape[0] == d.shape[0]
    again = filter_normalized_direction(model, generator())
    assert all(torch.equal(direction[name], again[name]) for name in direction)  # seeded
    other = filter_normalized_direction(model, generator(1))
    assert not torch.equal(direction["features.0.weight"], other["features.0.weight"])


def test_weight_norm_directions_move_v_not_g():
    model = MLP((1, 4, 4), 3, norm.WeightNormalization(), dropout=0.0, depth=1, width=8)
    direction = filter_normalized_direction(model, generator())
    assert set(direction) == {"layers.1.parametrizations.weight.original1", "layers.3.weight"}


def test_csv_has_one_row_per_grid_point(tmp_path, run):
    result = plane(run.model, run.splits, generator=generator(), coordinates=torch.linspace(-1, 1, 3))
    write_csv(result, tmp_path / "plane.csv")
    rows = list(csv.reader((tmp_path / "plane.csv").read_text().splitlines()))
    assert rows[0] == ["a", "b", "train_loss", "train_acc", "test_loss", "test_acc"]
    assert len(rows) == 1 + 9 and all(len(row) == 6 for row in rows)
    assert [float(v) for v in rows[1][:2]] == [-1.0, -1.0] and float(rows[2][1]) == 0.0
    assert float(rows[5][2]) == pytest.approx(result.loss["train"][1, 1].item(), rel=1e-6)
    line = interpolation(run.model, run.start, {"train": run.splits["train"]})
    write_csv(line, tmp_path / "line.csv")
    rows = list(csv.reader((tmp_path / "line.csv").read_text().splitlines()))
    assert rows[0] == ["a", "train_loss", "train_acc"] and len(rows) == 1 + 31


def test_figures_are_written(tmp_path):
    run = Run("none")
    line = interpolation(run.model, run.start, run.splits, alphas=torch.linspace(-0.25, 1.25, 7))
    result = plane(run.model, run.splits, generator=generator(), coordinates=torch.linspace(-1, 1, 5))
    plot_interpolation(line, tmp_path / "landscape_1d.png")
    plot_plane(result, tmp_path / "landscape_2d.png")
    plot_plane(result, tmp_path / "landscape_2d_surface.png", surface=True)
    for name in ("landscape_1d.png", "landscape_2d.png", "landscape_2d_surface.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
