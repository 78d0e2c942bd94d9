"""The CIFAR-10 benchmark from Python: B-MTARD against its relatives and ART's adversarial training.

Runs a CIFAR-10 preset (default ``cifar10-cpu``: a 4,000-image subset and small timm models, sized for a CPU; the
docs' benchmarks page gives measured times) or, on a GPU, ``cifar10-paper``, and prints the Markdown table. The same
run from the shell is ``art-bmtad bench --preset cifar10-cpu --data-path data/cifar10.npz --out runs/cifar10-cpu``.

    python examples/cifar10_benchmark.py --data-path data/cifar10.npz --out runs/cifar10-cpu
    python examples/cifar10_benchmark.py --data-path data --download --out runs/cifar10-cpu   # torchvision's folder
    python examples/cifar10_benchmark.py --data-path data/cifar10.npz --out /tmp/check --n-train 256 --epochs 1 \\
        --set evaluation.n_examples=50 --set teachers.robust.epochs=1 --set teachers.clean.epochs=1  # minutes
    python examples/cifar10_benchmark.py --preset cifar10-paper --data-path data/cifar10.npz \\
        --robust-teacher wrn.safetensors --clean-teacher clean.safetensors --out runs/paper            # GPU

CIFAR-10 comes from ``--data-path``: an ``.npz`` file (``x_train``, ``y_train``, ``x_test``, ``y_test``; the docs'
"CLI and recipes" page writes one with torchvision) or a folder in torchvision's layout, which ``--download``
fills.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from art_bmtad.benchmark import render_run, run_benchmark
from art_bmtad.recipes.recipe import load_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cifar10-cpu", choices=("cifar10-cpu", "cifar10-cpu-strong", "cifar10-paper"))
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--data-path", required=True,
                        help="CIFAR-10 as an .npz file, or the folder of torchvision's layout")
    parser.add_argument("--download", action="store_true", help="let torchvision download CIFAR-10 into --data-path")
    parser.add_argument("--n-train", type=int, help="training pool size (validation included)")
    parser.add_argument("--epochs", type=int, help="epochs of every defence (teachers keep the preset's)")
    parser.add_argument("--robust-teacher", help="saved robust teacher (.safetensors + .json)")
    parser.add_argument("--clean-teacher", help="saved clean teacher")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="any other recipe key, e.g. --set evaluation.n_examples=200")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("art").setLevel(logging.WARNING)

    from_folder = not args.data_path.endswith(".npz")
    shortcuts = {"data.source": "cifar10" if from_folder else "npz",
                 "data.root" if from_folder else "data.path": args.data_path, "data.download": args.download or None, "data.n_train": args.n_train, "schedule.epochs": args.epochs,
                 "teachers.robust.checkpoint": args.robust_teacher, "teachers.clean.checkpoint": args.clean_teacher}
    overrides = [f"{key}={value}" for key, value in shortcuts.items() if value is not None] + args.overrides
    recipe = load_recipe(args.preset, overrides=overrides)
    results = run_benchmark(recipe, args.out)
    print(render_run(args.out, results))


if __name__ == "__main__":
    main()
