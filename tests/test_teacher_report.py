"""Teacher strength: the report's numbers on models with known answers, the weak-teacher warning, t_min < 1."""
import math
import warnings

import numpy as np
import pytest
import torch

from art_bmtad import AdversarialTrainerBMTARDPyTorch, Teacher
from art_bmtad.trainers.teacher_report import TeacherMonitor, WeakTeacherWarning, teacher_report
from tests.conftest import TinyConvNet, make_classifier


class Constant(torch.nn.Module):
    """Always the same logits: class 0 with logit 2, the others 0."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        logits = torch.zeros(len(x), 10, device=x.device)
        logits[:, 0] = 2.0
        return logits * self.scale + 0 * x.flatten(1).sum(1, keepdim=True)


class LabelLookup(torch.nn.Module):
    """Copies the label of the training image it is given, found by its exact pixels (tiny data only)."""

    def __init__(self, x, y):
        super().__init__()
        self.register_buffer("keys", torch.from_numpy(x).flatten(1))
        self.register_buffer("labels", torch.from_numpy(y))

    def forward(self, x):
        nearest = torch.cdist(x.flatten(1), self.keys).argmin(1)
        return 5.0 * torch.nn.functional.one_hot(self.labels[nearest], 10).float()


def test_report_numbers_on_known_models(digits):
    x, y = digits[0][:200], digits[1][:200]
    student = make_classifier(TinyConvNet())
    teachers = [Teacher(Constant(), "adv", "constant"), Teacher(LabelLookup(x, y), "nat", "lookup")]
    rows = teacher_report(teachers, student, torch.from_numpy(x), torch.from_numpy(y), eps=0.1, eps_step=0.025,
                          max_iter=5)
    constant, lookup = rows
    share_of_zero = float((y == 0).mean())
    assert constant.clean_acc == pytest.approx(share_of_zero)
    assert constant.pgd_acc == pytest.approx(share_of_zero)  # no attack can move a constant model
    p0 = math.exp(2) / (math.exp(2) + 9)
    q = 1 / (math.exp(2) + 9)
    assert constant.mean_entropy == pytest.approx(-(p0 * math.log(p0) + 9 * q * math.log(q)), rel=1e-5)
    assert lookup.clean_acc == 1.0 and lookup.pgd_acc is None and not lookup.robust  # clean teachers: no attack
    p = math.exp(5) / (math.exp(5) + 9)
    assert lookup.mean_entropy == pytest.approx(-(p * math.log(p) + 9 * (1 - p) / 9 * math.log((1 - p) / 9)),
                                                rel=1e-3)
    assert constant.to_dict()["n_examples"] == 200


def test_robust_teacher_on_clean_batch_is_still_attacked(digits):
    x, y = digits[0][:64], digits[1][:64]
    rows = teacher_report([Teacher(make_classifier(TinyConvNet()), "nat", "rslad_teacher", robust=True)],
                          make_classifier(TinyConvNet()), torch.from_numpy(x), torch.from_numpy(y),
                          eps=0.3, eps_step=0.1, max_iter=5)
    assert rows[0].pgd_acc is not None and rows[0].pgd_acc <= rows[0].clean_acc


def _epoch(student_acc, teacher_acc):
    return {"epoch": 3, "diag/student_adv_acc": student_acc, "diag/robust_acc": teacher_acc, "diag/clean_acc": 0.9}


def test_monitor_records_agreement_from_existing_logits():
    teachers = [Teacher(Constant(), "adv", "robust"), Teacher(Constant(), "nat", "clean")]
    y = torch.tensor([0, 1, 2, 0])
    z_adv = torch.nn.functional.one_hot(torch.tensor([0, 1, 0, 1]), 10).float()
    t = torch.nn.functional.one_hot(torch.tensor([0, 0, 0, 0]), 10).float()
    values = TeacherMonitor(teachers).record(y, z_adv, [t, t])
    assert values["diag/student_adv_acc"].item() == 0.5
    assert values["diag/robust_acc"].item() == 0.5 and values["diag/clean_acc"].item() == 0.5


def test_weak_teacher_warning_fires_and_names_the_numbers():
    monitor = TeacherMonitor([Teacher(Constant(), "adv", "robust"), Teacher(Constant(), "nat", "clean")])
    with pytest.warns(WeakTeacherWarning, match="robust teacher 'robust' was right on 10.0%.*student on 35.0%"):
        messages = monitor.check_epoch(_epoch(0.35, 0.10))
    assert len(messages) == 1  # the clean teacher is never compared


def test_weak_teacher_warning_silent_for_a_stronger_teacher():
    monitor = TeacherMonitor([Teacher(Constant(), "adv", "robust"), Teacher(Constant(), "nat", "clean")])
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeakTeacherWarning)
        assert monitor.check_epoch(_epoch(0.35, 0.60)) == []


def test_t_min_below_one_reaches_the_balancer_and_sharpens(digits, seeded):
    x, y = digits
    uniform = Constant()
    uniform.scale.data.zero_()  # all-zero logits: the highest entropy there is
    trainer = AdversarialTrainerBMTARDPyTorch(make_classifier(TinyConvNet()), robust_teacher=uniform,
                                              clean_teacher=TinyConvNet(), t_min=0.5, temperature_lr=0.01,
                                              verbose=False)
    assert trainer.entropy_balance.t_min == 0.5
    trainer.fit(x[:256], y[:256], batch_size=64, nb_epochs=1)
    assert trainer.history.steps["temperature/robust"][-1] == pytest.approx(1.0 - 0.01 * 3)
    assert np.all(np.diff(trainer.history.steps["temperature/robust"]) < 0)


def test_trainer_reports_teachers_before_training_and_warns_for_a_random_one(digits, seeded):
    x, y = digits
    plain = make_classifier(TinyConvNet(width=16))
    plain.fit(x[:1200], y[:1200], batch_size=64, nb_epochs=3, verbose=False)  # a decent student to start from
    trainer = AdversarialTrainerBMTARDPyTorch(plain, robust_teacher=Constant(), clean_teacher=TinyConvNet(),
                                              eps=0.05, eps_step=0.025, max_iter=2, teacher_report_size=100,
                                              verbose=False)
    with pytest.warns(WeakTeacherWarning, match="robust teacher 'robust'"):
        trainer.fit(x[:256], y[:256], validation_data=(x[1500:], y[1500:]), batch_size=64, nb_epochs=1)
    report = {row["name"]: row for row in trainer.history.meta["teacher_report"]}
    share_of_zero = float((y[1500:1600] == 0).mean())
    assert report["robust"]["clean_acc"] == pytest.approx(share_of_zero) and report["robust"]["n_examples"] == 100
    assert report["clean"]["pgd_acc"] is None
    epoch = trainer.history.epochs[-1]
    assert epoch["diag/robust_acc"] < epoch["diag/student_adv_acc"]
    assert len(trainer.history.steps["diag/clean_acc"]) == 4


def test_no_warning_for_a_teacher_better_than_the_student(digits, seeded):
    x, y = digits
    lookup = LabelLookup(x, y)  # exact labels on clean inputs; adversarial ones move it only slightly at eps 0.01
    trainer = AdversarialTrainerBMTARDPyTorch(make_classifier(TinyConvNet()), robust_teacher=lookup,
                                              clean_teacher=TinyConvNet(), eps=0.01, eps_step=0.005, max_iter=2,
                                              teacher_report_size=0, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeakTeacherWarning)
        trainer.fit(x[:256], y[:256], validation_data=(x[1500:], y[1500:]), batch_size=64, nb_epochs=1)
    assert "teacher_report" not in trainer.history.meta
    assert trainer.history.epochs[-1]["diag/robust_acc"] > 0.9
