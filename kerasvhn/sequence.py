"""The masked multi-head loss, decoding and the metrics, in keras.ops.

Labels are `kerasvhn.labels`'s format: `{"length": int (B,), "digits": int (B,
max_digits)}`. The model's outputs are logits: `{"length": (B, max_digits + 2),
"digits": (B, max_digits, 10)}`.
"""

from typing import NamedTuple

import keras
import numpy as np
from keras import ops

from kerasvhn.labels import more_class, number_string

def _unpack(y):
    if isinstance(y, dict):
        return y["length"], y["digits"]
    length, digits = y
    return length, digits


def _int_labels(y):
    length, digits = _unpack(y)
    length = ops.reshape(ops.cast(length, "int32"), (-1,))
    return length, ops.cast(digits, "int32")


def digit_mask(length, max_digits, dtype="float32"):
    """1.0 for digit positions below the length, 0.0 for padding: (B, max_digits)."""
    positions = ops.arange(max_digits, dtype="int32")
    return ops.cast(positions[None, :] < ops.reshape(length, (-1, 1)), dtype)


def multi_digit_loss(y_true, y_pred, sample_weight=None):
    """Length cross-entropy plus the digit cross-entropies below the true length.

    Padding positions contribute nothing to the loss or its gradients. Returns the
    mean over the batch of the per-image sums (weighted by `sample_weight` as
    Keras's "sum_over_batch_size" does).
    """
    length, digits = _int_labels(y_true)
    length_logits, digit_logits = _unpack(y_pred)
    length_logits = ops.cast(length_logits, "float32")
    digit_logits = ops.cast(digit_logits, "float32")
    max_digits = ops.shape(digit_logits)[1]
    length_loss = ops.sparse_categorical_crossentropy(length, length_logits, from_logits=True)
    digit_loss = ops.sparse_categorical_crossentropy(digits, digit_logits, from_logits=True)
    masked = ops.sum(digit_loss * digit_mask(length, max_digits), axis=1)
    per_image = length_loss + masked
    weight = per_image_weight(sample_weight)
    if weight is not None:
        per_image = per_image * weight
    return ops.mean(per_image)


def per_image_weight(sample_weight):
    """One float32 weight per image from what Keras passes as `sample_weight`: an
    array, or (with dict labels) a dict or list of the same array per output."""
    if isinstance(sample_weight, dict):
        sample_weight = sample_weight.get("length", next(iter(sample_weight.values()), None))
    elif isinstance(sample_weight, (list, tuple)):
        sample_weight = sample_weight[0] if sample_weight else None
    if sample_weight is None:
        return None
    return ops.reshape(ops.cast(sample_weight, "float32"), (-1,))


def best_readings(length_logits, digit_logits, method="paper"):
    """The most probable reading of each image, in keras.ops.

    method="paper": the length L maximising log P(L) + sum over i < L of
    max log P(s_i) (Goodfellow et al. 2013); the "more" class scores with all
    max_digits digits. method="argmax": the most probable length class, alone.

    Returns (length (B,), digits (B, max_digits), log_probability (B,)): the log
    probability of the whole reading, so its exp is the confidence.
    """
    _check_method(method)
    log_length = ops.log_softmax(ops.cast(length_logits, "float32"), axis=-1)
    log_digits = ops.log_softmax(ops.cast(digit_logits, "float32"), axis=-1)
    return _best_readings(ops, lambda x: ops.cast(x, "int32"), log_length, log_digits, method)


def best_readings_numpy(length_logits, digit_logits, method="paper"):
    """`best_readings` in NumPy, for outputs already on the host: the same rule
    without a backend op per step (one image's decoding drops from milliseconds
    to microseconds on the tensorflow backend)."""
    _check_method(method)
    log_length = _log_softmax(np.asarray(length_logits, np.float32))
    log_digits = _log_softmax(np.asarray(digit_logits, np.float32))
    return _best_readings(np, lambda x: x.astype(np.int32), log_length, log_digits, method)


