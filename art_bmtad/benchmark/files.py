"""A run folder's rendered files, re-made from ``results.json`` alone: ``results.md`` and the plots.

Light on purpose (no torch, no ART): ``art-bmtad report`` uses it to re-render a run in a second.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from art_bmtad.benchmark.render import render_markdown
from art_bmtad.benchmark.results import RESULTS_FILE, inside_run_folder, read_results
from art_bmtad.deploy.benchmark import LATENCY_FILE, plot_accuracy_latency
from art_bmtad.run.files import write_atomic
from art_bmtad.utils.json_documents import read_json_object

MARKDOWN_FILE = "results.md"


def render_run(run_dir: str | Path, results: dict[str, Any] | None = None) -> str:
    """Write ``results.md`` and the plots of a run folder from its results (read from ``results.json`` when not
    given) and B-MTARD's history; return the Markdown.

    Raises:
        FileNotFoundError: no ``results.json`` (when ``results`` is not given).
        ValueError: ``results.json`` is not a benchmark result.
    """
    run_dir = Path(run_dir)
    from_file = results is None
    results = read_results(run_dir) if from_file else results
    from art_bmtad.benchmark.plots import BALANCE_FILE, HIGHLIGHT, TRADEOFF_FILE, plot_balance, plot_tradeoff

    try:
        markdown = render_markdown(results)
    except (KeyError, TypeError, AttributeError) as err:
        if not from_file:
            raise
        raise ValueError(f"{run_dir / RESULTS_FILE}: a field is missing or malformed ({type(err).__name__}: {err}); "
                         "the file is damaged or not written by `art-bmtad bench`") from err
    write_atomic(run_dir / MARKDOWN_FILE, markdown)
    plot_tradeoff(results, run_dir / TRADEOFF_FILE)
    plot_accuracy_latency(results, run_dir / LATENCY_FILE)
    balance = next((d for d in results["defences"] if d["name"] == HIGHLIGHT), None)
    if balance is not None:
        history_path = inside_run_folder(run_dir, balance["history"], f"{run_dir / RESULTS_FILE}: history")
        history = read_json_object(history_path)
        if not isinstance(history.get("steps"), dict):
            raise ValueError(f"{history_path}: not a training history (no 'steps' mapping)")
        plot_balance(history, run_dir / BALANCE_FILE, results["config"]["schedule"].get("milestones"))
    return markdown
