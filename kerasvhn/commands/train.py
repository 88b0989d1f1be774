"""`kerasvhn train`: a MultiDigitNet trained on real SVHN (--data) or on synthetic
house numbers (the default, or --synthetic)."""

import os
import sys
from pathlib import Path

from kerasvhn.commands.arguments import (PRESET_CHOICES, add_look_arguments, check_model_path, int_at_least, looks,
                                         probability)

HELP = "train a MultiDigitNet on prepared SVHN (--data) or on synthetic house numbers, and save it"
DESCRIPTION = (
    "With --data DIR (the folder `kerasvhn prepare` wrote, or SVHN's format-1 folders, prepared on the fly): trains "
    "the preset on SVHN's train split (and extra, --extra) less a held-out validation set (4,000 images of train "
    "and 2,000 of extra), with the preset's recipe; checkpoints every epoch into the run folder, resumes where a "
    "run stopped (--resume), keeps the weights of the epoch of the best validation whole-number accuracy, stops "
    "early, logs every epoch (log.csv, training_curves.png), and scores the test split at the end. Without "
    "--data (or with --synthetic): renders COUNT synthetic house numbers (purpose 'train', training fonts and "
    "backgrounds), trains on random 54x54 crops with Adam and a cosine schedule and scores synthetic test images "
    "(purpose 'test', held-out fonts and backgrounds). OUT is a .keras model, or the weights alone when it ends in "
    ".weights.h5 (with the model's config beside them in .config.json). The model records the images it was "
    "trained on, so that evaluations can refuse them."
)
#: The synthetic path's defaults (unchanged); --data takes its defaults from the preset's recipe.
SYNTHETIC_DEFAULTS = {"preset": "small", "epochs": 5, "batch_size": 64, "learning_rate": 2e-3, "count": 20_000,
                      "test_count": 2000}
SVHN_ONLY = ("extra", "validation", "patience", "steps_per_epoch", "run_dir", "resume", "distribute",
             "mixed_precision")
SYNTHETIC_ONLY = ("count", "test_count", "photo_share", "style", "effect", "no_degradations", "located_photos",
                  "located_large_photos")


def add_arguments(parser):
    parser.add_argument("out", type=Path, metavar="OUT", nargs="?", default=Path("model.keras"),
                        help="model.keras or name.weights.h5 (default: %(default)s)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, metavar="DIR",
                        help="train on real SVHN: the folder `kerasvhn prepare` wrote (train.h5, test.h5, extra.h5), "
                        "or SVHN's format-1 folders (prepared into DIR/prepared)")
    source.add_argument("--synthetic", action="store_true", help="train on synthetic house numbers (the default)")
    parser.add_argument("--preset", default=None, choices=PRESET_CHOICES,
                        help="architecture (default: small; with --data, its recipe sets the defaults below)")
    parser.add_argument("--epochs", type=int_at_least(1), default=None, help="epochs (default: 5; --data: recipe)")
    parser.add_argument("--seed", type=int_at_least(0), default=None, help="random seed (default: 0)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=None, help="(default: 64; --data: recipe)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="peak learning rate (default: 2e-3; --data: recipe)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--from-preset", default=None, metavar="NAME",
                       help="start from these weights (e.g. small_synthetic) instead of fresh ones")
    start.add_argument("--initial-weights", type=Path, default=None, metavar="PATH",
                       help="start from this model file (.keras, or .weights.h5 of the --preset architecture)")
    start.add_argument("--widen-from", default=None, metavar="MODEL",
                       help="start from this narrower model (a file or a pretrained name, e.g. small_synthetic) "
                       "widened to --preset so that it reads as the narrow one does (Net2Net)")
    _add_svhn_arguments(parser.add_argument_group("real SVHN (--data)"))
    synthetic = parser.add_argument_group("synthetic house numbers (without --data)")
    synthetic.add_argument("--count", type=int_at_least(1), default=None, help="training images (default: 20000)")
    synthetic.add_argument("--test-count", type=int_at_least(1), default=None,
                           help="synthetic test images scored at the end (default: 2000)")
    synthetic.add_argument("--photo-share", type=probability, default=None,
                           help="share of training images framed like a whole street photo rather than cropped "
                           "around the number (default: 0.15)")
    synthetic.add_argument("--located-photos", type=int_at_least(0), default=None, metavar="N",
                           help="also train on the numbers of N synthetic whole photos (320-640 px), cut out as "
                           "the two stages frame a located box: three loosely placed boxes per number, and a "
                           "box holding no number (labelled '') in 30%% of the photos (default: 0)")
    synthetic.add_argument("--located-large-photos", type=int_at_least(0), default=None, metavar="N",
                           help="the same from N photos of 800-1280 px (default: 0)")
    add_look_arguments(synthetic)


