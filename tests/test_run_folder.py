"""Principle 1 of issue 12: a run folder is never overwritten or mixed, never written by two processes, and a run
that fails leaves the folder's earlier files exactly as they were; results are readable by the user's group."""
from __future__ import annotations

import errno
import os
import shlex
import stat
from pathlib import Path

import pytest
import torch

from art_bmtad import cli
from art_bmtad.recipes.recipe import load_recipe, write_recipe
from art_bmtad.run import (
    LOCK_FILE,
    RunFolder,
    RunFolderBusy,
    RunFolderError,
    check_output_file,
    opened_by_rank_zero,
    write_atomic,
)
from art_bmtad.trainers import training_checkpoints
from tests.hostile import SMOKE, assert_refused, fingerprint, run_cli, saved_teacher

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    """A folder holding a train run's outputs (as files: refusals never read them)."""
    run = tmp_path / "run A"
    (run / "checkpoints").mkdir(parents=True)
    for name, text in (("student.safetensors", "weights"), ("student.json", "{}"), ("history.json", "{}"),
                       ("checkpoints/ckpt-000000001.safetensors", "ckpt")):
        (run / name).write_text(text)
    write_recipe(load_recipe("smoke"), run / "config.yaml")
    return run


# ----------------------------------------------------------------------------- RunFolder itself
def test_a_folder_holding_a_run_is_refused_and_kept(finished_run: Path) -> None:
    before = fingerprint(finished_run)
    with pytest.raises(RunFolderError, match=r"already holds a run's outputs \(checkpoints, config.yaml, history"):
        RunFolder(finished_run).open()
    assert fingerprint(finished_run) == before and not (finished_run / LOCK_FILE).exists()


def test_overwrite_replaces_the_run_as_a_whole_only_at_begin(finished_run: Path) -> None:
    (finished_run / "tradeoff.png").write_text("stale plot of the earlier run")
    before = fingerprint(finished_run)
    with RunFolder(finished_run, overwrite=True) as folder:
        assert fingerprint(finished_run) == before and (finished_run / LOCK_FILE).exists()  # only locked

        folder.begin()
        assert [p.name for p in finished_run.iterdir()] == [LOCK_FILE]
        folder.write_text("config.yaml", "new: 1\n")
    assert sorted(p.name for p in finished_run.iterdir()) == sorted([LOCK_FILE, "config.yaml"])
    assert not list(finished_run.parent.glob(".*replaced*"))


def test_a_failure_before_begin_keeps_every_earlier_file(finished_run: Path) -> None:
    before = fingerprint(finished_run)
    with pytest.raises(ValueError, match="bad teacher"):
        with RunFolder(finished_run, overwrite=True):
            raise ValueError("bad teacher")
    assert fingerprint(finished_run) == before


