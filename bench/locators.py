"""Which way to find the number in a whole photo? Three readers side by side, one run.

    python bench/locators.py [--locator PATH_OR_PRESET] [--count 300] [--photos DIR] [--json OUT.json]
                             [--no-windows]

- one stage: the whole photo is the frame (`kerasvhn predict --no-locate`);
- sliding windows, the simplest localiser we can build without training one: the reader
  itself on windows of 6 widths (10% to 60% of the photo's width, twice as wide as
  high, half a window apart), the most probable number read in any window the answer;
- two stages: the whole photo read first, and unless that reading is sure, the
  NumberLocator's boxes, each read with the paper's 30% margin
  (`kerasvhn.predict.read_photos_located`, what `kerasvhn predict` does).

Scored on synthetic whole photos (kerasvhn.data.photo_scenes, purpose "benchmark",
held-out fonts and backgrounds, never drawn for training): a photo is read right when
the answer is one of its house numbers, or "" when it has none. With --photos (a folder
with labels.csv, e.g. ../shared/real-dev), the same on real photos, by framing: measured
only, nothing here is tuned on them. Speed: images/s, one photo at a time. The locator's
boxes are also scored on the synthetic photos: precision and recall at IoU 0.5.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from harness import machine_description, markdown_table  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[1]
OUT = REPOSITORY / "reports" / "bench" / "locators.json"
WINDOW_WIDTHS = (0.1, 0.15, 0.22, 0.3, 0.45, 0.6)


def sliding_windows(width, height, widths=WINDOW_WIDTHS):
    """Windows (left, top, width, height) of the given widths (shares of the photo's
    width), twice as wide as high, half a window apart, inside the photo."""
    windows = []
    for share in widths:
        w = share * width
        h = min(w / 2, height)
        for top in np.arange(0, max(height - h, 0) + 1e-6, h / 2):
            for left in np.arange(0, max(width - w, 0) + 1e-6, w / 2):
                windows.append((float(left), float(top), float(w), float(h)))
    return windows


def read_sliding(model, image):
    """The most probable number the reader finds in any window ("" for none)."""
    from kerasvhn.framing import centre_crops, frame_pixels
    from kerasvhn.predict import read_frames

    windows = sliding_windows(*image.size)
    frames = np.stack([centre_crops(frame_pixels(image, (l, t, l + w, t + h))[None])[0] for l, t, w, h in windows])
    numbers = [r for r in read_frames(model, frames) if r.number]
    return max(numbers, key=lambda r: r.confidence).number if numbers else ""


def readers(model, locator, windows=True):
    from kerasvhn.framing import frame
    from kerasvhn.predict import read_frames, read_photos_located

    found = {"one stage (whole photo)": lambda image: read_frames(model, frame(image)[None])[0].number}
    if windows:
        found["sliding windows + reader"] = lambda image: read_sliding(model, image)
    if locator is not None:
        found["two stages (NumberLocator + reader)"] = \
            lambda image: read_photos_located(model, locator, [image], every=False)[0][0].number
    return found


def score(calls, images, truths, framings):
    """Per reader: rights by framing and images/s, one photo at a time (interleaved)."""
    rows = []
    answers = {name: [] for name in calls}
    seconds = {name: 0.0 for name in calls}
    for image in images[:2]:  # warm-up
        for call in calls.values():
            call(image)
    for i, image in enumerate(images):
        names = list(calls)
        for name in names[i % len(names):] + names[: i % len(names)]:
            start = time.perf_counter()
            answers[name].append(calls[name](image))
            seconds[name] += time.perf_counter() - start
    for name in calls:
        right = [a in t if t else a == "" for a, t in zip(answers[name], truths)]
        row = {"reader": name, "images_per_s": len(images) / seconds[name]}
        for framing in sorted(set(framings)):
            chosen = [r for r, f in zip(right, framings) if f == framing]
            row[framing] = f"{sum(chosen)}/{len(chosen)} ({100 * sum(chosen) / len(chosen):.0f}%)"
        row["all"] = f"{sum(right)}/{len(right)} ({100 * sum(right) / len(right):.1f}%)"
        rows.append(row)
    return rows, answers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--locator", default=None, help="a NumberLocator file or preset (default: the shipped one)")
    parser.add_argument("--model", default=None, help="the reader (default: the shipped small_synthetic)")
    parser.add_argument("--count", type=int, default=300, help="synthetic photos (default: %(default)s)")
    parser.add_argument("--photos", type=Path, default=None, help="a labelled folder of real photos, measured too")
    parser.add_argument("--json", type=Path, default=OUT)
    parser.add_argument("--no-windows", action="store_true",
                        help="leave out the sliding windows (about 6 s a photo on 2 cores)")
    args = parser.parse_args(argv)

    import keras

    from kerasvhn.data.photo_scenes import render_encoded
    from kerasvhn.locator import load_locator
    from kerasvhn.locator_training import decode_photo, evaluate_locator
    from kerasvhn.saving import load_model

    model = load_model(args.model)
    locator = load_locator(args.locator)
    photos = render_encoded(args.count, 0, "benchmark", split="held_out", workers=2)
    images = [decode_photo(data) for data, *_ in photos]
    truths = [numbers for _, _, numbers in photos]
    calls = readers(model, locator, windows=not args.no_windows)
    title = (f"{args.count} synthetic whole photos (purpose benchmark, held-out fonts and backgrounds), Keras "
             f"{keras.__version__} on {keras.backend.backend()}, {machine_description()}")
    rows, answers = score(calls, images, truths, ["synthetic"] * len(images))
    boxes = evaluate_locator(locator, photos=photos, count=0)
    for key in ("found", "truth", "widths"):
        boxes.pop(key)
    print(title + "\n")
    print(markdown_table(rows, [("reader", "reader", "{}"), ("all", "read right", "{}"),
                                ("images_per_s", "images/s (1 at a time)", "{:.2f}")]))
    print(f"\nthe locator's boxes at score >= {boxes['min_score']:.2f}: recall {100 * boxes['recall']:.1f}%, "
          f"precision {100 * boxes['precision']:.1f}% at IoU 0.5; recall by width share: {boxes['recall_by_width']}")
    real = None
    if args.photos is not None:
        from kerasvhn.photos import load_photos, read_labels

        labelled = read_labels(args.photos)
        pictures, _ = load_photos(args.photos, labelled)
        kept = [(p, image) for p, image in zip(labelled, pictures) if image is not None]
        real, _ = score(calls, [image for _, image in kept], [[p.number] for p, _ in kept],
                        [p.framing for p, _ in kept])
        print(f"\n{len(kept)} real photos ({args.photos}), measured only:\n")
        print(markdown_table(real, [("reader", "reader", "{}"), ("tight", "tight", "{}"), ("loose", "loose", "{}"),
                                    ("images_per_s", "images/s (1 at a time)", "{:.2f}")]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as handle:
        json.dump({"title": title, "synthetic": rows, "boxes": boxes, "real": real,
                   "args": {k: str(v) for k, v in vars(args).items()}}, handle, indent=1)


if __name__ == "__main__":
    main()
