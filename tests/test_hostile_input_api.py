"""Hostile input by principle: the Python API refuses what the command line refuses (data or a batch size that
would give no optimiser step), before any work; every field of a saved model's description is checked against what
its architecture accepts, and the refusal names the file and the field (no traceback, no "please report a bug")."""
from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from art_bmtad import AdversarialTrainerARDPyTorch, AdversarialTrainerBMTARDPyTorch, cli, hookimpl
from art_bmtad.algorithm.arguments import check_batching
from art_bmtad.data.datasets import load_dataset
from art_bmtad.models.classifier import create_classifier
from art_bmtad.models.classifier_files import load_classifier, save_classifier
from art_bmtad.models.spec import CLASSIFIER_ARGUMENTS
from art_bmtad.pipeline.checks import check_training_data
from art_bmtad.recipes.recipe import ConfigError, load_recipe
from art_bmtad.registry import get_plugin_manager
from art_bmtad.trainers.fbf import FastIsBetterThanFree
from tests.conftest import TinyConvNet, make_classifier
from tests.hostile import assert_refused, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- no optimiser step
def trainers() -> dict[str, object]:
    torch.manual_seed(0)
    common = dict(eps=0.1, eps_step=0.05, max_iter=1, verbose=False)
    return {
        "bmtard": AdversarialTrainerBMTARDPyTorch(make_classifier(TinyConvNet()), robust_teacher=TinyConvNet(),
                                                  clean_teacher=TinyConvNet(), **common),
        "ard": AdversarialTrainerARDPyTorch(make_classifier(TinyConvNet()), robust_teacher=TinyConvNet(), **common),
    }


@pytest.mark.parametrize("method", ["bmtard", "ard"])
@pytest.mark.parametrize("case, message", [
    ("one example", r"x holds 1 training example: batches of at most one, which are skipped .* give at least 2"),
    ("batch of one", r"batch_size 1 gives batches of 1: batches of one are skipped .* use at least 2"),
    ("no epoch", r"nb_epochs must be an integer >= 1, got 0"),
])
def test_fit_refuses_what_would_give_no_optimiser_step_before_any_work(digits, method, case, message) -> None:
    x, y = digits
    trainer = trainers()[method]
    before = {key: value.clone() for key, value in trainer.get_classifier().model.state_dict().items()}
    arguments = {"one example": dict(x=x[:1], y=y[:1]), "batch of one": dict(x=x[:64], y=y[:64], batch_size=1),
                 "no epoch": dict(x=x[:64], y=y[:64], nb_epochs=0)}[case]
    with pytest.raises(ValueError, match=message):
        trainer.fit(**{"batch_size": 32, "nb_epochs": 1, **arguments})
    after = trainer.get_classifier().model.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)  # nothing trained, not even BatchNorm
    assert not trainer.history.steps


@pytest.mark.parametrize("size, batch_size, message", [
    (0, 32, r"generator holds 0 training examples: .* give at least 2"),
    (1, 32, r"generator holds 1 training example: .* give at least 2"),
    (64, 1, r"generator.batch_size 1 gives batches of 1: .* use at least 2"),
])
def test_fit_generator_refuses_a_generator_that_gives_no_optimiser_step(digits, size, batch_size, message) -> None:
    x, y = digits
    trainer = trainers()["bmtard"]

    class Source:  # duck-typed like ART's DataGenerator, whose own check stops at size 0 but not at 1
        def __init__(self) -> None:
            self.size, self.batch_size = size, batch_size

        def get_batch(self):
            raise AssertionError("no batch may be drawn before the check")

    generator = Source()
    with pytest.raises(ValueError, match=message):
        trainer.fit_generator(generator, nb_epochs=1)
    with pytest.raises(TypeError, match=r"generator must be an ART DataGenerator with integer size and batch_size, "
                                        r"got tuple \(size=None, batch_size=None\)"):
        trainer.fit_generator((x, y), nb_epochs=1)
    assert not trainer.history.steps


@pytest.mark.filterwarnings("ignore:epoch 1. robust teacher")  # untrained teachers, on purpose
def test_the_smallest_data_and_batch_that_train_are_accepted(digits) -> None:
    x, y = digits
    trainer = trainers()["bmtard"]
    trainer.fit(x[:2], y[:2], batch_size=2, nb_epochs=1)
    assert len(next(iter(trainer.history.steps.values()))) == 1  # one optimiser step


