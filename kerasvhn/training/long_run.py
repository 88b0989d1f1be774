"""Long runs: a run folder, checkpoints every epoch, resume, best weights, logs, plot.

A run folder holds

    run.json             the run's settings (what --resume must match) and, once
                         it has finished, why it stopped and the test scores
    backup/              keras.callbacks.BackupAndRestore's backup of the last epoch
                         (weights and optimizer state, and the epoch), two deep
    resume_state.json    what that backup leaves out: the random-number state
                         (dropout) and the state of the best-checkpoint and
                         early-stopping callbacks, at the end of the last two epochs
    best.weights.h5      keras.callbacks.ModelCheckpoint: the weights of the epoch
                         of the best validation whole-number accuracy
    log.csv              keras.callbacks.CSVLogger: one row per epoch
    training_curves.png  loss and whole-number accuracy per epoch, redrawn each epoch
    initial.weights.h5   the weights training started from, when not fresh ones

`callbacks(...)` makes the callbacks in the order they must run at the end of an
epoch: the data order, the best checkpoint and early stopping (which update their
state), the log and the plot, `ResumeState` (which writes that state), then the
backup (last: what it records as done is then complete). A run killed at any moment
loses at most the epoch in progress; resumed, it goes on bit for bit: the data
order of an epoch depends only on (seed, epoch) (`DataEpoch`), the weights, the
optimizer and the epoch come from the backup, and the rest from resume_state.json.
"""

import csv
import json
import os
from pathlib import Path

import keras

from kerasvhn.training.backend import random_state, set_random_state

MONITOR = "val_sequence_accuracy"


class RunFolder:
    """The files of one run (see the module docstring)."""

    def __init__(self, path):
        self.path = Path(path)
        self.settings = self.path / "run.json"
        self.backup = self.path / "backup"
        self.state = self.path / "resume_state.json"
        self.best = self.path / "best.weights.h5"
        self.log = self.path / "log.csv"
        self.curves = self.path / "training_curves.png"
        self.initial = self.path / "initial.weights.h5"

    def read(self):
        """run.json's record, or None when there is none."""
        return read_json(self.settings)

    def write(self, record):
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.settings, record)

    def epochs_done(self):
        """The epochs the backup holds (0 when there is none)."""
        metadata = read_json(self.backup / "training_metadata.json")
        return int(metadata["epoch"]) if metadata else 0

    def stopped_early(self):
        """Whether the last backed-up epoch ended the run by early stopping."""
        entries = read_json(self.state) or {}
        entry = entries.get(str(self.epochs_done()))
        return bool(entry and entry.get("stopped"))

    def has_backup(self):
        return (self.backup / "training_metadata.json").exists()


def read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def write_json(path, data):
    """Writes JSON atomically: a temporary file, flushed to disk, moved over path."""
    temporary = Path(f"{path}.tmp")
    with open(temporary, "w") as handle:
        json.dump(data, handle, indent=1)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class DataEpoch(keras.callbacks.Callback):
    """Sets each epoch's data order and crops (`RowBatches.set_epoch`) from the
    epoch's number, so that a resumed run reads what an uninterrupted one would."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


class ResumeState(keras.callbacks.Callback):
    """Keeps, for the end of the last two epochs, what the backup leaves out: the
    random-number state, the best value of `checkpoint` and the counters of
    `early_stopping`; restores them when a resumed run starts its first epoch.

    The optimizer's step count is kept too: a backup whose weights do not belong to
    the epoch it names (killed between its two files) is refused, not trained on."""

    def __init__(self, path, checkpoint, early_stopping):
        super().__init__()
        self.path, self.checkpoint, self.early_stopping = Path(path), checkpoint, early_stopping
        self._first_epoch = True

    def on_train_begin(self, logs=None):
        self._first_epoch = True

    def on_epoch_end(self, epoch, logs=None):
        entries = read_json(self.path) or {}
        stopping = self.early_stopping
        entries[str(epoch + 1)] = {
            "iterations": int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)),
            "random": random_state(self.model),
            "best_checkpoint": _number(self.checkpoint.best),
            "early_stopping": {"wait": stopping.wait, "best": _number(stopping.best),
                               "best_epoch": stopping.best_epoch},
            "stopped": bool(self.model.stop_training),
        }
        kept = sorted(entries, key=int)[-2:]
        write_json(self.path, {key: entries[key] for key in kept})

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch and epoch > 0:
            self._restore(epoch)
        self._first_epoch = False

    def _restore(self, epoch):
        entry = (read_json(self.path) or {}).get(str(epoch))
        if entry is None:
            raise RuntimeError(f"{self.path} has no state for the start of epoch {epoch + 1}, where the backup "
                               "resumes: the run folder is incomplete; start the run again in a new folder")
        iterations = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if iterations != entry["iterations"]:
            backup = self.path.parent / "backup" / "latest.weights.h5"
            raise RuntimeError(f"the backup's weights are at optimizer step {iterations}, but the end of epoch "
                               f"{epoch} was step {entry['iterations']}: the run was killed while writing its backup. "
                               f"Copy {backup}.bkp (the epoch's weights) over {backup.name} and resume again")
        set_random_state(self.model, entry["random"])
        self.checkpoint.best = entry["best_checkpoint"]
        stopping = entry["early_stopping"]
        self.early_stopping.wait, self.early_stopping.best = stopping["wait"], stopping["best"]
        self.early_stopping.best_epoch = stopping["best_epoch"]


def _number(value):
    return None if value is None else float(value)


class TrainingCurves(keras.callbacks.Callback):
    """Redraws the loss and whole-number accuracy of every epoch so far (from the
    CSV log, so that a resumed run's plot shows the whole run)."""

    def __init__(self, log, path):
        super().__init__()
        self.log, self.path = Path(log), Path(path)

    def on_epoch_end(self, epoch, logs=None):
        from kerasvhn.plots import training_curves

        training_curves(read_log(self.log), self.path)


def read_log(path):
    """The CSV log as {column: [float per epoch]} (an empty dict when missing)."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        return {}
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def truncate_log(path, epochs):
    """Keeps the log's rows of the first `epochs` epochs: a resumed run writes the
    rows of the epochs it does again."""
    if not Path(path).exists():
        return
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    kept = rows[:1] + [row for row in rows[1:] if int(row[0]) < epochs]
    if len(kept) < len(rows):
        with open(path, "w", newline="") as handle:
            csv.writer(handle).writerows(kept)


def callbacks(folder, batches, patience):
    """The long-run callbacks of a run in `folder`, training on `batches`."""
    checkpoint = keras.callbacks.ModelCheckpoint(str(folder.best), monitor=MONITOR, mode="max",
                                                 save_best_only=True, save_weights_only=True)
    stopping = keras.callbacks.EarlyStopping(monitor=MONITOR, mode="max", patience=patience)
    return [
        DataEpoch(batches),
        checkpoint,
        stopping,
        keras.callbacks.CSVLogger(str(folder.log), append=True),
        TrainingCurves(folder.log, folder.curves),
        ResumeState(folder.state, checkpoint, stopping),
        keras.callbacks.BackupAndRestore(str(folder.backup), double_checkpoint=True, delete_checkpoint=False),
    ]
