"""``export --format timm``: a timm model folder that timm loads offline and that gives the student's logits, its
model card with the run's evaluation numbers, and the refusals (a student timm cannot rebuild, occupied folders)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from art_bmtad import cli
from art_bmtad.deploy.model_card import find_evaluation
from art_bmtad.deploy.timm_folder import NotATimmModelError, export_timm_folder, timm_architecture
from art_bmtad.models.classifier import create_classifier
from art_bmtad.models.classifier_files import load_classifier, save_classifier
from art_bmtad.models.spec import ModelSpec
from art_bmtad.recipes.recipe import load_recipe, write_recipe

timm = pytest.importorskip("timm")
pytestmark = pytest.mark.usefixtures("one_thread")

DIGITS = load_digits()


def train_timm_run(run: Path, **model_options) -> Path:
    """A digits run folder: a timm test_resnet student trained for one epoch, saved as a B-MTARD run would be."""
    torch.manual_seed(0)
    classifier = create_classifier("timm/test_resnet", dataset="digits", device="cpu", **model_options)
    x, y = (DIGITS.images / 16.0).astype(np.float32)[:256, None], DIGITS.target[:256].astype(np.int64)
    classifier.fit(x, y, nb_epochs=1, batch_size=64)
    classifier.model.eval()
    save_classifier(classifier, run / "student", defence="bmtard", selected_epoch=1)
    write_recipe(load_recipe("smoke"), run / "config.yaml")
    return run


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run, evaluated by ``art-bmtad eval`` (clean and PGD-20 on 20 test images) into ``robustness.json``."""
    run = train_timm_run(tmp_path_factory.mktemp("timm") / "run")
    assert cli.main(["--quiet", "eval", "--model", str(run), "--attacks", "clean,pgd20", "--n-examples", "20",
                     "--no-sanity-checks", "--out", str(run / "robustness.json")]) == 0
    return run


@pytest.fixture(scope="module")
def timm_folder(evaluated_run: Path) -> Path:
    out = evaluated_run.parent / "hub" / "student"
    assert cli.main(["--quiet", "export", str(evaluated_run), "--format", "timm", "--out", str(out),
                     "--n-verify", "32"]) == 0
    return out


