"""torch.distributed: a real 2-process gloo run (torchrun, spawned by the test, bounded in time) gives identical
temperatures, weights, history and student on both ranks, and agrees with a 1-process run with the same global
batch. The student has no BatchNorm (per-rank batch statistics would differ from the global batch's) and the
attack has no random start, so the two runs compute the same thing up to floating-point reduction order.

The command line under torchrun: `bench` trains the distillation defences on both ranks and ART's trainers on
rank 0, which alone prints and writes; `train` saves one student from rank 0."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from art_bmtad.benchmark import read_results
from art_bmtad.commands import train as train_command
from art_bmtad.models.classifier_files import load_classifier
from art_bmtad.trainers.training_checkpoints import checkpoint_paths
from art_bmtad.utils import distributed
from tests.conftest import TINY_BENCH
from tests.distributed_worker import summary, train

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300  # a bound against hangs only: on a busy machine two ranks importing torch and ART take a while


def torchrun(*module_and_args: str, timeout_s: int = TIMEOUT_S) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node 2 -m MODULE ARGS...`` on CPU (gloo), bounded in time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", *module_and_args]
    try:
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"the 2-process run {module_and_args} did not finish in {timeout_s} s: {err.stderr}")


def worker(out: Path, mode: str) -> subprocess.CompletedProcess:
    return torchrun("tests.distributed_worker", str(out), mode)


def results(out: Path) -> list[tuple[dict[str, torch.Tensor], dict]]:
    return [(safetensors.torch.load_file(str(out / f"rank{r}.safetensors")),
             json.loads((out / f"rank{r}.json").read_text())) for r in range(2)]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    done = worker(out, "full")
    assert done.returncode == 0, done.stderr[-4000:]
    return out, results(out)


def test_ranks_agree_exactly(two_ranks):
    _, [(weights0, summary0), (weights1, summary1)] = two_ranks
    for key in weights0:
        assert torch.equal(weights0[key], weights1[key]), key
    assert summary0 == summary1  # temperatures, weights, reference losses, full history incl. validation
    steps = summary0["history"]["steps"]
    assert len(steps["loss"]) == 8 and len(set(steps["temperature/robust"] + steps["temperature/clean"])) > 1
    assert summary0["training_samples_seen"] == 2 * 128 * 2 // 2  # two forwards per sample, half the data per rank


def test_only_rank_zero_writes_checkpoints(two_ranks):
    out, _ = two_ranks
    names = [p.name for p in checkpoint_paths(out / "checkpoints")]
    assert names == ["ckpt-000000004.safetensors", "ckpt-000000006.safetensors", "ckpt-000000008.safetensors"]
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]


def test_two_ranks_match_one_process_with_the_same_global_batch(two_ranks):
    _, [(weights, summary_ddp), _] = two_ranks
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train()
    finally:
        torch.set_num_threads(threads)
    for key, value in single.get_classifier().model.state_dict().items():
        assert torch.allclose(value, weights[key], rtol=1e-4, atol=1e-6), key
    expected = summary(single)
    assert expected["training_samples_seen"] == 2 * summary_ddp["training_samples_seen"]
    assert expected["temperatures"] == pytest.approx(summary_ddp["temperatures"], abs=1e-12)
    assert expected["weights"] == pytest.approx(summary_ddp["weights"], rel=1e-5)
    assert expected["reference_losses"] == pytest.approx(summary_ddp["reference_losses"], rel=1e-5)
    for key in ("loss", "weight/robust", "temperature/clean", "entropy/robust", "loss/clean"):
        assert expected["history"]["steps"][key] == pytest.approx(summary_ddp["history"]["steps"][key], rel=1e-5), key


def test_a_crashed_distributed_run_resumes_exactly(two_ranks, tmp_path):
    _, [(weights, summary_full), _] = two_ranks
    crashed = worker(tmp_path, "stop")
    assert crashed.returncode != 0 and "simulated crash" in crashed.stderr
    assert [p.name for p in checkpoint_paths(tmp_path / "checkpoints")][-1] == "ckpt-000000006.safetensors"
    done = worker(tmp_path, "resume")  # same command with resume=True: continues from step 6 (mid-epoch 2)
    assert done.returncode == 0, done.stderr[-4000:]
    for resumed_weights, resumed_summary in results(tmp_path):
        for key in weights:
            assert torch.equal(resumed_weights[key], weights[key]), key
        assert resumed_summary["history"] == summary_full["history"]
        assert resumed_summary["temperatures"] == summary_full["temperatures"]


def test_sigterm_to_torchrun_stops_every_rank_after_the_same_step_saved_and_resumable(two_ranks, tmp_path):
    """torchrun forwards SIGTERM (and Ctrl-C) to every worker: they finish the step, agree, save it together."""
    _, [(weights, summary_full), _] = two_ranks
    stopped = worker(tmp_path, "sigterm")
    assert stopped.returncode != 0 and "SIGTERM; finishing this step, saving a checkpoint" in stopped.stderr
    assert [p.name for p in checkpoint_paths(tmp_path / "checkpoints")][-1] == "ckpt-000000005.safetensors"
    done = worker(tmp_path, "resume")
    assert done.returncode == 0, done.stderr[-4000:]
    for resumed_weights, resumed_summary in results(tmp_path):
        assert all(torch.equal(resumed_weights[key], weights[key]) for key in weights)
        assert resumed_summary["history"] == summary_full["history"]


# ----------------------------------------------------------------------------- the CLI under torchrun
@pytest.mark.slow
def test_bench_under_torchrun_trains_distillation_on_all_ranks_and_the_rest_on_rank_zero(tmp_path):
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    done = torchrun("art_bmtad", "--quiet", "bench", "--preset", "smoke", "--defences", "bmtard,plain",
                    "--out", str(run_dir), "--cache-dir", str(cache), *TINY_BENCH, timeout_s=600)
    assert done.returncode == 0, done.stderr[-4000:]
    results = read_results(run_dir)
    assert results["environment"]["processes"] == 2
    assert [(d["name"], d["processes"]) for d in results["defences"]] == [("bmtard", 2), ("plain", 1)]
    assert done.stdout.count("| **bmtard** |") == 1 and "2 processes (DDP)" in done.stdout  # rank 0 prints
    assert [t["source"] for t in results["teachers"]] == ["trained", "trained"]
    assert len([p for p in cache.iterdir() if p.suffix != ".lock"]) == 2  # each teacher trained once, by rank 0; the other rank read the cache
    history = json.loads((run_dir / "bmtard" / "history.json").read_text())
    assert len(history["steps"]["loss"]) == 3  # global batches: 270 training digits, batch 128


@pytest.mark.slow
def test_train_under_torchrun_saves_one_student_from_rank_zero(tmp_path):
    done = torchrun("art_bmtad", "--quiet", "train", "--preset", "smoke", "--out", str(tmp_path / "A"),
                    "--cache-dir", str(tmp_path / "cache"), "--n-train", "300", "--epochs", "1",
                    "--set", "teachers.robust.epochs=1", "--set", "teachers.clean.epochs=1", timeout_s=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("student saved in") == 1
    student = load_classifier(tmp_path / "A")
    assert student.predict(np.zeros((2, 1, 8, 8), dtype=np.float32)).shape == (2, 10)
    assert [p.name for p in checkpoint_paths(tmp_path / "A" / "checkpoints")] == ["ckpt-000000003.safetensors"]


def test_train_refuses_a_single_process_defence_under_torchrun(monkeypatch):
    monkeypatch.setattr(distributed, "is_distributed", lambda: True)
    with pytest.raises(ValueError, match="art-madry-pgd.*launch it without torchrun"):
        train_command._check_distributable("art-madry-pgd")
    train_command._check_distributable("bmtard")
