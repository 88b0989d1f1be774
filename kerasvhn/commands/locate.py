"""`kerasvhn locate`: where the house numbers are in each photo (boxes only)."""

import json
import os
import sys
from pathlib import Path

from kerasvhn.commands.arguments import int_at_least, probability

HELP = "find the house numbers in each photo: boxes and scores, no reading"
DESCRIPTION = (
    "Runs the number locator on each photo and prints every box found, best first: left, top, width and height "
    "in the photo's own pixels (upright, EXIF orientation applied) and the locator's score. A photo with no box "
    "prints one line saying so. A file that cannot be read is one error line; the others are still read."
)


def add_arguments(parser):
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("--locator", default=None, metavar="MODEL",
                        help="a NumberLocator: .keras or .weights.h5 file, or a preset name (default: the shipped "
                        "locator_synthetic)")
    parser.add_argument("--min-score", type=probability, default=None,
                        help="the least score of a box (default: the locator's own)")
    parser.add_argument("--max-boxes", type=int_at_least(1), default=10, help="per photo (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help='one JSON object per photo: {"file", "boxes": [{"box": [left, top, width, height], '
                        '"score"}, ...]}')
    parser.add_argument("--annotate", type=Path, default=None, metavar="DIR",
                        help="write each photo with its boxes drawn to DIR/<name>.png")


def run(args):
    from kerasvhn.locator import load_locator
    from kerasvhn.predict import ImageError, load_image

    images, files, failed = [], [], 0
    for path in args.images:
        try:
            images.append(load_image(path))
            files.append(path)
        except ImageError as error:
            print(f"kerasvhn: error: {error}", file=sys.stderr)
            failed += 1
    if images:
        locator = load_locator(args.locator)
        found = locator.locate(images, min_score=args.min_score, max_boxes=args.max_boxes)
        for path, image, boxes in zip(files, images, found):
            if args.json:
                print(json.dumps({"file": path, "boxes": [{"box": [round(v, 1) for v in box[:4]],
                                                           "score": round(box.score, 4)} for box in boxes]}))
            elif not boxes:
                print(f"{path}\t(no number found)")
            for box in [] if args.json else boxes:
                print(f"{path}\t{box.left:.1f},{box.top:.1f},{box.width:.1f},{box.height:.1f}\t{box.score:.3f}")
            if args.annotate is not None:
                from kerasvhn.plots import annotated_photo

                os.makedirs(args.annotate, exist_ok=True)
                out = os.path.join(args.annotate, os.path.splitext(os.path.basename(path))[0] + ".png")
                annotated_photo(image, [], located=boxes).save(out)
    return 1 if failed else 0
