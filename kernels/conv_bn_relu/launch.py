"""Launch parameters of the conv + BN + ReLU kernels, and every variant they give on a GPU.

`launch_config(op, ...)` is the one place tile sizes, warps, stages and GEMM flags are
chosen (from `GPU_CONFIGS`, or `INTERPRETER_CONFIGS` under TRITON_INTERPRET=1, with
`TILE_OVERRIDES` on top); `launch_kwargs(kernel, config)` turns a configuration into
the keyword arguments of that kernel's launch. `aot_specs()` asks the same two for
every dtype, precision, width and channel regime, so bench/aot.py compiles exactly
what the launchers can run.
"""

import functools

from kerasvhn.kernels._triton import interpreting  # first: guards the Triton import

import torch
import triton

from kerasvhn.kernels._aot import spec
from kerasvhn.kernels.conv_bn_relu import triton_kernels as tk

# Every configuration dispatch can choose on a GPU, by (op, precision, width): op is
# the kernel; precision "half" (fp16/bf16 tensor cores), "tf32" or "ieee" (exact
# fp32, FMA units); width "narrow" for <= 64 output columns, "wide" otherwise.
# Tiles are powers of two >= 16; half and tf32 GEMMs use 128-row tiles (one wgmma
# warpgroup per 64 rows on sm_90). bench/aot.py compiles each for sm_80 and sm_90;
# warps and stages are the choices with no register spills there (ptxas spills some
# neighbours of these, e.g. exact fp32 with 2 stages, even far below 255 registers).
_GEMM_HALF_TF32 = {
    "narrow": dict(BLOCK_M=128, BLOCK_N=64, BLOCK_K=32, num_warps=4, num_stages=3),
    "wide": dict(BLOCK_M=128, BLOCK_N=128, BLOCK_K=32, num_warps=8, num_stages=3),
}
# The grad-kernel GEMM reduces over M (rows of x and grad_y): BLOCK_M is its K side,
# BLOCK_K the rows of W it produces.
_WGRAD_HALF = {
    "narrow": dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=64, num_warps=4, num_stages=3),
    "wide": dict(BLOCK_M=64, BLOCK_N=128, BLOCK_K=64, num_warps=8, num_stages=3),
}
_WGRAD_TF32 = {
    "narrow": dict(BLOCK_M=32, BLOCK_N=64, BLOCK_K=64, num_warps=4, num_stages=3),
    "wide": dict(BLOCK_M=32, BLOCK_N=128, BLOCK_K=64, num_warps=8, num_stages=3),
}
_WIDTHS = ("narrow", "wide")
GPU_CONFIGS = {
    **{("conv_fwd", p, w): _GEMM_HALF_TF32[w] for p in ("half", "tf32") for w in _WIDTHS},
    **{("conv_fwd", "ieee", w): dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=16, num_warps=8, num_stages=3)
       for w in _WIDTHS},
    **{("conv_bwd_input", p, w): _GEMM_HALF_TF32[w] for p in ("half", "tf32") for w in _WIDTHS},
    **{("conv_bwd_input", "ieee", w): dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=16, num_warps=4, num_stages=3)
       for w in _WIDTHS},
    **{("conv_bwd_weight", "half", w): _WGRAD_HALF[w] for w in _WIDTHS},
    **{("conv_bwd_weight", "tf32", w): _WGRAD_TF32[w] for w in _WIDTHS},
    **{("conv_bwd_weight", "ieee", w): dict(BLOCK_M=16, BLOCK_N=64, BLOCK_K=64, num_warps=4, num_stages=2)
       for w in _WIDTHS},
    ("elementwise", None, None): dict(BLOCK_M=64, BLOCK_N=64, num_warps=4),
    ("stats", None, None): dict(BLOCK_M=32, BLOCK_N=32, num_warps=4),
}
_GEMMS = ("conv_fwd", "conv_bwd_input", "conv_bwd_weight")

# Under the interpreter each tile op is one NumPy call: few, big tiles are fastest.
INTERPRETER_CONFIGS = {
    **{(op, precision, width): dict(BLOCK_M=256 if op == "conv_bwd_weight" else 1024,
                                    BLOCK_N=64 if width == "narrow" else 256,
                                    BLOCK_K=128, num_warps=4, num_stages=1)
       for op in _GEMMS for precision in ("half", "tf32", "ieee") for width in _WIDTHS},
    ("elementwise", None, None): dict(BLOCK_M=1024, BLOCK_N=256, num_warps=4),
    ("stats", None, None): dict(BLOCK_M=16, BLOCK_N=256, num_warps=4),
}


