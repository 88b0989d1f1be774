"""How the vertical-number rule was chosen: tall frames also read unstacked (kerasvhn.vertical).

    python bench/unstack.py [--purpose validation|test] [--model MODEL] [--vertical 300] [--every 600]
                            [--json OUT.json]

Synthetic scenes only (held-out fonts and backgrounds, SVHN's lengths): `--vertical`
scenes of the vertical style and `--every` of every style (default weights), purpose
`validation` (seeds 21 and 22: the choosing sets) or `test` (seeds 8 and 9: the figures
the README reports). Each is read twice, as `kerasvhn predict` frames it: as a tight
photo (the scene cropped by its number's box plus the reader's 30% margin, read whole)
and as a located box (the scene with its number's box). For each rule of the grid (TALL
x MARGIN, `kerasvhn.vertical.prefer_unstacked`) and without unstacking, it counts the
numbers read right.
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from harness import machine_description, markdown_table  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[1]
OUT = REPOSITORY / "reports" / "bench" / "unstack.json"
TALLS = (1.2, 1.5, 2.0, 2.5)
MARGINS = (0.0, 0.1, 0.2)
SEEDS = {"validation": (21, 22), "test": (8, 9)}


def scenes(count, seed, purpose, styles):
    """(tight photo, scene, number's box, number) of `count` synthetic scenes."""
    from PIL import Image

    from kerasvhn.data.synth import render_scene
    from kerasvhn.framing import crop_box

    items = []
    for index in range(count):
        pixels, number, boxes = render_scene(index, seed=seed, split="held_out", lengths="svhn", purpose=purpose,
                                             styles=styles)
        scene = Image.fromarray(pixels)
        record = {key: [b[k] for b in boxes] for k, key in enumerate(("left", "top", "width", "height"))}
        left, top = min(record["left"]), min(record["top"])
        right = max(b[0] + b[2] for b in boxes)
        bottom = max(b[1] + b[3] for b in boxes)
        items.append((scene.crop(crop_box(record, *scene.size)), scene, (left, top, right - left, bottom - top),
                      number))
    return items


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--purpose", choices=sorted(SEEDS), default="validation")
    parser.add_argument("--model", default=None, help="the reader (default: the shipped one)")
    parser.add_argument("--vertical", type=int, default=300, help="vertical scenes")
    parser.add_argument("--every", type=int, default=600, help="scenes of every style")
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args()

    import keras

    from kerasvhn.predict import box_frame, frame, read_frames
    from kerasvhn.saving import load_model
    from kerasvhn.vertical import prefer_unstacked

    model = load_model(args.model)
    print(f"purpose {args.purpose}, Keras {keras.__version__} on {keras.backend.backend()}, "
          f"{machine_description()}\n", flush=True)
    rules = [None] + [(tall, margin) for tall in TALLS for margin in MARGINS]
    rows = {rule: {"rule": "never" if rule is None else f"tall >= {rule[0]}, margin {rule[1]}"} for rule in rules}
    sets = {"vertical": ("vertical", args.vertical), "every style": (None, args.every)}
    for (name, (styles, count)), seed in zip(sets.items(), SEEDS[args.purpose]):
        items = scenes(count, seed, args.purpose, styles)
        truth = [number for *_, number in items]
        for framing in ("tight", "box"):
            if framing == "tight":
                images, boxes = [tight for tight, *_ in items], [None] * len(items)
                frames = np.stack([frame(image) for image in images])
            else:
                images, boxes = [scene for _, scene, _, _ in items], [box for _, _, box, _ in items]
                frames = np.stack([box_frame(image, box) for image, box in zip(images, boxes)])
            plain = read_frames(model, frames)
            for rule in rules:
                readings = plain if rule is None else prefer_unstacked(model, images, boxes, plain, tall=rule[0],
                                                                       margin=rule[1])
                rows[rule][f"{name}, {framing}"] = sum(r.number == t for r, t in zip(readings, truth))
        print(f"{name}: {count} scenes (seed {seed}) read", flush=True)
    columns = [key for key in rows[None] if key != "rule"]
    for row in rows.values():
        row["all"] = sum(row[key] for key in columns)
    table = sorted(rows.values(), key=lambda row: -row["all"])
    print(f"\nnumbers read right (vertical: of {args.vertical} per framing; every style: of {args.every}):\n")
    print(markdown_table(table, [("rule", "rule", "{}"), *((c, c, "{}") for c in columns), ("all", "all", "{}")]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as handle:
        json.dump({"rows": table, "args": {k: str(v) for k, v in vars(args).items()}}, handle, indent=1)


if __name__ == "__main__":
    main()
