"""Fused FGSM/PGD step and random start: one pass over the image tensor.

    x_adv = clip(clip(x + step * sign(grad), x0 - eps, x0 + eps), lo, hi)     (fgsm_step)
    x_adv = clip(x0 + uniform(-eps, eps), lo, hi)                              (random_start)

An unfused step reads and writes the image several times (sign, add, two clamps for the
eps-ball, one for the valid range); here each element is read once from x, x0 and grad
and written once. Any float dtype (fp32, fp16, bf16) is computed in fp32 and stored in
x's dtype. Tensors are flattened: the kernel is a 1-D streaming loop, memory bound.
"""

from kerasvhn.kernels._triton import interpreting, round_to  # first: guards the Triton import

import torch
import triton
import triton.language as tl

_SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@triton.jit
def _fgsm_step_kernel(
    x_ptr, x0_ptr, grad_ptr, out_ptr, n_elements,
    step, eps, lo, hi,
    BLOCK_SIZE: tl.constexpr,
):
    tl.static_assert(BLOCK_SIZE >= 16)
    offsets = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask).to(tl.float32)
    x0 = tl.load(x0_ptr + offsets, mask=mask).to(tl.float32)
    grad = tl.load(grad_ptr + offsets, mask=mask).to(tl.float32)

    sign = tl.where(grad > 0, 1.0, tl.where(grad < 0, -1.0, 0.0))
    moved = x + step * sign
    projected = tl.minimum(tl.maximum(moved, x0 - eps), x0 + eps)
    clipped = tl.minimum(tl.maximum(projected, lo), hi)
    tl.store(out_ptr + offsets, round_to(clipped, out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _random_start_kernel(
    x0_ptr, out_ptr, n_elements, seed,
    eps, lo, hi,
    BLOCK_SIZE: tl.constexpr,
):
    tl.static_assert(BLOCK_SIZE >= 16)
    offsets = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x0 = tl.load(x0_ptr + offsets, mask=mask).to(tl.float32)
    # Philox keyed on (seed, element index): the same seed gives the same start
    # whatever the launch configuration.
    noise = (tl.rand(seed, offsets) * 2.0 - 1.0) * eps
    clipped = tl.minimum(tl.maximum(x0 + noise, lo), hi)
    tl.store(out_ptr + offsets, round_to(clipped, out_ptr.dtype.element_ty), mask=mask)


# 2048 elements per program, 8 warps: 8 elements (two 16-byte fp32 vectors) per thread,
# enough bytes in flight per SM to stream at HBM bandwidth.
_GPU_CONFIG = {"BLOCK_SIZE": 2048, "num_warps": 8}
_INTERPRETER_CONFIG = {"BLOCK_SIZE": 1 << 16, "num_warps": 4}  # few, big blocks: fast


def launch_config():
    """Block size and warps of the streaming kernels (the one place they are chosen)."""
    return dict(_INTERPRETER_CONFIG if interpreting() else _GPU_CONFIG)


def _bound(value, default):
    return float(default if value is None else value)


def _check(name, tensor, like):
    if tensor.shape != like.shape:
        raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(like.shape)}")
    if tensor.device != like.device:
        raise ValueError(f"{name} is on {tensor.device}, expected {like.device}")
    if tensor.dtype not in _SUPPORTED_DTYPES:
        raise TypeError(f"{name} has dtype {tensor.dtype}; the kernel takes {_SUPPORTED_DTYPES}")
    return tensor.contiguous()


def _grid(n_elements, config):
    return (triton.cdiv(n_elements, config["BLOCK_SIZE"]),)


@torch.no_grad()
def fgsm_step(x, x0, grad, step, eps, lo=None, hi=None):
    """One FGSM/PGD step, projected onto the L-inf eps-ball around x0 and into [lo, hi].

    Returns a new tensor of x's dtype and shape. `lo`/`hi` of None leave that side
    unbounded. A zero gradient leaves the element where it is.

    Example (on a CUDA tensor, or a CPU one with TRITON_INTERPRET=1):

    >>> x0 = torch.full((4,), 0.5, device="cuda")  # doctest: +SKIP
    >>> fgsm_step(x0, x0, torch.tensor([1.0, -1.0, 0.0, 2.0], device="cuda"), 0.1, 0.05, 0, 1)  # doctest: +SKIP
    tensor([0.5500, 0.4500, 0.5000, 0.5500], device='cuda:0')
    """
    x = _check("x", x, x)
    x0 = _check("x0", x0, x)
    grad = _check("grad", grad, x)
    out = torch.empty_like(x)
    n_elements = x.numel()
    if n_elements == 0:
        return out
    if n_elements >= 2**31:
        raise ValueError("fgsm_step indexes with int32: split tensors of 2**31 elements or more")
    config = launch_config()
    _fgsm_step_kernel[_grid(n_elements, config)](
        x, x0, grad, out, n_elements,
        float(step), float(eps), _bound(lo, -float("inf")), _bound(hi, float("inf")),
        BLOCK_SIZE=config["BLOCK_SIZE"], num_warps=config["num_warps"],
    )
    return out


@torch.no_grad()
def random_start(x0, eps, lo=None, hi=None, seed=0):
    """x0 plus uniform noise in [-eps, eps), clipped to [lo, hi]; deterministic in `seed`."""
    x0 = _check("x0", x0, x0)
    out = torch.empty_like(x0)
    n_elements = x0.numel()
    if n_elements == 0:
        return out
    if n_elements >= 2**31:
        raise ValueError("random_start indexes with int32: split tensors of 2**31 elements or more")
    config = launch_config()
    _random_start_kernel[_grid(n_elements, config)](
        x0, out, n_elements, int(seed) & 0x7FFFFFFF,
        float(eps), _bound(lo, -float("inf")), _bound(hi, float("inf")),
        BLOCK_SIZE=config["BLOCK_SIZE"], num_warps=config["num_warps"],
    )
    return out


def aot_specs():
    """Every variant the launchers above can choose on a GPU (see bench/aot.py)."""
    from kerasvhn.kernels._aot import spec

    block = {"BLOCK_SIZE": _GPU_CONFIG["BLOCK_SIZE"]}
    warps = _GPU_CONFIG["num_warps"]
    floats = ("step", "eps", "lo", "hi")
    return [
        spec(name, fn, dtype, block, warps, floats=floats)
        for dtype in ("fp32", "fp16", "bf16")
        for name, fn in (("fgsm_step", _fgsm_step_kernel), ("random_start", _random_start_kernel))
    ]
