"""Hostile input around checkpoints: pickle payloads, truncated and corrupt files, another architecture, an
unwritable folder, a full disk, NaN mid-run and Ctrl-C. Each gets a clear error, and nothing saved before is
lost or overwritten with garbage."""
from __future__ import annotations

import errno
import os
import pickle
import signal
from pathlib import Path

import pytest
import torch

from art_bmtad.run import files as run_files
from art_bmtad.trainers.training_checkpoints import CheckpointError, CheckpointWarning, checkpoint_paths, read_checkpoint
from tests.training_runs import STEPS_PER_EPOCH, Stop, stop_at, assert_same_run, fit, make_trainer


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def assert_kept(before: dict[str, bytes], folder: Path) -> None:
    """Every file of ``before`` is still there, byte for byte, and reads as a good checkpoint."""
    for name, data in before.items():
        assert (folder / name).read_bytes() == data, name
        read_checkpoint(folder / name)


def interrupted_run(folder: Path, at_step: int = STEPS_PER_EPOCH + 3, every: int = 2) -> dict[str, bytes]:
    trainer, scheduler = make_trainer()
    trainer.on_step_end = stop_at(at_step)
    with pytest.raises(Stop):
        fit(trainer, scheduler, checkpoint_dir=folder, checkpoint_every=every)
    return snapshot(folder)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def reference():
    return fit(*make_trainer())


