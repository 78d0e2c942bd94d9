"""The smoke benchmark end to end (shrunk to seconds): results.json, the table, valid PNGs, re-rendering."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from art_bmtad import cli
from art_bmtad.benchmark import read_results, train_defence
from art_bmtad.benchmark.plots import binomial_error
from art_bmtad.pipeline.components import build_student, load_data
from art_bmtad.pipeline.training import AugmentedBatches, build_defence
from art_bmtad.recipes.recipe import DEFAULT_DEFENCES, ConfigError, load_recipe, resolve_options
from art_bmtad.trainers.fbf import cyclic_lr
from tests.conftest import TINY_BENCH as TINY

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def teacher_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One teacher cache for the whole session (the tiny teachers are trained once)."""
    return tmp_path_factory.getbasetemp() / "teacher-cache"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run_dir = tmp_path_factory.mktemp("bench") / "run"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(["--quiet", "bench", "--preset", "smoke", "--out", str(run_dir),
                         "--cache-dir", str(teacher_cache(tmp_path_factory)), *TINY])
    assert code == 0
    return run_dir, stdout.getvalue()


def test_results_hold_every_default_defence_with_accuracies_in_range(smoke_run) -> None:
    results = read_results(smoke_run[0])
    assert [d["name"] for d in results["defences"]] == list(DEFAULT_DEFENCES)
    for defence in results["defences"]:
        assert set(defence["accuracy"]) == {"clean", "fgsm", "pgd20", "cw", "autoattack", "worst_case"}
        assert all(0.0 <= value <= 1.0 for value in defence["accuracy"].values())
        assert defence["train_seconds"] > 0 and defence["seconds_per_epoch"] > 0 and defence["epochs"] == 1
        assert defence["peak_memory_mib"] > 0 and "validation split" in defence["selection"]
        assert (smoke_run[0] / defence["checkpoint"]).is_file() and (smoke_run[0] / defence["history"]).is_file()


def test_results_record_recipe_versions_device_and_the_reduced_autoattack(smoke_run) -> None:
    results = read_results(smoke_run[0])
    assert results["config"]["preset"] == "smoke" and results["config"]["schedule"]["epochs"] == 1
    assert load_recipe(config_file=smoke_run[0] / "config.yaml").to_dict() == results["config"]
    assert set(results["environment"]["versions"]) >= {"torch", "art", "timm", "art_bmtad"}
    assert results["environment"]["device"]["type"] == "cpu" and results["seed"] == 0
    assert any("apgd_steps=3" in item for item in results["evaluation"]["non_standard"])


def test_teachers_have_rows_clean_for_both_and_pgd_for_the_robust_one(smoke_run) -> None:
    teachers = {t["role"]: t for t in read_results(smoke_run[0])["teachers"]}
    assert set(teachers) == {"robust", "clean"}
    assert 0 <= teachers["robust"]["accuracy"]["pgd20"] <= 1 and "pgd20" not in teachers["clean"]["accuracy"]
    assert all(0 <= t["accuracy"]["clean"] <= 1 and t["mean_entropy"] >= 0 for t in teachers.values())
    assert "teacher: robust" in smoke_run[1] and "teacher: clean" in smoke_run[1]


def test_bmtard_history_has_temperatures_and_weights_per_step(smoke_run) -> None:
    bmtard = read_results(smoke_run[0])["defences"][0]
    history = json.loads((smoke_run[0] / bmtard["history"]).read_text())
    for key in ("temperature/robust", "temperature/clean", "weight/robust", "weight/clean"):
        assert len(history["steps"][key]) >= 1


@pytest.mark.parametrize("name", ["tradeoff.png", "bmtard_balance.png"])
def test_plots_are_valid_pngs(smoke_run, name: str) -> None:
    path = smoke_run[0] / name
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width, _ = matplotlib.image.imread(path).shape
    assert height >= 300 and width >= 400


def test_the_table_is_printed_and_report_re_renders_it(smoke_run, capsys) -> None:
    run_dir, printed = smoke_run
    assert printed == (run_dir / "results.md").read_text()
    assert "| Model | Clean | FGSM | PGD-20 |" in printed
    for name in DEFAULT_DEFENCES:
        assert f"**{name}**" in printed
    for name in ("results.md", "tradeoff.png", "bmtard_balance.png"):
        (run_dir / name).unlink()
    assert cli.main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out == printed
    assert (run_dir / "tradeoff.png").read_bytes()[:8] == PNG_SIGNATURE
    assert (run_dir / "bmtard_balance.png").is_file()


def test_report_of_a_folder_without_results_is_an_error(tmp_path, capsys) -> None:
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["plain", "art-fbf"])
def test_art_style_defences_and_fbf_select_their_epoch_on_the_validation_split(name, tmp_path_factory) -> None:
    recipe = load_recipe("smoke", overrides={"data.n_train": 300, "schedule.epochs": 2, "defences": [name],
                                             "teachers.cache_dir": str(teacher_cache(tmp_path_factory))})
    trained = train_defence(name, recipe, load_data(recipe), {}, progress=False)
    assert "validation split" in trained.selection and not trained.notes
    assert len(trained.epoch_seconds) == 2 and trained.train_seconds > 0
    assert 1 <= trained.selected_epoch <= 2 and not trained.classifier.model.training


