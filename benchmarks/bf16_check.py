"""Does bf16 autocast change what training reaches? The same students trained in fp32 and with bf16 autocast, at
equal steps, evaluated the same way in fp32.

    python benchmarks/bf16_check.py                                   # smoke preset (digits), B-MTARD, 3 seeds
    python benchmarks/bf16_check.py --seeds 0,1,2,3,4 --defences bmtard,rslad
    python benchmarks/bf16_check.py --preset cifar10-cpu --data-path cifar10.npz --seeds 0,1
    python benchmarks/bf16_check.py --compare-studies runs/study runs/study-bf16   # two study_cifar10.py folders

For each defence and seed, two students start from the same weights, the same data order and the same recipe;
only ``amp`` differs (bf16 autocast in the attack and the training forwards of the distillation defences). Both
are evaluated in fp32 (clean and PGD-20; the attacks of the evaluation never use autocast). The verdict compares
the mean paired difference (bf16 - fp32) with its noise: the standard error of the paired differences over seeds,
and at least the binomial standard error of one accuracy on the evaluated images. "within noise" means
``|mean difference| <= 2 x that noise``; a difference beyond it is reported as such, with its size. A run whose
weights become non-finite (the trainer stops it) is reported as diverged, and the verdict then says so: bf16 is
not equivalent where it diverges and fp32 does not.

``--compare-studies FP32 BF16`` trains nothing: it reads two ``study_cifar10.py`` folders run with the same sizing,
the second with ``--amp`` (and ``--channels-last``), pairs their students by row and seed and gives the same verdict
for clean, PGD-20 and AutoAttack accuracy.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any, Sequence

METRICS = ("clean", "pgd20")
STUDY_METRICS = (*METRICS, "autoattack")
"""A CIFAR-10 study's reports also hold AutoAttack, so ``--compare-studies`` judges it too."""
PRECISIONS = {"fp32": False, "bf16": True}


def verdict(fp32: list[float], bf16: list[float], n_examples: int) -> dict[str, Any]:
    """The mean paired difference (bf16 - fp32) of one metric, its noise and whether it lies within 2x the noise.

    Args:
        fp32: the metric per seed, fp32 training.
        bf16: the same seeds, bf16 training.
        n_examples: evaluated images (for the binomial floor of the noise).
    """
    differences = [b - f for f, b in zip(fp32, bf16)]
    mean = statistics.fmean(differences)
    paired = statistics.stdev(differences) / math.sqrt(len(differences)) if len(differences) > 1 else 0.0
    p = statistics.fmean(fp32)
    binomial = math.sqrt(max(p * (1 - p), 1e-12) / n_examples)
    noise = max(paired, binomial)
    return {"fp32_mean": p, "bf16_mean": statistics.fmean(bf16), "mean_difference": mean, "noise": noise,
            "within_noise": abs(mean) <= 2 * noise}


def print_verdicts(verdicts: dict[str, dict[str, Any]]) -> None:
    print(f"{'metric':<11}{'fp32':>8}{'bf16':>8}{'diff':>8}{'noise':>8}  verdict")
    for metric, v in verdicts.items():
        print(f"{metric:<11}{100 * v['fp32_mean']:>8.1f}{100 * v['bf16_mean']:>8.1f}"
              f"{100 * v['mean_difference']:>+8.1f}{100 * v['noise']:>8.1f}  "
              f"{'within noise' if v['within_noise'] else 'BEYOND noise'}")


def compare_studies(fp32_folder: Path, bf16_folder: Path) -> dict[str, Any]:
    """The verdicts of two ``study_cifar10.py`` folders that differ only in ``--amp``: per row present in both, its
    students paired by seed."""
    fp32, bf16 = (json.loads((folder / "study.json").read_text()) for folder in (fp32_folder, bf16_folder))
    if fp32["sizing"] != bf16["sizing"] or fp32["model"] != bf16["model"]:
        raise SystemExit("bf16_check: the two studies differ in sizing or student; compare studies that differ "
                         "only in --amp")
    if fp32["amp"] or not bf16["amp"]:
        raise SystemExit(f"bf16_check: {fp32_folder} must be an fp32 study and {bf16_folder} one run with --amp")
    n = fp32["sizing"]["n_examples"]
    results: dict[str, Any] = {}
    bf16_rows = {row["key"]: row for row in bf16["rows"]}
    for row in fp32["rows"]:
        other = {r["seed"]: r for r in bf16_rows.get(row["key"], {}).get("per_seed", [])}
        pairs = [(r, other[r["seed"]]) for r in row["per_seed"] if r["seed"] in other]
        if not pairs:
            continue
        verdicts = {metric: verdict([f[metric] for f, _ in pairs], [b[metric] for _, b in pairs], n)
                    for metric in STUDY_METRICS}
        results[row["key"]] = {"seeds": [f["seed"] for f, _ in pairs], "verdicts": verdicts}
        print(f"\n{row['label']}: seeds {results[row['key']]['seeds']}, {fp32['steps']} steps each, {n} test images, "
              f"fp32 evaluation; bf16 run with channels-last: {bf16['channels_last']}")
        print_verdicts(verdicts)
    if not results:
        raise SystemExit("bf16_check: the two studies have no evaluated student of the same row and seed")
    return results


