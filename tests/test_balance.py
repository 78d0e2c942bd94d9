"""Balancer trajectories on known sequences, against the spec's formulas written out with plain floats."""
import math

import pytest
import torch

from art_bmtad.balance import EntropyBalance, NormalizedLossBalance, RelativeLossBalance


def neg_entropy(logits, tau):
    """E = mean_{b,c}[p log(p + 1e-5)] for a single row, with plain floats."""
    exps = [math.exp(v / tau) for v in logits]
    p = [e / sum(exps) for e in exps]
    return sum(pi * math.log(pi + 1e-5) for pi in p) / len(p)


def sign(v):
    return (v > 0) - (v < 0)


UNIFORM = torch.tensor([[0.0, 0.0]])  # highest entropy, at any temperature
SHARP = torch.tensor([[4.0, 0.0]])


def test_ebb_sharpens_high_entropy_teacher_softens_other_with_clamps():
    eb = EntropyBalance(n_teachers=2, lr=0.05, t_min=0.9, t_max=1.12, init=1.0)
    trajectory = [eb.update([UNIFORM, SHARP]) for _ in range(4)]
    expected = [[0.95, 1.05], [0.90, 1.10], [0.90, 1.12], [0.90, 1.12]]
    for got, want in zip(trajectory, expected):
        assert got == pytest.approx(want, abs=1e-12)
    assert eb.temperatures == pytest.approx([0.90, 1.12])


def test_ebb_default_floor_keeps_robust_teacher_at_one():
    eb = EntropyBalance(n_teachers=2, lr=0.001, t_min=1.0, t_max=10.0, init=1.0)
    for step in range(1, 4):
        assert eb.update([UNIFORM, SHARP]) == pytest.approx([1.0, 1.0 + 0.001 * step])


def test_ebb_matches_paper_rule_for_two_teachers_on_random_sequence():
    gen = torch.Generator().manual_seed(0)
    eb = EntropyBalance(n_teachers=2, lr=0.01, t_min=1.0, t_max=10.0, init=1.0)
    tau_adv = tau_nat = 1.0
    for _ in range(50):
        t_adv = torch.randn(1, 5, generator=gen) * 3
        t_nat = torch.randn(1, 5, generator=gen) * 3
        e_adv = neg_entropy(t_adv[0].tolist(), tau_adv)
        e_nat = neg_entropy(t_nat[0].tolist(), tau_nat)
        tau_adv, tau_nat = (
            min(max(tau_adv - 0.01 * sign(e_adv / e_nat - 1), 1.0), 10.0),
            min(max(tau_nat - 0.01 * sign(e_nat / e_adv - 1), 1.0), 10.0),
        )
        assert eb.update([t_adv, t_nat]) == pytest.approx([tau_adv, tau_nat], abs=1e-9)


def test_ebb_n_teachers_move_towards_mean_entropy():
    mid = torch.tensor([[1.0, 0.0]])
    eb = EntropyBalance(n_teachers=3, lr=0.1, t_min=0.5, t_max=2.0)
    energies = [neg_entropy(t[0].tolist(), 1.0) for t in (UNIFORM, SHARP, mid)]
    mean = sum(energies) / 3
    expected = [1.0 - 0.1 * sign(e / mean - 1) for e in energies]
    assert eb.update([UNIFORM, SHARP, mid]) == pytest.approx(expected)
    assert expected[0] < 1.0 < expected[1]  # uniform sharpened, sharp softened
    assert eb.entropies.tolist() == pytest.approx(energies, rel=1e-9)


def test_ebb_uses_its_temperatures_for_the_entropy():
    # After softening, the sharp teacher's entropy is measured at tau = 1.5, not 1.
    eb = EntropyBalance(n_teachers=2, lr=0.5, t_min=1.0, t_max=10.0)
    eb.update([UNIFORM, SHARP])
    assert eb.temperatures == [1.0, 1.5]
    eb.update([UNIFORM, SHARP])
    assert eb.entropies[1].item() == pytest.approx(neg_entropy([4.0, 0.0], 1.5), rel=1e-9)


