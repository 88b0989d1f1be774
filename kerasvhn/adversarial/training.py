"""Adversarial training through a Keras callback.

A Keras callback sees epochs and logs, never batches, so the work is split the
Keras way: `MultiDigitNet.train_step` hands each batch to an `AdversarialStep` while
one is attached, and the `AdversarialTraining` callback attaches it, schedules eps
and watches for catastrophic overfitting.

The objective is Goodfellow et al.'s (2014), `(1 - ratio) * clean loss + ratio *
adversarial loss`, estimated the way IBM ART's AdversarialTrainer does it: in each
batch a `ratio` fraction of the images (the first ones; `fit` shuffles) is replaced
by its adversarial version, crafted on the current weights with `training=False`,
and the usual Keras step trains on the mixed batch. Its cost is one clean step
plus the attack on `ratio` of the batch. `FreeStep` is the "free" variant
(Shafahi et al. 2019), which reuses each training step's backward pass for the
perturbation.
"""

import re
import warnings

import keras
import numpy as np
from keras import ops

from kerasvhn import sequence
from kerasvhn.adversarial import backend
from kerasvhn.adversarial.attacks import fgsm_step, parse_attack, perturb, run_attack


def _first_rows(tree, count):
    return keras.tree.map_structure(lambda t: t[:count], tree)


def adversarial_count(batch, ratio):
    """How many images of a batch of `batch` are replaced (at least one)."""
    if isinstance(batch, int):
        return max(1, int(round(ratio * batch)))
    return ops.maximum(1, ops.cast(ops.round(ratio * ops.cast(batch, "float32")), "int32"))


class _AdversarialRows:
    """Mixin of the metrics that read only the adversarial rows of a training
    batch; the training step sets `rows` while it runs, and they ignore batches
    without it (validation)."""

    rows = None

    def _adversarial_part(self, y_true, y_pred, sample_weight):
        rows = self.rows
        if sample_weight is not None:
            sample_weight = _first_rows(sample_weight, rows)
        return _first_rows(y_true, rows), _first_rows(y_pred, rows), sample_weight


class AdversarialLoss(_AdversarialRows, keras.metrics.Metric):
    """The masked multi-head loss of the adversarial images of the training batches."""

    def __init__(self, name="adversarial_loss", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), initializer="zeros", name="total")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.rows is None:
            return
        y_true, y_pred, sample_weight = self._adversarial_part(y_true, y_pred, sample_weight)
        rows = ops.cast(self.rows, "float32")
        self.total.assign_add(sequence.multi_digit_loss(y_true, y_pred, sample_weight) * rows)
        self.count.assign_add(rows)

    def result(self):
        return ops.divide_no_nan(self.total, self.count)