@pytest.mark.parametrize("name", ["bmtard", "mtard", "rslad", "ard"])
def test_the_recipe_balancing_options_reach_every_distillation_defence(name) -> None:
    recipe = load_recipe("smoke", overrides={"data.n_train": 100, "balancing.kl_scale": 10, "balancing.t_min": 0.5})
    data = load_data(recipe)
    teachers = {role: build_student(recipe, data) for role in ("robust", "clean")}
    trainer = build_defence(name, build_student(recipe, data), recipe, teachers, progress=False)
    assert trainer.kl_scale == 10.0
    if name == "bmtard":
        assert trainer.entropy_balance.t_min == 0.5


def test_results_record_each_defences_options_paper_defaults_augmentation_and_cost(smoke_run) -> None:
    results = read_results(smoke_run[0])
    defences = {d["name"]: d for d in results["defences"]}
    trades = defences["art-trades"]
    assert trades["options"] == {"eps": 0.1, "eps_step": 0.025, "max_iter": 5, "beta": 6.0}
    assert trades["paper_defaults"]["options"] == {"beta": 6.0} and "Zhang" in trades["paper_defaults"]["reference"]
    assert defences["bmtard"]["options"]["kl_scale"] == 10.0  # the preset's, over the paper's 1
    assert defences["bmtard"]["paper_defaults"]["options"]["kl_scale"] == 1.0
    assert {d["augmentation"] for d in results["defences"]} == {"none"}
    teachers = sum(t["train_seconds"] for t in results["teachers"])
    cost = defences["bmtard"]["training_cost"]
    assert cost["teacher_seconds"] == pytest.approx(teachers)
    assert cost["total_seconds"] == pytest.approx(defences["bmtard"]["train_seconds"] + teachers)
    assert defences["art-madry-pgd"]["training_cost"]["teacher_seconds"] == 0
    label = results["evaluation"]["labels"]["autoattack"]
    assert label == "AutoAttack (art, APGD 3 steps, 3 targets, Square 10 queries)"
    assert "| Teachers s | Total s |" in smoke_run[1]


def test_defence_options_override_the_paper_defaults_and_unknown_ones_are_refused() -> None:
    recipe = load_recipe("smoke", overrides={"data.n_train": 100, "defence_options": {"art-trades": {"beta": 3.0},
                                                                                      "art-fbf": {"eps_step": 0.05}}})
    data = load_data(recipe)
    assert build_defence("art-trades", build_student(recipe, data), recipe, {}, progress=False)._beta == 3.0
    assert build_defence("art-fbf", build_student(recipe, data), recipe, {}, progress=False).eps_step == 0.05
    assert resolve_options("art-fbf", load_recipe("smoke"))["eps_step"] == pytest.approx(1.25 * 0.1)
    with pytest.raises(ConfigError, match=r"defence_options.art-awp.beta2: not an option of art-awp; allowed: mode"):
        load_recipe("smoke", overrides={"defence_options": {"art-awp": {"beta2": 1}}})


def test_augmented_batches_cover_one_pass_per_epoch_with_one_hot_labels() -> None:
    x = np.random.default_rng(0).random((10, 1, 8, 8), dtype=np.float32)
    batches = AugmentedBatches(x, np.arange(10) % 3, batch_size=4, nb_classes=3, device=torch.device("cpu"))
    sizes = [len(batches.get_batch()[0]) for _ in range(3)]  # ART asks for ceil(10 / 4) = 3 batches per epoch
    assert sizes == [4, 4, 2]
    images, labels = batches.get_batch()
    assert images.shape == (4, 1, 8, 8) and labels.shape == (4, 3) and (labels.sum(axis=1) == 1).all()


def test_fbf_cyclic_rate_and_the_same_augmentation_reach_art_trainers(tmp_path_factory) -> None:
    assert [cyclic_lr(t, 5) for t in (0, 1, 2, 3.5, 5)] == pytest.approx([0, 0.105, 0.21, 0.105, 0])
    recipe = load_recipe("smoke", overrides={"data.n_train": 200, "schedule.epochs": 1, "schedule.augment": True,
                                             "teachers.cache_dir": str(teacher_cache(tmp_path_factory))})
    trained = train_defence("art-fbf", recipe, load_data(recipe), {}, progress=False)
    assert trained.augmentation.startswith("random crop") and trained.summary()["augmentation"] == trained.augmentation


def test_binomial_error_bars() -> None:
    assert binomial_error(0.5, 100) == pytest.approx(0.05) and binomial_error(1.0, 100) == 0.0
