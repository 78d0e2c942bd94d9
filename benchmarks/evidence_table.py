"""A Markdown table of `art-bmtad eval --out` reports, each figure with its binomial standard error.

    python benchmarks/evidence_table.py "B-MTARD (paper)=runs/evidence/bmtard-paper/robustness.json" ...

The error of an accuracy p measured on n examples is sqrt(p (1 - p) / n): the sampling noise of the test subset,
not the spread over seeds (one seed per row).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

COLUMNS = (("clean", "Clean"), ("pgd20", "PGD-20"), ("autoattack", "AutoAttack"))


def binomial_cell(accuracy: float, n: int) -> str:
    """``"41.2 ± 1.6"``: the accuracy and its binomial standard error, in %."""
    return f"{100 * accuracy:.1f} ± {100 * math.sqrt(accuracy * (1 - accuracy) / n):.1f}"


def table(rows: list[tuple[str, Path]]) -> str:
    """One row per (label, report file); a missing file is shown as not finished."""
    lines = ["| Model | " + " | ".join(title for _, title in COLUMNS) + " | n |",
             "|---|" + "---:|" * (len(COLUMNS) + 1)]
    for label, path in rows:
        if not path.is_file():
            lines.append(f"| {label} | " + " | ".join("not finished" for _ in COLUMNS) + " | – |")
            continue
        report = json.loads(path.read_text())
        accuracy, n = report["robust_accuracy"], report["n_examples"]
        cells = [binomial_cell(accuracy[key], n) if key in accuracy else "–" for key, _ in COLUMNS]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {n} |")
    return "\n".join(lines)


def plot(rows: list[tuple[str, Path]], path: Path) -> None:
    """Clean against AutoAttack accuracy of the finished rows, with binomial standard errors as bars (no file
    when none has finished)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finished = [(label, report_path) for label, report_path in rows if report_path.is_file()]
    if not finished:
        return
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=90)
    for label, report_path in finished:
        report = json.loads(report_path.read_text())
        accuracy, n = report["robust_accuracy"], report["n_examples"]
        clean, robust = accuracy["clean"], accuracy["autoattack"]
        axes.errorbar(100 * clean, 100 * robust, xerr=100 * math.sqrt(clean * (1 - clean) / n),
                      yerr=100 * math.sqrt(robust * (1 - robust) / n), fmt="o", capsize=3, label=label)
    axes.set_xlabel("clean accuracy (%)")
    axes.set_ylabel("AutoAttack accuracy (%)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", nargs="+", metavar="LABEL=REPORT.json")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="also plot clean against AutoAttack accuracy")
    args = parser.parse_args()
    rows = []
    for item in args.rows:
        label, sep, path = item.partition("=")
        if not sep:
            parser.error(f"{item!r} must look like LABEL=REPORT.json")
        rows.append((label, Path(path)))
    print(table(rows))
    if args.plot is not None:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
