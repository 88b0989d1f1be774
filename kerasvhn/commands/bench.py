"""`kerasvhn bench`: this machine's synthesis, parsing and reading speed."""

import os
import tempfile
import time

from kerasvhn.commands.arguments import int_at_least

HELP = "measure this machine: synthesis, digitStruct parsing and reading speed"
DESCRIPTION = (
    "Writes COUNT synthetic scenes to a temporary folder (images/s), parses its digitStruct.mat with the compiled "
    "and the pure-Python reader, and reads COUNT images with the shipped model in batches and one at a time. The "
    "full kernel, adversarial and data benchmarks are the scripts in bench/ of the source tree."
)


def add_arguments(parser):
    parser.add_argument("--count", type=int_at_least(16), default=600, help="images (default: %(default)s)")


def run(args):
    import keras

    rows, frames = _data_rows(args.count)
    rows += _reading_rows(frames)
    print(f"kerasvhn bench: {args.count} images, {keras.backend.backend()} backend, {os.cpu_count()} CPU cores")
    for label, rate in rows:
        print(f"  {label:<42} {rate:>10,.0f} images/s")
    return 0


def _rate(count, start):
    return count / max(time.perf_counter() - start, 1e-9)


def _data_rows(count):
    import numpy as np

    from kerasvhn.data.digitstruct import read_digitstruct
    from kerasvhn.data.synth import synthesize
    from kerasvhn.framing import frame
    from kerasvhn.predict import load_image

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        records = synthesize(folder, count, seed=0, progress=False, purpose="benchmark")
        rows.append(("synthesise scenes (PNG + digitStruct.mat)", _rate(count, start)))
        mat = os.path.join(folder, "digitStruct.mat")
        for label, method in (("parse digitStruct.mat, compiled", "fast"), ("parse digitStruct.mat, pure Python", "pure")):
            try:
                start = time.perf_counter()
                list(read_digitstruct(mat, method=method).records())
                rows.append((label, _rate(count, start)))
            except ImportError:
                rows.append((label + " (not built)", float("nan")))
        frames = np.stack([frame(load_image(os.path.join(folder, r["name"]))) for r in records])
    return rows, frames


def _reading_rows(frames):
    from kerasvhn.predict import read_frames
    from kerasvhn.saving import load_model

    model = load_model(None)
    read_frames(model, frames[:256])
    start = time.perf_counter()
    read_frames(model, frames)
    rows = [("read numbers, batches of 256", _rate(len(frames), start))]
    single = frames[:32]
    read_frames(model, single[:1])
    start = time.perf_counter()
    for one in single:
        read_frames(model, one[None])
    rows.append(("read numbers, one image at a time", _rate(len(single), start)))
    return rows
