"""`kerasvhn predict`: the number in each image."""

import json
import os
import sys
from pathlib import Path

from kerasvhn.commands.arguments import add_model_arguments, probability

HELP = "read the house number in each image"
DESCRIPTION = (
    "Prints each image's number and confidence (the model's probability that the answer is right; for \"\", "
    "that the image shows no number). By default (with the shipped locator installed, or --locator) images are "
    "read in two stages: the whole image is read as one frame first, and a number read there with confidence "
    "0.7 or more is the answer (a photo framed around its number); otherwise the locator finds the numbers, each "
    "box is cropped with the paper's 30% margin and read, and the number read with the highest confidence times "
    "its box's score is the answer, with its box (left, top, width, height in the photo's upright pixels); when "
    "no box holds a number the whole-frame "
    "reading is the answer (box null). --no-locate reads one frame only; with --digitstruct, each image is "
    "cropped by its boxes (matched by file name) as `kerasvhn prepare` does. A number less probable than "
    "--min-confidence is answered \"\" and shown as rejected. A file that cannot be read is one error line; the "
    "others are still read."
)


def add_arguments(parser):
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("--json", action="store_true",
                        help='one JSON object per line: {"file", "number", "confidence", "box"} ("box": [left, '
                        'top, width, height] in the photo\'s pixels, null when the whole photo was read; with '
                        '"box_score", the locator\'s score, when located; no "box" with --digitstruct) and, for a '
                        'number answered "" under --min-confidence, "rejected" and "rejected_confidence"')
    add_model_arguments(parser)
    parser.add_argument("--digitstruct", type=Path, default=None, help="a digitStruct.mat with the images' boxes")
    parser.add_argument("--min-confidence", type=probability, default=None,
                        help="answer \"\" for numbers less probable than this (default: 0.3)")
    parser.add_argument("--no-unstack", action="store_true",
                        help="do not also read tall frames as vertical numbers (digits stacked top to bottom)")
    located = parser.add_argument_group("two stages: locate, then read")
    located.add_argument("--locator", default=None, metavar="MODEL",
                         help="read in two stages with this NumberLocator (.keras or .weights.h5 file, or a preset "
                         "name); --locate uses the shipped locator_synthetic")
    stages = located.add_mutually_exclusive_group()
    stages.add_argument("--locate", action="store_true",
                        help="read in two stages with the shipped locator (or --locator), and stop with a message "
                        "when there is none; the default reads in two stages when a locator is at hand, else as one "
                        "frame")
    stages.add_argument("--no-locate", action="store_true", help="read each whole photo as one frame (one stage)")
    located.add_argument("--min-score", type=probability, default=None,
                         help="the least score of a located box (default: the locator's own)")
    located.add_argument("--all", action="store_true", dest="every",
                         help="list every number found, one line each, the likeliest first (confidence times box score)")
    located.add_argument("--annotate", type=Path, default=None, metavar="DIR",
                         help="write each photo with its located boxes and readings drawn to DIR/<name>.png")


def run(args):
    from kerasvhn.commands.arguments import load_model_argument
    from kerasvhn.predict import MIN_CONFIDENCE, read_frames, read_photos_located, wants_locator

    if args.digitstruct is not None and (args.locator is not None or args.every or args.locate):
        raise ValueError("--digitstruct gives the numbers' boxes: --locator, --locate and --all do not apply")
    if args.locator is not None and args.no_locate:
        raise ValueError("--locator and --no-locate contradict each other")
    threshold = MIN_CONFIDENCE if args.min_confidence is None else args.min_confidence
    locate = args.digitstruct is None and not args.no_locate and (args.locate or wants_locator(None, args.locator))
    if locate and args.locator is None:
        from kerasvhn.locator_presets import pretrained_locator_path

        pretrained_locator_path("locator_synthetic")  # with --locate and no weights: how to get a locator
    records = _records(args.digitstruct)
    images, files, failed = _images(args.images, records, args.digitstruct)
    if not images:
        return 1 if failed else 0
    model = load_model_argument(args)
    if locate:
        from kerasvhn.locator import load_locator

        locator = load_locator(args.locator)
        answers = read_photos_located(model, locator, images, min_confidence=threshold, min_score=args.min_score,
                                      every=args.every, unstack=not args.no_unstack)
    else:
        import numpy as np

        from kerasvhn.framing import frame

        frames = np.stack([frame(image, None if records is None else records[os.path.basename(path)])
                           for image, path in zip(images, files)])
        readings = read_frames(model, frames, min_confidence=threshold)
        if records is None and not args.no_unstack:
            from kerasvhn.vertical import prefer_unstacked

            readings = prefer_unstacked(model, images, [None] * len(images), readings, min_confidence=threshold)
        answers = [[reading] for reading in readings]
    boxes = args.digitstruct is None
    for path, image, found in zip(files, images, answers):
        for reading in (found if args.every else found[:1]):
            print(_json_line(path, reading, boxes) if args.json else _text_line(path, reading))
        if args.annotate is not None:
            _annotate(args.annotate, path, image, found if args.every else found[:1])
    return 1 if failed else 0


def _records(digitstruct):
    if digitstruct is None:
        return None
    from kerasvhn.data.digitstruct import read_digitstruct

    return {record["name"]: record for record in read_digitstruct(str(digitstruct)).records()}


def _images(paths, records, digitstruct):
    """The images that could be read (upright RGB); one error line for each that could not."""
    from kerasvhn.framing import crop_box
    from kerasvhn.predict import load_image

    images, files, failed = [], [], 0
    for path in paths:
        try:
            image = load_image(path)
            if records is not None:
                record = records.get(os.path.basename(path))
                if record is None:
                    raise ValueError(f"{path}: no entry named {os.path.basename(path)!r} in {digitstruct}")
                if crop_box(record, *image.size) is None:
                    raise ValueError(f"{path}: its digit boxes lie outside the {image.size[0]}x{image.size[1]} image")
            images.append(image)
            files.append(path)
        except ValueError as error:
            print(f"kerasvhn: error: {error}", file=sys.stderr)
            failed += 1
    return images, files, failed


def _json_line(path, reading, boxes=True):
    row = {"file": path, "number": reading.number, "confidence": round(reading.confidence, 4)}
    if boxes:
        row["box"] = None if reading.box is None else [round(v, 1) for v in reading.box]
        if reading.box_score is not None:
            row["box_score"] = round(reading.box_score, 4)
    if reading.rejected is not None:
        row.update(rejected=reading.rejected, rejected_confidence=round(reading.rejected_confidence, 4))
    return json.dumps(row)


def _text_line(path, reading):
    line = f"{path}\t{reading.number or '(none)'}\t{reading.confidence:.3f}"
    if reading.box is not None:
        line += "\tat " + ",".join(f"{v:.0f}" for v in reading.box)
    if reading.rejected is not None:
        line += f"\t(rejected: {reading.rejected} at {reading.rejected_confidence:.3f})"
    return line


def _annotate(folder, path, image, readings):
    from kerasvhn.plots import annotated_photo

    os.makedirs(folder, exist_ok=True)
    out = os.path.join(folder, os.path.splitext(os.path.basename(path))[0] + ".png")
    annotated_photo(image, readings).save(out)
