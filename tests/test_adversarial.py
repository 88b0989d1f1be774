"""Attacks: bounds, loss, batching, inference mode, targeted success, seeds across
backends, and a cross-check against IBM ART on tensorflow."""

import inspect
import json

import keras
import numpy as np
import pytest
from keras import ops

import kerasvhn
from backend_grad import gradient
from conftest import BACKEND, run_python
from kerasvhn import MultiDigitNet, encode_numbers
from kerasvhn.adversarial import attacks, backend, fgsm, fgsm_step, parse_attack, pgd, run_attack

EPS = 8 / 255
TINY = {
    "preset": "small",
    "input_shape": (16, 16, 3),
    "max_digits": 3,
    "conv_layers": [
        {"filters": 8, "kernel_size": 3, "strides": 1, "pool": 2},
        {"filters": 16, "kernel_size": 3, "strides": 1, "pool": 2},
    ],
    "dense_units": [32],
    "conv_dropout": 0.0,
    "dense_dropout": 0.0,
}


def tiny_model(**overrides):
    return MultiDigitNet(**{**TINY, **overrides})


def tiny_data(rng, count=8):
    numbers = [str(n) for n in rng.integers(0, 1000, size=count)]
    x = rng.uniform(size=(count, 16, 16, 3)).astype("float32")
    x[0, :4] = 0.0  # pixels at the edges of the clip range
    x[1, :4] = 1.0
    return x, encode_numbers(numbers, max_digits=3)


def trained_tiny_model(rng, count=8):
    """A tiny model that has learned to read `count` noise images (60 quick epochs)."""
    x, y = tiny_data(rng, count)
    model = tiny_model(dense_units=[128])
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x, y, epochs=60, batch_size=count, verbose=0)
    return model, x, y


def numpy(tensor):
    return ops.convert_to_numpy(tensor)


def loss_of(model, x, y):
    return float(kerasvhn.multi_digit_loss(y, model.predict_on_batch(numpy(x))))


def assert_in_bounds(x_adv, x, eps, clip=(0.0, 1.0)):
    x_adv = numpy(x_adv)
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert np.abs(x_adv - x).max() <= eps + 1e-6
    assert x_adv.min() >= clip[0] and x_adv.max() <= clip[1]


# fgsm_step


def reference_step(x, x0, grad, step, eps, lo, hi):
    return np.clip(np.clip(x + step * np.sign(grad), x0 - eps, x0 + eps), lo, hi)


@pytest.mark.parametrize("step,eps,lo,hi", [(0.1, 0.05, 0.0, 1.0), (0.01, 0.03, 0.0, 1.0), (0.2, 0.5, -1.0, 1.0)])
def test_fgsm_step_matches_numpy(rng, step, eps, lo, hi):
    x0 = rng.uniform(lo, hi, size=(4, 5, 5, 3)).astype("float32")
    x = np.clip(x0 + rng.uniform(-eps, eps, size=x0.shape), lo, hi).astype("float32")
    grad = rng.normal(size=x0.shape).astype("float32")
    grad[0, 0, 0] = 0.0
    out = numpy(fgsm_step(ops.convert_to_tensor(x), ops.convert_to_tensor(x0), ops.convert_to_tensor(grad), step, eps, lo, hi))
    np.testing.assert_allclose(out, reference_step(x, x0, grad, step, eps, lo, hi), atol=1e-6)


@pytest.mark.skipif(BACKEND != "torch", reason="the Triton kernel is for the torch backend")
def test_fgsm_step_picks_the_kernel_when_dispatch_says_so(monkeypatch, rng):
    calls = []

    class FakeKernel:
        @staticmethod
        def fgsm_step(*args):
            calls.append(args)
            return args[0]

    monkeypatch.setattr(attacks.fused, "resolve_fused", lambda fused, op, x: (fused, op) == ("auto", "fgsm_step"))
    monkeypatch.setattr(attacks.fused, "kernel_module", lambda op: FakeKernel)
    x = ops.convert_to_tensor(rng.uniform(size=(2, 3)).astype("float32"))
    fgsm_step(x, x, x, ops.convert_to_tensor(0.5), 0.25, 0.0, 1.0)
    assert len(calls) == 1 and calls[0][3:] == (0.5, 0.25, 0.0, 1.0)


# The attacks


@pytest.fixture(scope="module")
def model():
    """An untrained tiny model, shared: attacks leave models unchanged, and sharing
    one lets tensorflow and jax reuse their compiled attacks."""
    return tiny_model()


