"""End to end on scikit-learn's digits: the quick start's B-MTARD student is far more robust than a plainly
trained one and keeps its clean accuracy within a stated margin."""
import importlib.util
from pathlib import Path

import pytest

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
CLEAN_MARGIN = 0.03  # B-MTARD may lose at most 3 points of clean accuracy against the plain student
ROBUST_GAIN = 0.30  # and must gain at least 30 points of PGD-20 accuracy


def load_quickstart():
    spec = importlib.util.spec_from_file_location("quickstart", QUICKSTART)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_bmtard_student_beats_plain_student_on_digits():
    result = load_quickstart().run(epochs=15, verbose=False)
    plain_clean, plain_pgd = result["accuracy"]["plain student"]
    student_clean, student_pgd = result["accuracy"]["B-MTARD student"]
    assert student_pgd >= plain_pgd + ROBUST_GAIN
    assert student_clean >= plain_clean - CLEAN_MARGIN
    last = result["history"].epochs[-1]
    assert 0.0 < last["weight/robust"] < 1.0 and last["temperature/clean"] >= 1.0


def test_quickstart_runs_on_tiny_data():
    result = load_quickstart().run(epochs=1, n_train=128, verbose=False)
    assert set(result["accuracy"]) == {"plain student", "clean teacher (4x wider)", "robust teacher (4x wider)",
                                       "B-MTARD student"}
    for clean, robust in result["accuracy"].values():
        assert 0.0 <= robust <= 1.0 and 0.0 <= clean <= 1.0
