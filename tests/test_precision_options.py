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