@pytest.fixture(scope="module")
def dropout_model():
    return tiny_model(conv_dropout=0.5, dense_dropout=0.5)


ATTACKS = {
    "fgsm": lambda m, x, y: fgsm(m, x, y, EPS),
    "fgsm-rs": lambda m, x, y: fgsm(m, x, y, EPS, random_start=True, seed=1),
    "pgd": lambda m, x, y: pgd(m, x, y, EPS, 2 / 255, 3, seed=1),
    "bim": lambda m, x, y: pgd(m, x, y, EPS, 2 / 255, 3, random_start=False),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_stay_in_bounds_and_raise_the_loss(rng, model, name):
    x, y = tiny_data(rng)
    x_adv = ATTACKS[name](model, x, y)
    assert_in_bounds(x_adv, x, EPS)
    assert loss_of(model, x_adv, y) > loss_of(model, x, y) + 0.1


def test_fgsm_is_one_signed_step_of_the_inference_mode_gradient(rng, dropout_model):
    x, y = tiny_data(rng)
    grad = gradient(lambda t: kerasvhn.multi_digit_loss(y, dropout_model(t, training=False)), x)
    expected = np.clip(x + EPS * np.sign(grad), 0.0, 1.0)
    np.testing.assert_allclose(numpy(fgsm(dropout_model, x, y, EPS)), expected, atol=1e-6)


def test_attacks_leave_batch_norm_statistics_alone_and_dropout_off(rng, dropout_model):
    x, y = tiny_data(rng)
    before = [numpy(v).copy() for v in dropout_model.non_trainable_weights]
    first = numpy(pgd(dropout_model, x, y, EPS, 2 / 255, 3, random_start=False))
    second = numpy(pgd(dropout_model, x, y, EPS, 2 / 255, 3, random_start=False))
    np.testing.assert_array_equal(first, second)  # dropout would make them differ
    for old, new in zip(before, dropout_model.non_trainable_weights):
        np.testing.assert_array_equal(old, numpy(new))


def test_one_batched_gradient_per_step_and_images_independent(rng, monkeypatch):
    x, y = tiny_data(rng, 6)
    model = tiny_model()
    calls = []
    original = backend.input_gradient
    monkeypatch.setattr(
        backend, "input_gradient", lambda m, images, *a, **k: calls.append(ops.shape(images)) or original(m, images, *a, **k)
    )
    batched = numpy(pgd(model, x, y, EPS, 2 / 255, 3, random_start=False))
    # Eager torch calls it once per step; tensorflow and jax trace the loop body once.
    assert [tuple(shape)[0] for shape in calls] == [6] * (3 if BACKEND == "torch" else 1)
    one = numpy(pgd(model, x[2:3], {k: v[2:3] for k, v in y.items()}, EPS, 2 / 255, 3, random_start=False))
    np.testing.assert_allclose(batched[2:3], one, atol=1e-6)


def test_random_start_follows_the_seed(rng, model):
    x, y = tiny_data(rng)
    a, b, c = (numpy(pgd(model, x, y, EPS, 2 / 255, 3, seed=s)) for s in (3, 3, 4))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0


def test_other_clip_ranges(rng, model):
    x, y = tiny_data(rng)
    x = x * 2 - 1
    x_adv = pgd(model, x, y, 2 * EPS, 4 / 255, 3, clip=(-1.0, 1.0), seed=0)
    assert_in_bounds(x_adv, x, 2 * EPS, clip=(-1.0, 1.0))


def test_targeted_attack_reads_the_target_on_a_trained_model(rng):
    model, x, y = trained_tiny_model(rng)
    numbers = kerasvhn.decode(model.predict_on_batch(x)).numbers
    assert np.mean([a == b for a, b in zip(numbers, kerasvhn.labels_to_numbers(y))]) >= 0.75
    targets = numbers[1:] + numbers[:1]  # numbers the model reads
    target_labels = encode_numbers(targets, max_digits=3)
    eps = 32 / 255
    x_adv = pgd(model, x, target_labels, eps, eps / 4, 10, targeted=True, seed=0)
    assert_in_bounds(x_adv, x, eps)
    assert loss_of(model, x_adv, target_labels) < loss_of(model, x, target_labels)
    read = kerasvhn.decode(model.predict_on_batch(numpy(x_adv))).numbers
    assert np.mean([a == b for a, b in zip(read, targets)]) >= 7 / 8


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda m, x, y: fgsm(m, x, y, -0.1), "eps"),
        (lambda m, x, y: pgd(m, x, y, EPS, 0.01, 0), "steps"),
        (lambda m, x, y: fgsm(m, x, y, EPS, clip=(1, 0)), "clip"),
        (lambda m, x, y: fgsm(m, x[:3], y, EPS), "labels"),
        (lambda m, x, y: run_attack(m, x, y, EPS, "cw"), "unknown attack"),
    ],
)
def test_bad_arguments(rng, model, call, message):
    x, y = tiny_data(rng)
    with pytest.raises(ValueError, match=message):
        call(model, x, y)


