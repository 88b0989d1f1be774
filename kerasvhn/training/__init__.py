"""Training MultiDigitNet on real SVHN, the way the paper did, over long runs.

- `train_on_svhn(data, run_dir, ...)` (`kerasvhn train OUT --data DIR`): trains on
  the prepared train split (and extra), holds out a validation set, checkpoints
  every epoch, resumes bit for bit, keeps the best weights by validation
  whole-number accuracy, stops early, and scores the test split at the end.
- `RECIPES`: the settings of each preset's recipe (`--preset goodfellow` is the paper's).

One module per job: `svhn_data` (the prepared splits and the validation hold-out),
`rows` (batches of chosen rows of several split files), `backend` (the one seam to
the backends: several devices, random-number state), `long_run` (checkpoints,
resume, logs, plot), `recipes`, and `svhn` (the training itself).

Names load on first use, so importing this package imports no backend.
"""

from kerasvhn._lazy import lazy_exports

_EXPORTS = {
    "RECIPES": "recipes",
    "RowBatches": "rows",
    "train_on_svhn": "svhn",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
