"""The command line: every command's help explains every option; train -> eval round trip; resume."""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from art_bmtad import cli
from art_bmtad.recipes.recipe import load_recipe

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
        if action.help == argparse.SUPPRESS:  # an earlier spelling kept as an alias (teachers --dataset, --root)
            continue
        assert action.help, f"{command}: option {action.option_strings or action.dest} has no help"
        for option in action.option_strings:
            assert option in text


VOCABULARY_COMMANDS = ["train", "bench", "teachers", "eval", "tune"]
"""The commands that load data and train or evaluate (``cost`` and ``export`` take a model or run positionally)."""
SHARED = ["--data", "npz", "--data-path", "data/cifar10.npz", "--n-train", "40", "--n-test", "20", "--val-size", "8",
          "--download", "--model", "resnet18", "--device", "cpu", "--threads", "1", "--out", "out", "--quiet"]


@pytest.mark.parametrize("command", VOCABULARY_COMMANDS)
def test_every_command_takes_the_shared_options_under_the_same_names(command: str) -> None:
    args = cli.build_parser().parse_args([command, *SHARED])
    assert (args.data, args.data_path, args.n_train, args.n_test, args.val_size) == (
        "npz", "data/cifar10.npz", 40, 20, 8)
    assert (args.download, args.device, args.threads, args.quiet, str(args.out)) == (True, "cpu", 1, True, "out")
    assert str(args.model) == "resnet18"


def test_cost_and_export_use_the_same_names_for_what_they_share() -> None:
    parser = cli.build_parser()
    cost = parser.parse_args(["cost", "run", "--data", "digits", "--device", "cpu", "--threads", "1", "--out", "c.json",
                              "--quiet"])
    assert (cost.data, cost.device, cost.threads, str(cost.out), cost.quiet) == ("digits", "cpu", 1, "c.json", True)
    export = parser.parse_args(["export", "run", "--format", "onnx", "--data", "npz", "--data-path", "d.npz",
                                "--out", "s.onnx", "--quiet"])
    assert (export.data, str(export.data_path), str(export.out), export.quiet) == ("npz", "d.npz", "s.onnx", True)
    earlier = parser.parse_args(["cost", "run", "--dataset", "digits", "--json", "c.json"])  # still accepted
    assert (earlier.data, str(earlier.out)) == ("digits", "c.json")


@pytest.mark.parametrize("command", ["train", "bench", "tune"])
def test_the_shared_options_set_the_recipe_keys(command: str) -> None:
    from art_bmtad.commands.recipe_options import recipe_from_args

    args = cli.build_parser().parse_args([command, *SHARED[:-3], "--out", "o", "--set", "data.source=digits"])
    recipe = recipe_from_args(args)
    assert (recipe.data.path, recipe.data.n_train, recipe.data.n_test, recipe.data.val_size, recipe.data.download) == (
        "data/cifar10.npz", 40, 20, 8, True)
    assert (recipe.student.model, recipe.device, recipe.threads) == ("resnet18", "cpu", 1)


def test_quiet_after_the_command_and_before_it_both_count() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["--quiet", "report", "r"]).quiet
    assert parser.parse_args(["eval", "--model", "m", "--quiet"]).quiet
    assert not parser.parse_args(["eval", "--model", "m"]).quiet


def test_quiet_silences_arts_own_progress_bars(capfd) -> None:
    """ART's trainers draw tqdm bars with no switch of their own; ``--quiet`` (and a non-terminal) hides them."""
    from art.defences.trainer import AdversarialTrainerMadryPGD
    from art.estimators.classification import PyTorchClassifier

    from art_bmtad.commands.recipe_options import quiet_or_progress
    from art_bmtad.utils.progress import restore_progress

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    classifier = PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(), input_shape=(4,), nb_classes=2,
                                   optimizer=torch.optim.SGD(model.parameters(), lr=0.1), clip_values=(0.0, 1.0))
    x, y = torch.rand(8, 4).numpy(), (torch.arange(8) % 2).numpy()

    def art_bar_drawn() -> bool:
        AdversarialTrainerMadryPGD(classifier, nb_epochs=1, eps=0.1, eps_step=0.05, max_iter=2).fit(x, y)
        return "Adversarial training epochs" in capfd.readouterr().err

    restore_progress()  # an earlier in-process `cli.main(["--quiet", ...])` leaves bars off
    try:
        assert art_bar_drawn()  # plain tqdm draws even into a pipe
        assert quiet_or_progress(argparse.Namespace(quiet=True)) is False and not art_bar_drawn()
        assert quiet_or_progress(argparse.Namespace(quiet=False)) is True and not art_bar_drawn()  # not a terminal
    finally:
        restore_progress()
    assert art_bar_drawn()


