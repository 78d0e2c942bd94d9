"""Principles 3-6 of issue 12 at the CLI: every bad input is refused before any expensive work (no teacher cache
entry is created), as one message naming the culprit with exit status 2 and no traceback; internal errors keep
their traceback and ask for a bug report; plugins cannot take the host down; report reads only its own folder."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from art_bmtad import cli
from art_bmtad.commands.train import eval_command
from art_bmtad.discovery import PluginWarning
from art_bmtad.registry import list_defences
from tests.hostile import SMOKE, assert_refused, fingerprint, run_cli, saved_teacher, write_npz
from tests.test_plugins import builtins_only, install_module_plugin, site_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """The teacher cache of the run; a refusal before any work leaves it uncreated."""
    return tmp_path / "cache"


def refuse_train(capsys, tmp_path: Path, cache: Path, *args: str, culprits: tuple[str, ...]) -> str:
    """``train`` with ``args`` is refused naming ``culprits`` before any work: no cache entry, no run folder."""
    message = assert_refused(run_cli(capsys, "train", *SMOKE, "--out", tmp_path / "run", "--cache-dir", cache,
                                     *args), *culprits)
    assert not cache.exists() and not (tmp_path / "run").exists()
    return message


# ----------------------------------------------------------------------------- 3. the recipe, before work
@pytest.mark.parametrize("args, culprits", [
    (["--set", "threat.eps=.inf"], ("threat.eps", "finite")),
    (["--set", "schedule.lr=.inf"], ("schedule.lr", "finite")),
    (["--set", "schedule.lr=.nan"], ("schedule.lr", "finite")),
    (["--set", "threat.eps=2"], ("threat.eps", "(0, 1]")),
    (["--set", "threat.eps=0.01", "--set", "threat.eps_step=0.02"], ("threat.eps_step", "(0, eps=0.01]")),
    (["--set", "schedule.momentum=-0.5"], ("schedule.momentum", ">= 0")),
    (["--set", "schedule.checkpoint_every=0"], ("schedule.checkpoint_every", ">= 1")),
    (["--seed", "-1"], ("seed", "[0, 2**32)")),
    (["--batch-size", "1"], ("schedule.batch_size", "every batch would be skipped")),
    (["--set", "student.model_kwargs={foo: 1}"], ("student.model_kwargs", "foo")),
    (["--batch-size", "400"], ("schedule.batch_size", "larger than the 270 training examples")),
    (["--set", "data.val_size=0.001"], ("val_size=0.001", "rounds to no validation example")),
    (["--set", "teachers.robust.checkpoint=missing"], ("teachers.robust.checkpoint", "missing")),
])
def test_bad_recipe_values_are_refused_before_any_work(args, culprits, tmp_path, cache, capsys) -> None:
    refuse_train(capsys, tmp_path, cache, *args, culprits=culprits)


def test_bench_checks_the_same_way(tmp_path, cache, capsys) -> None:
    assert_refused(run_cli(capsys, "bench", *SMOKE, "--out", tmp_path / "run", "--cache-dir", cache,
                           "--batch-size", "400"), "schedule.batch_size")
    assert not cache.exists() and not (tmp_path / "run").exists()


def test_config_file_with_a_duplicated_key_is_refused_naming_it(tmp_path, cache, capsys) -> None:
    config = tmp_path / "recipe.yaml"
    config.write_text("schedule:\n  lr: 0.1\n  epochs: 1\n  lr: 0.5\n")
    refuse_train(capsys, tmp_path, cache, "--config", config, culprits=(str(config), "'lr' is given twice (line 4)"))
    refuse_train(capsys, tmp_path, cache, "--set", "schedule={lr: 1, lr: 2}", culprits=("schedule=", "'lr'"))


def test_config_file_that_is_not_utf8_is_named(tmp_path, cache, capsys) -> None:
    config = tmp_path / "recipe.yaml"
    config.write_bytes("schedule:\n  lr: 0.1  # \u00e9t\u00e9\n".encode("latin-1"))
    refuse_train(capsys, tmp_path, cache, "--config", config, culprits=(str(config), "not UTF-8"))


# ----------------------------------------------------------------------------- 3. the data, every source
@pytest.mark.parametrize("changes, culprits", [
    ({"x_train": np.zeros((40, 3, 8, 8), np.uint8), "x_test": np.zeros((40, 3, 8, 8), np.uint8)},
     ("x_train", "NCHW", "transpose")),
    ({"y_train": np.array(["cat", "dog"] * 20)}, ("y_train", "integer class indices", "<U3")),
    ({"y_train": np.eye(2, dtype=np.int64)[np.arange(40) % 2]}, ("y_train", "one-hot")),
    ({"y_train": np.r_[-1, np.arange(39) % 2]}, ("y_train", "negative label -1")),
    ({"y_test": np.arange(39) % 2}, ("y_test has 39 labels", "x_test has 40 images")),
    ({"x_train": np.zeros((40, 8, 8, 3), np.float32)}, ("x_train", "uint8", "float32")),
    ({"class_names": np.array(["only one"])}, ("class_names has 1 names", "at least 2")),
    ({"y_train": np.array([object()] * 40)}, ("y_train", "never unpickled")),
])
def test_bad_npz_files_are_refused_naming_file_and_key(changes, culprits, tmp_path, cache, capsys) -> None:
    data = write_npz(tmp_path / "data.npz", **changes)
    message = refuse_train(capsys, tmp_path, cache, "--set", "data.source=npz", "--data-path", data,
                           culprits=(str(data), *culprits))
    assert "allow_pickle" not in message


@pytest.mark.parametrize("damage, culprits", [
    (lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]), ("truncated or damaged",)),
    (lambda path: path.write_text("x_train,y_train\n1,2\n"), ("not an .npz archive of numeric arrays",)),
])
def test_damaged_npz_files_are_refused_without_inviting_pickle(damage, culprits, tmp_path, cache, capsys) -> None:
    data = write_npz(tmp_path / "data.npz")
    damage(data)
    message = refuse_train(capsys, tmp_path, cache, "--set", "data.source=npz", "--data-path", data,
                           culprits=(str(data), *culprits))
    assert "allow_pickle" not in message


def image_tree(root: Path) -> Path:
    """root/train/{a,b} and root/val/{a,b} with two small PNG images each."""
    from PIL import Image

    for split in ("train", "val"):
        for index, name in enumerate("ab"):
            (root / split / name).mkdir(parents=True)
            for n in range(2):
                Image.new("RGB", (6, 6), (100 * index, 50 * n, 0)).save(root / split / name / f"{n}.png")
    return root


@pytest.mark.parametrize("damage, culprits", [
    (lambda root: (root / "train" / "b" / "1.png").write_bytes(b"not an image"), ("train/b/1.png",)),
    (lambda root: (root / "train" / "b" / "1.png").write_bytes((root / "train" / "b" / "0.png").read_bytes()[:40]),
     ("train/b/1.png",)),
    (lambda root: (root / "train" / "c").mkdir(), ("train", "['c'] hold no images")),
])
def test_bad_image_folders_are_refused_naming_the_file(damage, culprits, tmp_path, cache, capsys) -> None:
    root = image_tree(tmp_path / "images")
    damage(root)
    refuse_train(capsys, tmp_path, cache, "--set", "data.source=imagefolder", "--set", f"data.root={root}",
                 "--n-train", "4", "--batch-size", "2", "--set", "data.val_size=0",
                 "--set", "schedule.select_by=null", culprits=culprits)


# ----------------------------------------------------------------------------- 3. each teacher against the data
@pytest.mark.parametrize("preset, nan, culprits", [
    ("cifar10", False, ("teacher robust", "(3, 32, 32)", "(1, 8, 8)")),
    ("digits", True, ("teacher robust", "non-finite")),
])
def test_a_teacher_that_does_not_fit_the_data_is_named_before_any_training(preset, nan, culprits, tmp_path, cache,
                                                                          capsys) -> None:
    teacher = saved_teacher(tmp_path / "teacher", preset, nan)
    refuse_train(capsys, tmp_path, cache, "--robust-teacher", teacher, culprits=(*culprits, str(teacher)))


def test_teachers_trains_no_robust_teacher_with_a_meaningless_threat_model(tmp_path, cache, capsys) -> None:
    for args, culprit in ((["--eps", "0"], "madry teacher.eps"), (["--eps", "2"], "madry teacher.eps"),
                          (["--eps", "4/255", "--eps-step", "8/255"], "madry teacher.eps_step")):
        assert_refused(run_cli(capsys, "teachers", "--kind", "madry", "--model", "test_resnet", "--cache-dir", cache,
                               *args), culprit)
    assert not cache.exists()


def test_teachers_refuses_an_out_holding_another_teacher(tmp_path, cache, capsys) -> None:
    teacher = saved_teacher(tmp_path / "other", "digits")
    before = fingerprint(tmp_path)
    assert_refused(run_cli(capsys, "teachers", "--model", "test_resnet", "--epochs", "1", "--cache-dir", cache,
                           "--out", tmp_path / "other"), f"--out {teacher}", "another teacher", "--overwrite")
    assert fingerprint(tmp_path) == before and not cache.exists()


def test_the_teacher_cache_key_counts_the_classes() -> None:
    from art_bmtad.data.datasets import load_dataset
    from art_bmtad.pipeline.teacher_prep import teacher_cache_key
    from art_bmtad.recipes.teacher_config import TeacherConfig

    data = load_dataset("digits", n_train=100)
    more_classes = type(data)(**{**vars(data), "class_names": (*data.class_names, "10", "11", "12")})
    assert teacher_cache_key(TeacherConfig(), data) != teacher_cache_key(TeacherConfig(), more_classes)


# ----------------------------------------------------------------------------- eval
def test_eval_checks_its_out_before_evaluating(tmp_path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    assert_refused(run_cli(capsys, "eval", "--model", tmp_path / "missing", "--out", tmp_path / "file" / "r.json"),
                   "is a file, not a folder")


def test_eval_keeps_an_existing_out_unless_overwrite(tmp_path, capsys) -> None:
    (tmp_path / "report.json").write_text("{}")
    assert_refused(run_cli(capsys, "eval", "--model", tmp_path / "missing", "--out", tmp_path / "report.json"),
                   f"--out {tmp_path / 'report.json'} already exists", "--overwrite")
    assert (tmp_path / "report.json").read_text() == "{}"


def test_eval_checks_the_model_against_the_data(tmp_path, capsys) -> None:
    model = saved_teacher(tmp_path / "cifar_model", "cifar10")
    assert_refused(run_cli(capsys, "eval", "--model", model, "--data", "digits", "--attacks", "fgsm"),
                   f"--model {model} takes inputs of shape (3, 32, 32)", "(1, 8, 8)")


def test_eval_of_a_pth_without_sidecar_names_it(tmp_path, capsys) -> None:
    (tmp_path / "x.pth").write_bytes(b"weights")
    assert_refused(run_cli(capsys, "eval", "--model", tmp_path / "x.pth"), "x.pth")


def test_printed_commands_are_shell_quoted(tmp_path) -> None:
    words = shlex.split(eval_command(tmp_path / "run A"))
    assert words == ["art-bmtad", "eval", "--model", str(tmp_path / "run A")]  # eval reads the rest from the run


# ----------------------------------------------------------------------------- 4. no traceback for users' mistakes
@pytest.mark.parametrize("error, shown", [
    (FloatingPointError("NaN/Inf at step 5 (epoch 1)"), "NaN/Inf at step 5"),
    (OSError(28, "No space left on device", "/runs/a/config.yaml"), "/runs/a/config.yaml: No space left on device"),
    (PermissionError(13, "Permission denied", "/runs/b"), "/runs/b: Permission denied"),
])
def test_environment_failures_are_one_message(error, shown, monkeypatch, capsys) -> None:
    monkeypatch.setattr("art_bmtad.commands.report.run", lambda args: (_ for _ in ()).throw(error))
    assert_refused(run_cli(capsys, "report", "anywhere"), shown)


def test_debug_shows_the_traceback_of_a_user_error(tmp_path, capsys) -> None:
    capsys.readouterr()
    assert cli.main(["--debug", "train", *SMOKE, "--out", str(tmp_path / "r"), "--set", "threat.eps=.inf"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "error: threat.eps: expected a finite number" in err


def test_internal_errors_keep_the_traceback_and_ask_for_a_report(monkeypatch, capsys) -> None:
    monkeypatch.setattr("art_bmtad.commands.report.run", lambda args: {}["num_classes"])
    code, _, err = run_cli(capsys, "report", "anywhere")
    assert code == 1 and "Traceback" in err and "KeyError" in err and "please report it" in err


# ----------------------------------------------------------------------------- 5. plugins
@pytest.mark.parametrize("raised", ["SystemExit(3)", "KeyboardInterrupt()", "RuntimeError('boom')"])
def test_a_plugin_raising_anything_at_import_is_skipped(raised, site_dir, capsys) -> None:  # noqa: F811
    install_module_plugin(site_dir, "art-bmtad-hostile", f"raise {raised}\n", name="hostile")
    with pytest.warns(PluginWarning, match=rf"skipping plugin 'hostile' \(art-bmtad-hostile 0\.0\.1\): "
                                           rf"{raised.split('(')[0]}"):
        assert "bmtard" in list_defences()


def test_a_non_callable_factory_is_refused_at_registration(site_dir) -> None:  # noqa: F811
    source = """
        from art_bmtad import hookimpl

        @hookimpl
        def art_bmtad_register_defences(register):
            register("not-a-factory", 42)
    """
    install_module_plugin(site_dir, "art-bmtad-sloppy", source)
    with pytest.warns(PluginWarning, match=r"'plugin' \(art-bmtad-sloppy 0\.0\.1\) registers defence 'not-a-factory' "
                                           r"with a int, which is not callable; refused"):
        assert "not-a-factory" not in list_defences()


# ----------------------------------------------------------------------------- 6. report reads only its folder
def bench_results(run: Path, **defence: object) -> Path:
    entry = {"name": "bmtard", "accuracy": {"clean": 0.9}, "sanity_passed": True, "selected_epoch": 1,
             "train_seconds": 1.0, "seconds_per_epoch": 1.0, "notes": [], "history": "bmtard/history.json",
             "checkpoint": "bmtard/student.safetensors", **defence}
    results = {"format": "art-bmtad-bench/1", "config": {}, "environment": {}, "teachers": [],
               "evaluation": {"labels": {"clean": "Clean"}}, "defences": [entry]}
    run.mkdir()
    (run / "results.json").write_text(json.dumps(results))
    return run


@pytest.mark.parametrize("defence, culprits", [
    ({"history": "../../secret/history.json"}, ("defences[0].history", "outside the run folder")),
    ({"history": "/etc/passwd"}, ("defences[0].history", "outside the run folder")),
    ({"accuracy": {"clean": "high"}}, ("defences[0].accuracy.clean", "a number")),
    ({"selected_epoch": "first"}, ("defences[0].selected_epoch", "int")),
    ({}, ("a field is missing or malformed", "KeyError")),
])
def test_report_validates_results_and_reads_nothing_outside(defence, culprits, tmp_path, capsys) -> None:
    run = bench_results(tmp_path / "run", **defence)
    assert_refused(run_cli(capsys, "report", run), str(run / "results.json"), *culprits)
    assert sorted(p.name for p in run.iterdir()) == ["results.json"]
