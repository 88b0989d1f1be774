"""The `kerasvhn` subcommands, one module each.

Every module has `HELP` (a line for `kerasvhn --help`), `DESCRIPTION`,
`add_arguments(parser)` and `run(args)` (returns the exit status); `kerasvhn.cli`
only assembles them. Modules import Keras inside `run`, so `kerasvhn --help` stays fast.
"""

#: In the order `kerasvhn --help` lists them: the data path, then models, then the rest.
COMMANDS = ("synth", "synth_photos", "download", "prepare", "train", "train_locator", "evaluate", "attack", "predict",
            "locate", "bench", "demo", "info")
