import keras
import numpy as np
import pytest

import kerasvhn
from conftest import BACKEND
from kerasvhn import MultiDigitNet, encode_numbers


def tiny_data(rng, count=16):
    numbers = [str(n) for n in rng.integers(0, 10 ** rng.integers(1, 4, size=count))]
    numbers[0] = ""
    return rng.uniform(size=(count, 54, 54, 3)).astype("float32"), encode_numbers(numbers)


def conv_layers(model):
    return [layer for layer in model.layers if isinstance(layer, kerasvhn.ConvBNReLU)]


def test_goodfellow_is_the_papers_network():
    model = MultiDigitNet()
    assert model.preset == "goodfellow"
    convs = conv_layers(model)
    assert [c.filters for c in convs] == [48, 64, 128, 160, 192, 192, 192, 192]
    assert all(c.kernel_size == (5, 5) for c in convs)
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert [p.strides[0] for p in pools] == [2, 1, 2, 1, 2, 1, 2, 1]
    dense = [layer for layer in model.layers if layer.name.startswith("dense") and isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [3072, 3072]
    assert any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    assert model.input_shape == (None, 54, 54, 3)
    assert {k: tuple(v.shape) for k, v in model.output.items()} == {"length": (None, 7), "digits": (None, 5, 10)}


@pytest.mark.parametrize("preset", ["small", "seed"])
def test_presets_are_small_enough(preset):
    assert MultiDigitNet(preset).count_params() < 3_000_000


@pytest.mark.parametrize("max_digits", [1, 3, 7])
def test_heads_follow_max_digits(rng, max_digits):
    model = MultiDigitNet("small", max_digits=max_digits)
    outputs = model.predict(rng.uniform(size=(2, 54, 54, 3)).astype("float32"), verbose=0)
    assert outputs["length"].shape == (2, max_digits + 2)
    assert outputs["digits"].shape == (2, max_digits, 10)


def test_other_input_size(rng):
    model = MultiDigitNet("small", input_shape=(64, 96, 3))
    assert model.predict(rng.uniform(size=(1, 64, 96, 3)), verbose=0)["length"].shape == (1, 7)


@pytest.mark.parametrize(
    "kwargs,message",
    [({"preset": "huge"}, "unknown preset"), ({"input_shape": (54, 54)}, "input_shape"), ({"max_digits": 0}, "max_digits")],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiDigitNet(**{"preset": "small", **kwargs})


def test_compile_defaults_train_and_report_metrics(rng):
    x, y = tiny_data(rng)
    model = MultiDigitNet("small", conv_dropout=0.0, dense_dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0).history
    assert {"loss", "sequence_accuracy", "digit_accuracy", "coverage_at_98"} <= set(history)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    readings = kerasvhn.decode(model.predict(x, verbose=0))
    truth = kerasvhn.labels_to_numbers(y)
    accuracy = np.mean([a == b for a, b in zip(readings.numbers, truth)])
    assert results["sequence_accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_training_updates_moving_statistics_and_inference_is_deterministic(rng):
    x, y = tiny_data(rng, 8)
    model = MultiDigitNet("small")
    model.compile(optimizer="adam")
    before = keras.ops.convert_to_numpy(conv_layers(model)[0].moving_mean)
    model.fit(x, y, epochs=1, verbose=0)
    after = keras.ops.convert_to_numpy(conv_layers(model)[0].moving_mean)
    assert not np.allclose(before, after)
    first = model.predict(x, verbose=0)
    second = model.predict(x, verbose=0)
    np.testing.assert_array_equal(first["digits"], second["digits"])


def test_user_loss_and_metrics_are_honoured(rng):
    x, y = tiny_data(rng, 8)
    model = MultiDigitNet("small")
    model.compile(
        optimizer="adam",
        loss={
            "length": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "digits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        },
        metrics=[kerasvhn.SequenceAccuracy(method="argmax", name="argmax_accuracy")],
    )
    history = model.fit(x, y, epochs=1, verbose=0).history
    assert "argmax_accuracy" in history and "digit_accuracy" not in history
    assert np.isfinite(history["loss"][0])


def test_config_round_trip():
    model = MultiDigitNet("small", max_digits=4, dense_units=[256])
    clone = MultiDigitNet.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params()
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_training(rng, policy):
    if BACKEND == "torch" and policy == "mixed_float16":
        pytest.skip("torch has no float16 convolution on CPU")
    keras.config.set_dtype_policy(policy)
    x, y = tiny_data(rng, 8)
    model = MultiDigitNet("small")
    model.compile(optimizer="adam")
    history = model.fit(x, y, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    outputs = model.predict(x, verbose=0)
    assert outputs["length"].dtype == np.float32 and outputs["digits"].dtype == np.float32
    assert conv_layers(model)[0].compute_dtype == policy.split("_")[1]


def test_metrics_listed_once_and_sample_weight_accepted(rng):
    x, y = tiny_data(rng, 8)
    model = MultiDigitNet("small")
    model.compile(optimizer="adam")
    names = [m.name for m in model.metrics]
    assert len(names) == len(set(names)), names
    weights = np.array([1, 1, 1, 1, 0, 0, 0, 0], "float32")
    history = model.fit(x, y, sample_weight=weights, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
