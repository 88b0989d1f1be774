"""Adversarial training: the callback, the training step it switches on, the eps
schedule, the catastrophic-overfitting guard."""

import keras
import numpy as np
import pytest

from conftest import BACKEND
from kerasvhn.adversarial import AdversarialTraining, backend, training
from test_adversarial import tiny_data, tiny_model

ADVERSARIAL_LOGS = {
    "adversarial_loss",
    "adversarial_sequence_accuracy",
    "adversarial_digit_accuracy",
    "adversarial_eps",
}


def compiled_twins(count=2):
    """Tiny models with the same weights and optimizer settings."""
    models = [tiny_model() for _ in range(count)]
    for model in models:
        model.set_weights(models[0].get_weights())
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    return models


def fit(model, x, y, epochs=1, callbacks=(), **kwargs):
    return model.fit(x, y, epochs=epochs, batch_size=8, shuffle=False, verbose=0, callbacks=list(callbacks), **kwargs)


def max_difference(a, b):
    return max(float(np.abs(u - v).max()) for u, v in zip(a.get_weights(), b.get_weights()))


def test_callback_trains_on_adversarial_examples_and_logs_them(rng):
    x, y = tiny_data(rng, 16)
    clean, adversarial = compiled_twins()
    fit(clean, x, y)
    held = (x[:4], {k: v[:4] for k, v in y.items()})
    callback = AdversarialTraining(eps=8 / 255, attack="fgsm-rs", ramp_epochs=0, monitor=held, monitor_attack="pgd-3")
    history = fit(adversarial, x, y, callbacks=[callback], validation_data=(x[:8], {k: v[:8] for k, v in y.items()})).history
    assert ADVERSARIAL_LOGS | {"loss", "sequence_accuracy", "monitor_robust_accuracy"} <= set(history)
    assert not any(key.startswith("val_adversarial") for key in history)  # validation is clean
    assert history["adversarial_eps"] == [pytest.approx(8 / 255)]
    assert 0.0 <= history["monitor_robust_accuracy"][0] <= 1.0
    assert history["adversarial_loss"][0] > 0
    assert max_difference(clean, adversarial) > 1e-4
    # After fit the model is back to its clean step and metrics.
    assert getattr(adversarial, "_adversarial_step") is None
    assert not ADVERSARIAL_LOGS & set(fit(adversarial, x, y).history)


def test_with_no_perturbation_it_is_the_clean_step(rng):
    # eps = 0 and ratio = 1: every image is replaced by itself, so the weights
    # follow the clean fit and the adversarial loss is the loss.
    x, y = tiny_data(rng, 16)
    clean, adversarial = compiled_twins()
    clean_history = fit(clean, x, y, epochs=2).history
    history = fit(adversarial, x, y, epochs=2, callbacks=[AdversarialTraining(eps=0.0, ratio=1.0, attack="fgsm")]).history
    assert max_difference(clean, adversarial) < 1e-5
    np.testing.assert_allclose(history["loss"], clean_history["loss"], rtol=1e-5)
    np.testing.assert_allclose(history["adversarial_loss"], history["loss"], rtol=1e-5)


def test_ratio_sets_how_many_images_are_attacked():
    assert training.adversarial_count(8, 0.5) == 4
    assert training.adversarial_count(3, 0.1) == 1  # at least one
    assert training.adversarial_count(8, 1.0) == 8


def test_eps_ramps_every_batch_without_retracing(rng, monkeypatch):
    x, y = tiny_data(rng, 16)
    model = tiny_model()
    model.compile(optimizer="sgd")
    calls = []
    original = training.AdversarialStep.__call__
    monkeypatch.setattr(training.AdversarialStep, "__call__", lambda *a: calls.append(1) or original(*a))
    callback = AdversarialTraining(eps=4 / 255, ramp_epochs=2, attack="pgd-2")
    history = fit(model, x, y, epochs=3, callbacks=[callback]).history
    assert np.all(np.isfinite(history["adversarial_loss"]))
    # Two batches an epoch: the last batch of each epoch comes 0.5, 1.5 and 2.5 epochs in.
    np.testing.assert_allclose(history["adversarial_eps"], [4 / 255 * 0.25, 4 / 255 * 0.75, 4 / 255])
    # torch runs the step eagerly; tensorflow and jax traced it once for all six batches.
    assert len(calls) == (6 if BACKEND == "torch" else 1)


