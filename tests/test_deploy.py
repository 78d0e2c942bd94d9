"""Deployment: inference cost against hand counts, verified exports (ONNX, TorchScript, safetensors) of a digits
student with the normalisation folded in, refused exports, the onnx-missing message, cost and the serving check
through the CLI."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from art_bmtad import cli
from art_bmtad.deploy import export as export_module
from art_bmtad.deploy.cost import count_flops, measure_cost, peak_activation_bytes
from art_bmtad.deploy.export import ExportVerificationError, export_student
from art_bmtad.deploy.folded import fold_normalisation
from art_bmtad.deploy.serving import ONNX_INSTALL_HINT, open_export, read_sidecar, sidecar_path
from art_bmtad.models.classifier import create_classifier
from art_bmtad.models.classifier_files import save_classifier
from art_bmtad.recipes.recipe import load_recipe, write_recipe
from tests.conftest import TinyConvNet, make_classifier

pytestmark = pytest.mark.usefixtures("one_thread")

FORMATS = ("onnx", "torchscript", "safetensors")


def conv_and_linear() -> torch.nn.Module:
    """Conv 1->4 (3x3, padding 1) on 8x8, ReLU, flatten, linear 256->10."""
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 8 * 8, 10))


# --------------------------------------------------------------------------------------------- cost
def test_flops_match_a_hand_count_for_a_conv_and_a_linear_layer() -> None:
    conv_flops = 2 * (8 * 8 * 4) * (1 * 3 * 3)  # 2 x (outputs) x (multiply-adds per output) = 4,608
    linear_flops = 2 * 256 * 10  # 5,120
    model = conv_and_linear()
    assert count_flops(model, torch.rand(1, 1, 8, 8)) == conv_flops + linear_flops == 9728
    assert count_flops(model, torch.rand(5, 1, 8, 8)) == 9728  # per image, whatever the batch
    strided = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)  # 4x4 outputs
    assert count_flops(strided, torch.rand(1, 3, 8, 8)) == 2 * (4 * 4 * 8) * (3 * 3 * 3)


def test_cost_report_counts_params_weights_and_times_each_batch(tmp_path) -> None:
    threads = torch.get_num_threads()
    report = measure_cost(conv_and_linear(), (1, 8, 8), batch_sizes=(1, 8, 8), repeats=5, warmup=1, threads=2)
    assert report.params == (4 * 9 + 4) + (256 * 10 + 10) == 2610
    assert report.flops_per_image == 9728
    assert report.threads == 2 and torch.get_num_threads() == threads  # recorded, then restored
    assert [t.batch_size for t in report.timings] == [1, 8]
    for timing in report.timings:
        assert timing.min_ms <= timing.q1_ms <= timing.median_ms <= timing.q3_ms <= timing.max_ms
        assert timing.images_per_second == pytest.approx(timing.batch_size / (timing.median_ms / 1e3))
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in conv_and_linear().state_dict().items()}, tmp_path / "w.safetensors")
    assert report.weight_bytes == (tmp_path / "w.safetensors").stat().st_size
    assert json.loads(json.dumps(report.to_dict()))["timings"][1]["batch_size"] == 8


def test_peak_activation_memory_is_the_bytes_a_forward_allocates() -> None:
    linear = torch.nn.Linear(64, 10).eval()
    assert peak_activation_bytes(linear, torch.rand(32, 64)) == 32 * 10 * 4  # the float32 output only
    two = torch.nn.Sequential(torch.nn.Linear(64, 100), torch.nn.Linear(100, 10)).eval()
    assert peak_activation_bytes(two, torch.rand(32, 64)) == 32 * (100 + 10) * 4  # hidden + output alive at once


def test_cost_refuses_too_few_repeats() -> None:
    with pytest.raises(ValueError, match="repeats"):
        measure_cost(conv_and_linear(), (1, 8, 8), repeats=2)


# --------------------------------------------------------------------------------------------- folding
def test_folded_model_on_raw_pixels_equals_classifier_predict() -> None:
    torch.manual_seed(0)
    classifier = make_classifier(TinyConvNet(), preprocessing=(0.3, 0.2))
    x = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        folded = fold_normalisation(classifier)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(folded, classifier.predict(x), atol=1e-6)
    with torch.no_grad():  # without the folded layer the raw network gives something else
        assert not np.allclose(classifier.model(torch.from_numpy(x)).numpy(), folded, atol=1e-3)


# --------------------------------------------------------------------------------------------- export
@pytest.fixture(scope="module")
def student_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run folder: a timm test_resnet student trained for a few steps, with the smoke recipe."""
    run = tmp_path_factory.mktemp("deploy") / "run"
    torch.manual_seed(0)
    classifier = create_classifier("timm/test_resnet", dataset="digits", device="cpu")
    data = load_digits()
    x, y = (data.images / 16.0).astype(np.float32)[:256, None], data.target[:256].astype(np.int64)
    classifier.fit(x, y, nb_epochs=1, batch_size=64)
    classifier.model.eval()
    save_classifier(classifier, run / "student", defence="bmtard")
    write_recipe(load_recipe("smoke"), run / "config.yaml")
    return run


