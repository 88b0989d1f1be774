"""The `kerasvhn` command line: assembles the subcommands of `kerasvhn.commands`.

Every subcommand has `--help`; bad arguments exit with status 2 and a message, bad
data or a missing file with status 1 and one line, Ctrl-C with 130. The Keras backend
is the one KERAS_BACKEND names (tensorflow by default); its start-up log lines are
hidden unless `--verbose`. A command module that never needs Keras says so with
`USES_KERAS = False`.
"""

import argparse
import importlib
import sys

from kerasvhn.backend_check import import_keras_quietly, missing_backend_message
from kerasvhn.commands import COMMANDS


def _user_errors():
    """Errors that describe bad input or a missing file (printed without a traceback):
    ValueError covers DigitStructError, PrepareError and ImageError."""
    errors = [OSError, ValueError]
    if "kerasvhn.data.download" in sys.modules:
        errors.append(sys.modules["kerasvhn.data.download"].DownloadError)
    return tuple(errors)


def build_parser():
    """The argparse parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="kerasvhn",
        description="Read multi-digit house numbers with Keras 3 (Goodfellow et al. 2013). "
        "The Keras backend is the one KERAS_BACKEND names (tensorflow by default).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true", help="show the backend's start-up log lines")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"kerasvhn.commands.{name}")
        command = commands.add_parser(name, help=module.HELP, description=module.DESCRIPTION, parents=[common])
        module.add_arguments(command)
        command.set_defaults(run=module.run, uses_keras=getattr(module, "USES_KERAS", True))
    return parser


def main(argv=None):
    """Runs the command line; returns the exit status (argparse exits with 2 on bad
    arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        parser.exit(2, f"\nkerasvhn: error: choose a command: {', '.join(COMMANDS)}\n")
    try:
        if args.uses_keras and not args.verbose:
            import_keras_quietly()
        return args.run(args)
    except ModuleNotFoundError as error:
        message = missing_backend_message(error)
        if message is None:
            raise
        print(f"kerasvhn: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kerasvhn: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as error:
        print(f"kerasvhn: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