def test_nlb_first_step_reference_and_trajectory():
    nb = NormalizedLossBalance(n_teachers=2, lr=0.025)
    assert nb.update([2.0, 1.0]) == pytest.approx([0.5, 0.5])  # r = (1, 1): target 1/2 each
    assert nb.reference_losses == [2.0, 1.0]
    w = [0.5, 0.5]
    for losses in ([1.0, 1.0], [0.5, 2.0], [torch.tensor(4.0), torch.tensor(0.25)]):
        r = [float(losses[0]) / 2.0, float(losses[1]) / 1.0]
        target = [v / sum(r) for v in r]
        w = [wk - 0.025 * (wk - tk) for wk, tk in zip(w, target)]
        assert nb.update(losses) == pytest.approx(w, abs=1e-12)
    assert nb.reference_losses == [2.0, 1.0]  # never reset
    assert sum(nb.weights) == pytest.approx(1.0)


def test_nlb_clips_negative_weights_and_renormalises():
    nb = NormalizedLossBalance(n_teachers=2, lr=1.5)
    nb.update([1.0, 1.0])
    # r = (0.1, 1), target = (1/11, 10/11); raw w = 0.5 - 1.5 * (0.5 - target) = (-0.1136, 1.1136) -> (0, 1)
    assert nb.update([0.1, 1.0]) == pytest.approx([0.0, 1.0])


def test_mtard_rule_has_no_clip_and_uses_beta():
    rb = RelativeLossBalance(n_teachers=2, lr=1.5, beta=1.0)
    rb.update([1.0, 1.0])
    assert rb.update([0.1, 1.0]) == pytest.approx([0.5 - 1.5 * (0.5 - 1 / 11), 0.5 - 1.5 * (0.5 - 10 / 11)])
    rb2 = RelativeLossBalance(n_teachers=2, lr=0.1, beta=2.0)
    rb2.update([1.0, 1.0])
    target = [0.25 / 1.25, 1 / 1.25]  # r = (0.5, 1), r^2 = (0.25, 1)
    assert rb2.update([0.5, 1.0]) == pytest.approx([0.5 - 0.1 * (0.5 - target[0]), 0.5 - 0.1 * (0.5 - target[1])])


def test_nlb_three_teachers_shares():
    nb = NormalizedLossBalance(n_teachers=3, lr=0.5)
    nb.update([1.0, 1.0, 1.0])
    third = 1 / 3
    assert nb.update([1.0, 2.0, 3.0]) == pytest.approx([third - 0.5 * (third - k / 6) for k in (1, 2, 3)])


def test_state_dict_resumes_exactly():
    gen = torch.Generator().manual_seed(1)
    seq = [[torch.randn(4, 3, generator=gen) for _ in range(2)] for _ in range(8)]
    losses = [[float(v) for v in torch.rand(2, generator=gen) + 0.1] for _ in range(8)]
    eb, nb = EntropyBalance(2, lr=0.05), NormalizedLossBalance(2, lr=0.2)
    for i in range(4):
        eb.update(seq[i])
        nb.update(losses[i])
    eb2, nb2 = EntropyBalance(2), NormalizedLossBalance(2)
    eb2.load_state_dict(eb.state_dict())
    nb2.load_state_dict(nb.state_dict())
    for i in range(4, 8):
        assert eb2.update(seq[i]) == eb.update(seq[i])
        assert nb2.update(losses[i]) == nb.update(losses[i])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_teachers=0), "n_teachers"),
        (dict(t_min=2.0, t_max=1.0), "t_min"),
        (dict(init=0.5), "init"),
        (dict(lr=-1.0), "lr"),
    ],
)
def test_entropy_balance_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EntropyBalance(**kwargs)


def test_balancers_reject_wrong_counts_and_bad_reference():
    with pytest.raises(ValueError, match="expected 2 values"):
        EntropyBalance(2).update([UNIFORM])
    with pytest.raises(ValueError, match="expected 2 values"):
        NormalizedLossBalance(2).update([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="first losses"):
        NormalizedLossBalance(2).update([0.0, 1.0])
    with pytest.raises(ValueError, match="sum to 1"):
        NormalizedLossBalance(2, init=[0.7, 0.7])
