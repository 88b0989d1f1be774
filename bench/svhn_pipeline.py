"""The SVHN pipeline at SVHN's size, on a synthetic stand-in: download -> prepare -> train -> evaluate.

    python bench/svhn_pipeline.py [--scale 1.0] [--steps 200] [--scratch DIR] [--svhn-labels DIR]
                                  [--kernels-json FILE] [--json FILE]
    python bench/svhn_pipeline.py --table FILE     # the finished stages of a --json FILE

Writes a stand-in of SVHN format 1 with SVHN's split sizes times --scale (train
33,402, test 13,068, extra 202,353 images at 1.0): street scenes from
`kerasvhn.data.synthesize` (purpose "train" for train and extra, "test" for test,
lengths "svhn"). Each scene is then resized so that its number is as tall as the
number of the real SVHN image of the same index (SVHN's digit boxes in
--svhn-labels, when there; the synthetic sizes otherwise), so the images are sized
like SVHN's. Extra reuses images: a pool of 20,000 x scale scenes, hard-linked in
turn, with one digitStruct.mat entry per image (202,353 entries). Each split is
tarred as SVHN's are (<split>.tar.gz holding <split>/, regular files only) and
served from a local HTTP server. The stand-in is kept in --scratch and reused.

Then, each stage in a fresh process (KERAS_BACKEND as set, tensorflow if unset),
timed, its peak memory sampled from /proc every 0.1 s (the sum of the resident
memory of the process and its workers, and the process's own peak):

    download <split>   kerasvhn.data.download_svhn from the local server (fetch,
                       verify the SHA256, extract)
    prepare <split>    kerasvhn.data.preparation.prepare_split (the paper's crops)
    train goodfellow   `kerasvhn train --data --extra --preset goodfellow`, the
                       first --steps batches of one epoch, then its validation
    train small        one full epoch of the small preset on train + extra
    evaluate <preset>  the saved model on the test split

and prints their table (time, images/s, peak memory) and the projected time of the
goodfellow recipe (`kerasvhn.training.RECIPES`, at most 40 epochs of train + extra
with a validation pass each) at the measured speeds; on a GPU too when given the
JSON of `python bench/kernels.py --json FILE` run on one (a bound from its conv
layers' timings). The full-size run (2 cores shared with other jobs, 2026-12-01): the
stand-in 61 min (once), the stages 37 min, 17 GB of disk in --scratch; a stopped run
keeps its finished stages in --json (print them with --table). A benchmark, not a
test: tests use a scaled-down stand-in.
"""

import argparse
import functools
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import machine_description, markdown_table  # noqa: E402
from prepare_memory import sample_tree  # noqa: E402

SIZES = {"train": 33_402, "test": 13_068, "extra": 202_353}
EXTRA_POOL = 20_000
ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------- the stand-in


def reference_heights(labels_dir, split):
    """The height of the number (union of its digit boxes) of each real SVHN image, in
    image order, from SVHN's digitStruct.csv (name;label;top;left;height;width); None
    when the file is not there."""
    path = Path(labels_dir or "") / split / "digitStruct.csv"
    if not labels_dir or not path.is_file():
        return None
    extents = {}
    with open(path) as lines:
        next(lines)
        for line in lines:
            name, _, top, _, height, _ = line.strip().split(";")
            low, high = extents.get(name, (np.inf, -np.inf))
            extents[name] = (min(low, float(top)), max(high, float(top) + float(height)))
    ordered = sorted(extents, key=lambda name: int(name.split(".")[0]))
    return [extents[name][1] - extents[name][0] for name in ordered]


def _resize_scene(task):
    """Resizes one scene so its number is `height` pixels tall; returns its new record."""
    from PIL import Image

    folder, record, height = task
    top = min(record["top"])
    scale = float(np.clip(height / max(max(t + h for t, h in zip(record["top"], record["height"])) - top, 1.0),
                          0.3, 4.0))
    path = os.path.join(folder, record["name"])
    with Image.open(path) as image:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        resized = image.convert("RGB").resize(size, Image.BILINEAR)
    resized.save(path, compress_level=1)
    new = dict(record)
    for key in ("left", "top", "width", "height"):
        new[key] = [max(1.0 if key in ("width", "height") else 0.0, float(round(v * scale))) for v in record[key]]
    return new


