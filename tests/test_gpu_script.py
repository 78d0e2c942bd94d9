"""The GPU evidence script: its data coding, its epoch sizing, and its CPU dry run (every stage at tiny sizes)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_evidence.py"
sys.path.insert(0, str(SCRIPT.parent))
import gpu_evidence  # noqa: E402


def test_delta_coding_round_trips_uint8_images():
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    coded = gpu_evidence.delta_encode(images)
    assert coded.dtype == np.uint8 and not np.array_equal(coded, images)
    assert np.array_equal(gpu_evidence.delta_decode(coded), images)


def test_epochs_are_sized_to_fit_the_time_left():
    costs = {"a": 1.0, "b": 1.5}  # 10 s per unit: one epoch of both is 25 s
    assert gpu_evidence.plan_epochs(100.0, 10.0, costs) == 4
    assert gpu_evidence.plan_epochs(10.0, 10.0, costs) == 1  # at least one
    assert gpu_evidence.plan_epochs(1e6, 10.0, costs, maximum=30) == 30


@pytest.mark.slow
def test_prepare_then_dry_run_writes_every_stage(tmp_path):
    rng = np.random.default_rng(0)
    source = tmp_path / "cifar.npz"
    np.savez(source, x_train=rng.integers(0, 256, (80, 32, 32, 3), dtype=np.uint8), y_train=np.arange(80) % 10,
             x_test=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), y_test=np.arange(40) % 10)
    carry, out = tmp_path / "carry", tmp_path / "out"
    run = [sys.executable, str(SCRIPT)]
    prepared = subprocess.run([*run, "prepare", "--data", str(source), "--n-train", "64", "--n-test", "32",
                               "--carry-dir", str(carry)], capture_output=True, text=True, timeout=300)
    assert prepared.returncode == 0, prepared.stderr
    info = json.loads(prepared.stdout)
    assert (info["n_train"], info["n_test"]) == (64, 32)
    assert {"art", "dill", "multiprocess"} <= set(info["carried"])
    assert any(name.startswith("art_bmtad-") for name in info["carried"])
    with np.load(carry / "data" / gpu_evidence.DATA_FILE) as data:
        assert np.array_equal(gpu_evidence.delta_decode(data["x_train"]), np.load(source)["x_train"][:64])

    done = subprocess.run([*run, "run", "--dry-run", "--carry-dir", str(carry), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    stages = summary["stages"]
    assert not [name for name, values in stages.items() if "error" in values], stages
    assert stages["check"]["ok"]
    assert [(r["batch"], r["bf16"]) for r in stages["throughput"]["rows"]] == [(16, False), (16, True)]
    assert {d["name"] for d in stages["evidence"]["defences"]} == {"bmtard", "rslad", "art-madry-pgd", "art-trades"}
    assert stages["evidence_plan"]["n_train"] + stages["evidence_plan"]["n_val"] == 64
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and {"summary.json", "results.json", "results.md", "throughput.md"} <= set(files)
    assert len(json.loads((out / "results.json").read_text())["defences"]) == 4
