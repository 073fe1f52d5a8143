"""The fast recipes' components (airbench's ideas): patch whitening of the first convolution, flip
test-time augmentation, alternating flips, a param group of its own for the norm layers, Dirac init."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from netopt.components import assemble, preflight
from netopt.data.augment import Augment
from netopt.init import Dirac, HeUniform, dirac_
from netopt.models.cnn import CNN
from netopt.nn.norm import BatchNormalization, NormLayer
from netopt.nn.whitening import patches, whiten_patches_
from tests.helpers import compose_config, train


def _images(n: int = 400, seed: int = 0) -> torch.Tensor:
    """(n, 1, 12, 12) images with strongly correlated neighbouring pixels (smoothed noise) and a mean."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, 1, 14, 14, generator=generator)
    return F.avg_pool2d(noise, 3, stride=1) * 3.0 + 1.0


def _covariance(flat: torch.Tensor) -> torch.Tensor:
    centered = flat - flat.mean(0)
    return centered.T @ centered / len(flat)


def test_whitened_patches_have_identity_covariance_each_direction_with_both_signs():
    x = _images()
    raw = _covariance(patches(x, 3, 0).double())
    assert (raw - torch.eye(9, dtype=torch.float64)).abs().max() > 0.5  # far from white before
    conv = whiten_patches_(nn.Conv2d(1, 20, 3), x, eps=1e-6)
    out = conv(x).detach()  # (n, 20, 10, 10)
    positive = out[:, 0:18:2].permute(0, 2, 3, 1).flatten(0, 2).double()
    torch.testing.assert_close(_covariance(positive), torch.eye(9, dtype=torch.float64), atol=1e-3, rtol=0)
    torch.testing.assert_close(positive.mean(0), torch.zeros(9, dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(out[:, 1:18:2], -out[:, 0:18:2])  # w_{2i+1} = -w_{2i}
    assert not conv.weight.requires_grad and conv.bias.requires_grad  # fixed filters, trained bias


def test_the_cnn_whitens_its_first_convolution_from_the_training_inputs():
    model = CNN((1, 12, 12), 10, BatchNormalization(), channels=(16, 32), whiten=True)
    first = model.features[0]
    before = first.weight.clone()
    model.fit_inputs(_images())
    assert not torch.equal(first.weight, before) and not first.weight.requires_grad
    assert model.features[4].weight.requires_grad  # the second convolution trains


def test_flip_tta_averages_the_logits_of_the_image_and_its_mirror_in_eval_mode_only():
    torch.manual_seed(0)
    plain = CNN((1, 12, 12), 10, BatchNormalization(), channels=(8,))
    tta = CNN((1, 12, 12), 10, BatchNormalization(), channels=(8,), flip_tta=True)
    tta.load_state_dict(plain.state_dict())
    x = _images(6)
    plain.eval(), tta.eval()
    expected = (plain(x) + plain(x.flip(-1))) / 2
    torch.testing.assert_close(tta(x), expected)
    assert not torch.allclose(tta(x), plain(x))
    plain.train(), tta.train()
    torch.testing.assert_close(tta(x), plain(x))  # training sees one view


def test_alternating_flips_flip_every_image_exactly_every_other_epoch():
    x = torch.randn(1000, 1, 4, 5)
    augment = Augment(flip_p=0.5, alternate_flips=True)
    generator = torch.Generator().manual_seed(11)
    flipped = []
    for epoch in range(5):
        view = augment.epoch_inputs(x, epoch, generator)
        is_flipped = (view == x.flip(-1)).flatten(1).all(1)
        assert (is_flipped | (view == x).flatten(1).all(1)).all()  # each image as it is or mirrored
        flipped.append(is_flipped)
    assert 0.45 < flipped[0].float().mean() < 0.55
    for before, after in zip(flipped, flipped[1:], strict=False):
        assert torch.equal(after, ~before)
    torch.rand(3, generator=generator)  # the stream moved on: the mask depends on its seed only
    fresh = Augment(flip_p=0.5, alternate_flips=True).epoch_inputs(x, 2, generator)
    assert torch.equal(fresh, augment.epoch_inputs(x, 0, generator))
    batch = torch.randn(8, 1, 4, 5)
    assert torch.equal(augment(batch, generator), batch)  # no random flips per batch on top
    assert Augment(flip_p=0.5).epoch_inputs(x, 1, generator) is x


def test_norm_layers_get_their_own_lr_and_weight_decay():
    overrides = ["model=cnn", "norm=batch", "optimizer.weight_decay=0.001", "optimizer.lr=0.1"]
    cfg = compose_config(*overrides, "trainer.norm_lr_scale=8", "trainer.norm_weight_decay=0")
    settings, dataset, _ = preflight(cfg)
    parts = assemble(cfg, settings, dataset.in_shape, dataset.num_classes, 10, True)
    rest, norms = parts.optimizer.param_groups
    expected = {id(p) for m in parts.model.modules() if isinstance(m, NormLayer) for p in m.parameters()}
    assert {id(p) for p in norms["params"]} == expected and expected
    assert (rest["lr"], rest["weight_decay"]) == (0.1, 0.001)
    assert norms["lr"] == pytest.approx(0.8) and norms["weight_decay"] == 0
    cfg = compose_config(*overrides)
    settings, dataset, _ = preflight(cfg)
    assert len(assemble(cfg, settings, dataset.in_shape, 10, 10, True).optimizer.param_groups) == 1


@pytest.mark.parametrize("value", ["trainer.norm_lr_scale=0", "trainer.norm_weight_decay=-1"])
def test_bad_norm_group_settings_are_refused(value):
    with pytest.raises(Exception, match=value.split("=")[0].split(".")[1]):
        preflight(compose_config(value))


def test_dirac_passes_each_channel_through_its_first_filters():
    conv = nn.Conv2d(3, 5, 3, padding=1, bias=False)
    with torch.no_grad():
        dirac_(conv.weight)
    x = torch.randn(2, 3, 6, 6)
    torch.testing.assert_close(conv(x)[:, :3], x)
    model = CNN((1, 8, 8), 10, BatchNormalization(), channels=(4, 8))
    Dirac(HeUniform())(model, **model.init_arguments())
    second = model.features[4].weight  # (8, 4, 3, 3): filters 0-3 the identity, 4-7 random
    assert torch.equal(second[:4, :, 1, 1], torch.eye(4)) and second[4:].abs().sum() > 0


def test_a_run_with_every_component_resumes_exactly(tmp_path):
    every = [
        "model=cnn", "model.whiten=true", "model.flip_tta=true", "model.channels=[8,16]",
        "norm=batch", "augmentation=alternating_flip", "init=dirac", "trainer.norm_lr_scale=4",
        "trainer.norm_weight_decay=0", "optimizer.weight_decay=0.001", "dataset.train_size=300",
        "trainer.batch_size=32", "trainer.seed=3",
    ]  # fmt: skip
    straight = train(tmp_path / "straight", *every, "trainer.max_epochs=4")
    train(tmp_path / "resumed", *every, "trainer.max_epochs=2")
    resumed = train(tmp_path / "resumed", *every, "trainer.max_epochs=4", "trainer.resume=true")
    timing = {"wall_time_s", "samples_per_s"}
    assert {k: v for k, v in resumed.items() if k not in timing} == {
        k: v for k, v in straight.items() if k not in timing
    }
    assert straight["status"] == "completed"


def test_an_optimizer_that_splits_its_groups_scales_the_norm_group_it_keeps():
    cfg = compose_config("model=cnn", "norm=batch", "optimizer=muon", "trainer.norm_lr_scale=8")
    settings, dataset, _ = preflight(cfg)
    parts = assemble(cfg, settings, dataset.in_shape, dataset.num_classes, 10, True)
    norms = {id(p) for m in parts.model.modules() if isinstance(m, NormLayer) for p in m.parameters()}
    tuned = [g for g in parts.optimizer.param_groups if all(id(p) in norms for p in g["params"])]
    assert len(tuned) == 1 and tuned[0]["lr"] == pytest.approx(8 * cfg.optimizer.rest.lr)
