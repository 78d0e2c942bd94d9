"""Running an exported student, and the serving check: is what ships what was measured?

An export (:mod:`~art_bmtad.deploy.export`) is a file plus its sidecar ``<file>.json``. :func:`open_export` runs
it the way a server would: ONNX through onnxruntime, TorchScript through ``torch.jit.load``, the folded
safetensors reloaded into the student's architecture. :func:`serving_check` evaluates it on clean images and on
adversarial images crafted on the PyTorch student (transfer attacks: the exported file has no gradients for an
attack to follow; gradient attacks such as AutoAttack need the PyTorch model, ``art-bmtad eval --model RUN``).
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescentPyTorch
from art.estimators.classification import PyTorchClassifier

from art_bmtad.algorithm.adversarial import gradient_view
from art_bmtad.deploy.folded import fold_normalisation
from art_bmtad.deploy.sources import recipe_folder
from art_bmtad.evaluation.objectives import CWMarginLoss
from art_bmtad.evaluation.settings import CW_STEPS, PGD_STEPS, ThreatModel
from art_bmtad.models.classifier_files import load_classifier
from art_bmtad.utils.determinism import seeded
from art_bmtad.utils.json_documents import read_json_document

SIDECAR_FORMAT = "art-bmtad-export/1"
ONNX_INSTALL_HINT = "pip install 'art-bmtad[onnx]'"
TRANSFER_ATTACKS = ("fgsm", "pgd20", "cw")
"""Attacks the serving check crafts on the PyTorch student and replays on the export."""


class MissingDependencyError(ValueError):
    """An optional dependency (the ``onnx`` extra) is not installed; the message says how to install it."""


def sidecar_path(path: str | Path) -> Path:
    """The sidecar of an exported file: ``student.onnx`` -> ``student.onnx.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The sidecar of an exported file.

    Raises:
        FileNotFoundError: no sidecar.
        ValueError: not an art-bmtad export description.
    """
    json_path = sidecar_path(path)
    return read_json_document(json_path, SIDECAR_FORMAT, "art-bmtad export description",
                              f"{path} has no sidecar {json_path.name}: export it with `art-bmtad export`")


def is_export(path: str | Path) -> bool:
    """Whether ``path`` is an exported student (an ``.onnx`` file, or any file with an export sidecar)."""
    path = Path(path)
    return path.is_file() and (path.suffix == ".onnx" or sidecar_path(path).is_file())


def require_onnx() -> Any:
    """Import onnxruntime (and onnx, which the exporter needs).

    Returns:
        The ``onnxruntime`` module.

    Raises:
        MissingDependencyError: either is missing; the message names the install command.
    """
    try:
        import onnx  # noqa: F401 - the exporter writes through it
        import onnxruntime
    except ImportError as err:
        raise MissingDependencyError(f"ONNX export and serving need onnx and onnxruntime ({err.name or err} is not "
                                     f"installed): {ONNX_INSTALL_HINT}") from err
    return onnxruntime


class ExportedModel:
    """An exported student, run as deployed: ``logits(x)`` for [0, 1] pixels in NCHW.

    Args:
        path: the exported file.
        export_format: ``onnx``, ``torchscript`` or ``safetensors``.
        architecture: for ``safetensors`` only: a folded module of the student's architecture to load the weights
            into (:func:`~art_bmtad.deploy.folded.fold_normalisation` of the student).
    """

    def __init__(self, path: str | Path, export_format: str, architecture: torch.nn.Module | None = None) -> None:
        self.path = Path(path)
        self.export_format = export_format
        self._forward = _runner(self.path, export_format, architecture)

    def logits(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Logits of ``x`` (float32, NCHW, [0, 1]), computed ``batch_size`` images at a time."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        return np.concatenate([self._forward(x[start:start + batch_size]) for start in range(0, len(x), batch_size)])


def open_export(path: str | Path, *, student: PyTorchClassifier | None = None) -> ExportedModel:
    """Open an exported file as its sidecar describes it.

    Args:
        path: the exported file.
        student: the PyTorch student (needed for a ``safetensors`` export, whose file holds weights only).

    Returns:
        The runnable model.

    Raises:
        FileNotFoundError: the file or its sidecar is missing.
        ValueError: the file changed since it was exported (its SHA-256 differs from the sidecar's), or a
            ``safetensors`` export was opened without its student.
        MissingDependencyError: an ONNX file without onnxruntime installed.
    """
    sidecar = read_sidecar(path)
    digest = file_sha256(path)
    if digest != sidecar["sha256"]:
        raise ValueError(f"{path} changed since it was exported (sha256 {digest}, sidecar {sidecar['sha256']}); "
                         "export it again")
    if sidecar["export_format"] == "safetensors" and student is None:
        raise ValueError(f"{path} holds weights only: open it with its student ({sidecar['source']['student']})")
    architecture = fold_normalisation(student) if student is not None else None
    return ExportedModel(path, sidecar["export_format"], architecture)


@dataclass
class ServingResult:
    """Accuracy of the export and of the PyTorch student on the same images.

    Attributes:
        name: ``clean`` or the transfer attack's key.
        label: display name.
        accuracy_export: accuracy of the exported file.
        accuracy_pytorch: accuracy of the PyTorch student (for an attack: white-box, since it was crafted on it).
        agreement: share of images on which both predict the same class.
    """

    name: str
    label: str
    accuracy_export: float
    accuracy_pytorch: float
    agreement: float


@dataclass
class ServingReport:
    """What :func:`serving_check` measured.

    Attributes:
        export: the exported file.
        student: the PyTorch student the attacks were crafted on.
        threat_model: the budget of the transfer attacks.
        n_examples: images evaluated.
        results: clean first, then one row per transfer attack.
        notes: what was not run, and why.
    """

    export: str
    student: str
    threat_model: str
    n_examples: int
    results: list[ServingResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"export": self.export, "student": self.student, "threat_model": self.threat_model,
                "n_examples": self.n_examples, "results": [vars(result) for result in self.results],
                "notes": self.notes}

    def to_markdown(self) -> str:
        """A short Markdown report: one table and the notes."""
        lines = [f"# Serving check: {self.export}", "",
                 f"{self.n_examples} test images; transfer attacks crafted on the PyTorch student {self.student} "
                 f"({self.threat_model}).", "",
                 "| Input | Exported file | PyTorch student | Same prediction |", "|---|---:|---:|---:|"]
        lines += [f"| {r.label} | {100 * r.accuracy_export:.1f} | {100 * r.accuracy_pytorch:.1f} | "
                  f"{100 * r.agreement:.1f} |" for r in self.results]
        lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines) + "\n"


def serving_check(
    path: str | Path,
    x: np.ndarray,
    y: np.ndarray,
    *,
    attacks: Sequence[str] = TRANSFER_ATTACKS,
    eps: float | None = None,
    norm: str = "inf",
    batch_size: int = 128,
    seed: int = 0,
    device: str = "auto",
) -> ServingReport:
    """Evaluate an exported file on clean images and on transfer attacks crafted on its PyTorch student.

    Args:
        path: the exported file (its sidecar names the student and the threat model it was trained for).
        x: test images, float32 NCHW in [0, 1].
        y: their labels.
        attacks: attacks to transfer, from :data:`TRANSFER_ATTACKS` (others are listed in the notes as needing
            the PyTorch model).
        eps: budget in pixel units; ``None``: the one the student was trained for (from the sidecar).
        norm: ``"inf"`` or ``"2"``.
        batch_size: batch size of predictions and attacks.
        seed: seed of the attacks' random starts.
        device: where the PyTorch student runs.

    Returns:
        The report.

    Raises:
        FileNotFoundError: the file, its sidecar or its student is missing.
        ValueError: the file changed since export, or images that do not fit it.
    """
    sidecar = read_sidecar(path)
    student_path = Path(sidecar["source"]["student"])
    if not student_path.is_file():
        raise FileNotFoundError(f"the serving check crafts its attacks on the PyTorch student {student_path} named "
                                f"in {sidecar_path(path)}, and it is missing")
    student = load_classifier(student_path, device=device)
    exported = open_export(path, student=student)
    if tuple(x.shape[1:]) != tuple(sidecar["input"]["shape"][1:]):
        raise ValueError(f"images of shape {tuple(x.shape[1:])} do not fit {path} (input {sidecar['input']['shape']})")
    if eps is None and norm == "inf" and sidecar.get("threat_model"):
        eps = sidecar["threat_model"]["eps"]  # the Linf budget the student was trained for
    threat = ThreatModel.create(norm, eps, (0.0, 1.0))
    report = ServingReport(export=str(path), student=str(student_path), threat_model=threat.describe(),
                           n_examples=len(x))
    report.results.append(_compare("clean", "Clean", exported, student, x, y, batch_size))
    for key in (key for key in attacks if key in TRANSFER_ATTACKS):
        with seeded(seed):
            x_adv = _ATTACKS[key][1](student, threat, batch_size).generate(x, y=y)
        report.results.append(_compare(key, f"{_ATTACKS[key][0]} (transfer)", exported, student, x_adv, y, batch_size))
    report.notes.append(
        "Gradient attacks need the PyTorch model: the exported file only answers queries, so the attacks above are "
        f"crafted on the student and replayed on the export. For AutoAttack run `art-bmtad eval --model "
        f"{student_path.parent if student_path.name == 'student.safetensors' else student_path}`.")
    skipped = [key for key in attacks if key not in (*TRANSFER_ATTACKS, "clean")]
    if skipped:
        report.notes.append(f"Not run on the export: {', '.join(skipped)} (see above).")
    return report


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _compare(name: str, label: str, exported: ExportedModel, student: PyTorchClassifier, x: np.ndarray,
             y: np.ndarray, batch_size: int) -> ServingResult:
    ours = exported.logits(x, batch_size).argmax(axis=1)
    theirs = student.predict(x, batch_size=batch_size).argmax(axis=1)
    return ServingResult(name, label, float(np.mean(ours == y)), float(np.mean(theirs == y)),
                         float(np.mean(ours == theirs)))


def _fgsm(student: PyTorchClassifier, threat: ThreatModel, batch_size: int) -> FastGradientMethod:
    return FastGradientMethod(gradient_view(student, loss=torch.nn.CrossEntropyLoss()), norm=threat.art_norm,
                              eps=threat.eps, eps_step=threat.eps, num_random_init=0, batch_size=batch_size)


def _pgd(student: PyTorchClassifier, threat: ThreatModel, batch_size: int, *, loss: torch.nn.Module | None = None,
         steps: int = PGD_STEPS) -> ProjectedGradientDescentPyTorch:
    view = gradient_view(student, loss=loss if loss is not None else torch.nn.CrossEntropyLoss())
    return ProjectedGradientDescentPyTorch(view, norm=threat.art_norm, eps=threat.eps, eps_step=threat.pgd_step,
                                           max_iter=steps, num_random_init=1, batch_size=batch_size, verbose=False)


_ATTACKS: dict[str, tuple[str, Callable[[PyTorchClassifier, ThreatModel, int], Any]]] = {
    "fgsm": ("FGSM", _fgsm),
    "pgd20": (f"PGD-{PGD_STEPS}", _pgd),
    "cw": (f"CW ({CW_STEPS} steps)",
           lambda student, threat, batch_size: _pgd(student, threat, batch_size, loss=CWMarginLoss(), steps=CW_STEPS)),
}
"""The transfer attacks, with the settings of :mod:`art_bmtad.evaluation.suite` (FGSM: one eps step; PGD-20 and
CW: random start, steps of eps / 4 (Linf), CW on the Carlini-Wagner margin)."""


def _runner(path: Path, export_format: str, architecture: torch.nn.Module | None) -> Callable[[np.ndarray], np.ndarray]:
    if export_format == "onnx":
        onnxruntime = require_onnx()
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    if export_format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # deprecated, and still what TorchScript servers use
            module = torch.jit.load(str(path), map_location="cpu").eval()
    elif export_format == "safetensors":
        from art_bmtad.models.classifier_files import load_weights

        module = load_weights(architecture.to("cpu"), path).eval()
    else:
        raise ValueError(f"unknown export format {export_format!r}")

    def forward(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()

    return forward


def export_run_folder(path: str | Path) -> Path | None:
    """The run folder whose ``config.yaml`` trained an exported student (its data and threat model), found through
    the sidecar; ``None`` when there is none."""
    return recipe_folder(Path(read_sidecar(path)["source"]["student"]))
