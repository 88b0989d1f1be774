"""The command line's synth, train, evaluate, predict and bench commands: their
arguments and what they run (`kerasvhn.cli` dispatches)."""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from kerasvhn.data.synth import LENGTH_MIXES, PHOTO_SHARE

PREVIEW_COUNT = 40


def int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _probability(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


# ----------------------------------------------------------------------------- synth


def add_synth(commands):
    synth = commands.add_parser(
        "synth",
        help="write synthetic house numbers as an SVHN format-1 folder (PNGs + digitStruct.mat)",
        description="Renders N street scenes with house numbers and writes OUT/1.png .. OUT/N.png and "
        "OUT/digitStruct.mat (one tight box per digit, label 10 for the digit 0), readable by "
        "`kerasvhn prepare`, h5py and mat73. The same seed gives the same files.",
    )
    synth.add_argument("out", type=Path, metavar="OUT", help="the folder to write (created if missing)")
    synth.add_argument("--count", type=int_at_least(1), default=1000, help="images (default: %(default)s)")
    synth.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default: %(default)s)")
    synth.add_argument("--split", choices=["train", "held_out"], default="train",
                       help="fonts and backgrounds: those of training, or the held-out ones (default: %(default)s)")
    synth.add_argument("--lengths", choices=sorted(LENGTH_MIXES), default="train",
                       help="mix of number lengths: train (long numbers frequent) or svhn (as in real "
                       "SVHN, mostly 2 and 3 digits) (default: %(default)s)")
    synth.add_argument("--workers", type=int_at_least(1), default=None, help="processes (default: 2 at most)")
    synth.add_argument("--preview", action="store_true",
                       help=f"also write OUT/preview.png: the first {PREVIEW_COUNT} images with their boxes")


def contact_sheet(folder, records, path, count=PREVIEW_COUNT, columns=8):
    """A PNG of the first `count` images of a format-1 folder with their boxes and numbers."""
    from matplotlib.patches import Rectangle
    from PIL import Image

    from kerasvhn.plots import figure

    records = list(records)[:count]
    rows = -(-len(records) // columns)
    fig = figure(columns * 1.6, rows * 1.25)
    axes = fig.subplots(rows, columns, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, record in zip(axes.flat, records):
        with Image.open(os.path.join(folder, record["name"])) as image:
            axis.imshow(image.convert("RGB"))
        for left, top, width, height in zip(record["left"], record["top"], record["width"], record["height"]):
            axis.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, lw=0.7, ec="#00e5ff"))
        number = "".join(str(int(label) % 10) for label in record["label"])
        axis.set_title(number, fontsize=8)
    fig.suptitle(f"kerasvhn synth: {folder} (boxes from digitStruct.mat)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def run_synth(args):
    from kerasvhn.data.synth import synthesize

    if args.out.exists() and not args.out.is_dir():
        raise OSError(f"{args.out} exists and is not a folder")
    start = time.perf_counter()
    records = synthesize(args.out, args.count, seed=args.seed, split=args.split, workers=args.workers,
                         lengths=args.lengths)
    seconds = time.perf_counter() - start
    print(f"wrote {len(records)} images and digitStruct.mat to {args.out} in {seconds:.1f} s "
          f"({len(records) / seconds:.0f} images/s)")
    if args.preview:
        path = args.out / "preview.png"
        contact_sheet(args.out, records, path)
        print(f"wrote {path}")
    return 0


# ----------------------------------------------------------------------------- train


def add_train(commands):
    train = commands.add_parser(
        "train",
        help="train a MultiDigitNet on synthetic house numbers and save it",
        description="Renders COUNT synthetic house numbers (training fonts and backgrounds), trains "
        "the preset on random 54x54 crops with Adam and a cosine schedule, reports its accuracy on a "
        "held-out synthetic set, and saves OUT: a .keras model, or only the weights when OUT ends "
        "in .weights.h5.",
    )
    train.add_argument("out", type=Path, metavar="OUT", help="model.keras or name.weights.h5")
    train.add_argument("--preset", default="small", choices=["small", "seed", "goodfellow"],
                       help="architecture (default: %(default)s)")
    train.add_argument("--count", type=int_at_least(1), default=20_000,
                       help="training images (default: %(default)s)")
    train.add_argument("--epochs", type=int_at_least(1), default=5, help="epochs (default: %(default)s)")
    train.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default: %(default)s)")
    train.add_argument("--batch-size", type=int_at_least(1), default=64, help="(default: %(default)s)")
    train.add_argument("--learning-rate", type=float, default=2e-3, help="peak learning rate (default: %(default)s)")
    start = train.add_mutually_exclusive_group()
    start.add_argument("--from-preset", default=None, metavar="NAME",
                       help="start from these weights (e.g. small_synthetic) instead of fresh ones")
    start.add_argument("--initial-weights", type=Path, default=None, metavar="PATH",
                       help="start from this .weights.h5 file of the --preset architecture")
    train.add_argument("--test-count", type=int_at_least(1), default=2000,
                       help="held-out synthetic images scored at the end (default: %(default)s)")
    train.add_argument("--photo-share", type=_probability, default=PHOTO_SHARE,
                       help="share of training images framed like a whole street photo rather than "
                       "cropped around the number (default: %(default)s)")