def test_a_new_folder_is_removed_again_when_the_run_fails_before_begin(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with RunFolder(tmp_path / "new" / "run"):
            raise ValueError("bad data")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_with_foreign_files_is_refused_even_with_overwrite(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(RunFolderError, match=r"holds files that are not a run's outputs \(thesis.tex\)"):
        RunFolder(tmp_path, overwrite=True).open()
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with RunFolder(tmp_path / "run", command="art-bmtad bench --out run"):
        with pytest.raises(RunFolderBusy, match=rf"in use by another run \(pid {os.getpid()} on .*`art-bmtad bench "
                                                r"--out run`, started 20"):
            RunFolder(tmp_path / "run").open()
    RunFolder(tmp_path / "run").open().close()  # released with the first


def test_a_file_where_the_folder_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for path in (tmp_path / "file", tmp_path / "file" / "run"):
        with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
            RunFolder(path).open()
    assert (tmp_path / "file").read_text() == "x"


def test_files_are_group_readable_and_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_umask = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "results.json", "{}")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
    with pytest.raises(OSError, match=r"cannot write .*results.json: the disk is full"):
        write_atomic(path, "{\"half\": ")
    assert path.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_output_files_are_checked_before_work(tmp_path: Path) -> None:
    (tmp_path / "taken.json").write_text("{}")
    with pytest.raises(ValueError, match="--out .*taken.json already exists; pass --overwrite"):
        check_output_file(tmp_path / "taken.json", overwrite=False)
    with pytest.raises(ValueError, match="is a folder"):
        check_output_file(tmp_path)
    with pytest.raises(NotADirectoryError, match="taken.json is a file, not a folder"):
        check_output_file(tmp_path / "taken.json" / "report.json")


# ----------------------------------------------------------------------------- at the CLI
@pytest.mark.parametrize("command", [["train"], ["bench"], ["train", "--defence", "plain"]])
def test_cli_refuses_a_folder_holding_a_run_before_any_work(command, finished_run, tmp_path, capsys) -> None:
    before = fingerprint(finished_run)
    cache = tmp_path / "cache"
    message = assert_refused(run_cli(capsys, *command, *SMOKE, "--out", finished_run, "--cache-dir", cache),
                             f"--out {finished_run} already holds a run's outputs", "--overwrite")
    assert ("--resume" in message) == (command[0] == "train")
    assert fingerprint(finished_run) == before and not (finished_run / LOCK_FILE).exists() and not cache.exists()


def test_cli_refuses_bench_onto_an_earlier_bench(tmp_path: Path, capsys) -> None:
    bench = tmp_path / "bench"
    (bench / "bmtard").mkdir(parents=True)
    (bench / "bmtard" / "student.safetensors").write_text("w")
    (bench / "results.json").write_text("{}")
    before = fingerprint(bench)
    assert_refused(run_cli(capsys, "bench", *SMOKE, "--out", bench, "--cache-dir", tmp_path / "cache"),
                   "already holds a run's outputs (bmtard, results.json)")
    assert fingerprint(bench) == before


def test_cli_refuses_a_second_writer_naming_the_holder(tmp_path: Path, capsys) -> None:
    with RunFolder(tmp_path / "run", command="art-bmtad train --out run"):
        assert_refused(run_cli(capsys, "train", *SMOKE, "--out", tmp_path / "run", "--cache-dir", tmp_path / "cache"),
                       "is in use by another run", f"pid {os.getpid()}", "`art-bmtad train --out run`")
    assert not (tmp_path / "cache").exists()


def test_cli_refuses_a_file_where_the_run_folder_should_be(tmp_path: Path, capsys) -> None:
    """The read-only case that also holds for root: a file stands where a folder must be created."""
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "run"):
        for command in ("train", "bench"):
            assert_refused(run_cli(capsys, command, *SMOKE, "--out", out, "--cache-dir", tmp_path / "cache"),
                           f"--out {out}", "is a file, not a folder")
    assert not (tmp_path / "cache").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders; the file case above covers root")
def test_cli_refuses_a_read_only_folder(tmp_path: Path, capsys) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert_refused(run_cli(capsys, "train", *SMOKE, "--out", locked / "run", "--cache-dir", tmp_path / "cache"),
                   f"cannot write in {locked}")


def test_cli_names_a_read_only_file_system(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """EROFS (a read-only mount, which stops root too), raised where the lock file is created."""
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).endswith(LOCK_FILE):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    out = tmp_path / "run"
    assert_refused(run_cli(capsys, "train", *SMOKE, "--out", out, "--cache-dir", tmp_path / "cache"),
                   f"cannot write {out / LOCK_FILE}: the file system is read-only")
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_cli_overwrite_replaces_a_finished_run_and_prints_quoted_commands(finished_run, tmp_path, capsys) -> None:
    (finished_run / "tradeoff.png").write_text("stale")
    code, out, err = run_cli(capsys, "train", "--defence", "plain", *SMOKE, "--out", finished_run, "--overwrite",
                             "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    assert sorted(p.name for p in finished_run.iterdir()) == [LOCK_FILE, "config.yaml", "history.json",
                                                             "student.json", "student.safetensors"]
    assert load_recipe(config_file=finished_run / "config.yaml").defences == ["plain"]
    for name in ("config.yaml", "history.json", "student.json", "student.safetensors"):
        assert stat.S_IMODE((finished_run / name).stat().st_mode) & 0o040, name  # group-readable
    command = shlex.split(out.split("Evaluate it with: ")[1])
    assert command[:3] == ["art-bmtad", "eval", "--model"] and command[3] == str(finished_run)
    assert not (tmp_path / "cache").exists()  # plain needs no teacher