def _add_svhn_arguments(group):
    group.add_argument("--extra", action="store_true", help="train on SVHN's extra split too, as the paper did")
    group.add_argument("--validation", default=None, metavar="TRAIN[,EXTRA]",
                       help="images held out for validation from train (and extra) (default: 4000,2000)")
    group.add_argument("--patience", type=int_at_least(1), default=None,
                       help="epochs without a better validation whole-number accuracy before stopping (recipe)")
    group.add_argument("--steps-per-epoch", type=int_at_least(1), default=None, metavar="N",
                       help="a bounded run: the first N batches of each epoch (default: all)")
    group.add_argument("--run-dir", type=Path, default=None, metavar="DIR",
                       help="checkpoints, log.csv, training_curves.png, run.json (default: OUT's name + .run)")
    group.add_argument("--resume", action="store_true",
                       help="go on with the run in the run folder from its last complete epoch, bit for bit")
    group.add_argument("--distribute", action="store_true",
                       help="every local device: keras DataParallel on jax, MirroredStrategy on tensorflow "
                       "(torch: torchrun + DDP, see the README)")
    group.add_argument("--mixed-precision", nargs="?", const="mixed_float16", default=None,
                       choices=("mixed_float16", "mixed_bfloat16"),
                       help="compute in float16 (or bfloat16) with float32 weights (default when given: "
                       "mixed_float16)")


def run(args):
    check_model_path(args.out)
    if args.learning_rate is not None and not args.learning_rate > 0:
        raise ValueError(f"--learning-rate must be positive, got {args.learning_rate}")
    misused = _misused(args, SYNTHETIC_ONLY if args.data else SVHN_ONLY)
    if misused:
        where = "training without --data" if args.data else "--data"
        raise ValueError(f"--{misused.replace('_', '-')} applies to {where} only")
    return _run_svhn(args) if args.data else _run_synthetic(args)


def _misused(args, names):
    return next((name for name in names if getattr(args, name) not in (None, False)), None)


def _initial_model(args, preset):
    from kerasvhn.saving import load_model

    if args.from_preset:
        return load_model(args.from_preset)
    if args.initial_weights:
        return load_model(args.initial_weights, preset=preset)
    if args.widen_from:
        from kerasvhn.model import MultiDigitNet
        from kerasvhn.widening import widen_model

        narrow = load_model(args.widen_from, preset="small")  # the architecture of a file without its config
        wide = widen_model(narrow, MultiDigitNet(preset or "small"), seed=args.seed or 0)
        print(f"widened {args.widen_from} ({narrow.count_params():,} parameters) to the {preset or 'small'} preset "
              f"({wide.count_params():,})")
        return wide
    return None


def run_folder(out):
    """The default run folder of OUT: its name without .keras / .weights.h5, plus .run."""
    name = str(out)
    stem = name[: -len(".weights.h5")] if name.endswith(".weights.h5") else name[: -len(".keras")]
    return Path(stem + ".run")


def _run_svhn(args):
    from kerasvhn.saving import save_model
    from kerasvhn.training.svhn import train_on_svhn
    from kerasvhn.training.svhn_data import parse_counts

    initial = _initial_model(args, args.preset)
    folder = args.run_dir or run_folder(args.out)
    print(f"run folder: {folder}")
    try:
        model, _, _ = train_on_svhn(
            args.data, folder, preset=args.preset, extra=args.extra or None, epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.learning_rate, patience=args.patience, seed=args.seed,
            validation=None if args.validation is None else parse_counts(args.validation),
            steps_per_epoch=args.steps_per_epoch, mixed_precision=args.mixed_precision,
            distribute=args.distribute or None, resume=args.resume, initial_model=initial,
        )
    except KeyboardInterrupt:
        from kerasvhn.training.long_run import RunFolder

        done = RunFolder(folder).epochs_done()
        print(f"interrupted: {done} complete epoch{'s' if done != 1 else ''} kept in {folder}; go on with "
              f"`kerasvhn train {args.out} --data {args.data} --resume`"
              + (f" --run-dir {folder}" if args.run_dir else ""), file=sys.stderr)
        raise
    save_model(model, str(args.out))
    print(f"saved {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB): the best epoch by validation "
          "whole-number accuracy")
    return 0


def _run_synthetic(args):
    from kerasvhn.data.synth import PHOTO_SHARE
    from kerasvhn.evaluate import evaluate_model, summary_lines
    from kerasvhn.saving import save_model
    from kerasvhn.train import render, train_on_synthetic

    value = {key: default if getattr(args, key) is None else getattr(args, key)
             for key, default in SYNTHETIC_DEFAULTS.items()}
    initial = _initial_model(args, value["preset"])
    photo_share = PHOTO_SHARE if args.photo_share is None else args.photo_share
    styles, effects = looks(args)
    seed = args.seed or 0
    model, _, speed = train_on_synthetic(
        value["count"], value["epochs"], seed, preset=value["preset"], batch_size=value["batch_size"],
        learning_rate=value["learning_rate"], initial_model=initial, photo_share=photo_share, styles=styles,
        effects=effects, located=(args.located_photos or 0, args.located_large_photos or 0),
    )
    print(f"training: {speed:.0f} images/s")
    images, labels = render("test", value["test_count"], seed, "held_out")
    for line in summary_lines(evaluate_model(model, images, labels), "held-out fonts and backgrounds"):
        print(line)
    save_model(model, str(args.out))
    print(f"saved {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB)")
    return 0
