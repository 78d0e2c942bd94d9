"""art-bmtad zoo ``cifar``: the CIFAR-10/100 models of the torch.hub repository chenyaofo/pytorch-cifar-models.

Architectures written for art-bmtad with the module names of the published weights, so that the
published files (``$TORCH_HOME/hub/checkpoints/cifar10_resnet56-187c023a.pt`` ...) load strictly and
offline through :mod:`art_bmtad.models.classifier_files`. Registered by :mod:`art_bmtad_cifar.plugin`.
"""
