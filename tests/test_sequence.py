import itertools

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend_grad import gradient
from kerasvhn import sequence
from kerasvhn.sequence import (
    CoverageAtAccuracy,
    DigitAccuracy,
    SequenceAccuracy,
    coverage_at_accuracy,
    decode,
    multi_digit_loss,
)
from kerasvhn.labels import encode_numbers, labels_to_numbers

numbers_strategy = st.lists(st.text(alphabet="0123456789", max_size=5), min_size=1, max_size=20)


@given(numbers_strategy)
def test_encode_round_trip(numbers):
    labels = encode_numbers(numbers)
    assert labels["length"].dtype == np.int32 and labels["digits"].shape == (len(numbers), 5)
    assert labels_to_numbers(labels) == numbers


def test_long_numbers_go_to_the_more_class():
    labels = encode_numbers(["1234567", "12345"], max_digits=5)
    assert labels["length"].tolist() == [6, 5]
    assert labels["digits"][0].tolist() == [1, 2, 3, 4, 5]
    assert labels_to_numbers(labels) == ["12345+", "12345"]
    assert labels_to_numbers(encode_numbers(["12345+"]))[0] == "12345+"


@pytest.mark.parametrize("bad", ["12a", "-1", "1.5", "١٢", "123+"])
def test_encode_rejects_non_digits(bad):
    with pytest.raises(ValueError, match="index 0"):
        encode_numbers([bad])


def test_encode_rejects_non_strings():
    with pytest.raises(TypeError, match="strings"):
        encode_numbers([123])


def test_labels_are_checked():
    with pytest.raises(ValueError, match="0..6"):
        labels_to_numbers({"length": np.array([7]), "digits": np.zeros((1, 5), int)})


def random_outputs(rng, batch, max_digits=5):
    return {
        "length": rng.normal(size=(batch, max_digits + 2)).astype("float32") * 2,
        "digits": rng.normal(size=(batch, max_digits, 10)).astype("float32") * 2,
    }


def reference_loss(labels, outputs):
    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    total = []
    for n, digits, length_logits, digit_logits in zip(
        labels["length"], labels["digits"], outputs["length"], outputs["digits"]
    ):
        loss = -log_softmax(np.float64(length_logits))[n]
        for i in range(min(n, digits.shape[0])):
            loss -= log_softmax(np.float64(digit_logits[i]))[digits[i]]
        total.append(loss)
    return np.mean(total)


def test_loss_matches_reference(rng):
    labels = encode_numbers(["", "7", "42", "1234567", "90210", "305"])
    outputs = random_outputs(rng, 6)
    loss = keras.ops.convert_to_numpy(multi_digit_loss(labels, outputs))
    np.testing.assert_allclose(loss, reference_loss(labels, outputs), rtol=1e-5)


def test_padding_positions_contribute_no_loss_and_no_gradient(rng):
    labels = encode_numbers(["", "7", "42"])
    outputs = random_outputs(rng, 3)

    def loss_of_digit_logits(digit_logits):
        return multi_digit_loss(labels, {"length": outputs["length"], "digits": digit_logits})

    grad = gradient(loss_of_digit_logits, outputs["digits"])
    mask = np.arange(5)[None, :] < labels["length"][:, None]
    assert np.all(grad[~mask] == 0.0)
    assert np.all(np.abs(grad[mask]).sum(-1) > 0)
    # Changing a padding logit changes nothing.
    changed = outputs["digits"].copy()
    changed[0, :, :] += 100.0
    changed[1, 1:, :] = rng.normal(size=(4, 10)) * 50
    a = keras.ops.convert_to_numpy(loss_of_digit_logits(outputs["digits"]))
    b = keras.ops.convert_to_numpy(loss_of_digit_logits(changed))
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_sample_weight(rng):
    labels = encode_numbers(["1", "22"])
    outputs = random_outputs(rng, 2)
    weighted = keras.ops.convert_to_numpy(multi_digit_loss(labels, outputs, np.array([1.0, 0.0])))
    first = {k: v[:1] for k, v in labels.items()}
    alone = keras.ops.convert_to_numpy(multi_digit_loss(first, {k: v[:1] for k, v in outputs.items()}))
    np.testing.assert_allclose(weighted, alone / 2, rtol=1e-6)


def brute_force_reading(length_logits, digit_logits):
    """Every (length, digits) pair enumerated: the paper's rule by exhaustion."""
    log_length = length_logits - np.log(np.exp(length_logits).sum())
    log_digits = digit_logits - np.log(np.exp(digit_logits).sum(-1, keepdims=True))
    max_digits = digit_logits.shape[0]
    best = (-np.inf, None)
    for length in range(max_digits + 2):
        shown = min(length, max_digits)
        for digits in itertools.product(range(10), repeat=shown) if shown <= 2 else [tuple(log_digits[:shown].argmax(-1))]:
            score = log_length[length] + sum(log_digits[i, d] for i, d in enumerate(digits))
            if score > best[0]:
                text = "".join(map(str, digits)) + ("+" if length == max_digits + 1 else "")
                best = (score, text)
    return best


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_decode_is_the_papers_rule(seed):
    rng = np.random.default_rng(seed)
    outputs = random_outputs(rng, 4, max_digits=3)
    numbers, confidences = decode(outputs)
    for row in range(4):
        score, text = brute_force_reading(np.float64(outputs["length"][row]), np.float64(outputs["digits"][row]))
        assert numbers[row] == text
        np.testing.assert_allclose(confidences[row], np.exp(score), rtol=1e-4)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["paper", "argmax"]))
