"""The command line: every command's help explains every option; train -> eval round trip; resume."""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from art_bmtad import cli
from art_bmtad.config import load_recipe

TINY_TRAIN = ["--n-train", "300", "--epochs", "1", "--set", "teachers.robust.epochs=1",
              "--set", "teachers.clean.epochs=1"]


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_is_registered() -> None:
    assert set(subparsers()) == set(cli.COMMANDS)


@pytest.mark.parametrize("command", cli.COMMANDS)
def test_help_explains_every_option(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: art-bmtad")
    for action in subparsers()[command]._actions:
        assert action.help, f"{command}: option {action.option_strings or action.dest} has no help"
        for option in action.option_strings:
            assert option in text


def test_top_level_help_lists_the_commands_and_quiet(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert "--quiet" in text and all(command in text for command in cli.COMMANDS)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("train") / "run"
    cache = tmp_path_factory.getbasetemp() / "teacher-cache"
    code = cli.main(["--quiet", "train", "--preset", "smoke", "--out", str(run_dir), "--cache-dir", str(cache),
                     *TINY_TRAIN])
    assert code == 0
    return run_dir


def test_train_leaves_student_history_and_resolved_recipe(trained_run: Path) -> None:
    for name in ("student.safetensors", "student.json", "history.json", "config.yaml"):
        assert (trained_run / name).is_file(), name
    recipe = load_recipe(config_file=trained_run / "config.yaml")
    assert recipe.defences == ["bmtard"] and recipe.schedule.epochs == 1 and recipe.data.n_train == 300


def test_eval_evaluates_the_trained_run_folder(trained_run: Path, capsys) -> None:
    capsys.readouterr()
    code = cli.main(["--quiet", "eval", "--model", str(trained_run), "--eps", "0.1", "--n-examples", "20",
                     "--attacks", "fgsm", "--no-sanity-checks"])
    assert code == 0
    out = capsys.readouterr().out
    assert "# Robustness evaluation" in out and "| FGSM |" in out


def test_resume_continues_the_run_and_a_new_run_may_not_overwrite_it(trained_run: Path, capsys) -> None:
    assert cli.main(["--quiet", "train", "--resume", str(trained_run), "--epochs", "2"]) == 0
    assert load_recipe(config_file=trained_run / "config.yaml").schedule.epochs == 2
    assert '"epoch": 2' in (trained_run / "history.json").read_text()
    capsys.readouterr()
    assert cli.main(["--quiet", "train", "--preset", "smoke", "--out", str(trained_run)]) == 2
    assert "already holds a run's outputs" in capsys.readouterr().err


def test_resume_of_a_folder_without_a_run_is_an_error(tmp_path, capsys) -> None:
    assert cli.main(["--quiet", "train", "--resume", str(tmp_path)]) == 2
    assert "config.yaml" in capsys.readouterr().err


RESUMABLE = ["--preset", "smoke", "--epochs", "2", "--set", "schedule.batch_size=64", "--set",
             "schedule.checkpoint_every=2", "--set", "teachers.robust.epochs=1", "--set", "teachers.clean.epochs=1"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A resumable run trained without interruption, and the arguments that made it (teacher cache included)."""
    base = tmp_path_factory.mktemp("uninterrupted")
    args = [*RESUMABLE, "--cache-dir", str(base / "cache")]
    assert cli.main(["--quiet", "train", "--out", str(base / "B"), *args]) == 0
    return base / "B", args


def start_then_signal(run_dir: Path, args: list[str], signum: signal.Signals) -> tuple[int, str]:
    """`art-bmtad train --out RUN_DIR` in a subprocess, sent ``signum`` once its first checkpoint exists; its exit
    status and standard error."""
    stderr = run_dir.with_name(run_dir.name + ".stderr")
    with stderr.open("w") as err:
        worker = subprocess.Popen([sys.executable, "-m", "art_bmtad", "--quiet", "train", "--out", str(run_dir),
                                   *args], stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 180
        while not list((run_dir / "checkpoints").glob("ckpt-*.safetensors")) and worker.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        worker.send_signal(signum)
        worker.wait(timeout=180)
    return worker.returncode, stderr.read_text()


def checkpoint_steps(run_dir: Path) -> list[int]:
    return sorted(int(p.stem.split("-")[1]) for p in (run_dir / "checkpoints").glob("ckpt-*.safetensors"))


def assert_same_run(resumed: Path, reference: Path) -> None:
    weights, expected = load_file(resumed / "student.safetensors"), load_file(reference / "student.safetensors")
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[key], expected[key]) for key in weights)
    history = [json.loads((run / "history.json").read_text()) for run in (resumed, reference)]
    assert history[0]["steps"] == history[1]["steps"]


def test_sigkill_mid_epoch_then_resume_ends_with_the_uninterrupted_student(uninterrupted, tmp_path: Path) -> None:
    """The check users run: `train --out A`, SIGKILL in the middle of an epoch, `train --resume A`."""
    reference, args = uninterrupted
    killed = tmp_path / "A"
    returncode, _ = start_then_signal(killed, args, signal.SIGKILL)
    assert returncode == -signal.SIGKILL and not (killed / "student.safetensors").exists()
    steps = checkpoint_steps(killed)
    assert steps and steps[-1] < 26  # killed inside the first epoch (1,617 training digits / 64 = 26 steps)
    assert cli.main(["--quiet", "train", "--resume", str(killed)]) == 0
    assert_same_run(killed, reference)


def test_sigterm_saves_the_current_step_says_how_to_resume_and_resumes_exactly(uninterrupted, tmp_path) -> None:
    reference, args = uninterrupted
    stopped = tmp_path / "A"
    returncode, stderr = start_then_signal(stopped, args, signal.SIGTERM)
    assert returncode == cli.INTERRUPTED and not (stopped / "student.safetensors").exists()
    assert f"continue with: art-bmtad train --resume {stopped}" in stderr
    steps = checkpoint_steps(stopped)
    assert "SIGTERM; finishing this step, saving a checkpoint" in stderr
    assert f"interrupted after step {steps[-1]}; saved" in stderr and steps[-1] < 26  # inside the first epoch
    assert cli.main(["--quiet", "train", "--resume", str(stopped)]) == 0
    assert_same_run(stopped, reference)
