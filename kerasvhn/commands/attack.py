"""`kerasvhn attack`: the robustness report of a model under FGSM / PGD."""

import os

import numpy as np

from kerasvhn.commands.arguments import add_model_arguments, add_synthetic_arguments, int_at_least

HELP = "robustness report of a model under FGSM/PGD (table, CSV, plot, image grid)"
DESCRIPTION = (
    "Attacks a model (.keras, .weights.h5 or a preset) on a prepared split (.h5), an .npz, or synthetic numbers "
    "at each eps, prints whole-number and per-digit accuracy, and writes robustness.csv, robustness.png and "
    "adversarial_examples.png to --out."
)


def add_arguments(parser):
    add_model_arguments(parser, required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="a prepared split (.h5) or an .npz with images (N, H, W, 3), length and digits")
    source.add_argument("--synthetic", type=int_at_least(1), metavar="N", help="N synthetic house numbers")
    add_synthetic_arguments(parser)
    parser.add_argument("--limit", type=int_at_least(1), default=None, help="attack only the first N images")
    parser.add_argument("--eps", default="0,1,2,4,8", help="comma-separated radii in 1/255 units (default 0,1,2,4,8)")
    parser.add_argument("--attacks", default="fgsm,pgd-10", help="comma-separated attacks (fgsm, fgsm-rs, pgd-N)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=128)
    parser.add_argument("--grid-eps", type=float, default=8.0, help="eps of the image grid, in 1/255 units")
    parser.add_argument("--out", default="reports/attack", help="folder for the CSV and the PNGs")


def run(args):
    import keras

    from kerasvhn.adversarial import report
    from kerasvhn.commands.arguments import load_model_argument
    from kerasvhn.framing import centre_crops

    model = load_model_argument(args)
    images, labels = _data(args, model)
    images = centre_crops(images, *model.input_shape[1:3])
    eps = [float(value) / 255 for value in args.eps.split(",")]
    attacks = [name.strip() for name in args.attacks.split(",") if name.strip()]
    rows = report.robustness_report(model, (images, labels), eps=eps, attacks=attacks, batch_size=args.batch_size,
                                    seed=args.seed)
    print(f"{len(images)} images, model {args.model}, backend {keras.backend.backend()}")
    print(report.format_report(rows))
    os.makedirs(args.out, exist_ok=True)
    grid = os.path.join(args.out, "adversarial_examples.png")
    written = [
        report.write_report_csv(rows, os.path.join(args.out, "robustness.csv")),
        report.plot_report(rows, os.path.join(args.out, "robustness.png")),
        report.save_adversarial_grid(model, (images, labels), grid, eps=args.grid_eps / 255, attack=attacks[0],
                                     seed=args.seed),
    ]
    print("wrote " + ", ".join(written))
    return 0


def _data(args, model):
    """(images, labels) from --data or --synthetic, the first --limit of them."""
    if args.synthetic is not None:
        from kerasvhn.data.synth import check_unseen, render_numbers

        check_unseen(getattr(model, "training_streams", None), args.purpose, args.seed, args.split)
        count = min(args.synthetic, args.limit or args.synthetic)
        return render_numbers(count, seed=args.seed, split=args.split, lengths=args.lengths, purpose=args.purpose)
    if str(args.data).endswith((".h5", ".hdf5")):
        from kerasvhn.data.splits import read_split

        images, labels = read_split(args.data)
    else:
        with np.load(args.data) as arrays:
            images, labels = arrays["images"], {key: arrays[key] for key in ("length", "digits")}
    return images[: args.limit], {key: value[: args.limit] for key, value in labels.items()}
