"""The paper art-bmtad implements, as model cards and leaderboard entries cite it."""
from __future__ import annotations

TITLE = "Mitigating Accuracy-Robustness Trade-off via Balanced Multi-Teacher Adversarial Distillation"
AUTHORS = ("Shiji Zhao", "Xizhe Wang", "Xingxing Wei")
VENUE = "IEEE TPAMI 2024"
ARXIV_ID = "2306.16170"
LINK = f"https://arxiv.org/abs/{ARXIV_ID}"
SHORT = f'Zhao et al., "{TITLE}", {VENUE}, arXiv {ARXIV_ID}'
"""One line, for prose."""

BIBTEX = f"""\
@article{{zhao2024bmtard,
  title   = {{{TITLE}}},
  author  = {{{' and '.join(AUTHORS)}}},
  journal = {{IEEE Transactions on Pattern Analysis and Machine Intelligence}},
  year    = {{2024}},
  eprint  = {{{ARXIV_ID}}},
  archivePrefix = {{arXiv}}
}}"""
