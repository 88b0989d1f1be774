"""Which locator to ship? Several locators side by side on the same synthetic photos, one run.

    python bench/locator_choice.py --locators locator_synthetic new.weights.h5 [--models MODEL ...]
                                   [--validation 400] [--validation-seeds 0 ...] [--test 600]
                                   [--true-boxes] [--one-look]
                                   [--json OUT.json]

Synthetic photos only (kerasvhn.data.photo_scenes, today's generator), each rendered
once and given to every locator, at the training size (320-640 px on the long side)
and at 800-1280 px, the size of many real photos:

- the choice: on the locator's validation photos (purpose "validation", seed 0, the
  stream its training monitors; `--validation-seeds 0 1` adds as many of seed 1 per
  size, photos no training run has drawn, for choices too close to call), the photos
  the two stages read right with the shipped reader, exactly as `kerasvhn predict`
  reads them (whole frame first, then the best boxes; right: one of the photo's
  numbers, or "" when it has none); the shipped
  locator is the one with the most at both sizes together; `--models A B` reads with
  several readers, each with each locator (a reader's choice: the same count); `--true-boxes` adds the
  ceiling: the same reading given each photo's true number boxes (score 1) instead of a
  locator's, so that the misses split into the locator's and the reader's; the readings
  are also broken down by the height in pixels of each photo's tallest number;
  `--one-look` adds each locator that has a second look (kerasvhn.second_look) once
  more without it;
- the boxes, measured after choosing: on held-out test photos (purpose "test", fonts and
  backgrounds training never draws), recall and precision at IoU 0.5 of the boxes
  scoring 0.3 (the shipped `min_score`) and 0.5 or more, recall by the number's width
  as a share of the photo's, and the number-less photos given a box.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from harness import machine_description, markdown_table  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[1]
OUT = REPOSITORY / "reports" / "bench" / "locator_choice.json"
SIZES = {"320-640 px": (320, 640), "800-1280 px": (800, 1280)}
MIN_SCORES = (0.3, 0.5)


#: Photos sorted by their tallest number's height in pixels, for the readings' breakdown.
HEIGHTS = {"< 16 px": (0, 16), "16-31 px": (16, 32), ">= 32 px": (32, float("inf"))}


def read_right(model, locator, images, truths):
    """Per photo, whether the two stages read it right (`kerasvhn.predict.read_photos_located`)."""
    from kerasvhn.predict import read_photos_located

    answers = [readings[0].number for readings in read_photos_located(model, locator, images, every=False)]
    return [(answer in truth) if truth else (answer == "") for answer, truth in zip(answers, truths)]


def height_bucket(boxes):
    """The photo's tallest number's height bucket ("< 16 px", ...), or "no number"."""
    if not boxes:
        return "no number"
    tallest = max(0, *(y1 - y0 for _, y0, _, y1 in boxes))  # the photo's edge can leave a number's box empty
    return next(name for name, (low, high) in HEIGHTS.items() if low <= tallest < high)


class TrueBoxes:
    """A stand-in locator that returns each photo's true number boxes, score 1: the
    two-stage reading's ceiling with a perfect locator. `locate` takes the photos
    given to `use` (matched by identity)."""

    def __init__(self):
        self._boxes = {}

    def use(self, images, true_boxes):
        self._boxes = {id(image): boxes for image, boxes in zip(images, true_boxes)}
        return self

    def locate(self, images, min_score=None, max_boxes=None):
        from kerasvhn.locator import Box

        return [[Box(x0, y0, x1 - x0, y1 - y0, 1.0) for x0, y0, x1, y1 in self._boxes[id(image)]][:max_boxes]
                for image in images]


class OneLook:
    """A locator read without its second look."""

    def __init__(self, locator):
        self.locator = locator

    def locate(self, images, min_score=None, max_boxes=10):
        return self.locator.locate(images, min_score=min_score, max_boxes=max_boxes, second_look=False)


def box_scores(locator, images, true_boxes):
    """{min_score: kerasvhn.locator_training.score_boxes} of one locator's boxes."""
    from kerasvhn.locator_training import score_boxes

    found = locator.locate(images, min_score=min(MIN_SCORES), max_boxes=10)
    located = [[(b.left, b.top, b.left + b.width, b.top + b.height, b.score) for b in boxes] for boxes in found]
    widths = [image.size[0] for image in images]
    return {s: score_boxes(located, true_boxes, widths, s) for s in MIN_SCORES}


