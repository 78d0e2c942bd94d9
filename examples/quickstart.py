"""Quick start in ART's style: distil a small robust student from a clean and a robust teacher with B-MTARD.

Runs on scikit-learn's digits (no download). Prints clean and PGD accuracy of a plainly trained student,
both teachers and the B-MTARD student on held-out data.

    python examples/quickstart.py            # 52 s wall on 2 cores of an AMD EPYC CPU (2026-12-01)
    python examples/quickstart.py --epochs 2 --n-train 256   # a few seconds
    python examples/quickstart.py --threads 1               # PyTorch threads (default: the physical cores)
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from art.attacks.evasion import ProjectedGradientDescentPyTorch
from art.defences.trainer import AdversarialTrainerMadryPGD
from art.estimators.classification import PyTorchClassifier
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from art_bmtad import AdversarialTrainerBMTARDPyTorch
from art_bmtad.utils.device import physical_cores

EPS = 0.15  # Linf budget in [0, 1] pixels; digits are 8x8 images with 17 grey levels


def conv_net(width: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, width, 3, padding=1), torch.nn.BatchNorm2d(width), torch.nn.ReLU(),
        torch.nn.Conv2d(width, 2 * width, 3, padding=1, stride=2), torch.nn.BatchNorm2d(2 * width), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(2 * width * 16, 10),
    )


def classifier(width: int) -> PyTorchClassifier:
    model = conv_net(width)
    return PyTorchClassifier(
        model,
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4),
        input_shape=(1, 8, 8),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        preprocessing=(0.3, 0.35),  # normalisation lives in the classifier, so eps stays in pixel space
    )


def accuracy(model: PyTorchClassifier, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    pgd = ProjectedGradientDescentPyTorch(model, eps=EPS, eps_step=EPS / 4, max_iter=20, num_random_init=1,
                                          verbose=False)
    clean = float((model.predict(x).argmax(1) == y).mean())
    robust = float((model.predict(pgd.generate(x, y)).argmax(1) == y).mean())
    return clean, robust


def run(epochs: int = 15, n_train: int | None = None, seed: int = 0, verbose: bool = True,
        kl_scale: float = 1.0) -> dict:
    """Train the plain student, both teachers and the B-MTARD student; return their test accuracies."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=seed,
                                                        stratify=digits.target)
    x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.15, random_state=seed)
    x_train, y_train = x_train[:n_train], y_train[:n_train]

    plain = classifier(8)
    plain.fit(x_train, y_train, batch_size=64, nb_epochs=epochs, verbose=False)
    clean_teacher = classifier(32)
    clean_teacher.fit(x_train, y_train, batch_size=64, nb_epochs=epochs, verbose=False)
    robust_teacher = classifier(32)
    AdversarialTrainerMadryPGD(robust_teacher, nb_epochs=epochs, batch_size=64, eps=EPS, eps_step=EPS / 4,
                               max_iter=7).fit(x_train, y_train)

    student = classifier(8)
    trainer = AdversarialTrainerBMTARDPyTorch(student, robust_teacher=robust_teacher, clean_teacher=clean_teacher,
                                              eps=EPS, eps_step=EPS / 4, max_iter=10, kl_scale=kl_scale,
                                              verbose=verbose)
    trainer.fit(x_train, y_train, validation_data=(x_val, y_val), batch_size=64, nb_epochs=epochs)
    models = {"plain student": plain, "clean teacher (4x wider)": clean_teacher,
              "robust teacher (4x wider)": robust_teacher, "B-MTARD student": trainer.get_classifier()}
    return {"accuracy": {name: accuracy(model, x_test, y_test) for name, model in models.items()},
            "history": trainer.history}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--n-train", type=int, default=None, help="use only this many training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kl-scale", type=float, default=1.0,
                        help="factor on B-MTARD's KL terms (default 1, the paper's; 10 undoes their 1/C)")
    parser.add_argument("--threads", type=int, default=None,
                        help="PyTorch CPU threads (default: the physical cores; more oversubscribes the machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads or physical_cores())
    result = run(args.epochs, args.n_train, args.seed, kl_scale=args.kl_scale)
    print(f"\n{'model':<28}{'clean':>8}{'PGD-20':>8}   (digits test set, eps={EPS} Linf)")
    for name, (clean, robust) in result["accuracy"].items():
        print(f"{name:<28}{clean:>8.3f}{robust:>8.3f}")
    last = result["history"].epochs[-1]
    print(f"\nfinal temperatures robust/clean: {last['temperature/robust']:.3f}/{last['temperature/clean']:.3f}, "
          f"weights: {last['weight/robust']:.3f}/{last['weight/clean']:.3f}")


if __name__ == "__main__":
    main()
