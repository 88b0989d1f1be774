"""Seeding through public APIs without `keras.utils.set_random_seed`'s side effect:
it imports TensorFlow whenever TensorFlow is installed, also into torch and jax
processes (where Triton is loaded, and TensorFlow next to Triton is a hazard)."""

import importlib.util
import random
import sys

import keras
import numpy as np


def set_random_seed(seed):
    """Seeds Python, NumPy and the backend; and Keras's global seed generator (the
    one behind `keras.random` calls without a seed) unless that would import
    TensorFlow into a torch or jax process.

    `keras.utils.set_random_seed` does it all (and is called) on tensorflow, and
    wherever TensorFlow is loaded already or not installed. In a torch or jax
    process next to an installed TensorFlow, the global generator keeps its state:
    seed `keras.random` calls explicitly there (kerasvhn's own calls all are).
    Layer weights and dropout take their seeds from Python's `random`, seeded here.

    >>> set_random_seed(0); a = np.random.rand()
    >>> set_random_seed(0); a == np.random.rand()
    True
    """
    if keras.backend.backend() == "tensorflow" or not _would_import_tensorflow():
        keras.utils.set_random_seed(seed)
        return
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


def _would_import_tensorflow():
    """Whether `keras.utils.set_random_seed` would import TensorFlow now."""
    return "tensorflow" not in sys.modules and importlib.util.find_spec("tensorflow") is not None
