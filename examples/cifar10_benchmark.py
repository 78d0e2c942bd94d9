"""The CIFAR-10 benchmark from Python: B-MTARD against its relatives and ART's adversarial training.

Runs the ``cifar10-cpu`` preset (a CIFAR-10 subset and small timm models, sized for about 45-60 minutes on
2 CPU cores, teachers included) or, on a GPU, ``cifar10-paper``, and prints the Markdown table. The same
run from the shell is ``art-bmtad bench --preset cifar10-cpu --out runs/cifar10-cpu``.

    python examples/cifar10_benchmark.py --out runs/cifar10-cpu
    python examples/cifar10_benchmark.py --out /tmp/check --n-train 256 --epochs 1 \
        --set evaluation.n_examples=50 --set teachers.robust.epochs=1 --set teachers.clean.epochs=1  # minutes
    python examples/cifar10_benchmark.py --preset cifar10-paper --robust-teacher wrn.safetensors \\
        --clean-teacher clean.safetensors --out runs/paper                         # GPU

CIFAR-10 is read from the npz layout (``--data-path data/cifar10.npz``; the README's "Getting CIFAR-10" writes
that file with torchvision); ``--set data.source=cifar10 --data-path DIR`` reads torchvision's layout instead.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from art_bmtad.benchmark import render_run, run_benchmark
from art_bmtad.recipes.recipe import load_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cifar10-cpu", choices=("cifar10-cpu", "cifar10-paper"))
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--data-path", help="CIFAR-10 .npz file")
    parser.add_argument("--n-train", type=int, help="training pool size (validation included)")
    parser.add_argument("--epochs", type=int, help="epochs of every defence (teachers keep the preset's)")
    parser.add_argument("--robust-teacher", help="saved robust teacher (.safetensors + .json)")
    parser.add_argument("--clean-teacher", help="saved clean teacher")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="any other recipe key, e.g. --set evaluation.n_examples=200")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("art").setLevel(logging.WARNING)

    shortcuts = {"data.path": args.data_path, "data.n_train": args.n_train, "schedule.epochs": args.epochs,
                 "teachers.robust.checkpoint": args.robust_teacher, "teachers.clean.checkpoint": args.clean_teacher}
    overrides = [f"{key}={value}" for key, value in shortcuts.items() if value is not None] + args.overrides
    recipe = load_recipe(args.preset, overrides=overrides)
    results = run_benchmark(recipe, args.out)
    print(render_run(args.out, results))


if __name__ == "__main__":
    main()
