"""benchmarks/study_cifar10.py: the sizing rule, the commands it runs, resuming, the strength check, the table with
seeds and W-Robust, the balance plots; and (slow) a tiny dry run of every stage on CIFAR-shaped data."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


study = _load("study_cifar10")


def test_the_default_size_lets_the_temperatures_move_by_one():
    sizing = study.Sizing()
    assert sizing.steps_per_epoch == 200  # (3,700 - 500) / 16
    assert sizing.steps == 1200
    assert sizing.rate_weighted_steps == pytest.approx(1020)  # 5 epochs at the full rate, 1 at a tenth
    assert study.ETA_TAU * sizing.rate_weighted_steps >= 1
    study.check_sizing(sizing, tiny=False)
    with pytest.raises(SystemExit, match=r"440 steps per student \(404 rate-weighted\) let a temperature move by at "
                                         r"most 0.40"):
        study.check_sizing(study.Sizing(epochs=11, milestones=(10,), batch_size=80), tiny=False)
    with pytest.raises(SystemExit, match="at least 1,000 test images"):
        study.check_sizing(study.Sizing(n_examples=500), tiny=False)
    study.check_sizing(study.TINY, tiny=True)


def test_the_data_path_has_no_default(monkeypatch):
    monkeypatch.delenv("DATA", raising=False)
    with pytest.raises(SystemExit, match="name the CIFAR-10 data with --data PATH or DATA=PATH"):
        study.make_study(study.parse_args([]))
    monkeypatch.setenv("DATA", "/somewhere/cifar10.npz")
    assert study.make_study(study.parse_args(["--plan"])).data == Path("/somewhere/cifar10.npz")


def _study(tmp_path: Path, **kwargs) -> "study.Study":
    return study.Study(out=tmp_path / "study", data=tmp_path / "cifar10.npz", sizing=study.Sizing(), seeds=(0, 1),
                       rows=study.ROWS, executable=("art-bmtad",), **kwargs)


def test_every_row_trains_at_the_same_budget_from_the_same_teachers(tmp_path):
    s = _study(tmp_path)
    commands = {(row.key, seed): s.train_command(row, seed, resume=False, overwrite=False)
                for row in s.rows for seed in s.seeds}
    assert len(commands) == 14
    for (key, seed), command in commands.items():
        text = " ".join(command)
        assert "--epochs 6 --batch-size 16" in text and f"--seed {seed}" in text
        assert "--n-train 3700 --val-size 500" in text
        distils = key not in ("madry", "trades")  # ART's own trainers take no teacher, and train beside them
        assert (f"--robust-teacher {s.teacher_file('robust')}" in text) is distils
        assert "schedule.milestones=[5]" in text and "schedule.lr=0.05" in text and "balancing.kl_scale=10.0" in text
        assert "schedule.select_by=null" in text  # the last epoch's student: no per-epoch validation to pay for
    assert "balancing.loss_balance=false" in " ".join(commands[("bmtard-ebb-only", 0)])
    assert "balancing.entropy_balance=false" in " ".join(commands[("bmtard-nlb-only", 1)])
    assert "--defence art-madry-pgd" in " ".join(commands[("madry", 0)])
    robust = " ".join(s.teacher_command("robust"))
    assert "--kind madry --epochs 5 --max-iter 5 --milestones 4 --batch-size 64 --seed 0" in robust
    assert "--n-train 30500 --val-size 500" in robust  # more images than the students see: no robust overfitting
    assert "--n-train 3700 --val-size 500" in " ".join(s.teacher_command("clean"))
    evaluation = s.eval_command(s.run_dir(s.rows[0], 0))
    assert evaluation[evaluation.index("--n-examples") + 1] == "1000"
    assert "--autoattack-backend reference --autoattack-budget 10 --no-sanity-checks" in " ".join(evaluation)
    assert "--data" not in evaluation  # a run folder knows its data
    teacher_eval = s.eval_command(s.teacher_file("clean"))
    assert teacher_eval[teacher_eval.index("--data-path") + 1] == str(tmp_path / "cifar10.npz")
    assert s.report(s.teacher_file("clean")) == tmp_path / "study" / "teachers" / "clean.robustness.json"


def test_finished_stages_are_skipped_and_a_killed_student_resumes(tmp_path):
    s = _study(tmp_path)
    ran = []
    s.run_stage = lambda name, command: ran.append((name, command))
    row = s.rows[0]
    s.train(row, 0)
    assert "--out" in ran[-1][1] and "--overwrite" not in ran[-1][1]
    run_dir = s.run_dir(row, 0)
    (run_dir / "checkpoints").mkdir(parents=True)
    s.train(row, 0)
    assert "--out" in ran[-1][1] and "--overwrite" in ran[-1][1]  # an empty started folder is replaced
    (run_dir / "checkpoints" / "epoch_3.pt").write_bytes(b"x")
    s.train(row, 0)
    assert ran[-1][1][:3] == ["art-bmtad", "train", "--resume"]
    (run_dir / "student.safetensors").write_bytes(b"x")
    count = len(ran)
    s.train(row, 0)
    (run_dir / "robustness.json").write_text("{}")
    s.evaluate(run_dir, "x")
    assert len(ran) == count


def test_the_strength_check_needs_five_points_of_autoattack_and_ten_of_clean_accuracy():
    madry = [{"clean": 0.40, "autoattack": 0.20}, {"clean": 0.42, "autoattack": 0.22}]
    passed, lines = study.strength_check({"clean": 0.45, "autoattack": 0.26}, {"clean": 0.51}, madry)
    assert passed
    assert "+5.0 points, needs +5: passed" in lines[0] and "+10.0 points, needs +10: passed" in lines[1]
    passed, lines = study.strength_check({"clean": 0.45, "autoattack": 0.25}, {"clean": 0.60}, madry)
    assert not passed and "+4.0 points, needs +5: FAILED" in lines[0]


def _write_run(run_dir: Path, accuracy: dict[str, float], temperatures: list[float] | None = None) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "robustness.json").write_text(json.dumps({"robust_accuracy": accuracy, "n_examples": 1000}))
    if temperatures is not None:
        steps = {"temperature/robust": [1.0] * len(temperatures), "temperature/clean": temperatures,
                 "weight/robust": [0.5 + 0.1 * i / len(temperatures) for i in range(len(temperatures))],
                 "weight/clean": [0.5 - 0.1 * i / len(temperatures) for i in range(len(temperatures))],
                 "loss": [1.0] * len(temperatures)}
        (run_dir / "history.json").write_text(json.dumps({"steps": steps, "epochs": [{}], "meta": {}}))


def test_the_table_gives_mean_and_spread_over_seeds_with_w_robust_and_the_balance(tmp_path):
    s = _study(tmp_path)
    for role, accuracy in (("robust", {"clean": 0.45, "pgd20": 0.30, "autoattack": 0.27}), ("clean", {"clean": 0.6})):
        s.report(s.teacher_file(role)).parent.mkdir(parents=True, exist_ok=True)
        s.report(s.teacher_file(role)).write_text(json.dumps({"robust_accuracy": accuracy}))
    rows = {row.key: row for row in s.rows}
    _write_run(s.run_dir(rows["madry"], 0), {"clean": 0.40, "pgd20": 0.25, "autoattack": 0.20})
    _write_run(s.run_dir(rows["madry"], 1), {"clean": 0.44, "pgd20": 0.27, "autoattack": 0.22})
    _write_run(s.run_dir(rows["bmtard"], 0), {"clean": 0.50, "pgd20": 0.24, "autoattack": 0.18},
               [1.0, 1.2, 1.4])
    _write_run(s.run_dir(rows["bmtard"], 1), {"clean": 0.54, "pgd20": 0.26, "autoattack": 0.20},
               [1.0, 1.1, 1.3])
    results = study.write_outputs(s)
    bmtard = next(row for row in results["rows"] if row["key"] == "bmtard")
    assert bmtard["summary"]["w_robust"]["mean"] == pytest.approx(0.355)  # ((50+18)/2 + (54+20)/2) / 2
    assert bmtard["summary"]["clean"]["sd"] == pytest.approx(math.sqrt(2) * 0.02)
    assert results["strength"]["passed"] is True  # 27 vs 21 AutoAttack, 60 vs 42 clean
    table = (s.out / "study.md").read_text()
    assert "| B-MTARD | 52.0 ± 2.8 | 25.0 ± 1.4 | 19.0 ± 1.4 | 35.5 ± 2.1 | 2 |" in table
    assert "τ clean 1.00 → 1.40, 1.30" in table and "w robust 0.50 → 0.57, 0.57" in table
    assert "| MTARD | not finished | not finished | not finished | not finished | 0 | – |" in table
    assert "| teacher: robust | 45.0 | 30.0 | 27.0 | 36.0 |" in table
    assert "Strength check (passed)" in table
    for plot in ("balance.png", "tradeoff.png"):
        assert (s.out / plot).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_a_tiny_dry_run_passes_every_stage(tmp_path):
    """Teachers, Madry students, their evaluation, the strength check, the B-MTARD students (both ablations) and
    the table, at a toy size on random CIFAR-shaped images (a few minutes on a CPU)."""
    rng = np.random.default_rng(0)
    data = tmp_path / "cifar10.npz"
    np.savez(data, x_train=rng.integers(0, 256, (400, 32, 32, 3), dtype=np.uint8), y_train=np.arange(400) % 10,
             x_test=rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8), y_test=np.arange(100) % 10)
    env_before = os.environ.get("DATA")
    study.main(["--tiny", "--data", str(data), "--out", str(tmp_path / "study"), "--seeds", "0",
                "--rows", "madry,bmtard-ebb-only,bmtard-nlb-only", "--jobs", "2"])
    assert os.environ.get("DATA") == env_before
    results = json.loads((tmp_path / "study" / "study.json").read_text())
    assert all(row["per_seed"] for row in results["rows"])
    balance = {row["key"]: row["balance"][0] for row in results["rows"]}
    assert {value["last"] for key, value in balance["bmtard-ebb-only"].items() if key.startswith("weight/")} == {0.5}
    assert {value["last"] for key, value in balance["bmtard-nlb-only"].items()
            if key.startswith("temperature/")} == {1.0}
    assert (tmp_path / "study" / "balance.png").is_file()


def test_jobs_run_independent_stages_at_once_and_share_out_the_threads(tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(study.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert "--threads" not in _study(tmp_path).train_command(study.ROWS[0], 0, resume=False, overwrite=False)
    s = _study(tmp_path, jobs=2)
    command = s.train_command(study.ROWS[0], 0, resume=False, overwrite=False)
    assert command[command.index("--threads") + 1] == "2"  # 4 CPUs, 2 stages at once
    assert _study(tmp_path, jobs=2, threads=3).device_options() == ["--threads", "3"]
    both_started = threading.Barrier(2, timeout=10)  # only passes when two stages run at the same time
    s.run_all([both_started.wait, both_started.wait])
    ran = []

    def fails():
        raise SystemExit("study: stage x failed")

    with pytest.raises(SystemExit, match="stage x failed"):
        _study(tmp_path, jobs=1).run_all([lambda: ran.append(1), fails, lambda: ran.append(3)])
    assert ran == [1]  # one at a time: nothing after the failure
    with pytest.raises(SystemExit, match="--jobs 0: give at least 1"):
        study.make_study(study.parse_args(["--data", str(tmp_path / "c.npz"), "--jobs", "0"]))