def test_timm_loads_the_folder_offline_and_its_pipeline_gives_the_students_logits(evaluated_run, timm_folder):
    assert sorted(path.name for path in timm_folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    model = timm.create_model(f"local-dir:{timm_folder}", pretrained=True).eval()
    student = load_classifier(evaluated_run / "student.safetensors", device="cpu")
    # test images as a user has them (8-bit), through timm's own evaluation transform from the folder's config
    pixels = np.round(DIGITS.images[1500:1564] / 16.0 * 255).astype(np.uint8)
    transform = timm.data.create_transform(**timm.data.resolve_model_data_config(model), is_training=False)
    with torch.no_grad():
        logits = model(torch.stack([transform(Image.fromarray(image)) for image in pixels])).numpy()
    expected = student.predict((pixels.astype(np.float32) / 255)[:, None], batch_size=64)
    np.testing.assert_array_equal(logits, expected)  # the same numbers, not just close ones


def test_config_carries_the_students_normalisation_input_size_and_labels(evaluated_run, timm_folder):
    config = json.loads((timm_folder / "config.json").read_text())
    spec = load_classifier(evaluated_run / "student.safetensors", device="cpu").model.art_bmtad_spec
    assert config["architecture"] == "test_resnet" and config["num_classes"] == 10
    assert config["model_args"] == {"in_chans": 1}
    cfg = config["pretrained_cfg"]
    assert cfg["mean"] == list(spec.mean) == [0.3053] and cfg["std"] == list(spec.std) == [0.376]
    assert cfg["input_size"] == [1, 8, 8] and cfg["crop_pct"] == 1.0
    assert cfg["label_names"] == [str(digit) for digit in range(10)]
    assert "hf_hub_id" not in cfg and "license" not in cfg  # timm's published weights are not these
    model = timm.create_model(f"local-dir:{timm_folder}", pretrained=True)
    assert model.pretrained_cfg["label_names"] == cfg["label_names"]


def test_model_card_holds_the_runs_numbers_recipe_teachers_and_citation(evaluated_run, timm_folder):
    card = (timm_folder / "README.md").read_text()
    report = json.loads((evaluated_run / "robustness.json").read_text())
    clean, pgd = report["robust_accuracy"]["clean"], report["robust_accuracy"]["pgd20"]
    assert card.startswith("---\nlibrary_name: timm\n")
    assert f"| Clean | {100 * clean:.2f}% |" in card
    assert f"| PGD-20 | {100 * pgd:.2f}% |" in card
    assert f"| W-Robust (clean + PGD-20) / 2 | {50 * (clean + pgd):.2f}% |" in card
    assert "20 test images, Linf eps = 0.1, seed 0; from `robustness.json`" in card  # the smoke recipe's eps
    recipe = load_recipe("smoke")
    assert f"| robust | `timm/{recipe.teachers.robust.model}` | trained by art-bmtad (madry" in card  # zoo names
    assert f"| clean | `timm/{recipe.teachers.clean.model}` | trained by art-bmtad (clean" in card
    assert "Trained against L-inf perturbations of eps = 0.1" in card and "| defence | bmtard |" in card
    assert "arXiv 2306.16170" in card and "Balanced Multi-Teacher Adversarial Distillation" in card
    assert "@article{zhao2024bmtard" in card


def test_card_reads_a_benchmarks_results_and_names_a_reduced_autoattack(tmp_path):
    run = tmp_path / "bench" / "bmtard"
    run.mkdir(parents=True)
    (run / "student.safetensors").touch()
    report = {"threat_model": {"norm": "inf", "eps": 8 / 255, "eps_label": "8/255"}, "n_examples": 100, "seed": 0,
              "autoattack": "standard", "autoattack_backend": "art", "autoattack_budget": "fast",
              "robust_accuracy": {"clean": 0.8, "pgd20": 0.5, "autoattack": 0.4}}
    results = {"defences": [{"name": "plain", "report": {}}, {"name": "bmtard", "report": report}]}
    (tmp_path / "bench" / "results.json").write_text(json.dumps(results))
    evaluation = find_evaluation(run / "student.safetensors")
    assert evaluation is not None and evaluation.report == report
    from art_bmtad.deploy.model_card import _evaluation_section

    section = _evaluation_section(evaluation)
    assert "| AutoAttack (art backend, fast budget) | 40.00% |" in section
    assert "| W-Robust (clean + AutoAttack) / 2 | 60.00% |" in section
    assert "reduced budget" in section


def test_an_existing_folder_is_kept_unless_overwrite_and_foreign_files_always(evaluated_run, timm_folder, capsys):
    config = (timm_folder / "config.json").read_text()
    assert cli.main(["export", str(evaluated_run), "--format", "timm", "--out", str(timm_folder)]) == 2
    assert "already holds a timm export; pass --overwrite" in capsys.readouterr().err
    result = export_timm_folder(evaluated_run, timm_folder, overwrite=True, n_verify=8)
    assert result.max_abs_diff == 0.0 and (timm_folder / "config.json").read_text() == config
    assert not [p for p in timm_folder.parent.iterdir() if p.name.startswith(".")]  # no staging left behind
    foreign = timm_folder.parent / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine")
    assert cli.main(["export", str(evaluated_run), "--format", "timm", "--out", str(foreign), "--overwrite"]) == 2
    assert "not a timm export (todo.txt)" in capsys.readouterr().err
    assert (foreign / "todo.txt").read_text() == "mine"


def test_a_student_timm_cannot_rebuild_is_refused_naming_the_formats_it_can_take(tmp_path, capsys):
    run = train_timm_run(tmp_path / "stem", cifar_stem=True)
    assert cli.main(["export", str(run), "--format", "timm", "--out", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err
    assert "cifar_stem" in message and "--format safetensors, onnx or torchscript instead" in message
    assert not (tmp_path / "out").exists()
    spec = ModelSpec(name="cifar/cifar10_resnet20", num_classes=10, input_shape=(3, 32, 32), mean=(0.5,) * 3,
                     std=(0.25,) * 3)
    with pytest.raises(NotATimmModelError, match="not a timm architecture.*safetensors, onnx or torchscript"):
        timm_architecture(spec, "runs/x")
    with pytest.raises(NotATimmModelError, match="a module without a registry name"):
        timm_architecture(None, "runs/x")


def test_a_timm_without_model_folders_is_named_before_any_work(evaluated_run, tmp_path, monkeypatch, capsys):
    def old_parse_model_name(name):
        raise AssertionError("unknown source")  # how timm releases before local-dir answer

    monkeypatch.setattr(timm.models, "parse_model_name", old_parse_model_name)
    assert cli.main(["export", str(evaluated_run), "--format", "timm", "--out", str(tmp_path / "out")]) == 2
    assert "needs a timm that loads model folders" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
