"""The data path: parse -> prepare -> batches (and synthetic house numbers).

- `read_digitstruct(path)`: SVHN format-1 labels (digitStruct.mat), Cython fast path.
- `prepare(src, out)`: the paper's crops, one cached HDF5 file per split.
- `SplitBatches(path_or_arrays, ...)`: a keras PyDataset of random (training) or
  centred (evaluation) 54x54 crops (the one name here that imports Keras).
- `download_svhn(data_dir)`: the official tarballs, resumable and verified.
- `synthesize(out, count, seed, purpose=...)`: synthetic street scenes as an SVHN
  format-1 folder; `render_numbers(count, seed, purpose=...)`: the same scenes
  framed 64x64 in memory.

Names load on first use, so `import kerasvhn.data` imports neither Keras nor h5py.

>>> from kerasvhn.data import render_numbers
>>> images, labels = render_numbers(2, seed=1, purpose="train")
>>> images.shape, sorted(labels)
((2, 64, 64, 3), ['digits', 'length'])
"""

from kerasvhn._lazy import lazy_exports

_EXPORTS = {
    "DigitStruct": "digitstruct",
    "DigitStructError": "digitstruct",
    "DownloadError": "download",
    "PrepareError": "preparation",
    "SplitBatches": "batches",
    "download_svhn": "download",
    "prepare": "preparation",
    "prepare_split": "preparation",
    "read_digitstruct": "digitstruct",
    "read_split": "splits",
    "render_numbers": "synth",
    "render_scene": "synth",
    "synthesize": "synth",
    "write_split": "splits",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