def test_under_torchrun_each_process_needs_two_examples_of_every_batch() -> None:
    check_batching(8, 4, processes=2)
    with pytest.raises(ValueError, match=r"batch_size 2 over 2 processes gives batches of 1: .* use at least 4"):
        check_batching(64, 2, processes=2)
    check_batching(3, 4, processes=2)  # padded to 4: two examples each
    with pytest.raises(ValueError, match=r"x holds 2 training examples over 2 processes: .* give at least 4"):
        check_batching(2, 4, processes=2)


def test_a_runs_checks_refuse_with_the_same_check_naming_the_recipe_key() -> None:
    data = load_dataset("digits", n_train=64, n_test=16, val_size=0)
    recipe = load_recipe("smoke", overrides={"schedule.batch_size": 2, "schedule.select_by": None})
    check_training_data(recipe, data, processes=1)
    with pytest.raises(ConfigError, match=r"schedule.batch_size: 2 over 2 processes gives batches of 1: batches of "
                                          r"one are skipped .* use at least 4"):
        check_training_data(recipe, data, processes=2)


def test_fbf_refuses_zero_epochs_and_empty_data(digits) -> None:
    x, y = digits
    trainer = FastIsBetterThanFree(make_classifier(TinyConvNet()), eps=0.1)
    with pytest.raises(ValueError, match="nb_epochs must be an integer >= 1, got 0"):
        trainer.fit(x[:64], y[:64], nb_epochs=0)
    with pytest.raises(ValueError, match="n_examples must be an integer >= 1, got 0"):
        trainer.fit(x[:0], y[:0], nb_epochs=1)


# ----------------------------------------------------------------------------- a saved model's description
@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A saved timm test_resnet student for digits (weights + description)."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("saved")
    return save_classifier(create_classifier("test_resnet", dataset="digits", device="cpu"), folder / "student")


def described(saved: Path, folder: Path, **fields) -> Path:
    """A copy of the saved student whose description has ``fields`` changed."""
    description = {**json.loads(saved.with_suffix(".json").read_text()), **fields}
    (folder / "edited.json").write_text(json.dumps(description))
    (folder / "edited.safetensors").write_bytes(saved.read_bytes())
    return folder / "edited.safetensors"


@pytest.mark.parametrize("fields, culprits", [
    ({"model_kwargs": {"num_classes": 10}}, ("edited.json", "field 'model_kwargs'", "num_classes")),
    ({"model_kwargs": {"device": "cpu"}}, ("edited.json", "field 'model_kwargs'", "device")),
    ({"model_kwargs": {"input_shape": [1, 8, 8]}}, ("edited.json", "field 'model_kwargs'", "input_shape")),
    ({"model_kwargs": {"bogus": 1}}, ("edited.json", "'timm/test_resnet'", "model_kwargs {'bogus': 1}",
                                      "unexpected keyword argument 'bogus'")),
    ({"model_kwargs": {"drop_rate": "high"}}, ("edited.json", "model_kwargs {'drop_rate': 'high'}", "'high'")),
    ({"num_classes": 7}, ("edited.safetensors", "fc.bias: checkpoint (10,) vs model (7,)", "edited.json",
                          "num_classes 7")),
    ({"name": "timm/no_such_model"}, ("edited.json", "field 'name'", "unknown model 'timm/no_such_model'")),
    ({"num_classes": "ten"}, ("edited.json", "field 'num_classes'", "an integer > 0")),
])
def test_every_field_of_a_description_is_checked_against_its_architecture(saved, tmp_path, capsys, fields,
                                                                         culprits) -> None:
    edited = described(saved, tmp_path, **fields)
    message = assert_refused(run_cli(capsys, "eval", "--model", edited, "--data", "digits", "--n-examples", "10",
                                     "--attacks", "clean"), *culprits)
    assert "report" not in message
    with pytest.raises(ValueError, match="edited.json"):
        load_classifier(edited, device="cpu")


