import types

import keras
import numpy as np
import pytest

from conftest import BACKEND
from keras_harness import KerasLayerTestCase
from kerasvhn.layers import ConvBNReLU, PerImageStandardization


def reference_conv(x, kernel, stride, padding):
    """NHWC convolution in float64, with Keras/TensorFlow "same" padding."""
    n, h, w, _ = x.shape
    kh, kw, _, filters = kernel.shape
    if padding == "same":
        out_h, out_w = -(-h // stride), -(-w // stride)
        pad_h = max((out_h - 1) * stride + kh - h, 0)
        pad_w = max((out_w - 1) * stride + kw - w, 0)
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    else:
        out_h, out_w = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, out_h, out_w, filters))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i : i + stride * out_h : stride, j : j + stride * out_w : stride, :]
            out += patch @ kernel[i, j]
    return out


def reference_conv_bn_relu(x, weights, stride, padding, training, momentum=0.99, epsilon=1e-3):
    kernel, gamma, beta, moving_mean, moving_variance = (np.float64(w) for w in weights)
    y = reference_conv(np.float64(x), kernel, stride, padding)
    if training:
        mean, variance = y.mean(axis=(0, 1, 2)), y.var(axis=(0, 1, 2))
        new_mean = moving_mean * momentum + mean * (1 - momentum)
        new_variance = moving_variance * momentum + variance * (1 - momentum)
    else:
        mean, variance = moving_mean, moving_variance
        new_mean, new_variance = moving_mean, moving_variance
    out = np.maximum((y - mean) / np.sqrt(variance + epsilon) * gamma + beta, 0)
    return out, new_mean, new_variance


class ConvBNReLUHarnessTest(KerasLayerTestCase):
    def test_same_padding(self):
        self.run_layer_test(
            ConvBNReLU,
            init_kwargs={"filters": 8, "kernel_size": 3},
            input_shape=(2, 9, 9, 3),
            expected_output_shape=(2, 9, 9, 8),
            expected_num_trainable_weights=3,
            expected_num_non_trainable_weights=2,
        )

    def test_valid_padding_stride_two(self):
        self.run_layer_test(
            ConvBNReLU,
            init_kwargs={"filters": 5, "kernel_size": (5, 3), "strides": 2, "padding": "valid"},
            input_shape=(3, 12, 11, 4),
            expected_output_shape=(3, 4, 5, 5),
            expected_num_trainable_weights=3,
            expected_num_non_trainable_weights=2,
        )

    def test_per_image_standardization(self):
        self.run_layer_test(
            PerImageStandardization,
            init_kwargs={},
            input_shape=(2, 6, 6, 3),
            expected_output_shape=(2, 6, 6, 3),
            expected_num_trainable_weights=0,
            run_training_check=False,
        )


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(
    "kernel_size,stride,padding,shape",
    [(5, 1, "same", (2, 9, 9, 3)), (3, 2, "same", (3, 10, 7, 5)), (3, 2, "valid", (2, 11, 11, 4)), (1, 1, "same", (1, 4, 4, 17))],
)
def test_matches_numpy_reference(rng, training, kernel_size, stride, padding, shape):
    layer = ConvBNReLU(7, kernel_size, strides=stride, padding=padding)
    x = rng.normal(size=shape).astype("float32")
    layer.build(x.shape)
    weights = [
        rng.normal(size=layer.kernel.shape).astype("float32") * 0.3,
        rng.uniform(0.5, 1.5, size=7).astype("float32"),
        rng.normal(size=7).astype("float32"),
        rng.normal(size=7).astype("float32"),
        rng.uniform(0.5, 2.0, size=7).astype("float32"),
    ]
    layer.set_weights(weights)
    expected, new_mean, new_variance = reference_conv_bn_relu(x, weights, stride, padding, training)
    out = keras.ops.convert_to_numpy(layer(x, training=training))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), new_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance), new_variance, rtol=1e-5, atol=1e-5)
    assert out.shape == layer.compute_output_shape(x.shape)


def test_batch_statistics_when_the_mean_dwarfs_the_spread(rng):
    """Activations around 2000 with a spread near 1 (|mean|/std ~ 2000): the batch
    variance must not cancel (E[x^2] - E[x]^2 in float32 does, on torch)."""
    layer = ConvBNReLU(4, 1, momentum=0.0)
    x = (2000 + rng.normal(size=(4, 6, 6, 3))).astype("float32")
    layer.build(x.shape)
    weights = [np.eye(3, 4, dtype="float32")[None, None], np.ones(4, "float32"), np.zeros(4, "float32"),
               np.zeros(4, "float32"), np.ones(4, "float32")]
    layer.set_weights(weights)
    expected, new_mean, new_variance = reference_conv_bn_relu(x, weights, 1, "same", True, momentum=0.0)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance), new_variance, rtol=1e-3)
    np.testing.assert_allclose(out, expected, atol=2e-3)


