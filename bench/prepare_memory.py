"""How much memory does `prepare` take, and does it grow with the split? Peak RSS at two sizes.

    python bench/prepare_memory.py [--sizes 10000 50000 202353] [--scenes 50000] [--scratch DIR]
                                   [--json results.json]

Synthesises --scenes street scenes once (kerasvhn.data.synthesize, seed 0: about
300 scenes/s on 2 cores; kept in --scratch and reused by later runs), makes for each
size a split folder of N images (symbolic links to the PNGs, cycling through the
scenes when N is larger, and a digitStruct.mat of their records: a real-size file,
about 7 KB per image), and prepares each folder from scratch in a fresh process
(`prepare_split`, its default two spawned workers, KERAS_BACKEND as set,
tensorflow if unset). Memory is counted three ways:

- `main`: ru_maxrss of the process running prepare_split (RUSAGE_SELF);
- `largest worker`: the largest VmHWM (peak RSS) of its descendants, sampled from
  /proc every 0.1 s. Also printed: ru_maxrss of RUSAGE_CHILDREN, the largest of
  its waited-for children (the pool's workers, joined when it closes), which is
  at least the main process's RSS when it spawned them: a spawned child is forked
  before it execs, and Linux carries the high-water mark across the exec;
- `tree RSS` / `tree PSS`: the peak, sampled every 0.1 s, of the sum over the
  prepare process and all its descendants of VmRSS (counts pages shared between
  them once per process: an upper bound) and of Pss (shared pages split between
  the processes sharing them: the total the machine really spends).

The slope between the two largest sizes (KB per image) says whether memory grows
with the split; the last line extrapolates each figure to SVHN's extra split
(202,353 images) from them, for runs that do not measure it directly.
"""

import argparse
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import machine_description, markdown_table  # noqa: E402

EXTRA = 202_353
SEED = 0


def scenes(scratch, count):
    """A folder of at least `count` synthetic scenes (made once, then reused)."""
    made = [
        int(name.split("-")[1])
        for name in os.listdir(scratch)
        if name.startswith("scenes-") and name.endswith(f"-seed{SEED}")
        and os.path.exists(os.path.join(scratch, name, "digitStruct.mat"))
    ]
    count = min([size for size in made if size >= count], default=count)
    folder = os.path.join(scratch, f"scenes-{count}-seed{SEED}")
    if count not in made:
        from kerasvhn.data.synth import synthesize

        started = time.perf_counter()
        synthesize(folder, count, seed=SEED, progress=True, purpose="train")
        print(f"synthesised {count} scenes in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return folder


def split_folder(scratch, source, count):
    """scratch/split-N/train: N images, links to the scenes in turn, and their records."""
    from kerasvhn.data.digitstruct import read_digitstruct
    from kerasvhn.data.digitstruct_writer import write_digitstruct

    folder = os.path.join(scratch, f"split-{count}", "train")
    if os.path.exists(os.path.join(folder, "digitStruct.mat")):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    scenes = itertools.cycle(read_digitstruct(os.path.join(source, "digitStruct.mat")).records())
    records = []
    for index, record in zip(range(count), scenes):
        name = f"{index + 1}.png"
        os.symlink(os.path.join(source, record["name"]), os.path.join(folder, name))
        records.append(dict(record, name=name))
    write_digitstruct(os.path.join(folder, "digitStruct.mat"), records)
    return folder


def worker(src, out):
    """Runs in the measured process: prepares src into out, prints what it took."""
    from kerasvhn.data.preparation import prepare_split

    started = time.perf_counter()
    summary = prepare_split(src, out, progress=False)
    seconds = time.perf_counter() - started
    mb = 1024  # ru_maxrss is in KiB on Linux
    print(json.dumps({
        "images": summary.images,
        "seconds": seconds,
        "main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / mb,
        "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / mb,
    }))


def _tree(root):
    """root and all its descendants' pids (from /proc's parent pids)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    pids, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier and pid not in pids]
        pids.update(children)
        frontier = children
    return pids


def _kib(path, field):
    try:
        with open(path) as lines:
            for line in lines:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample_tree(root, peaks, stop):
    """Keeps peaks["rss"], peaks["pss"] (KiB) the largest sums seen over root's tree."""
    while not stop.is_set():
        pids = _tree(root)
        peaks["rss"] = max(peaks["rss"], sum(_kib(f"/proc/{pid}/status", "VmRSS") for pid in pids))
        peaks["pss"] = max(peaks["pss"], sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids))
        peaks["processes"] = max(peaks["processes"], len(pids))
        workers = [_kib(f"/proc/{pid}/status", "VmHWM") for pid in pids - {root}]
        peaks["worker"] = max([peaks["worker"], *workers])
        stop.wait(0.1)