def _best_readings(xp, int32, log_length, log_digits, method):
    """The paper's rule on log-probabilities, in `xp` (keras.ops or numpy, which
    share these functions' names and arguments); int32 casts to int32."""
    best_digit_log = xp.max(log_digits, axis=-1)
    digits = int32(xp.argmax(log_digits, axis=-1))
    # prefix[:, L] = sum over i < L of the best digit log-probability, L = 0..max_digits.
    prefix = xp.concatenate([xp.zeros_like(best_digit_log[:, :1]), xp.cumsum(best_digit_log, axis=1)], axis=1)
    # The "more" class reads all max_digits digits, like length max_digits.
    prefix = xp.concatenate([prefix, prefix[:, -1:]], axis=1)
    scores = log_length + prefix
    length = int32(xp.argmax(scores if method == "paper" else log_length, axis=-1))
    log_probability = xp.take_along_axis(scores, length[:, None], axis=1)[:, 0]
    return length, digits, log_probability


def _check_method(method):
    if method not in ("paper", "argmax"):
        raise ValueError(f'method must be "paper" or "argmax", got {method!r}')


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class Readings(NamedTuple):
    """Decoded numbers ("" for none, "12345+" for more than max_digits) and their
    probabilities."""

    numbers: list
    confidences: np.ndarray


def decode(outputs, method="paper"):
    """Reads numbers off the model's outputs (`model.predict(x)`).

    >>> import numpy as np
    >>> length = np.log([[0.05, 0.05, 0.8, 0.04, 0.02, 0.02, 0.02]])
    >>> digits = np.full((1, 5, 10), -5.0); digits[0, 0, 4] = 5; digits[0, 1, 2] = 5
    >>> numbers, confidences = decode({"length": length, "digits": digits})
    >>> numbers
    ['42']
    """
    length_logits, digit_logits = _unpack(outputs)
    length, digits, log_probability = best_readings_numpy(
        ops.convert_to_numpy(length_logits), ops.convert_to_numpy(digit_logits), method
    )
    confidences = np.exp(log_probability).astype(np.float32)
    max_digits = digits.shape[-1]
    numbers = [number_string(n, row, max_digits) for n, row in zip(length, digits)]
    return Readings(numbers, confidences)


def readings_correct(y_true, y_pred, method="paper"):
    """Whether each whole reading equals its label (keras.ops, (B,) bool) and the
    readings' log probabilities."""
    true_length, true_digits = _int_labels(y_true)
    length, digits, log_probability = best_readings(*_unpack(y_pred), method=method)
    max_digits = ops.shape(true_digits)[1]
    digit_errors = ops.sum(
        ops.cast(ops.not_equal(digits, true_digits), "int32")
        * digit_mask(true_length, max_digits, "int32"),
        axis=1,
    )
    correct = ops.logical_and(ops.equal(length, true_length), ops.equal(digit_errors, 0))
    return correct, log_probability


def coverage_at_accuracy(confidences, correct, target=0.98):
    """The largest fraction of images, most confident first, read at >= target accuracy.

    The paper's figure of merit (95.64% coverage at 98% accuracy on SVHN): sort by
    confidence, keep the largest prefix whose accuracy stays at or above the target.

    >>> coverage_at_accuracy([0.9, 0.8, 0.7, 0.6], [True, True, False, True], 0.75)
    1.0
    >>> coverage_at_accuracy([0.9, 0.8, 0.7, 0.6], [True, True, False, True], 0.9)
    0.5
    """
    confidences = np.asarray(confidences, np.float64).reshape(-1)
    correct = np.asarray(correct, bool).reshape(-1)
    if confidences.shape != correct.shape:
        raise ValueError("confidences and correct must have the same length")
    if confidences.size == 0:
        return 0.0
    order = np.argsort(-confidences, kind="stable")
    hits = np.cumsum(correct[order])
    kept = np.arange(1, confidences.size + 1)
    # Ties in confidence cannot be split: only prefixes ending at a change count.
    sorted_conf = confidences[order]
    boundary = np.append(sorted_conf[1:] != sorted_conf[:-1], True)
    ok = (hits >= target * kept - 1e-12) & boundary
    return float(kept[ok].max() / confidences.size) if ok.any() else 0.0


