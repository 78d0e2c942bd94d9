"""Robustness evaluation on models whose answer is known: linear (closed form), constant, gradient-masking."""
from __future__ import annotations

import importlib.util
import json
import logging
import sys
import types

import numpy as np
import pytest
import torch
from art.estimators.classification import PyTorchClassifier

from art_bmtad.evaluation import AttackSettings, ThreatModel, evaluate_robustness
from art_bmtad.evaluation import runner as runner_module
from art_bmtad.evaluation.estimate import PassCost, autoattack_seconds
from art_bmtad.evaluation.objectives import CWMarginLoss, TargetedDLRLoss
from art_bmtad.evaluation.report import per_class_accuracy
from art_bmtad.evaluation.settings import format_eps, parse_budget

SHAPE = (1, 8, 8)
EPS = 8 / 255
FAST = AttackSettings(apgd_steps=20, square_queries=50, sanity_examples=60)


pytestmark = pytest.mark.usefixtures("one_thread")


def as_classifier(model: torch.nn.Module, nb_classes: int) -> PyTorchClassifier:
    return PyTorchClassifier(
        model, loss=torch.nn.CrossEntropyLoss(), input_shape=SHAPE, nb_classes=nb_classes, clip_values=(0.0, 1.0),
        device_type="cpu",
    )


def linear_classifier(weight: np.ndarray, bias: np.ndarray) -> PyTorchClassifier:
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
    return as_classifier(torch.nn.Sequential(torch.nn.Flatten(), layer), weight.shape[0])


def linear_problem(norm: str, eps: float, n: int = 160, seed: int = 0):
    """A 2-class linear model and data where the worst-case perturbation is known in closed form.

    For ``z = W x + b`` the margin ``m = (w_y - w_o) . x + b_y - b_o`` drops by at most ``eps * ||w_y - w_o||_q``
    (q the dual norm: 1 for Linf, 2 for L2) and the attack that reaches it stays inside [0, 1] here, so an example
    is robust exactly when ``m > eps * ||w_y - w_o||_q``. Examples within 10% of that threshold are dropped.
    """
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(2, 64)).astype(np.float32)
    bias = (-weight.sum(axis=1) / 2).astype(np.float32)  # margin 0 at the grey image
    x = rng.uniform(eps + 0.01, 1 - eps - 0.01, size=(3 * n, *SHAPE)).astype(np.float32)
    logits = x.reshape(len(x), -1) @ weight.T + bias
    labels = logits.argmax(axis=1)
    labels[::10] = 1 - labels[::10]  # some clean errors
    diff = weight[labels] - weight[1 - labels]
    margin = logits[np.arange(len(x)), labels] - logits[np.arange(len(x)), 1 - labels]
    budget = eps * np.linalg.norm(diff, ord=1 if norm == "inf" else 2, axis=1)
    keep = np.flatnonzero(np.abs(margin - budget) > 0.1 * budget)[:n]
    return linear_classifier(weight, bias), x[keep], labels[keep], (margin > budget)[keep]


class NonMonotoneMargin(torch.nn.Module):
    """Gradient masking by design: the attack gradient points the wrong way beyond a small step.

    Class 0's margin ``g(u)`` along ``u = (mean(x) - 0.5) / eps`` falls until ``u = 1/8``, rises until 0.9 and then
    plunges below zero at ``u = 1``. FGSM's single full step from ``u = 0`` lands at ``u = 1`` (misclassified);
    PGD's steps of eps/4 turn back at ``u = 1/8`` and never get past ``u = 0.4``, also at 2 eps (steps of eps/2
    reach 0.65). So FGSM is stronger than PGD: the ``fgsm_vs_pgd`` sanity check must fire.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = (x.flatten(1).mean(dim=1) - 0.5) / EPS
        g = 1 - u + 2 * torch.relu(u - 0.125) - 31 * torch.relu(u - 0.9)
        return torch.stack([g, -g], dim=1) / 2


class Constant(torch.nn.Module):
    """Same logits for every input (the input enters with weight 0 so input gradients exist and are zero)."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(logits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits + 0 * x.flatten(1).sum(dim=1, keepdim=True)


