"""W-Robust, the mean of clean and robust accuracy, and its column in the benchmark's table."""
from __future__ import annotations

import pytest

from art_bmtad.benchmark import render
from art_bmtad.evaluation.weighted_robust import robust_metric, w_robust, w_robust_label


def test_autoattack_is_preferred_and_pgd_is_the_fallback():
    assert robust_metric(["clean", "fgsm", "pgd20", "cw", "autoattack"]) == "autoattack"
    assert robust_metric(["clean", "pgd20"]) == "pgd20"
    assert robust_metric(["clean", "fgsm"]) is None
    assert w_robust({"clean": 0.60, "pgd20": 0.30, "autoattack": 0.25}, "autoattack") == pytest.approx(0.425)
    assert w_robust({"clean": 0.60, "pgd20": 0.30}, "pgd20") == pytest.approx(0.45)
    assert w_robust({"clean": 0.60}, "autoattack") is None  # a clean teacher's row
    assert w_robust({"clean": 0.60}, None) is None
    assert w_robust_label("autoattack") == "W-Robust (clean + AutoAttack) / 2"
    assert w_robust_label("pgd20") == "W-Robust (clean + PGD-20) / 2"


def _defence(name: str, accuracy: dict[str, float]) -> dict:
    return {"name": name, "accuracy": accuracy, "selected_epoch": 3, "train_seconds": 12.0,
            "seconds_per_epoch": 4.0, "peak_memory_mib": 100.0, "sanity_passed": True, "notes": []}


def test_the_benchmark_table_has_a_w_robust_column_naming_its_metric():
    results = {
        "teachers": [{"role": "clean", "model": "resnet10t", "kind": "clean", "accuracy": {"clean": 0.8},
                      "prepare_seconds": 1.0, "source": "cache", "mean_entropy": 0.5}],
        "defences": [_defence("bmtard", {"clean": 0.62, "pgd20": 0.31, "autoattack": 0.28, "worst_case": 0.28}),
                     _defence("art-trades", {"clean": 0.50, "pgd20": 0.35, "autoattack": 0.30, "worst_case": 0.3})],
    }
    columns = [("clean", "Clean"), ("pgd20", "PGD-20"), ("autoattack", "AutoAttack")]
    lines = render._table(results, columns).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:5] == ["Model", "Clean", "PGD-20", "AutoAttack", "W-Robust (clean + AutoAttack) / 2"]
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]}
    assert rows["**bmtard**"][4] == "45.0"  # (62 + 28) / 2
    assert rows["**art-trades**"][4] == "40.0"  # (50 + 30) / 2
    assert rows["teacher: clean (`resnet10t`, clean)"][4] == "–"  # no robust accuracy
    pgd_only = render._table(results, columns[:2]).splitlines()
    assert "W-Robust (clean + PGD-20) / 2" in pgd_only[0]
    assert "| 46.5 |" in pgd_only[2 + 1]  # bmtard: (62 + 31) / 2


def test_the_evaluation_report_states_w_robust_under_its_attack_table():
    from art_bmtad.evaluation.report import _w_robust_line

    with_autoattack = _w_robust_line({"clean": 0.6, "pgd20": 0.3, "autoattack": 0.25})
    assert with_autoattack == "W-Robust (clean + AutoAttack) / 2: 42.50%"
    assert _w_robust_line({"clean": 0.6, "fgsm": 0.4, "pgd20": 0.3}) == "W-Robust (clean + PGD-20) / 2: 45.00%"
    assert _w_robust_line({"clean": 0.6, "fgsm": 0.4}) == ""  # no robust metric W-Robust can use: no line


def test_the_tuning_trials_table_has_the_validation_w_robust():
    optuna = pytest.importorskip("optuna")
    from types import SimpleNamespace

    from art_bmtad.tuning.report import _rows

    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(value=0.45, params={}, distributions={},
                                              user_attrs={"val_clean_acc": 0.6, "val_pgd_acc": 0.3, "values": {}}))
    objective = SimpleNamespace(score=lambda clean, robust: 0.7 * clean + 0.3 * robust)
    settings = SimpleNamespace(space=[], objective=objective)
    row = _rows(study, settings)[0]
    assert row["val_w_robust"] == pytest.approx(0.45)  # (60 + 30) / 2, whatever the objective's weights
    assert row["score"] == pytest.approx(0.51)


def test_results_json_records_each_defences_w_robust_and_its_metric():
    from types import SimpleNamespace

    from art_bmtad.benchmark.results import defence_entry

    results = {name: SimpleNamespace(accuracy=value) for name, value in
               (("clean", 0.7), ("pgd20", 0.4), ("autoattack", 0.36))}
    report = SimpleNamespace(results=results, worst_case_accuracy=0.36, failed_checks=[], to_dict=lambda: {})
    entry = defence_entry("bmtard", report, {}, {}, 1.0)
    assert entry["w_robust"] == {"metric": "autoattack", "value": pytest.approx(0.53)}