@pytest.mark.parametrize("command", ["train", "bench"])
def test_cli_overwrite_refused_late_keeps_every_earlier_file(command, finished_run, tmp_path, capsys) -> None:
    """The last check before the run begins (a NaN teacher) fails: the earlier run is exactly as it was."""
    before = fingerprint(finished_run)
    teacher = saved_teacher(tmp_path / "nan_teacher", "digits", nan=True)
    defence = ["--defences" if command == "bench" else "--defence", "rslad"]
    assert_refused(run_cli(capsys, command, *SMOKE, *defence, "--out", finished_run, "--overwrite",
                           "--robust-teacher", teacher, "--cache-dir", tmp_path / "cache"), "teacher robust", "non-finite")
    assert fingerprint(finished_run) == before and not (tmp_path / "cache").exists()


def test_cli_overwrite_with_resume_is_refused(finished_run: Path, capsys) -> None:
    assert_refused(run_cli(capsys, "train", "--resume", finished_run, "--overwrite"),
                   "--overwrite and --resume exclude each other")


# ----------------------------------------------------------------------------- --resume continues the same run
def recorded_run(folder: Path, recipe_args: dict, data_digest: str = "0" * 64, older: bool = False) -> Path:
    """A train run folder whose checkpoint records ``recipe_args`` (a smoke recipe) and a data digest; ``older``:
    recorded by a version whose recipe lacked the ``amp`` key."""
    recipe = load_recipe("smoke", overrides=recipe_args)
    write_recipe(recipe, folder / "config.yaml")
    recorded = {key: value for key, value in recipe.to_dict().items() if not (older and key == "amp")}
    with training_checkpoints.recording({"recipe": recorded, "data": data_digest}):
        store = training_checkpoints.CheckpointStore(folder / "checkpoints")
        store.check_writable()
        store.save(1, {"w": torch.zeros(1)}, {})
    return folder


@pytest.mark.parametrize("change, keys", [(["--seed", "1"], "seed"),
                                          (["--defence", "rslad"], "defences"),
                                          (["--set", "threat.max_iter=3", "--batch-size", "32"],
                                           "schedule.batch_size, threat.max_iter")])
def test_resume_refuses_another_recipe_naming_the_keys(tmp_path, capsys, change, keys) -> None:
    run = recorded_run(tmp_path / "run", {"defences": ["bmtard"], "data.n_train": 300})
    before = fingerprint(run)
    assert_refused(run_cli(capsys, "train", "--resume", run, *change), f"--resume {run}",
                   f"changes the recipe of the run being resumed in {keys}")
    assert fingerprint(run) == before and not (run / LOCK_FILE).exists()


def test_resume_refuses_other_data_after_loading_it_and_before_teachers(tmp_path, capsys) -> None:
    """The recipe matches (a key added since the checkpoint takes its default), the data do not."""
    run = recorded_run(tmp_path / "run", {"defences": ["bmtard"], "data.n_train": 300,
                                          "teachers.cache_dir": str(tmp_path / "cache")}, older=True)
    before = fingerprint(run)
    assert_refused(run_cli(capsys, "train", "--resume", run, "--epochs", "3", "--threads", "1"),
                   "the data differ from those the run was trained on")
    assert fingerprint(run) == before and not (tmp_path / "cache").exists()



@pytest.mark.parametrize("rank", [0, 1])
def test_under_torchrun_rank_zero_opens_and_every_rank_learns_of_a_refusal(rank, finished_run, monkeypatch) -> None:
    """Rank 0 alone opens the folder; another rank raises rank 0's message instead of waiting for rank 0 in a
    collective (the broadcast stands in for torch.distributed's: rank 0 sends, the others receive)."""
    from art_bmtad.utils import distributed

    sent, received = [], iter(["--out A already holds a run", None])
    monkeypatch.setattr(distributed, "is_distributed", lambda: True)
    monkeypatch.setattr(distributed, "is_main_process", lambda: rank == 0)
    monkeypatch.setattr(distributed, "broadcast_object",
                        lambda value: sent.append(value) or value if rank == 0 else next(received))
    before = fingerprint(finished_run)
    expected = "already holds a run's outputs" if rank == 0 else "rank 0 refused the run folder: --out A already"
    with pytest.raises(RunFolderError, match=expected), opened_by_rank_zero(RunFolder(finished_run)):
        pass
    assert fingerprint(finished_run) == before
    assert (sent[0].startswith(f"--out {finished_run} already holds") if rank == 0 else sent == [])
    with opened_by_rank_zero(RunFolder(finished_run / "new")) as folder:  # a rank other than 0 opens nothing
        assert (folder.path / LOCK_FILE).exists() == (rank == 0)
