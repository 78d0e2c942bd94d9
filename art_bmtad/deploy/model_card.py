"""The model card (``README.md``) of an exported student: what it is, how it was trained, what it withstood.

The card holds the threat model, the teachers (by zoo name where they have one), the recipe, and the evaluation
table (clean, PGD-20, AutoAttack with its backend and budget, W-Robust) read from the run's evaluation report,
with the paper's citation. The report is found by :func:`find_evaluation`: the file named, else
``robustness.json`` in the run folder (``art-bmtad eval --model RUN --out RUN/robustness.json``), else the
defence's entry in the ``results.json`` of the benchmark folder above (``art-bmtad bench``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from art_bmtad.algorithm import citation
from art_bmtad.evaluation.settings import format_eps
from art_bmtad.evaluation.weighted_robust import w_robust
from art_bmtad.pipeline.training import DISTILLATION_TEACHERS
from art_bmtad.recipes.recipe import Recipe

EVALUATION_FILE = "robustness.json"
"""Where a run folder's evaluation report is looked for first (``art-bmtad eval --out``)."""
BENCHMARK_RESULTS = "results.json"
BALANCING_KEYS = {"bmtard": ("temperature_lr", "weight_lr", "t_min", "t_max", "t_init"), "mtard": ("weight_lr",)}


@dataclass(frozen=True)
class Evaluation:
    """An evaluation report (``RobustnessReport.to_dict()``) and where it was read.

    Attributes:
        report: the report's JSON document.
        source: the file it came from, for the card.
    """

    report: dict[str, Any]
    source: Path

    def accuracy(self, attack: str) -> float | None:
        """The accuracy under ``attack`` (``clean``, ``pgd20``, ``autoattack``, ...), ``None`` when not run."""
        return self.report.get("robust_accuracy", {}).get(attack)


def find_evaluation(weights: Path, explicit: str | Path | None = None) -> Evaluation | None:
    """The student's evaluation report (see the module docstring for where it is looked for).

    Args:
        weights: the student's ``.safetensors`` file.
        explicit: a file to read instead: an ``art-bmtad eval --out`` report or a benchmark's ``results.json``.

    Returns:
        The report, or ``None`` when the run has none.

    Raises:
        FileNotFoundError: ``explicit`` does not exist.
        ValueError: a file that is not an evaluation report, or a ``results.json`` without this defence.
    """
    defence = weights.parent.name
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"--evaluation {path}: no such file")
        return _read_evaluation(path, defence)
    for path in (weights.parent / EVALUATION_FILE, weights.parent.parent / BENCHMARK_RESULTS):
        if path.is_file():
            try:
                return _read_evaluation(path, defence)
            except ValueError:
                continue  # a benchmark folder's results.json without this folder's defence: not its report
    return None


def _read_evaluation(path: Path, defence: str) -> Evaluation:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable JSON file ({err})") from None
    if isinstance(document, dict) and "defences" in document:  # a benchmark's results.json
        entry = next((row for row in document["defences"] if row.get("name") == defence), None)
        if entry is None or "report" not in entry:
            names = ", ".join(row.get("name", "?") for row in document["defences"])
            raise ValueError(f"{path}: no evaluation of defence {defence!r} (it holds {names})")
        document = entry["report"]
    if not isinstance(document, dict) or "robust_accuracy" not in document or "threat_model" not in document:
        raise ValueError(f"{path}: not an evaluation report (write one with art-bmtad eval --out FILE.json)")
    return Evaluation(document, path)


