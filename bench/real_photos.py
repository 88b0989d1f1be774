"""Our house-number reader against RapidOCR on real photos, side by side in one run.

    python bench/real_photos.py [--photos DIR] [--model PATH_OR_PRESET] [--locator PATH_OR_PRESET]
                                [--json OUT.json] [--answers] [--diagnose] [--speed-size 1000x750]

Needs the `peer` extra (pip install -c constraints.txt -e ".[peer]"): RapidOCR 1.4.4
(`rapidocr-onnxruntime`, PP-OCRv4) and RapidOCR 3.10.0 (`rapidocr`, PP-OCRv6 small), both
with their ONNX models inside the wheel, run offline by onnxruntime on the CPU with its
default threads. Both install side by side; with only one installed, the bench compares
against that one and its title says which.

--photos: a folder with labels.csv (file, number, framing: tight or loose), read by
kerasvhn.photos.read_labels (default: ../shared/real-dev beside the repository). Each photo
is decoded once (kerasvhn.predict.load_image: upright, RGB, transparency on white); every
reader starts from that image:

- ours in one stage: the whole photo as the frame, `read_frames(model, frame(image)[None])`,
  as `kerasvhn predict --no-locate` reads it; right when `Reading.number` ("" below the
  default confidence of 0.3) is the number.
- ours in two stages (when a locator is at hand: --locator, or the shipped one): the
  locator's boxes, each cropped with the paper's 30% margin and read, the most probable
  number the answer (`kerasvhn.predict.read_photos_located`, exactly as `kerasvhn
  predict` reads whole photos).
- with --diagnose, RapidOCR's detector's boxes read by our reader (each box cropped with
  the paper's margin, the most probable number the answer): how far our reader goes when
  given another detector's boxes (not timed against the others).
- each RapidOCR release, on the whole photo as a BGR array (bench/peers.py, every flag
  explicit): its recogniser alone (`use_det=False, use_cls=False, use_rec=True`), right
  when its text's digits are the number; and its detector + recogniser (`use_det=True,
  use_cls=False, use_rec=True`), right when any detected line, or all lines joined, gives
  the number once non-digits are dropped.

Timing: after warming every reader up on two photos, all readers run one image at a time,
interleaved photo by photo (which reader goes first rotates), so all see the same machine
load; the conversion to a frame or a BGR array is inside the timed call. Then ours once
more on all the photos in one batch (median of 3 passes). Then the speed on photos of one
size (--speed-size, default 1000x750): every photo cut to that aspect ratio about its
centre and resized to it, read one at a time, interleaved, by our two stages and each
RapidOCR's detector + recogniser.

--model: a .keras or .weights.h5 path or a preset name (default: the shipped
"small_synthetic"); "untrained" is a fresh `small` network (to check that the script runs).
"""

import argparse
import json
import os
import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from harness import machine_description, markdown_table, time_per_call  # noqa: E402
from peers import (  # noqa: E402
    bgr, digits_only, installed_rapidocrs, interleaved, lines_match, load_our_locator, load_our_model, speed,
)

REPOSITORY = Path(__file__).resolve().parents[1]
TWO_STAGES = "kerasvhn two stages"
PHOTOS = REPOSITORY.parent / "shared" / "real-dev"
OUT = REPOSITORY / "reports" / "bench" / "real_photos.json"
WARMUP = 2


def readers_of(model, engines, images, locator=None):
    """{name: (function of a photo index, how it is scored, input)}: ours in one stage and
    (with a locator) in two, then each RapidOCR's recogniser and detector + recogniser."""
    from kerasvhn.framing import frame
    from kerasvhn.predict import read_frames, read_photos_located

    readers = {"kerasvhn": (lambda i: read_frames(model, frame(images[i])[None])[0].number, "number",
                            "whole photo, 54x54 frame")}
    if locator is not None:
        readers[TWO_STAGES] = (
            lambda i: read_photos_located(model, locator, [images[i]], every=False)[0][0].number, "number",
            f"whole photo read whole, then by the locator at {'/'.join(str(s) for s in locator.reading_sides())} px "
            "unless read surely")
    for name, engine in engines.items():
        readers[f"{name} recogniser"] = (lambda i, e=engine: e.recognise(bgr(images[i])), "text",
                                         "whole photo, native size")
        readers[f"{name} detector + recogniser"] = (lambda i, e=engine: e.detect_and_recognise(bgr(images[i])),
                                                    "lines", "whole photo, native size")
    return readers


