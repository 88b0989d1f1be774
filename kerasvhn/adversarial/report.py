"""The robustness report: accuracy under attack against eps, as a table, a CSV, a
plot, and a grid of clean / adversarial / perturbation images.

Plots are drawn on matplotlib's Agg canvas directly, whatever pyplot's backend is.
"""

import csv

import numpy as np
from keras import ops

from kerasvhn import sequence
from kerasvhn.labels import labels_to_numbers
from kerasvhn.adversarial.attacks import parse_attack, run_attack
from kerasvhn.plots import figure as _figure

DEFAULT_EPS = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255)
COLUMNS = ("attack", "eps", "sequence_accuracy", "digit_accuracy", "images")


def _labels_numpy(y):
    length, digits = (y["length"], y["digits"]) if isinstance(y, dict) else y
    return {
        "length": np.asarray(length).reshape(-1).astype(np.int32),
        "digits": np.asarray(digits).astype(np.int32),
    }


def _batch_scores(model, x, y):
    """(whole numbers read right, digits read right, digits counted) for one batch."""
    outputs = model.predict_on_batch(x)
    correct, _ = sequence.readings_correct(y, outputs)
    predicted = np.argmax(np.asarray(outputs["digits"]), axis=-1)
    mask = ops.convert_to_numpy(sequence.digit_mask(y["length"], y["digits"].shape[1])) > 0
    hits = (predicted == y["digits"]) & mask
    return int(np.sum(ops.convert_to_numpy(correct))), int(hits.sum()), int(mask.sum())


def robustness_report(
    model,
    data,
    eps=DEFAULT_EPS,
    attacks=("fgsm", "pgd-10"),
    batch_size=128,
    clip=(0.0, 1.0),
    seed=0,
):
    """Whole-number and per-digit accuracy under each attack at each eps.

    Args:
        model: a MultiDigitNet (or a model with its outputs).
        data: `(images, labels)`: float images in the clip range, labels as made by
            `kerasvhn.encode_numbers`.
        eps: the radii (eps 0 is the clean accuracy).
        attacks: names as in `parse_attack`: "fgsm", "fgsm-rs", "pgd-N".
        batch_size: images attacked at once.
        seed: seeds the random starts (the same on every backend).

    Returns a list of rows, one per (attack, eps): dicts with the keys `attack`,
    `eps`, `sequence_accuracy`, `digit_accuracy` and `images`.

    >>> import numpy as np, kerasvhn
    >>> model = kerasvhn.MultiDigitNet("small")
    >>> x = np.random.default_rng(0).uniform(size=(4, 54, 54, 3)).astype("float32")
    >>> y = kerasvhn.encode_numbers(["1", "22", "333", ""])
    >>> rows = kerasvhn.robustness_report(model, (x, y), eps=(0, 8 / 255), attacks=("fgsm",))
    >>> [(row["attack"], round(row["eps"] * 255)) for row in rows]
    [('fgsm', 0), ('fgsm', 8)]
    """
    images, labels = _checked_data(data, attacks)
    clean = None
    rows = []
    for attack in attacks:
        for radius in eps:
            if radius == 0 and clean is not None:
                rows.append({**clean, "attack": attack})
                continue
            row = _accuracy_under_attack(model, images, labels, attack, radius, batch_size, clip, seed)
            if radius == 0:
                clean = row
            rows.append(row)
    return rows


def _checked_data(data, attacks):
    """(float32 images, NumPy labels), after checking that the counts agree and that
    every attack name parses."""
    images, labels = data
    images = np.asarray(images, np.float32)
    labels = _labels_numpy(labels)
    count = len(images)
    if count == 0 or labels["length"].shape[0] != count:
        raise ValueError(f"data must hold as many labels as images (and some), got {count} images")
    for attack in attacks:
        parse_attack(attack)
    return images, labels


