"""Losses against values worked out by hand with scalar math."""
import math

import pytest
import torch

from art_bmtad.algorithm.losses import negative_entropy, soft_kl, tempered_kl


def test_soft_kl_one_hot_teacher_uniform_student():
    # p = (1, 0), student logits (0, 0): entries 1*(log(1+1e-5) + log 2) and 0; mean over B*C = 2 entries.
    value = soft_kl(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]))
    assert value.item() == pytest.approx((math.log(1.00001) + math.log(2)) / 2, rel=1e-6)


def test_soft_kl_is_mean_over_batch_and_classes():
    p = [[0.25, 0.75], [0.5, 0.5]]
    z = [[1.0, 2.0], [0.0, 3.0]]
    expected = 0.0
    for p_row, z_row in zip(p, z):
        lse = math.log(sum(math.exp(v) for v in z_row))
        expected += sum(pi * (math.log(pi + 1e-5) - (zi - lse)) for pi, zi in zip(p_row, z_row))
    value = soft_kl(torch.tensor(p), torch.tensor(z))
    assert value.item() == pytest.approx(expected / 4, rel=1e-6)


def test_soft_kl_gradient_reaches_student_only():
    p = torch.tensor([[0.2, 0.8]], requires_grad=True)
    z = torch.tensor([[0.5, -0.5]], requires_grad=True)
    soft_kl(p, z).backward()
    assert p.grad is None
    # d/dz mean(p * -log_softmax(z)) = (softmax(z) - p) / (B*C)
    s = torch.softmax(z.detach(), dim=1)
    assert torch.allclose(z.grad, (s - p.detach()) / 2, atol=1e-7)


def test_negative_entropy_of_uniform():
    # p = 1/4 everywhere: mean(p * log(p + 1e-5)) = 0.25 * log(0.25001)
    assert negative_entropy(torch.full((3, 4), 0.25)).item() == pytest.approx(0.25 * math.log(0.25001), rel=1e-6)


def test_tempered_kl_matches_kldivloss_times_t_squared():
    t = torch.tensor([[2.0, 0.0, -1.0], [0.3, 0.2, 0.1]])
    s = torch.tensor([[0.0, 1.0, 0.0], [1.0, -1.0, 0.5]])
    temperature = 4.0
    reference = torch.nn.KLDivLoss(reduction="mean")(
        torch.log_softmax(s / temperature, dim=1), torch.softmax(t / temperature, dim=1)
    )
    assert tempered_kl(t, s, temperature).item() == pytest.approx(temperature**2 * reference.item(), rel=1e-5)
