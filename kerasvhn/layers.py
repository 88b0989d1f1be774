"""Layers of the multi-digit network: `ConvBNReLU` and `PerImageStandardization`."""

import keras
from keras import ops

from kerasvhn import fused as fused_dispatch


def _pair(value, name):
    if isinstance(value, int):
        value = (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) and v > 0 for v in value):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return value


def moments(x, axes, keepdims=False):
    """Mean and variance over `axes`, the variance as the mean squared deviation
    (`ops.moments` computes E[x^2] - E[x]^2 on torch, which cancels catastrophically
    when |mean| >> std: 346% off, even negative, for activations around 2000).

    >>> import numpy as np
    >>> mean, variance = moments(np.array([[2000.0, 2001.0, 2002.0]], "float32"), axes=[1])
    >>> float(mean[0]), round(float(variance[0]), 4)
    (2001.0, 0.6667)
    """
    mean = ops.mean(x, axis=axes, keepdims=True)
    variance = ops.mean(ops.square(ops.subtract(x, mean)), axis=axes, keepdims=keepdims)
    return (mean if keepdims else ops.squeeze(mean, axis=axes)), variance


def conv_output_length(length, kernel, stride, padding):
    """Spatial output length of a convolution or pooling ("same" or "valid")."""
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    return (length - kernel) // stride + 1


@keras.saving.register_keras_serializable(package="kerasvhn")
class ConvBNReLU(keras.layers.Layer):
    """2D convolution (no bias), batch normalization and ReLU as one layer.

    One set of weights (kernel, gamma, beta, moving mean, moving variance) whichever
    path runs: the pure-Keras path (`keras.ops`, every backend) or the fused Triton
    kernel (torch backend with CUDA tensors). Batch normalization behaves exactly as
    `keras.layers.BatchNormalization`: batch statistics and a moving-average update
    when `training=True` and the layer is trainable, moving statistics otherwise.

    Args:
        filters: number of output channels.
        kernel_size: int or pair, the convolution window.
        strides: int or pair, the convolution strides.
        padding: "same" or "valid".
        fused: "auto" (the Triton kernel on torch with CUDA tensors, the fallback
            elsewhere), True (the kernel, or a RuntimeError saying why it cannot
            run), False (always the fallback). `KERASVHN_FUSED=0` forces the fallback.
        momentum: momentum of the moving statistics, as in BatchNormalization.
        epsilon: added to the variance before the square root.
        kernel_initializer, kernel_regularizer, gamma_initializer,
        beta_initializer, moving_mean_initializer, moving_variance_initializer:
            as in `keras.layers.Conv2D` and `keras.layers.BatchNormalization`.

    Example:

    >>> import numpy as np, kerasvhn
    >>> layer = kerasvhn.layers.ConvBNReLU(16, 3)
    >>> tuple(layer(np.zeros((2, 54, 54, 3), "float32")).shape)
    (2, 54, 54, 16)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        fused="auto",
        momentum=0.99,
        epsilon=1e-3,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        gamma_initializer="ones",
        beta_initializer="zeros",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"filters must be a positive int, got {filters!r}")
        padding = str(padding).lower()
        if padding not in ("same", "valid"):
            raise ValueError(f'padding must be "same" or "valid", got {padding!r}')
        if not (fused is True or fused is False or fused == "auto"):
            raise ValueError(f'fused must be "auto", True or False, got {fused!r}')
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if epsilon <= 0:
            raise ValueError(f"epsilon must be positive, got {epsilon!r}")
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = padding
        self.fused = fused
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.moving_mean_initializer = keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = keras.initializers.get(moving_variance_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"ConvBNReLU needs a known number of input channels, got shape {input_shape}"
            )
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, channels, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        # Normalization statistics and affine parameters stay float32 under mixed
        # precision, as in keras.layers.BatchNormalization.
        self.gamma = self.add_weight(
            name="gamma", shape=(self.filters,), initializer=self.gamma_initializer, autocast=False
        )
        self.beta = self.add_weight(
            name="beta", shape=(self.filters,), initializer=self.beta_initializer, autocast=False
        )
        self.moving_mean = self.add_weight(
            name="moving_mean",
            shape=(self.filters,),
            initializer=self.moving_mean_initializer,
            trainable=False,
            autocast=False,
        )
        self.moving_variance = self.add_weight(
            name="moving_variance",
            shape=(self.filters,),
            initializer=self.moving_variance_initializer,
            trainable=False,
            autocast=False,
        )

    def call(self, inputs, training=None):
        use_batch_statistics = bool(training) and self.trainable
        if fused_dispatch.resolve_fused(self.fused, "conv_bn_relu", inputs, self.compute_dtype):
            return self._call_fused(inputs, use_batch_statistics)
        return self._call_fallback(inputs, use_batch_statistics)

    def _call_fused(self, inputs, use_batch_statistics):
        """The Triton op (torch backend): tensors in, the output and the batch
        statistics out; the layer updates its moving statistics."""
        conv_bn_relu = fused_dispatch.kernel_module("conv_bn_relu").conv_bn_relu
        out, mean, variance = conv_bn_relu(
            ops.cast(inputs, self.compute_dtype),
            self.kernel.value,
            self.gamma.value,
            self.beta.value,
            self.moving_mean.value,
            self.moving_variance.value,
            strides=self.strides,
            padding=self.padding,
            epsilon=self.epsilon,
            use_batch_statistics=use_batch_statistics,
        )
        if use_batch_statistics:
            self._update_moving_statistics(mean, variance)
        return out

    def _update_moving_statistics(self, mean, variance):
        """moving = moving * momentum + batch * (1 - momentum), in the batch statistics' dtype."""
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moving.assign(ops.cast(moving, batch.dtype) * self.momentum + batch * (1.0 - self.momentum))

    def _call_fallback(self, inputs, use_batch_statistics):
        x = ops.conv(
            inputs,
            self.kernel,
            strides=self.strides,
            padding=self.padding,
            data_format="channels_last",
        )
        # Statistics and normalization in float32 (fp16/bf16 sums overflow or lose bits).
        x = ops.cast(x, backend_result_float32(x.dtype))
        if use_batch_statistics:
            mean, variance = moments(x, axes=[0, 1, 2])
            self._update_moving_statistics(mean, variance)
        else:
            mean = ops.cast(self.moving_mean, x.dtype)
            variance = ops.cast(self.moving_variance, x.dtype)
        scale = ops.cast(self.gamma, x.dtype) * ops.rsqrt(variance + self.epsilon)
        shift = ops.cast(self.beta, x.dtype) - mean * scale
        return ops.cast(ops.relu(x * scale + shift), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        height = conv_output_length(height, self.kernel_size[0], self.strides[0], self.padding)
        width = conv_output_length(width, self.kernel_size[1], self.strides[1], self.padding)
        return (batch, height, width, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "fused": self.fused,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
                "beta_initializer": keras.initializers.serialize(self.beta_initializer),
                "moving_mean_initializer": keras.initializers.serialize(
                    self.moving_mean_initializer
                ),
                "moving_variance_initializer": keras.initializers.serialize(
                    self.moving_variance_initializer
                ),
            }
        )
        return config


