"""The main job (`make demo`, `kerasvhn demo`): synthesise, prepare, train, evaluate,
attack, and read photos with the shipped model; everything goes to a report folder.

Steps, each printed with its figures:

1. `synthesize` SVHN format-1 folders (PNGs + digitStruct.mat): train/ with the
   training fonts and backgrounds and long numbers frequent; test/ with the same
   fonts and backgrounds and real SVHN's mix of number lengths (mostly 2 and 3
   digits: what a reader of real streets meets), unseen/ likewise with the
   held-out fonts and backgrounds, all_lengths/ with training's mix of lengths
   (15% of 4 to 6 digits, the hard cases for 54x54 pixels);
2. `prepare` them (the paper's crops, 64x64, cached HDF5);
3. train MultiDigitNet("small") on random 54x54 crops: by default fine-tuning the
   shipped "small_synthetic" weights (a 15-minute CPU budget is not enough to
   train from nothing to 95%); `from_scratch=True` starts from fresh weights;
4. read the three test splits: whole-number accuracy (the headline: test/),
   per-digit accuracy, coverage at 98%, accuracy by number length;
5. the robustness report (FGSM and PGD-10 at a few eps) of the trained model;
6. read some test photos with the shipped model (`read_numbers`), cropped by their
   boxes and whole.

Files: report.json, training_curves.png, accuracy_by_length.png, examples.png,
robustness.csv, robustness.png, shipped_model_readings.png, model.keras.
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np

from kerasvhn.checks import check_int
from kerasvhn.data.batches import SplitBatches, read_split
from kerasvhn.data.prepare import prepare
from kerasvhn.data.synth import synthesize
from kerasvhn.evaluate import by_length_text, evaluate_model, summary_lines
from kerasvhn.model import MultiDigitNet
from kerasvhn.plots import figure
from kerasvhn.seeding import set_random_seed
from kerasvhn.train import TrainingClock, centre_crops, cosine_schedule

TRAIN_COUNT = 16_000
TEST_COUNT = 2_000
EPOCHS = 2
ROBUSTNESS_IMAGES = 256
ROBUSTNESS_EPS = (0.0, 1 / 255, 2 / 255, 4 / 255)
SAMPLE_PHOTOS = 16


def _synthesize(data_dir, prepared_dir, counts, log):
    """Writes each split's folder, or reuses one a previous run wrote with the same
    settings; a folder made otherwise is replaced and its prepared split dropped."""
    folders = {}
    for split, (count, split_seed, fonts, lengths) in counts.items():
        folder = data_dir / split
        settings = {"count": count, "seed": split_seed, "split": fonts, "lengths": lengths}
        what = f"{count} scenes (seed {split_seed}, {fonts} fonts and backgrounds, {lengths} mix of lengths)"
        marker = folder / "synth_settings.json"
        if (folder / "digitStruct.mat").exists() and marker.exists() and json.loads(marker.read_text()) == settings:
            log(f"reused {split}/: {what}, written by an earlier run")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            (prepared_dir / f"{split}.h5").unlink(missing_ok=True)
            start = time.perf_counter()
            synthesize(folder, count, seed=split_seed, split=fonts, progress=sys.stderr.isatty(), lengths=lengths)
            marker.write_text(json.dumps(settings) + "\n")
            seconds = time.perf_counter() - start
            log(f"synthesised {split}/: {what} in {seconds:.1f} s ({count / max(seconds, 1e-9):.0f} images/s)")
        folders[split] = folder
    return folders


def run_demo(
    out_dir="reports/demo",
    train_count=TRAIN_COUNT,
    test_count=TEST_COUNT,
    epochs=EPOCHS,
    seed=0,
    *,
    from_scratch=False,
    batch_size=64,
    learning_rate=None,
    verbose="auto",
    log=print,
):
    """Runs the main job and writes its report; returns the figures as a dict.

    Args:
        out_dir: the report folder (data/ and prepared/ go inside it).
        train_count, test_count: synthetic scenes for training and for each of
            the three test splits.
        epochs: passes over the training crops.
        seed: seeds the data (train: seed, test: seed + 1, unseen: seed + 2,
            all_lengths: seed + 3), the crops and the attacks' random starts.
        from_scratch: fresh weights instead of fine-tuning the shipped ones.
        batch_size: training batch size.
        learning_rate: Adam's peak (default 2e-3 from scratch, 5e-4 fine-tuning).
        verbose: Keras's `fit` display: 0, 1, 2 or "auto".
        log: where the report lines go.
    """
    for name, value, minimum in (
        ("train_count", train_count, 1),
        ("test_count", test_count, 1),
        ("epochs", epochs, 1),
        ("seed", seed, 0),
        ("batch_size", batch_size, 1),
    ):
        check_int(name, value, minimum)
    learning_rate = learning_rate or (2e-3 if from_scratch else 5e-4)
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    backend = keras.backend.backend()
    log(f"kerasvhn demo on the {backend} backend: {train_count} training scenes x {epochs} epochs, "
        f"{test_count} test scenes per test split; report in {out_dir}")

    folders = _synthesize(
        out_dir / "data",
        out_dir / "prepared",
        {"train": (train_count, seed, "train", "train"), "test": (test_count, seed + 1, "train", "svhn"),
         "unseen": (test_count, seed + 2, "held_out", "svhn"),
         "all_lengths": (test_count, seed + 3, "train", "train")},
        log,
    )
    start = time.perf_counter()
    for summary in prepare(out_dir / "data", out_dir / "prepared", splits=tuple(folders),
                           progress=sys.stderr.isatty()):
        log(f"prepared {summary}")
    log(f"prepare: {time.perf_counter() - start:.1f} s")

    set_random_seed(seed)
    train = SplitBatches(out_dir / "prepared" / "train.h5", batch_size=batch_size, training=True, seed=seed)
    test_images, test_labels = read_split(out_dir / "prepared" / "test.h5")
    unseen_images, unseen_labels = read_split(out_dir / "prepared" / "unseen.h5")
    long_images, long_labels = read_split(out_dir / "prepared" / "all_lengths.h5")
    model = MultiDigitNet("small") if from_scratch else MultiDigitNet.from_preset("small_synthetic")
    start_from = "fresh weights" if from_scratch else "the shipped small_synthetic weights"
    model.compile(optimizer=keras.optimizers.Adam(cosine_schedule(learning_rate, len(train), epochs)))
    log(f"training MultiDigitNet('small') from {start_from}: {len(train)} batches of {batch_size} x {epochs} epochs")
    clock = TrainingClock()
    validation = min(1000, len(test_images))
    history = model.fit(
        train,
        epochs=epochs,
        validation_data=(centre_crops(test_images[:validation]), {k: v[:validation] for k, v in test_labels.items()}),
        callbacks=[clock],
        verbose=verbose,
    )
    per_epoch = {key: [float(v) for v in values] for key, values in history.history.items()}
    train_speed = clock.images_per_second(train.image_shape[0])

    test = evaluate_model(model, test_images, test_labels)
    unseen = evaluate_model(model, unseen_images, unseen_labels)
    all_lengths = evaluate_model(model, long_images, long_labels)
    for line in summary_lines(test, "held-out test split (training fonts and backgrounds, SVHN's mix of lengths)"):
        log(line)
    for what, scores in (("unseen fonts and backgrounds (SVHN's mix of lengths)", unseen),
                         ("all lengths (training's mix: 15% of 4 to 6 digits)", all_lengths)):
        log(f"{what}: whole-number accuracy {100 * scores['whole_number_accuracy']:.1f}%, "
            f"per-digit {100 * scores['per_digit_accuracy']:.1f}% ({scores['count']} images)")
        log(f"  by length: {by_length_text(scores)}")
    log(f"training: {train_speed:.0f} images/s; prediction: {test['predict_images_per_s']:.0f} images/s "
        f"({backend}, {os.cpu_count()} CPU cores visible)")

    from kerasvhn.adversarial import report as robustness

    count = min(ROBUSTNESS_IMAGES, len(test_images))
    attack_data = (centre_crops(test_images[:count]), {k: v[:count] for k, v in test_labels.items()})
    start = time.perf_counter()
    rows = robustness.robustness_report(model, attack_data, eps=ROBUSTNESS_EPS, attacks=("fgsm", "pgd-10"), seed=seed)
    log(f"robustness of the trained model ({count} test images, {time.perf_counter() - start:.0f} s):")
    for line in robustness.format_report(rows).splitlines():
        log("  " + line)

    from kerasvhn.predict import read_numbers

    from kerasvhn.data.digitstruct import read_digitstruct
    from kerasvhn.data.prepare import number_of

    records = list(read_digitstruct(folders["test"] / "digitStruct.mat").records())[:SAMPLE_PHOTOS]
    photos = [folders["test"] / record["name"] for record in records]
    shipped = MultiDigitNet.from_preset("small_synthetic")
    boxed = read_numbers([str(p) for p in photos], model=shipped, records=records)
    whole = read_numbers([str(p) for p in photos], model=shipped)
    photo_truth = [number_of(record) for record in records]
    log(f"shipped model on {len(photos)} test photos: {sum(r.number == t for r, t in zip(boxed, photo_truth))} "
        f"read right cropped by their boxes, {sum(r.number == t for r, t in zip(whole, photo_truth))} whole")

    files = {
        "report": out_dir / "report.json",
        "curves": out_dir / "training_curves.png",
        "by_length": out_dir / "accuracy_by_length.png",
        "examples": out_dir / "examples.png",
        "robustness_csv": out_dir / "robustness.csv",
        "robustness_plot": out_dir / "robustness.png",
        "shipped": out_dir / "shipped_model_readings.png",
        "model": out_dir / "model.keras",
    }
    _plot_curves(per_epoch, files["curves"])
    _plot_by_length({"test/ (SVHN's mix)": test, "unseen/ fonts (SVHN's mix)": unseen,
                     "all_lengths/ (training's mix)": all_lengths}, files["by_length"])
    _plot_examples(test_images[:32], test["numbers"][:32], test["confidences"][:32], test["truth"][:32],
                   files["examples"], "held-out test split")
    robustness.write_report_csv(rows, files["robustness_csv"])
    robustness.plot_report(rows, files["robustness_plot"])
    _plot_photos(photos, boxed, whole, photo_truth, files["shipped"])
    model.save(files["model"])
    keep = ("count", "whole_number_accuracy", "per_digit_accuracy", "coverage_at_98", "predict_images_per_s",
            "by_length")
    results = {
        "backend": backend,
        "keras_version": keras.__version__,
        "settings": {"train_count": train_count, "test_count": test_count, "epochs": epochs, "seed": seed,
                     "from_scratch": from_scratch, "batch_size": batch_size, "learning_rate": learning_rate},
        "history": per_epoch,
        "test": {k: test[k] for k in keep},
        "unseen": {k: unseen[k] for k in keep},
        "all_lengths": {k: all_lengths[k] for k in keep},
        "train_images_per_s": train_speed,
        "robustness": rows,
        "shipped_model_photos": [
            {"file": str(p), "truth": t, "boxes": {"number": b.number, "confidence": b.confidence},
             "whole": {"number": w.number, "confidence": w.confidence}}
            for p, b, w, t in zip(photos, boxed, whole, photo_truth)
        ],
    }
    wall = time.perf_counter() - started
    results["wall_seconds"] = wall
    files["report"].write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {', '.join(str(path) for path in files.values())} ({wall:.0f} s in all)")
    return {**results, "files": {k: str(v) for k, v in files.items()}}


def _plot_curves(history, path):
    from matplotlib.ticker import MaxNLocator

    fig = figure(10, 4)
    panels = fig.subplots(1, 2)
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for panel, metric, title in (
        (panels[0], "loss", "loss"),
        (panels[1], "sequence_accuracy", "whole-number accuracy"),
    ):
        for key, label in ((metric, "training (random crops)"), (f"val_{metric}", "validation (centred)")):
            if key in history:
                panel.plot(epochs, history[key], marker="o", label=label)
        panel.set_title(title)
        panel.set_xlabel("epoch")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.grid(alpha=0.3)
        panel.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _plot_by_length(splits, path):
    fig = figure(8, 4)
    axis = fig.subplots()
    lengths = sorted({n for scores in splits.values() for n in scores["by_length"]})
    width = 0.8 / len(splits)
    for index, (name, scores) in enumerate(splits.items()):
        rows = scores["by_length"]
        x = np.array([lengths.index(n) for n in rows]) + (index - (len(splits) - 1) / 2) * width
        bars = axis.bar(x, [100 * row["accuracy"] for row in rows.values()], width, label=name)
        axis.bar_label(bars, labels=[str(row["count"]) for row in rows.values()], fontsize=6)
    max_digits = next(iter(splits.values()))["max_digits"]
    axis.set_xticks(range(len(lengths)),
                    ["none" if n == 0 else f"{max_digits + 1}+" if n > max_digits else str(n) for n in lengths])
    axis.set_xlabel("digits in the number (bar labels: images)")
    axis.set_ylabel("whole-number accuracy (%)")
    axis.set_ylim(0, 118)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8, loc="upper center", ncol=len(splits))
    axis.set_title("the demo's model by number length")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _plot_examples(images, numbers, confidences, truth, path, what, columns=8):
    rows = -(-len(images) // columns)
    fig = figure(columns * 1.4, rows * 1.85)
    axes = fig.subplots(rows, columns, squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= len(images):
            continue
        axis.imshow(images[index])
        right = numbers[index] == truth[index]
        text = f"{numbers[index] or 'none'} ({100 * confidences[index]:.0f}%)"
        if not right:
            text += f"\ntrue: {truth[index] or 'none'}"
        axis.set_title(text, fontsize=8, color="green" if right else "red")
    fig.suptitle(f"{what}: prediction (confidence); green right, red wrong", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _plot_photos(paths, boxed, whole, truth, path, columns=8):
    from PIL import Image

    rows = -(-len(paths) // columns)
    fig = figure(columns * 1.6, rows * 1.6)
    axes = fig.subplots(rows, columns, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, photo, by_box, by_whole, true in zip(axes.flat, paths, boxed, whole, truth):
        with Image.open(photo) as image:
            axis.imshow(image.convert("RGB"))
        lines = [f"{name}: {r.number or 'none'} ({100 * r.confidence:.0f}%)" for name, r in
                 (("boxes", by_box), ("whole", by_whole))]
        colour = "green" if by_box.number == true else "red"
        axis.set_title("\n".join(lines + [f"true: {true}"]), fontsize=7, color=colour)
    fig.suptitle("the shipped model (read_numbers) on synthetic test photos: cropped by their boxes, "
                 "and whole; green: the boxed reading is right", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