def _photos(count, purpose, split, long_side, seeds=(0,)):
    from kerasvhn.data.photo_scenes import render_encoded
    from kerasvhn.locator_training import decode_photo

    photos = [photo for seed in seeds
              for photo in render_encoded(count, seed, purpose, split=split, long_side=long_side, workers=2)]
    return [decode_photo(data) for data, *_ in photos], [list(boxes) for _, boxes, _ in photos], \
        [set(numbers) for *_, numbers in photos]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locators", nargs="+", default=["locator_synthetic"],
                        help="presets or weights files (default: %(default)s)")
    parser.add_argument("--models", nargs="+", default=[None], metavar="MODEL",
                        help="the readers, each with each locator (default: the shipped one)")
    parser.add_argument("--validation", type=int, default=400, help="validation photos per size")
    parser.add_argument("--validation-seeds", type=int, nargs="+", default=[0],
                        help="validation streams' seeds, --validation photos per size of each (default: %(default)s)")
    parser.add_argument("--test", type=int, default=600, help="held-out test photos per size")
    parser.add_argument("--true-boxes", action="store_true",
                        help="add the ceiling: the readings given each photo's true boxes")
    parser.add_argument("--one-look", action="store_true",
                        help="add each locator with a second look once more without it")
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args()

    import keras

    from kerasvhn.data import photo_scenes
    from kerasvhn.locator import load_locator
    from kerasvhn.saving import load_model

    models = {name: load_model(name) for name in args.models}
    locators = {name: load_locator(name) for name in args.locators}
    if args.one_look:
        locators.update({f"{name}, one look": OneLook(locator) for name, locator in list(locators.items())
                         if getattr(locator, "second_look", None)})
    ceiling = TrueBoxes() if args.true_boxes else None
    pairs = {_pair_name(locator, reader, len(models)): (locator, reader) for locator in [*locators, "true boxes"]
             for reader in models if locator != "true boxes" or ceiling is not None}
    print(f"Keras {keras.__version__} on {keras.backend.backend()}, {machine_description()}, "
          f"photo generator version {photo_scenes.VERSION}\n", flush=True)
    rows = {name: {"locator": name} for name in pairs}
    for size, long_side in SIZES.items():
        images, true_boxes, truths = _photos(args.validation, "validation", "train", long_side,
                                             args.validation_seeds)
        if ceiling is not None:
            locators["true boxes"] = ceiling.use(images, true_boxes)
        for name, (locator, reader) in pairs.items():
            began = time.perf_counter()
            right = read_right(models[reader], locators[locator], images, truths)
            rows[name][f"read {size}"] = sum(right)
            for flag, boxes in zip(right, true_boxes):
                counts = rows[name].setdefault("by height", {}).setdefault(height_bucket(boxes), [0, 0])
                counts[0] += flag
                counts[1] += 1
            print(f"{name}: {rows[name][f'read {size}']} of {len(images)} validation photos read right at "
                  f"{size} ({time.perf_counter() - began:.0f} s)", flush=True)
    for row in rows.values():
        row["read both"] = sum(row[f"read {size}"] for size in SIZES)
    boxes = []
    for size, long_side in SIZES.items() if args.test else ():
        images, true_boxes, _ = _photos(args.test, "test", "held_out", long_side)
        for name, locator in locators.items():
            if name == "true boxes":
                continue
            for min_score, score in box_scores(locator, images, true_boxes).items():
                boxes.append({"locator": name, "photos": size, "min_score": min_score, "recall": score["recall"],
                              "precision": score["precision"],
                              "by_width": " / ".join(f"{a}/{b}" for a, b in score["recall_by_width"].values()),
                              "numberless_boxed": score["photos_without_numbers_with_a_box"]})
    table = list(rows.values())
    print(f"\ntwo-stage readings right of {args.validation * len(args.validation_seeds)} validation photos per size "
          "(the choice):\n")
    print(markdown_table(table, [("locator", "locator", "{}"), *((f"read {s}", s, "{}") for s in SIZES),
                                 ("read both", "both", "{}")]))
    buckets = ["no number", *HEIGHTS]
    for row in table:
        for bucket in buckets:
            right, count = row["by height"].get(bucket, (0, 0))
            row[bucket] = f"{right}/{count}"
    print("\nthe same, both sizes, by the photo's tallest number's height in pixels:\n")
    print(markdown_table(table, [("locator", "locator", "{}"), *((b, b, "{}") for b in buckets)]))
    if not boxes:
        return _save(args, table, boxes)
    print(f"\nboxes on {args.test} held-out test photos per size (IoU 0.5; by width: < 5% / 5-15% / >= 15% of "
          "the photo's):\n")
    print(markdown_table(boxes, [("locator", "locator", "{}"), ("photos", "photos", "{}"),
                                 ("min_score", "scoring at least", "{}"), ("recall", "recall", "{:.1%}"),
                                 ("precision", "precision", "{:.1%}"), ("by_width", "recall by width", "{}"),
                                 ("numberless_boxed", "number-less photos boxed", "{}")]))
    _save(args, table, boxes)


def _pair_name(locator, reader, readers):
    """A row's name: the locator, and the reader when several are compared."""
    from kerasvhn.saving import DEFAULT_MODEL

    return locator if readers == 1 else f"{locator}, reader {reader or DEFAULT_MODEL}"


def _save(args, table, boxes):
    from kerasvhn.data import photo_scenes

    args.json.parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as handle:
        json.dump({"readings": table, "boxes": boxes, "generator": photo_scenes.VERSION,
                   "args": {k: str(v) for k, v in vars(args).items()}}, handle, indent=1)


if __name__ == "__main__":
    main()