def _accuracy_under_attack(model, images, labels, attack, radius, batch_size, clip, seed):
    """One report row: the accuracies on every image attacked at eps `radius`."""
    count = len(images)
    totals = np.zeros(3, np.int64)
    for start in range(0, count, batch_size):
        x = images[start : start + batch_size]
        y = {key: value[start : start + batch_size] for key, value in labels.items()}
        if radius > 0:
            x = run_attack(model, x, y, radius, attack, clip, seed=seed + start)
        totals += _batch_scores(model, x, y)
    return {
        "attack": attack,
        "eps": float(radius),
        "sequence_accuracy": totals[0] / count,
        "digit_accuracy": totals[1] / max(totals[2], 1),
        "images": count,
    }


def format_report(rows):
    """The report as a plain-text table, eps in 1/255 units.

    >>> print(format_report([{"attack": "fgsm", "eps": 2 / 255, "sequence_accuracy": 0.5,
    ...                       "digit_accuracy": 0.75, "images": 8}]))
    attack   eps (/255)  whole-number acc  per-digit acc  images
    fgsm            2.0            50.00%         75.00%       8
    """
    lines = [f"{'attack':<8} {'eps (/255)':>10}  {'whole-number acc':>16}  {'per-digit acc':>13}  {'images':>6}"]
    for row in rows:
        lines.append(
            f"{row['attack']:<8} {row['eps'] * 255:>10.1f}  {row['sequence_accuracy']:>16.2%}  "
            f"{row['digit_accuracy']:>13.2%}  {row['images']:>6}"
        )
    return "\n".join(lines)


def write_report_csv(rows, path):
    """Writes the rows to a CSV file (eps as a fraction of the pixel range)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row[key] for key in COLUMNS})
    return path


def plot_report(rows, path):
    """Plots whole-number and per-digit accuracy against eps, one line per attack,
    to a PNG."""
    figure = _figure(10, 4)
    panels = figure.subplots(1, 2)
    attacks = list(dict.fromkeys(row["attack"] for row in rows))
    for panel, key, title in (
        (panels[0], "sequence_accuracy", "whole-number accuracy"),
        (panels[1], "digit_accuracy", "per-digit accuracy"),
    ):
        for attack in attacks:
            points = sorted((row["eps"] * 255, row[key]) for row in rows if row["attack"] == attack)
            panel.plot(*zip(*points), marker="o", label=attack)
        panel.set_title(title)
        panel.set_xlabel("eps (/255)")
        panel.set_ylim(0, 1)
        panel.grid(alpha=0.3)
        panel.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def save_adversarial_grid(model, data, path, eps=8 / 255, attack="fgsm", count=8, clip=(0.0, 1.0), seed=0):
    """A PNG grid, one image per row: the clean image, its adversarial version and
    the perturbation amplified to the full range (grey is 0, the extremes +-eps),
    each titled with the number the model reads (and the true number)."""
    images, labels = data
    images = np.asarray(images[:count], np.float32)
    labels = {key: value[:count] for key, value in _labels_numpy(labels).items()}
    adversarial = ops.convert_to_numpy(run_attack(model, images, labels, eps, attack, clip, seed=seed))
    clean_read = sequence.decode(model.predict_on_batch(images)).numbers
    adversarial_read = sequence.decode(model.predict_on_batch(adversarial)).numbers
    truth = labels_to_numbers(labels)
    perturbation = np.clip(0.5 + (adversarial - images) / (2 * eps if eps > 0 else 1.0), 0.0, 1.0)
    lo, hi = clip
    shown = len(images)
    figure = _figure(6, 2.1 * shown)
    axes = figure.subplots(shown, 3, squeeze=False)
    for row in range(shown):
        panels = (
            ((images[row] - lo) / (hi - lo), f"clean: {clean_read[row] or '-'} (true {truth[row] or '-'})"),
            ((adversarial[row] - lo) / (hi - lo), f"{attack} eps {eps * 255:.0f}/255: {adversarial_read[row] or '-'}"),
            (perturbation[row], f"perturbation x{0.5 / eps if eps > 0 else 1:.0f}"),
        )
        for axis, (picture, title) in zip(axes[row], panels):
            axis.imshow(np.clip(picture, 0, 1))
            axis.set_title(title, fontsize=8)
            axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