def their_boxes_our_reader(model, engine, image):
    """RapidOCR's detector's boxes, each read by our reader: the most probable number."""
    from kerasvhn.predict import box_frame, read_frames

    boxes = engine.detect(bgr(image))
    if not boxes:
        return ""
    frames = np.stack([box_frame(image, (x0, y0, x1 - x0, y1 - y0)) for x0, y0, x1, y1 in boxes])
    numbers = [r for r in read_frames(model, frames) if r.number]
    return max(numbers, key=lambda r: r.confidence).number if numbers else ""


def fixed_size(image, size):
    """The photo cut to size's aspect ratio about its centre and resized to size (w, h)."""
    from PIL import Image

    width, height = image.size
    target = size[0] / size[1]
    if width / height > target:
        cut = int(round(height * target))
        image = image.crop(((width - cut) // 2, 0, (width - cut) // 2 + cut, height))
    else:
        cut = int(round(width / target))
        image = image.crop((0, (height - cut) // 2, width, (height - cut) // 2 + cut))
    return image.resize(size, Image.BICUBIC)


def speed_rows(model, locator, engines, images, size):
    """Images/s of our two stages and each RapidOCR's detector + recogniser on the photos
    at one size, one image at a time, interleaved."""
    from kerasvhn.predict import read_photos_located

    sized = [fixed_size(image, size) for image in images]
    calls = {TWO_STAGES: lambda i: read_photos_located(model, locator, [sized[i]], every=False)[0][0].number}
    for name, engine in engines.items():
        calls[f"{name} detector + recogniser"] = lambda i, e=engine: e.detect_and_recognise(bgr(sized[i]))
    interleaved(min(WARMUP, len(sized)), calls)
    _, seconds = interleaved(len(sized), calls)
    rows = [{"reader": name, "size": f"{size[0]}x{size[1]}", **speed(seconds[name])} for name in calls]
    for row in rows:
        row["speed_vs_ours"] = row["images_per_s"] / rows[0]["images_per_s"]
    return rows


def is_right(answer, how, truth):
    if how == "number":
        return answer == truth
    if how == "text":
        return digits_only(answer) == truth
    return lines_match(answer, truth)


def batched(model, images):
    """Ours on every photo in one call (frames made inside, as in the per-image timing)."""
    from kerasvhn.framing import frame
    from kerasvhn.predict import read_frames

    return [r.number for r in read_frames(model, np.stack([frame(image) for image in images]))]


def tally(rights, photos, framing=None):
    chosen = [right for right, photo in zip(rights, photos) if framing in (None, photo.framing)]
    return {"right": sum(chosen), "count": len(chosen), "accuracy": 100.0 * sum(chosen) / max(len(chosen), 1)}


def result_rows(readers, answers, seconds, photos, batch):
    """One table row per reader (and ours batched), with its answers' rights."""
    rows = []
    for name, (_, how, what) in readers.items():
        rights = [is_right(a, how, p.number) for a, p in zip(answers[name], photos)]
        rows.append({"reader": name, "input": what, "mode": "1 image per call", "rights": rights,
                     **_framing_cells(rights, photos), **speed(seconds[name])})
    numbers, batch_seconds = batch
    rights = [n == p.number for n, p in zip(numbers, photos)]
    rows.append({"reader": "kerasvhn", "input": "whole photo, 54x54 frame", "mode": f"1 batch of {len(photos)}",
                 "rights": rights, **_framing_cells(rights, photos), "images_per_s": len(photos) / batch_seconds,
                 "median_ms": None})
    for row in rows:
        row["speed_vs_ours"] = row["images_per_s"] / rows[0]["images_per_s"]
    return rows


def _framing_cells(rights, photos):
    cells = {}
    for framing in ("tight", "loose", None):
        t = tally(rights, photos, framing)
        cells[framing or "all"] = f"{t['right']}/{t['count']} ({t['accuracy']:.0f}%)"
    return cells


def print_report(title, rows, photos, answers, readers, show_answers):
    print()
    print(title)
    print()
    print(markdown_table(rows, [
        ("reader", "reader", "{}"), ("input", "input", "{}"), ("mode", "timed", "{}"),
        ("tight", "tight", "{}"), ("loose", "loose", "{}"), ("all", "all", "{}"),
        ("images_per_s", "images/s", "{:,.1f}"), ("median_ms", "median ms/image", "{:.1f}"),
        ("speed_vs_ours", "speed vs ours (1 image)", "{:.3f}x"),
    ]))
    ours = rows[0]["rights"]
    print()
    for row in rows[1:-1]:
        only_ours = sum(o and not p for o, p in zip(ours, row["rights"]))
        only_peer = sum(p and not o for o, p in zip(ours, row["rights"]))
        print(f"only ours right vs {row['reader']}: {only_ours}; only it right: {only_peer}")
    if show_answers:
        print()
        table = [{"file": p.file[-40:], "framing": p.framing, "truth": p.number,
                  **{name: _shown(answers[name][i]) for name in readers}} for i, p in enumerate(photos)]
        print(markdown_table(table, [("file", "file", "{}"), ("framing", "framing", "{}"), ("truth", "truth", "{}")]
                             + [(name, name, "{}") for name in readers]))


def _shown(answer):
    return (" / ".join(answer) if isinstance(answer, list) else answer) or "(none)"


def versions():
    found = {}
    for package in ("rapidocr-onnxruntime", "rapidocr", "onnxruntime", "keras"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=PHOTOS, help="a folder with labels.csv (default: %(default)s)")
    parser.add_argument("--model", default=None, help='path or preset; "untrained": a fresh small network')
    parser.add_argument("--json", type=Path, default=OUT, help="where the results and every answer go "
                        "(default: %(default)s)")
    parser.add_argument("--answers", action="store_true", help="also print every reader's answer for each photo")
    parser.add_argument("--locator", default=None,
                        help="a NumberLocator file or preset for our two stages (default: the shipped one when "
                        "installed; without one, our two stages are left out)")
    parser.add_argument("--diagnose", action="store_true",
                        help="also read RapidOCR's detector's boxes with our reader")
    parser.add_argument("--speed-size", default="1000x750", help="WxH of the speed comparison (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    engines = installed_rapidocrs()

    import keras

    from kerasvhn.photos import load_photos, read_labels

    photos = read_labels(args.photos)
    images, errors = load_photos(args.photos, photos)
    for error in filter(None, errors):
        print(f"left out: {error}")
    photos = [p for p, image in zip(photos, images) if image is not None]
    images = [image for image in images if image is not None]
    model = load_our_model(args.model)
    locator = load_our_locator(args.locator)
    readers = readers_of(model, engines, images, locator)
    calls = {name: reader[0] for name, reader in readers.items()}
    interleaved(min(WARMUP, len(images)), calls)
    answers, seconds = interleaved(len(images), calls)
    numbers = batched(model, images)
    batch = (numbers, time_per_call(lambda: batched(model, images), warmup=0, repeats=3, min_seconds=0))
    rows = result_rows(readers, answers, seconds, photos, batch)
    diagnosis = None
    if args.diagnose:
        engine_name, engine = next(iter(engines.items()))
        numbers_seen = [their_boxes_our_reader(model, engine, image) for image in images]
        diagnosis = {"reader": f"{engine_name} detector's boxes, kerasvhn's reader", "answers": numbers_seen,
                     **_framing_cells([n == p.number for n, p in zip(numbers_seen, photos)], photos)}
    speeds = None
    if locator is not None:
        size = tuple(int(v) for v in args.speed_size.lower().split("x"))
        speeds = speed_rows(model, locator, engines, images, size)

    found = versions()
    tight = sum(p.framing == "tight" for p in photos)
    title = (f"House numbers on {len(photos)} real photos ({tight} tight, {len(photos) - tight} loose; "
             f"{args.photos}): kerasvhn {args.model or 'small_synthetic'}"
             f"{' with locator ' + str(args.locator or 'locator_synthetic') if locator is not None else ''} "
             f"against {', '.join(engines)} (onnxruntime {found.get('onnxruntime')}), Keras {found['keras']} on "
             f"{keras.backend.backend()}, {machine_description()}")
    print_report(title, rows, photos, answers, readers, args.answers)
    if diagnosis is not None:
        print(f"\n{diagnosis['reader']} (diagnosis, untimed): tight {diagnosis['tight']}, loose {diagnosis['loose']}, "
              f"all {diagnosis['all']}")
    if speeds is not None:
        print(f"\nSpeed on the same {len(images)} photos cut and resized to {speeds[0]['size']}, one image at a time, "
              "interleaved:\n")
        print(markdown_table(speeds, [("reader", "reader", "{}"), ("size", "photo", "{}"),
                                      ("images_per_s", "images/s", "{:,.2f}"),
                                      ("median_ms", "median ms/image", "{:.0f}"),
                                      ("speed_vs_ours", "speed vs our two stages", "{:.3f}x")]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as handle:
        json.dump({"title": title, "machine": machine_description(), "backend": keras.backend.backend(),
                   "versions": found, "args": {k: str(v) for k, v in vars(args).items()}, "rows": rows,
                   "diagnosis": diagnosis, "speed": speeds,
                   "answers": [{"file": p.file, "framing": p.framing, "truth": p.number,
                                **{name: answers[name][i] for name in readers}, "kerasvhn_batched": numbers[i]}
                               for i, p in enumerate(photos)]}, handle, indent=1)
    print(f"\nevery answer: {args.json}")


if __name__ == "__main__":
    main()