def measure(scratch, source, count, backend):
    src = split_folder(scratch, source, count)
    out = os.path.join(scratch, f"split-{count}", "train.h5")
    if os.path.exists(out):
        os.remove(out)  # prepared from scratch, not reused
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--worker", src, out],
        env=env, stdout=subprocess.PIPE, text=True,
    )
    peaks, stop = {"rss": 0, "pss": 0, "processes": 0, "worker": 0}, threading.Event()
    sampler = threading.Thread(target=sample_tree, args=(process.pid, peaks, stop), daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"prepare of {count} images failed (exit {process.returncode})")
    row = json.loads(stdout.strip().splitlines()[-1])
    row.update(size=count, backend=backend, tree_rss_mb=peaks["rss"] / 1024, tree_pss_mb=peaks["pss"] / 1024,
               worker_mb=peaks["worker"] / 1024, processes=peaks["processes"],
               file_mb=os.path.getsize(out) / 1024**2,
               digitstruct_mb=os.path.getsize(os.path.join(src, "digitStruct.mat")) / 1024**2)
    os.remove(out)
    return row


def extrapolate(rows):
    """KB per image between the two largest sizes, and each figure at EXTRA images."""
    small, large = sorted(rows, key=lambda r: r["size"])[-2:]
    line = {"size": EXTRA, "backend": "extrapolated", "seconds": None}
    for key in ("main_mb", "worker_mb", "children_maxrss_mb", "tree_rss_mb", "tree_pss_mb"):
        slope = (large[key] - small[key]) / (large["size"] - small["size"])
        line[key] = large[key] + slope * (EXTRA - large["size"])
        line[key.replace("_mb", "_kb_per_image")] = slope * 1024
    return line


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--scenes", type=int, default=50_000, help="scenes to synthesise (cycled past that)")
    parser.add_argument("--scratch", default=os.path.join("/tmp", "kerasvhn-prepare-memory"))
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--worker", nargs=2, metavar=("SRC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker)
    if len(set(args.sizes)) < 2:
        parser.error("give at least two different --sizes")
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    os.makedirs(args.scratch, exist_ok=True)
    source = scenes(args.scratch, min(args.scenes, max(args.sizes)))
    rows = [measure(args.scratch, source, count, backend) for count in sorted(args.sizes)]
    line = extrapolate(rows)
    print(f"# prepare's peak memory ({machine_description()}, KERAS_BACKEND={backend})\n")
    columns = [
        ("size", "images", "{:,}"),
        ("seconds", "seconds", "{:.0f}"),
        ("main_mb", "main process MB", "{:.0f}"),
        ("worker_mb", "largest worker MB", "{:.0f}"),
        ("children_maxrss_mb", "RUSAGE_CHILDREN MB", "{:.0f}"),
        ("tree_rss_mb", "sum of RSS MB", "{:.0f}"),
        ("tree_pss_mb", "sum of PSS MB", "{:.0f}"),
        ("digitstruct_mb", "digitStruct.mat MB", "{:.0f}"),
        ("file_mb", "HDF5 file MB", "{:.0f}"),
    ]
    measured = any(row["size"] == EXTRA for row in rows)
    print(markdown_table(rows + ([] if measured else [line]), columns))
    print("\nslope, KB per image: " + ", ".join(
        f"{key.replace('_kb_per_image', '')} {line[key]:+.3f}" for key in line if key.endswith("_kb_per_image")
    ))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "extrapolated": line}, handle, indent=1)


if __name__ == "__main__":
    main()
