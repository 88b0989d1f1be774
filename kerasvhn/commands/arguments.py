"""Argument types and argument groups that several commands share."""

import argparse
import os

PURPOSE_CHOICES = ("train", "validation", "test", "unseen", "all_lengths", "benchmark")
SPLIT_CHOICES = ("train", "held_out")
LENGTH_CHOICES = ("svhn", "train")
PRESET_CHOICES = ("small", "small_wide", "seed", "goodfellow")


def int_at_least(minimum):
    """An argparse type: an int >= minimum."""

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


def probability(text):
    """An argparse type: a float in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def add_model_arguments(parser, default="small_synthetic", required=False):
    """--model (a file or a preset name) and --preset (the architecture of a bare
    .weights.h5 file without its config sidecar)."""
    what = "a .keras or .weights.h5 file, or a preset name"
    if required:
        parser.add_argument("--model", required=True, help=what)
    else:
        parser.add_argument("--model", default=default, help=f"{what} (default: %(default)s, the shipped model)")
    parser.add_argument("--preset", choices=PRESET_CHOICES, default=None,
                        help="the architecture of a .weights.h5 file that has no .config.json beside it")


def add_synthetic_arguments(parser, purpose="test", seed=0, split="held_out"):
    """Where synthetic images are drawn from: purpose (required when None), seed,
    fonts split, lengths."""
    what = "what the images are for: each purpose is its own random stream, and training never draws the " \
           "evaluation purposes"
    if purpose is None:
        parser.add_argument("--purpose", choices=PURPOSE_CHOICES, required=True, help=what)
    else:
        parser.add_argument("--purpose", choices=PURPOSE_CHOICES, default=purpose,
                            help=what + " (default: %(default)s)")
    parser.add_argument("--seed", type=int_at_least(0), default=seed, help="random seed (default: %(default)s)")
    parser.add_argument("--split", choices=SPLIT_CHOICES, default=split,
                        help="fonts and backgrounds: those of training, or the held-out ones (default: %(default)s)")
    parser.add_argument("--lengths", choices=LENGTH_CHOICES, default="train",
                        help="mix of number lengths: train (long numbers frequent) or svhn (as in real SVHN, "
                        "mostly 2 and 3 digits) (default: %(default)s)")


def load_model_argument(args):
    """The model named by --model / --preset."""
    from kerasvhn.saving import load_model

    return load_model(args.model, preset=args.preset)


def _style(text):
    """NAME or NAME=WEIGHT."""
    from kerasvhn.data.styles import STYLES

    name, _, weight = text.partition("=")
    if name not in STYLES:
        raise argparse.ArgumentTypeError(f"unknown style {name!r}; styles: {', '.join(STYLES)}")
    try:
        return name, float(weight) if weight else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME or NAME=WEIGHT, got {text!r}") from None


def _effect(text):
    """NAME=PROBABILITY."""
    from kerasvhn.data.effects import EFFECTS

    name, equals, value = text.partition("=")
    if name not in EFFECTS:
        raise argparse.ArgumentTypeError(f"unknown effect {name!r}; effects: {', '.join(EFFECTS)}")
    if not equals:
        raise argparse.ArgumentTypeError(f"expected NAME=PROBABILITY, got {text!r}")
    return name, probability(value)


def add_look_arguments(parser):
    """--style, --effect, --no-degradations: what the generator draws (`looks`)."""
    parser.add_argument("--style", type=_style, action="append", default=None, metavar="NAME[=WEIGHT]",
                        help="render only these styles (repeat it; with =WEIGHT, their weights); "
                             "default: every style in its default weight (kerasvhn.data.styles)")
    parser.add_argument("--effect", type=_effect, action="append", default=None, metavar="NAME=P",
                        help="the probability of a camera or photo effect (repeat it): edge_cut, low_res, defocus, "
                             "motion_blur, jpeg, noise, domain (kerasvhn.data.effects)")
    parser.add_argument("--no-degradations", action="store_true",
                        help="switch off low resolution, blur, JPEG and noise (before any --effect)")


def looks(args):
    """The styles and effects arguments of `synthesize` from the command line."""
    from kerasvhn.data.effects import DEGRADATIONS

    styles = None
    if args.style:
        named = [name for name, _ in args.style]
        weighted = {name: weight for name, weight in args.style if weight is not None}
        styles = {**{n: 0.0 for n in all_styles()}, **{n: 1.0 for n in named}, **weighted} if weighted else named
    effects = {name: 0.0 for name in DEGRADATIONS} if args.no_degradations else {}
    effects.update(dict(args.effect or []))
    return styles, effects or None


def all_styles():
    from kerasvhn.data.styles import STYLES

    return list(STYLES)


def check_model_path(path):
    """Where a command will save a model, as a string: a .keras or .weights.h5 name in a
    folder that exists (else ValueError / OSError)."""
    name = str(path)
    if not name.endswith((".keras", ".weights.h5")):
        raise ValueError(f"OUT must end in .keras or .weights.h5, got {name!r}")
    if not os.path.isdir(os.path.dirname(os.path.abspath(name))):
        raise OSError(f"the folder of {path} does not exist")
    return name
