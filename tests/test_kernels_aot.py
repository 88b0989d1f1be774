"""The Triton kernels compile for real GPUs: sm_80 (A100) and sm_90 (H100), no GPU needed.

Runs bench/aot.py (its own process: it compiles real, not interpreted, kernels) on a
representative subset: every GEMM variant in fp16 and exact fp32 (bf16 shares fp16's
configurations, tf32 the half-precision tiles), one bf16 variant of every other
kernel. `python bench/aot.py` compiles all of them.
"""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_testing import require_triton_process

require_triton_process()
if importlib.util.find_spec("triton") is None:
    pytest.skip("Triton is not installed", allow_module_level=True)

AOT = Path(__file__).resolve().parents[1] / "bench" / "aot.py"
SUBSET = r"^conv_\w+ (fp16|fp32 .*ieee)|^(bn_|fgsm|random)\w* bf16|^bn_stats"
GEMMS = {"conv_fwd", "conv_bwd_input", "conv_bwd_weight"}
KERNELS = GEMMS | {"bn_stats", "bn_relu", "bn_relu_bwd_reduce", "bn_bwd", "fgsm_step", "random_start"}
SHARED_MEMORY_LIMIT = {"sm_80": 166_912, "sm_90": 232_448}


@pytest.fixture(scope="module")
def rows():
    result = subprocess.run(
        [sys.executable, str(AOT), "--json", "--match", SUBSET],
        capture_output=True, text=True, timeout=900,
    )
    lines = result.stdout.strip().splitlines()
    assert lines, f"bench/aot.py printed nothing:\n{result.stderr[-4000:]}"
    return json.loads(lines[-1])


def test_every_kernel_compiles_for_both_architectures(rows):
    for arch in SHARED_MEMORY_LIMIT:
        assert {row["kernel"] for row in rows if row["arch"] == arch} == KERNELS, arch
    assert all(row["registers"] and row["registers"] <= 255 for row in rows)


def test_no_register_spills(rows):
    spilling = [(row["kernel"], row["config"], row["arch"], row["spills"]) for row in rows if row["spills"] != 0]
    assert not spilling


def test_shared_memory_within_the_block_limit(rows):
    over = [
        (row["kernel"], row["config"], row["arch"], row["shared_bytes"])
        for row in rows if row["shared_bytes"] > SHARED_MEMORY_LIMIT[row["arch"]]
    ]
    assert not over


def test_half_precision_gemms_use_wgmma_on_sm90(rows):
    half_gemms = [row for row in rows if row["kernel"] in GEMMS and re.match(r"(fp16|bf16) ", row["config"])]
    assert {row["kernel"] for row in half_gemms} == GEMMS
    assert all(row["tensor_core_gemm"] for row in half_gemms)
    assert {row["mma"] for row in half_gemms if row["arch"] == "sm_90"} == {"wgmma"}
    assert {row["mma"] for row in half_gemms if row["arch"] == "sm_80"} == {"mma"}
