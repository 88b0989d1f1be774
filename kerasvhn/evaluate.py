"""Scoring a model on labelled 64x64 images: whole-number and per-digit accuracy,
coverage at 98% accuracy, prediction speed (`kerasvhn evaluate`, the demo)."""

import time

import numpy as np

from kerasvhn.labels import labels_to_numbers
from kerasvhn.sequence import coverage_at_accuracy, decode
from kerasvhn.framing import centre_crops


def evaluate_model(model, images, labels, batch_size=256):
    """Reads the centred 54x54 crops of uint8 (N, 64, 64, 3) images and scores them.

    Returns a dict: "count", "whole_number_accuracy", "per_digit_accuracy",
    "coverage_at_98", "predict_images_per_s" (after a warm-up pass), "by_length"
    ({length class: {"count", "accuracy"}}, 0 for no number and max_digits + 1 for
    "more"), "numbers", "confidences" and "truth".

    >>> import kerasvhn
    >>> from kerasvhn.data import render_numbers
    >>> images, labels = render_numbers(8, seed=3, purpose="test")
    >>> scores = evaluate_model(kerasvhn.MultiDigitNet("small"), images, labels)
    >>> 0.0 <= scores["whole_number_accuracy"] <= 1.0, scores["count"]
    (True, 8)
    """
    x = centre_crops(images)
    # Compile first, for a full batch and for the last partial one (jax compiles each shape).
    warm_up = batch_size + len(x) % batch_size if len(x) > batch_size else len(x)
    model.predict(x[:warm_up], batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    outputs = model.predict(x, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start

    numbers, confidences = decode(outputs)
    truth = labels_to_numbers(labels)
    correct = np.array([p == t for p, t in zip(numbers, truth)])
    length = np.asarray(labels["length"])
    digit_pred = np.argmax(np.asarray(outputs["digits"]), axis=-1)
    positions = np.arange(digit_pred.shape[1])[None, :] < length[:, None]
    hits = (digit_pred == np.asarray(labels["digits"])) & positions
    by_length = {
        int(n): {"count": int((length == n).sum()), "accuracy": float(correct[length == n].mean())}
        for n in np.unique(length)
    }
    return {
        "count": len(x),
        "whole_number_accuracy": float(correct.mean()) if len(x) else 0.0,
        "per_digit_accuracy": float(hits.sum() / max(positions.sum(), 1)),
        "coverage_at_98": coverage_at_accuracy(confidences, correct, 0.98) if len(x) else 0.0,
        "predict_images_per_s": len(x) / max(seconds, 1e-9),
        "by_length": by_length,
        "max_digits": int(digit_pred.shape[1]),
        "numbers": numbers,
        "confidences": confidences,
        "truth": truth,
    }


def accuracy_by(groups, scores):
    """Whole-number accuracy per group: {group: {"count", "accuracy"}}, the groups in
    first-seen order; `groups` names each image's group (say its style), in the order
    of evaluate_model's scores.

    >>> accuracy_by(["a", "b", "a"], {"numbers": ["1", "2", "3"], "truth": ["1", "0", "0"]})
    {'a': {'count': 2, 'accuracy': 0.5}, 'b': {'count': 1, 'accuracy': 0.0}}
    """
    if len(groups) != len(scores["numbers"]):
        raise ValueError(f"{len(groups)} groups for {len(scores['numbers'])} images")
    tally = {}
    for group, number, truth in zip(groups, scores["numbers"], scores["truth"]):
        count, right = tally.get(group, (0, 0))
        tally[group] = (count + 1, right + (number == truth))
    return {group: {"count": count, "accuracy": right / count} for group, (count, right) in tally.items()}


def summary_lines(scores, what="test set"):
    """The report lines of evaluate_model's scores (and of "by_style", when there)."""
    lines = [
        f"{what}: {scores['count']} images, centred 54x54 crops",
        f"whole-number accuracy: {100 * scores['whole_number_accuracy']:.1f}%",
        f"per-digit accuracy: {100 * scores['per_digit_accuracy']:.1f}%",
        f"coverage at 98% accuracy: {100 * scores['coverage_at_98']:.1f}%",
        "by length: " + by_length_text(scores),
    ]
    if scores.get("by_style"):
        lines.append("by style: " + ", ".join(f"{name} {100 * row['accuracy']:.1f}% ({row['count']})"
                                              for name, row in sorted(scores["by_style"].items())))
    return lines


def by_length_text(scores):
    """'1 digit 98.8% (331), 2 digits 98.6% (696), ...' from evaluate_model's scores."""
    parts = []
    for length, row in sorted(scores["by_length"].items()):
        if length == 0:
            name = "no number"
        elif length > scores["max_digits"]:
            name = f"more than {scores['max_digits']} digits"
        else:
            name = f"{length} digit{'s' if length > 1 else ''}"
        parts.append(f"{name} {100 * row['accuracy']:.1f}% ({row['count']})")
    return ", ".join(parts)
