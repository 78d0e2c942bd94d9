"""Writing a third-party defence plugin for art-bmtad, and benchmarking it against B-MTARD.

A plugin is a module with ``@hookimpl`` functions (see ``art_bmtad/hookspecs.py`` and ``docs/plugins.md``).
This one registers the defence ``example-fgsm-at``: ART's ``AdversarialTrainer`` with FGSM examples for half
of each batch. A defence factory takes the classifier and the threat-model keywords ``eps``, ``eps_step`` and
``max_iter``, and returns an ART ``Trainer`` whose ``fit(x, y, nb_epochs=..., batch_size=...)`` trains it.

To ship it, put the module in a distribution and name it in the ``art_bmtad`` entry-point group::

    # pyproject.toml of your package
    [project.entry-points.art_bmtad]
    fgsm-at = "my_package.fgsm_plugin"

Then ``art-bmtad plugins`` lists it and ``art-bmtad bench --defences example-fgsm-at,bmtard`` trains it.
This script registers the module at run time instead (no installation needed) and runs a small benchmark:

    python examples/third_party_plugin.py --out /tmp/plugin-bench      # the smoke preset: digits, 3 epochs
    python examples/third_party_plugin.py --out /tmp/tiny --epochs 1 --n-train 300 \
        --set teachers.robust.epochs=1 --set teachers.clean.epochs=1 --set evaluation.n_examples=30   # seconds
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from art_bmtad import hookimpl

NAME = "example-fgsm-at"


def fgsm_adversarial_training(
    classifier: Any, *, eps: float = 8 / 255, eps_step: float | None = None, max_iter: int | None = None
) -> Any:
    """ART's ``AdversarialTrainer`` on FGSM examples (one step of size ``eps``; ``eps_step``/``max_iter`` unused).

    Args:
        classifier: the ART classifier to train.
        eps: Linf budget in the classifier's input units.
        eps_step: unused (FGSM takes one step of ``eps``).
        max_iter: unused.

    Returns:
        The trainer.
    """
    from art.attacks.evasion import FastGradientMethod
    from art.defences.trainer import AdversarialTrainer

    del eps_step, max_iter
    return AdversarialTrainer(classifier, FastGradientMethod(classifier, eps=eps), ratio=0.5)


@hookimpl
def art_bmtad_register_defences(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register :func:`fgsm_adversarial_training` as ``example-fgsm-at``."""
    register(NAME, fgsm_adversarial_training)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run folder of the benchmark")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every defence")
    parser.add_argument("--n-train", type=int, help="training pool size (validation included; default: all)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="any other recipe key, e.g. --set evaluation.n_examples=50")
    args = parser.parse_args()

    from art_bmtad.benchmark import render_run, run_benchmark
    from art_bmtad.recipes.recipe import load_recipe
    from art_bmtad.registry import get_plugin_manager

    get_plugin_manager().register(sys.modules[__name__], name="example-fgsm-plugin")
    overrides = [f"defences=[{NAME},bmtard]", f"schedule.epochs={args.epochs}", *args.overrides]
    if args.n_train is not None:
        overrides.append(f"data.n_train={args.n_train}")
    recipe = load_recipe("smoke", overrides=overrides)
    results = run_benchmark(recipe, args.out, progress=False)
    print(render_run(args.out, results))


if __name__ == "__main__":
    main()
