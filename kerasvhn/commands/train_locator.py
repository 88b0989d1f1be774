"""`kerasvhn train_locator`: a NumberLocator trained on synthetic whole photos."""

import json
from pathlib import Path

from kerasvhn.commands.arguments import check_model_path, int_at_least

HELP = "train a NumberLocator (finds house numbers in whole photos) on synthetic photos and save it"
DESCRIPTION = (
    "Renders COUNT synthetic whole photos (doors, facades, walls, gates, mailboxes with 0 to 3 house numbers and "
    "other text; purpose 'train', training fonts and backgrounds) and a validation set, trains the locator on "
    "random windows of them, then scores its boxes on synthetic test photos with held-out fonts and backgrounds "
    "(precision and recall at IoU 0.5) and saves OUT: a .keras model, or the weights alone when OUT ends in "
    ".weights.h5 (with the config beside them in .config.json)."
)


def add_arguments(parser):
    from kerasvhn.locator_presets import LOCATOR_PRESETS

    parser.add_argument("out", type=Path, metavar="OUT", nargs="?", default=Path("locator.keras"),
                        help="locator.keras or name.weights.h5 (default: %(default)s)")
    parser.add_argument("--preset", default="locator_small", choices=sorted(LOCATOR_PRESETS),
                        help="architecture (default: %(default)s)")
    parser.add_argument("--count", type=int_at_least(1), default=40_000, help="training photos (default: %(default)s)")
    parser.add_argument("--validation-count", type=int_at_least(1), default=1_000,
                        help="validation photos (default: %(default)s)")
    parser.add_argument("--epochs", type=int_at_least(1), default=12, help="epochs (default: %(default)s)")
    parser.add_argument("--stop-after", type=int_at_least(1), default=None, metavar="EPOCHS",
                        help="stop after this many of the --epochs, the learning rate's schedule unchanged (the "
                        "first part of a longer run)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--more-photos", type=seed_and_count, action="append", default=[], metavar="SEED:COUNT",
                        help="also train on the first COUNT photos drawn with SEED (repeatable): more photos for a "
                        "locator that saw --count of --seed before")
    parser.add_argument("--batch-size", type=int_at_least(1), default=16, help="(default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak learning rate (default: %(default)s)")
    parser.add_argument("--crop", type=int_at_least(64), default=384,
                        help="side of the training windows, a multiple of 32 (default: %(default)s)")
    parser.add_argument("--iou-loss", type=float, default=0.0, metavar="WEIGHT",
                        help="add WEIGHT x (1 - GIoU) of each box to the L1 box loss (default: %(default)s, L1 alone)")
    parser.add_argument("--look-windows", type=float, default=0.0, metavar="SHARE",
                        help="cut this share of the training windows (of photos with numbers) as the locator's "
                             "second look cuts its windows: around a number, magnified as much (default: "
                             "%(default)s, none)")
    parser.add_argument("--decoy-windows", type=float, default=0.0, metavar="SHARE",
                        help="cut this share of all training windows as the second look cuts its windows, "
                             "around a random box where a first look's false box might lie (default: "
                             "%(default)s, none)")
    parser.add_argument("--initial-weights", type=Path, default=None, metavar="PATH",
                        help="continue training this locator (.keras, or .weights.h5 with its .config.json)")
    parser.add_argument("--test-count", type=int_at_least(1), default=1_000,
                        help="held-out synthetic test photos scored at the end (default: %(default)s)")
    parser.add_argument("--save-each-epoch", action="store_true",
                        help="also save the model after every epoch, as OUT with .epochN before its suffix "
                             "(locator.epoch2.keras): a long run's epochs to choose from")
    parser.add_argument("--json", action="store_true", help="print the scores as one JSON object")


def run(args):
    name = check_model_path(args.out)
    if args.stop_after is not None and args.stop_after > args.epochs:
        raise ValueError(f"--stop-after {args.stop_after} is more than --epochs {args.epochs}")
    if not args.iou_loss >= 0:
        raise ValueError(f"--iou-loss must be at least 0, got {args.iou_loss}")
    if not 0.0 <= args.look_windows <= 1.0:
        raise ValueError(f"--look-windows must be between 0 and 1, got {args.look_windows}")
    if not 0.0 <= args.decoy_windows <= 1.0:
        raise ValueError(f"--decoy-windows must be between 0 and 1, got {args.decoy_windows}")
    if args.crop % 32:
        raise ValueError(f"--crop must be a multiple of 32, got {args.crop}")
    from kerasvhn.locator import load_locator
    from kerasvhn.locator_training import SaveEachEpoch, evaluate_locator, train_locator
    from kerasvhn.saving import save_model

    callbacks = [SaveEachEpoch(name)] if args.save_each_epoch else []
    initial = load_locator(args.initial_weights) if args.initial_weights else None
    locator, history = train_locator(args.count, args.epochs, args.seed, validation_count=args.validation_count,
                                     preset=args.preset, batch_size=args.batch_size,
                                     learning_rate=args.learning_rate, crop=args.crop, initial_model=initial,
                                     stop_after=args.stop_after, more=args.more_photos,
                                     iou_weight=args.iou_loss, look_share=args.look_windows,
                                     decoy_share=args.decoy_windows, callbacks=callbacks)
    save_model(locator, name)
    scores = evaluate_locator(locator, args.test_count, seed=0, split="held_out", purpose="test")
    if args.json:
        print(json.dumps({"out": name, "history": history, **scores}))
    else:
        print(f"saved {name}")
        for line in score_lines(scores):
            print(line)
    return 0


def seed_and_count(text):
    """SEED:COUNT as (seed, count): a seed >= 0 and a count >= 1."""
    import argparse

    try:
        seed, count = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SEED:COUNT, two integers, got {text!r}") from None
    if seed < 0 or count < 1:
        raise argparse.ArgumentTypeError(f"SEED must be at least 0 and COUNT at least 1, got {text!r}")
    return seed, count


def score_lines(scores):
    """The scores of `evaluate_locator` in words."""
    sizes = ", ".join(f"{bucket}: {found}/{count}" for bucket, (found, count) in scores["recall_by_width"].items())
    return [f"{scores['photos']} synthetic photos ({scores['what']}), {scores['numbers']} house numbers, "
            f"boxes scoring at least {scores['min_score']:.2f}:",
            f"  recall at IoU 0.5: {100 * scores['recall']:.1f}%  precision: {100 * scores['precision']:.1f}%  "
            f"({scores['true_positives']} right of {scores['located']} boxes)",
            f"  recall by the number's width / the photo's width: {sizes}",
            f"  photos without a house number given a box: {scores['photos_without_numbers_with_a_box']} of "
            f"{scores['photos_without_numbers']}"]
