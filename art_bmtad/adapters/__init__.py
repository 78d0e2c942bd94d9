"""Model adapters: model zoos turned into ready ART classifiers."""
from art_bmtad.adapters.timm import ModelSpec, apply_cifar_stem, create_model, model_spec, timm_classifier

__all__ = ["ModelSpec", "apply_cifar_stem", "create_model", "model_spec", "timm_classifier"]
