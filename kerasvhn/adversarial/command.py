"""`kerasvhn attack`: the robustness report of a saved model, printed and written
as a CSV, a plot and an image grid.

The CLI hooks it up with `add_attack_arguments(subparser)` and
`subparser.set_defaults(func=attack_main)`.
"""

import argparse
import os

import numpy as np


def add_attack_arguments(parser):
    """Adds the `attack` command's arguments to an argparse parser."""
    parser.add_argument("--model", required=True,
                        help="a saved model (.keras, .weights.h5) or a preset such as small_synthetic")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        help="a prepared split (.h5) or an .npz with images (N, H, W, 3), length and digits",
    )
    source.add_argument("--synthetic", type=int, metavar="N", help="N synthetic house numbers")
    parser.add_argument("--limit", type=int, default=None, help="attack only the first N images")
    parser.add_argument(
        "--eps", default="0,1,2,4,8", help="comma-separated radii in 1/255 units (default 0,1,2,4,8)"
    )
    parser.add_argument("--attacks", default="fgsm,pgd-10", help="comma-separated attacks (fgsm, fgsm-rs, pgd-N)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--grid-eps", type=float, default=8.0, help="eps of the image grid, in 1/255 units")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="reports/attack", help="folder for the CSV and the PNGs")
    return parser


def _crop_to(images, height, width):
    """Centre crops of uint8 or float images, as float32 in [0, 1]."""
    top, left = (images.shape[1] - height) // 2, (images.shape[2] - width) // 2
    if top < 0 or left < 0:
        raise ValueError(f"images of {images.shape[1:3]} are smaller than the model's input {(height, width)}")
    crops = np.asarray(images[:, top : top + height, left : left + width])
    if crops.dtype == np.uint8:
        return crops.astype(np.float32) / np.float32(255)
    return crops.astype(np.float32)


def load_attack_data(args, input_shape):
    """(images, labels) from --data or --synthetic, cropped to the model's input."""
    if args.synthetic is not None:
        from kerasvhn.data import render_numbers

        images, labels = render_numbers(args.synthetic, seed=args.seed)
    elif str(args.data).endswith((".h5", ".hdf5")):
        import h5py

        with h5py.File(args.data, "r") as handle:
            stop = args.limit or len(handle["images"])
            images = handle["images"][:stop]
            labels = {key: handle[key][:stop] for key in ("length", "digits")}
    else:
        with np.load(args.data) as arrays:
            images = arrays["images"]
            labels = {key: arrays[key] for key in ("length", "digits")}
    if args.limit:
        images = images[: args.limit]
        labels = {key: value[: args.limit] for key, value in labels.items()}
    return _crop_to(images, input_shape[0], input_shape[1]), labels


def attack_main(args):
    """Runs the report for the parsed `args` (see `add_attack_arguments`); returns 0."""
    import keras

    import kerasvhn  # noqa: F401  (registers the model's classes for loading)
    from kerasvhn.adversarial import report

    from kerasvhn.predict import load_model

    model = load_model(args.model)
    images, labels = load_attack_data(args, model.input_shape[1:3])
    eps = [float(value) / 255 for value in args.eps.split(",")]
    attacks = [name.strip() for name in args.attacks.split(",") if name.strip()]
    rows = report.robustness_report(
        model, (images, labels), eps=eps, attacks=attacks, batch_size=args.batch_size, seed=args.seed
    )
    print(f"{len(images)} images, model {args.model}, backend {keras.backend.backend()}")
    print(report.format_report(rows))
    os.makedirs(args.out, exist_ok=True)
    written = [
        report.write_report_csv(rows, os.path.join(args.out, "robustness.csv")),
        report.plot_report(rows, os.path.join(args.out, "robustness.png")),
        report.save_adversarial_grid(
            model,
            (images, labels),
            os.path.join(args.out, "adversarial_examples.png"),
            eps=args.grid_eps / 255,
            attack=attacks[0],
            seed=args.seed,
        ),
    ]
    print("wrote " + ", ".join(written))
    return 0


def main(argv=None):
    """`python -m kerasvhn.adversarial.command ...`, until the CLI has the command."""
    parser = add_attack_arguments(argparse.ArgumentParser(prog="kerasvhn attack", description=__doc__))
    return attack_main(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
