"""Training MultiDigitNet on real SVHN (`kerasvhn train OUT --data DIR`).

The paper's recipe (Goodfellow et al. 2013, section 5.1): the prepared 64x64 frames
of train (and extra, `extra=True`), random 54x54 crops, a validation set held out
of them (`kerasvhn.training.svhn_data`) on which the stopping point is chosen, and
the test split scored once at the end: whole-number accuracy, per-digit accuracy
and coverage at 98% accuracy. Long runs live in a run folder
(`kerasvhn.training.long_run`): a backup every epoch, bit-for-bit resume, the best
weights by validation whole-number accuracy, early stopping, a CSV log and the plot.

    >>> from kerasvhn.training import train_on_svhn
    >>> model, history, scores = train_on_svhn("data/cache", "runs/svhn", preset="goodfellow",
    ...                                        extra=True)                          # doctest: +SKIP
"""

import contextlib
import sys

import keras

from kerasvhn.training import long_run
from kerasvhn.training.backend import check_distributable, distributed, needs_equal_shares
from kerasvhn.training.recipes import resolve_settings
from kerasvhn.training.rows import RowBatches
from kerasvhn.training.svhn_data import find_splits, hold_out, source_settings

#: Settings a resumed run must share with the run it resumes (what its data order,
#: schedule and backup depend on).
RESUMED_SETTINGS = ("preset", "extra", "epochs", "batch_size", "learning_rate", "patience", "seed", "validation",
                    "steps_per_epoch", "mixed_precision", "distribute", "initial")
MIXED_PRECISION = ("mixed_float16", "mixed_bfloat16")
TEST_SCORES = ("count", "whole_number_accuracy", "per_digit_accuracy", "coverage_at_98", "predict_images_per_s")


def train_on_svhn(data, run_dir, *, preset=None, extra=None, epochs=None, batch_size=None, learning_rate=None,
                  patience=None, seed=None, validation=None, steps_per_epoch=None, mixed_precision=None,
                  distribute=None, resume=False, initial_model=None, verbose="auto", callbacks=(), log=print):
    """Trains on prepared SVHN, keeps the best epoch by validation, scores the test split.

    Args:
        data: the folder `kerasvhn prepare` wrote, or SVHN's format-1 folders
            (prepared on the fly into data/prepared/).
        run_dir: the run folder (checkpoints, log, plot; see `long_run`).
        preset: the architecture ("small" when None); its recipe (`RECIPES`) gives
            epochs, batch_size, learning_rate and patience unless they are given.
        extra: train on extra too, as the paper did.
        seed: the initial weights, data order, crops and dropout (0 when None).
        validation: images held out, {"train": n, "extra": n} (default 4,000 and
            2,000: `svhn_data.VALIDATION_COUNTS`).
        steps_per_epoch: a bounded run: only the first batches of each epoch's order.
        mixed_precision: None, "mixed_float16" or "mixed_bfloat16".
        distribute: every local device (`kerasvhn.training.backend.distributed`).
        resume: go on with the run in run_dir from its last complete epoch. Settings
            left None are the run's; those given must be the run's.
        initial_model: a MultiDigitNet to start from (fine-tuning) instead of fresh
            weights; the architecture is then its own.
        verbose, callbacks: Keras's fit display and more callbacks.
        log: where the report lines go.

    Returns:
        (model, history, scores): the best epoch's model (float32, one device, no
        optimizer; its `training_streams` record the SVHN rows it trained on), the
        per-epoch logs of the whole run so far, and the test scores
        (`kerasvhn.evaluate.evaluate_model`) or None without a test split.
    """
    folder = long_run.RunFolder(run_dir)
    asked = {"preset": preset, "extra": extra, "epochs": epochs, "batch_size": batch_size,
             "learning_rate": learning_rate, "patience": patience, "seed": seed, "validation": validation,
             "steps_per_epoch": steps_per_epoch, "mixed_precision": mixed_precision, "distribute": distribute,
             "initial": None if initial_model is None else initial_model.name}
    record = _resumed_record(folder, asked) if resume else _new_record(folder, asked, initial_model)
    settings = record["settings"]
    if settings["distribute"]:
        check_distributable()
    svhn = hold_out(find_splits(data, settings["extra"], log), settings["validation"])
    _check_data(record, svhn)
    folder.write(record)
    if initial_model is not None and not resume:
        initial_model.save_weights(folder.initial)
    if folder.has_backup() and (folder.epochs_done() >= settings["epochs"] or folder.stopped_early()):
        log(f"the run in {folder.path} is complete ({folder.epochs_done()} epochs): nothing left to train")
    else:
        _fit(folder, record, svhn, verbose, callbacks, log)
    model = _best_model(folder, record, svhn)
    scores = _score(model, svhn, log)
    _finish(folder, record, scores)
    return model, long_run.read_log(folder.log), scores


