"""`kerasvhn prepare`: SVHN format-1 folders into cached 64x64 splits."""

from pathlib import Path

from kerasvhn.commands.arguments import int_at_least

USES_KERAS = False
HELP = "crop and resize SVHN format-1 folders into cached 64x64 HDF5 splits"
DESCRIPTION = (
    "The paper's preprocessing: for each split folder in SRC (train/, test/, extra/, or SRC itself), the union "
    "of each image's digit boxes expanded by 30%, cropped and resized to 64x64, written to OUT/<split>.h5. A "
    "cache written with the same settings is reused."
)


def add_arguments(parser):
    parser.add_argument("src", type=Path, metavar="SRC")
    parser.add_argument("out", type=Path, metavar="OUT")
    parser.add_argument("--max-digits", type=int_at_least(1), default=5)
    parser.add_argument("--workers", type=int_at_least(1), default=None, help="processes (default: 2 at most)")


def run(args):
    from kerasvhn.data.preparation import prepare

    for summary in prepare(args.src, args.out, max_digits=args.max_digits, workers=args.workers):
        print(summary)
    return 0
