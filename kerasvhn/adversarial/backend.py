"""The one seam between the attacks and the Keras backends.

Everything else in `kerasvhn.adversarial` is written in `keras.ops`; what cannot be
(a gradient with respect to the input, compiling an attack loop, and the values a
compiled training step must read at run time) is here, one function per backend.

Attacks run the model with `training=False`: batch normalization uses its moving
statistics (and leaves them alone) and dropout is off.
"""

import itertools

import keras
import numpy as np
from keras import ops

from kerasvhn import sequence


def attack_loss(y, outputs):
    """The masked multi-head loss summed over the batch, so that each image's
    gradient is the gradient of its own loss, whatever the batch size."""
    batch = ops.cast(ops.shape(outputs["length"])[0], "float32")
    return sequence.multi_digit_loss(y, outputs) * batch


def model_variables(model):
    """The current (trainable, non-trainable) variable values, as jax's stateless
    calls take them."""
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )


# Input gradients: d(direction * attack_loss) / dx for the whole batch at once.
# `variables` is None (use the model's variables) except inside jax's stateless
# training step, which passes the (trainable, non-trainable) values of its state.


def _torch_input_gradient(model, x, y, direction, variables):
    import torch

    # Weights that require gradients make every backward node compute them too,
    # even when only the input's gradient is asked for: switch them off meanwhile.
    weights = [v.value for v in model.trainable_variables if v.value.requires_grad]
    try:
        for weight in weights:
            weight.requires_grad_(False)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            loss = attack_loss(y, model(x, training=False)) * direction
            (grad,) = torch.autograd.grad(loss, x)
    finally:
        for weight in weights:
            weight.requires_grad_(True)
    return grad


def _tensorflow_input_gradient(model, x, y, direction, variables):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = attack_loss(y, model(x, training=False)) * direction
    return tape.gradient(loss, x)


def _jax_input_gradient(model, x, y, direction, variables):
    import jax

    trainable, non_trainable = variables if variables is not None else model_variables(model)

    def loss(images):
        outputs, _ = model.stateless_call(trainable, non_trainable, images, training=False)
        return attack_loss(y, outputs) * direction

    return jax.grad(loss)(x)


_INPUT_GRADIENTS = {
    "torch": _torch_input_gradient,
    "tensorflow": _tensorflow_input_gradient,
    "jax": _jax_input_gradient,
}


def input_gradient(model, x, y, direction=1.0, variables=None):
    """The gradient of `direction * attack_loss(y, model(x, training=False))` with
    respect to the images x, batched: one forward and one backward pass."""
    return _INPUT_GRADIENTS[keras.backend.backend()](model, x, y, direction, variables)


# A training step that also returns the gradient of the loss with respect to the
# images, from the same backward pass: what free adversarial training reuses. It is
# Keras's own step (forward in training mode, loss, backward, optimizer update, loss
# and metrics) through public Keras only. torch runs the model's Keras step itself
# (`keras_train_step`) on images that require gradients; tensorflow and jax write
# the step as Keras's guides "Customizing what happens in fit()" do for their
# backend: `compute_loss`, `optimizer.apply` (jax: `stateless_apply` and
# `keras.StatelessScope`), the "loss" metric among `model.metrics`, and
# `compute_metrics`. `state` is jax's training state (None elsewhere). Each returns
# (logs, grad, state).


def _loss_metric(model):
    """The metric that reports "loss" in the logs: the one of `model.metrics` named
    "loss", as Keras's guides find it (Keras keeps it there while compiled)."""
    return next(metric for metric in model.metrics if metric.name == "loss")


def _torch_train_step_with_input_gradient(model, keras_train_step, x, y, sample_weight, state):
    # Keras's torch step calls backward() on the loss: an input that requires
    # gradients receives its own there, next to the weights'.
    x = x.detach().requires_grad_(True)
    logs = keras_train_step((x, y, sample_weight))
    return logs, x.grad, None


def _tensorflow_train_step_with_input_gradient(model, keras_train_step, x, y, sample_weight, state):
    import tensorflow as tf

    # Under a tf.distribute strategy a Keras loss is divided by the replicas (their
    # gradients are summed); the loss metric logs the whole loss.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    weights = model.trainable_weights
    with tf.GradientTape() as tape:
        tape.watch(x)
        y_pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        whole_loss = loss * ops.cast(replicas, loss.dtype) if replicas > 1 else loss
        _loss_metric(model).update_state(whole_loss, sample_weight=tf.shape(x)[0])
        loss = model.optimizer.scale_loss(loss)
    *grads, x_grad = tape.gradient(loss, weights + [x])
    model.optimizer.apply(grads, weights)
    return model.compute_metrics(x, y, y_pred, sample_weight), x_grad, None


