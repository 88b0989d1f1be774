"""Adversarial examples for the multi-digit model: FGSM and PGD attacks, adversarial
training through a Keras callback, and a robustness report.

The attacks and the training step are batched and written in keras.ops; what is
backend-specific (input gradients, compiling, values a compiled step reads at run
time) lives in `kerasvhn.adversarial.backend`.
"""

from kerasvhn.adversarial.attacks import AttackSpec, fgsm, fgsm_step, parse_attack, pgd, run_attack
from kerasvhn.adversarial.report import (
    format_report,
    plot_report,
    robustness_report,
    save_adversarial_grid,
    write_report_csv,
)
from kerasvhn.adversarial.training import AdversarialTraining

__all__ = [
    "AdversarialTraining",
    "AttackSpec",
    "fgsm",
    "fgsm_step",
    "format_report",
    "parse_attack",
    "pgd",
    "plot_report",
    "robustness_report",
    "run_attack",
    "save_adversarial_grid",
    "write_report_csv",
]
