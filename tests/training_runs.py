"""Small, fully seeded training runs shared by the resume, hostile-input and distributed tests.

Run as ``python -m tests.training_runs FOLDER THREADS PAUSE_AT`` it trains with a checkpoint after every step,
prints ``step N`` after each one and stops at step ``PAUSE_AT`` (before saving it) until it is killed, so that a test
can SIGKILL it at a known point in the middle of an epoch, however slowly the machine runs.
"""
from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

from art_bmtad import AdversarialTrainerARDPyTorch, AdversarialTrainerBMTARDPyTorch
from art_bmtad.trainers.base import DistillationTrainer
from tests.conftest import TinyConvNet, make_classifier

N_TRAIN, BATCH, EPOCHS = 192, 32, 3  # 6 steps per epoch, 18 in all
STEPS_PER_EPOCH = N_TRAIN // BATCH


def digits() -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Training inputs and labels, and a small validation split."""
    data = load_digits()
    x, y = (data.images / 16.0).astype(np.float32)[:, None], data.target.astype(np.int64)
    return x[:N_TRAIN], y[:N_TRAIN], (x[1600:1680], y[1600:1680])


def make_trainer(method: str = "bmtard", seed: int = 0, width: int = 8, **kwargs: Any) -> tuple[DistillationTrainer, Any]:
    """A trainer with a step LR schedule and model selection; teachers fixed, student initialised from ``seed``."""
    torch.manual_seed(100)
    robust, clean = TinyConvNet(), TinyConvNet()
    torch.manual_seed(seed)
    student = make_classifier(TinyConvNet(width), lr=0.05)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(student.optimizer, milestones=[2], gamma=0.1)
    common = dict(eps=0.1, eps_step=0.05, max_iter=2, select_by="sum", verbose=False, **kwargs)
    if method == "ard":
        trainer = AdversarialTrainerARDPyTorch(student, robust_teacher=robust, alpha=0.5, **common)
    else:
        trainer = AdversarialTrainerBMTARDPyTorch(student, robust_teacher=robust, clean_teacher=clean,
                                                  temperature_lr=0.05, **common)
    return trainer, scheduler


def fit(trainer: DistillationTrainer, scheduler: Any, **kwargs: Any) -> DistillationTrainer:
    """Fit on the shared data (seeding the global RNGs first, as a user script would)."""
    x, y, validation = digits()
    torch.manual_seed(7)
    np.random.seed(7)
    trainer.fit(x, y, validation_data=validation, batch_size=BATCH, nb_epochs=EPOCHS, scheduler=scheduler, **kwargs)
    return trainer


def comparable_history(trainer: DistillationTrainer) -> dict[str, Any]:
    """The history without wall-clock times (the only thing two identical runs may differ in)."""
    data = trainer.history.to_dict()
    data["epochs"] = [{k: v for k, v in e.items() if k != "time_s"} for e in data["epochs"]]
    return data


def assert_same_run(a: DistillationTrainer, b: DistillationTrainer) -> None:
    """Bit-identical student weights and identical history."""
    state_a, state_b = a.get_classifier().model.state_dict(), b.get_classifier().model.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    assert comparable_history(a) == comparable_history(b)


def _main(folder: str, threads: int, pause_at: int) -> None:
    torch.set_num_threads(threads)
    trainer, scheduler = make_trainer()

    def report(epoch: int, step: int) -> None:
        print(f"step {step}", flush=True)
        while step == pause_at:  # until SIGKILL
            time.sleep(1)

    trainer.on_step_end = report
    fit(trainer, scheduler, checkpoint_dir=folder, checkpoint_every=1)
    print("done", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))


class Stop(Exception):
    """Stands for a crash."""


def stop_at(step_to_stop: int, exception: type[BaseException] = Stop):
    """An ``on_step_end`` hook that raises ``exception`` after step ``step_to_stop``."""

    def hook(epoch: int, step: int) -> None:
        if step == step_to_stop:
            raise exception()

    return hook