def ten_class_problem(n: int = 80, seed: int = 1):
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(10, 64)).astype(np.float32)
    classifier = linear_classifier(weight, (-weight.sum(axis=1) / 2).astype(np.float32))
    x = rng.uniform(0, 1, size=(n, *SHAPE)).astype(np.float32)
    labels = classifier.predict(x).argmax(axis=1)
    labels[::8] = (labels[::8] + 1) % 10
    return classifier, x, labels


@pytest.mark.parametrize("norm, eps, square_runs", [("inf", EPS, True), ("2", 0.1, False)])
def test_linear_model_attacks_find_exactly_the_closed_form_errors(norm, eps, square_runs):
    classifier, x, labels, expected = linear_problem(norm, eps)
    assert 0.2 < expected.mean() < 0.8  # the test has both outcomes

    report = evaluate_robustness(classifier, x, labels, norm=norm, eps=eps, settings=FAST)

    for key in ("fgsm", "pgd20", "cw", "autoattack"):
        np.testing.assert_array_equal(report.results[key].robust, expected, err_msg=key)
    np.testing.assert_array_equal(report.worst_case.robust, expected)
    assert report.worst_case_accuracy == pytest.approx(expected.mean())
    assert report.clean_accuracy == pytest.approx(np.mean(classifier.predict(x).argmax(1) == labels))
    assert report.clean_accuracy < 1
    assert not report.failed_checks and len(report.sanity_checks) == 3
    parts = [part.name for part in report.results["autoattack"].sub_attacks]
    assert parts == ["apgd-ce", "apgd-t"] + ["square"] * square_runs  # ART's L2 Square cannot do 8 x 8 images
    assert any("Square skipped" in note for note in report.notes) != square_runs


def test_constant_model_accuracy_is_the_share_of_its_class():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(50, *SHAPE)).astype(np.float32)
    labels = rng.integers(0, 4, size=50)
    classifier = as_classifier(Constant([0.0, 1.0, 3.0, 2.0]), 4)

    report = evaluate_robustness(classifier, x, labels, settings=FAST, sanity_checks=False)

    share = np.mean(labels == 2)
    assert {name: result.accuracy for name, result in report.results.items()} == {
        name: pytest.approx(share) for name in ("clean", "fgsm", "pgd20", "cw", "autoattack")
    }
    assert report.worst_case_accuracy == pytest.approx(share)
    by_class = {row.index: row for row in report.per_class}
    assert by_class[2].clean_accuracy == by_class[2].robust_accuracy == 1.0
    assert all(row.robust_accuracy == 0.0 for index, row in by_class.items() if index != 2)
    assert report.worst_class.index == 0 and report.worst_class.robust_accuracy == 0.0
    assert sum(row.n for row in report.per_class) == 50


def test_standard_autoattack_runs_each_part_on_the_examples_still_robust(monkeypatch):
    classifier, x, labels = ten_class_problem()
    calls = []
    original = runner_module.AttackRunner.attack

    def spy(self, key, attack, points, **kwargs):
        robust, seconds = original(self, key, attack, points, **kwargs)
        calls.append((key, points.copy(), robust.copy()))
        return robust, seconds

    monkeypatch.setattr(runner_module.AttackRunner, "attack", spy)
    settings = AttackSettings(apgd_steps=20, n_target_classes=3, square_queries=50)
    report = evaluate_robustness(classifier, x, labels, attacks=["autoattack"], settings=settings, sanity_checks=False)

    assert [key for key, _, _ in calls] == ["apgd-ce", "apgd-t-1", "apgd-t-2", "apgd-t-3", "square"]
    clean = report.results["clean"].robust
    np.testing.assert_array_equal(calls[0][1], clean)
    for (_, _, robust_before), (_, points, _) in zip(calls, calls[1:]):
        np.testing.assert_array_equal(points, robust_before)  # each run attacks only what is still robust
    aa = report.results["autoattack"]
    assert [part.name for part in aa.sub_attacks] == ["apgd-ce", "apgd-t", "square"]
    masks = [clean] + [part.robust for part in aa.sub_attacks]
    np.testing.assert_array_equal(aa.robust, np.logical_and.reduce(masks))
    attacked = [part.n_attacked for part in aa.sub_attacks]
    assert attacked == [int(clean.sum())] + [int(part.robust.sum()) for part in aa.sub_attacks[:-1]]
    assert attacked[1] < attacked[0]  # APGD-CE broke some, so APGD-T got fewer examples
    assert report.autoattack == "standard"
    assert any("FAB-T skipped" in note for note in report.notes)
    assert any("n_target_classes=3" in note for note in report.notes)


