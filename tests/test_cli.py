"""The command line: every command's help explains every option; train -> eval round trip; resume."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

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
    assert "already holds a training run" in capsys.readouterr().err


def test_resume_of_a_folder_without_a_run_is_an_error(tmp_path, capsys) -> None:
    assert cli.main(["--quiet", "train", "--resume", str(tmp_path)]) == 2
    assert "config.yaml" in capsys.readouterr().err


def test_sigkill_mid_epoch_then_resume_ends_with_the_uninterrupted_student(tmp_path: Path) -> None:
    """The check users run: `train --out A`, SIGKILL in the middle of an epoch, `train --resume A`."""
    import signal
    import subprocess
    import sys
    import time

    import torch
    from safetensors.torch import load_file

    args = ["--preset", "smoke", "--epochs", "2", "--set", "schedule.batch_size=64", "--set",
            "schedule.checkpoint_every=2", "--set", "teachers.robust.epochs=1", "--set", "teachers.clean.epochs=1",
            "--cache-dir", str(tmp_path / "cache")]
    assert cli.main(["--quiet", "train", "--out", str(tmp_path / "B"), *args]) == 0  # uninterrupted; fills the cache

    killed = tmp_path / "A"
    worker = subprocess.Popen([sys.executable, "-m", "art_bmtad", "--quiet", "train", "--out", str(killed), *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not list((killed / "checkpoints").glob("ckpt-*.safetensors")) and worker.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    steps = sorted(int(p.stem.split("-")[1]) for p in (killed / "checkpoints").glob("ckpt-*.safetensors"))
    assert worker.returncode == -signal.SIGKILL and not (killed / "student.safetensors").exists()
    assert steps and steps[-1] < 26  # killed inside the first epoch (1,617 training digits / 64 = 26 steps)

    assert cli.main(["--quiet", "train", "--resume", str(killed)]) == 0
    resumed, uninterrupted = load_file(killed / "student.safetensors"), load_file(tmp_path / "B" / "student.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[key], uninterrupted[key]) for key in resumed)
    history = [json.loads((run / "history.json").read_text()) for run in (killed, tmp_path / "B")]
    assert history[0]["steps"] == history[1]["steps"]