class Payload:
    """Unpickling this creates the marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


# ----------------------------------------------------------------------------- damaged or foreign files
def _pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps({"student": Payload(marker)}))


def _truncate(path: Path, marker: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_byte(path: Path, marker: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # inside the tensor data, past the header
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, reason", [(_pickle, "not a complete safetensors"),
                                            (_truncate, "not a complete safetensors"),
                                            (_flip_a_byte, "digest")])
def test_damaged_newest_checkpoint_is_reported_and_the_previous_one_used(tmp_path, reference, damage, reason):
    folder, marker = tmp_path / "run", tmp_path / "pwned"
    interrupted_run(folder)
    newest = checkpoint_paths(folder)[-1]
    damage(newest, marker)
    with pytest.warns(CheckpointWarning, match=f"{newest.name}.*{reason}"):
        resumed, scheduler = make_trainer(seed=5)
        fit(resumed, scheduler, resume=folder)
    assert not marker.exists()
    assert_same_run(reference, resumed)  # resuming from an older checkpoint is still exact


def test_pickle_checkpoints_given_explicitly_are_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    for name, match in (("evil.pt", "refused"), ("ckpt-000000001.safetensors", "not a complete safetensors")):
        path = tmp_path / name
        _pickle(path, marker)
        trainer, scheduler = make_trainer()
        with pytest.raises(CheckpointError, match=match):
            fit(trainer, scheduler, resume=path)
        assert trainer.history.epochs == [] and not trainer.history.steps
    assert not marker.exists()


def test_all_checkpoints_damaged_is_an_error_naming_each(tmp_path):
    interrupted_run(tmp_path, at_step=3)
    for path in checkpoint_paths(tmp_path):
        _truncate(path, tmp_path)
    with pytest.warns(CheckpointWarning), pytest.raises(CheckpointError, match="no usable checkpoint.*ckpt-000000002"):
        fit(*make_trainer(), resume=tmp_path)


def test_checkpoint_of_another_architecture_names_keys_and_shapes(tmp_path):
    before = interrupted_run(tmp_path)
    other, scheduler = make_trainer(width=4)
    weights = {k: v.clone() for k, v in other.get_classifier().model.state_dict().items()}
    with pytest.raises(ValueError, match=r"features\.0\.weight: checkpoint \(8, 1, 3, 3\) vs model \(4, 1, 3, 3\)"):
        fit(other, scheduler, resume=tmp_path)
    for key, value in other.get_classifier().model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    assert_kept(before, tmp_path)


# ----------------------------------------------------------------------------- where checkpoints go
def test_unwritable_checkpoint_folder_fails_before_training(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    folders = [tmp_path / "a_file" / "run"]
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        folders.append(locked / "run")
    for folder in folders:
        trainer, scheduler = make_trainer()
        weights = {k: v.clone() for k, v in trainer.get_classifier().model.state_dict().items()}
        with pytest.raises(OSError, match=f"checkpoint folder {folder} is not writable"):
            fit(trainer, scheduler, checkpoint_dir=folder)
        assert not trainer.history.steps
        for key, value in trainer.get_classifier().model.state_dict().items():
            assert torch.equal(value, weights[key]), key


def test_a_fresh_run_does_not_overwrite_an_existing_run(tmp_path):
    before = interrupted_run(tmp_path)
    trainer, scheduler = make_trainer()
    with pytest.raises(FileExistsError, match="already holds checkpoints.*resume="):
        fit(trainer, scheduler, checkpoint_dir=tmp_path, checkpoint_every=2)
    assert not trainer.history.steps
    assert snapshot(tmp_path) == before


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    write = run_files._write_new

    def disk_fills_up(path: Path, data: bytes) -> None:
        if "000000003" in str(path):
            with open(path, "xb") as handle:  # a half-written temporary file, as a real full disk leaves
                handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write(path, data)

    monkeypatch.setattr(run_files, "_write_new", disk_fills_up)
    trainer, scheduler = make_trainer()
    saved: dict[str, bytes] = {}
    trainer.on_step_end = lambda epoch, step: saved.update(snapshot(tmp_path)) if step == 3 else None
    with pytest.raises(OSError, match="ckpt-000000003.safetensors: the disk is full; the newest intact "
                                      "checkpoint is .*ckpt-000000002.safetensors") as error:
        fit(trainer, scheduler, checkpoint_dir=tmp_path, checkpoint_every=1)
    assert error.value.errno == errno.ENOSPC
    assert list(saved) == ["ckpt-000000001.safetensors", "ckpt-000000002.safetensors"]
    assert snapshot(tmp_path) == saved  # no temporary file left, nothing changed
    assert_kept(saved, tmp_path)


# ----------------------------------------------------------------------------- during training
def test_nan_mid_run_stops_naming_the_step_and_keeps_the_good_checkpoints(tmp_path):
    trainer, scheduler = make_trainer()
    poisoned = []
    trainer.teachers[0].module.register_forward_hook(lambda m, i, out: out * float("nan") if poisoned else None)
    saved: dict[str, bytes] = {}

    def hook(epoch: int, step: int) -> None:
        if step == 4:
            poisoned.append(True)  # the robust teacher outputs NaN from step 5 on
        if step == 5:
            saved.update(snapshot(tmp_path))

    trainer.on_step_end = hook
    with pytest.raises(FloatingPointError, match=r"NaN/Inf at step 5 \(epoch 1, batch 5 of the epoch\).*"
                                                 r"last good checkpoint, .*ckpt-000000004\.safetensors, is kept"):
        fit(trainer, scheduler, checkpoint_dir=tmp_path, checkpoint_every=1)
    assert list(saved) == [f"ckpt-00000000{s}.safetensors" for s in (2, 3, 4)]
    assert snapshot(tmp_path) == saved
    tensors, state = read_checkpoint(tmp_path / "ckpt-000000004.safetensors")
    assert state["loop"]["step"] == 4
    assert all(torch.isfinite(t).all() for k, t in tensors.items() if k.startswith("student/"))


def test_nan_is_caught_at_the_epoch_end_without_checkpoints(tmp_path):
    trainer, scheduler = make_trainer()
    poisoned = []
    trainer.teachers[1].module.register_forward_hook(lambda m, i, out: out.fill_(float("inf")) if poisoned else None)
    trainer.on_step_end = lambda epoch, step: poisoned.append(True) if step == 2 else None
    with pytest.raises(FloatingPointError, match=r"step 3 \(epoch 1, batch 3 of the epoch\); stopped"):
        fit(trainer, scheduler)
    assert not trainer.history.epochs


@pytest.mark.parametrize("how", ["exception", "SIGINT", "SIGTERM"])
def test_ctrl_c_saves_the_last_step_and_resumes_exactly(tmp_path, reference, how):
    trainer, scheduler = make_trainer()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def hook(epoch: int, step: int) -> None:
        if step == 5:
            if how == "exception":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.Signals[how])  # handled after this step: the step is finished, then saved

    trainer.on_step_end = hook
    with pytest.raises(KeyboardInterrupt):
        fit(trainer, scheduler, checkpoint_dir=tmp_path)  # epoch ends only: the save comes from the interrupt
    assert handlers == {signum: signal.getsignal(signum) for signum in handlers}  # the caller's handlers are back
    assert [p.name for p in checkpoint_paths(tmp_path)] == ["ckpt-000000005.safetensors"]
    resumed, scheduler = make_trainer(seed=5)
    fit(resumed, scheduler, resume=tmp_path)
    assert_same_run(reference, resumed)
