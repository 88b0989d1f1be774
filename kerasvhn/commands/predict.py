"""`kerasvhn predict`: the number in each image."""

import json
import os
import sys
from pathlib import Path

from kerasvhn.commands.arguments import add_model_arguments, probability

HELP = "read the house number in each image"
DESCRIPTION = (
    "Prints each image's number and confidence (the model's probability that the answer is right; for \"\", "
    "that the image shows no number). By default the whole image is the frame (crop it around the number for "
    "best results); with --digitstruct, each image is cropped by its boxes (matched by file name) as `kerasvhn "
    "prepare` does. A number less probable than --min-confidence is answered \"\" and shown as rejected. A file "
    "that cannot be read is one error line; the others are still read."
)


def add_arguments(parser):
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("--json", action="store_true",
                        help='one JSON object per line: {"file", "number", "confidence"} and, for a number '
                        'answered "" under --min-confidence, "rejected" and "rejected_confidence"')
    add_model_arguments(parser)
    parser.add_argument("--digitstruct", type=Path, default=None, help="a digitStruct.mat with the images' boxes")
    parser.add_argument("--min-confidence", type=probability, default=None,
                        help="answer \"\" for numbers less probable than this (default: 0.3)")


def run(args):
    from kerasvhn.commands.arguments import load_model_argument
    from kerasvhn.predict import MIN_CONFIDENCE, read_frames

    records = _records(args.digitstruct)
    frames, files, failed = _frames(args.images, records, args.digitstruct)
    if frames:
        import numpy as np

        threshold = MIN_CONFIDENCE if args.min_confidence is None else args.min_confidence
        readings = read_frames(load_model_argument(args), np.stack(frames), min_confidence=threshold)
        for path, reading in zip(files, readings):
            print(_json_line(path, reading) if args.json else _text_line(path, reading))
    return 1 if failed else 0


def _records(digitstruct):
    if digitstruct is None:
        return None
    from kerasvhn.data.digitstruct import read_digitstruct

    return {record["name"]: record for record in read_digitstruct(str(digitstruct)).records()}


def _frames(paths, records, digitstruct):
    """The framed images that could be read; one error line for each that could not."""
    from kerasvhn.framing import frame
    from kerasvhn.predict import load_image

    frames, files, failed = [], [], 0
    for path in paths:
        try:
            record = None
            if records is not None:
                record = records.get(os.path.basename(path))
                if record is None:
                    raise ValueError(f"{path}: no entry named {os.path.basename(path)!r} in {digitstruct}")
            frames.append(frame(load_image(path), record))
            files.append(path)
        except ValueError as error:
            print(f"kerasvhn: error: {error}", file=sys.stderr)
            failed += 1
    return frames, files, failed


def _json_line(path, reading):
    row = {"file": path, "number": reading.number, "confidence": round(reading.confidence, 4)}
    if reading.rejected is not None:
        row.update(rejected=reading.rejected, rejected_confidence=round(reading.rejected_confidence, 4))
    return json.dumps(row)


def _text_line(path, reading):
    line = f"{path}\t{reading.number or '(none)'}\t{reading.confidence:.3f}"
    if reading.rejected is not None:
        line += f"\t(rejected: {reading.rejected} at {reading.rejected_confidence:.3f})"
    return line
