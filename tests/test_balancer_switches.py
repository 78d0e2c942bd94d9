"""B-MTARD's two balancers switched off one at a time: without Normalization Loss Balance the loss weights stay at
0.5 / 0.5 while Entropy-Based Balance moves the temperatures; without EBB the temperatures stay at ``t_init`` while
NLB moves the weights. Both on is B-MTARD (its step is checked by hand in test_trainers.py)."""
from __future__ import annotations

import pytest
import torch

from art_bmtad import AdversarialTrainerBMTARDPyTorch
from art_bmtad.recipes.recipe import load_recipe, resolve_options
from art_bmtad.utils.errors import ConfigError
from tests.conftest import make_classifier

STEPS = 16  # 2 epochs of 8 batches of 16 digits
pytestmark = pytest.mark.usefixtures("one_thread")


def linear(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))


def train(digits, **options) -> AdversarialTrainerBMTARDPyTorch:
    """B-MTARD on 128 digits for 16 steps with fast balancer rates (eta_tau 0.05, eta_w 0.2), so both rules have
    room to act; untrained linear teachers of different seeds have different entropies."""
    x, y = digits[0][:128], digits[1][:128]
    robust = make_classifier(linear(1))
    clean = make_classifier(torch.nn.Sequential(linear(2), torch.nn.Hardtanh(-0.1, 0.1)))  # a flat, high-entropy one
    trainer = AdversarialTrainerBMTARDPyTorch(make_classifier(linear(0), lr=0.1), robust_teacher=robust,
                                              clean_teacher=clean, eps=0.1, eps_step=0.05, max_iter=2,
                                              temperature_lr=0.05, weight_lr=0.2, verbose=False, **options)
    trainer.fit(x, y, batch_size=16, nb_epochs=2)
    return trainer


def series(trainer: AdversarialTrainerBMTARDPyTorch, prefix: str) -> dict[str, list[float]]:
    steps = trainer.history.steps
    found = {key: values for key, values in steps.items() if key.startswith(prefix)}
    assert len(found) == 2 and all(len(values) == STEPS for values in found.values())
    return found


def test_both_on_moves_temperatures_and_weights(digits):
    trainer = train(digits)
    temperatures, weights = series(trainer, "temperature/"), series(trainer, "weight/")
    assert max(abs(values[-1] - 1.0) for values in temperatures.values()) >= 0.05 - 1e-12
    assert max(abs(w - 0.5) for values in weights.values() for w in values) > 1e-3
    assert trainer.history.meta["entropy_balance"] is True and trainer.history.meta["loss_balance"] is True


def test_without_nlb_the_weights_stay_at_one_half_and_the_temperatures_move(digits):
    trainer = train(digits, loss_balance=False)
    for values in series(trainer, "weight/").values():
        assert values == [0.5] * STEPS  # exactly: NLB's update is off
    temperatures = series(trainer, "temperature/")
    # EBB softens the sharp robust teacher by eta_tau = 0.05 every step and would sharpen the flat clean one, which
    # t_min = 1 holds (each step records the temperature it used, before the update).
    assert temperatures["temperature/robust"] == pytest.approx([1.0 + 0.05 * step for step in range(STEPS)])
    assert temperatures["temperature/clean"] == [1.0] * STEPS
    assert trainer.history.meta["loss_balance"] is False
    assert trainer.loss_balance.weights == [0.5, 0.5]


def test_without_ebb_the_temperatures_stay_at_t_init_and_the_weights_move(digits):
    trainer = train(digits, entropy_balance=False, t_init=1.5)
    for values in series(trainer, "temperature/").values():
        assert values == [1.5] * STEPS  # exactly: EBB's update is off
    weights = series(trainer, "weight/")
    assert max(abs(w - 0.5) for values in weights.values() for w in values) > 1e-3
    for step in range(STEPS):
        assert sum(values[step] for values in weights.values()) == pytest.approx(1.0)
    assert trainer.history.meta["entropy_balance"] is False


def test_the_switches_are_recipe_keys_of_bmtard_only():
    recipe = load_recipe("smoke", None, ["balancing.entropy_balance=false"])
    assert recipe.balancing.entropy_balance is False and recipe.balancing.loss_balance is True
    options = resolve_options("bmtard", recipe)
    assert options["entropy_balance"] is False and options["loss_balance"] is True
    assert "entropy_balance" not in resolve_options("mtard", recipe)  # MTARD has no EBB to switch
    per_defence = load_recipe("smoke", None, ["defence_options.bmtard.loss_balance=false"])
    assert resolve_options("bmtard", per_defence)["loss_balance"] is False
    with pytest.raises(ConfigError, match="balancing.loss_balance: expected true or false, got 'sometimes'"):
        load_recipe("smoke", None, ["balancing.loss_balance=sometimes"])
