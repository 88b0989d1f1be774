"""Do the Triton kernels compile for real GPUs? Ahead-of-time compile, no GPU needed.

Every kernel in every configuration its launcher can choose on a GPU (`aot_specs()`,
beside each op's launch table in kernels/<op>/launch.py), compiled with
`triton.compile(ASTSource(...), target=GPUTarget("cuda", arch, 32))` for sm_80 (A100)
and sm_90 (H100). Registers, spills and static shared memory come from the ptxas log
of that compile (Triton's bundled ptxas, -v), the dynamic shared memory from Triton's
metadata; "mma" says which tensor-core instruction the PTX uses (wgmma, mma or none),
so half-precision GEMMs can be checked for wgmma on sm_90.

    python bench/aot.py            # table
    python bench/aot.py --json     # one JSON list of rows
    python bench/aot.py --match "conv_fwd .*fp16" --archs 90   # a subset
"""

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

# The kernels live in kerasvhn, which imports Keras: on torch, never TensorFlow (both
# it and Triton bundle LLVM). Compile real kernels, not interpreted ones, and compile
# afresh (a cache hit runs no ptxas, so leaves no log to read).
os.environ["KERAS_BACKEND"] = "torch"
os.environ.pop("TRITON_INTERPRET", None)
os.environ["TRITON_CACHE_DIR"] = tempfile.mkdtemp(prefix="kerasvhn-aot-")
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import markdown_table  # noqa: E402

# Shared memory one block may use (opt-in maximum), bytes.
SHARED_MEMORY_LIMIT = {80: 166_912, 90: 232_448}
ARCHS = (80, 90)


def all_specs():
    from kerasvhn.kernels.conv_bn_relu import launch as conv_bn_relu
    from kerasvhn.kernels.fgsm_step import launch as fgsm_step

    return conv_bn_relu.aot_specs() + fgsm_step.aot_specs()


def _ptxas_resources(log, name):
    """Registers, spill bytes and static shared memory of `name` in a ptxas -v log."""
    registers = spills = shared = None
    current = None
    for line in log.splitlines():
        match = re.search(r"(?:Compiling entry function|Function properties for) '?(\w+)'?", line)
        if match:
            current = match.group(1)
        if current != name:
            continue
        match = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if match:
            spills = int(match.group(1)) + int(match.group(2))
        match = re.search(r"Used (\d+) registers", line)
        if match:
            registers = int(match.group(1))
            smem = re.search(r"(\d+) bytes smem", line)
            shared = int(smem.group(1)) if smem else 0
    return registers, spills, shared


def _mma_kind(ptx):
    if "wgmma.mma_async" in ptx:
        return "wgmma"
    if re.search(r"\bmma\.sync", ptx):
        return "mma"
    return "none"


def compile_one(job):
    """Compiles spec `index` for `arch`; returns its row (run in a worker process)."""
    index, arch = job
    import triton
    from triton.backends.compiler import GPUTarget

    spec = all_specs()[index]
    source = triton.compiler.ASTSource(
        fn=spec["fn"], signature=spec["signature"], constexprs=spec["constexprs"], attrs=spec["attrs"]
    )
    log = io.StringIO()
    triton.knobs.nvidia.dump_ptxas_log = True
    with contextlib.redirect_stdout(log):
        compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32), options=spec["options"])
    registers, spills, static_shared = _ptxas_resources(log.getvalue(), compiled.metadata.name)
    return {
        "kernel": spec["kernel"],
        "config": spec["config"],
        "arch": f"sm_{arch}",
        "registers": registers,
        "spills": spills,
        "shared_bytes": compiled.metadata.shared + (static_shared or 0),
        "mma": _mma_kind(compiled.asm["ptx"]),
        "tensor_core_gemm": spec["tensor_core_gemm"],
    }


def compile_all(match=None, archs=ARCHS, workers=None):
    """Rows for every spec whose "kernel config" matches the regular expression `match`."""
    specs = all_specs()
    jobs = [
        (index, arch) for arch in archs for index, spec in enumerate(specs)
        if match is None or re.search(match, f'{spec["kernel"]} {spec["config"]}')
    ]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        return list(pool.map(compile_one, jobs))


def problems(rows):
    """What is wrong with the compiled kernels (an empty list when nothing is)."""
    found = []
    for row in rows:
        arch = int(row["arch"][3:])
        where = f'{row["kernel"]} [{row["config"]}] on {row["arch"]}'
        if row["spills"] != 0:
            found.append(f"{where}: {row['spills']} bytes of register spills")
        if row["shared_bytes"] > SHARED_MEMORY_LIMIT[arch]:
            found.append(f"{where}: {row['shared_bytes']} B of shared memory > {SHARED_MEMORY_LIMIT[arch]}")
        if row["tensor_core_gemm"] and arch >= 90 and row["mma"] != "wgmma":
            found.append(f"{where}: half-precision GEMM without wgmma ({row['mma']})")
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON list of rows")
    parser.add_argument("--match", help='regular expression on "kernel config" (default: all)')
    parser.add_argument("--archs", default="80,90", help="comma-separated compute capabilities")
    parser.add_argument("--workers", type=int, help="compile processes (default: one per core)")
    args = parser.parse_args(argv)
    rows = compile_all(args.match, tuple(int(a) for a in args.archs.split(",")), args.workers)
    if args.json:
        print(json.dumps(rows))
    else:
        print(markdown_table(rows, [
            ("kernel", "kernel", "{}"), ("config", "config", "{}"), ("arch", "arch", "{}"),
            ("registers", "registers", "{}"), ("spills", "spills (B)", "{}"),
            ("shared_bytes", "shared (B)", "{}"), ("mma", "mma", "{}"),
        ]))
    found = problems(rows)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
