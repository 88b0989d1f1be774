"""The main job (`make demo`, `kerasvhn demo`): synthesise, prepare, train, evaluate,
attack, and read photos with the shipped model; everything goes to a report folder.

Steps, each printed with its figures:

1. `synthesize` SVHN format-1 folders (PNGs + digitStruct.mat), each drawn for its
   own purpose, so no test scene repeats a training one: train/ (training fonts and
   backgrounds, long numbers frequent), validation/, test/ (the same fonts and
   backgrounds, real SVHN's mix of number lengths: mostly 2 and 3 digits, what a
   reader of real streets meets), unseen/ (likewise with the held-out fonts and
   backgrounds), all_lengths/ (training's mix of lengths: 15% of 4 to 6 digits,
   the hard cases for 54x54 pixels);
2. `prepare` them (the paper's crops, 64x64, cached HDF5);
3. train on random 54x54 crops: by default fine-tuning the shipped
   "small_synthetic" model, a "small_wide" network (a 15-minute CPU budget is not
   enough to train from nothing to 95%); `from_scratch=True` starts from fresh
   weights of MultiDigitNet("small");
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

from kerasvhn.commands.demo import EPOCHS, TEST_COUNT, TRAIN_COUNT

VALIDATION_COUNT = 1_000
ROBUSTNESS_IMAGES = 256
ROBUSTNESS_EPS = (0.0, 1 / 255, 2 / 255, 4 / 255)
SAMPLE_PHOTOS = 16
#: Each folder: (purpose, fonts and backgrounds, mix of lengths).
FOLDERS = {
    "train": ("train", "train", "train"),
    "validation": ("validation", "train", "svhn"),
    "test": ("test", "train", "svhn"),
    "unseen": ("unseen", "held_out", "svhn"),
    "all_lengths": ("all_lengths", "train", "train"),
}
TEST_SPLITS = {
    "test": "test split (training fonts and backgrounds, SVHN's mix of lengths)",
    "unseen": "unseen fonts and backgrounds (SVHN's mix of lengths)",
    "all_lengths": "all lengths (training's mix: 15% of 4 to 6 digits)",
}
KEPT_SCORES = ("count", "whole_number_accuracy", "per_digit_accuracy", "coverage_at_98", "predict_images_per_s",
               "by_length")


def run_demo(out_dir="reports/demo", train_count=TRAIN_COUNT, test_count=TEST_COUNT, epochs=EPOCHS, seed=0, *,
             from_scratch=False, batch_size=64, learning_rate=None, verbose="auto", log=print):
    """Runs the main job and writes its report; returns the figures as a dict.

    Args:
        out_dir: the report folder (data/ and prepared/ go inside it).
        train_count, test_count: synthetic scenes for training and for each of
            the three test splits.
        epochs: passes over the training crops.
        seed: seeds every folder (each drawn for its own purpose), the crops and
            the attacks' random starts.
        from_scratch: fresh weights instead of fine-tuning the shipped ones.
        batch_size: training batch size.
        learning_rate: Adam's peak (default 2e-3 from scratch, 5e-4 fine-tuning).
        verbose: Keras's `fit` display: 0, 1, 2 or "auto".
        log: where the report lines go.
    """
    import keras

    from kerasvhn.checks import check_int

    for name, value, minimum in (("train_count", train_count, 1), ("test_count", test_count, 1),
                                 ("epochs", epochs, 1), ("seed", seed, 0), ("batch_size", batch_size, 1)):
        check_int(name, value, minimum)
    settings = {"train_count": train_count, "test_count": test_count, "epochs": epochs, "seed": seed,
                "from_scratch": from_scratch, "batch_size": batch_size,
                "learning_rate": learning_rate or (2e-3 if from_scratch else 5e-4)}
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log(f"kerasvhn demo on the {keras.backend.backend()} backend: {train_count} training scenes x {epochs} epochs, "
        f"{test_count} test scenes per test split; report in {out_dir}")
    counts = {"train": train_count, "validation": min(VALIDATION_COUNT, test_count),
              **{name: test_count for name in TEST_SPLITS}}
    folders = _synthesize(out_dir / "data", out_dir / "prepared", counts, seed, log)
    _prepare(out_dir, folders, log)
    model, history, train_speed = _train(out_dir / "prepared", settings, verbose, log)
    log(f"training: {train_speed:.0f} images/s")
    scores, images = _evaluate(model, out_dir / "prepared", seed, log)
    rows = _robustness(model, images["test"], seed, log)
    photos = _shipped_model_on_photos(folders["test"], log)
    results = {"backend": keras.backend.backend(), "keras_version": keras.__version__, "settings": settings,
               "history": history, **{name: {k: scores[name][k] for k in KEPT_SCORES} for name in TEST_SPLITS},
               "train_images_per_s": train_speed, "robustness": rows, "shipped_model_photos": photos}
    files = _write_report(out_dir, model, results, scores, images, rows, photos)
    results["wall_seconds"] = time.perf_counter() - started
    files["report"].write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {', '.join(str(path) for path in files.values())} ({results['wall_seconds']:.0f} s in all)")
    return {**results, "files": {k: str(v) for k, v in files.items()}}


def _synthesize(data_dir, prepared_dir, counts, seed, log):
    """Writes each folder, or reuses one a previous run wrote with the same settings;
    a folder made otherwise is replaced and its prepared split dropped."""
    from kerasvhn.data.synth import GENERATOR_VERSION, synthesize

    folders = {}
    for name, count in counts.items():
        purpose, fonts, lengths = FOLDERS[name]
        folder = data_dir / name
        settings = {"count": count, "seed": seed, "purpose": purpose, "split": fonts, "lengths": lengths,
                    "generator": GENERATOR_VERSION}
        what = f"{count} scenes (purpose {purpose}, seed {seed}, {fonts} fonts and backgrounds, {lengths} lengths)"
        marker = folder / "synth_settings.json"
        if (folder / "digitStruct.mat").exists() and marker.exists() and json.loads(marker.read_text()) == settings:
            log(f"reused {name}/: {what}, written by an earlier run")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            (prepared_dir / f"{name}.h5").unlink(missing_ok=True)
            start = time.perf_counter()
            synthesize(folder, count, seed=seed, split=fonts, progress=sys.stderr.isatty(), lengths=lengths,
                       purpose=purpose)
            marker.write_text(json.dumps(settings) + "\n")
            seconds = time.perf_counter() - start
            log(f"synthesised {name}/: {what} in {seconds:.1f} s ({count / max(seconds, 1e-9):.0f} images/s)")
        folders[name] = folder
    return folders


def _prepare(out_dir, folders, log):
    from kerasvhn.data.preparation import prepare

    start = time.perf_counter()
    for summary in prepare(out_dir / "data", out_dir / "prepared", splits=tuple(folders),
                           progress=sys.stderr.isatty()):
        log(f"prepared {summary}")
    log(f"prepare: {time.perf_counter() - start:.1f} s")


def _train(prepared, settings, verbose, log):
    """Fine-tunes the shipped model (or trains fresh weights) on train.h5, validating
    on validation.h5. Returns (model, per-epoch history, training images/s)."""
    import keras

    from kerasvhn.data.batches import SplitBatches
    from kerasvhn.data.splits import read_split
    from kerasvhn.data.synth import stream
    from kerasvhn.framing import centre_crops
    from kerasvhn.model import MultiDigitNet
    from kerasvhn.seeding import set_random_seed
    from kerasvhn.train import TrainingClock, cosine_schedule

    seed, epochs, batch_size = settings["seed"], settings["epochs"], settings["batch_size"]
    set_random_seed(seed)
    train = SplitBatches(prepared / "train.h5", batch_size=batch_size, training=True, seed=seed)
    val_images, val_labels = read_split(prepared / "validation.h5")
    model = MultiDigitNet("small") if settings["from_scratch"] else MultiDigitNet.from_preset("small_synthetic")
    model.training_streams = [*(model.training_streams or []),
                              stream("train", seed, count=settings["train_count"], kind="scenes"),
                              stream("validation", seed, count=len(val_images), kind="scenes")]
    model.compile(optimizer=keras.optimizers.Adam(cosine_schedule(settings["learning_rate"], len(train), epochs)))
    start_from = "fresh weights" if settings["from_scratch"] else "the shipped small_synthetic weights"
    log(f"training MultiDigitNet({model.preset!r}) from {start_from}: {len(train)} batches of {batch_size} x "
        f"{epochs} epochs")
    clock = TrainingClock()
    history = model.fit(train, epochs=epochs, validation_data=(centre_crops(val_images), val_labels),
                        callbacks=[clock], verbose=verbose)
    per_epoch = {key: [float(v) for v in values] for key, values in history.history.items()}
    return model, per_epoch, clock.images_per_second(train.image_shape[0])


def _evaluate(model, prepared, seed, log):
    """Scores on each test split (refusing any the model trained on); returns the
    scores and the (images, labels) by split."""
    import keras

    from kerasvhn.data.splits import read_split
    from kerasvhn.data.synth import check_unseen
    from kerasvhn.evaluate import by_length_text, evaluate_model, summary_lines

    scores, images = {}, {}
    for name, what in TEST_SPLITS.items():
        purpose, fonts, _ = FOLDERS[name]
        check_unseen(model.training_streams, purpose, seed, fonts)
        images[name] = read_split(prepared / f"{name}.h5")
        scores[name] = evaluate_model(model, *images[name])
        if name == "test":
            for line in summary_lines(scores[name], what):
                log(line)
        else:
            log(f"{what}: whole-number accuracy {100 * scores[name]['whole_number_accuracy']:.1f}%, "
                f"per-digit {100 * scores[name]['per_digit_accuracy']:.1f}% ({scores[name]['count']} images)")
            log(f"  by length: {by_length_text(scores[name])}")
    log(f"prediction: {scores['test']['predict_images_per_s']:.0f} images/s ({keras.backend.backend()}, "
        f"{os.cpu_count()} CPU cores visible)")
    return scores, images


def _robustness(model, test_images, seed, log):
    from kerasvhn.adversarial import report as robustness
    from kerasvhn.framing import centre_crops

    images, labels = test_images
    count = min(ROBUSTNESS_IMAGES, len(images))
    data = (centre_crops(images[:count]), {k: v[:count] for k, v in labels.items()})
    start = time.perf_counter()
    rows = robustness.robustness_report(model, data, eps=ROBUSTNESS_EPS, attacks=("fgsm", "pgd-10"), seed=seed)
    log(f"robustness of the trained model ({count} test images, {time.perf_counter() - start:.0f} s):")
    for line in robustness.format_report(rows).splitlines():
        log("  " + line)
    return rows


def _shipped_model_on_photos(folder, log):
    """The shipped model's readings of the first test photos, by their boxes and whole."""
    from kerasvhn.data.digitstruct import read_digitstruct
    from kerasvhn.model import MultiDigitNet
    from kerasvhn.predict import read_numbers

    boxes = read_digitstruct(folder / "digitStruct.mat")
    records = list(boxes.records())[:SAMPLE_PHOTOS]
    paths = [str(folder / record["name"]) for record in records]
    shipped = MultiDigitNet.from_preset("small_synthetic")
    boxed = read_numbers(paths, model=shipped, records=records)
    whole = read_numbers(paths, model=shipped)
    truth = boxes.numbers()[:SAMPLE_PHOTOS]
    log(f"shipped model on {len(paths)} test photos: {sum(r.number == t for r, t in zip(boxed, truth))} read right "
        f"cropped by their boxes, {sum(r.number == t for r, t in zip(whole, truth))} whole")
    return [{"file": p, "truth": t, "boxes": {"number": b.number, "confidence": b.confidence},
             "whole": {"number": w.number, "confidence": w.confidence}}
            for p, b, w, t in zip(paths, boxed, whole, truth)]


