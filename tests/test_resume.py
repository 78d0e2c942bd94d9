"""Checkpoint and resume: a run stopped anywhere (exception, Ctrl-C, SIGKILL of a real process) and resumed ends
bit-identical to an uninterrupted one; the same seed gives the same run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from art.data_generators import NumpyDataGenerator

from art_bmtad.trainers.training_checkpoints import checkpoint_paths, read_checkpoint
from tests.conftest import TinyConvNet
from tests.training_runs import STEPS_PER_EPOCH, Stop, stop_at, assert_same_run, digits, fit, make_trainer

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def reference():
    """Uninterrupted runs, without any checkpointing, per method."""
    return {method: fit(*make_trainer(method)) for method in ("bmtard", "ard")}


@pytest.mark.parametrize("method", ["bmtard", "ard"])  # ARD's random start draws from numpy's RNG
def test_resume_after_a_crash_mid_epoch_is_bit_identical(tmp_path, reference, method):
    trainer, scheduler = make_trainer(method)
    trainer.on_step_end = stop_at(STEPS_PER_EPOCH + 3)  # in the middle of epoch 2
    with pytest.raises(Stop):
        fit(trainer, scheduler, checkpoint_dir=tmp_path, checkpoint_every=4)
    assert [p.name for p in checkpoint_paths(tmp_path)] == [f"ckpt-{s:09d}.safetensors" for s in (4, 6, 8)]

    resumed, scheduler = make_trainer(method, seed=123)  # another initialisation: everything comes from the file
    fit(resumed, scheduler, resume=tmp_path)
    assert_same_run(reference[method], resumed)
    assert resumed.history.meta["selected_epoch"] == reference[method].history.meta["selected_epoch"]
    if method == "bmtard":
        for name in ("loss_balance", "entropy_balance"):
            assert getattr(resumed, name).state_dict() == getattr(reference[method], name).state_dict()
        assert resumed.loss_balance.reference_losses == reference[method].loss_balance.reference_losses
    assert scheduler.last_epoch == 3 and resumed.get_classifier().optimizer.param_groups[0]["lr"] == pytest.approx(0.005)


def test_checkpoint_holds_the_full_state(tmp_path):
    trainer, scheduler = make_trainer()
    trainer.on_step_end = stop_at(STEPS_PER_EPOCH + 2)
    with pytest.raises(Stop):
        fit(trainer, scheduler, checkpoint_dir=tmp_path, checkpoint_every=STEPS_PER_EPOCH + 1, keep_last=2)
    tensors, state = read_checkpoint(checkpoint_paths(tmp_path)[-1])
    assert state["loop"] == {**state["loop"], "epoch": 1, "slot": 1, "step": STEPS_PER_EPOCH + 1}
    assert tensors["order"].shape == (192,) and sorted(tensors["order"].tolist()) == list(range(192))
    assert state["parts"]["loss_balance"]["reference_losses"] is not None
    assert len(state["parts"]["entropy_balance"]["temperatures"]) == 2
    assert state["best"]["epoch"] == 1 and any(k.startswith("best/") for k in tensors)
    assert len(state["history"]["epochs"]) == 1 and tensors["history/pending/loss"].shape == (1,)
    assert {"torch", "numpy", "python", "cuda"} <= set(state["rng"][0])
    assert any(k.startswith("optimizer/") for k in tensors)  # momentum buffers
    assert state["scheduler"]["last_epoch"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_resume_after_sigkill_of_a_real_process(tmp_path, reference):
    pause_at = STEPS_PER_EPOCH + 2  # checkpoints after every step; killed while epoch 2 is under way
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.training_runs", str(tmp_path), str(torch.get_num_threads()), str(pause_at)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        for line in worker.stdout:  # the worker waits at that step (before saving it) until it is killed
            if line.strip() == f"step {pause_at}":
                worker.send_signal(signal.SIGKILL)
                break
        worker.wait(timeout=600)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == -signal.SIGKILL
    newest = int(checkpoint_paths(tmp_path)[-1].name[5:14])
    assert newest == pause_at - 1 and STEPS_PER_EPOCH < newest < 2 * STEPS_PER_EPOCH
    resumed, scheduler = make_trainer(seed=123)
    fit(resumed, scheduler, resume=tmp_path)
    assert_same_run(reference["bmtard"], resumed)


def test_resume_true_starts_afresh_then_continues(tmp_path, reference):
    trainer, scheduler = make_trainer()
    trainer.on_step_end = stop_at(5)
    with pytest.raises(Stop):
        fit(trainer, scheduler, checkpoint_dir=tmp_path, checkpoint_every=2, resume=True)  # empty: a fresh run
    resumed, scheduler = make_trainer(seed=9)
    fit(resumed, scheduler, checkpoint_dir=tmp_path, checkpoint_every=2, resume=True)
    assert_same_run(reference["bmtard"], resumed)
    assert len(checkpoint_paths(tmp_path)) == 3  # keep_last


def test_fit_generator_resumes_mid_epoch(tmp_path):
    x, y, _ = digits()

    def run(**kwargs):
        torch.manual_seed(0)
        trainer = make_trainer(seed=0)[0]
        trainer.select_by = None
        torch.manual_seed(1)
        trainer.fit_generator(NumpyDataGenerator(x, y, batch_size=64, shuffle=False), nb_epochs=2, **kwargs)
        return trainer

    uninterrupted = run()
    stopped = make_trainer()[0]
    with pytest.raises(Stop):
        stopped.select_by = None
        stopped.on_step_end = stop_at(4)
        torch.manual_seed(1)
        stopped.fit_generator(NumpyDataGenerator(x, y, batch_size=64, shuffle=False), nb_epochs=2,
                              checkpoint_dir=tmp_path, checkpoint_every=2)
    resumed = run(resume=tmp_path)
    assert_same_run(uninterrupted, resumed)


def test_same_seed_same_run_on_cpu():
    first, second = fit(*make_trainer()), fit(*make_trainer())
    assert_same_run(first, second)
    assert first.history.epochs[-1]["val_pgd_acc"] == second.history.epochs[-1]["val_pgd_acc"]


def test_deterministic_kernels_option_gives_the_same_run():
    previous = torch.are_deterministic_algorithms_enabled()
    try:
        runs = [fit(*make_trainer(deterministic=True)) for _ in range(2)]
        assert torch.are_deterministic_algorithms_enabled()
        assert_same_run(*runs)
    finally:
        torch.use_deterministic_algorithms(previous)


def test_checkpoint_arguments_are_checked(tmp_path):
    trainer, scheduler = make_trainer()
    with pytest.raises(ValueError, match="checkpoint_every needs checkpoint_dir"):
        fit(trainer, scheduler, checkpoint_every=3)
    with pytest.raises(ValueError, match="keep_last"):
        fit(trainer, scheduler, checkpoint_dir=tmp_path, keep_last=0)
    with pytest.raises(FileNotFoundError, match="no checkpoint folder or file"):
        fit(trainer, scheduler, resume=tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no training checkpoint"):
        fit(trainer, scheduler, resume=tmp_path)
    with pytest.raises(ValueError, match="resume=True"):
        fit(trainer, scheduler, resume=True)
    assert trainer.history.epochs == []


def test_resume_refuses_other_data_or_batch_size(tmp_path):
    trainer, scheduler = make_trainer()
    trainer.on_step_end = stop_at(3)
    with pytest.raises(Stop):
        fit(trainer, scheduler, checkpoint_dir=tmp_path, checkpoint_every=2)
    x, y, validation = digits()
    other, scheduler = make_trainer()
    before = {k: v.clone() for k, v in other.get_classifier().model.state_dict().items()}
    common = dict(validation_data=validation, nb_epochs=3, resume=tmp_path)
    with pytest.raises(ValueError, match="batch_size was 32, now 64"):
        other.fit(x, y, batch_size=64, scheduler=scheduler, **common)
    with pytest.raises(ValueError, match="n_samples was 192, now 96"):
        other.fit(x[:96], y[:96], batch_size=32, scheduler=scheduler, **common)
    with pytest.raises(ValueError, match="had a scheduler"):
        other.fit(x, y, batch_size=32, **common)
    with pytest.raises(ValueError, match="'bmtard' run"):
        make_trainer("ard")[0].fit(x, y, batch_size=32, **common)
    for key, value in other.get_classifier().model.state_dict().items():
        assert torch.equal(value, before[key]), key  # a refused checkpoint changes nothing
    assert len(checkpoint_paths(tmp_path)) == 1  # and nothing was written


def test_rank_zero_only_helpers_are_single_process_noops():
    from art_bmtad.utils import distributed

    assert not distributed.is_distributed() and distributed.world_size() == 1 and distributed.is_main_process()
    t = torch.tensor([1.0, 2.0])
    assert distributed.mean_across_ranks(t) is t and distributed.init_from_env() is None
    assert torch.equal(distributed.shard_of(torch.arange(6)), torch.arange(6))
    order = distributed.epoch_order(10, seed=3, epoch=1)
    assert torch.equal(order, distributed.epoch_order(10, seed=3, epoch=1))
    assert not torch.equal(order, distributed.epoch_order(10, seed=3, epoch=2))
    net = TinyConvNet()
    assert distributed.wrap_for_training(net, torch.device("cpu")) is net


def test_checkpoints_record_the_run_they_belong_to(tmp_path):
    """What `train --resume` compares: the recipe and data digest recorded in every checkpoint's header."""
    from art_bmtad.trainers.training_checkpoints import differing_keys, read_run_record, recording

    trainer, scheduler = make_trainer()
    trainer.on_step_end = stop_at(3)
    record = {"recipe": {"seed": 0, "schedule": {"epochs": 2, "milestones": [1]}}, "data": "d" * 64}
    with recording(record), pytest.raises(Stop):
        fit(trainer, scheduler, checkpoint_dir=tmp_path / "recorded", checkpoint_every=1)
    assert read_run_record(tmp_path / "recorded") == record
    unrecorded, scheduler = make_trainer()
    unrecorded.on_step_end = stop_at(3)
    with pytest.raises(Stop):
        fit(unrecorded, scheduler, checkpoint_dir=tmp_path / "plain", checkpoint_every=1)
    assert read_run_record(tmp_path / "plain") is None
    resumed = {"recipe": {"seed": 1, "schedule": {"epochs": 3, "milestones": (1,)}, "threads": 2}, "data": "d" * 64}
    assert differing_keys(record, resumed) == ["recipe.schedule.epochs", "recipe.seed", "recipe.threads"]
