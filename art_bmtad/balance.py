"""The balancing rules of multi-teacher adversarial distillation, usable on their own (the public face of
:mod:`art_bmtad.algorithm.balance`, where they are defined).

* :class:`EntropyBalance` (B-MTARD's Entropy-Based Balance, EBB) moves each teacher's temperature so that the
  teachers' prediction entropies meet.
* :class:`NormalizedLossBalance` (B-MTARD's Normalization Loss Balance, NLB) moves the loss weights towards each
  teacher's share of relative loss, clipped at zero and renormalised.
* :class:`RelativeLossBalance` (MTARD's rule) is NLB with a power ``beta`` and without the clip.
"""
from art_bmtad.algorithm.balance import EntropyBalance, NormalizedLossBalance, RelativeLossBalance

__all__ = ["EntropyBalance", "NormalizedLossBalance", "RelativeLossBalance"]
