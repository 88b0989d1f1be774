"""Real SVHN for training: the prepared splits, and the validation hold-out.

`find_splits(data)` takes the folder `kerasvhn prepare` wrote (train.h5, test.h5,
extra.h5), or SVHN format-1 folders (train/, test/, extra/ with their
digitStruct.mat), which it prepares on the fly into `data/prepared/` (a cache:
prepared again only when the folders change).

`hold_out(files, counts)` sets the validation images apart. Goodfellow et al. 2013
(section 5.1) chose their stopping points "using a validation set" without saying
how it was made; the SVHN protocol of the same group (Sermanet et al. 2012, used by
Goodfellow et al. 2013's maxout networks, the paper's per-digit reference) holds
out 400 images per class from train and 200 per class from extra, 6,000 in all,
and trains on the rest of both. We hold out the same numbers, 4,000 images of
train and 2,000 of extra (extra only when training on it), drawn at random since
a whole house number has no single class. The draw is keyed by a constant, not by
the training seed: every run on the same splits validates on the same images.

NumPy and h5py only (no Keras).
"""

import dataclasses
from pathlib import Path

import numpy as np

SPLITS = ("train", "test", "extra")
#: Images held out for validation from each split trained on (Sermanet et al. 2012's numbers).
VALIDATION_COUNTS = {"train": 4000, "extra": 2000}
_VALIDATION_STREAM = 1312_6082
_SPLIT_CODE = {"train": 0, "extra": 2}


@dataclasses.dataclass
class SVHNData:
    """The prepared files (split -> Path) and, per split trained on, the rows used
    for training and the rows held out for validation (sorted int64 arrays)."""

    files: dict
    training: dict
    validation: dict

    def streams(self):
        """What the model is trained on, for `MultiDigitNet.training_streams`."""
        return [
            {"purpose": "svhn", "split": split, "count": int(self.training[split].size),
             "held_out": int(self.validation[split].size)}
            for split in self.training
        ]

    def describe(self):
        """'train 29,402 + 4,000 held out, extra ...'."""
        return ", ".join(f"{split} {self.training[split].size:,} (+{self.validation[split].size:,} held out for "
                         "validation)" for split in self.training)


def find_splits(data, extra=False, log=print):
    """{split: prepared .h5 Path} of train, test (when there) and extra (with `extra`).

    data: a folder of prepared splits (train.h5, ...) or of SVHN format-1 folders,
    prepared into data/prepared/ first. Raises FileNotFoundError naming what is missing."""
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(f"{data}: no such folder (give the folder `kerasvhn prepare` wrote, or SVHN's)")
    wanted = ("train", "test", "extra") if extra else ("train", "test")
    if not (data / "train.h5").is_file() and (data / "train" / "digitStruct.mat").is_file():
        data = _prepare_folders(data, wanted, log)
    files = {split: data / f"{split}.h5" for split in wanted if (data / f"{split}.h5").is_file()}
    for split in ("train", "extra") if extra else ("train",):
        if split not in files:
            raise FileNotFoundError(
                f"{data} has no prepared {split} split ({split}.h5): run `kerasvhn download DIR --splits train "
                f"test{' extra' if extra else ''}` and `kerasvhn prepare DIR {data}`, or give the downloaded folder")
    if "test" not in files:
        log(f"note: {data} has no test split (test.h5): the model will not be scored at the end")
    return files


def _prepare_folders(data, wanted, log):
    from kerasvhn.data.preparation import prepare

    out = data / "prepared"
    log(f"preparing the SVHN folders in {data} into {out} (the paper's 64x64 crops; reused next time)")
    present = [split for split in wanted if (data / split / "digitStruct.mat").is_file()]
    for summary in prepare(str(data), str(out), splits=present):
        log(str(summary))
    return out


def split_size(path):
    """The number of images in a prepared split file."""
    import h5py

    with h5py.File(path, "r") as split:
        return int(split["length"].shape[0])


def hold_out(files, counts=None):
    """SVHNData of `files` with `counts[split]` images of each training split held out.

    counts: {split: images}, by default VALIDATION_COUNTS for the training splits
    present (train, and extra when in files). A split must keep images to train on."""
    trained = [split for split in ("train", "extra") if split in files]
    counts = {split: VALIDATION_COUNTS[split] for split in trained} if counts is None else dict(counts)
    unknown = set(counts) - set(trained)
    if unknown:
        raise ValueError(f"cannot hold out images of {sorted(unknown)}: the splits trained on are {trained}")
    training, validation = {}, {}
    for split in trained:
        size, count = split_size(files[split]), int(counts.get(split, 0))
        if not 0 <= count < size:
            raise ValueError(f"cannot hold out {count} of the {size} images of {split}: keep some to train on")
        rng = np.random.default_rng([_VALIDATION_STREAM, _SPLIT_CODE[split], size])
        held = np.sort(rng.choice(size, count, replace=False)).astype(np.int64)
        validation[split] = held
        training[split] = np.setdiff1d(np.arange(size, dtype=np.int64), held)
    return SVHNData(files=dict(files), training=training, validation=validation)


def parse_counts(text):
    """'4000,2000' -> {"train": 4000, "extra": 2000}; '500' -> {"train": 500}."""
    parts = [part.strip() for part in str(text).split(",")]
    if not 1 <= len(parts) <= 2 or not all(part.isdigit() for part in parts):
        raise ValueError(f"expected TRAIN or TRAIN,EXTRA (numbers of images), got {text!r}")
    return dict(zip(("train", "extra"), (int(part) for part in parts)))


def source_settings(files):
    """The number of images of each prepared split: a resumed run must find the
    same (its validation rows and its data order depend on them)."""
    return {split: split_size(path) for split, path in sorted(files.items())}