def scenes(folder, count, seed, purpose, heights):
    """`count` synthetic scenes in an SVHN format-1 folder, sized like SVHN's (heights)."""
    from kerasvhn.data.digitstruct_writer import write_digitstruct
    from kerasvhn.data.parallel import parallel_map
    from kerasvhn.data.synth import synthesize

    records = synthesize(str(folder), count, seed=seed, purpose=purpose, lengths="svhn", progress=True)
    if heights:
        tasks = [(str(folder), record, heights[i % len(heights)]) for i, record in enumerate(records)]
        records = list(parallel_map(_resize_scene, tasks, 2, True, f"size {folder.name} like SVHN"))
        write_digitstruct(str(folder / "digitStruct.mat"), records)
    return records


def linked_split(folder, pool, pool_records, count):
    """`count` images hard-linked in turn to the pool's, one digitStruct entry each."""
    from kerasvhn.data.digitstruct_writer import write_digitstruct

    folder.mkdir(parents=True)
    records = []
    for index in range(count):
        record = pool_records[index % len(pool_records)]
        name = f"{index + 1}.png"
        os.link(pool / record["name"], folder / name)
        records.append(dict(record, name=name))
    write_digitstruct(str(folder / "digitStruct.mat"), records)


def tarball(folder, split, out):
    """out/<split>.tar.gz of the folder as <split>/..., every member a regular file
    (hard links are stored as copies: the downloader refuses links); (size, sha256)."""
    path = out / f"{split}.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        top = tarfile.TarInfo(split)
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(top)
        for name in sorted(os.listdir(folder), key=lambda n: (not n[0].isdigit(), len(n), n)):
            info = tarfile.TarInfo(f"{split}/{name}")
            info.size, info.mode, info.mtime = os.path.getsize(folder / name), 0o644, int(time.time())
            with open(folder / name, "rb") as handle:
                tar.addfile(info, handle)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return path.stat().st_size, digest.hexdigest()


def standin(scratch, scale, labels_dir):
    """The stand-in (made once per scale): {"counts", "files": {split: [size, sha256]}, ...}."""
    root = scratch / f"standin-{scale:g}"
    marker = root / "standin.json"
    if marker.exists():
        return json.loads(marker.read_text()), root
    shutil.rmtree(root, ignore_errors=True)
    counts = {split: max(32, round(size * scale)) for split, size in SIZES.items()}
    started = time.perf_counter()
    folders, served = root / "folders", root / "served"
    served.mkdir(parents=True)
    train_heights = reference_heights(labels_dir, "train")
    scenes(folders / "train", counts["train"], 0, "train", train_heights)
    scenes(folders / "test", counts["test"], 0, "test", reference_heights(labels_dir, "test"))
    pool_size = min(counts["extra"], max(32, round(EXTRA_POOL * scale)))
    pool_records = scenes(root / "pool", pool_size, 1, "train", train_heights[::-1] if train_heights else None)
    linked_split(folders / "extra", root / "pool", pool_records, counts["extra"])
    files = {split: tarball(folders / split, split, served) for split in SIZES}
    info = {"counts": counts, "files": files, "extra_pool": pool_size, "seconds": time.perf_counter() - started,
            "sized_like_svhn": train_heights is not None, "image_size": _mean_size(folders)}
    marker.write_text(json.dumps(info, indent=1))
    return info, root


def _mean_size(folders, sample=500):
    from PIL import Image

    sizes = {}
    for split in SIZES:
        names = sorted(os.listdir(folders / split))[:sample]
        dims = [Image.open(folders / split / n).size for n in names if n.endswith(".png")]
        sizes[split] = [float(np.mean([d[0] for d in dims])), float(np.mean([d[1] for d in dims]))]
    return sizes


# ---------------------------------------------------------------------- stages


