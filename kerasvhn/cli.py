"""The `kerasvhn` command line.

    kerasvhn demo [--out DIR] [--train-count N] [--test-count N] [--epochs N] [--seed S]
    kerasvhn synth OUT [--count N] [--seed S] [--split train|held_out] [--preview]
    kerasvhn train OUT.keras [--count N] [--epochs N] [--seed S] [--from-preset NAME]
    kerasvhn evaluate [--model M] (--data SPLIT.h5 | --synthetic N)
    kerasvhn predict IMAGE... [--json] [--model M] [--digitstruct PATH]
    kerasvhn bench [--count N]
    kerasvhn info
    kerasvhn download DATA_DIR [--splits train test extra] [--base-url URL]
    kerasvhn prepare SRC OUT [--max-digits N] [--workers N]
    kerasvhn attack --model M.keras (--data SPLIT.h5 | --synthetic N) [--eps ...] [--attacks ...]

The Keras backend is the one KERAS_BACKEND names (tensorflow by default).
"""

import argparse
import sys
from pathlib import Path

from kerasvhn.cli_tasks import int_at_least

COMMANDS = ("synth", "download", "prepare", "train", "evaluate", "attack", "predict", "bench", "demo", "info")
TASKS = {
    "synth": "run_synth",
    "train": "run_train",
    "evaluate": "run_evaluate",
    "predict": "run_predict",
    "bench": "run_bench",
}


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
        help="the main job: synthesise, prepare, train, evaluate, attack, read photos; a report folder",
        description="Synthesises SVHN format-1 folders, prepares them, fine-tunes the shipped small "
        "model (or trains from scratch) on random 54x54 crops, reads the held-out test split and a "
        "split of unseen fonts and backgrounds, runs the robustness report, reads whole test photos "
        "with the shipped model, and writes report.json, plots and model.keras to --out.",
    )
    run.add_argument("--out", type=Path, default=Path("reports/demo"), help="output folder (default: %(default)s)")
    run.add_argument("--train-count", type=int_at_least(1), default=demo.TRAIN_COUNT,
                     help="training scenes (default: %(default)s)")
    run.add_argument("--test-count", type=int_at_least(1), default=demo.TEST_COUNT,
                     help="scenes per test split (default: %(default)s)")
    run.add_argument("--epochs", type=int_at_least(1), default=demo.EPOCHS, help="epochs (default: %(default)s)")
    run.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default: %(default)s)")
    run.add_argument("--from-scratch", action="store_true",
                     help="train from fresh weights instead of fine-tuning the shipped model")
    run.add_argument("--quiet", action="store_true", help="no per-epoch progress from Keras")

    from kerasvhn import cli_tasks

    cli_tasks.add_synth(commands)
    cli_tasks.add_train(commands)
    cli_tasks.add_evaluate(commands)
    cli_tasks.add_predict(commands)
    cli_tasks.add_bench(commands)

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
    prepare.add_argument("--max-digits", type=int_at_least(1), default=5)
    prepare.add_argument("--workers", type=int_at_least(1), default=None, help="processes (default: 2 at most)")

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
        parser.exit(2, f"\nkerasvhn: error: choose a command: {', '.join(COMMANDS)}\n")
    try:
        if args.command == "info":
            _info(sys.stdout)
        elif args.command in TASKS:
            from kerasvhn import cli_tasks

            try:
                return getattr(cli_tasks, TASKS[args.command])(args)
            except ValueError as error:  # arguments or data the command cannot use
                print(f"kerasvhn: error: {error}", file=sys.stderr)
                return 1
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
                from_scratch=args.from_scratch,
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
