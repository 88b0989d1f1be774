"""Launch parameters of the FGSM kernels, and every variant they give on a GPU (`aot_specs`)."""

from kerasvhn.kernels._triton import interpreting  # first: guards the Triton import

from kerasvhn.kernels._aot import spec
from kerasvhn.kernels.fgsm_step.triton_kernels import fgsm_step_kernel, random_start_kernel

# 2048 elements per program, 8 warps: 8 elements (two 16-byte fp32 vectors) per thread,
# enough bytes in flight per SM to stream at HBM bandwidth.
_GPU_CONFIG = {"BLOCK_SIZE": 2048, "num_warps": 8}
_INTERPRETER_CONFIG = {"BLOCK_SIZE": 1 << 16, "num_warps": 4}  # few, big blocks: fast


def launch_config():
    """Block size and warps of the streaming kernels (the one place they are chosen)."""
    return dict(_INTERPRETER_CONFIG if interpreting() else _GPU_CONFIG)


def aot_specs():
    """Every variant the launchers can choose on a GPU (see bench/aot.py)."""
    block = {"BLOCK_SIZE": _GPU_CONFIG["BLOCK_SIZE"]}
    warps = _GPU_CONFIG["num_warps"]
    floats = ("step", "eps", "lo", "hi")
    return [
        spec(name, fn, dtype, block, warps, floats=floats)
        for dtype in ("fp32", "fp16", "bf16")
        for name, fn in (("fgsm_step", fgsm_step_kernel), ("random_start", random_start_kernel))
    ]