class _ReadingMetric(keras.metrics.Metric):
    """Base of the metrics that read whole label dicts and output dicts."""

    def __init__(self, method="paper", name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.method = method

    def get_config(self):
        return {**super().get_config(), "method": self.method}


@keras.saving.register_keras_serializable(package="kerasvhn")
class SequenceAccuracy(_ReadingMetric):
    """Whole-number accuracy: the length and every digit right."""

    def __init__(self, method="paper", name="sequence_accuracy", dtype=None):
        super().__init__(method=method, name=name, dtype=dtype)
        self.correct = self.add_variable((), initializer="zeros", name="correct")
        self.total = self.add_variable((), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        correct, _ = readings_correct(y_true, y_pred, self.method)
        weight = per_image_weight(sample_weight)
        if weight is None:
            weight = ops.ones_like(ops.cast(correct, "float32"))
        self.correct.assign_add(ops.sum(ops.cast(correct, "float32") * weight))
        self.total.assign_add(ops.sum(weight))

    def result(self):
        return ops.divide_no_nan(self.correct, self.total)


@keras.saving.register_keras_serializable(package="kerasvhn")
class DigitAccuracy(keras.metrics.Metric):
    """Per-digit accuracy: argmax digits right, over positions below the true length."""

    def __init__(self, name="digit_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.correct = self.add_variable((), initializer="zeros", name="correct")
        self.total = self.add_variable((), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        true_length, true_digits = _int_labels(y_true)
        _, digit_logits = _unpack(y_pred)
        predicted = ops.cast(ops.argmax(digit_logits, axis=-1), "int32")
        mask = digit_mask(true_length, ops.shape(true_digits)[1])
        weight = per_image_weight(sample_weight)
        if weight is not None:
            mask = mask * weight[:, None]
        hits = ops.cast(ops.equal(predicted, true_digits), "float32")
        self.correct.assign_add(ops.sum(hits * mask))
        self.total.assign_add(ops.sum(mask))

    def result(self):
        return ops.divide_no_nan(self.correct, self.total)


@keras.saving.register_keras_serializable(package="kerasvhn")
class CoverageAtAccuracy(_ReadingMetric):
    """Coverage at a target whole-number accuracy, streamed through confidence bins.

    Keeps per-bin counts of readings and of correct readings, so the result is
    exact up to the bin width (1/bins of confidence); `coverage_at_accuracy` gives
    the exact figure from stored confidences.
    """

    def __init__(self, target=0.98, bins=1000, method="paper", name=None, dtype=None):
        name = name or f"coverage_at_{round(target * 100)}"
        super().__init__(method=method, name=name, dtype=dtype)
        if not 0.0 < target <= 1.0:
            raise ValueError(f"target must be in (0, 1], got {target!r}")
        self.target = float(target)
        self.bins = int(bins)
        self.bin_correct = self.add_variable((self.bins,), initializer="zeros", name="bin_correct")
        self.bin_total = self.add_variable((self.bins,), initializer="zeros", name="bin_total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        correct, log_probability = readings_correct(y_true, y_pred, self.method)
        confidence = ops.exp(log_probability)
        index = ops.minimum(ops.cast(confidence * self.bins, "int32"), self.bins - 1)
        one_hot = ops.one_hot(index, self.bins, dtype="float32")
        weight = per_image_weight(sample_weight)
        if weight is not None:
            one_hot = one_hot * weight[:, None]
        self.bin_total.assign_add(ops.sum(one_hot, axis=0))
        self.bin_correct.assign_add(
            ops.sum(one_hot * ops.cast(correct, "float32")[:, None], axis=0)
        )

    def result(self):
        # Most confident bins first: running accuracy of each prefix of bins.
        kept = ops.cumsum(ops.flip(self.bin_total, axis=0))
        hits = ops.cumsum(ops.flip(self.bin_correct, axis=0))
        ok = ops.logical_and(hits >= self.target * kept - 1e-6, kept > 0)
        best = ops.max(ops.where(ok, kept, ops.zeros_like(kept)))
        return ops.divide_no_nan(best, ops.sum(self.bin_total))

    def get_config(self):
        return {**super().get_config(), "target": self.target, "bins": self.bins}


def default_metrics():
    """The metrics `MultiDigitNet.compile()` reports unless told otherwise."""
    return [SequenceAccuracy(), DigitAccuracy(), CoverageAtAccuracy(0.98)]
