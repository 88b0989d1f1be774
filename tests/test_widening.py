import argparse

import numpy as np
import pytest

from kerasvhn import MultiDigitNet
from kerasvhn.widening import widen_model

NARROW = {"conv_layers": [{"filters": 6, "kernel_size": 3, "strides": 2, "pool": None},
                          {"filters": 8, "kernel_size": 3, "strides": 1, "pool": 2}],
          "dense_units": [16], "conv_dropout": 0, "dense_dropout": 0}
WIDE = {"conv_layers": [{"filters": 9, "kernel_size": 3, "strides": 2, "pool": None},
                        {"filters": 13, "kernel_size": 3, "strides": 1, "pool": 2}],
        "dense_units": [27], "conv_dropout": 0, "dense_dropout": 0}


def trained_looking(model, seed=0):
    """Random weights everywhere, batch-norm statistics included, so no layer is an identity."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        name = variable.path.split("/")[-1]
        if name == "moving_variance":
            value = rng.uniform(0.5, 2.0, shape)
        elif name in ("gamma",):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0, 0.3, shape)
        variable.assign(value.astype("float32"))
    return model


def outputs(model, images):
    out = model.predict_on_batch(images)
    return np.concatenate([np.asarray(out["length"]).reshape(len(images), -1),
                           np.asarray(out["digits"]).reshape(len(images), -1)], axis=1)


@pytest.fixture
def images():
    return np.random.default_rng(1).random((4, 54, 54, 3), dtype=np.float32)


def test_a_widened_model_reads_as_the_narrow_one(images):
    narrow = trained_looking(MultiDigitNet("small", **NARROW))
    wide = widen_model(narrow, MultiDigitNet("small", **WIDE), noise=0)
    expected = outputs(narrow, images)
    assert np.abs(expected).max() > 0.1  # a model that outputs something
    np.testing.assert_allclose(outputs(wide, images), expected, atol=1e-4, rtol=1e-4)
    # The first units are the narrow model's own; the rest are copies of some of them.
    old, new = (np.asarray(m.get_layer("conv1").kernel) for m in (narrow, wide))
    np.testing.assert_array_equal(new[..., :6], old)
    assert all(any(np.array_equal(new[..., j], old[..., k]) for k in range(6)) for j in range(6, 9))


def test_a_model_without_dense_layers_widens_too(images):
    narrow = trained_looking(MultiDigitNet("small", **dict(NARROW, dense_units=[])))
    wide = widen_model(narrow, MultiDigitNet("small", **dict(WIDE, dense_units=[])), noise=0)
    np.testing.assert_allclose(outputs(wide, images), outputs(narrow, images), atol=1e-4, rtol=1e-4)


def test_noise_sets_the_copies_apart_and_keeps_the_reading_close(images):
    narrow = trained_looking(MultiDigitNet("small", **NARROW))
    exact = widen_model(narrow, MultiDigitNet("small", **WIDE), seed=3, noise=0)
    noisy = widen_model(narrow, MultiDigitNet("small", **WIDE), seed=3, noise=0.01)
    a, b = (np.asarray(m.get_layer("conv2").kernel) for m in (exact, noisy))
    np.testing.assert_array_equal(a[..., :8], b[..., :8])  # the original units are untouched
    assert not np.array_equal(a[..., 8:], b[..., 8:])
    difference = np.abs(outputs(noisy, images) - outputs(narrow, images)).max()
    assert 0 < difference < 0.2 * np.abs(outputs(narrow, images)).max()


def test_the_wide_model_keeps_the_narrow_ones_training_streams():
    streams = [{"purpose": "train", "seed": 4, "split": "train", "count": 10}]
    narrow = MultiDigitNet("small", training_streams=streams, **NARROW)
    wide = widen_model(narrow, MultiDigitNet("small", **WIDE))
    assert wide.training_streams == streams


def test_models_that_differ_in_more_than_width_are_refused():
    narrow = MultiDigitNet("small", **NARROW)
    with pytest.raises(ValueError, match="fewer filters or units"):
        widen_model(MultiDigitNet("small", **WIDE), narrow)
    other = dict(WIDE, conv_layers=[dict(WIDE["conv_layers"][0], kernel_size=5), WIDE["conv_layers"][1]])
    with pytest.raises(ValueError, match="same layers"):
        widen_model(narrow, MultiDigitNet("small", **other))
    with pytest.raises(ValueError, match="same layers"):
        widen_model(narrow, MultiDigitNet("small", max_digits=4, **WIDE))
    with pytest.raises(ValueError, match="noise"):
        widen_model(narrow, MultiDigitNet("small", **WIDE), noise=-1)


def test_train_widens_the_model_it_is_told_to_start_from(tmp_path):
    from kerasvhn.commands.train import _initial_model
    from kerasvhn.saving import save_model

    path = tmp_path / "narrow.keras"
    narrow = trained_looking(MultiDigitNet("small"))
    save_model(narrow, str(path))
    args = argparse.Namespace(from_preset=None, initial_weights=None, widen_from=str(path), seed=0)
    wide = _initial_model(args, "small_wide")
    assert wide.count_params() > 2 * narrow.count_params()
    assert [layer["filters"] for layer in wide.architecture["conv_layers"]] == [48, 96, 144, 192, 240]
    # Bare weights without their config are read as the small network's.
    bare = tmp_path / "bare.weights.h5"
    narrow.save_weights(str(bare))
    args.widen_from = str(bare)
    again = _initial_model(args, "small_wide")
    kernels = [np.asarray(model.get_layer("conv3").kernel) for model in (again, wide)]
    np.testing.assert_array_equal(*kernels)
