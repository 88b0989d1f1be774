"""`kerasvhn demo`: the main job (what `make demo` runs)."""

from pathlib import Path

from kerasvhn.commands.arguments import int_at_least

HELP = "the main job: synthesise, prepare, train, evaluate, attack, read photos; a report folder"
DESCRIPTION = (
    "Synthesises SVHN format-1 folders, prepares them, fine-tunes the shipped small model (or trains from scratch) "
    "on random 54x54 crops, reads the test split and a split of unseen fonts and backgrounds (drawn for "
    "evaluation: never training images), runs the robustness report, reads whole test photos with the shipped "
    "model, and writes report.json, plots and model.keras to --out."
)
# The demo's defaults, here so that `kerasvhn --help` need not import the demo (and Keras).
TRAIN_COUNT = 16_000
TEST_COUNT = 2_000
EPOCHS = 2


def add_arguments(parser):
    parser.add_argument("--out", type=Path, default=Path("reports/demo"), help="output folder (default: %(default)s)")
    parser.add_argument("--train-count", type=int_at_least(1), default=TRAIN_COUNT,
                        help="training scenes (default: %(default)s)")
    parser.add_argument("--test-count", type=int_at_least(1), default=TEST_COUNT,
                        help="scenes per test split (default: %(default)s)")
    parser.add_argument("--epochs", type=int_at_least(1), default=EPOCHS, help="epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--from-scratch", action="store_true",
                        help="train from fresh weights instead of fine-tuning the shipped model")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress from Keras")


def run(args):
    if args.out.exists() and not args.out.is_dir():
        raise OSError(f"--out {args.out} exists and is not a folder")
    from kerasvhn.demo import run_demo

    run_demo(args.out, train_count=args.train_count, test_count=args.test_count, epochs=args.epochs, seed=args.seed,
             from_scratch=args.from_scratch, verbose=0 if args.quiet else "auto")
    return 0
