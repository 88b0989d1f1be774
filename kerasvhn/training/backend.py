"""The one seam between long training runs and the Keras backends.

- `distributed(enabled)`: data-parallel training on every local device with each
  backend's own mechanism: `keras.distribution.DataParallel` on jax,
  `tf.distribute.MirroredStrategy` on tensorflow (GPUs, or the CPU devices when
  there is no GPU). Keras's `fit` has no multi-device path on torch: there the
  recipe is `torchrun` + `DistributedDataParallel` (README, "Several devices"), and
  asking for it is an error that says so.
- `random_state(model)` / `set_random_state(model, state)`: the state of the random
  numbers training draws (dropout), which `model.save_weights` does not keep: the
  models' seed generators on tensorflow and jax; torch's global generator on torch,
  where Keras's unseeded dropout draws from it.

Simulated devices for tests: jax reads XLA_FLAGS=--xla_force_host_platform_device_count=N;
tensorflow needs `tf.config.set_logical_device_configuration` before it starts.
"""

import base64
import contextlib

import keras
import numpy as np

TORCH_MESSAGE = (
    "--distribute: Keras's fit has no multi-device path on the torch backend. Use jax or tensorflow "
    "(KERAS_BACKEND=jax or tensorflow), or launch one process per GPU with torchrun and wrap the model in "
    "torch.nn.parallel.DistributedDataParallel (see the README, 'Several devices')"
)


@contextlib.contextmanager
def distributed(enabled=True):
    """Within it, models built and trained use every local device; yields the
    number of devices (1 when not enabled)."""
    if not enabled:
        yield 1
        return
    backend = keras.backend.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)
    else:
        check_distributable()
        strategy = _mirrored_strategy()
        with strategy.scope():
            yield strategy.num_replicas_in_sync


def check_distributable():
    """Raises ValueError (naming torchrun) when `distributed` cannot run here."""
    if keras.backend.backend() not in ("jax", "tensorflow"):
        raise ValueError(TORCH_MESSAGE)


def _mirrored_strategy():
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


def needs_equal_shares(devices):
    """Whether every batch must split evenly over `devices` devices: jax's
    DataParallel refuses a batch that does not; MirroredStrategy would hand a
    replica an empty share of a batch smaller than the devices, which TensorFlow's
    CPU convolution answers with a wrong shape."""
    return devices > 1


def _seed_states(model):
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def random_state(model):
    """A JSON-able snapshot of the random-number state training draws from."""
    state = {"seed_generators": [np.asarray(keras.ops.convert_to_numpy(v)).tolist() for v in _seed_states(model)]}
    if keras.backend.backend() == "torch":
        import torch

        state["torch"] = base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii")
    return state


def set_random_state(model, state):
    """Restores a `random_state` snapshot (of a model of the same architecture)."""
    variables = _seed_states(model)
    if len(variables) != len(state["seed_generators"]):
        raise ValueError(f"the saved random state has {len(state['seed_generators'])} seed generators, the model "
                         f"{len(variables)}")
    for variable, value in zip(variables, state["seed_generators"]):
        variable.assign(np.asarray(value, dtype=keras.backend.standardize_dtype(variable.dtype)))
    if "torch" in state and keras.backend.backend() == "torch":
        import torch

        raw = np.frombuffer(base64.b64decode(state["torch"]), np.uint8).copy()
        torch.set_rng_state(torch.from_numpy(raw))