def test_top_level_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("art-bmtad ")


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


def test_eval_takes_the_runs_threat_model_and_data_and_says_where_each_came_from(trained_run: Path, tmp_path,
                                                                                caplog) -> None:
    out = tmp_path / "eval.json"
    with caplog.at_level("INFO"):
        code = cli.main(["eval", "--model", str(trained_run), "--n-examples", "20", "--attacks", "fgsm,autoattack",
                         "--autoattack-budget", "fast", "--no-sanity-checks", "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["threat_model"]["eps"] == pytest.approx(0.1)  # the smoke preset's, not 8/255
    assert report["origins"]["eps"] == "run config.yaml (threat.eps)"
    assert report["origins"]["data"] == "run config.yaml (data.source)" and report["origins"]["n_train"] == (
        "run config.yaml (data.n_train)")
    assert report["origins"]["normalisation"].startswith("saved classifier (mean (")
    assert (report["autoattack_backend"], report["autoattack_budget"]) == ("art", "fast")
    messages = [record.getMessage() for record in caplog.records]
    estimate = next(i for i, m in enumerate(messages) if m.startswith("estimated time"))
    before_autoattack = next(i for i, m in enumerate(messages) if m.startswith("AutoAttack (art backend, fast budget)"))
    assert estimate < next(i for i, m in enumerate(messages) if m.startswith("FGSM:")) < before_autoattack


def test_eval_options_override_the_run(trained_run: Path, tmp_path) -> None:
    out = tmp_path / "eval.json"
    assert cli.main(["--quiet", "eval", "--model", str(trained_run), "--eps", "1/255", "--n-examples", "10",
                     "--attacks", "fgsm", "--no-sanity-checks", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["threat_model"]["eps_label"] == "1/255" and report["origins"]["eps"] == "command line"


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


PAUSED_AFTER_STEP_3 = textwrap.dedent("""
    import logging, sys, threading, time
    from pathlib import Path

    from art_bmtad import cli
    from art_bmtad.trainers.base import DistillationTrainer

    ready, heard = Path(sys.argv[1]), threading.Event()

    class StopHeard(logging.Handler):
        def emit(self, record):
            if "finishing this step" in record.getMessage():
                heard.set()

    def pause(self, epoch, step):
        if step == 3:  # step 2's checkpoint is on disk: wait for the signal (SIGKILL ends the process here)
            ready.touch()
            while not heard.is_set():
                time.sleep(0.01)

    logging.getLogger("art_bmtad").addHandler(StopHeard())
    DistillationTrainer.on_step_end = pause
    sys.exit(cli.main(sys.argv[2:]))
""")


def start_then_signal(run_dir: Path, args: list[str], signum: signal.Signals) -> tuple[int, str]:
    """`art-bmtad train --out RUN_DIR` in a subprocess that pauses after step 3 (step 2 checkpointed) and is sent
    ``signum`` there: a fixed point, however slowly the machine runs; its exit status and standard error."""
    stderr, ready = run_dir.with_name(run_dir.name + ".stderr"), run_dir.with_name(run_dir.name + ".paused")
    with stderr.open("w") as err:
        worker = subprocess.Popen([sys.executable, "-c", PAUSED_AFTER_STEP_3, str(ready), "--quiet", "train",
                                   "--out", str(run_dir), *args], stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 600  # against a hang only
            while not ready.exists():
                assert worker.poll() is None, "the run ended before step 3"
                assert time.monotonic() < deadline, "the run did not reach step 3"
                time.sleep(0.02)
            worker.send_signal(signum)
            worker.wait(timeout=600)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
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