def test_same_weights_and_numbers_as_keras_conv_bn_relu(rng):
    """One layer, five weights, the numbers of Conv2D(use_bias=False) + BatchNormalization + ReLU."""
    x = rng.normal(size=(4, 8, 8, 3)).astype("float32")
    fused = ConvBNReLU(6, 3, strides=2)
    conv = keras.layers.Conv2D(6, 3, strides=2, padding="same", use_bias=False)
    norm = keras.layers.BatchNormalization()
    fused.build(x.shape)
    conv.build(x.shape)
    norm.build((4, 4, 4, 6))
    conv.set_weights([keras.ops.convert_to_numpy(fused.kernel)])
    assert [w.name for w in fused.weights] == ["kernel", "gamma", "beta", "moving_mean", "moving_variance"]
    for training in (True, False, True):
        ours = keras.ops.convert_to_numpy(fused(x, training=training))
        theirs = keras.ops.convert_to_numpy(keras.ops.relu(norm(conv(x), training=training)))
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fused.get_weights()[3], norm.get_weights()[2], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fused.get_weights()[4], norm.get_weights()[3], rtol=1e-6, atol=1e-6)


def test_frozen_layer_uses_moving_statistics(rng):
    layer = ConvBNReLU(4, 3)
    x = rng.normal(size=(2, 5, 5, 3)).astype("float32")
    layer.build(x.shape)
    layer.trainable = False
    before = layer.get_weights()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x, training=True)),
        keras.ops.convert_to_numpy(layer(x, training=False)),
    )
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision(rng, policy):
    if BACKEND == "torch" and policy == "mixed_float16":
        pytest.skip("torch has no float16 convolution on CPU")
    x = rng.normal(size=(2, 6, 6, 3)).astype("float32")
    layer = ConvBNReLU(8, 3, dtype=policy)
    reference = ConvBNReLU(8, 3)
    layer.build(x.shape)
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    out = layer(x, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")),
        keras.ops.convert_to_numpy(reference(x, training=True)),
        rtol=0.05,
        atol=0.05,
    )
    np.testing.assert_allclose(layer.get_weights()[3], reference.get_weights()[3], rtol=0.02, atol=0.02)


def test_fused_true_without_kernel_says_why(rng):
    layer = ConvBNReLU(4, 3, fused=True)
    with pytest.raises(RuntimeError, match="fused=True, but the fused conv_bn_relu kernel cannot run: .+"):
        layer(rng.normal(size=(1, 5, 5, 3)).astype("float32"))


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("interpret", [False, True], ids=["", "TRITON_INTERPRET=1"])
def test_fused_auto_falls_back_on_cpu(rng, monkeypatch, training, interpret):
    """fused="auto" on host tensors (every backend here: no GPU) runs the pure-Keras
    path, never asks for the kernel (not even where the interpreter could run it),
    and gives conv + BN + ReLU's numbers."""
    from kerasvhn import fused as fused_dispatch

    if interpret:
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    ran = []
    fallback = ConvBNReLU._call_fallback
    kernel = types.SimpleNamespace(conv_bn_relu=lambda *a: ran.append("kernel") or fallback(*a))
    monkeypatch.setattr(ConvBNReLU, "_call_fallback", lambda *a: ran.append("fallback") or fallback(*a))
    monkeypatch.setattr(fused_dispatch, "kernel_module", lambda op: kernel)
    x = rng.normal(size=(2, 5, 5, 3)).astype("float32")
    layer = ConvBNReLU(4, 3, fused="auto")
    layer.build(x.shape)
    weights = [
        rng.normal(size=(3, 3, 3, 4)).astype("float32") * 0.3,
        rng.uniform(0.5, 1.5, size=4).astype("float32"),
        rng.normal(size=4).astype("float32"),
        rng.normal(size=4).astype("float32"),
        rng.uniform(0.5, 2.0, size=4).astype("float32"),
    ]
    layer.set_weights(weights)
    out = keras.ops.convert_to_numpy(layer(x, training=training))
    assert ran == ["fallback"]
    expected, new_mean, new_variance = reference_conv_bn_relu(x, weights, 1, "same", training)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), new_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance), new_variance, rtol=1e-5, atol=1e-5)


def test_fused_env_switch_forces_the_fallback(rng, monkeypatch):
    monkeypatch.setenv("KERASVHN_FUSED", "0")
    with pytest.raises(RuntimeError, match="KERASVHN_FUSED=0"):
        ConvBNReLU(4, 3, fused=True)(rng.normal(size=(2, 5, 5, 3)).astype("float32"))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"filters": 0, "kernel_size": 3}, "filters"),
        ({"filters": 4, "kernel_size": 0}, "kernel_size"),
        ({"filters": 4, "kernel_size": 3, "padding": "full"}, "padding"),
        ({"filters": 4, "kernel_size": 3, "fused": "yes"}, "fused"),
        ({"filters": 4, "kernel_size": 3, "momentum": 1.5}, "momentum"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvBNReLU(**kwargs)


def test_standardization_is_scale_invariant(rng):
    x = rng.uniform(size=(2, 8, 8, 3)).astype("float32")
    layer = PerImageStandardization()
    a = keras.ops.convert_to_numpy(layer(x))
    b = keras.ops.convert_to_numpy(layer(x * 255.0))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(a.std(axis=(1, 2, 3)), 1, atol=1e-3)


def test_standardization_of_a_flat_image_is_finite():
    """A constant image (a blank wall) has zero variance; on some backends it comes
    out a hair below zero, which must not turn into NaN."""
    import numpy as np

    from kerasvhn import PerImageStandardization

    for value in (0.0, 0.2, 0.7843137, 1.0, 200.0):
        x = np.full((2, 54, 54, 3), value, np.float32)
        out = keras.ops.convert_to_numpy(PerImageStandardization()(x))
        assert np.all(np.isfinite(out)) and np.abs(out).max() < 1e-3
