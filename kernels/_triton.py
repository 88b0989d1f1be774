"""What the kernel modules share about Triton; each imports this before Triton.

Triton must never load in a process that has loaded TensorFlow (both bundle LLVM: the
process aborts), so importing this there raises instead. Under the interpreter
(TRITON_INTERPRET=1, how the kernels are tested on CPU), fp32 -> bf16 conversions
truncate where GPUs round to nearest even; `round_to` makes both round alike, so
interpreted bf16 results are the GPU's.
"""

import os
import sys

if "tensorflow" in sys.modules:
    raise ImportError(
        "kerasvhn.kernels cannot be imported after TensorFlow: TensorFlow and Triton "
        "both bundle LLVM and the process would abort"
    )

import triton  # noqa: E402
import triton.language as tl  # noqa: E402


def interpreting():
    """True when Triton runs kernels through its CPU interpreter."""
    return os.environ.get("TRITON_INTERPRET", "") == "1"


# Read once, as Triton does when the kernels are decorated (import time).
_INTERPRETED = tl.constexpr(interpreting())


@triton.jit
def round_to(x, dtype: tl.constexpr):
    """fp32 `x` converted to `dtype`, rounded to nearest even on GPU and interpreter alike."""
    if _INTERPRETED and dtype == tl.bfloat16:
        # Round the fp32 bits to their top 16 (ties to even) and reinterpret those:
        # no float conversion (the interpreter's also mishandles subnormals).
        bits = x.to(tl.uint32, bitcast=True)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return bits.to(tl.uint16).to(tl.bfloat16, bitcast=True)
    return x.to(dtype)
