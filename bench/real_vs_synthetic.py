"""A contact sheet: development photos beside the generator's scenes of the same framing.

    python bench/real_vs_synthetic.py [--photos DIR] [--columns 8] [--out reports/real_vs_synthetic.png]

Four rows of --columns images: real tight photos of --photos (a folder with labels.csv,
default ../shared/real-dev beside the repository), then synthetic numbers framed around
the number (`render_numbers`, purpose "benchmark", held-out fonts and backgrounds, the
default styles and effects), then real loose photos, then synthetic whole photos
(`render_photo`, same purpose). Photos are taken in labels.csv's order, so the sheet is
the same from run to run; it is for looking at, not for choosing anything.

The development photos may not be copied into the repository (their licences are their
source repositories' own), so the sheet is written under reports/ and not committed;
docs/synth_styles.png is the committed synthetic half.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from real_scores import PHOTOS, photo_folder  # noqa: E402

SYNTHETIC_SIZE = 128
WHOLE_PHOTO_SIDE = 480


def real_row(folder, photos, framing, columns):
    from kerasvhn.predict import load_image

    chosen = [p for p in photos if p.framing == framing][:columns]
    images = [load_image(os.path.join(folder, p.file)) for p in chosen]
    return images, [f"real {framing}: {p.number}" for p in chosen]


def synthetic_rows(columns, seed):
    from kerasvhn.data.photo_scenes import render_photo
    from kerasvhn.data.synth import render_numbers
    from kerasvhn.labels import labels_to_numbers

    images, labels = render_numbers(columns, seed=seed, size=SYNTHETIC_SIZE, split="held_out", purpose="benchmark",
                                    lengths="svhn", photo_share=0.0)
    tight = (list(images), [f"generated: {n or 'none'}" for n in labels_to_numbers(labels)])
    scenes = [render_photo(i, seed=seed, split="held_out", purpose="benchmark", long_side=WHOLE_PHOTO_SIDE)
              for i in range(columns)]
    loose = ([s.image for s in scenes],
             [f"generated {s.kind}: {', '.join(s.numbers) or 'none'}" for s in scenes])
    return tight, loose


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default=None, help="a folder with labels.csv (default: ../shared/real-dev)")
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="reports/real_vs_synthetic.png")
    args = parser.parse_args(argv)

    from kerasvhn.photos import read_labels
    from kerasvhn.plots import captioned_photos

    folder = photo_folder(args.photos or PHOTOS)
    if folder is None:
        parser.error(f"no labels.csv in {args.photos or PHOTOS}")
    photos = read_labels(folder)
    tight, loose = synthetic_rows(args.columns, args.seed)
    rows = [real_row(folder, photos, "tight", args.columns), tight, real_row(folder, photos, "loose", args.columns),
            loose]
    images, captions = [], []
    for row_images, row_captions in rows:
        padding = args.columns - len(row_images)
        images += list(row_images) + [None] * padding
        captions += list(row_captions) + [""] * padding
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    captioned_photos(images, captions, args.out, colour="black", columns=args.columns,
                     title=f"development photos ({folder}) beside generated ones (purpose benchmark, held-out "
                           f"fonts and backgrounds, seed {args.seed})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
