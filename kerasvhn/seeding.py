"""Seeding without `keras.utils.set_random_seed`'s side effect: it imports TensorFlow
whenever TensorFlow is installed, also into torch and jax processes (where Triton is
loaded, and TensorFlow next to Triton is a hazard)."""

import random

import keras
import numpy as np


def set_random_seed(seed):
    """Seeds Python, NumPy, the backend and Keras's global seed generator.

    >>> set_random_seed(0); a = np.random.rand()
    >>> set_random_seed(0); a == np.random.rand()
    True
    """
    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    random.seed(seed)
    np.random.seed(seed)
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    global_state.set_global_attribute("global_random_seed", seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)