class AdversarialSequenceAccuracy(_AdversarialRows, sequence.SequenceAccuracy):
    """Whole-number accuracy on the adversarial images of the training batches."""

    def __init__(self, method="paper", name="adversarial_sequence_accuracy", dtype=None):
        super().__init__(method=method, name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.rows is not None:
            super().update_state(*self._adversarial_part(y_true, y_pred, sample_weight))


class AdversarialDigitAccuracy(_AdversarialRows, sequence.DigitAccuracy):
    """Per-digit accuracy on the adversarial images of the training batches."""

    def __init__(self, name="adversarial_digit_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.rows is not None:
            super().update_state(*self._adversarial_part(y_true, y_pred, sample_weight))


class _Step:
    """Base of the steps: the adversarial metrics and which rows they read."""

    def __init__(self, clip, eps, noise):
        self.clip = (float(clip[0]), float(clip[1]))
        self.eps = eps
        self.noise = noise
        self.metrics = [AdversarialLoss(), AdversarialSequenceAccuracy(), AdversarialDigitAccuracy()]

    def _set_rows(self, rows):
        for metric in self.metrics:
            metric.rows = rows

    def _random_start(self, x0, eps):
        lo, hi = self.clip
        return ops.clip(x0 + eps * self.noise.uniform(ops.shape(x0)), lo, hi)


class AdversarialStep(_Step):
    """What `MultiDigitNet.train_step` runs while adversarial training is on: craft
    adversarial versions of the first `ratio` of the batch, then the model's own
    Keras step on the mixed batch.

    `eps` is a `backend.StepScalar`, read by the compiled step each time it runs.
    """

    def __init__(self, attack, ratio, clip, eps, noise):
        super().__init__(clip, eps, noise)
        self.spec = parse_attack(attack)
        self.ratio = float(ratio)

    def __call__(self, model, keras_train_step, *args):
        # torch and tensorflow: train_step(data); jax: train_step(state, data).
        *state, data = args
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = ops.cast(x, "float32")
        variables = (state[0][0], state[0][1]) if state else None
        count = adversarial_count(ops.shape(x)[0], self.ratio)
        x_adv = self.perturb(model, x[:count], _first_rows(y, count), variables)
        mixed = (ops.concatenate([x_adv, x[count:]], axis=0), y, sample_weight)
        self._set_rows(count)
        try:
            return keras_train_step(*state, mixed)
        finally:
            self._set_rows(None)

    def perturb(self, model, x0, y, variables=None):
        lo, hi = self.clip
        eps = self.eps.read()
        start = self._random_start(x0, eps) if self.spec.random_start else x0
        step = eps * self.spec.step_factor
        return perturb(model, x0, y, start, step, eps, lo, hi, self.spec.steps, 1.0, variables)


class FreeStep(_Step):
    """Free adversarial training (Shafahi et al. 2019): each batch is replayed
    `replays` times; every replay is one Keras training step on the perturbed batch
    whose backward pass also yields the input gradient, and the perturbation takes
    a signed step of eps along it (projected onto the eps-ball and clipped).

    As in the paper, the perturbation carries over from one batch to the next
    (`backend.StepCarry`), projected onto the current eps-ball; the first batch,
    and a batch of another size (the last one of an epoch), start uniformly at
    random in the ball instead.
    """

    def __init__(self, replays, clip, eps, noise):
        super().__init__(clip, eps, noise)
        self.replays = int(replays)
        self.carry = backend.StepCarry("free_perturbation")

    def __call__(self, model, keras_train_step, *args):
        *state, data = args
        state = state[0] if state else None
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = ops.cast(x, "float32")
        lo, hi = self.clip
        eps = self.eps.read()
        delta, carried = self.carry.read(x)
        carried_start = ops.clip(x + ops.clip(delta, -eps, eps), lo, hi)
        if isinstance(carried, bool):  # torch: eager
            x_adv = carried_start if carried else self._random_start(x, eps)
        else:
            x_adv = ops.where(carried, carried_start, self._random_start(x, eps))
        self._set_rows(ops.shape(x)[0])
        try:
            for _ in range(self.replays):
                logs, grad, state = backend.train_step_with_input_gradient(
                    model, keras_train_step, x_adv, y, sample_weight, state
                )
                x_adv = ops.stop_gradient(fgsm_step(x_adv, x, grad, eps, eps, lo, hi))
        finally:
            self._set_rows(None)
        self.carry.write(x_adv - x)
        return logs if state is None else (logs, state)


class AdversarialTraining(keras.callbacks.Callback):
    """Trains a MultiDigitNet on clean and adversarial examples.

    `loss = (1 - ratio) * clean + ratio * adversarial` (Goodfellow et al. 2014,
    alpha = 1 - ratio): in each batch the first `ratio` of the images is replaced
    by its adversarial version (IBM ART's AdversarialTrainer does the same), so the
    cost is one clean step plus the attack on that part of the batch. eps ramps
    linearly from 0 to `eps` over the first `ramp_epochs` epochs, updated every
    batch (SVHN needs the ramp; Wong et al. 2020 do the same). eps lives outside the
    compiled step, which reads it each time it runs: the schedule never retraces.

    The training logs gain `adversarial_loss`, `adversarial_sequence_accuracy` and
    `adversarial_digit_accuracy` (on the adversarial images of the training
    batches, as the network saw them) and `adversarial_eps`. The other training
    metrics describe the mixed batches; validation is clean.

    Catastrophic overfitting guard (Wong et al. 2020): with `monitor=(x, y)`, a
    held batch, the accuracy under `monitor_attack` at the full eps is logged as
    `monitor_robust_accuracy` after every epoch; when it falls by more than
    `collapse_drop` from the epoch before, a warning is raised and, with
    `restore_on_collapse=True`, the weights of the epoch before are restored and
    training stops.

    Args:
        eps: the L-infinity radius at the end of the ramp (images in [0, 1]).
        ratio: the fraction of each batch replaced by adversarial images, in (0, 1].
        attack: "fgsm", "fgsm-rs" (random start, step 1.25 eps), "pgd-N", or
            "free-M": free adversarial training (Shafahi et al. 2019), every batch
            replayed M times, each replay's backward pass also giving the next
            perturbation (`FreeStep`); every image is adversarial (ratio does not
            apply), and each epoch makes M passes over the data.
        ramp_epochs: epochs over which eps grows from 0 (0: full eps at once).
        clip: the valid pixel range.
        monitor, monitor_attack, collapse_drop, restore_on_collapse: the guard.
        seed: seeds the random starts.

    Works with `kerasvhn.MultiDigitNet` (whose training step does the mixing) on
    torch, tensorflow and jax; any other model raises a TypeError.

    >>> import numpy as np, kerasvhn
    >>> model = kerasvhn.MultiDigitNet("small")
    >>> model.compile(optimizer="adam")
    >>> x = np.random.rand(8, 54, 54, 3).astype("float32")
    >>> y = kerasvhn.encode_numbers(["12", "7", "", "305", "9", "41", "2024", "6"])
    >>> callback = kerasvhn.AdversarialTraining(eps=8 / 255, ramp_epochs=0)
    >>> history = model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    >>> sorted(key for key in history.history if key.startswith("adversarial"))
    ['adversarial_digit_accuracy', 'adversarial_eps', 'adversarial_loss', 'adversarial_sequence_accuracy']
    """

    def __init__(
        self,
        eps=8 / 255,
        ratio=0.5,
        attack="fgsm-rs",
        ramp_epochs=5,
        clip=(0.0, 1.0),
        monitor=None,
        monitor_attack="pgd-10",
        collapse_drop=0.2,
        restore_on_collapse=False,
        seed=0,
    ):
        super().__init__()
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps!r}")
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"ratio must be in (0, 1], got {ratio!r}")
        if not isinstance(ramp_epochs, int) or ramp_epochs < 0:
            raise ValueError(f"ramp_epochs must be an int >= 0, got {ramp_epochs!r}")
        if not clip[0] < clip[1]:
            raise ValueError(f"clip must be (low, high) with low < high, got {clip!r}")
        parse_attack(monitor_attack)
        self.target_eps = float(eps)
        self.ramp_epochs = ramp_epochs
        self.monitor = monitor
        self.monitor_attack = monitor_attack
        self.collapse_drop = float(collapse_drop)
        self.restore_on_collapse = restore_on_collapse
        self.clip = (float(clip[0]), float(clip[1]))
        self.seed = seed
        self.eps = backend.StepScalar(self.eps_at(0.0), "adversarial_eps")
        free = re.fullmatch(r"free-([1-9][0-9]*)", str(attack).strip().lower())
        if free:
            self.step = FreeStep(int(free.group(1)), clip, self.eps, backend.StepNoise(seed))
        else:
            self.step = AdversarialStep(attack, ratio, clip, self.eps, backend.StepNoise(seed))
        self._epoch = 0
        self._steps = None
        self._previous_accuracy = None
        self._previous_weights = None

    def eps_at(self, progress):
        """eps after `progress` epochs (fractions count)."""
        if self.ramp_epochs == 0:
            return self.target_eps
        return self.target_eps * min(1.0, progress / self.ramp_epochs)

    def set_model(self, model):
        from kerasvhn.model import MultiDigitNet

        if not isinstance(model, MultiDigitNet):
            raise TypeError(
                f"AdversarialTraining needs a kerasvhn.MultiDigitNet, got {type(model).__name__}: "
                "a Keras callback cannot change the batches a model trains on, and "
                "MultiDigitNet's train_step is what mixes the adversarial examples in. "
                "Build the model with kerasvhn.MultiDigitNet (or subclass it)."
            )
        super().set_model(model)

    # Attaching: the training step and the metrics exist on the model only during fit.

    def on_train_begin(self, logs=None):
        self._steps = (self.params or {}).get("steps")
        self._previous_accuracy = None
        self._previous_weights = None
        object.__setattr__(self.model, "_adversarial_step", self.step)
        self._attach_metrics()
        self.model.make_train_function(force=True)

    def on_train_end(self, logs=None):
        self._detach_metrics()
        object.__setattr__(self.model, "_adversarial_step", None)
        self.model.train_function = None  # the next fit traces the clean step again

    def on_test_begin(self, logs=None):
        self._detach_metrics()  # validation is clean: no val_adversarial_* logs

    def on_test_end(self, logs=None):
        if getattr(self.model, "_adversarial_step", None) is self.step:
            self._attach_metrics()

    def _attach_metrics(self):
        reading = self.model._reading_metrics
        reading.extend(m for m in self.step.metrics if not any(m is r for r in reading))

    def _detach_metrics(self):
        reading = self.model._reading_metrics
        for metric in self.step.metrics:
            if any(metric is r for r in reading):
                reading.remove(metric)

    # The schedule.

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._set_eps(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.ramp_epochs and self._steps:
            self._set_eps(self._epoch + batch / self._steps)

    def _set_eps(self, progress):
        if not self._steps:
            progress = int(progress) + 1  # unknown epoch length: one value per epoch
        eps = self.eps_at(progress)
        if eps != self.eps.value:
            self.eps.assign(eps)

    # The guard.

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["adversarial_eps"] = self.eps.value
        if self.monitor is not None:
            self._check_collapse(epoch, logs)

    def monitor_accuracy(self, epoch):
        """Whole-number accuracy on the held batch under the monitor attack at full eps."""
        x, y = self.monitor
        x_adv = run_attack(
            self.model, x, y, self.target_eps, self.monitor_attack, self.clip, seed=self.seed + epoch
        )
        correct, _ = sequence.readings_correct(y, self.model.predict_on_batch(x_adv))
        return float(np.mean(ops.convert_to_numpy(correct)))

    def _check_collapse(self, epoch, logs):
        accuracy = self.monitor_accuracy(epoch)
        logs["monitor_robust_accuracy"] = accuracy
        previous = self._previous_accuracy
        if previous is not None and accuracy < previous - self.collapse_drop:
            action = (
                "restoring the weights of the epoch before and stopping"
                if self.restore_on_collapse
                else "pass restore_on_collapse=True to restore the weights of the epoch before"
            )
            warnings.warn(
                f"Catastrophic overfitting at epoch {epoch + 1}: {self.monitor_attack} accuracy "
                f"on the held batch fell from {previous:.1%} to {accuracy:.1%} (eps "
                f"{self.target_eps:.4g}); {action}. Remedies: a smaller step or eps, "
                "a random start (attack='fgsm-rs'), a longer ramp, or PGD training.",
                RuntimeWarning,
                stacklevel=2,
            )
            if self.restore_on_collapse and self._previous_weights is not None:
                self.model.set_weights(self._previous_weights)
                self.model.stop_training = True
            return
        self._previous_accuracy = accuracy
        self._previous_weights = self.model.get_weights() if self.restore_on_collapse else None
