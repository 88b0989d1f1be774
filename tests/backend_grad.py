"""Gradients of a keras.ops function with respect to one input, on the active backend."""

import keras
import numpy as np


def gradient(fn, x):
    """d(sum(fn(x)))/dx as a NumPy array; fn maps a backend tensor to a scalar tensor."""
    backend = keras.backend.backend()
    x = np.asarray(x, np.float32)
    if backend == "torch":
        import torch

        tensor = torch.tensor(x, requires_grad=True)
        fn(tensor).backward()
        return tensor.grad.numpy()
    if backend == "tensorflow":
        import tensorflow as tf

        tensor = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = fn(tensor)
        return tape.gradient(value, tensor).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(x))
    raise NotImplementedError(backend)