def test_worst_case_is_per_example_over_all_attacks():
    classifier, x, labels = ten_class_problem()
    report = evaluate_robustness(classifier, x, labels, settings=FAST, sanity_checks=False)

    masks = [result.robust for result in report.results.values()]
    np.testing.assert_array_equal(report.worst_case.robust, np.logical_and.reduce(masks))
    assert report.worst_case_accuracy <= min(result.accuracy for result in report.results.values())
    rows = per_class_accuracy(labels, report.results["clean"].robust, report.worst_case.robust, list("abcdefghij"))
    assert [row.robust_accuracy for row in rows] == [row.robust_accuracy for row in report.per_class]


def test_art_default_autoattack_is_named_in_the_report():
    classifier, x, labels = ten_class_problem(n=20)
    report = evaluate_robustness(
        classifier, x, labels, attacks=["autoattack"], eps=0.25, autoattack="art-default", sanity_checks=False
    )

    aa = report.results["autoattack"]
    assert report.autoattack == "art-default" and aa.label == "AutoAttack (ART default)"
    assert [part.label for part in aa.sub_attacks] == ["APGD-CE", "APGD-DLR", "DeepFool", "SquareAttack"]
    assert aa.accuracy == 0.0 and aa.sub_attacks[0].accuracy == 0.0  # eps 0.25 breaks a linear model everywhere
    assert not any("FAB-T" in note for note in report.notes)
    assert "AutoAttack: standard budget, art backend, art-default variant |" in report.to_markdown()


def test_a_reduced_autoattack_budget_is_never_called_standard():
    classifier, x, labels = ten_class_problem(n=20)
    report = evaluate_robustness(classifier, x, labels, attacks=["autoattack"], eps=0.25, settings=parse_budget("fast"),
                                 sanity_checks=False)

    summary = report.to_markdown().splitlines()[2]
    assert "AutoAttack: fast budget, art backend |" in summary and "standard" not in summary


def test_sanity_checks_fire_on_a_gradient_masking_model(caplog):
    rng = np.random.default_rng(0)
    noise = rng.uniform(-0.2, 0.2, size=(20, *SHAPE)).astype(np.float32)
    x = 0.5 + noise - noise.mean(axis=(1, 2, 3), keepdims=True)
    labels = np.zeros(20, dtype=np.int64)
    classifier = as_classifier(NonMonotoneMargin(), 2)

    with caplog.at_level(logging.WARNING):
        report = evaluate_robustness(classifier, x, labels, attacks=["fgsm", "pgd20"], settings=FAST)

    assert report.results["fgsm"].accuracy == 0.0 and report.results["pgd20"].accuracy == 1.0
    assert [check.name for check in report.failed_checks] == ["fgsm_vs_pgd"]
    markdown = report.to_markdown()
    assert markdown.index("WARNING: 1 SANITY CHECK(S) FAILED") < markdown.index("| Attack |")
    assert "`fgsm_vs_pgd`" in markdown and "**FAIL**" in markdown
    assert any("SANITY CHECK FAILED (fgsm_vs_pgd)" in record.message for record in caplog.records)
    assert report.to_dict()["sanity_passed"] is False