def train_and_evaluate(defence: str, seed: int, amp: bool, args: argparse.Namespace) -> dict[str, Any]:
    """Train one student (``amp`` on or off) and evaluate it in fp32: clean and PGD-20 accuracy, or
    ``{"diverged": message}`` when its weights became non-finite."""
    from art_bmtad.benchmark import train_defence
    from art_bmtad.pipeline.components import apply_runtime, evaluate, load_data, prepare_teachers
    from art_bmtad.pipeline.training import teachers_needed
    from art_bmtad.recipes.recipe import load_recipe

    overrides = [f"seed={seed}", f"amp={str(amp).lower()}", f"defences=[{defence}]", *args.set]
    if args.data_path:
        overrides.append(f"data.path={args.data_path}")
    recipe = load_recipe(args.preset, overrides=overrides)
    apply_runtime(recipe)
    data = load_data(recipe)
    teachers = prepare_teachers(recipe, data, teachers_needed([defence]), progress=False)
    try:
        trained = train_defence(defence, recipe, data, teachers.classifiers, progress=False)
    except FloatingPointError as err:
        print(f"{defence} seed {seed} {'bf16' if amp else 'fp32'}: diverged: {err}", flush=True)
        return {"diverged": str(err)}
    report = evaluate(trained.classifier, data, recipe, attacks=list(METRICS))
    steps = len(next(iter(trained.history.steps.values()), []))
    result = {**{metric: report.results[metric].accuracy for metric in METRICS}, "steps": steps,
              "n_examples": report.n_examples}
    print(f"{defence} seed {seed} {'bf16' if amp else 'fp32'}: " + ", ".join(
        f"{metric} {100 * result[metric]:.1f}" for metric in METRICS) + f" ({steps} steps)", flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="smoke", help="the recipe to train with (default: %(default)s)")
    parser.add_argument("--data-path", help="the dataset file of a CIFAR preset")
    parser.add_argument("--defences", default="bmtard", help="comma-separated distillation defences")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe override, e.g. schedule.epochs=3 (repeatable)")
    parser.add_argument("--out", type=Path, help="write the per-seed figures and verdicts as JSON here")
    parser.add_argument("--compare-studies", nargs=2, type=Path, metavar=("FP32", "BF16"),
                        help="train nothing: compare two study_cifar10.py folders, the second run with --amp")
    args = parser.parse_args(argv)
    if args.compare_studies:
        compared = compare_studies(*args.compare_studies)
        if args.out:
            args.out.write_text(json.dumps(compared, indent=1))
        return
    seeds = [int(seed) for seed in args.seeds.split(",")]
    results: dict[str, Any] = {}
    for defence in args.defences.split(","):
        runs = {amp: [train_and_evaluate(defence, seed, amp, args) for seed in seeds] for amp in (False, True)}
        diverged = {precision: sum("diverged" in r for r in runs[amp]) for precision, amp in PRECISIONS.items()}
        pairs = [(f, b) for f, b in zip(runs[False], runs[True]) if "diverged" not in f and "diverged" not in b]
        results[defence] = {"seeds": seeds, "fp32": runs[False], "bf16": runs[True], "diverged": diverged}
        if any(diverged.values()):
            print(f"\n{defence}: diverged (non-finite weights) in {diverged['fp32']} of {len(seeds)} fp32 runs and "
                  f"{diverged['bf16']} of {len(seeds)} bf16 runs"
                  + (": bf16 is not equivalent here" if diverged["bf16"] > diverged["fp32"] else ""))
        if not pairs:
            continue
        if any(f["steps"] != b["steps"] for f, b in pairs):
            raise SystemExit(f"{defence}: fp32 and bf16 runs trained different numbers of steps")
        n = pairs[0][0]["n_examples"]
        verdicts = {metric: verdict([f[metric] for f, _ in pairs], [b[metric] for _, b in pairs], n)
                    for metric in METRICS}
        results[defence]["verdicts"] = verdicts
        print(f"\n{defence}: {len(pairs)} seeds finished in both, {pairs[0][0]['steps']} steps each, {n} test "
              "images, fp32 evaluation")
        print_verdicts(verdicts)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
