"""art-bmtad zoo ``torchvision``: torchvision's classification models (``torchvision.models.list_models``).

Each model's :class:`~art_bmtad.models.zoo.ModelCfg` comes from its weights enum (classes, the
transforms' crop size, mean and std); the weights load offline from the torch hub cache under the
enum's file name, through :mod:`art_bmtad.models.classifier_files`. Registered by :mod:`art_bmtad_torchvision.plugin`.
"""
