"""How the locator's zoom was chosen: a larger reading whose small, sure boxes join the others.

    python bench/locator_zoom.py [--locator PATH_OR_PRESET] [--model MODEL] [--validation 400]
                                 [--test 600] [--json OUT.json]

Synthetic photos only. On the locator's validation photos (purpose "validation", seed 0,
the stream its training monitors), rendered at the training size (320-640 px on the long
side) and again at 800-1280 px, it counts the photos the two stages read right (as
`kerasvhn predict` reads them: whole frame first, then the best 5 boxes, ranked by
confidence x box score) for each zoom of a grid (factor, largest box width as a share of
the photo's, least score) and without one; the best sum chose locator_small's zoom. On
held-out test photos (purpose "test") at both sizes it gives the boxes' recall and
precision at IoU 0.5 (boxes scoring 0.3 or more), by the number's width.

Each photo is located once per reading side; a zoom is then a filter over those boxes,
so the whole grid costs four readings per photo, not one per setting.
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from harness import machine_description, markdown_table  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[1]
OUT = REPOSITORY / "reports" / "bench" / "locator_zoom.json"
FACTORS = (1.5, 2.0)
MAX_WIDTHS = (0.03, 0.05, 0.08)
MIN_SCORES = (0.4, 0.5, 0.6)
SIZES = {"320-640 px": (320, 640), "800-1280 px": (800, 1280)}


def readings_by_side(locator, images, factors):
    """{factor: per photo, the boxes (score >= 0.3) of one reading at factor x input_size}."""
    saved = locator.scales, locator.zoom
    try:
        locator.zoom = []
        found = {}
        for factor in (1.0, 0.5, *factors):
            locator.scales = [factor]
            found[factor] = locator.locate(images, min_score=0.3, max_boxes=10)
        return found
    finally:
        locator.scales, locator.zoom = saved


def boxes_with(found, index, width, zoom, base=(1.0, 0.5)):
    """One photo's boxes from the usual readings plus a zoom's (factor, max_width,
    min_score) small, sure boxes; zoom None: the usual readings alone."""
    boxes = [box for factor in base for box in found[factor][index]]
    if zoom is not None:
        factor, max_width, min_score = zoom
        boxes += [b for b in found[factor][index] if b.score >= min_score and b.width < max_width * width]
    return boxes


class _FixedBoxes:
    """A stand-in locator that answers each photo with boxes found beforehand: with
    it, `read_photos_located` reads a zoom's boxes exactly as `kerasvhn predict` would."""

    def __init__(self, images, boxes):
        self.boxes = {id(image): found for image, found in zip(images, boxes)}

    def locate(self, images, min_score=None, max_boxes=10):
        from kerasvhn.locator import _best

        return [_best(self.boxes[id(image)], max_boxes) for image in images]


def read_right(model, images, truths, found, zooms):
    """{zoom: photos read right in two stages (`kerasvhn.predict.read_photos_located`)};
    a photo without numbers is right when read as ""."""
    from kerasvhn.predict import read_photos_located

    right = {}
    for zoom in zooms:
        locator = _FixedBoxes(images, [boxes_with(found, k, image.size[0], zoom) for k, image in enumerate(images)])
        answers = [readings[0].number for readings in read_photos_located(model, locator, images, every=False)]
        right[zoom] = sum((answer in truth) if truth else (answer == "") for answer, truth in zip(answers, truths))
    return right


def box_scores(photos, images, found, zooms):
    """{zoom: score_boxes at 0.3} on photos with their true boxes."""
    from kerasvhn.locator import _best
    from kerasvhn.locator_training import score_boxes

    truth = [list(boxes) for _, boxes, _ in photos]
    widths = [image.size[0] for image in images]
    scores = {}
    for zoom in zooms:
        located = [[(b.left, b.top, b.left + b.width, b.top + b.height, b.score)
                    for b in _best(boxes_with(found, k, widths[k], zoom), 10)] for k in range(len(images))]
        scores[zoom] = score_boxes(located, truth, widths, 0.3)
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locator", default="locator_synthetic")
    parser.add_argument("--model", default=None, help="the reader (default: the shipped one)")
    parser.add_argument("--validation", type=int, default=400, help="validation photos per size")
    parser.add_argument("--test", type=int, default=600, help="held-out test photos per size")
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args()

    import keras

    from kerasvhn.data.photo_scenes import render_encoded
    from kerasvhn.locator import load_locator
    from kerasvhn.locator_training import decode_photo
    from kerasvhn.saving import load_model

    model, locator = load_model(args.model), load_locator(args.locator)
    zooms = [None] + [(f, w, s) for f in FACTORS for w in MAX_WIDTHS for s in MIN_SCORES]
    print(f"locator {args.locator}, Keras {keras.__version__} on {keras.backend.backend()}, "
          f"{machine_description()}\n", flush=True)
    rows = {zoom: {"zoom": "none" if zoom is None else f"x{zoom[0]}, < {zoom[1]:.0%}, >= {zoom[2]}"}
            for zoom in zooms}
    for size, long_side in SIZES.items():
        photos = render_encoded(args.validation, 0, "validation", split="train", long_side=long_side, workers=2)
        images = [decode_photo(data) for data, *_ in photos]
        right = read_right(model, images, [set(numbers) for *_, numbers in photos],
                           readings_by_side(locator, images, FACTORS), zooms)
        for zoom in zooms:
            rows[zoom][size] = right[zoom]
    for zoom in zooms:
        rows[zoom]["both"] = sum(rows[zoom][size] for size in SIZES)
    table = sorted(rows.values(), key=lambda row: -row["both"])
    print(f"two-stage readings right of {args.validation} validation photos per size:\n")
    print(markdown_table(table, [("zoom", "zoom", "{}"), *((s, s, "{}") for s in SIZES), ("both", "both", "{}")]))

    best = max(zooms[1:], key=lambda zoom: rows[zoom]["both"])
    boxes = {}
    for size, long_side in SIZES.items():
        photos = render_encoded(args.test, 0, "test", split="held_out", long_side=long_side, workers=2)
        images = [decode_photo(data) for data, *_ in photos]
        scores = box_scores(photos, images, readings_by_side(locator, images, [best[0]]), [None, best])
        for zoom, score in scores.items():
            boxes[f"{size}, zoom {rows[zoom]['zoom']}"] = {
                "recall": score["recall"], "precision": score["precision"],
                "by_width": score["recall_by_width"],
                "numberless_boxed": score["photos_without_numbers_with_a_box"]}
    print(f"\nboxes scoring 0.3 or more on {args.test} held-out test photos per size, without a zoom and with the "
          "best one:\n")
    print(markdown_table([{"what": k, **v} for k, v in boxes.items()],
                         [("what", "photos, zoom", "{}"), ("recall", "recall", "{:.1%}"),
                          ("precision", "precision", "{:.1%}"), ("by_width", "found by width share", "{}"),
                          ("numberless_boxed", "number-less photos given a box", "{}")]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as handle:
        json.dump({"validation": table, "boxes": boxes, "best": best,
                   "args": {k: str(v) for k, v in vars(args).items()}}, handle, indent=1)


if __name__ == "__main__":
    main()