def _jax_stateless_loss(model, trainable, images, y, sample_weight, state):
    """The loss of a training-mode forward pass on the given variable values, pure
    (what jax.grad needs): the model and its loss run in one `keras.StatelessScope`
    that also collects the losses layers add, as `stateless_call` does."""
    _, non_trainable, optimizer_variables, metrics_variables = state
    mapping = list(zip(model.trainable_variables, trainable))
    mapping += zip(model.non_trainable_variables, non_trainable)
    mapping += zip(model.metrics_variables, metrics_variables)
    with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
        y_pred = model(images, training=True)
        loss = model.compute_loss(x=images, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
    non_trainable = [scope.get_current_value(v) for v in model.non_trainable_variables]
    metrics_variables = [scope.get_current_value(v) for v in model.metrics_variables]
    with keras.StatelessScope(state_mapping=list(zip(model.optimizer.variables, optimizer_variables))):
        scaled_loss = model.optimizer.scale_loss(loss)
    return scaled_loss, (loss, y_pred, non_trainable, metrics_variables)


def _jax_stateless_metrics(model, metrics_variables, loss, x, y, y_pred, sample_weight):
    """The loss metric and `compute_metrics` on the given metric values; returns
    (logs, the new metric values)."""
    with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metrics_variables))) as scope:
        _loss_metric(model).update_state(loss, sample_weight=ops.shape(x)[0])
        logs = model.compute_metrics(x, y, y_pred, sample_weight)
    return logs, [scope.get_current_value(v) for v in model.metrics_variables]


def _jax_train_step_with_input_gradient(model, keras_train_step, x, y, sample_weight, state):
    import jax

    trainable, _, optimizer_variables, _ = state

    def loss(trainable, images):
        return _jax_stateless_loss(model, trainable, images, y, sample_weight, state)

    (_, aux), (grads, x_grad) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(trainable, x)
    unscaled_loss, y_pred, non_trainable, metrics_variables = aux
    trainable, optimizer_variables = model.optimizer.stateless_apply(optimizer_variables, grads, trainable)
    logs, metrics_variables = _jax_stateless_metrics(
        model, metrics_variables, unscaled_loss, x, y, y_pred, sample_weight
    )
    return logs, x_grad, (trainable, non_trainable, optimizer_variables, metrics_variables)


_TRAIN_STEPS = {
    "torch": _torch_train_step_with_input_gradient,
    "tensorflow": _tensorflow_train_step_with_input_gradient,
    "jax": _jax_train_step_with_input_gradient,
}


def train_step_with_input_gradient(model, keras_train_step, x, y, sample_weight=None, state=None):
    """One Keras training step on (x, y) that also returns d(loss)/dx; on jax it
    takes and returns the training state. Returns (logs, grad, state).

    `keras_train_step` is the model's own Keras step (`super().train_step` in
    `MultiDigitNet.train_step`)."""
    return _TRAIN_STEPS[keras.backend.backend()](model, keras_train_step, x, y, sample_weight, state)


# Compiling an attack for eager callers. `attack(x0, start, y, step, eps, lo, hi,
# variables=None)` is traced once per model and key; the scalars are passed as
# tensors so that new values of eps do not retrace.


def _compile_torch(model, attack):
    return lambda *args: attack(*args, variables=None)


def _compile_tensorflow(model, attack):
    import tensorflow as tf

    return tf.function(lambda *args: attack(*args, variables=None), reduce_retracing=True)


def _compile_jax(model, attack):
    import jax

    jitted = jax.jit(lambda variables, *args: attack(*args, variables=variables))
    return lambda *args: jitted(model_variables(model), *args)


_COMPILERS = {"torch": _compile_torch, "tensorflow": _compile_tensorflow, "jax": _compile_jax}
_CACHE_ATTRIBUTE = "_kerasvhn_compiled_attacks"


