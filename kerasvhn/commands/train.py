"""`kerasvhn train`: a MultiDigitNet trained on synthetic house numbers."""

import os
from pathlib import Path

from kerasvhn.commands.arguments import PRESET_CHOICES, add_look_arguments, int_at_least, looks, probability

HELP = "train a MultiDigitNet on synthetic house numbers and save it"
DESCRIPTION = (
    "Renders COUNT synthetic house numbers (purpose 'train', training fonts and backgrounds), trains the preset on "
    "random 54x54 crops with Adam and a cosine schedule, scores it on synthetic test images (purpose 'test', "
    "held-out fonts and backgrounds), and saves OUT: a .keras model, or the weights alone when OUT ends in "
    ".weights.h5 (with the model's config beside them in .config.json). The model records the images it was "
    "trained on, so that evaluations can refuse them."
)


def add_arguments(parser):
    parser.add_argument("out", type=Path, metavar="OUT", nargs="?", default=Path("model.keras"),
                        help="model.keras or name.weights.h5 (default: %(default)s)")
    parser.add_argument("--preset", default="small", choices=PRESET_CHOICES, help="architecture (default: %(default)s)")
    parser.add_argument("--count", type=int_at_least(1), default=20_000, help="training images (default: %(default)s)")
    parser.add_argument("--epochs", type=int_at_least(1), default=5, help="epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=64, help="(default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak learning rate (default: %(default)s)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--from-preset", default=None, metavar="NAME",
                       help="start from these weights (e.g. small_synthetic) instead of fresh ones")
    start.add_argument("--initial-weights", type=Path, default=None, metavar="PATH",
                       help="start from this model file (.keras, or .weights.h5 of the --preset architecture)")
    parser.add_argument("--test-count", type=int_at_least(1), default=2000,
                        help="synthetic test images scored at the end (default: %(default)s)")
    parser.add_argument("--photo-share", type=probability, default=None,
                        help="share of training images framed like a whole street photo rather than cropped "
                        "around the number (default: 0.15)")
    add_look_arguments(parser)


def run(args):
    name = str(args.out)
    if not name.endswith((".keras", ".weights.h5")):
        raise ValueError(f"OUT must end in .keras or .weights.h5, got {name!r}")
    if not os.path.isdir(os.path.dirname(os.path.abspath(name))):
        raise OSError(f"the folder of {args.out} does not exist")
    if not args.learning_rate > 0:
        raise ValueError(f"--learning-rate must be positive, got {args.learning_rate}")
    from kerasvhn.data.synth import PHOTO_SHARE
    from kerasvhn.evaluate import evaluate_model, summary_lines
    from kerasvhn.saving import load_model, save_model
    from kerasvhn.train import render, train_on_synthetic

    initial = None
    if args.from_preset:
        initial = load_model(args.from_preset)
    elif args.initial_weights:
        initial = load_model(args.initial_weights, preset=args.preset)
    photo_share = PHOTO_SHARE if args.photo_share is None else args.photo_share
    styles, effects = looks(args)
    model, _, speed = train_on_synthetic(
        args.count, args.epochs, args.seed, preset=args.preset, batch_size=args.batch_size,
        learning_rate=args.learning_rate, initial_model=initial, photo_share=photo_share, styles=styles,
        effects=effects,
    )
    print(f"training: {speed:.0f} images/s")
    images, labels = render("test", args.test_count, args.seed, "held_out")
    for line in summary_lines(evaluate_model(model, images, labels), "held-out fonts and backgrounds"):
        print(line)
    save_model(model, name)
    print(f"saved {name} ({os.path.getsize(name) / 1e6:.1f} MB)")
    return 0
