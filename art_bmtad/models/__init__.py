"""Models: the zoo contract (:mod:`art_bmtad.models.zoo`) and, around it, how models are built, saved and loaded."""
