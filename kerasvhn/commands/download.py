"""`kerasvhn download`: the official SVHN format-1 tarballs."""

from pathlib import Path

USES_KERAS = False
HELP = "download and extract the official SVHN format-1 tarballs (resumable)"
DESCRIPTION = ("Fetches train/test/extra .tar.gz into DATA_DIR with resume, size and checksum checks, then "
               "extracts each to DATA_DIR/<split>/.")


def add_arguments(parser):
    parser.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    parser.add_argument("--splits", nargs="+", default=["train", "test"], choices=["train", "test", "extra"])
    parser.add_argument("--base-url", default=None, help="a mirror of the official files")


def run(args):
    from kerasvhn.data.download import download_svhn

    kwargs = {"base_url": args.base_url} if args.base_url else {}
    download_svhn(args.data_dir, splits=tuple(args.splits), **kwargs)
    print(f"SVHN {', '.join(args.splits)} in {args.data_dir}")
    return 0