def _new_record(folder, asked, initial_model):
    if folder.has_backup():
        raise ValueError(f"{folder.path} holds a run already: resume it (--resume) or choose another run folder")
    preset = asked["preset"] or (initial_model.preset if initial_model is not None else "small")
    if initial_model is not None and asked["preset"] not in (None, initial_model.preset):
        raise ValueError(f"the initial model is a {initial_model.preset!r} network, not {asked['preset']!r}")
    recipe = resolve_settings(preset, **{key: asked[key] for key in ("epochs", "batch_size", "learning_rate",
                                                                      "patience")})
    mixed = asked["mixed_precision"]
    if mixed not in (None, *MIXED_PRECISION):
        raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION} or None, got {mixed!r}")
    settings = {**recipe, "preset": preset, "extra": bool(asked["extra"]), "seed": int(asked["seed"] or 0),
                "validation": asked["validation"], "steps_per_epoch": asked["steps_per_epoch"],
                "mixed_precision": mixed, "distribute": bool(asked["distribute"]), "initial": asked["initial"]}
    from kerasvhn.model import MultiDigitNet

    model = initial_model if initial_model is not None else MultiDigitNet(preset)
    record = {"settings": settings, "model": model.get_config(), "earlier_streams": _earlier_streams(initial_model)}
    if initial_model is not None:
        record["initial_weights"] = str(folder.initial)
    return record


def _earlier_streams(initial_model):
    """What an initial model was trained on ({"purpose": "unknown"} when it does not say)."""
    if initial_model is None:
        return []
    return list(initial_model.training_streams or [{"purpose": "unknown"}])


def _resumed_record(folder, asked):
    """The run's record (a run stopped in its first epoch, with no backup yet, starts again)."""
    record = folder.read()
    if record is None:
        raise ValueError(f"{folder.path} holds no run to resume (no run.json); start it without --resume")
    stored = record["settings"]
    differ = [f"{key}: the run's {stored[key]!r}, asked {asked[key]!r}" for key in RESUMED_SETTINGS
              if asked[key] is not None and asked[key] != stored[key]]
    if differ:
        raise ValueError(f"--resume goes on with the run's settings; these differ: {'; '.join(differ)}")
    return record


def _check_data(record, svhn):
    sizes = source_settings(svhn.files)
    if "data" in record and record["data"] != sizes:
        raise ValueError(f"the prepared splits have changed since the run began ({record['data']} images, now "
                         f"{sizes}): a resumed run must read the same data")
    record["data"] = sizes
    record["settings"]["validation"] = {split: int(rows.size) for split, rows in svhn.validation.items()}