def _write_report(out_dir, model, results, scores, images, rows, photos):
    """The plots, the robustness CSV and the model; returns the files by name
    (report.json is written last, by run_demo)."""
    from kerasvhn import plots
    from kerasvhn.adversarial import report as robustness

    files = {name: out_dir / file for name, file in (
        ("report", "report.json"), ("curves", "training_curves.png"), ("by_length", "accuracy_by_length.png"),
        ("examples", "examples.png"), ("robustness_csv", "robustness.csv"), ("robustness_plot", "robustness.png"),
        ("shipped", "shipped_model_readings.png"), ("model", "model.keras"))}
    plots.training_curves(results["history"], files["curves"])
    plots.accuracy_by_length({"test/ (SVHN's mix)": scores["test"], "unseen/ fonts (SVHN's mix)": scores["unseen"],
                              "all_lengths/ (training's mix)": scores["all_lengths"]}, files["by_length"])
    test = scores["test"]
    plots.readings_grid(images["test"][0][:32], test["numbers"][:32], test["confidences"][:32], test["truth"][:32],
                        files["examples"], "test split")
    robustness.write_report_csv(rows, files["robustness_csv"])
    robustness.plot_report(rows, files["robustness_plot"])
    plots.photo_readings([p["file"] for p in photos], [_reading(p["boxes"]) for p in photos],
                         [_reading(p["whole"]) for p in photos], [p["truth"] for p in photos], files["shipped"])
    model.save(files["model"])
    return files


def _reading(row):
    from kerasvhn.predict import Reading

    return Reading(row["number"], row["confidence"])
