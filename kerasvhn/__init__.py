"""kerasvhn: read multi-digit house numbers with Keras 3.

The public names below load on first use (PEP 562), so `import kerasvhn` and the
`kerasvhn` command start without importing Keras and its backend.

>>> import kerasvhn
>>> model = kerasvhn.MultiDigitNet("small")
>>> model.count_params() < 3_000_000
True
"""

import importlib
import sys

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "AdversarialTraining": "kerasvhn.adversarial",
    "ConvBNReLU": "kerasvhn.layers",
    "CoverageAtAccuracy": "kerasvhn.sequence",
    "DigitAccuracy": "kerasvhn.sequence",
    "MultiDigitNet": "kerasvhn.model",
    "NumberLocator": "kerasvhn.locator",
    "PRESETS": "kerasvhn.presets",
    "PRETRAINED": "kerasvhn.presets",
    "PerImageStandardization": "kerasvhn.layers",
    "Reading": "kerasvhn.predict",
    "Readings": "kerasvhn.sequence",
    "SequenceAccuracy": "kerasvhn.sequence",
    "coverage_at_accuracy": "kerasvhn.sequence",
    "decode": "kerasvhn.sequence",
    "encode_numbers": "kerasvhn.labels",
    "fgsm": "kerasvhn.adversarial",
    "labels_to_numbers": "kerasvhn.labels",
    "load_model": "kerasvhn.saving",
    "multi_digit_loss": "kerasvhn.sequence",
    "pgd": "kerasvhn.adversarial",
    "read_numbers": "kerasvhn.predict",
    "robustness_report": "kerasvhn.adversarial",
    "save_model": "kerasvhn.saving",
}
_SUBMODULES = ("adversarial", "data", "layers")

__all__ = sorted([*_EXPORTS, *_SUBMODULES])


def __getattr__(name):
    if name in _EXPORTS:
        module = _import(_EXPORTS[name])
        value = getattr(module, name)
    elif name in _SUBMODULES:
        value = _import(f"kerasvhn.{name}")
    else:
        raise AttributeError(f"module 'kerasvhn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])


def _import(module):
    from kerasvhn.backend_check import missing_backend_message

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        message = missing_backend_message(error)
        if message is None:
            raise
        raise ImportError(message) from None


def register_keras_classes():
    """Imports the modules whose classes `.keras` files name (MultiDigitNet, its
    layers and metrics), so `keras.saving.load_model` finds them."""
    for module in ("kerasvhn.model", "kerasvhn.layers", "kerasvhn.sequence"):
        _import(module)


# A script that has imported Keras already expects `import kerasvhn` to make saved
# kerasvhn models loadable; that costs little once Keras is loaded.
if "keras" in sys.modules:
    register_keras_classes()
