"""MultiDigitNet: one CNN, a length head and one head per digit position."""

import keras

from kerasvhn import sequence
from kerasvhn.labels import more_class
from kerasvhn.layers import ConvBNReLU, PerImageStandardization
from kerasvhn.presets import PRETRAINED, PRESETS, preset_config, pretrained_weights_path

_ARCHITECTURE_KEYS = ("input_shape", "conv_layers", "dense_units", "conv_dropout", "dense_dropout")


@keras.saving.register_keras_serializable(package="kerasvhn")
class MultiDigitNet(keras.Model):
    """Reads a whole house number at once (Goodfellow et al. 2013).

    Input: RGB images (B, 54, 54, 3), float, any scale (each image is standardised
    inside the model; [0, 1] is what the attacks assume). Outputs are logits:
    `{"length": (B, max_digits + 2), "digits": (B, max_digits, 10)}`, the length
    classes being 0..max_digits and "more than max_digits".

    Differences from the paper's network (preset "goodfellow"): every conv layer is
    conv + batch normalization + ReLU (the paper has no batch normalization and
    maxout units in its first layer), there is no locally connected layer, and the
    paper's per-image mean subtraction is done by a per-image standardization layer
    inside the model (mean and standard deviation).

    Args:
        preset: "goodfellow" (the paper, ~24 M parameters), "seed" (the course
            project's network) or "small" (< 3 M parameters, fast on CPU).
        input_shape: overrides the preset's (54, 54, 3).
        max_digits: the number of digit heads.
        conv_layers, dense_units, conv_dropout, dense_dropout: override the preset.
        fused: passed to every ConvBNReLU ("auto", True or False).
        training_streams: what the weights were trained on, a list of
            `kerasvhn.data.synth.stream` records (synthetic images by purpose,
            seed and split), saved with the model; None when unknown. Evaluations
            of synthetic images check it, so that no test image is a training one.

    Example:

    >>> import numpy as np, kerasvhn
    >>> model = kerasvhn.MultiDigitNet("small")
    >>> model.compile(optimizer="adam")
    >>> x = np.random.rand(8, 54, 54, 3).astype("float32")
    >>> y = kerasvhn.encode_numbers(["12", "7", "", "305", "9", "41", "2024", "6"])
    >>> history = model.fit(x, y, epochs=1, verbose=0)
    >>> numbers, confidences = kerasvhn.decode(model.predict(x, verbose=0))
    >>> len(numbers)
    8
    """

    def __init__(
        self,
        preset="goodfellow",
        input_shape=None,
        max_digits=5,
        conv_layers=None,
        dense_units=None,
        conv_dropout=None,
        dense_dropout=None,
        fused="auto",
        training_streams=None,
        **kwargs,
    ):
        config = preset_config(preset)
        overrides = {
            "input_shape": input_shape,
            "conv_layers": conv_layers,
            "dense_units": dense_units,
            "conv_dropout": conv_dropout,
            "dense_dropout": dense_dropout,
        }
        config.update({k: v for k, v in overrides.items() if v is not None})
        if not isinstance(max_digits, int) or max_digits < 1:
            raise ValueError(f"max_digits must be a positive int, got {max_digits!r}")
        config["input_shape"] = tuple(config["input_shape"])
        if len(config["input_shape"]) != 3 or config["input_shape"][-1] != 3:
            raise ValueError(
                f"input_shape must be (height, width, 3) for RGB images, got {config['input_shape']}"
            )

        inputs = keras.Input(shape=config["input_shape"], name="image")
        x = PerImageStandardization(name="standardize")(inputs)
        for index, layer in enumerate(config["conv_layers"]):
            x = ConvBNReLU(
                layer["filters"],
                layer["kernel_size"],
                strides=layer.get("strides", 1),
                fused=fused,
                name=f"conv{index + 1}",
            )(x)
            if layer.get("pool"):
                x = keras.layers.MaxPooling2D(
                    2, strides=layer["pool"], padding="same", name=f"pool{index + 1}"
                )(x)
            if config["conv_dropout"]:
                x = keras.layers.Dropout(config["conv_dropout"], name=f"dropout{index + 1}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for index, units in enumerate(config["dense_units"]):
            x = keras.layers.Dense(units, activation="relu", name=f"dense{index + 1}")(x)
            if config["dense_dropout"]:
                x = keras.layers.Dropout(config["dense_dropout"], name=f"dense_dropout{index + 1}")(x)
        # Logits stay float32 under mixed precision. One Dense of max_digits * 10 units
        # is max_digits independent 10-way heads (each unit has its own weights).
        length = keras.layers.Dense(more_class(max_digits) + 1, dtype="float32", name="length")(x)
        digits = keras.layers.Dense(max_digits * 10, dtype="float32", name="digit_logits")(x)
        digits = keras.layers.Reshape((max_digits, 10), dtype="float32", name="digits")(digits)
        super().__init__(inputs=inputs, outputs={"length": length, "digits": digits}, **kwargs)

        self.preset = preset
        self.max_digits = max_digits
        self.fused = fused
        self.training_streams = None if training_streams is None else [dict(s) for s in training_streams]
        self.architecture = config
        self._reading_metrics = []
        self._uses_default_loss = True

    @classmethod
    def from_preset(cls, name, **kwargs):
        """A model from a preset: trained weights for the names of
        `kerasvhn.presets.PRETRAINED` ("small_synthetic": the small network, widened
        to "small_wide", trained on synthetic house numbers, shipped in the package
        and loaded offline), or fresh weights for an architecture preset ("small",
        "small_wide", "seed", "goodfellow").

        >>> import kerasvhn
        >>> model = kerasvhn.MultiDigitNet.from_preset("small_synthetic")
        >>> model.preset
        'small_wide'
        """
        if name in PRETRAINED:
            model = cls(PRETRAINED[name]["preset"], training_streams=PRETRAINED[name]["training_streams"], **kwargs)
            model.load_weights(pretrained_weights_path(name))
            return model
        if name in PRESETS:
            return cls(name, **kwargs)
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRETRAINED) + sorted(PRESETS)}")

    def compile(self, optimizer="adam", loss="auto", metrics="auto", **kwargs):
        """Configures training; by default the masked multi-head loss and the
        whole-number, per-digit and coverage metrics.

        Metrics from `kerasvhn.sequence` (which read the whole label and output
        dicts) may be mixed with ordinary Keras metrics, which Keras applies per
        output as usual.
        """
        self._uses_default_loss = loss in ("auto", None)
        if metrics == "auto":
            metrics = sequence.default_metrics()
        metrics = list(metrics or [])
        reading = [m for m in metrics if isinstance(m, (sequence._ReadingMetric, sequence.DigitAccuracy))]
        others = [m for m in metrics if not any(m is r for r in reading)]
        super().compile(
            optimizer=optimizer,
            loss=None if self._uses_default_loss else loss,
            metrics=others or None,
            **kwargs,
        )
        self._reading_metrics = reading
        # What compile_from_config needs to compile a loaded model the same way.
        self._kerasvhn_compile_arguments = {
            "optimizer": self.optimizer,
            "loss": "auto" if self._uses_default_loss else loss,
            "metrics": metrics,
            **kwargs,
        }

    def train_step(self, *args):
        """Keras's training step; while a `kerasvhn.AdversarialTraining` callback is
        on, the batch is first mixed with adversarial examples (see
        `kerasvhn.adversarial.training.AdversarialStep`)."""
        # torch and tensorflow call train_step(data), jax train_step(state, data).
        adversarial_step = getattr(self, "_adversarial_step", None)
        if adversarial_step is None:
            return super().train_step(*args)
        return adversarial_step(self, super().train_step, *args)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not self._uses_default_loss:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        loss = sequence.multi_digit_loss(y, y_pred, sample_weight)
        for extra in self.losses:
            # Layer and regularization losses, summed as Keras's compute_loss sums them.
            if not keras.backend.is_float_dtype(extra.dtype):
                extra = keras.ops.cast(extra, keras.config.floatx())
            loss = loss + keras.ops.sum(extra)
        return _one_replicas_share(loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for metric in self._reading_metrics:
            metric.update_state(y, y_pred, sample_weight)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        config = {key: self.architecture[key] for key in _ARCHITECTURE_KEYS}
        config.update(
            {
                "preset": self.preset,
                "max_digits": self.max_digits,
                "fused": self.fused,
                "training_streams": self.training_streams,
                "name": self.name,
                "trainable": self.trainable,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_compile_config(self):
        if not self.compiled or not hasattr(self, "_kerasvhn_compile_arguments"):
            return {}
        config = keras.saving.serialize_keras_object(self._kerasvhn_compile_arguments)
        optimizer = config["optimizer"]
        if isinstance(optimizer, dict) and isinstance(getattr(keras.optimizers, optimizer.get("class_name", ""), None),
                                                      type):
            # Keras records the backend's own optimizer class (e.g. a torch module);
            # loading that under another backend would import torch next to TensorFlow.
            optimizer["module"] = "keras.optimizers"
        return config

    def compile_from_config(self, config):
        """Compiles a loaded model as it was compiled when saved (loss, metrics,
        optimizer and its state)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)


def _one_replicas_share(loss):
    """Under tf.distribute, one replica's loss divided by the replicas in sync, as
    Keras's own losses do: the replicas' gradients then sum to one batch's, and the
    loss Keras reports (multiplied back) is one batch's. Elsewhere the loss itself."""
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss * (1.0 / replicas)