@pytest.fixture(scope="module")
def torchscript_export(student_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student exported once as TorchScript, for the tests that only read an export."""
    out = tmp_path_factory.mktemp("export") / "s.pt"
    export_student(student_run, "torchscript", out, n_verify=16)
    return out


def _digits_test(n: int) -> np.ndarray:
    from art_bmtad.pipeline.components import load_data

    return load_data(load_recipe("smoke")).x_test[:n]


@pytest.mark.parametrize("export_format", FORMATS)
def test_export_round_trip_reproduces_the_student(student_run, tmp_path, export_format) -> None:
    if export_format == "onnx":  # the 'onnx' extra, which `make` installs
        pytest.importorskip("onnx")
        pytest.importorskip("onnxruntime")
    out = tmp_path / {"onnx": "s.onnx", "torchscript": "s.pt", "safetensors": "s.safetensors"}[export_format]
    result = export_student(student_run, export_format, out, n_verify=64)
    check = result.verification
    assert check.passed and check.agreement == 1.0 and check.accuracy_export == check.accuracy_pytorch
    assert check.max_abs_diff <= check.tolerance and check.tolerance >= 1e-4

    from art_bmtad.models.classifier_files import load_classifier

    student = load_classifier(student_run, device="cpu")
    exported = open_export(out, student=student)
    x = _digits_test(7)  # a batch size the export never saw: the batch axis is dynamic
    expected = student.predict(x)
    logits = exported.logits(x)
    np.testing.assert_allclose(logits, expected, atol=1e-4 * max(1.0, float(np.abs(expected).max())))
    np.testing.assert_array_equal(logits.argmax(1), expected.argmax(1))

    sidecar = read_sidecar(out)
    assert sidecar["input"]["shape"] == [None, 1, 8, 8] and sidecar["input"]["range"] == [0.0, 1.0]
    assert sidecar["num_classes"] == 10 and sidecar["class_names"] == [str(i) for i in range(10)]
    assert sidecar["threat_model"]["eps"] == pytest.approx(0.1) and sidecar["threat_model"]["norm"] == "Linf"
    assert sidecar["defence"] == "bmtard" and sidecar["normalisation"]["folded"] is True
    assert sidecar["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, sidecar_path(out).name])


def test_export_writes_into_the_run_folder_by_default(student_run) -> None:
    result = export_student(student_run, "safetensors", n_verify=16, overwrite=True)
    assert result.path == student_run / "student.folded.safetensors"
    assert result.sidecar == student_run / "student.folded.safetensors.json"


def test_a_mismatching_export_fails_and_leaves_the_earlier_file(student_run, tmp_path, monkeypatch) -> None:
    out = tmp_path / "s.pt"
    export_student(student_run, "torchscript", out, n_verify=16)
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    write = export_module._WRITERS["torchscript"]

    def broken(folded, example, path, exporter):  # a wrong weight in what gets written
        with torch.no_grad():
            next(folded.network.parameters()).add_(0.5)
        write(folded, example, path, exporter)

    monkeypatch.setitem(export_module._WRITERS, "torchscript", broken)
    with pytest.raises(ExportVerificationError, match="does not reproduce the student"):
        export_student(student_run, "torchscript", out, n_verify=16, overwrite=True)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.pt", "s.pt.json"]  # no temporary file left


def test_export_of_a_run_without_a_student_is_refused(tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert cli.main(["export", str(tmp_path / "empty"), "--format", "torchscript"]) == 2
    assert "holds no student (student.safetensors is missing)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("folder", "is a folder"),
        ("a_file/student.pt", "is a file, not a folder"),
        ("student.onnx", "a torchscript export is written as .pt or .pth"),
        ("existing.pt", "already exist"),
        ("readonly/student.pt", "cannot write in"),
    ],
)
def test_bad_output_paths_are_refused_before_any_work(student_run, tmp_path, monkeypatch, capsys, out,
                                                       message) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "existing.pt").write_bytes(b"keep me")
    (tmp_path / "readonly").mkdir()
    if out.startswith("readonly"):  # (the tests may run as root, for whom chmod does not make a folder read-only)
        real_access = os.access
        monkeypatch.setattr("art_bmtad.run.files.os.access",
                            lambda path, mode: "readonly" not in str(path) and real_access(path, mode))

    def not_reached(*args, **kwargs):
        raise AssertionError("the student was loaded before the output was checked")

    monkeypatch.setattr(export_module, "load_source", not_reached)
    code = cli.main(["export", str(student_run), "--format", "torchscript", "--out", str(tmp_path / out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert (tmp_path / "existing.pt").read_bytes() == b"keep me"


def test_missing_onnx_extra_says_how_to_install_it(student_run, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    assert cli.main(["export", str(student_run), "--format", "onnx", "--out", str(tmp_path / "s.onnx")]) == 2
    error = capsys.readouterr().err
    assert ONNX_INSTALL_HINT in error and "onnxruntime" in error
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------- CLI
def test_cost_cli_on_a_run_folder_and_a_zoo_name(student_run, tmp_path, capsys) -> None:
    out = tmp_path / "cost.json"
    code = cli.main(["cost", str(student_run), "timm/test_resnet", "--data", "digits", "--batch-size", "4",
                     "--repeats", "3", "--warmup", "0", "--threads", "1", "--out", str(out)])
    assert code == 0
    run_report, zoo_report = json.loads(out.read_text())
    assert run_report["model"] == str(student_run) and zoo_report["model"] == "timm/test_resnet"
    assert run_report["params"] == zoo_report["params"] > 0  # the same architecture
    assert run_report["flops_per_image"] == zoo_report["flops_per_image"] > 0
    assert run_report["weight_bytes"] == (student_run / "student.safetensors").stat().st_size
    assert [t["batch_size"] for t in run_report["timings"]] == [1, 4] and run_report["threads"] == 1
    table = capsys.readouterr().out
    assert "| `timm/test_resnet` |" in table and "multiply-add = 2 FLOPs" in table


def test_cost_cli_names_an_unknown_model(capsys) -> None:
    assert cli.main(["cost", "no/such-model"]) == 2
    assert "neither a run folder or saved student nor a registered model" in capsys.readouterr().err


def test_eval_of_an_exported_file_is_the_serving_check(torchscript_export, tmp_path, capsys) -> None:
    report_file = tmp_path / "serving.json"
    code = cli.main(["eval", "--model", str(torchscript_export), "--n-examples", "20", "--threads", "1",
                     "--attacks", "fgsm,autoattack", "--out", str(report_file)])
    assert code == 0
    report = json.loads(report_file.read_text())
    assert [r["name"] for r in report["results"]] == ["clean", "fgsm"]
    assert all(r["accuracy_export"] == r["accuracy_pytorch"] and r["agreement"] == 1.0 for r in report["results"])
    assert "eps = 0.1" in report["threat_model"]  # the budget the student was trained for
    text = capsys.readouterr().out
    assert "Gradient attacks need the PyTorch model" in text and "Not run on the export: autoattack" in text


def test_a_changed_export_is_refused(torchscript_export, tmp_path) -> None:
    out = tmp_path / "s.pt"
    out.write_bytes(torchscript_export.read_bytes() + b"\0")
    sidecar_path(out).write_bytes(sidecar_path(torchscript_export).read_bytes())
    with pytest.raises(ValueError, match="changed since it was exported"):
        open_export(out)


# --------------------------------------------------------------------------------------------- benchmark columns
def _cost(batch_size: int, median: float, q1: float, q3: float, b1: float = 2.0) -> dict:
    timing = {"repeats": 10, "min_ms": 0.0, "max_ms": 99.0, "images_per_second": 0.0, "peak_activation_mib": 0.0}
    return {"params": 373370, "flops_per_image": 1_064_832, "device": "cpu", "threads": 1, "timings": [
        {**timing, "batch_size": 1, "median_ms": b1, "q1_ms": b1 - 0.5, "q3_ms": b1 + 0.5},
        {**timing, "batch_size": batch_size, "median_ms": median, "q1_ms": q1, "q3_ms": q3}]}


def _teachers() -> list[dict]:
    return [{"role": "robust", "accuracy": {"clean": 0.9, "pgd20": 0.6},
             "inference": _cost(10, 40.0, 38.0, 42.0, b1=8.0)},
            {"role": "clean", "accuracy": {"clean": 0.95}, "inference": _cost(10, 30.0, 29.0, 31.0)}]


def test_derived_columns_from_hand_made_figures() -> None:
    from art_bmtad.deploy.benchmark import cost_cells, deployment_figures, teacher_figures

    student = {"name": "bmtard", "accuracy": {"clean": 0.9, "autoattack": 0.5, "worst_case": 0.45},
               "inference": _cost(10, 10.0, 9.0, 12.0), "training_cost": {"teacher_seconds": 150.0}}
    figures = deployment_figures(student, _teachers(), ["robust", "clean"])
    assert figures["robust_accuracy_per_ms"] == pytest.approx(50 / 2.0)  # 50 % AutoAttack in 2 ms
    assert figures["teacher_seconds"] == 150.0
    assert figures["saving_ms_per_image"] == pytest.approx((40.0 - 10.0) / 10)  # 3 ms per image at batch 10
    assert figures["payback_images"] == pytest.approx(150.0 / 0.003)  # 50,000 images
    unknown = {**student, "training_cost": {"teacher_seconds": None}}  # e.g. a teacher from a checkpoint
    assert deployment_figures(unknown, _teachers(), ["robust", "clean"])["payback_images"] is None
    assert deployment_figures(student, _teachers(), [])["payback_images"] is None  # ART's trainers: no teachers
    slow = {**student, "inference": _cost(10, 37.0, 36.0, 39.0)}  # its q3 is above the teacher's q1: no clear saving
    assert deployment_figures(slow, _teachers(), ["robust"])["payback_images"] is None
    assert teacher_figures(_teachers()[0])["robust_accuracy_per_ms"] == pytest.approx(60 / 8.0)
    assert teacher_figures(_teachers()[1])["robust_accuracy_per_ms"] is None
    student["deployment"] = figures
    assert cost_cells(student) == ["373k", "1.06", "2.00", "10.00", "25.0", "50k"]
    assert cost_cells({"name": "old run"}) == ["–"] * 6


def test_accuracy_latency_plot_is_written(tmp_path) -> None:
    from art_bmtad.deploy.benchmark import plot_accuracy_latency

    results = {"evaluation": {"labels": {"clean": "Clean", "autoattack": "AutoAttack"}}, "teachers": _teachers(),
               "defences": [{"name": "bmtard", "accuracy": {"autoattack": 0.5}, "inference": _cost(10, 10, 9, 12)}]}
    path = plot_accuracy_latency(results, tmp_path / "latency.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_accuracy_latency({**results, "teachers": [], "defences": [{"name": "x"}]}, tmp_path / "no.png") is None
    assert not (tmp_path / "no.png").exists()
