"""A model's files: a whole `.keras` model, or a `.weights.h5` file beside a small
JSON sidecar holding the model's config (`<name>.config.json`), and the shipped
presets by name.

>>> import tempfile, os, kerasvhn
>>> from kerasvhn.saving import load_model, save_model
>>> path = os.path.join(tempfile.mkdtemp(), "seed_net.weights.h5")
>>> save_model(kerasvhn.MultiDigitNet("seed"), path)
>>> load_model(path).preset
'seed'
"""

import json
import os
import warnings

WEIGHTS_SUFFIX = ".weights.h5"
SIDECAR_SUFFIX = ".config.json"
DEFAULT_MODEL = "small_synthetic"


def sidecar_path(weights_path):
    """The config file written beside a `.weights.h5` file."""
    path = os.fspath(weights_path)
    return path[: -len(WEIGHTS_SUFFIX)] + SIDECAR_SUFFIX if path.endswith(WEIGHTS_SUFFIX) else path + SIDECAR_SUFFIX


def save_model(model, path):
    """Saves a `.keras` model, or its weights alone (no optimizer state) and the
    config sidecar when `path` ends in `.weights.h5`."""
    path = os.fspath(path)
    if path.endswith(".keras"):
        model.save(path)
        return
    if not path.endswith(WEIGHTS_SUFFIX):
        raise ValueError(f"a model file must end in .keras or {WEIGHTS_SUFFIX}, got {path!r}")
    # An uncompiled copy: save_weights would store a compiled model's optimizer state too.
    bare = type(model).from_config(model.get_config())
    bare.set_weights(model.get_weights())
    bare.save_weights(path)
    with open(sidecar_path(path), "w") as sidecar:  # the bare copy's: no compile config either
        sidecar.write(bare.to_json(indent=1) + "\n")


def load_model(model=None, preset=None):
    """A MultiDigitNet from a model (returned as it is), a `.keras` or `.weights.h5`
    path, or a preset name (None: the shipped "small_synthetic").

    A `.weights.h5` file is built from its sidecar config, or else from `preset`
    (an architecture: "small", "seed", "goodfellow").
    """
    from kerasvhn.model import MultiDigitNet

    if model is None or isinstance(model, str) and not _looks_like_a_file(model):
        return MultiDigitNet.from_preset(model or DEFAULT_MODEL)
    if not isinstance(model, (str, os.PathLike)):
        return model
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such model file")
    if path.endswith(WEIGHTS_SUFFIX):
        return _load_weights_file(path, preset)
    if not path.endswith(".keras"):
        raise ValueError(f"{path}: a model file must end in .keras or {WEIGHTS_SUFFIX}")
    import keras

    return keras.saving.load_model(path, compile=False)


def _looks_like_a_file(name):
    return os.path.exists(name) or name.endswith((".keras", WEIGHTS_SUFFIX)) or os.sep in name


def _load_weights_file(path, preset):
    import keras

    from kerasvhn.model import MultiDigitNet

    config = sidecar_path(path)
    if os.path.isfile(config):
        with open(config) as sidecar:
            description = json.load(sidecar)
        # Sidecars written before 2026-12-04 carry the trained model's compile config; compiled, the model
        # would expect optimizer state that a weights file never holds (and Keras would warn about it).
        description.pop("compile_config", None)
        model = keras.models.model_from_json(json.dumps(description))
    elif preset is not None:
        model = MultiDigitNet(preset)
    else:
        raise ValueError(f"{path} has no config beside it ({os.path.basename(config)}): name its architecture "
                         "with --preset (small, seed or goodfellow)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except ValueError as error:  # Keras warns about every layer first: the error says it all
            raise ValueError(f"{path} does not fit the {model.preset!r} architecture ({error})") from None
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return model
