"""Two processes that ask for the same teacher at once train it once: the second waits on the cache lock, then
loads the teacher the first one cached (as parallel ``tune --join`` workers or two benchmarks do)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

WORKER = textwrap.dedent("""
    import hashlib, json, sys, time
    from pathlib import Path

    import torch

    torch.set_num_threads(1)
    from art_bmtad.data.datasets import load_dataset
    from art_bmtad.pipeline import teacher_prep

    cache, meeting, me = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    train_clean = teacher_prep.TRAINERS["clean"]

    def recorded_training(*args):
        with open(meeting / "trainings.log", "a") as log:
            log.write(me + "\\n")
        deadline = time.monotonic() + 240  # train only once both processes have asked, so that they overlap
        while len(list(meeting.glob("asking-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        train_clean(*args)

    teacher_prep.TRAINERS["clean"] = recorded_training
    config = teacher_prep.TeacherConfig(model="test_resnet", epochs=2, batch_size=32, seed=3)
    data = load_dataset("digits", n_train=64, n_test=32, val_size=0)
    (meeting / f"asking-{me}").touch()
    teacher = teacher_prep.prepare_teacher(config, data, cache_dir=cache, device="cpu", progress=False)
    digest = hashlib.sha256()
    for key, value in sorted(teacher.classifier.model.state_dict().items()):
        digest.update(key.encode() + value.cpu().contiguous().numpy().tobytes())
    print(json.dumps({"cached": teacher.cached, "path": str(teacher.path), "weights": digest.hexdigest()}))
""")


def test_two_processes_asking_for_one_teacher_train_it_once(tmp_path: Path) -> None:
    cache, meeting = tmp_path / "cache", tmp_path / "meeting"
    meeting.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(cache), str(meeting), name], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    assert len((meeting / "trainings.log").read_text().split()) == 1  # trained once, by one of them
    assert sorted(result["cached"] for result in results) == [False, True]
    assert results[0]["path"] == results[1]["path"] and results[0]["weights"] == results[1]["weights"]
    cached = Path(results[0]["path"])
    assert cached.is_file() and cached.with_suffix(".json").is_file()