def run_train(args):
    name = str(args.out)
    if not (name.endswith(".keras") or name.endswith(".weights.h5")):
        raise ValueError(f"OUT must end in .keras or .weights.h5, got {name!r}")
    if args.out.parent and not args.out.parent.exists():
        raise OSError(f"the folder of {args.out} does not exist")
    if not args.learning_rate > 0:
        raise ValueError(f"--learning-rate must be positive, got {args.learning_rate}")
    from kerasvhn.evaluate import evaluate_model, summary_lines
    from kerasvhn.model import MultiDigitNet
    from kerasvhn.train import render, train_on_synthetic

    initial = None
    if args.from_preset:
        initial = MultiDigitNet.from_preset(args.from_preset)
    elif args.initial_weights:
        if not args.initial_weights.is_file():
            raise ValueError(f"--initial-weights {args.initial_weights} is not a file")
        initial = MultiDigitNet(args.preset)
        initial.load_weights(args.initial_weights)
    model, _, speed = train_on_synthetic(
        args.count, args.epochs, args.seed, preset=args.preset, batch_size=args.batch_size,
        learning_rate=args.learning_rate, initial_model=initial, photo_share=args.photo_share,
    )
    print(f"training: {speed:.0f} images/s")
    images, labels = render("held-out test", args.test_count, args.seed + 1, "held_out")
    for line in summary_lines(evaluate_model(model, images, labels), "held-out fonts and backgrounds"):
        print(line)
    if name.endswith(".weights.h5"):
        # The model's weights alone (an uncompiled copy: no optimizer state), as shipped.
        bare = MultiDigitNet.from_config(model.get_config())
        bare.set_weights(model.get_weights())
        bare.save_weights(name)
    else:
        model.save(name)
    print(f"saved {name} ({os.path.getsize(name) / 1e6:.1f} MB)")
    return 0


# ----------------------------------------------------------------------------- evaluate


def add_evaluate(commands):
    evaluate = commands.add_parser(
        "evaluate",
        help="score a model: whole-number and per-digit accuracy, coverage at 98%%",
        description="Reads a prepared split (.h5 from `kerasvhn prepare`) or freshly rendered "
        "synthetic numbers and prints the model's accuracy.",
    )
    evaluate.add_argument("--model", default="small_synthetic",
                          help="a .keras file or a preset name (default: %(default)s, the shipped model)")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="a prepared split, e.g. prepared/test.h5")
    source.add_argument("--synthetic", type=int_at_least(1), metavar="N", help="N synthetic images")
    evaluate.add_argument("--split", choices=["train", "held_out"], default="held_out",
                          help="with --synthetic: which fonts and backgrounds (default: %(default)s)")
    evaluate.add_argument("--seed", type=int_at_least(0), default=1, help="with --synthetic (default: %(default)s)")
    evaluate.add_argument("--lengths", choices=sorted(LENGTH_MIXES), default="train",
                          help="with --synthetic: the mix of number lengths (default: %(default)s)")
    evaluate.add_argument("--photo-share", type=_probability, default=PHOTO_SHARE,
                          help="with --synthetic: share of images framed like a whole street photo "
                          "(default: %(default)s)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object instead of lines")


def run_evaluate(args):
    from kerasvhn.evaluate import evaluate_model, summary_lines
    from kerasvhn.predict import load_model

    model = load_model(args.model)
    if args.data is not None:
        from kerasvhn.data.batches import read_split

        images, labels = read_split(args.data)
        what = str(args.data)
    else:
        from kerasvhn.data.synth import render_numbers

        images, labels = render_numbers(args.synthetic, seed=args.seed, split=args.split, workers=2,
                                        lengths=args.lengths, photo_share=args.photo_share)
        what = (f"{args.synthetic} synthetic images ({args.split}, seed {args.seed}, {args.lengths} lengths, "
                f"photo share {args.photo_share})")
    scores = evaluate_model(model, images, labels)
    if args.json:
        keep = ("count", "whole_number_accuracy", "per_digit_accuracy", "coverage_at_98", "predict_images_per_s",
                "by_length")
        print(json.dumps({"data": what, **{k: scores[k] for k in keep}}))
    else:
        for line in summary_lines(scores, what):
            print(line)
    return 0


