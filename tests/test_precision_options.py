"""bf16 autocast and channels-last as recipe keys on a CPU, and the bf16 equivalence check's verdict."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from art_bmtad.pipeline.components import build_student, load_data
from art_bmtad.pipeline.training import build_defence
from art_bmtad.recipes.recipe import load_recipe
from tests.conftest import TinyConvNet, make_classifier

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bf16_check = _load("bf16_check")


def test_amp_and_channels_last_reach_the_student_and_the_trainer_and_autocast_is_bf16_on_cpu():
    recipe = load_recipe("smoke", None, ["amp=true", "channels_last=true", "device=cpu"])
    assert recipe.amp and recipe.channels_last
    data = load_data(recipe)
    student = build_student(recipe, data)
    convolutions = [m.weight for m in student.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(w.is_contiguous(memory_format=torch.channels_last) for w in convolutions)
    teachers = {"robust": make_classifier(TinyConvNet()), "clean": make_classifier(TinyConvNet())}
    trainer = build_defence("bmtard", student, recipe, teachers, progress=False)
    assert trainer.amp and trainer.channels_last
    with trainer._autocast():
        logits = torch.nn.Conv2d(1, 2, 3)(torch.rand(2, 1, 8, 8))
    assert logits.dtype == torch.bfloat16  # the CPU's autocast dtype is bf16, not fp16
    assert not load_recipe("smoke").channels_last  # off unless asked


def test_the_verdict_compares_the_mean_paired_difference_with_its_noise():
    same = bf16_check.verdict([0.90, 0.92, 0.91], [0.91, 0.91, 0.92], n_examples=100)
    assert same["mean_difference"] == pytest.approx(1 / 300)
    assert same["noise"] == pytest.approx((0.91 * 0.09 / 100) ** 0.5)  # the binomial floor: seeds agree closely
    assert same["within_noise"]
    worse = bf16_check.verdict([0.90, 0.92, 0.91], [0.70, 0.71, 0.69], n_examples=1000)
    assert worse["mean_difference"] == pytest.approx(-0.21) and not worse["within_noise"]


def _study_json(folder, amp, per_seed, n_examples=1000):
    folder.mkdir()
    sizing = {"n_examples": n_examples, "epochs": 6}
    rows = [{"key": "bmtard", "label": "B-MTARD", "per_seed": per_seed},
            {"key": "madry", "label": "ART Madry", "per_seed": []}]  # not run in one of them: not compared
    (folder / "study.json").write_text(json.dumps({"sizing": sizing, "model": "resnet10t", "steps": 1200,
                                                   "amp": amp, "channels_last": amp, "rows": rows}))
    return folder


def test_two_studies_that_differ_only_in_amp_are_compared_seed_by_seed(tmp_path, capsys):
    fp32 = _study_json(tmp_path / "fp32", False, [
        {"seed": 0, "clean": 0.50, "pgd20": 0.20, "autoattack": 0.15},
        {"seed": 1, "clean": 0.52, "pgd20": 0.22, "autoattack": 0.17}])
    bf16 = _study_json(tmp_path / "bf16", True, [
        {"seed": 1, "clean": 0.53, "pgd20": 0.21, "autoattack": 0.10},  # order on disk does not matter
        {"seed": 0, "clean": 0.51, "pgd20": 0.19, "autoattack": 0.08},
        {"seed": 2, "clean": 0.90, "pgd20": 0.90, "autoattack": 0.90}])  # no fp32 twin: left out
    out = tmp_path / "verdicts.json"
    bf16_check.main(["--compare-studies", str(fp32), str(bf16), "--out", str(out)])
    verdicts = json.loads(out.read_text())["bmtard"]["verdicts"]
    assert json.loads(out.read_text())["bmtard"]["seeds"] == [0, 1]
    assert verdicts["clean"]["mean_difference"] == pytest.approx(0.01) and verdicts["clean"]["within_noise"]
    # AutoAttack: -7 points against a binomial floor of sqrt(0.16 * 0.84 / 1000) = 1.16 points
    assert verdicts["autoattack"]["mean_difference"] == pytest.approx(-0.07)
    assert verdicts["autoattack"]["noise"] == pytest.approx((0.16 * 0.84 / 1000) ** 0.5)
    assert not verdicts["autoattack"]["within_noise"]
    assert "BEYOND noise" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="must be an fp32 study"):
        bf16_check.main(["--compare-studies", str(bf16), str(fp32)])


@pytest.mark.slow
def test_the_bf16_check_runs_at_a_tiny_size_and_reports_divergence(tmp_path, capsys):
    out = tmp_path / "bf16.json"
    bf16_check.main(["--seeds", "0,1", "--set", "schedule.epochs=1", "--set", "evaluation.n_examples=60",
                     "--out", str(out)])
    results = json.loads(out.read_text())["bmtard"]
    assert results["diverged"]["fp32"] == 0  # fp32 trains; bf16 may not (then it says so)
    printed = capsys.readouterr().out
    if results["diverged"]["bf16"]:
        assert "bf16 is not equivalent here" in printed
    else:
        assert set(results["verdicts"]) == {"clean", "pgd20"}
        assert "within noise" in printed or "BEYOND noise" in printed
