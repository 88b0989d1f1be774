"""`kerasvhn synth`: synthetic house numbers as an SVHN format-1 folder."""

import time
from pathlib import Path

from kerasvhn.commands.arguments import add_look_arguments, add_synthetic_arguments, all_styles, int_at_least, looks

USES_KERAS = False
HELP = "write synthetic house numbers as an SVHN format-1 folder (PNGs + digitStruct.mat)"
DESCRIPTION = (
    "Renders N street scenes with house numbers and writes OUT/1.png .. OUT/N.png and OUT/digitStruct.mat "
    "(one tight box per digit, label 10 for the digit 0), readable by `kerasvhn prepare`, h5py and mat73. "
    "The same purpose and seed give the same files; a test folder (--purpose test) never repeats a "
    "training folder's scenes, whatever the seeds. --style picks the kinds of house numbers (all by default, "
    "in their default mixture), --effect changes how often a camera or photo effect happens."
)
PREVIEW_COUNT = 40


def add_arguments(parser):
    parser.add_argument("out", type=Path, metavar="OUT", help="the folder to write (created if missing)")
    parser.add_argument("--count", type=int_at_least(1), default=1000, help="images (default: %(default)s)")
    add_synthetic_arguments(parser, purpose=None, split="train")
    parser.add_argument("--workers", type=int_at_least(1), default=None, help="processes (default: 2 at most)")
    add_look_arguments(parser)
    parser.add_argument("--preview", action="store_true",
                        help=f"also write OUT/preview.png: the first {PREVIEW_COUNT} images with their boxes")
    parser.add_argument("--preview-styles", action="store_true",
                        help="instead of one folder, write OUT/<style>/ with --count scenes of each style (or of each "
                             "--style) and OUT/styles.png, a contact sheet with a row per style")


def run(args):
    from kerasvhn.data.synth import synthesize

    if args.out.exists() and not args.out.is_dir():
        raise OSError(f"{args.out} exists and is not a folder")
    styles, effects = looks(args)
    if args.preview_styles:
        return _preview_styles(args, effects)
    start = time.perf_counter()
    records = synthesize(args.out, args.count, seed=args.seed, split=args.split, workers=args.workers,
                         lengths=args.lengths, purpose=args.purpose, styles=styles, effects=effects)
    seconds = time.perf_counter() - start
    print(f"wrote {len(records)} images and digitStruct.mat to {args.out} in {seconds:.1f} s "
          f"({len(records) / seconds:.0f} images/s)")
    if args.preview:
        path = args.out / "preview.png"
        from kerasvhn.plots import synth_contact_sheet

        title = f"styles: {', '.join(n for n, _ in args.style)}" if args.style else None
        synth_contact_sheet(args.out, records[:PREVIEW_COUNT], path, title=title)
        print(f"wrote {path}")
    return 0


def _preview_styles(args, effects):
    """OUT/<style>/ for each style and OUT/styles.png with a row per style."""
    from kerasvhn.data.synth import synthesize
    from kerasvhn.plots import synth_contact_sheet

    names = [name for name, _ in args.style] if args.style else all_styles()
    records = []
    for name in names:
        folder = args.out / name
        written = synthesize(folder, args.count, seed=args.seed, split=args.split, workers=args.workers,
                             progress=False, lengths=args.lengths, purpose=args.purpose, styles=name, effects=effects)
        records += [{**r, "path": str(folder / r["name"])} for r in written]
    path = args.out / "styles.png"
    synth_contact_sheet(args.out, records, path, columns=args.count, row_labels=names,
                        title=f"kerasvhn synth --preview-styles: {args.count} scenes per style (purpose "
                              f"{args.purpose}, seed {args.seed}, split {args.split}; boxes from digitStruct.mat)")
    print(f"wrote {len(names)} folders of {args.count} scenes and {path}")
    return 0