def test_the_compiled_step_reads_eps_at_run_time():
    """A new eps reaches a compiled step without retracing it. tensorflow and jax
    trace the step's Python body once, and its second run must still follow the
    new eps. torch runs the body eagerly on every call, where any read would do;
    what must hold there holds under torch.compile (Keras's torch fit with
    jit_compile=True): eps is read as a tensor, so a new value is neither baked
    into the graph nor a reason to recompile it."""
    eps = backend.StepScalar(0.5, "probe")
    runs = []

    def scaled(x):
        return x * eps.read()

    def body(x, variables=None):
        runs.append(1)
        return scaled(x)

    probe = backend.compiled_attack(tiny_model(), "probe", body)
    x = keras.ops.ones((2,))
    assert keras.ops.convert_to_numpy(probe(x)).tolist() == [0.5, 0.5]
    eps.assign(0.25)
    assert keras.ops.convert_to_numpy(probe(x)).tolist() == [0.25, 0.25]
    assert len(runs) == (2 if BACKEND == "torch" else 1)
    if BACKEND == "torch":
        import torch

        graphs = []

        def count_graphs(graph, example_inputs):
            graphs.append(graph)
            return graph.forward

        torch._dynamo.reset()
        try:
            compiled = torch.compile(scaled, backend=count_graphs)
            values = []
            for value in (0.5, 0.125):
                eps.assign(value)
                values.append(compiled(x).tolist())
        finally:
            torch._dynamo.reset()
        assert values == [[0.5, 0.5], [0.125, 0.125]]
        assert len(graphs) == 1


def test_plain_keras_model_is_refused_with_a_clear_message(rng):
    x, y = tiny_data(rng)
    inputs = keras.Input((16, 16, 3))
    features = keras.layers.Flatten()(inputs)
    outputs = {"length": keras.layers.Dense(5)(features), "digits": keras.layers.Reshape((3, 10))(keras.layers.Dense(30)(features))}
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(TypeError, match="needs a kerasvhn.MultiDigitNet"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[AdversarialTraining()])


def test_collapse_guard_restores_the_epoch_before_and_stops(rng, monkeypatch):
    x, y = tiny_data(rng, 8)
    model = tiny_model()
    model.compile(optimizer="sgd")
    scripted = iter([0.5, 0.6, 0.1, 0.6])
    monkeypatch.setattr(AdversarialTraining, "monitor_accuracy", lambda self, epoch: next(scripted))
    weights = []
    recorder = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append(model.get_weights()))
    callback = AdversarialTraining(eps=4 / 255, ramp_epochs=0, monitor=(x, y), restore_on_collapse=True)
    with pytest.warns(RuntimeWarning, match="Catastrophic overfitting at epoch 3"):
        history = fit(model, x, y, epochs=4, callbacks=[callback, recorder]).history
    assert history["monitor_robust_accuracy"] == [0.5, 0.6, 0.1]
    assert len(history["loss"]) == 3  # stopped
    for restored, second_epoch in zip(model.get_weights(), weights[1]):
        np.testing.assert_array_equal(restored, second_epoch)


def test_collapse_guard_without_restoring_only_warns(rng, monkeypatch):
    x, y = tiny_data(rng, 4)
    model = tiny_model()
    scripted = iter([0.9, 0.6, 0.5])
    monkeypatch.setattr(AdversarialTraining, "monitor_accuracy", lambda self, epoch: next(scripted))
    callback = AdversarialTraining(monitor=(x, y), collapse_drop=0.2)
    callback.set_model(model)
    callback.on_epoch_end(0, {})
    with pytest.warns(RuntimeWarning, match="fell from 90.0% to 60.0%"):
        callback.on_epoch_end(1, {})
    with pytest.warns(RuntimeWarning, match="fell from 90.0% to 50.0%"):
        callback.on_epoch_end(2, {})  # still compared with the last good epoch
    assert not getattr(model, "stop_training", False)


def test_bad_arguments():
    for kwargs, message in (
        ({"ratio": 0.0}, "ratio"),
        ({"eps": -1.0}, "eps"),
        ({"ramp_epochs": -1}, "ramp_epochs"),
        ({"attack": "deepfool"}, "unknown attack"),
    ):
        with pytest.raises(ValueError, match=message):
            AdversarialTraining(**kwargs)


def test_free_mode_replays_each_batch_and_perturbs_it(rng):
    x, y = tiny_data(rng, 16)
    clean, free, perturbed = compiled_twins(3)
    # eps = 0: free training with 2 replays is clean training on every batch twice.
    order = np.array([0, 1, 2, 3, 4, 5, 6, 7] * 2 + [8, 9, 10, 11, 12, 13, 14, 15] * 2)
    fit(clean, x[order], {k: v[order] for k, v in y.items()})
    history = fit(free, x, y, callbacks=[AdversarialTraining(eps=0.0, attack="free-2")]).history
    assert int(keras.ops.convert_to_numpy(free.optimizer.iterations)) == 4
    assert max_difference(clean, free) < 1e-5
    assert ADVERSARIAL_LOGS <= set(history)
    history = fit(perturbed, x, y, callbacks=[AdversarialTraining(eps=8 / 255, attack="free-2", ramp_epochs=0)]).history
    assert history["adversarial_loss"][0] > 0
    assert max_difference(clean, perturbed) > 1e-4


