"""A run folder's rendered files, re-made from ``results.json`` alone: ``results.md`` and the plots.

Light on purpose (no torch, no ART): ``art-bmtad report`` uses it to re-render a run in a second.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from art_bmtad.benchmark.render import render_markdown
from art_bmtad.benchmark.results import read_results

MARKDOWN_FILE = "results.md"


def render_run(run_dir: str | Path, results: dict[str, Any] | None = None) -> str:
    """Write ``results.md`` and the plots of a run folder from its results (read from ``results.json`` when not
    given) and B-MTARD's history; return the Markdown.

    Raises:
        FileNotFoundError: no ``results.json`` (when ``results`` is not given).
        ValueError: ``results.json`` is not a benchmark result.
    """
    run_dir = Path(run_dir)
    results = read_results(run_dir) if results is None else results
    from art_bmtad.benchmark.plots import BALANCE_FILE, HIGHLIGHT, TRADEOFF_FILE, plot_balance, plot_tradeoff

    markdown = render_markdown(results)
    (run_dir / MARKDOWN_FILE).write_text(markdown)
    plot_tradeoff(results, run_dir / TRADEOFF_FILE)
    balance = next((d for d in results["defences"] if d["name"] == HIGHLIGHT), None)
    if balance is not None:
        history = json.loads((run_dir / balance["history"]).read_text())
        plot_balance(history, run_dir / BALANCE_FILE)
    return markdown
