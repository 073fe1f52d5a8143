"""Label-smoothing cross-entropy against its oracle F.cross_entropy(label_smoothing=eps), float64."""

import pytest
import torch
import torch.nn.functional as F

from netopt.nn.loss import CrossEntropyLoss, cross_entropy


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("classes", [2, 10])
def test_matches_torch_value_and_gradient(eps, reduction, classes):
    torch.manual_seed(classes)
    logits = (5 * torch.randn(32, classes, dtype=torch.float64)).requires_grad_()
    target = torch.randint(classes, (32,))
    ours = CrossEntropyLoss(label_smoothing=eps, reduction=reduction)(logits, target)
    oracle = F.cross_entropy(logits, target, label_smoothing=eps, reduction=reduction)
    torch.testing.assert_close(ours, oracle, rtol=1e-12, atol=1e-12)
    (grad,) = torch.autograd.grad(ours.sum(), logits)
    (oracle_grad,) = torch.autograd.grad(oracle.sum(), logits)
    torch.testing.assert_close(grad, oracle_grad, rtol=1e-12, atol=1e-12)


def test_equals_the_smoothed_target_formula():
    torch.manual_seed(0)
    eps, classes = 0.2, 5
    logits = torch.randn(6, classes, dtype=torch.float64)
    target = torch.randint(classes, (6,))
    q = (1 - eps) * F.one_hot(target, classes).double() + eps / classes
    expected = -(q * torch.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(cross_entropy(logits, target, eps), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [{"label_smoothing": 1.5}, {"reduction": "max"}])
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        CrossEntropyLoss(**kwargs)
