"""`kerasvhn synth_photos`: the locator's synthetic whole photos as a folder of JPEGs."""

import csv
import time
from pathlib import Path

from kerasvhn.commands.arguments import PURPOSE_CHOICES, SPLIT_CHOICES, int_at_least

USES_KERAS = False
HELP = "write synthetic whole photos (doors, facades, ...) with their house numbers' boxes"
DESCRIPTION = (
    "Renders N whole photos as the number locator trains on them (kerasvhn.data.photo_scenes: doors, facades, "
    "walls, gates and mailboxes with 0 to 3 house numbers and other text) and writes OUT/1.jpg .. OUT/N.jpg, "
    "OUT/boxes.csv (file, number, left, top, width, height: a row per house number, a row with an empty number "
    "for a photo without one) and OUT/labels.csv (the photos with exactly one house number, framing loose), so "
    "that `kerasvhn evaluate --photos OUT` reads them as it reads real photos. The same purpose and seed give "
    "the same photos."
)
PREVIEW_COUNT = 24


def add_arguments(parser):
    parser.add_argument("out", type=Path, metavar="OUT", help="the folder to write (created if missing)")
    parser.add_argument("--count", type=int_at_least(1), default=100, help="photos (default: %(default)s)")
    parser.add_argument("--purpose", choices=PURPOSE_CHOICES, required=True,
                        help="what the photos are for: each purpose is its own random stream")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--split", choices=SPLIT_CHOICES, default="train",
                        help="fonts and backgrounds: those of training, or the held-out ones (default: %(default)s)")
    parser.add_argument("--long-side", type=int_at_least(64), nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help="the photos' long side in pixels, drawn between LOW and HIGH (default: 320 640, the "
                             "training size)")
    parser.add_argument("--workers", type=int_at_least(1), default=2, help="processes (default: %(default)s)")
    parser.add_argument("--preview", action="store_true",
                        help=f"also write OUT/preview.png: the first {PREVIEW_COUNT} photos with their boxes")


def run(args):
    from kerasvhn.data.photo_scenes import LONG_SIDE, render_encoded

    if args.out.exists() and not args.out.is_dir():
        raise OSError(f"{args.out} exists and is not a folder")
    if args.long_side and args.long_side[1] < args.long_side[0]:
        raise ValueError(f"--long-side LOW HIGH: HIGH ({args.long_side[1]}) is less than LOW ({args.long_side[0]})")
    args.out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    photos = render_encoded(args.count, args.seed, args.purpose, split=args.split, workers=args.workers,
                            progress=True, long_side=tuple(args.long_side or LONG_SIDE), log=lambda line: None)
    boxes_rows, label_rows = [], []
    for index, (data, boxes, numbers) in enumerate(photos, start=1):
        name = f"{index}.jpg"
        (args.out / name).write_bytes(data)
        boxes_rows += [[name, number, *(round(v, 2) for v in (x0, y0, x1 - x0, y1 - y0))]
                       for number, (x0, y0, x1, y1) in zip(numbers, boxes)] or [[name, "", "", "", "", ""]]
        if len(numbers) == 1:
            label_rows.append([name, numbers[0], "loose"])
    _write_csv(args.out / "boxes.csv", ["file", "number", "left", "top", "width", "height"], boxes_rows)
    _write_csv(args.out / "labels.csv", ["file", "number", "framing"], label_rows)
    seconds = time.perf_counter() - began
    numbers = sum(1 for row in boxes_rows if row[1])
    print(f"wrote {len(photos)} photos with {numbers} house numbers, boxes.csv and labels.csv ({len(label_rows)} "
          f"photos with one number) to {args.out} in {seconds:.1f} s")
    if args.preview:
        _preview(args.out / "preview.png", photos[:PREVIEW_COUNT])
        print(f"wrote {args.out / 'preview.png'}")
    return 0


def _write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _preview(path, photos):
    import io

    from PIL import Image

    from kerasvhn.plots import boxed_photos_sheet

    images = [Image.open(io.BytesIO(data)) for data, _, _ in photos]
    boxed_photos_sheet(images, [boxes for _, boxes, _ in photos], [numbers for *_, numbers in photos], path)
