"""``eval --robustbench-json``: RobustBench's model-info JSON, written from a standard reference AutoAttack evaluation
of the whole test split, and refused before any attack runs for anything else."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import art_bmtad.evaluation
from art_bmtad import cli
from art_bmtad.evaluation.robustbench import check_robustbench_request
from art_bmtad.evaluation.settings import BUDGETS
from tests.test_timm_export import train_timm_run

pytestmark = pytest.mark.usefixtures("one_thread")

ENTRY_FIELDS = {"link", "name", "authors", "additional_data", "number_forward_passes", "dataset", "venue",
                "architecture", "eps", "clean_acc", "reported", "autoattack_acc", "footnote", "unreliable"}
"""The fields of RobustBench's model_info/<dataset>/<threat model>/<Name>.json files."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_timm_run(tmp_path_factory.mktemp("robustbench") / "run")


def _eval(run: Path, out: Path, *options: str) -> int:
    return cli.main(["--quiet", "eval", "--model", str(run), "--n-test", "24", "--no-sanity-checks",
                     "--robustbench-json", str(out), *options])


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (["--autoattack-backend", "art"], "the art backend assembles AutoAttack from ART's attacks without FAB-T"),
        (["--autoattack-backend", "reference", "--autoattack-budget", "fast"],
         "this one is reduced (apgd_steps=10 (standard 100)"),
        (["--autoattack-backend", "reference", "--autoattack-budget", "50"], "this one is reduced (apgd_steps=50"),
        (["--autoattack-backend", "reference", "--attacks", "clean,pgd20"], "include autoattack in --attacks"),
        (["--autoattack-backend", "reference", "--split", "val"], "drop --split val"),
        (["--autoattack-backend", "reference", "--n-examples", "10"], "--n-examples 10 leaves 14 of its 24 images"),
    ],
)
def test_anything_but_a_standard_reference_evaluation_is_refused_before_any_attack(run, tmp_path, monkeypatch,
                                                                                     capsys, options, reason):
    def no_attack(*args, **kwargs):
        raise AssertionError("an attack ran before the refusal")

    monkeypatch.setattr(art_bmtad.evaluation, "evaluate_robustness", no_attack)
    out = tmp_path / "entry.json"
    assert _eval(run, out, *options) == 2
    message = capsys.readouterr().err
    assert "--robustbench-json: not written" in message and reason in message
    assert not out.exists()


def test_the_check_accepts_exactly_the_standard_reference_protocol():
    check_robustbench_request(attacks=["clean", "autoattack"], backend="reference", settings=BUDGETS["standard"],
                              split="test")
    with pytest.raises(ValueError, match="exported file gets clean and transfer attacks only"):
        check_robustbench_request(attacks=["clean", "autoattack"], backend="reference", settings=BUDGETS["standard"],
                                  split="test", exported=True)


def test_standard_reference_evaluation_writes_the_leaderboard_entry(run, tmp_path, capsys):
    pytest.importorskip("pyautoattack", reason="the reference AutoAttack needs the 'autoattack' extra")
    out, report_file = tmp_path / "entry.json", tmp_path / "report.json"
    # eps 0.3 on digits: APGD-CE breaks the tiny student at once, so the standard budget costs little here
    assert _eval(run, out, "--attacks", "clean,autoattack", "--autoattack-backend", "reference", "--eps", "0.3",
                 "--out", str(report_file)) == 0
    assert "submit it as model_info/digits/Linf/<Name>.json" in capsys.readouterr().out
    entry, report = json.loads(out.read_text()), json.loads(report_file.read_text())
    assert set(entry) == ENTRY_FIELDS
    assert report["autoattack_backend"] == "reference" and report["autoattack_budget"] == "standard"
    assert report["n_examples"] == 24
    assert entry["clean_acc"] == f"{100 * report['clean_accuracy']:.2f}"
    assert entry["autoattack_acc"] == entry["reported"] == f"{100 * report['robust_accuracy']['autoattack']:.2f}"
    assert entry["dataset"] == "digits" and entry["architecture"] == "test_resnet" and entry["eps"] == "0.3"
    assert entry["number_forward_passes"] == 1 and entry["additional_data"] is False and entry["unreliable"] is False
    assert entry["link"] == "https://arxiv.org/abs/2306.16170" and entry["venue"] == "IEEE TPAMI 2024"
    assert entry["authors"] == "Shiji Zhao, Xizhe Wang, Xingxing Wei"
    footnote = entry["footnote"]
    assert "Trained with bmtard (art-bmtad), distilled from robust teacher timm/test_resnet" in footnote
    assert "standard version) run by art-bmtad on 24 test images" in footnote
    assert "Uses eps = 0.3 instead of 8/255" in footnote and "sanity checks were not run" in footnote
