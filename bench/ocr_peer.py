"""Our house-number reader against RapidOCR, the strongest OCR a pip user can install.

    python bench/ocr_peer.py [--count 300] [--seed 7] [--model PATH_OR_PRESET]
                             [--full] [--fixture DIR] [--json out.json]

Needs the `peer` extra (pip install -c constraints.txt -e ".[peer]"); this bench uses its
rapidocr-onnxruntime 1.4.4, PaddleOCR's PP-OCRv4 detector and recogniser as ONNX files
inside the wheel, run offline by onnxruntime on the CPU with its default threads
(bench/real_photos.py compares the extra's rapidocr 3.10.0 too).

Synthesises --count held-out scenes (kerasvhn.data.synthesize, purpose "benchmark":
a random stream no training draws from; split "held_out": fonts and backgrounds the
model never trained on) into a temporary folder. Each scene is
read from its PNG once; both readers then start from the same decoded image and its
digit boxes, and both get the same crop, the paper's (the boxes' union expanded 30%,
kerasvhn.framing.crop_box):

- RapidOCR: its recogniser alone, `RapidOCR()(crop, use_det=False, use_cls=False,
  use_rec=True)`, the crop at native resolution as a BGR uint8 array (what RapidOCR
  takes an array to be; it resizes to 48 pixels high itself). Its answer is the
  digits of its text, after NFKC normalisation (full-width digits become 0-9), every
  other character dropped ("No.12a" reads "12"; a letter O is not a 0); "" when it
  returns nothing.
- ours: `kerasvhn.framing.frame(image, record)` (the crop resized to 64x64, centre
  54x54) read by `kerasvhn.predict.read_frames`; the answer is `Reading.number`
  ("" below its default confidence of 0.3).

A reading is right when the whole number equals the truth. Timings start from the
decoded image and its record (the crop or frame is made inside the timed call). After
warming each reader up, the two are timed one image at a time, interleaved image by
image (which goes first alternates), so both see the same machine load; then ours
once more on the whole set in batches of 256 (median of 3 passes). The ratios in
the summary are the figures to trust on noisy machines.

--full adds the no-boxes case: RapidOCR's whole pipeline (detector, angle classifier,
recogniser; its texts joined in its reading order, then digits kept as above) and our
model (the whole scene as the frame, as read_numbers does without records), both on
the whole scene, one image at a time. RapidOCR's detector upsamples images to 736
pixels on the short side, so this costs about a second per scene on 2 cores.

Finally both read the real SVHN images of --fixture (cropped by their boxes) and the
script prints what each reads against the truth.

--model: a .keras or .weights.h5 path or a preset name, as kerasvhn.load_model
takes (default: the shipped "small_synthetic"); "untrained" is a fresh `small` network
(for checking that the script runs; its accuracy means nothing).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from harness import machine_description, markdown_table, time_per_call  # noqa: E402
from peers import (  # noqa: E402
    RapidOCR1, accuracy, bgr, digits_only, installed_rapidocrs, interleaved, load_our_model, speed,
)

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "svhn-train-sample"
BATCH = 256
WARMUP = 5


def truth_of(record):
    return "".join(str(int(label) % 10) for label in record["label"])


def rapidocr():
    """RapidOCR 1.4.4 (`rapidocr-onnxruntime`), the release this comparison was made with."""
    (engine,) = installed_rapidocrs((RapidOCR1,)).values()
    return engine


def by_length(answers, truths):
    lengths = sorted({len(t) for t in truths})
    return {
        n: accuracy([a for a, t in zip(answers, truths) if len(t) == n], [t for t in truths if len(t) == n])
        for n in lengths
    }, {n: sum(len(t) == n for t in truths) for n in lengths}


def read_fixture(folder, peer, model):
    from kerasvhn.data import read_digitstruct
    from kerasvhn.framing import crop_box, frame
    from kerasvhn.predict import load_image, read_frames

    mat = Path(folder) / "digitStruct.mat"
    if not mat.is_file():
        print(f"\n{folder}: no digitStruct.mat, real images skipped")
        return []
    rows = []
    for record in read_digitstruct(str(mat)).records():
        path = Path(folder) / record["name"]
        if not path.is_file():
            continue
        image = load_image(path)
        box = crop_box(record, *image.size)
        text = peer.recognise(bgr(image, box))
        reading = read_frames(model, frame(image, record)[None])[0]
        rows.append({
            "image": record["name"],
            "size": f"{image.size[0]}x{image.size[1]}",
            "truth": truth_of(record),
            "rapidocr_text": text,
            "rapidocr": digits_only(text),
            "ours": reading.number,
            "ours_confidence": reading.confidence,
        })
    return rows


def main(argv=None):
    args = _arguments(argv)

    import keras

    peer = rapidocr()
    model = load_our_model(args.model)
    model_name = args.model or "small_synthetic"
    records, images, boxes = _held_out_scenes(args.count, args.seed)
    truths = [truth_of(r) for r in records]
    count = len(truths)
    raw, confidences = {}, {}
    readers = _readers(peer, model, records, images, boxes, raw, confidences)

    answers, seconds, batched_answers, batched_seconds = _time_on_crops(readers, count)
    rows = _crop_rows(answers, seconds, batched_answers, batched_seconds, truths, model_name)
    scene_answers = None
    if args.full:
        scene_answers, scene_seconds = _time_on_scenes(readers, count)
        rows += _scene_rows(scene_answers, scene_seconds, truths, model_name)
    reference = rows[0]["images_per_s"]
    for row in rows:
        row["speed_vs_rapidocr"] = row["images_per_s"] / reference

    fixture_rows = read_fixture(args.fixture, peer, model)

    versions = {
        package: metadata.version(package) for package in ("rapidocr-onnxruntime", "onnxruntime", "keras")
    }
    title = (
        f"House numbers: kerasvhn against RapidOCR {versions['rapidocr-onnxruntime']} "
        f"(onnxruntime {versions['onnxruntime']}), {count} held-out synthetic scenes (seed {args.seed}), "
        f"Keras {versions['keras']} on {keras.backend.backend()}, {machine_description()}"
    )
    _print_rows(title, rows)
    summary = _summary(rows, answers, batched_answers, list(raw["crop"].values()), truths)
    _print_summary(summary, count)
    by_length = _accuracy_by_length(answers, truths)
    _print_by_length(by_length)
    if fixture_rows:
        _print_fixture(args.fixture, fixture_rows)

    if args.json:
        answer_rows = _answer_rows(records, truths, raw, answers, confidences, scene_answers)
        with open(args.json, "w") as handle:
            json.dump({
                "title": title, "machine": machine_description(), "backend": keras.backend.backend(),
                "versions": versions, "args": vars(args), "rows": rows, "summary": summary,
                "by_length": by_length, "fixture": fixture_rows, "answers": answer_rows,
            }, handle, indent=1)


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="held-out synthetic scenes (default: 300)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", default=None, help='path or preset; "untrained": a fresh small network')
    parser.add_argument("--full", action="store_true", help="also both readers on whole scenes, no boxes")
    parser.add_argument("--fixture", default=str(FIXTURE), help="folder of real SVHN images + digitStruct.mat")
    parser.add_argument("--json", help="also write the results (and every answer) to this JSON file")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    return args


def _held_out_scenes(count, seed):
    """(records, decoded images, crop boxes) of `count` synthesised held-out scenes,
    less those whose boxes fall outside the image."""
    from kerasvhn.data import synthesize
    from kerasvhn.framing import crop_box
    from kerasvhn.predict import load_image

    with tempfile.TemporaryDirectory(prefix="bench_ocr_peer_") as folder:
        started = time.perf_counter()
        records = synthesize(folder, count, seed=seed, split="held_out", progress=sys.stderr.isatty(),
                             purpose="benchmark")
        print(f"synthesised {count} held-out scenes (seed {seed}) in {time.perf_counter() - started:.0f} s")
        images = [load_image(os.path.join(folder, r["name"])) for r in records]
    boxes = [crop_box(r, *image.size) for r, image in zip(records, images)]
    keep = [i for i, box in enumerate(boxes) if box is not None]
    if len(keep) < len(records):
        print(f"{len(records) - len(keep)} scenes have boxes outside the image: left out")
    return [records[i] for i in keep], [images[i] for i in keep], [boxes[i] for i in keep]


def _readers(peer, model, records, images, boxes, raw, confidences):
    """The timed calls, by name: each reader on image i (crop or whole scene), and ours
    in batches over every image. RapidOCR's texts go to raw, our confidences to
    confidences."""
    from kerasvhn.framing import frame
    from kerasvhn.predict import read_frames

    count = len(records)

    def rapid(i):
        raw.setdefault("crop", {})[i] = text = peer.recognise(bgr(images[i], boxes[i]))
        return digits_only(text)

    def ours(i):
        reading = read_frames(model, frame(images[i], records[i])[None])[0]
        confidences[i] = reading.confidence
        return reading.number

    def ours_batched():
        answers = []
        for begin in range(0, count, BATCH):
            chunk = range(begin, min(count, begin + BATCH))
            frames = np.stack([frame(images[i], records[i]) for i in chunk])
            answers += [reading.number for reading in read_frames(model, frames, batch_size=BATCH)]
        return answers

    def rapid_scene(i):
        lines = peer.detect_and_recognise(bgr(images[i]), use_cls=True)
        raw.setdefault("scene", {})[i] = text = "".join(lines)
        return digits_only(text)

    def ours_scene(i):
        return read_frames(model, frame(images[i])[None])[0].number

    return {"rapid": rapid, "ours": ours, "ours_batched": ours_batched,
            "rapid_scene": rapid_scene, "ours_scene": ours_scene}


def _time_on_crops(readers, count):
    """After a warm-up, both readers one image at a time (interleaved), then ours in
    batches: (answers, seconds, batched answers, seconds per batched pass)."""
    for i in range(min(WARMUP, count)):
        readers["rapid"](i), readers["ours"](i)
    readers["ours_batched"]()
    answers, seconds = interleaved(count, {"rapidocr": readers["rapid"], "ours": readers["ours"]})
    batched_answers = readers["ours_batched"]()
    batched_seconds = time_per_call(readers["ours_batched"], warmup=0, repeats=3, min_seconds=0)
    return answers, seconds, batched_answers, batched_seconds


def _crop_rows(answers, seconds, batched_answers, batched_seconds, truths, model_name):
    count = len(truths)
    return [
        {"reader": "RapidOCR PP-OCRv4 recogniser", "input": "crop, native size", "mode": "1 image per call",
         "accuracy": accuracy(answers["rapidocr"], truths), **speed(seconds["rapidocr"])},
        {"reader": f"kerasvhn {model_name}", "input": "crop, 54x54 frame", "mode": "1 image per call",
         "accuracy": accuracy(answers["ours"], truths), **speed(seconds["ours"])},
        {"reader": f"kerasvhn {model_name}", "input": "crop, 54x54 frame", "mode": f"batches of {BATCH}",
         "accuracy": accuracy(batched_answers, truths), "images_per_s": count / batched_seconds,
         "median_ms": None},
    ]


def _time_on_scenes(readers, count):
    """Both readers on whole scenes (no boxes), interleaved after a short warm-up."""
    for i in range(min(2, count)):
        readers["rapid_scene"](i), readers["ours_scene"](i)
    return interleaved(count, {"rapidocr": readers["rapid_scene"], "ours": readers["ours_scene"]})


def _scene_rows(scene_answers, scene_seconds, truths, model_name):
    return [
        {"reader": "RapidOCR PP-OCRv4 det+cls+rec", "input": "whole scene", "mode": "1 image per call",
         "accuracy": accuracy(scene_answers["rapidocr"], truths), **speed(scene_seconds["rapidocr"])},
        {"reader": f"kerasvhn {model_name}", "input": "whole scene, 54x54 frame", "mode": "1 image per call",
         "accuracy": accuracy(scene_answers["ours"], truths), **speed(scene_seconds["ours"])},
    ]


def _print_rows(title, rows):
    print()
    print(title)
    print()
    print(markdown_table(rows, [
        ("reader", "reader", "{}"),
        ("input", "input", "{}"),
        ("mode", "timed", "{}"),
        ("accuracy", "whole-number accuracy %", "{:.1f}"),
        ("images_per_s", "images/s", "{:,.1f}"),
        ("median_ms", "median ms/image", "{:.1f}"),
        ("speed_vs_rapidocr", "speed vs RapidOCR recogniser", "{:.2f}x"),
    ]))


def _summary(rows, answers, batched_answers, peer_texts, truths):
    ours_right = [a == t for a, t in zip(answers["ours"], truths)]
    peer_right = [a == t for a, t in zip(answers["rapidocr"], truths)]
    return {
        "accuracy_points_ours_minus_rapidocr": rows[1]["accuracy"] - rows[0]["accuracy"],
        "speed_ours_per_image_vs_rapidocr": rows[1]["speed_vs_rapidocr"],
        "speed_ours_batched_vs_rapidocr": rows[2]["speed_vs_rapidocr"],
        "only_ours_right": sum(o and not p for o, p in zip(ours_right, peer_right)),
        "only_rapidocr_right": sum(p and not o for o, p in zip(ours_right, peer_right)),
        "batched_answers_differ": sum(a != b for a, b in zip(batched_answers, answers["ours"])),
        "rapidocr_texts_with_non_digits": sum(t != digits_only(t) for t in peer_texts),
        "rapidocr_no_digits": sum(not digits_only(t) for t in peer_texts),
        "numbers_over_5_digits": sum(len(t) > 5 for t in truths),
    }


def _print_summary(summary, count):
    print()
    print(
        f"ours minus RapidOCR, same crops: {summary['accuracy_points_ours_minus_rapidocr']:+.1f} points "
        f"(only ours right: {summary['only_ours_right']}, only RapidOCR right: {summary['only_rapidocr_right']}); "
        f"speed {summary['speed_ours_per_image_vs_rapidocr']:.2f}x one image at a time, "
        f"{summary['speed_ours_batched_vs_rapidocr']:.2f}x in batches of {BATCH} "
        f"({min(count, BATCH)} images per batch here)"
    )
    print(
        f"RapidOCR's text had other characters than digits {summary['rapidocr_texts_with_non_digits']} times "
        f"(dropped) and no digit {summary['rapidocr_no_digits']} times; "
        f"{summary['numbers_over_5_digits']} numbers have 6 digits (ours reads at most 5); "
        f"ours batched vs one at a time: {summary['batched_answers_differ']} answers differ"
    )


def _accuracy_by_length(answers, truths):
    peer_by_length, counts = by_length(answers["rapidocr"], truths)
    ours_by_length, _ = by_length(answers["ours"], truths)
    return {"images": counts, "rapidocr": peer_by_length, "ours": ours_by_length}


def _print_by_length(table):
    print()
    print(markdown_table(
        [{"digits": n, "images": table["images"][n], "rapidocr": table["rapidocr"][n], "ours": table["ours"][n]}
         for n in table["images"]],
        [("digits", "digits", "{}"), ("images", "images", "{}"),
         ("rapidocr", "RapidOCR accuracy %", "{:.1f}"), ("ours", "ours accuracy %", "{:.1f}")],
    ))


def _print_fixture(folder, fixture_rows):
    print()
    print(f"Real SVHN images ({folder}), cropped by their boxes:")
    print()
    print(markdown_table(fixture_rows, [
        ("image", "image", "{}"), ("size", "size", "{}"), ("truth", "truth", "{}"),
        ("rapidocr_text", "RapidOCR text", "{!r}"), ("rapidocr", "RapidOCR", "{}"),
        ("ours", "ours", "{}"), ("ours_confidence", "our confidence", "{:.2f}"),
    ]))


def _answer_rows(records, truths, raw, answers, confidences, scene_answers):
    """Every image's answers, for the JSON file (with the whole-scene ones under --full)."""
    answer_rows = [
        {"name": r["name"], "truth": t, "rapidocr_text": raw["crop"][i], "rapidocr": answers["rapidocr"][i],
         "ours": answers["ours"][i], "ours_confidence": confidences[i]}
        for i, (r, t) in enumerate(zip(records, truths))
    ]
    if scene_answers is not None:
        for i, row in enumerate(answer_rows):
            row.update(rapidocr_scene_text=raw["scene"][i], ours_scene=scene_answers["ours"][i])
    return answer_rows


if __name__ == "__main__":
    main()
