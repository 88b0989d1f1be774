"""What each realism item of the generator does to reading real photos: fine-tune the
same model on the same numbers drawn with one item left out at a time, and read the
same tests with every arm.

    KERAS_BACKEND=tensorflow python bench/realism_ablation.py [--base small_synthetic]
        [--count 20000] [--epochs 2] [--arms all,-metal_plate,...] [--out reports/realism_ablation]

Every arm starts from the --base weights and fine-tunes on --count images (purpose
"train", seed --seed: the same numbers in every arm, since the generator draws the
number before the looks) for --epochs with Adam from --learning-rate; the arms differ
only in the generator's styles and effects:

- "all": the default mixture of styles and effects;
- "-NAME": all but the style or effect NAME (its weight or probability 0);
- "-minor_styles": all but tile, glass, stencil and lightbox;
- "-degradations": all but low resolution, blur, JPEG and noise;
- "classic": the older generator's look alone (style classic; no edge cuts, no
  domain randomisation);
- "base": the --base weights as they are (no fine-tuning).

Each arm then reads the photos of --photos whole (tight and loose apart), the real
SVHN fixture by its boxes, and 2,000 synthetic test images (purpose "benchmark",
held-out fonts and backgrounds). Photos are measured, never used to choose anything.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from harness import machine_description, markdown_table  # noqa: E402
from real_scores import COLUMNS, PHOTOS, photo_folder, scores, synthetic_test  # noqa: E402

DEFAULT_ARMS = ("base,classic,all,-metal_plate,-mounted,-enamel,-sign,-vertical,-minor_styles,-edge_cut,-low_res,"
                "-degradations,-domain")
GROUPS = {"minor_styles": ("tile", "glass", "stencil", "lightbox"),
          "degradations": ("low_res", "defocus", "motion_blur", "jpeg", "noise")}


def looks(arm):
    """(styles, effects) of render_numbers for an arm's name."""
    from kerasvhn.data.effects import EFFECTS
    from kerasvhn.data.styles import DEFAULT_WEIGHTS

    if arm == "all":
        return None, None
    if arm == "classic":
        return "classic", {"edge_cut": 0.0, "domain": 0.0}
    if not arm.startswith("-"):
        raise ValueError(f"unknown arm {arm!r}")
    names = GROUPS.get(arm[1:], (arm[1:],))
    if all(name in DEFAULT_WEIGHTS for name in names):
        return {name: 0.0 for name in names}, None
    if all(name in EFFECTS for name in names):
        return None, {name: 0.0 for name in names}
    raise ValueError(f"{arm!r}: not a style, an effect or a group of either")


def fine_tune(base, arm, args):
    import keras

    from kerasvhn.data.batches import SplitBatches
    from kerasvhn.saving import load_model
    from kerasvhn.seeding import set_random_seed
    from kerasvhn.train import cosine_schedule, render

    model = load_model(base)
    if arm == "base":
        return model
    styles, effects = looks(arm)
    data = render("train", args.count, args.seed, styles=styles, effects=effects)
    set_random_seed(args.seed)
    batches = SplitBatches(data, batch_size=64, training=True, seed=args.seed)
    model.compile(optimizer=keras.optimizers.Adam(cosine_schedule(args.learning_rate, len(batches), args.epochs)))
    model.fit(batches, epochs=args.epochs, verbose=2)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="small_synthetic", help="weights to start from (a file or a preset)")
    parser.add_argument("--arms", default=DEFAULT_ARMS)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--photos", default=str(PHOTOS))
    parser.add_argument("--out", default="reports/realism_ablation")
    args = parser.parse_args(argv)
    import keras

    arms = args.arms.split(",")
    for arm in arms:
        if arm != "base":
            looks(arm)  # unknown arms fail before any training
    os.makedirs(args.out, exist_ok=True)
    photos, synthetic = photo_folder(args.photos), synthetic_test(seed=args.seed)
    rows = []
    for arm in arms:
        row = {"arm": arm, **scores(fine_tune(args.base, arm, args), photos, synthetic)}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "photo_readings"}), flush=True)
    print(f"\nfine-tuned from {args.base}: {args.count} images x {args.epochs} epochs per arm, Keras "
          f"{keras.__version__} on {keras.backend.backend()}, {machine_description()}\n")
    print(markdown_table(rows, [("arm", "arm", "{}"), *COLUMNS]))
    with open(os.path.join(args.out, "summary.json"), "w") as handle:
        json.dump({"args": vars(args), "machine": machine_description(), "rows": rows}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