def test_repeated_evaluation_gives_identical_numbers_and_leaves_global_rng_alone():
    classifier, x, labels = ten_class_problem(n=40)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    first, second = (evaluate_robustness(classifier, x, labels, settings=FAST, seed=5) for _ in range(2))

    for key in first.results:
        np.testing.assert_array_equal(first.results[key].robust, second.results[key].robust, err_msg=key)
    assert [c.accuracies for c in first.sanity_checks] == [c.accuracies for c in second.sanity_checks]
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_report_serialises_to_json_and_markdown():
    classifier, x, labels = ten_class_problem(n=30)
    names = [f"digit{i}" for i in range(10)]
    report = evaluate_robustness(
        classifier, x, labels, attacks=["clean", "fgsm", "pgd20"], settings=FAST, class_names=names, n_examples=25
    )

    data = json.loads(json.dumps(report.to_dict()))
    assert data["n_examples"] == 25 and data["threat_model"] == {"norm": "inf", "eps": EPS, "eps_label": "8/255"}
    assert set(data["robust_accuracy"]) == {"clean", "fgsm", "pgd20"} and data["autoattack"] is None
    assert data["worst_class"]["name"].startswith("digit")
    assert data["worst_class"]["robust_accuracy"] == min(row["robust_accuracy"] for row in data["per_class"])
    assert {"torch", "art", "art_bmtad"} <= set(data["versions"])
    assert data["sanity_passed"] is True and len(data["sanity_checks"]) == 3
    markdown = report.to_markdown()
    for text in ("Linf, eps = 8/255", "| PGD-20 |", "**Worst case**", "## Per class", "Worst class:", "digit"):
        assert text in markdown
    assert "WARNING" not in markdown


def test_one_hot_labels_give_the_same_report_as_indices_and_the_model_keeps_its_mode():
    classifier, x, labels = ten_class_problem(n=20)
    classifier.model.train()
    kwargs = dict(attacks=["fgsm", "pgd20"], sanity_checks=False)
    by_index = evaluate_robustness(classifier, x, labels, **kwargs)
    by_one_hot = evaluate_robustness(classifier, x, np.eye(10)[labels], **kwargs)
    assert by_index.to_dict()["robust_accuracy"] == by_one_hot.to_dict()["robust_accuracy"]
    assert classifier.model.training
    assert all(parameter.requires_grad for parameter in classifier.model.parameters())


def test_objectives_match_their_formulas():
    logits = torch.tensor([[5.0, 1.0, 3.0, 0.0, -1.0], [0.0, 2.0, 1.0, 4.0, 3.0]])
    labels = torch.tensor([0, 3])
    targets = torch.tensor([2, 1])
    cw = CWMarginLoss(reduction="none")(logits, labels)
    torch.testing.assert_close(cw, torch.tensor([3.0 - 5.0, 3.0 - 4.0]))
    dlr = TargetedDLRLoss(reduction="none")(logits, torch.nn.functional.one_hot(targets, 5))
    # -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2), minimised: (z_y - z_t) / ...
    torch.testing.assert_close(dlr, torch.tensor([(5.0 - 3.0) / (5.0 - 1.0 / 2), (4.0 - 2.0) / (4.0 - 3.0 / 2)]))
    assert CWMarginLoss()(logits, labels).shape == ()


