"""Shared benchmark harness: timing, one process per Keras backend, JSON + table output.

Machines here are noisy: every script measures the things it compares side by side
in one run and reports ratios as well as absolute figures.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time


def time_per_call(fn, warmup=2, repeats=5, min_seconds=0.5):
    """Median seconds per call of fn() after warmup calls (repeats grow to min_seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    started = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - started < min_seconds:
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
        if len(times) >= 50:
            break
    return statistics.median(times)


def machine_description():
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def run_on_backend(script, backend, args=(), timeout=3600):
    """Runs `script --worker ARGS` with KERAS_BACKEND=backend; returns its last stdout line as JSON."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, script, "--worker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{backend} worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def markdown_table(rows, columns):
    """rows: list of dicts; columns: list of (key, header, format)."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        cells = [fmt.format(row[key]) if row.get(key) is not None else "-" for key, _, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