def _carried_value(carry):
    if BACKEND == "tensorflow":
        return np.asarray(carry._variable.numpy())
    return np.asarray(keras.ops.convert_to_numpy(carry._host))


def test_step_carry_keeps_a_tensor_between_compiled_steps():
    carry = backend.StepCarry("test_carry")
    like = keras.ops.ones((2, 3))

    def step(x):
        value, valid = carry.read(x)
        carry.write(x * 2.0)
        return value, valid

    if BACKEND == "tensorflow":
        import tensorflow as tf

        step = tf.function(step)
    elif BACKEND == "jax":
        import jax

        step = jax.jit(step)
    value, valid = step(like)
    assert not bool(valid) and np.all(keras.ops.convert_to_numpy(value) == 0)
    value, valid = step(like + 1.0)
    assert bool(valid) and np.allclose(keras.ops.convert_to_numpy(value), 2.0)
    value, valid = step(keras.ops.ones((1, 3)))  # another shape: not carried
    assert not bool(valid)
    assert np.allclose(_carried_value(carry), 2.0) and _carried_value(carry).shape == (1, 3)


def test_free_mode_carries_its_perturbation_between_batches(rng):
    """Shafahi et al.'s free training: the perturbation that ends one batch starts
    the next (projected onto the eps-ball around the new images and the clip
    range), and each replay moves it by one signed step of eps at most. With one
    replay per batch, each batch's perturbation is therefore within eps of its
    start, pixel by pixel; a fresh start (random, or zero) would be up to 2 eps away."""
    eps = 8 / 255
    x, y = tiny_data(rng, 24)
    (model,) = compiled_twins(1)
    callback = AdversarialTraining(eps=eps, attack="free-1", ramp_epochs=0)
    deltas = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: deltas.append(_carried_value(callback.step.carry).copy())
    )
    fit(model, x, y, callbacks=[callback, record])
    assert len(deltas) == 3 and all(delta.shape == (8,) + x.shape[1:] for delta in deltas)
    for batch in (1, 2):
        images = x[8 * batch : 8 * (batch + 1)]
        start = np.clip(images + np.clip(deltas[batch - 1], -eps, eps), 0.0, 1.0) - images
        moved = np.abs(deltas[batch] - start)
        assert np.abs(deltas[batch]).max() <= eps + 1e-6
        assert moved.max() <= eps + 1e-6, f"batch {batch + 1} ended {moved.max() / eps:.2f} eps from its carried start"
        # And the replay stepped (about 60% of pixels; the others already sat on the
        # side of the ball their gradient points to).
        assert np.mean(moved > eps / 2) > 0.25, np.mean(moved > eps / 2)


@pytest.mark.parametrize("attack, ratio", [("fgsm", 1.0), ("free-1", 0.5)])
def test_sample_weights_reach_the_adversarial_steps(rng, attack, ratio):
    # eps = 0: every image is its own adversarial version, so both steps are the
    # clean weighted step, weights included (zero-weight images teach nothing).
    x, y = tiny_data(rng, 16)
    weights = np.where(np.arange(16) % 3 == 0, 0.0, 1.5).astype("float32")
    clean, adversarial, unweighted = compiled_twins(3)
    clean_history = fit(clean, x, y, sample_weight=weights).history
    fit(unweighted, x, y)
    callback = AdversarialTraining(eps=0.0, ratio=ratio, attack=attack, ramp_epochs=0)
    history = fit(adversarial, x, y, sample_weight=weights, callbacks=[callback]).history
    assert max_difference(clean, adversarial) < 1e-5
    assert max_difference(unweighted, adversarial) > 1e-4
    np.testing.assert_allclose(history["loss"], clean_history["loss"], rtol=1e-5)
    np.testing.assert_allclose(history["adversarial_loss"], history["loss"], rtol=1e-5)


@pytest.mark.parametrize("attack", ["fgsm-rs", "free-2"])
def test_each_metric_is_listed_once(rng, attack):
    """The loss, the compiled and the adversarial metrics each appear once in the
    model's metrics and in the logs, during adversarial training and after it."""
    x, y = tiny_data(rng, 16)
    (model,) = compiled_twins(1)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(([m.name for m in model.metrics], sorted(logs)))
    )
    fit(model, x, y, callbacks=[AdversarialTraining(eps=4 / 255, attack=attack, ramp_epochs=0), record])
    for names, logs in seen:
        assert len(names) == len(set(names)) and names.count("loss") == 1, names
        assert ADVERSARIAL_LOGS - {"adversarial_eps"} <= set(logs), logs
    names = [m.name for m in model.metrics]
    assert len(names) == len(set(names)) and not ADVERSARIAL_LOGS & set(names)
