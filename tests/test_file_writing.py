"""One atomic writer: every file art-bmtad saves (results, classifiers and their sidecars, training checkpoints) is
written to a temporary sibling, fsynced, and only then renamed over its target; a failure leaves the target as it
was and no temporary file behind."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from art_bmtad.models.classifier_files import save_classifier
from art_bmtad.run import atomic_path, write_atomic
from art_bmtad.trainers.training_checkpoints import CheckpointStore
from tests.conftest import TinyConvNet

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names open files through /proc")


@pytest.fixture
def disk_events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """``("fsync", file)`` and ``("replace", temporary file)`` in the order they happen."""
    events: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def recorded_fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recorded_replace(source: str | os.PathLike, target: str | os.PathLike) -> None:
        events.append(("replace", str(Path(source).resolve())))
        replace(source, target)

    monkeypatch.setattr(os, "fsync", recorded_fsync)
    monkeypatch.setattr(os, "replace", recorded_replace)
    return events


def assert_fsynced_before_renamed(events: list[tuple[str, str]], n_files: int) -> None:
    renamed = [path for kind, path in events if kind == "replace"]
    assert len(renamed) == n_files
    for path in renamed:
        assert ("fsync", path) in events[: events.index(("replace", path))], (path, events)


def test_write_atomic_fsyncs_the_file_before_renaming_it(tmp_path: Path, disk_events) -> None:
    path = write_atomic(tmp_path / "results.json", '{"accuracy": 0.5}')
    assert path.read_text() == '{"accuracy": 0.5}'
    assert_fsynced_before_renamed(disk_events, 1)
    assert ("fsync", str(tmp_path.resolve())) in disk_events  # the folder too: the rename survives a crash


def test_a_saved_classifier_and_its_sidecar_are_fsynced_before_renaming(tmp_path: Path, disk_events) -> None:
    path = save_classifier(TinyConvNet(), tmp_path / "student", nb_classes=10, input_shape=(1, 8, 8), mean=(0.5,),
                           std=(0.25,))
    assert path.is_file() and path.with_suffix(".json").is_file()
    assert_fsynced_before_renamed(disk_events, 2)


def test_a_training_checkpoint_is_fsynced_before_renaming(tmp_path: Path, disk_events) -> None:
    store = CheckpointStore(tmp_path, keep_last=2)
    store.save(1, {"w": torch.arange(4.0)}, {"epoch": 0})
    assert [p.name for p in store.paths()] == ["ckpt-000000001.safetensors"]
    assert_fsynced_before_renamed(disk_events, 1)


def test_a_block_that_fails_leaves_the_target_and_no_temporary_file(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "model.onnx", b"old")
    with pytest.raises(RuntimeError, match="verification failed"):
        with atomic_path(target, suffix=".onnx") as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".onnx" and not tmp.exists()
            tmp.write_bytes(b"new, half")
            raise RuntimeError("verification failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