def model_card(
    *,
    architecture: str,
    defence: str | None,
    recipe: Recipe | None,
    evaluation: Evaluation | None,
    input_shape: Sequence[int],
    class_names: Sequence[str],
    mean: Sequence[float],
    std: Sequence[float],
    selected_epoch: int | None = None,
) -> str:
    """The card as Markdown with Hugging Face's YAML front matter.

    Args:
        architecture: the timm architecture.
        defence: how the student was trained (``bmtard``, ...), when known.
        recipe: the run's recipe, when known.
        evaluation: the run's evaluation report, when there is one.
        input_shape: (C, H, W).
        class_names: one name per class.
        mean: the normalisation mean the model expects its inputs normalised with.
        std: the normalisation std.
        selected_epoch: the epoch the run kept.
    """
    front = {"library_name": "timm", "pipeline_tag": "image-classification",
             "tags": ["image-classification", "timm", "adversarial-robustness", "art-bmtad",
                      *([defence] if defence else [])]}
    dataset = recipe.data.source if recipe is not None else None
    title = f"{architecture}, adversarially robust{f' ({defence})' if defence else ''}" + (
        f" on {dataset}" if dataset else "")
    sections = [
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---",
        f"# {title}",
        _summary(architecture, defence, input_shape, class_names),
        _usage(mean, std, input_shape),
        _threat_section(recipe, evaluation),
        _teachers_section(defence, recipe),
        _recipe_section(defence, recipe, selected_epoch),
        _evaluation_section(evaluation),
        _citation_section(defence),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def _summary(architecture: str, defence: str | None, input_shape: Sequence[int], class_names: Sequence[str]) -> str:
    trained = f"trained with {defence} by art-bmtad" if defence else "trained by art-bmtad"
    if defence in DISTILLATION_TEACHERS:
        trained += " (adversarial distillation from the teachers below)"
    shape = "x".join(str(v) for v in input_shape)
    return (f"A timm `{architecture}` {trained}. It takes {shape} images and predicts {len(class_names)} classes: "
            f"{', '.join(class_names)}.")


def _citation_section(defence: str | None) -> str:
    method = ("The training method, B-MTARD, is described in" if defence == "bmtard" else
              "art-bmtad, which trained this student, implements B-MTARD from")
    return f"## Citation\n\n{method} {citation.SHORT}:\n\n```bibtex\n{citation.BIBTEX}\n```"


def _usage(mean: Sequence[float], std: Sequence[float], input_shape: Sequence[int]) -> str:
    return f"""## Usage

```python
import timm
import torch

model = timm.create_model("hf-hub:USER/REPO", pretrained=True).eval()  # or "local-dir:PATH/TO/THIS/FOLDER"
config = timm.data.resolve_model_data_config(model)
transform = timm.data.create_transform(**config, is_training=False)  # resize, to [0, 1], normalise
logits = model(transform(image).unsqueeze(0))
```

The network takes **normalised** inputs, as every timm model does: `(x - mean) / std` of pixels `x` in [0, 1], with
`mean = {_numbers(mean)}` and `std = {_numbers(std)}` (`config.json`, `pretrained_cfg`; timm's transform applies
them). These are the values the student was trained with: art-bmtad keeps the normalisation inside its classifier
and attacks in [0, 1] pixel space, so `model((x - mean) / std)` gives exactly the student's logits for pixels `x`.
The threat model below is in that pixel space; to attack or evaluate the model, put the normalisation in front of
it (`torch.nn.Sequential(torchvision.transforms.Normalize(mean, std), model)`) and feed [0, 1] pixels of size
{'x'.join(str(v) for v in input_shape)}."""


def _threat_section(recipe: Recipe | None, evaluation: Evaluation | None) -> str:
    lines = ["## Threat model", ""]
    if recipe is not None:
        threat = recipe.threat
        lines.append(f"Trained against L-inf perturbations of eps = {format_eps(threat.eps)} in [0, 1] pixel space "
                     f"(PGD, {threat.max_iter} steps of {format_eps(threat.eps_step)}).")
    if evaluation is not None:
        model = evaluation.report["threat_model"]
        lines.append(f"Evaluated against L{model['norm']} perturbations of eps = {model['eps_label']}.")
    return "\n".join(lines) if len(lines) > 2 else ""


def _teachers_section(defence: str | None, recipe: Recipe | None) -> str:
    roles = DISTILLATION_TEACHERS.get(defence or "", ())
    if recipe is None or not roles:
        return ""
    lines = ["## Teachers", "", "| Role | Model | Weights |", "|---|---|---|"]
    for role in roles:
        teacher = getattr(recipe.teachers, role)
        if teacher.pretrained:
            weights = "published weights of its zoo"
        elif teacher.checkpoint:
            weights = f"checkpoint `{Path(teacher.checkpoint).name}`"
        else:
            weights = f"trained by art-bmtad ({teacher.kind}, {teacher.epochs} epochs)"
        lines.append(f"| {role} | `{zoo_name(teacher.model)}` | {weights} |")
    return "\n".join(lines)


def _recipe_section(defence: str | None, recipe: Recipe | None, selected_epoch: int | None) -> str:
    if recipe is None:
        return ""
    schedule, data = recipe.schedule, recipe.data
    decay = f", lr x{schedule.gamma:g} after epochs {schedule.milestones}" if schedule.milestones else ""
    rows = [
        ("defence", defence or "-"),
        ("data", f"{data.source}" + (f", {data.n_train} training images" if data.n_train else "")),
        ("student", recipe.student.model + (" (CIFAR stem)" if recipe.student.cifar_stem else "")),
        ("epochs", f"{schedule.epochs}" + (f" (kept: epoch {selected_epoch}, by validation "
                                          f"{schedule.select_by} accuracy)" if selected_epoch else "")),
        ("optimiser", f"SGD lr {schedule.lr:g}, momentum {schedule.momentum:g}, weight decay "
                      f"{schedule.weight_decay:g}, batch {schedule.batch_size}{decay}"),
        ("augmentation", "random crop and flip" if schedule.augment else "none"),
        ("seed", str(recipe.seed)),
    ]
    balancing = BALANCING_KEYS.get(defence or "", ())
    if balancing:
        rows.append(("balancing", ", ".join(f"{key} {getattr(recipe.balancing, key):g}" for key in balancing)))
    table = "\n".join(f"| {key} | {value} |" for key, value in rows)
    full = yaml.safe_dump(recipe.to_dict(), sort_keys=False).rstrip()
    return (f"## Training recipe\n\n| Setting | Value |\n|---|---|\n{table}\n\n<details><summary>The whole recipe "
            f"(re-run with <code>art-bmtad train --config config.yaml</code>)</summary>\n\n```yaml\n{full}\n```\n\n"
            "</details>")


def _evaluation_section(evaluation: Evaluation | None) -> str:
    if evaluation is None:
        return ("## Evaluation\n\nNot evaluated yet: run `art-bmtad eval --model RUN --out RUN/robustness.json` "
                "and export again to put the numbers here.")
    report = evaluation.report
    clean = evaluation.accuracy("clean")
    rows = [("Clean", clean)]
    if evaluation.accuracy("pgd20") is not None:
        rows.append(("PGD-20", evaluation.accuracy("pgd20")))
    if evaluation.accuracy("autoattack") is not None:
        variant = report.get("autoattack")
        label = (f"AutoAttack ({report.get('autoattack_backend')} backend, {report.get('autoattack_budget')} budget"
                 + (f", {variant} variant" if variant not in (None, "standard") else "") + ")")
        rows.append((label, evaluation.accuracy("autoattack")))
    accuracies = report["robust_accuracy"]
    for metric, name in (("pgd20", "PGD-20"), ("autoattack", "AutoAttack")):
        value = w_robust(accuracies, metric)
        if value is not None:
            rows.append((f"W-Robust (clean + {name}) / 2", value))
    table = "\n".join(f"| {label} | {100 * value:.2f}% |" for label, value in rows)
    threat = report["threat_model"]
    notes = [f"{report['n_examples']} test images, L{threat['norm']} eps = {threat['eps_label']}, seed "
             f"{report.get('seed')}; from `{evaluation.source.name}`."]
    if report.get("autoattack_budget") not in (None, "standard"):
        notes.append("AutoAttack ran with a reduced budget: an indication, not the standard protocol.")
    if report.get("sanity_passed") is False:
        notes.append("**A gradient-masking sanity check failed: the robust accuracies are probably overestimates.**")
    return "## Evaluation\n\n| Attack | Accuracy |\n|---|---:|\n" + table + "\n\n" + " ".join(notes)


def _numbers(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"



def zoo_name(model: str) -> str:
    """The registry's qualified name (``resnet18`` -> ``timm/resnet18``), or the name as written when no installed
    zoo knows it."""
    from art_bmtad.registry import UnknownNameError, qualified_name

    try:
        return qualified_name(model)
    except UnknownNameError:
        return model