def test_threat_model_defaults_and_step_sizes():
    assert ThreatModel.create("inf", None, (0.0, 1.0)).pgd_step == pytest.approx(2 / 255)
    l2 = ThreatModel.create(2, None, (0.0, 1.0))
    assert (l2.norm, l2.eps, l2.pgd_step) == ("2", 0.5, 0.125)
    assert (format_eps(8 / 255), format_eps(0.5), format_eps(0.6)) == ("8/255", "0.5", "0.6")
    with pytest.raises(ValueError, match="norm"):
        ThreatModel.create(1, None, (0.0, 1.0))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 3, np.nan, x), y), "NaN"),
        (lambda x, y: (x + 2, y), "outside"),
        (lambda x, y: (x[:, :, :4], y), "shape"),
        (lambda x, y: (x, y + 10), r"outside \[0, 9\]"),
        (lambda x, y: (x, y[:-1]), "length"),
    ],
)
def test_bad_data_is_refused_before_any_attack(change, message):
    classifier, x, labels = ten_class_problem(n=10)
    with pytest.raises(ValueError, match=message):
        evaluate_robustness(classifier, *change(x, labels))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"attacks": ["pgd100"]}, "unknown attacks"),
        ({"autoattack": "fast"}, "autoattack must be one of"),
        ({"eps": 0.0}, "eps must be"),
        ({"norm": "1"}, "norm"),
        ({"n_examples": 0}, "n_examples"),
        ({"seed": -1}, "seed"),
        ({"class_names": ["a"]}, "class names"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    classifier, x, labels = ten_class_problem(n=10)
    with pytest.raises(ValueError, match=message):
        evaluate_robustness(classifier, x, labels, **kwargs)


def test_probability_outputs_are_refused():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3), torch.nn.Softmax(dim=1))
    x = np.full((4, *SHAPE), 0.5, dtype=np.float32)
    with pytest.raises(ValueError, match="probabilities"):
        evaluate_robustness(as_classifier(model, 3), x, np.zeros(4, dtype=np.int64))


def test_n_examples_larger_than_the_data_is_noted():
    classifier, x, labels = ten_class_problem(n=10)
    report = evaluate_robustness(classifier, x, labels, attacks=["fgsm"], n_examples=50, sanity_checks=False)
    assert report.n_examples == 10 and any("only 10 examples" in note for note in report.notes)


def test_cli_help_explains_every_option(capsys):
    from art_bmtad.cli import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["eval", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--model", "--data", "--data-path", "--n-examples", "--batch-size", "--seed", "--eps", "--norm",
                   "--attacks", "--autoattack", "--out", "--device", "art-default", "FAB-T"):
        assert option in text


def test_cli_eval_writes_the_json_report(tmp_path, monkeypatch, capsys):
    from art_bmtad.cli import main
    from art_bmtad.data.datasets import Dataset

    classifier, x, labels = ten_class_problem(n=12)
    loaded = {}
    dataset = Dataset("fake", x, labels, x[:4], labels[:4], x, labels, tuple(str(i) for i in range(10)), (0.5,), (0.5,))
    monkeypatch.setattr("art_bmtad.models.classifier_files.load_classifier",
                        lambda path, arch=None, device=None, **kwargs: loaded.update(path=path, device=device)
                        or classifier)
    monkeypatch.setattr("art_bmtad.pipeline.components.open_dataset", lambda source, path, **kwargs: dataset)
    out = tmp_path / "eval.json"

    code = main(["--quiet", "eval", "--model", str(tmp_path), "--attacks", "fgsm,pgd20", "--eps", "4/255",
                 "--n-examples", "10", "--no-sanity-checks", "--device", "cpu", "--out", str(out)])

    assert code == 0 and loaded == {"path": tmp_path, "device": "cpu"}
    data = json.loads(out.read_text())
    assert data["threat_model"]["eps_label"] == "4/255" and data["n_examples"] == 10
    assert set(data["robust_accuracy"]) == {"clean", "fgsm", "pgd20"} and data["sanity_checks"] == []
    assert "| FGSM |" in capsys.readouterr().out


def test_cli_rejects_unknown_attacks(capsys):
    from art_bmtad.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--model", "m", "--attacks", "pgd,fgsm"])
    assert "unknown attacks ['pgd']" in capsys.readouterr().err


