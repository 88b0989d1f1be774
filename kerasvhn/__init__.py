"""kerasvhn: read multi-digit house numbers with Keras 3.

>>> import kerasvhn
>>> model = kerasvhn.MultiDigitNet("small")
>>> model.count_params() < 3_000_000
True
"""

from kerasvhn import adversarial, layers
from kerasvhn.adversarial import AdversarialTraining, fgsm, pgd, robustness_report
from kerasvhn.layers import ConvBNReLU, PerImageStandardization
from kerasvhn.model import MultiDigitNet
from kerasvhn.predict import Reading, read_numbers
from kerasvhn.presets import PRESETS, PRETRAINED
from kerasvhn.sequence import (
    CoverageAtAccuracy,
    DigitAccuracy,
    Readings,
    SequenceAccuracy,
    coverage_at_accuracy,
    decode,
    encode_numbers,
    labels_to_numbers,
    multi_digit_loss,
)

__version__ = "0.1.0"

__all__ = [
    "AdversarialTraining",
    "ConvBNReLU",
    "CoverageAtAccuracy",
    "DigitAccuracy",
    "MultiDigitNet",
    "PRESETS",
    "PRETRAINED",
    "PerImageStandardization",
    "Reading",
    "Readings",
    "SequenceAccuracy",
    "adversarial",
    "coverage_at_accuracy",
    "decode",
    "encode_numbers",
    "fgsm",
    "labels_to_numbers",
    "layers",
    "multi_digit_loss",
    "pgd",
    "read_numbers",
    "robustness_report",
]