def test_numpy_decoding_matches_the_metrics_keras_ops(seed, method):
    # decode (NumPy) and the accuracy metrics (keras.ops) must read the same numbers.
    rng = np.random.default_rng(seed)
    outputs = random_outputs(rng, 8, max_digits=5)
    length, digits, log_p = sequence.best_readings(outputs["length"], outputs["digits"], method)
    numpy_length, numpy_digits, numpy_log_p = sequence.best_readings_numpy(outputs["length"], outputs["digits"], method)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(length), numpy_length)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(digits), numpy_digits)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(log_p), numpy_log_p, rtol=1e-5, atol=1e-5)


def test_decode_paper_rule_differs_from_argmax():
    # Length 2 is the most likely class, but its second digit is very uncertain.
    length = np.log([[0.05, 0.45, 0.5, 0.0001, 0.0001, 0.0001, 0.0001]]).astype("float32")
    digits = np.zeros((1, 5, 10), "float32")
    digits[0, 0, 3] = 20.0
    assert decode({"length": length, "digits": digits}, "argmax").numbers == ["30"]
    assert decode({"length": length, "digits": digits}).numbers == ["3"]
    with pytest.raises(ValueError, match="method"):
        decode({"length": length, "digits": digits}, "beam")


def test_empty_number_is_a_reading():
    length = np.array([[10.0, 0, 0, 0, 0, 0, 0]], "float32")
    readings = decode({"length": length, "digits": np.zeros((1, 5, 10), "float32")})
    assert readings.numbers == [""] and readings.confidences[0] > 0.99


def exact_outputs(numbers, max_digits=5, sharp=20.0):
    labels = encode_numbers(numbers, max_digits)
    length = np.zeros((len(numbers), max_digits + 2), "float32")
    length[np.arange(len(numbers)), labels["length"]] = sharp
    digits = np.zeros((len(numbers), max_digits, 10), "float32")
    for row in range(len(numbers)):
        digits[row, np.arange(max_digits), labels["digits"][row]] = sharp
    return labels, {"length": length, "digits": digits}


def metric_value(metric, y_true, y_pred, sample_weight=None):
    metric.update_state(y_true, y_pred, sample_weight)
    return float(keras.ops.convert_to_numpy(metric.result()))


def test_sequence_and_digit_accuracy():
    truth = encode_numbers(["12", "345", "", "7"])
    _, outputs = exact_outputs(["12", "349", "", "71"])
    assert metric_value(SequenceAccuracy(), truth, outputs) == pytest.approx(0.5)
    # digits below the true length: 1,2 | 3,4,(5 wrong) | - | 7 -> 5 of 6
    assert metric_value(DigitAccuracy(), truth, outputs) == pytest.approx(5 / 6)
    assert metric_value(SequenceAccuracy(), truth, outputs, np.array([1, 0, 1, 0])) == pytest.approx(1.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.5, 0.8, 0.9, 0.98]))
def test_streamed_coverage_matches_exact(seed, target):
    rng = np.random.default_rng(seed)
    truth = encode_numbers([str(n) for n in rng.integers(0, 1000, size=64)])
    outputs = random_outputs(rng, 64)
    # Make most readings right, with confidence telling right from wrong.
    right = rng.uniform(size=64) < 0.8
    sure = exact_outputs(labels_to_numbers(truth), sharp=rng.uniform(1.0, 6.0))[1]
    for key in outputs:
        outputs[key][right] = sure[key][right]
    correct, log_probability = sequence.readings_correct(truth, outputs)
    exact = coverage_at_accuracy(
        np.exp(keras.ops.convert_to_numpy(log_probability)), keras.ops.convert_to_numpy(correct), target
    )
    streamed = metric_value(CoverageAtAccuracy(target, bins=100000), truth, outputs)
    assert streamed == pytest.approx(exact, abs=1 / 64 + 1e-6)


def test_coverage_at_accuracy_edges():
    assert coverage_at_accuracy([], [], 0.9) == 0.0
    assert coverage_at_accuracy([0.9, 0.8], [False, False], 0.5) == 0.0
    assert coverage_at_accuracy([0.9, 0.8], [True, True], 1.0) == 1.0
    # A tie cannot be split: both 0.8 readings are kept or neither.
    assert coverage_at_accuracy([0.9, 0.8, 0.8], [True, True, False], 0.9) == pytest.approx(1 / 3)