def compiled_attack(model, key, attack):
    """`attack` compiled for this backend, cached on the model under `key`."""
    cache = model.__dict__.get(_CACHE_ATTRIBUTE)
    if cache is None:
        cache = {}
        # Plain attribute: neither Keras nor TensorFlow should track the cache.
        object.__setattr__(model, _CACHE_ATTRIBUTE, cache)
    if key not in cache:
        cache[key] = _COMPILERS[keras.backend.backend()](model, attack)
    return cache[key]


# What a compiled training step reads at run time. torch and tensorflow read
# Keras variables; jax compiles the whole step with its state as the only input,
# so it reads host values through a callback instead (cheap: once per step).


class StepScalar:
    """A float that a compiled training step reads each time it runs, so changing
    it (an eps schedule) does not retrace or recompile the step."""

    def __init__(self, value, name):
        self._host = float(value)
        self._variable = None
        if keras.backend.backend() != "jax":
            self._variable = keras.Variable(self._host, dtype="float32", trainable=False, name=name)

    @property
    def value(self):
        return self._host

    def assign(self, value):
        self._host = float(value)
        if self._variable is not None:
            self._variable.assign(self._host)

    def read(self):
        """The current value, as a tensor, from inside a compiled step."""
        if self._variable is not None:
            return self._variable.value
        import jax
        from jax.experimental import io_callback

        return io_callback(
            lambda: np.float32(self._host), jax.ShapeDtypeStruct((), np.float32), ordered=False
        )


class StepNoise:
    """Seeded uniform noise in [-1, 1] drawn inside a compiled training step, a new
    draw every step."""

    def __init__(self, seed):
        self._seed = int(seed)
        if keras.backend.backend() == "jax":
            self._counter = itertools.count()
        else:
            self._generator = keras.random.SeedGenerator(self._seed)

    def uniform(self, shape):
        if keras.backend.backend() != "jax":
            return keras.random.uniform(shape, -1.0, 1.0, seed=self._generator)
        import jax
        from jax.experimental import io_callback

        draw = io_callback(
            lambda: np.uint32(next(self._counter)), jax.ShapeDtypeStruct((), np.uint32), ordered=False
        )
        key = jax.random.fold_in(jax.random.key(self._seed), draw)
        return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)


class StepCarry:
    """A tensor that a compiled training step reads when it starts and writes when
    it ends, kept from one step to the next: free adversarial training's
    perturbation, carried over from batch to batch as in Shafahi et al. 2019.

    `read(like)` returns (value, valid): the last value written, valid when one was
    written with like's shape (a smaller last batch, or the first step, is not).
    """

    def __init__(self, name):
        self._backend = keras.backend.backend()
        self._host = None  # torch: the tensor; jax: a numpy array
        self._variable = None
        if self._backend == "tensorflow":
            import tensorflow as tf

            self._variable = tf.Variable(
                tf.zeros((0,), tf.float32), shape=tf.TensorShape(None), trainable=False, name=name
            )
            # The size is kept apart: grappler turns Size(read) into VariableShape,
            # which is not ordered before the step's own assign.
            self._size = tf.Variable(0, dtype=tf.int32, trainable=False, name=f"{name}_size")

    def read(self, like):
        if self._backend == "torch":
            valid = self._host is not None and tuple(self._host.shape) == tuple(like.shape)
            return (self._host if valid else ops.zeros_like(like)), valid
        if self._backend == "tensorflow":
            import tensorflow as tf

            value = self._variable.read_value()
            # Same number of values: same shape (the batches of one fit differ only in size).
            valid = tf.equal(self._size.read_value(), tf.size(like))
            stored = tf.cond(valid, lambda: tf.reshape(value, tf.shape(like)), lambda: tf.zeros_like(like))
            return stored, valid
        import jax
        from jax.experimental import io_callback

        shape = tuple(like.shape)

        def fetch():
            if self._host is not None and self._host.shape == shape:
                return self._host, np.bool_(True)
            return np.zeros(shape, np.float32), np.bool_(False)

        return io_callback(
            fetch, (jax.ShapeDtypeStruct(shape, np.float32), jax.ShapeDtypeStruct((), np.bool_)), ordered=True
        )

    def write(self, value):
        if self._backend == "torch":
            self._host = value.detach()
        elif self._backend == "tensorflow":
            import tensorflow as tf

            self._variable.assign(value)
            self._size.assign(tf.size(value))
        else:
            from jax.experimental import io_callback

            def store(array):
                self._host = np.asarray(array, np.float32)

            io_callback(store, None, value, ordered=True)