# Tile sizes forced over the table above, by op: {"conv_fwd": {"BLOCK_M": 16}, ...}.
# Empty (the tables rule) except in tests, which shrink tiles so that the multi-tile
# paths (several per-tile statistics merged, several chunks of them) run under the
# interpreter too. Tiles stay >= 16 (the kernels' static asserts, and the GPU's minimum).
TILE_OVERRIDES = {}


def _config_table():
    return INTERPRETER_CONFIGS if interpreting() else GPU_CONFIGS


def _precision(dtype):
    if dtype != torch.float32:
        return "half"
    return "ieee" if torch.get_float32_matmul_precision() == "highest" else "tf32"


def launch_config(op, dtype=None, columns=None, channels=None):
    """Block sizes, warps, stages and GEMM flags of one launch: the one place they are chosen.

    op: "conv_fwd", "conv_bwd_input", "conv_bwd_weight" (the GEMMs), "elementwise"
    or "stats"; dtype: the GEMM's input dtype; columns: its output columns;
    channels: the input channels of a GEMM over (kh, kw, ci) windows (conv_fwd,
    conv_bwd_weight), which walks the window flattened (FLAT_K) when they are fewer
    than a K block.
    fp32 GEMMs are exact ("ieee") unless torch.set_float32_matmul_precision allows
    tf32, as for torch's own matmuls.
    """
    precision = _precision(dtype) if op in _GEMMS else None
    config = _select(_config_table(), op, precision, columns, channels, TILE_OVERRIDES.get(op))
    if "DOT_UPCAST" in config:
        config["DOT_UPCAST"] = interpreting() and dtype != torch.float32
    return config


def _select(table, op, precision, columns, channels, overrides=None):
    if precision is None:
        return {**table[(op, None, None)], **(overrides or {})}
    config = {**table[(op, precision, "narrow" if columns <= 64 else "wide")], **(overrides or {})}
    config["DOT_PRECISION"] = "ieee" if precision == "ieee" else "tf32"
    config["DOT_UPCAST"] = False
    if channels is not None:
        config["FLAT_K"] = channels < config["BLOCK_K"]
        if config["FLAT_K"] and op == "conv_fwd" and table is GPU_CONFIGS:
            # Per-element (kh, kw, ci) index math costs registers: 16-wide K blocks
            # keep the forward's FLAT_K variants free of spills. (In conv_bwd_weight
            # BLOCK_K is the dot's M side, which wgmma needs at 64.)
            config["BLOCK_K"] = 16
    return config


def launch_kwargs(kernel, config):
    """`kernel[grid](...)`'s keyword arguments from its op's launch configuration:
    the constexprs (named as the kernel names them), num_warps and num_stages."""
    options = {"num_warps": config["num_warps"]}
    if "num_stages" in config:
        options["num_stages"] = config["num_stages"]
    return {**_constexprs(kernel, config), **options}


def _constexprs(kernel, config):
    flags = _pick(config, "DOT_PRECISION", "DOT_UPCAST") if kernel in _GEMMS else {}
    if kernel == "conv_fwd":
        return {**_pick(config, "BLOCK_M", "BLOCK_N", "BLOCK_K", "FLAT_K"), **flags}
    if kernel == "conv_bwd_input":
        return {**_pick(config, "BLOCK_M", "BLOCK_N", "BLOCK_K"), **flags}
    if kernel == "conv_bwd_weight":  # BLOCK_R rows of W per program, BLOCK_M rows of M per step
        return {"BLOCK_R": config["BLOCK_K"], **_pick(config, "BLOCK_N", "BLOCK_M", "FLAT_K"), **flags}
    if kernel == "bn_stats":  # BLOCK_T tiles of statistics at a time
        return {"BLOCK_T": config["BLOCK_M"], "BLOCK_C": config["BLOCK_N"]}
    return {"BLOCK_M": config["BLOCK_M"], "BLOCK_C": config["BLOCK_N"]}  # the elementwise kernels


def _pick(config, *names):
    return {name: config[name] for name in names}


