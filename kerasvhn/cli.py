"""The `kerasvhn` command line.

    kerasvhn demo [--out DIR] [--train-count N] [--test-count N] [--epochs N] [--seed S]
    kerasvhn synth-preview OUT.png [--count N] [--seed S]
    kerasvhn info
    kerasvhn download DATA_DIR [--splits train test extra] [--base-url URL]
    kerasvhn prepare SRC OUT [--max-digits N] [--workers N]
    kerasvhn attack --model M.keras (--data SPLIT.h5 | --synthetic N) [--eps ...] [--attacks ...]

The Keras backend is the one KERAS_BACKEND names (tensorflow by default).
"""

import argparse
import sys
from pathlib import Path

PREVIEW_LIMIT = 1024


def _int_at_least(minimum):
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


def _png_path(text):
    if not text.lower().endswith(".png"):
        raise argparse.ArgumentTypeError(f"the contact sheet is a PNG file: give a name ending in .png, got {text!r}")
    return Path(text)


def build_parser():
    from kerasvhn import demo

    parser = argparse.ArgumentParser(
        prog="kerasvhn",
        description="Read multi-digit house numbers with Keras 3 (Goodfellow et al. 2013). "
        "The Keras backend is the one KERAS_BACKEND names (tensorflow by default).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "demo",
        help="train the small model on synthetic house numbers and report how well it reads a held-out set",
        description="Renders synthetic house numbers, trains MultiDigitNet('small') on random 54x54 "
        "crops, reads a held-out test set and writes history.json, training_curves.png, "
        "examples.png and model.keras to the output folder.",
    )
    run.add_argument("--out", type=Path, default=Path("reports/demo"), help="output folder (default: %(default)s)")
    run.add_argument("--train-count", type=_int_at_least(1), default=demo.TRAIN_COUNT,
                     help="training images (default: %(default)s)")
    run.add_argument("--test-count", type=_int_at_least(1), default=demo.TEST_COUNT,
                     help="held-out test images (default: %(default)s)")
    run.add_argument("--epochs", type=_int_at_least(1), default=demo.EPOCHS, help="epochs (default: %(default)s)")
    run.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default: %(default)s)")
    run.add_argument("--quiet", action="store_true", help="no per-epoch progress from Keras")

    preview = commands.add_parser(
        "synth-preview",
        help="write a contact sheet of synthetic house numbers with their labels",
        description="Renders synthetic house numbers (kerasvhn.data.render_numbers) and writes "
        "them with their labels as one PNG.",
    )
    preview.add_argument("out", type=_png_path, metavar="OUT.png", help="the PNG file to write")
    preview.add_argument("--count", type=_int_at_least(1), default=64,
                         help=f"images, at most {PREVIEW_LIMIT} (default: %(default)s)")
    preview.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default: %(default)s)")

    commands.add_parser(
        "info",
        help="show the Keras backend, the package version and the presets",
        description="Prints the Keras backend, the kerasvhn version, and each preset's parameter "
        "count and input shape.",
    )
    fetch = commands.add_parser(
        "download",
        help="download and extract the official SVHN format-1 tarballs (resumable)",
        description="Fetches train/test/extra .tar.gz into DATA_DIR with resume, size and checksum "
        "checks, then extracts each to DATA_DIR/<split>/.",
    )
    fetch.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    fetch.add_argument("--splits", nargs="+", default=["train", "test"], choices=["train", "test", "extra"])
    fetch.add_argument("--base-url", default=None, help="a mirror of the official files")

    prepare = commands.add_parser(
        "prepare",
        help="crop and resize SVHN format-1 folders into cached 64x64 HDF5 splits",
        description="The paper's preprocessing: for each split folder in SRC (train/, test/, extra/, "
        "or SRC itself), the union of each image's digit boxes expanded by 30%%, cropped and resized "
        "to 64x64, written to OUT/<split>.h5. Returns at once when the cache exists.",
    )
    prepare.add_argument("src", type=Path, metavar="SRC")
    prepare.add_argument("out", type=Path, metavar="OUT")
    prepare.add_argument("--max-digits", type=_int_at_least(1), default=5)
    prepare.add_argument("--workers", type=_int_at_least(1), default=None, help="processes (default: 2 at most)")

    from kerasvhn.adversarial.command import add_attack_arguments

    attack = commands.add_parser(
        "attack",
        help="robustness report of a saved model under FGSM/PGD (table, CSV, plot, image grid)",
        description="Attacks a saved model (.keras) on a prepared split (.h5), an .npz, or synthetic "
        "numbers at each eps, prints whole-number and per-digit accuracy, and writes "
        "robustness.csv, robustness.png and adversarial_examples.png to --out.",
    )
    add_attack_arguments(attack)
    return parser


