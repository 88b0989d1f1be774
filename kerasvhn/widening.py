"""Widening a trained MultiDigitNet into a wider one that computes the same function
(Net2WiderNet, Chen, Goodfellow and Shlens 2016, "Net2Net: accelerating learning via
knowledge transfer"), so a wider preset starts from the narrower model's readings
instead of from nothing.

Each new unit of a layer copies an old unit of the same layer (its kernel column and,
for ConvBNReLU, its batch-norm scale, shift and moving statistics), and the next layer
divides the weights it reads from every copied unit by that unit's number of copies.
The copies' incoming weights get a little noise (`noise`) so that training can tell
them apart; with noise=0 the wider model reads exactly as the narrow one (to float
rounding).
"""

import numpy as np

from kerasvhn.checks import check_int


def widen_model(narrow, wide, seed=0, noise=0.01):
    """Sets `wide`'s weights from `narrow`'s: a wider model reading as `narrow` reads.

    Both models must be MultiDigitNets of the same layers (same kernels, strides,
    pooling, input shape, max_digits), `wide` having at least as many filters in
    every conv layer and units in every dense layer. Returns `wide`, which also
    takes over `narrow`'s training streams (its weights come from them).

    Args:
        narrow, wide: MultiDigitNets.
        seed: which old units the new ones copy, and the noise.
        noise: the copies' incoming weights get Gaussian noise of this fraction of
            the layer's weights' standard deviation (0: exactly the same function).

    >>> import numpy as np, kerasvhn
    >>> from kerasvhn.widening import widen_model
    >>> narrow = kerasvhn.MultiDigitNet("small")
    >>> wide = widen_model(narrow, kerasvhn.MultiDigitNet("small_wide"), noise=0)
    >>> x = np.random.default_rng(0).random((2, 54, 54, 3), dtype=np.float32)
    >>> a, b = narrow.predict_on_batch(x), wide.predict_on_batch(x)
    >>> bool(np.allclose(a["length"], b["length"], atol=1e-3))
    True
    """
    check_int("seed", seed, 0)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    _check_compatible(narrow, wide)
    rng = np.random.default_rng(seed)
    conv_count = len(narrow.architecture["conv_layers"])
    dense_count = len(narrow.architecture["dense_units"])
    # What the layer being widened reads: (the old input unit behind each new input
    # unit, the share each copy carries: 1 / that old unit's number of copies).
    incoming = None
    for index in range(1, conv_count + 1):
        old, new = narrow.get_layer(f"conv{index}"), wide.get_layer(f"conv{index}")
        mapping = _mapping(old.filters, new.filters, rng)
        kernel = _numpy(old.kernel)
        if incoming is not None:
            kernel = kernel[:, :, incoming[0], :] * incoming[1][None, None, :, None]
        new.kernel.assign(_with_noise(kernel[..., mapping], old.filters, rng, noise))
        for name in ("gamma", "beta", "moving_mean", "moving_variance"):
            getattr(new, name).assign(_numpy(getattr(old, name))[mapping])
        incoming = _copies(mapping, old.filters)
    # Flatten: each spatial position holds every channel, channels fastest.
    channels = narrow.get_layer(f"conv{conv_count}").filters
    positions = narrow.get_layer("dense1" if dense_count else "length").kernel.shape[0] // channels
    incoming = ((np.arange(positions)[:, None] * channels + incoming[0][None, :]).reshape(-1),
                np.tile(incoming[1], positions))
    for index in range(1, dense_count + 1):
        old, new = narrow.get_layer(f"dense{index}"), wide.get_layer(f"dense{index}")
        mapping = _mapping(old.units, new.units, rng)
        kernel = _numpy(old.kernel)[incoming[0]] * incoming[1][:, None]
        new.kernel.assign(_with_noise(kernel[:, mapping], old.units, rng, noise))
        new.bias.assign(_numpy(old.bias)[mapping])
        incoming = _copies(mapping, old.units)
    for name in ("length", "digit_logits"):
        old, new = narrow.get_layer(name), wide.get_layer(name)
        new.kernel.assign(_numpy(old.kernel)[incoming[0]] * incoming[1][:, None])
        new.bias.assign(_numpy(old.bias))
    if narrow.training_streams is not None:
        wide.training_streams = [dict(stream) for stream in narrow.training_streams]
    return wide


def _check_compatible(narrow, wide):
    a, b = narrow.architecture, wide.architecture
    same = (
        tuple(a["input_shape"]) == tuple(b["input_shape"])
        and narrow.max_digits == wide.max_digits
        and len(a["conv_layers"]) == len(b["conv_layers"])
        and len(a["dense_units"]) == len(b["dense_units"])
        and all(_shape_of(x) == _shape_of(y) for x, y in zip(a["conv_layers"], b["conv_layers"]))
    )
    if not same:
        raise ValueError("widening needs two models of the same layers (kernels, strides, pooling, input shape, "
                         "max_digits) differing only in width")
    narrower = [x["filters"] > y["filters"] for x, y in zip(a["conv_layers"], b["conv_layers"])] + [
        x > y for x, y in zip(a["dense_units"], b["dense_units"])]
    if any(narrower):
        raise ValueError("the wide model has fewer filters or units than the narrow one somewhere; "
                         f"narrow {[x['filters'] for x in a['conv_layers']]} + {a['dense_units']}, "
                         f"wide {[x['filters'] for x in b['conv_layers']]} + {b['dense_units']}")


def _shape_of(conv_layer):
    """A conv layer's config less its width."""
    return conv_layer["kernel_size"], conv_layer.get("strides", 1), conv_layer.get("pool")


def _mapping(old_units, new_units, rng):
    """Unit j of the wider layer copies old unit mapping[j]: the old units in order,
    then random ones."""
    return np.concatenate([np.arange(old_units), rng.integers(0, old_units, new_units - old_units)])


def _copies(mapping, old_units):
    """(mapping, the share of its old unit each new unit carries)."""
    counts = np.bincount(mapping, minlength=old_units).astype(np.float32)
    return mapping, 1.0 / counts[mapping]


def _with_noise(kernel, old_units, rng, noise):
    """Noise on the copies' incoming weights only (units old_units onwards)."""
    if not noise or kernel.shape[-1] == old_units:
        return kernel.astype(np.float32)
    kernel = kernel.copy()
    scale = noise * float(kernel.std())
    kernel[..., old_units:] += rng.normal(0, scale, kernel[..., old_units:].shape)
    return kernel.astype(np.float32)


def _numpy(variable):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(variable), np.float32)