def backend_result_float32(dtype):
    """float32 for half-precision dtypes, the dtype itself for float32/float64."""
    return keras.backend.result_type(dtype, "float32")


@keras.saving.register_keras_serializable(package="kerasvhn")
class PerImageStandardization(keras.layers.Layer):
    """Subtracts each image's mean and divides by its standard deviation.

    The paper subtracts each image's mean; dividing by the standard deviation as
    well makes the network indifferent to the input's scale (images in [0, 1] or
    [0, 255] read the same) and to contrast, which helps on real photos. The
    divisor is at least 1/sqrt(pixels), so a flat image gives zeros, not NaNs.

    Example:

    >>> import keras, numpy as np, kerasvhn
    >>> y = kerasvhn.layers.PerImageStandardization()(np.full((1, 4, 4, 3), 7.0))
    >>> float(keras.ops.max(keras.ops.abs(y)))
    0.0
    """

    def call(self, inputs):
        x = ops.cast(inputs, backend_result_float32(inputs.dtype))
        mean, variance = moments(x, axes=[1, 2, 3], keepdims=True)
        pixels = ops.cast(ops.prod(ops.shape(x)[1:]), x.dtype)
        # A flat image's variance can come out a hair below 0 (torch): clamp before sqrt.
        std = ops.maximum(ops.sqrt(ops.maximum(variance, 0.0)), ops.rsqrt(pixels))
        return ops.cast((x - mean) / std, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