def _download(args):
    from kerasvhn.data import download

    kwargs = {"base_url": args.base_url} if args.base_url else {}
    download.download_svhn(args.data_dir, splits=tuple(args.splits), **kwargs)
    print(f"SVHN {', '.join(args.splits)} in {args.data_dir}")


def _prepare(args):
    from kerasvhn.data.prepare import prepare

    for summary in prepare(args.src, args.out, max_digits=args.max_digits, workers=args.workers):
        print(summary)


def _info(out):
    import keras

    import kerasvhn

    print(f"kerasvhn {kerasvhn.__version__}", file=out)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}", file=out)
    print("presets:", file=out)
    for name in kerasvhn.PRESETS:
        model = kerasvhn.MultiDigitNet(name)
        shape = "x".join(str(d) for d in model.input_shape[1:])
        print(f"  {name:<12} {model.count_params():>12,} parameters   input {shape}", file=out)
        del model


def synth_preview(path, count=64, seed=0):
    """Writes a contact sheet of `count` rendered images with their labels to `path`."""
    from kerasvhn.data.synth import render_numbers
    from kerasvhn.demo import _figure
    from kerasvhn.sequence import labels_to_numbers

    images, labels = render_numbers(count, seed=seed)
    numbers = labels_to_numbers(labels)
    columns = min(count, 10)
    rows = -(-count // columns)
    figure = _figure(columns * 1.2, rows * 1.4)
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < count:
            axis.imshow(images[index])
            axis.set_title(numbers[index] or "(none)", fontsize=9)
    figure.suptitle(f"kerasvhn.data.render_numbers({count}, seed={seed})", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    return numbers


def _user_errors():
    """Errors that describe bad input (printed without a traceback)."""
    from kerasvhn.data.digitstruct import DigitStructError
    from kerasvhn.data.download import DownloadError
    from kerasvhn.data.prepare import PrepareError

    return (OSError, DigitStructError, DownloadError, PrepareError)


def main(argv=None):
    """Runs the command line; returns the exit status (argparse exits with 2 on bad
    arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        parser.exit(2, "\nkerasvhn: error: choose a command: demo, download, prepare, attack, synth-preview or info\n")
    try:
        if args.command == "info":
            _info(sys.stdout)
        elif args.command == "synth-preview":
            if args.count > PREVIEW_LIMIT:
                parser.error(f"synth-preview: --count must be at most {PREVIEW_LIMIT}, got {args.count}")
            if not args.out.parent.is_dir():
                parser.error(f"synth-preview: the folder of {args.out} does not exist")
            synth_preview(args.out, args.count, args.seed)
            print(f"wrote {args.count} images to {args.out}")
        elif args.command == "download":
            _download(args)
        elif args.command == "prepare":
            _prepare(args)
        elif args.command == "attack":
            from kerasvhn.adversarial.command import attack_main

            try:
                return attack_main(args)
            except ValueError as error:  # data that does not fit the model
                print(f"kerasvhn: error: {error}", file=sys.stderr)
                return 1
        elif args.command == "demo":
            if args.out.exists() and not args.out.is_dir():
                parser.error(f"demo: --out {args.out} exists and is not a folder")
            from kerasvhn.demo import run_demo

            run_demo(
                args.out,
                train_count=args.train_count,
                test_count=args.test_count,
                epochs=args.epochs,
                seed=args.seed,
                verbose=0 if args.quiet else "auto",
            )
    except _user_errors() as error:
        print(f"kerasvhn: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kerasvhn: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