def test_attack_names():
    assert parse_attack("FGSM-RS") == attacks.AttackSpec("fgsm-rs", 1, True, 1.25)
    assert parse_attack("pgd-7").steps == 7


# Across backends and against an established implementation

def seeded_attacks(model, x, y):
    eps = 8 / 255
    return {
        "fgsm_rs": kerasvhn.fgsm(model, x, y, eps, random_start=True, seed=5),
        "pgd": kerasvhn.pgd(model, x, y, eps, 2 / 255, 3, seed=5),
    }


ON_ANOTHER_BACKEND = """
model = keras.saving.load_model(sys.argv[1])
data = np.load(sys.argv[2])
results = seeded_attacks(model, data["x"], {"length": data["length"], "digits": data["digits"]})
np.savez(sys.argv[3], **{k: ops.convert_to_numpy(v) for k, v in results.items()})
"""


def test_seeded_attacks_agree_across_backends(rng, tmp_path):
    # Each backend's run compares itself with the next one: all pairs get covered.
    other = {"torch": "tensorflow", "tensorflow": "jax", "jax": "torch"}[BACKEND]
    x, y = tiny_data(rng)
    model = tiny_model()
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", x=x, **y)
    args = [str(tmp_path / name) for name in ("model.keras", "data.npz", "there.npz")]
    code = (
        f"import sys, numpy as np, keras, kerasvhn\nfrom keras import ops\nsys.argv = ['-'] + {json.dumps(args)}\n"
        + inspect.getsource(seeded_attacks)
        + ON_ANOTHER_BACKEND
    )
    run_python(code, other)
    mine = {k: numpy(v) for k, v in seeded_attacks(model, x, y).items()}
    theirs = np.load(tmp_path / "there.npz")
    for key, images in mine.items():
        differ = np.abs(images - theirs[key]) > 1e-5
        # A gradient component within float error of 0 may take the other sign.
        assert differ.mean() < 1e-3, (key, other, differ.mean())


@pytest.mark.skipif(BACKEND != "tensorflow", reason="the ART cross-check runs on the tensorflow backend")
@pytest.mark.parametrize("targeted", [False, True], ids=["untargeted", "targeted"])
def test_fgsm_matches_ibm_art_on_a_single_output_model(rng, model, targeted):
    """IBM ART's FastGradientMethod, with the categorical cross-entropy of ART's
    TensorFlowV2Classifier examples, on a one-output Keras model: our length head.
    Labels of length 0 mask every digit term of our multi-digit loss, which is then
    that head's cross-entropy: the two attacks share nothing but the model's weights."""
    art_attacks = pytest.importorskip("art.attacks.evasion")
    art_estimators = pytest.importorskip("art.estimators.classification")
    import tensorflow as tf

    x, _ = tiny_data(rng)
    y = encode_numbers([""] * len(x), max_digits=3)  # length 0: no number
    length_classes = 3 + 2
    length_head = keras.Model(model.inputs, model.get_layer("length").output)
    classifier = art_estimators.TensorFlowV2Classifier(
        model=length_head,
        nb_classes=length_classes,
        input_shape=x.shape[1:],
        loss_object=tf.keras.losses.CategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0),
    )
    labels = np.eye(length_classes, dtype="float32")[y["length"]]
    attack = art_attacks.FastGradientMethod(classifier, norm=np.inf, eps=EPS, targeted=targeted, batch_size=len(x))
    theirs = attack.generate(x, y=labels)
    mine = numpy(fgsm(model, x, y, EPS, targeted=targeted))
    assert np.abs(theirs - x).max() > EPS / 2  # ART did move the images
    # The same images; a gradient component within float error of 0 may take the
    # other sign (none does here).
    differ = np.abs(mine - theirs) > 1e-6
    grad = np.abs(classifier.loss_gradient(x, labels))
    assert np.all(grad[differ] <= 1e-6 * grad.max()), (differ.sum(), grad[differ].max() / grad.max())
