"""The distillation trainers: one step against a hand computation, the spec's ordering, roles and modes,
schedulers, history, model selection, bad input."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from art.attacks.evasion import FastGradientMethod
from art.data_generators import NumpyDataGenerator

from art_bmtad import (
    AdversarialTrainerARDPyTorch,
    AdversarialTrainerBMTARDPyTorch,
    AdversarialTrainerMTARDPyTorch,
    AdversarialTrainerRSLADPyTorch,
    Teacher,
)
from tests.conftest import TinyConvNet, make_classifier


def linear(seed: int, n_classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, n_classes))


def kl_by_hand(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return (p * (torch.log(p + 1e-5) - torch.log_softmax(z, dim=1))).mean()


def record_forwards(module: torch.nn.Module, log: list) -> None:
    module.register_forward_pre_hook(lambda m, args: log.append((m.training, args[0].detach().clone())))


# ----------------------------------------------------------------------------- one step by hand
def test_one_bmtard_step_matches_hand_computation(digits):
    x, y = digits[0][:16], digits[1][:16]
    student_net, robust_net, clean_net = linear(0), linear(1), linear(2)
    start = {k: v.clone() for k, v in student_net.state_dict().items()}
    student = make_classifier(student_net, lr=0.1, momentum=0.0, preprocessing=(0.5, 0.25))
    clean = make_classifier(clean_net, preprocessing=(0.3, 0.5))  # a teacher with its own preprocessing
    attack = FastGradientMethod(student, eps=0.1)
    trainer = AdversarialTrainerBMTARDPyTorch(student, robust_teacher=robust_net, clean_teacher=clean, attack=attack,
                                              verbose=False)
    trainer.fit(x, y, batch_size=16, nb_epochs=1)

    reference = linear(0)
    reference.load_state_dict(start)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    xg = xt.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(reference((xg - 0.5) / 0.25), yt).backward()
    x_adv = (xt + 0.1 * xg.grad.sign()).clamp(0, 1)
    reference.zero_grad()
    with torch.no_grad():
        t_adv, t_nat = robust_net(x_adv), clean_net((xt - 0.3) / 0.5)
    p_adv, p_nat = torch.softmax(t_adv, 1), torch.softmax(t_nat, 1)
    loss_adv = kl_by_hand(p_adv, reference((x_adv - 0.5) / 0.25))
    loss_nat = kl_by_hand(p_nat, reference((xt - 0.5) / 0.25))
    (0.5 * loss_adv + 0.5 * loss_nat).backward()  # first step: r = (1, 1), so w stays (0.5, 0.5)
    with torch.no_grad():
        for p in reference.parameters():
            p -= 0.1 * p.grad

    for name, value in reference.state_dict().items():
        assert torch.allclose(student_net.state_dict()[name], value, atol=1e-6), name
    steps = trainer.history.steps
    assert steps["loss/robust"][0] == pytest.approx(loss_adv.item(), rel=1e-5)
    assert steps["loss/clean"][0] == pytest.approx(loss_nat.item(), rel=1e-5)
    assert steps["weight/robust"] == [0.5] and steps["weight/clean"] == [0.5]
    assert steps["temperature/robust"] == [1.0] and steps["temperature/clean"] == [1.0]  # old ones used
    e = [(p * torch.log(p + 1e-5)).mean().item() for p in (p_adv, p_nat)]
    sign = math.copysign(1.0, e[0] / e[1] - 1)
    expected = [max(1.0, 1.0 - 0.001 * sign), max(1.0, 1.0 + 0.001 * sign)]  # applied from the next step
    assert trainer.entropy_balance.temperatures == pytest.approx(expected)


def test_step_order_modes_and_teacher_inputs(digits):
    x, y = digits[0][:32], digits[1][:32]
    student_net, robust_net, clean_net = TinyConvNet(), TinyConvNet(), TinyConvNet()
    trainer = AdversarialTrainerBMTARDPyTorch(make_classifier(student_net), robust_teacher=robust_net,
                                              clean_teacher=clean_net, max_iter=3, eps=0.1, eps_step=0.05,
                                              verbose=False)
    student_log, robust_log, clean_log = [], [], []
    record_forwards(student_net, student_log)
    record_forwards(robust_net, robust_log)
    record_forwards(clean_net, clean_log)
    trainer.fit(x, y, batch_size=32, nb_epochs=1)

    assert [training for training, _ in student_log] == [False, False, False, True, True]
    x_adv, x_nat = student_log[3][1], student_log[4][1]
    assert 0 < (x_adv - x_nat).abs().max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert torch.equal(robust_log[-1][1], x_adv) and torch.equal(clean_log[-1][1], x_nat)
    assert not robust_log[-1][0] and not clean_log[-1][0]  # teachers in eval mode


def test_ard_attacks_in_train_mode_from_a_random_start(digits):
    x, y = digits[0][:32], digits[1][:32]
    student_net = TinyConvNet()
    trainer = AdversarialTrainerARDPyTorch(make_classifier(student_net), robust_teacher=TinyConvNet(), max_iter=2,
                                           eps=0.1, eps_step=0.05, verbose=False)
    log = []
    record_forwards(student_net, log)
    trainer.fit(x, y, batch_size=32, nb_epochs=1)
    assert [training for training, _ in log] == [True] * 4


def test_teachers_are_never_modified(digits, seeded):
    x, y = digits
    robust_net, clean_net = TinyConvNet(), TinyConvNet()
    robust_net.train()
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in (robust_net, clean_net)]
    student_net = TinyConvNet()
    student_before = {k: v.clone() for k, v in student_net.state_dict().items()}
    trainer = AdversarialTrainerBMTARDPyTorch(make_classifier(student_net), robust_teacher=robust_net,
                                              clean_teacher=make_classifier(clean_net), verbose=False)
    trainer.fit(x[:256], y[:256], batch_size=64, nb_epochs=1)
    for model, state in zip((robust_net, clean_net), before):
        assert not model.training
        for name, value in model.state_dict().items():
            assert torch.equal(value, state[name]), name  # BatchNorm running statistics included
        assert all(p.grad is None for p in model.parameters())
    assert not torch.equal(student_net.state_dict()["head.weight"], student_before["head.weight"])


# ----------------------------------------------------------------------------- N teachers, balancers in the loop
def test_three_teachers_are_balanced_together(digits, seeded):
    x, y = digits
    teachers = [Teacher(TinyConvNet(), "adv", "rob_a"), Teacher(TinyConvNet(), "nat", "clean"),
                Teacher(TinyConvNet(), "adv", "rob_b")]
    trainer = AdversarialTrainerBMTARDPyTorch(make_classifier(TinyConvNet()), teachers=teachers,
                                              temperature_lr=0.05, verbose=False)
    trainer.fit(x[:256], y[:256], batch_size=64, nb_epochs=1)
    steps = trainer.history.steps
    assert len(trainer.entropy_balance.temperatures) == 3 and len(trainer.loss_balance.weights) == 3
    for i in range(4):
        assert sum(steps[f"weight/{n}"][i] for n in ("rob_a", "clean", "rob_b")) == pytest.approx(1.0)
    assert steps["temperature/rob_a"][0] == 1.0 and steps["temperature/rob_a"][1] != 1.0 or \
        steps["temperature/clean"][1] != 1.0 or steps["temperature/rob_b"][1] != 1.0


def test_mtard_keeps_temperatures_at_one_and_weights_sum_to_one(digits, seeded):
    x, y = digits
    trainer = AdversarialTrainerMTARDPyTorch(make_classifier(TinyConvNet()), robust_teacher=TinyConvNet(),
                                             clean_teacher=TinyConvNet(), weight_lr=0.2, verbose=False)
    trainer.fit(x[:256], y[:256], batch_size=64, nb_epochs=1)
    steps = trainer.history.steps
    assert set(steps["temperature/robust"]) == {1.0} and set(steps["temperature/clean"]) == {1.0}
    assert "entropy/robust" not in steps
    total = np.add(steps["weight/robust"], steps["weight/clean"])
    assert np.allclose(total, 1.0) and steps["weight/robust"][1] != 0.5


@pytest.mark.parametrize("decay, factor", [(True, 0.1), (False, 1.0)])
def test_balancer_rates_follow_lr_milestones(digits, seeded, decay, factor):
    x, y = digits
    student = make_classifier(TinyConvNet())
    scheduler = torch.optim.lr_scheduler.MultiStepLR(student.optimizer, milestones=[1], gamma=0.1)
    trainer = AdversarialTrainerBMTARDPyTorch(student, robust_teacher=TinyConvNet(), clean_teacher=TinyConvNet(),
                                              decay_balancers_with_lr=decay, verbose=False)
    trainer.fit(x[:128], y[:128], batch_size=64, nb_epochs=2, scheduler=scheduler)
    assert [e["lr"] for e in trainer.history.epochs] == pytest.approx([0.05, 0.005])  # lr during each epoch
    assert trainer.loss_balance.lr == pytest.approx(0.025 * factor)
    assert trainer.entropy_balance.lr == pytest.approx(0.001 * factor)


def test_any_torch_scheduler_per_batch_and_plateau(digits, seeded):
    x, y = digits
    student = make_classifier(TinyConvNet())
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(student.optimizer, max_lr=0.1, total_steps=4)
    trainer = AdversarialTrainerRSLADPyTorch(student, robust_teacher=TinyConvNet(), scheduler_step="batch",
                                             verbose=False)
    trainer.fit(x[:128], y[:128], batch_size=64, nb_epochs=2, scheduler=one_cycle)
    assert one_cycle.last_epoch == 4
    student2 = make_classifier(TinyConvNet())
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(student2.optimizer, patience=0, factor=0.5)
    AdversarialTrainerRSLADPyTorch(student2, robust_teacher=TinyConvNet(), verbose=False).fit(
        x[:128], y[:128], batch_size=64, nb_epochs=3, scheduler=plateau)
    assert plateau.last_epoch == 3


# ----------------------------------------------------------------------------- the relatives' pieces
def test_rslad_loss_and_attack_target_the_teachers_soft_labels(digits):
    x, y = digits[0][:16], digits[1][:16]
    student_net, teacher_net = linear(0), linear(1)
    start = {k: v.clone() for k, v in student_net.state_dict().items()}
    student = make_classifier(student_net)
    trainer = AdversarialTrainerRSLADPyTorch(student, robust_teacher=teacher_net,
                                             attack=FastGradientMethod(student, eps=0.1), verbose=False)
    trainer.fit(x, y, batch_size=16, nb_epochs=1)
    reference = linear(0)
    reference.load_state_dict(start)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        p = torch.softmax(teacher_net(xt), 1)  # the teacher sees the CLEAN batch
    xg = xt.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(reference(xg), p).backward()  # a passed attack also targets soft labels
    x_adv = (xt + 0.1 * xg.grad.sign()).clamp(0, 1)
    with torch.no_grad():
        assert trainer.history.steps["loss/adv"][0] == pytest.approx(kl_by_hand(p, reference(x_adv)).item(), rel=1e-5)
        assert trainer.history.steps["loss/nat"][0] == pytest.approx(kl_by_hand(p, reference(xt)).item(), rel=1e-5)
        loss = trainer.history.steps["loss"][0]
        assert loss == pytest.approx(5 / 6 * trainer.history.steps["loss/adv"][0]
                                     + 1 / 6 * trainer.history.steps["loss/nat"][0], rel=1e-6)

    # The default attack raises the KL to the teacher's soft labels above that of random corners of the ball.
    default = AdversarialTrainerRSLADPyTorch(make_classifier(linear(0)), robust_teacher=teacher_net, verbose=False)
    with torch.no_grad():
        p = torch.softmax(teacher_net(xt), 1)
        x_adv = default._attack(xt, default._attack_labels(None, {0: teacher_net(xt)}))
        x_rand = (xt + 8 / 255 * torch.randn_like(xt).sign()).clamp(0, 1)
        student_model = default.get_classifier().model
        assert kl_by_hand(p, student_model(x_adv)) > 1.1 * kl_by_hand(p, student_model(x_rand))


def test_ard_loss_formula(digits):
    x, y = digits[0][:16], digits[1][:16]
    student_net, teacher_net = linear(0), linear(1)
    trainer = AdversarialTrainerARDPyTorch(make_classifier(student_net), robust_teacher=teacher_net, alpha=0.25,
                                           temperature=2.0, verbose=False)
    trainer.fit(x, y, batch_size=16, nb_epochs=1)
    steps = trainer.history.steps
    assert steps["loss"][0] == pytest.approx(0.25 * steps["loss/distill"][0] + 0.75 * steps["loss/natural_ce"][0])
    assert steps["loss/natural_ce"][0] > 1.0  # untrained student: CE of about log(10)


def test_kl_scale_multiplies_the_kl_terms(digits):
    x, y = digits[0][:16], digits[1][:16]
    losses = []
    for scale in (1.0, 10.0):
        student = make_classifier(linear(0))
        trainer = AdversarialTrainerBMTARDPyTorch(student, robust_teacher=linear(1), clean_teacher=linear(2),
                                                  attack=FastGradientMethod(student, eps=0.1), kl_scale=scale,
                                                  verbose=False)
        trainer.fit(x, y, batch_size=16, nb_epochs=1)
        losses.append(trainer.history.steps["loss/robust"][0])
    assert losses[1] == pytest.approx(10 * losses[0], rel=1e-5)


# ----------------------------------------------------------------------------- data paths, history, selection
def test_one_hot_and_index_labels_train_identically(digits):
    x, y = digits[0][:128], digits[1][:128]
    weights = []
    for labels in (y, np.eye(10, dtype=np.float32)[y]):
        torch.manual_seed(0)
        student_net = TinyConvNet()
        trainer = AdversarialTrainerBMTARDPyTorch(make_classifier(student_net), robust_teacher=linear(1),
                                                  clean_teacher=linear(2), verbose=False)
        torch.manual_seed(1)
        trainer.fit(x, labels, batch_size=64, nb_epochs=1)
        weights.append(student_net.head.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])


def test_fit_generator_with_an_art_data_generator(digits, seeded):
    x, y = digits
    generator = NumpyDataGenerator(x[:256], y[:256], batch_size=64, shuffle=True)
    trainer = AdversarialTrainerMTARDPyTorch(make_classifier(TinyConvNet()), robust_teacher=TinyConvNet(),
                                             clean_teacher=TinyConvNet(), verbose=False)
    trainer.fit_generator(generator, nb_epochs=2, validation_data=(x[1500:], y[1500:]))
    assert len(trainer.history.steps["loss"]) == 8
    assert [e["epoch"] for e in trainer.history.epochs] == [1, 2]
    assert 0.0 <= trainer.history.epochs[-1]["val_pgd_acc"] <= 1.0


def test_history_records_steps_and_epochs_and_writes_json(digits, seeded, tmp_path):
    x, y = digits
    trainer = AdversarialTrainerBMTARDPyTorch(make_classifier(TinyConvNet()), robust_teacher=TinyConvNet(),
                                              clean_teacher=TinyConvNet(), verbose=False)
    trainer.fit(x[:192], y[:192], validation_data=(x[1600:], y[1600:]), batch_size=64, nb_epochs=2)
    history = trainer.history
    for key in ("loss", "loss/robust", "loss/clean", "weight/robust", "weight/clean", "temperature/robust",
                "temperature/clean", "entropy/robust", "entropy/clean"):
        assert len(history.steps[key]) == 6, key
    epoch = history.epochs[-1]
    assert epoch["loss"] == pytest.approx(np.mean(history.steps["loss"][3:]))
    assert {"val_clean_acc", "val_pgd_acc", "time_s", "lr"} <= set(epoch)
    path = history.save_json(tmp_path / "history.json")
    data = json.loads(path.read_text())
    assert data["meta"]["method"] == "bmtard" and data["steps"]["weight/clean"] == history.steps["weight/clean"]
    assert [t["role"] for t in data["meta"]["teachers"]] == ["adv", "nat"]


def test_model_selection_keeps_the_best_validation_epoch(digits, seeded):
    x, y = digits
    student = make_classifier(TinyConvNet(), lr=0.5)  # a large lr makes epochs differ
    trainer = AdversarialTrainerBMTARDPyTorch(student, robust_teacher=TinyConvNet(), clean_teacher=TinyConvNet(),
                                              select_by="clean", verbose=False)
    x_val, y_val = x[1500:], y[1500:]
    trainer.fit(x[:512], y[:512], validation_data=(x_val, y_val), batch_size=64, nb_epochs=4)
    scores = [e["val_clean_acc"] for e in trainer.history.epochs]
    assert trainer.history.meta["selected_epoch"] == int(np.argmax(scores)) + 1
    final = (student.predict(x_val).argmax(1) == y_val).mean()
    assert final == pytest.approx(max(scores), abs=1e-6)


def test_amp_and_channels_last_paths_run_on_cpu(digits, seeded):
    x, y = digits
    student_net = TinyConvNet()
    trainer = AdversarialTrainerBMTARDPyTorch(make_classifier(student_net), robust_teacher=TinyConvNet(),
                                              clean_teacher=TinyConvNet(), amp=True, channels_last=True,
                                              verbose=False)
    trainer.fit(x[:128], y[:128], batch_size=64, nb_epochs=1)
    assert all(math.isfinite(v) for v in trainer.history.steps["loss"])
    assert student_net.features[0].weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.slow
def test_compiled_student_trains_like_the_eager_one_and_keeps_plain_weight_names(digits):
    """``compile_student=True`` (torch.compile, inductor on CPU) changes speed, not results or checkpoints."""
    x, y = digits
    weights = []
    for compiled in (False, True):
        torch.manual_seed(0)
        robust, clean, student_net = TinyConvNet(), TinyConvNet(), TinyConvNet()
        trainer = AdversarialTrainerBMTARDPyTorch(make_classifier(student_net), robust_teacher=robust,
                                                  clean_teacher=clean, compile_student=compiled, verbose=False)
        torch.manual_seed(3)
        trainer.fit(x[:128], y[:128], batch_size=64, nb_epochs=1)
        assert (getattr(trainer._student_forward, "_orig_mod", None) is student_net) == compiled
        weights.append(student_net.state_dict())
    assert weights[0].keys() == weights[1].keys()  # no "_orig_mod." prefixes in what gets saved
    for key, value in weights[0].items():
        assert torch.allclose(value, weights[1][key], atol=1e-5), key


def test_eps_is_measured_in_clip_value_space(digits):
    x, y = digits[0][:32] * 255.0, digits[1][:32]
    student_net = TinyConvNet()
    student = make_classifier(student_net, preprocessing=(0.0, 255.0))
    student.set_params(clip_values=(0.0, 255.0))
    trainer = AdversarialTrainerBMTARDPyTorch(student, robust_teacher=TinyConvNet(), clean_teacher=TinyConvNet(),
                                              eps=8.0, eps_step=2.0, max_iter=3, verbose=False)
    log = []
    record_forwards(student_net, log)
    trainer.fit(x, y, batch_size=32, nb_epochs=1)
    delta = (log[3][1] - log[4][1]) * 255.0  # the student sees x / 255 after its preprocessing
    assert 2.0 < delta.abs().max() <= 8.0 + 1e-3


# ----------------------------------------------------------------------------- bad input, before any step
def _trainer(**kwargs):
    return AdversarialTrainerBMTARDPyTorch(make_classifier(TinyConvNet()), robust_teacher=TinyConvNet(),
                                           clean_teacher=TinyConvNet(), verbose=False, **kwargs)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda x, y: (x[:, :, :4], y), "input_shape"),
        (lambda x, y: (x, y + 5), "outside \\[0, 9\\]"),
        (lambda x, y: (x, y[:-1]), "length"),
        (lambda x, y: (x * 2.0, y), "outside the student's clip_values"),
        (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x), y), "NaN"),
        (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 7, np.inf, x), y), "NaN or Inf"),
        (lambda x, y: (x[:0], y[:0]), "empty"),
        (lambda x, y: (x, np.eye(7)[y % 7]), "columns"),
        (lambda x, y: (x, np.full((len(y), 10), 0.1)), "one-hot"),
        (lambda x, y: (x, y + 0.5), "integers"),
    ],
)
def test_bad_training_data_is_refused_before_any_step(digits, mutate, match):
    x, y = digits[0][:64].copy(), digits[1][:64].copy()
    trainer = _trainer()
    before = {k: v.clone() for k, v in trainer.get_classifier().model.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        trainer.fit(*mutate(x, y), batch_size=32, nb_epochs=1)
    for name, value in trainer.get_classifier().model.state_dict().items():
        assert torch.equal(value, before[name])


def test_bad_validation_data_and_loop_settings(digits):
    x, y = digits[0][:64], digits[1][:64]
    with pytest.raises(ValueError, match="validation x"):
        _trainer().fit(x, y, validation_data=(x, y + 10), nb_epochs=1)
    with pytest.raises(ValueError, match="batch_size"):
        _trainer().fit(x, y, batch_size=0)
    with pytest.raises(ValueError, match="nb_epochs"):
        _trainer().fit(x, y, nb_epochs=1.5)
    with pytest.raises(ValueError, match="needs validation_data"):
        _trainer(select_by="robust").fit(x, y, nb_epochs=1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(eps=0.0), "eps must be"),
        (dict(eps=2.0), "eps must be"),
        (dict(eps=0.1, eps_step=0.2), "eps_step"),
        (dict(max_iter=0), "max_iter"),
        (dict(select_by="best"), "select_by"),
        (dict(scheduler_step="sometimes"), "scheduler_step"),
        (dict(kl_scale=0.0), "kl_scale"),
        (dict(t_min=2.0), "init temperature"),
    ],
)
def test_bad_trainer_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _trainer(**kwargs)


def test_bad_students_and_teachers():
    with pytest.raises(ValueError, match="student has 10 classes"):
        AdversarialTrainerBMTARDPyTorch(make_classifier(TinyConvNet()), robust_teacher=TinyConvNet(n_classes=7),
                                        clean_teacher=TinyConvNet())
    no_optimizer = make_classifier(TinyConvNet())
    no_optimizer._optimizer = None
    with pytest.raises(ValueError, match="optimizer"):
        AdversarialTrainerBMTARDPyTorch(no_optimizer, robust_teacher=TinyConvNet(), clean_teacher=TinyConvNet())
    with pytest.raises(ValueError, match="not both"):
        AdversarialTrainerBMTARDPyTorch(make_classifier(TinyConvNet()), robust_teacher=TinyConvNet(),
                                        teachers=[Teacher(TinyConvNet())])
    with pytest.raises(ValueError, match="role"):
        Teacher(TinyConvNet(), role="clean")
    with pytest.raises(TypeError, match="teacher must be"):
        Teacher("resnet18")
    with pytest.raises(ValueError, match="at least one teacher"):
        AdversarialTrainerBMTARDPyTorch(make_classifier(TinyConvNet()))


# ----------------------------------------------------------------------------- the attack's bare path
@pytest.mark.parametrize("view, random_init", [("student", False), ("train-mode", True), ("sum-loss", False)])
def test_bare_pgd_loop_equals_arts_own_iterations_bit_for_bit(digits, view, random_init):
    """The default attack runs ART's Linf PGD as a bare autograd.grad loop; its output is ART's, to the bit."""
    import art_bmtad.algorithm.adversarial as adversarial
    from art_bmtad.algorithm.adversarial import AdversarialBatch, gradient_view, pgd_linf

    torch.manual_seed(0)
    student = make_classifier(TinyConvNet(), preprocessing=(0.5, 0.25))
    estimator = {"student": student, "train-mode": gradient_view(student, training_mode=True),
                 "sum-loss": gradient_view(student, loss=torch.nn.CrossEntropyLoss(reduction="sum"))}[view]
    attack = AdversarialBatch(pgd_linf(estimator, 0.1, 0.01, 10, random_init=random_init), gaussian_start=0.001)
    x, y = torch.from_numpy(digits[0][:64]), torch.from_numpy(digits[1][:64])
    labels = torch.nn.functional.one_hot(y, 10).float()
    outputs = []
    for bare in (True, False):
        adversarial_bare = adversarial._bare_pgd_applies
        if not bare:
            adversarial._bare_pgd_applies = lambda pgd: False
        try:
            torch.manual_seed(1)
            np.random.seed(1)
            outputs.append(attack(x, labels))
        finally:
            adversarial._bare_pgd_applies = adversarial_bare
    assert adversarial._bare_pgd_applies(attack._pgd)
    assert torch.equal(outputs[0], outputs[1])
    assert (outputs[0] - x).abs().max().item() == pytest.approx(0.1, abs=1e-6)  # the attack did move to the budget


def test_attacks_outside_the_bare_path_run_arts_own_iteration():
    from art.attacks.evasion import ProjectedGradientDescentPyTorch

    from art_bmtad.algorithm.adversarial import _bare_pgd_applies, pgd_linf

    student = make_classifier(TinyConvNet())
    assert _bare_pgd_applies(pgd_linf(student, 0.1, 0.01, 3))
    for options in ({"norm": 2}, {"targeted": True}, {"decay": 0.9}):
        pgd = ProjectedGradientDescentPyTorch(student, **{"eps": 0.1, "eps_step": 0.01, "max_iter": 3, **options})
        assert not _bare_pgd_applies(pgd), options