def test_a_class_count_its_architecture_does_not_give_is_named(tmp_path) -> None:
    plugin = types.ModuleType("fixed_head_plugin")
    plugin.art_bmtad_register_models = hookimpl(lambda register: register("fixed-head", lambda: TinyConvNet()))
    get_plugin_manager().register(plugin, name="fixed-head")
    try:
        path = save_classifier(TinyConvNet(), tmp_path / "student", name="fixed-head", nb_classes=7,
                               input_shape=(1, 8, 8), mean=(0.5,), std=(0.25,))
        with pytest.raises(ValueError, match=r"student.json: its architecture 'fixed-head' gives outputs of shape "
                                             r"\(1, 10\) for one image, not \(1, 7\)"):
            load_classifier(path, device="cpu")
    finally:
        get_plugin_manager().unregister(plugin)


def test_an_intact_description_still_loads(saved) -> None:
    loaded = load_classifier(saved, device="cpu")
    assert loaded.predict(np.zeros((2, 1, 8, 8), dtype=np.float32)).shape == (2, 10)


def test_saving_refuses_a_model_option_that_is_the_descriptions_own_field(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"field 'model_kwargs' holds \['num_classes'\], which are not model options"):
        save_classifier(TinyConvNet(), tmp_path / "student", nb_classes=10, input_shape=(1, 8, 8), mean=(0.5,),
                        std=(0.25,), model_kwargs={"num_classes": 10})
    assert not list(tmp_path.iterdir())


def test_the_reserved_names_are_the_front_doors_own_arguments() -> None:
    parameters = set(inspect.signature(create_classifier).parameters) - {"model_kwargs"}
    assert CLASSIFIER_ARGUMENTS == parameters


# ----------------------------------------------------------------------------- a command asked to do nothing
@pytest.mark.parametrize("args, culprits", [
    (["tune", "--preset", "smoke", "--trials", "0"], ("--trials 0", "would do nothing")),
    (["train", "--preset", "smoke", "--epochs", "0"], ("schedule.epochs", "got 0")),
    (["bench", "--preset", "smoke", "--n-examples", "0"], ("evaluation.n_examples", "got 0")),
    (["train", "--preset", "smoke", "--n-train", "0"], ("data.n_train", "got 0")),
    (["teachers", "--model", "test_resnet", "--data", "digits", "--epochs", "0"], ("epochs must be >= 1",)),
])
def test_a_command_asked_to_do_nothing_says_so_before_it_starts(tmp_path, capsys, args, culprits) -> None:
    out = tmp_path / "run"
    assert_refused(run_cli(capsys, *args, "--out", out), *culprits)
    assert not out.exists() and not out.with_suffix(".safetensors").exists()


@pytest.mark.parametrize("args, option", [
    (["teachers", "--model", "test_resnet", "--data", "digits", "--kind", "madry", "--compare-student",
      "test_resnet", "--compare-epochs", "0"], "--compare-epochs"),
    (["cost", "test_resnet", "--data", "digits", "--batch-size", "0"], "--batch-size"),
    (["cost", "test_resnet", "--data", "digits", "--repeats", "0"], "--repeats"),
])
def test_a_count_of_zero_is_refused_when_the_command_line_is_read(tmp_path, capsys, args, option) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*args, "--out", str(tmp_path / "out.json")])
    assert exit_info.value.code == 2
    assert f"argument {option}: must be at least" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_resumed_study_asked_for_no_trials_says_so() -> None:
    from art_bmtad.tuning import TuneSettings

    settings = TuneSettings(load_recipe("smoke"), n_trials=0, pilot_size=80)
    with pytest.raises(ConfigError, match="--trials 0: a study of no trials would do nothing; give at least 1"):
        settings.check()


# ----------------------------------------------------------------------------- the output is the project's own
def test_a_command_that_loads_art_prints_none_of_arts_start_up_lines(tmp_path) -> None:
    script = ("import sys; from art_bmtad import cli; "
              "code = cli.main(['cost', 'test_resnet', '--data', 'digits', '--repeats', '3', '--warmup', '0']); "
              "print('art loaded:', 'art' in sys.modules); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert "art loaded: True" in done.stdout
    assert "ART_DATA_PATH" not in done.stderr + done.stdout
    assert done.stderr.strip() == ""