def stage_download(split, url, dest, size, sha256):
    from kerasvhn.data.download import download_svhn

    shutil.rmtree(Path(dest) / split, ignore_errors=True)
    download_svhn(dest, splits=(split,), base_url=url, progress=False, keep_archives=False,
                  known={f"{split}.tar.gz": {"size": size, "sha256": sha256, "md5": None}})
    return {"images": sum(name.endswith(".png") for name in os.listdir(Path(dest) / split)), "bytes": size}


def stage_prepare(split, dest, cache):
    from kerasvhn.data.preparation import prepare_split

    out = Path(cache) / f"{split}.h5"
    out.unlink(missing_ok=True)
    summary = prepare_split(str(Path(dest) / split), str(out), split, progress=False)
    return {"images": summary.images, "skipped": len(summary.skipped)}


def batch_clock():
    """A Keras callback timing every training batch; `steady(batch_size)` is the
    speed after the first batches (tracing, compilation)."""
    import keras

    class BatchClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times = [time.perf_counter()]

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

        def steady(self, batch_size):
            batches = len(self.times) - 1
            skip = min(10, batches // 5)
            return batch_size * (batches - skip) / max(self.times[batches] - self.times[skip], 1e-9)

    return BatchClock()


def stage_train(preset, data, run_dir, out, steps, validation, batch_size):
    from kerasvhn.saving import save_model
    from kerasvhn.training.svhn import train_on_svhn

    shutil.rmtree(run_dir, ignore_errors=True)
    clock = batch_clock()
    started = time.perf_counter()
    model, history, _ = train_on_svhn(data, run_dir, preset=preset, extra=True, epochs=1, steps_per_epoch=steps,
                                      batch_size=batch_size, validation=validation, callbacks=[clock], verbose=2,
                                      log=lambda line: print(line, file=sys.stderr))
    seconds = time.perf_counter() - started
    save_model(model, out)
    batches = len(clock.times) - 1
    record = json.loads((Path(run_dir) / "run.json").read_text())
    epoch = sum(record["data"][split] - record["settings"]["validation"][split] for split in ("train", "extra"))
    return {"images": min(batches * batch_size, epoch), "images_per_s": clock.steady(batch_size),
            "fit_seconds": seconds, "batches": batches, "batch_size": batch_size, "loss": history["loss"][-1],
            "epoch_images": epoch}


def stage_evaluate(model_path, test):
    from kerasvhn.data.splits import read_split
    from kerasvhn.evaluate import evaluate_model
    from kerasvhn.saving import load_model

    images, labels = read_split(test)
    scores = evaluate_model(load_model(model_path), images, labels)
    return {"images": scores["count"], "images_per_s": scores["predict_images_per_s"],
            "whole_number_accuracy": scores["whole_number_accuracy"]}


STAGES = {"download": stage_download, "prepare": stage_prepare, "train": stage_train, "evaluate": stage_evaluate}


def worker(name, arguments):
    """Runs in the measured process: one stage, its result as the last stdout line."""
    result = STAGES[name](*arguments)
    result["main_mb"] = _peak_rss_mb()
    print(json.dumps(result))


def _peak_rss_mb():
    """This process's peak resident memory since it started (VmHWM; ru_maxrss would
    count the parent's memory at the fork before the exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_stage(label, name, *arguments):
    """Runs a stage in a fresh process; its row: seconds, peak memory and the result."""
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    print(f"-- {label}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", name, json.dumps(arguments)],
                               env=env, stdout=subprocess.PIPE, text=True)
    peaks, stop = {"rss": 0, "pss": 0, "processes": 0, "worker": 0}, threading.Event()
    loads = []
    samplers = [threading.Thread(target=sample_tree, args=(process.pid, peaks, stop), daemon=True),
                threading.Thread(target=_sample_load, args=(loads, stop), daemon=True)]
    for sampler in samplers:
        sampler.start()
    stdout, _ = process.communicate()
    stop.set()
    for sampler in samplers:
        sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"stage {label!r} failed (exit {process.returncode})")
    row = json.loads(stdout.strip().splitlines()[-1])
    row.update(stage=label, seconds=time.perf_counter() - started, pss_mb=peaks["pss"] / 1024, load=np.mean(loads),
               tree_mb=max(peaks["rss"] / 1024, row["main_mb"]), worker_mb=peaks["worker"] / 1024)
    row.setdefault("images_per_s", row["images"] / row["seconds"])
    print(f"   {row['seconds']:.0f} s, {row['images_per_s']:.0f} images/s, peak {row['tree_mb']:.0f} MB, "
          f"load {row['load']:.1f}",
          file=sys.stderr, flush=True)
    return row


def _sample_load(loads, stop):
    """The machine's 1-minute load average every 2 s until `stop` (other jobs slow the stages)."""
    while True:
        loads.append(os.getloadavg()[0])
        if stop.wait(2.0):
            return


# ------------------------------------------------------------------ the pipeline


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    """A local HTTP server of `directory` in a thread; returns (server, base URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def pipeline(info, root, args):
    """Every stage in turn; the rows of the table."""
    downloaded, cache, runs = root / "downloaded", root / "cache", root / "runs"
    for folder in (downloaded, cache, runs):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    for name in ("no_proxy", "NO_PROXY"):
        os.environ[name] = "127.0.0.1,localhost"
    server, url = serve(root / "served")
    try:
        rows = []
        for split in SIZES:
            rows.append(run_stage(f"download {split}", "download", split, url, str(downloaded), *info["files"][split]))
            _keep(rows, info, args)
    finally:
        server.shutdown()
    for split in SIZES:
        rows.append(run_stage(f"prepare {split}", "prepare", split, str(downloaded), str(cache)))
        _keep(rows, info, args)
    data = runs / "train-data"  # train and extra only: the test split is scored by its own stage
    data.mkdir()
    for split in ("train", "extra"):
        os.symlink(cache / f"{split}.h5", data / f"{split}.h5")
    validation = {"train": min(4000, max(8, round(4000 * args.scale))),
                  "extra": min(2000, max(8, round(2000 * args.scale)))}
    for preset, steps, batch in (("goodfellow", args.steps, 128), ("small", None, 64)):
        what = f"{steps} batches" if steps else "1 epoch"
        rows.append(run_stage(f"train {preset} ({what})", "train", preset, str(data), str(runs / preset),
                              str(runs / f"{preset}.keras"), steps, validation, batch))
        _keep(rows, info, args)
        rows.append(run_stage(f"evaluate {preset}", "evaluate", str(runs / f"{preset}.keras"),
                              str(cache / "test.h5")))
        _keep(rows, info, args)
    return rows


def _keep(rows, info, args):
    """Writes the rows so far to --json: a run stopped part way keeps its finished stages."""
    if args.json:
        args.json.write_text(json.dumps({"standin": info, "rows": rows, "complete": False}, indent=1))


def projection(rows, validation_images, test_images, kernels_json):
    """Lines: the goodfellow recipe's time at the measured speeds (and a GPU bound)."""
    from kerasvhn.training.recipes import RECIPES

    recipe = RECIPES["goodfellow"]
    train = next(r for r in rows if r["stage"].startswith("train goodfellow"))
    predict = next(r for r in rows if r["stage"] == "evaluate goodfellow")["images_per_s"]
    images = train["epoch_images"]
    epoch = images / train["images_per_s"] + validation_images / predict
    total = recipe["epochs"] * epoch + test_images / predict
    lines = [f"goodfellow recipe ({recipe['epochs']} epochs at most of {images:,} images, batch "
             f"{recipe['batch_size']}, a validation pass of {validation_images:,} each): {epoch / 3600:.2f} h an "
             f"epoch, at most {total / 3600:.1f} h ({total / 86400:.1f} days) on {machine_description()}, "
             f"{os.environ.get('KERAS_BACKEND', 'tensorflow')} (early stopping may end it sooner)"]
    lines.append(_gpu_line(kernels_json, recipe, images))
    return lines


def _gpu_line(kernels_json, recipe, images):
    if not kernels_json or not Path(kernels_json).is_file():
        return ("GPU: no measurement (run `python bench/kernels.py --json kernels.json` on a GPU and pass "
                "--kernels-json kernels.json)")
    rows = [r for r in json.loads(Path(kernels_json).read_text())
            if r.get("op") == "train_backward" and r.get("case", "").startswith("goodfellow/") and "ms" in r]
    if not rows:
        return f"GPU: {kernels_json} has no goodfellow train_backward timings"
    best = {}
    for row in rows:
        best[row["case"]] = min(best.get(row["case"], np.inf), row["ms"])
    batch = rows[0]["batch"]
    rate = batch / (sum(best.values()) / 1000)
    hours = recipe["epochs"] * images / rate / 3600
    return (f"GPU ({kernels_json}): the conv layers alone train at {rate:,.0f} images/s (batch {batch}, best of "
            f"fused/cuDNN/compile per layer), so the recipe needs at least {hours:.1f} h of them")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="split sizes times this (1.0: SVHN's)")
    parser.add_argument("--steps", type=int, default=200, help="goodfellow's training batches (of 128)")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/kerasvhn-svhn-pipeline"))
    labels = next((p for p in (ROOT / "shared" / "svhn-labels", ROOT.parent / "shared" / "svhn-labels")
                   if p.is_dir()), None)
    parser.add_argument("--svhn-labels", type=Path, default=labels,
                        help="SVHN's digit boxes as CSV (train/ and test/digitStruct.csv; default: %(default)s)")
    parser.add_argument("--kernels-json", type=Path, default=None, help="bench/kernels.py's JSON from a GPU")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    parser.add_argument("--table", type=Path, default=None, metavar="FILE",
                        help="print the table of the stages a --json FILE holds (a run stopped part way) and exit")
    parser.add_argument("--worker", nargs=2, metavar=("STAGE", "ARGUMENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker[0], json.loads(args.worker[1]))
    if args.table:
        return print_table(json.loads(args.table.read_text())["rows"])
    args.scratch.mkdir(parents=True, exist_ok=True)
    info, root = standin(args.scratch, args.scale, args.svhn_labels)
    rows = pipeline(info, root, args)
    report(info, rows, args)


def report(info, rows, args):
    counts = info["counts"]
    validation = min(4000, max(8, round(4000 * args.scale))) + min(2000, max(8, round(2000 * args.scale)))
    print(f"\n# SVHN pipeline on a synthetic stand-in ({machine_description()}, "
          f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'tensorflow')}, scale {args.scale:g})\n")
    print(f"stand-in: train {counts['train']:,}, test {counts['test']:,}, extra {counts['extra']:,} images "
          f"(extra: {info['extra_pool']:,} scenes hard-linked in turn); sized like SVHN's: {info['sized_like_svhn']}; "
          "mean width x height: " + ", ".join(f"{s} {w:.0f}x{h:.0f}" for s, (w, h) in info["image_size"].items())
          + f"; made in {info['seconds']:.0f} s (once)\n")
    print_table(rows)
    print()
    for line in projection(rows, validation, counts["test"], args.kernels_json):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"standin": info, "rows": rows, "complete": True}, indent=1))


def print_table(rows):
    print(markdown_table(rows, [
        ("stage", "stage", "{}"), ("images", "images", "{:,}"), ("seconds", "time (s)", "{:.0f}"),
        ("images_per_s", "images/s", "{:,.0f}"), ("main_mb", "peak RSS (MB)", "{:,.0f}"),
        ("tree_mb", "peak RSS with its workers (MB)", "{:,.0f}"), ("load", "load average", "{:.1f}"),
    ]))
    print("\npeak RSS: the stage process's own peak (VmHWM); with its workers: the largest sum, sampled every "
          "0.1 s, of the resident memory of the process and its worker processes (pages they share counted once "
          "per process: an upper bound); load: the machine's mean 1-minute load average during the stage (other "
          f"jobs included; {os.cpu_count()} cores)")


if __name__ == "__main__":
    sys.exit(main())
