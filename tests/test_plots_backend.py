"""Drawing a figure leaves matplotlib's global backend as the caller chose it (a notebook keeps its inline plots)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n"

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path

    import matplotlib

    out = Path(sys.argv[1])
    before = matplotlib.get_backend()
    from art_bmtad.benchmark.plots import plot_balance, plot_tradeoff
    from art_bmtad.deploy.benchmark import plot_accuracy_latency
    from art_bmtad.tuning.report import _plot_importances

    timing = {"median_ms": 2.0, "q1_ms": 1.5, "q3_ms": 2.5}
    results = {
        "evaluation": {"labels": {"clean": "Clean", "autoattack": "AutoAttack"}, "n_examples": 30,
                       "threat_model": {"eps_label": "8/255"}},
        "defences": [{"name": "bmtard", "accuracy": {"clean": 0.8, "autoattack": 0.4},
                      "inference": {"timings": [timing]}}],
        "teachers": [{"role": "robust", "accuracy": {"clean": 0.9, "pgd20": 0.5}, "inference": {"timings": [timing]}}],
    }
    history = {"steps": {"temperature/robust": [1.0, 0.9], "weight/robust": [0.5, 0.6]}, "epochs": [{}]}
    written = [plot_tradeoff(results, out / "tradeoff.png"), plot_balance(history, out / "balance.png", [1]),
               plot_accuracy_latency(results, out / "latency.png"),
               _plot_importances({"balancing.t_min": 0.7, "threat.eps": 0.3}, 3, out / "importance.png")]
    print(json.dumps({"before": before, "after": matplotlib.get_backend(),
                      "pyplot": "matplotlib.pyplot" in sys.modules, "written": [str(p) for p in written]}))
""")


def test_plotting_keeps_the_callers_backend_and_never_loads_pyplot(tmp_path: Path) -> None:
    env = {**os.environ, "MPLBACKEND": "svg", "MPLCONFIGDIR": str(tmp_path / "mplconfig")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["before"] == report["after"] == "svg"
    assert report["pyplot"] is False
    assert len(report["written"]) == 4
    for path in report["written"]:
        assert Path(path).read_bytes()[:8] == PNG