@contextlib.contextmanager
def _dtype_policy(name):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name or "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _fit(folder, record, svhn, verbose, more_callbacks, log):
    """Builds the model and its batches on the devices, and fits (resuming the run's backup)."""
    from kerasvhn.seeding import set_random_seed
    from kerasvhn.train import TrainingClock, cosine_schedule

    settings = record["settings"]
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    with _dtype_policy(settings["mixed_precision"]), distributed(settings["distribute"]) as devices:
        set_random_seed(settings["seed"])
        train, validation = _batches(svhn, settings, devices)
        model = _model(record, svhn)
        schedule = cosine_schedule(settings["learning_rate"], len(train), settings["epochs"])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule))
        done = folder.epochs_done()
        long_run.truncate_log(folder.log, done)
        log(f"training MultiDigitNet {settings['preset']!r} ({model.count_params():,} parameters) on "
            f"{keras.backend.backend()}, {devices} device{'s' if devices > 1 else ''}: {svhn.describe()}; "
            f"{len(train)} batches of {settings['batch_size']} x {settings['epochs']} epochs"
            + (f", resuming after epoch {done}" if done else ""))
        clock = TrainingClock()
        model.fit(train, validation_data=validation, epochs=settings["epochs"], shuffle=False, verbose=verbose,
                  callbacks=[clock, *long_run.callbacks(folder, train, settings["patience"]), *more_callbacks])
        if clock.seconds:
            images = min(len(train) * settings["batch_size"], train.num_images)
            log(f"training: {clock.images_per_second(images):.0f} images/s")


def _batches(svhn, settings, devices):
    """The training and validation batches. On several devices every batch must split
    evenly over them: training leaves out each epoch's last, smaller batch, and
    validation pads its last batch with images of weight 0 (the accuracies, which
    choose the best epoch, are exact; val_loss counts the padding as a loss of 0)."""
    equal_shares = needs_equal_shares(devices)
    train = RowBatches([(svhn.files[s], rows) for s, rows in svhn.training.items()], settings["batch_size"],
                       training=True, seed=settings["seed"], max_batches=settings["steps_per_epoch"],
                       drop_remainder=equal_shares)
    validation = RowBatches([(svhn.files[s], rows) for s, rows in svhn.validation.items() if rows.size],
                            settings["batch_size"], training=False, pad_to=devices if equal_shares else 1)
    return train, validation


def _model(record, svhn, weights=None):
    """A MultiDigitNet of the run's architecture under the dtype policy and devices
    in force, recording what it trains on; the initial weights, or `weights`."""
    from kerasvhn.model import MultiDigitNet

    model = MultiDigitNet.from_config(record["model"])
    model.training_streams = [*record["earlier_streams"], *svhn.streams()]
    if weights is None and record["settings"]["initial"] is not None:
        weights = record["initial_weights"]
    if weights is not None:
        model.load_weights(weights)
    return model


def _best_model(folder, record, svhn):
    """The weights of the best epoch (or, if that file is unreadable, the last) in a
    float32 model on one device."""
    with _dtype_policy(None):
        try:
            return _model(record, svhn, folder.best)
        except (OSError, ValueError) as error:
            last = folder.backup / "latest.weights.h5"
            print(f"note: could not read the best epoch's weights ({error}); using the last epoch's ({last})",
                  file=sys.stderr)
            return _model(record, svhn, last)


def _score(model, svhn, log):
    """The test split's scores (None without one), reported line by line."""
    if "test" not in svhn.files:
        return None
    from kerasvhn.data.splits import read_split
    from kerasvhn.evaluate import evaluate_model, summary_lines

    images, labels = read_split(svhn.files["test"])
    scores = evaluate_model(model, images, labels)
    for line in summary_lines(scores, f"SVHN test ({svhn.files['test']})"):
        log(line)
    return scores


def _finish(folder, record, scores):
    """Records in run.json how the run ended and what the best epoch scored."""
    history = long_run.read_log(folder.log)
    monitored = history.get(long_run.MONITOR, [])
    best = max(range(len(monitored)), key=monitored.__getitem__) if monitored else None
    record["finished"] = {
        "epochs": folder.epochs_done(),
        "stopped_early": folder.stopped_early(),
        "best_epoch": None if best is None else best + 1,
        "best_validation_sequence_accuracy": None if best is None else monitored[best],
    }
    if scores is not None:
        record["test"] = {key: scores[key] for key in TEST_SCORES}
    folder.write(record)