# ----------------------------------------------------------------------------- predict


def add_predict(commands):
    predict = commands.add_parser(
        "predict",
        help="read the house number in each image",
        description="Prints each image's number and confidence. By default the whole image is the "
        "frame (crop it around the number for best results); with --digitstruct, each image is "
        "cropped by its boxes (matched by file name) as `kerasvhn prepare` does. An image without "
        "a number reads as \"\" with a low confidence.",
    )
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--json", action="store_true",
                         help='one JSON object per line: {"file", "number", "confidence"}')
    predict.add_argument("--model", default=None, help="a .keras file or a preset (default: the shipped model)")
    predict.add_argument("--digitstruct", type=Path, default=None, help="a digitStruct.mat with the images' boxes")
    predict.add_argument("--min-confidence", type=_probability, default=None,
                         help="answer \"\" below this probability (default: 0.3)")


def run_predict(args):
    from kerasvhn.predict import MIN_CONFIDENCE, frame, load_image, load_model, read_frames

    records = None
    if args.digitstruct is not None:
        from kerasvhn.data.digitstruct import read_digitstruct

        records = {r["name"]: r for r in read_digitstruct(str(args.digitstruct)).records()}
    frames, files, failed = [], [], 0
    for path in args.images:
        try:
            record = None
            if records is not None:
                record = records.get(os.path.basename(path))
                if record is None:
                    raise ValueError(f"{path}: no entry named {os.path.basename(path)!r} in {args.digitstruct}")
            frames.append(frame(load_image(path), record))
            files.append(path)
        except ValueError as error:
            print(f"kerasvhn: error: {error}", file=sys.stderr)
            failed += 1
    if frames:
        import numpy as np

        threshold = MIN_CONFIDENCE if args.min_confidence is None else args.min_confidence
        readings = read_frames(load_model(args.model), np.stack(frames), min_confidence=threshold)
        for path, (number, confidence) in zip(files, readings):
            if args.json:
                print(json.dumps({"file": path, "number": number, "confidence": round(confidence, 4)}))
            else:
                print(f"{path}\t{number or '(none)'}\t{confidence:.3f}")
    return 1 if failed else 0


# ----------------------------------------------------------------------------- bench


def add_bench(commands):
    bench = commands.add_parser(
        "bench",
        help="measure this machine: synthesis, digitStruct parsing and reading speed",
        description="Writes COUNT synthetic scenes to a temporary folder (images/s), parses its "
        "digitStruct.mat with the compiled and the pure-Python reader, and reads COUNT images with the "
        "shipped model in batches and one at a time. The full kernel, adversarial and data "
        "benchmarks are the scripts in bench/ of the source tree.",
    )
    bench.add_argument("--count", type=int_at_least(16), default=600, help="images (default: %(default)s)")


def run_bench(args):
    import tempfile

    import numpy as np

    from kerasvhn.data.digitstruct import read_digitstruct
    from kerasvhn.data.synth import synthesize
    from kerasvhn.predict import frame, load_image, load_model, read_frames

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        records = synthesize(folder, args.count, seed=0, progress=False)
        rows.append(("synthesise scenes (PNG + digitStruct.mat)", args.count / (time.perf_counter() - start)))
        mat = os.path.join(folder, "digitStruct.mat")
        for label, method in (("parse digitStruct.mat, compiled", "fast"), ("parse digitStruct.mat, pure Python", "pure")):
            try:
                start = time.perf_counter()
                list(read_digitstruct(mat, method=method).records())
                rows.append((label, args.count / (time.perf_counter() - start)))
            except ImportError:
                rows.append((label + " (not built)", float("nan")))
        frames = np.stack([frame(load_image(os.path.join(folder, r["name"]))) for r in records])
    model = load_model(None)
    read_frames(model, frames[:256])
    start = time.perf_counter()
    read_frames(model, frames)
    rows.append(("read numbers, batches of 256", len(frames) / (time.perf_counter() - start)))
    single = frames[:32]
    read_frames(model, single[:1])
    start = time.perf_counter()
    for one in single:
        read_frames(model, one[None])
    rows.append(("read numbers, one image at a time", len(single) / (time.perf_counter() - start)))
    import keras

    print(f"kerasvhn bench: {args.count} images, {keras.backend.backend()} backend, {os.cpu_count()} CPU cores")
    for label, rate in rows:
        print(f"  {label:<42} {rate:>10,.0f} images/s")
    return 0