@pytest.mark.slow
def test_full_standard_protocol_on_a_digits_mlp():
    """Default budgets (APGD 100 steps, 9 targets, Square 5,000 queries) on a small MLP trained on sklearn digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    inputs, targets = torch.from_numpy(x[200:]), torch.from_numpy(labels[200:])
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()

    report = evaluate_robustness(as_classifier(model, 10), x[:200], labels[:200], n_examples=60, eps=2 / 255)

    accuracy = report.to_dict()["robust_accuracy"]
    assert accuracy["clean"] > 0.8
    assert accuracy["clean"] >= accuracy["fgsm"] >= accuracy["pgd20"] >= report.worst_case_accuracy
    assert accuracy["autoattack"] <= accuracy["pgd20"] + 0.05
    assert not report.failed_checks
    assert [part.name for part in report.results["autoattack"].sub_attacks] == ["apgd-ce", "apgd-t", "square"]


def test_sanity_comparison_tolerates_random_start_noise_but_not_masking():
    from art_bmtad.evaluation.sanity import _Comparison

    subset = np.ones(50, dtype=bool)
    compare = _Comparison(subset, allowed=1)
    weaker = np.zeros(50, dtype=bool)
    weaker[:14] = True
    stronger = weaker.copy()
    stronger[[0]] = False  # one example only the stronger attack broke
    stronger[[20, 21, 22, 23]] = True  # four only the weaker one broke: 17 vs 14 robust, 5 disagreements
    assert compare("more_steps", "rule", ("PGD-50", stronger), ("PGD-20", weaker)).passed  # 3 <= 2*sqrt(5)
    everything = np.ones(50, dtype=bool)
    nothing = np.zeros(50, dtype=bool)
    assert not compare("fgsm_vs_pgd", "rule", ("PGD-20", everything), ("FGSM", nothing)).passed  # 50 > 2*sqrt(50)
    more = weaker.copy()
    more[20:30] = True  # ten more robust and no example the other way: 10 > 2*sqrt(10)
    assert not compare("larger_eps", "rule", ("PGD @ 2eps", more), ("PGD @ eps", weaker)).passed


def test_budgets_by_name_or_steps_and_their_labels():
    assert parse_budget("standard") == AttackSettings()
    assert parse_budget("fast").autoattack_budget() == (10, 3, 100) and parse_budget("fast").budget_label() == "fast"
    assert parse_budget("40").autoattack_budget() == (40, 9, 2000)
    assert parse_budget("100").budget_label() == "standard"
    assert parse_budget("7").budget_label() == "APGD 7 steps, 9 targets, Square 350 queries"
    with pytest.raises(ValueError, match="standard, fast or a number of APGD steps"):
        parse_budget("quick")


def test_autoattack_estimate_counts_passes_per_attack():
    cost = PassCost(gradient=0.001, forward=0.0001)
    settings = AttackSettings(apgd_steps=10, n_target_classes=3, square_queries=100)
    # APGD-CE 10 x 50 + APGD-T 10 x 3 x 20 gradient passes, Square 100 x 20 forward passes
    assert autoattack_seconds(cost, settings, "art", 50, 20, 10) == pytest.approx(0.001 * 1100 + 0.0001 * 2000)
    # the reference backend adds FAB-T: 2 x 10 x 3 x 20 passes
    assert autoattack_seconds(cost, settings, "reference", 50, 20, 10) == pytest.approx(1.1 + 1.2 + 0.2)


@pytest.mark.skipif(importlib.util.find_spec("pyautoattack") is None, reason="pyautoattack (extra 'autoattack')")
def test_reference_autoattack_finds_exactly_the_closed_form_errors_of_a_linear_model():
    classifier, x, labels, robust = linear_problem("inf", EPS, n=60)
    report = evaluate_robustness(classifier, x, labels, attacks=["autoattack"], eps=EPS, backend="reference",
                                 settings=parse_budget("10"), sanity_checks=False)
    result = report.results["autoattack"]
    assert [part.name for part in result.sub_attacks] == ["apgd-ce", "fab-t", "square"]  # APGD-T: 4+ classes
    assert any(note.startswith("APGD-T skipped") for note in report.notes)
    correct = classifier.predict(x).argmax(axis=1) == labels
    assert np.array_equal(result.robust, robust & correct)
    data = report.to_dict()
    assert (data["autoattack_backend"], data["autoattack_budget"]) == ("reference", "APGD 10 steps, 9 targets, "
                                                                                    "Square 500 queries")


def test_the_reference_backend_is_refused_without_its_package(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    classifier, x, labels = ten_class_problem(n=8)
    with pytest.raises(ValueError, match=r"pip install 'art-bmtad\[autoattack\]'"):
        evaluate_robustness(classifier, x, labels, attacks=["autoattack"], backend="reference")
