"""The @triton.jit kernels of the fused FGSM/PGD step and its random start: 1-D
streaming loops over flattened tensors, computed in fp32 and stored in the output's
dtype (memory bound: each element read once per input and written once)."""

from kerasvhn.kernels._triton import round_to  # first: guards the Triton import

import triton
import triton.language as tl


@triton.jit
def fgsm_step_kernel(
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
def random_start_kernel(
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