def wgrad_splits(rows, tiles, block_m, device):
    """How many slices the grad-kernel reduction over M is cut into: enough programs
    to fill the GPU twice, each slice at least 8 row blocks long."""
    if device.type != "cuda":
        return 1
    target = 2 * _multiprocessors(device.index if device.index is not None else torch.cuda.current_device())
    return max(1, min(triton.cdiv(target, tiles), triton.cdiv(rows, 8 * block_m)))


@functools.lru_cache(maxsize=None)
def _multiprocessors(device_index):
    return torch.cuda.get_device_properties(device_index).multi_processor_count


# ------------------------------------------------------------------ ahead-of-time specs

# The kernel of each launch, and its pointers that are fp32 whatever the tensors' dtype.
_KERNELS = {
    "conv_fwd": (tk.conv_fwd_kernel, ("bias_ptr", "tile_mean_ptr", "tile_m2_ptr")),
    "conv_bwd_input": (tk.conv_bwd_input_kernel, ()),
    "conv_bwd_weight": (tk.conv_bwd_weight_kernel, ("grad_w_ptr",)),
    "bn_relu": (tk.bn_relu_kernel, ("scale_ptr", "shift_ptr")),
    "bn_relu_bwd_reduce": (
        tk.bn_relu_bwd_reduce_kernel, ("mean_ptr", "rstd_ptr", "tile_sum_g_ptr", "tile_sum_gx_ptr"),
    ),
    "bn_bwd": (tk.bn_bwd_kernel, ("coef_g_ptr", "coef_y_ptr", "coef_1_ptr")),
    "bn_stats": (tk.bn_stats_kernel, ()),
}


def aot_specs():
    """Every kernel variant the launchers can choose on a GPU, found by asking
    `_select` (as `launch_config` does) for each dtype, fp32 precision, width and
    channel regime, and `launch_kwargs` for its constexprs (see bench/aot.py)."""
    return _gemm_specs() + _elementwise_specs()


def _spec(kernel, dtype, config, extra=None, **options):
    fn, fp32_pointers = _KERNELS[kernel]
    return spec(
        kernel, fn, dtype, {**_constexprs(kernel, config), **(extra or {})},
        config["num_warps"], config.get("num_stages"),
        pointer_dtypes=dict.fromkeys(fp32_pointers, "fp32"), **options,
    )


def _gemm_configs():
    """(op, dtype) -> the distinct GPU configurations `launch_config` can give it."""
    found = {}
    for op in _GEMMS:
        for dtype, precision in (("fp32", "ieee"), ("fp32", "tf32"), ("fp16", "half"), ("bf16", "half")):
            for columns in (64, 256):
                for channels in (None,) if op == "conv_bwd_input" else (3, 256):
                    config = _select(GPU_CONFIGS, op, precision, columns, channels)
                    configs = found.setdefault((op, dtype), [])
                    if config not in configs:
                        configs.append(config)
    return found


def _gemm_specs():
    specs = []
    for (op, dtype), configs in _gemm_configs().items():
        epilogues = (tk.EPILOGUE_BIAS_RELU, tk.EPILOGUE_STATS) if op == "conv_fwd" else (None,)
        for config in configs:
            # FLAT_K variants take few input channels (RGB): C is not a multiple of 16.
            aligned = ("COUT",) if config.get("FLAT_K") else ("C", "COUT")
            for epilogue in epilogues:
                specs.append(_spec(
                    op, dtype, config, None if epilogue is None else {"EPILOGUE": epilogue},
                    aligned=aligned, tensor_core_gemm=dtype != "fp32",
                ))
    return specs


def _elementwise_specs():
    elementwise = GPU_CONFIGS[("elementwise", None, None)]
    specs = []
    for dtype in ("fp32", "fp16", "bf16"):
        specs.append(_spec("bn_relu", dtype, elementwise, aligned=("COUT",)))
        for batch_stats in (True, False):
            specs.append(_spec("bn_relu_bwd_reduce", dtype, elementwise, {"BATCH_STATS": batch_stats},
                               aligned=("COUT",)))
        specs.append(_spec("bn_bwd", dtype, elementwise, aligned=("COUT",)))
    stats = GPU_CONFIGS[("stats", None, None)]
    specs.append(_spec("bn_stats", "fp32", stats, floats=("eps",), aligned=("COUT",)))
    return specs
