"""The fused FGSM/PGD step and random start against torch references.

Torch backend only, never after TensorFlow is imported (Triton and TensorFlow both
bundle LLVM). Without a GPU, `test_kernels_pass_under_the_interpreter` reruns this
file in a fresh process with TRITON_INTERPRET=1 (the kernel tests report as skipped).
"""


import pytest

from kernel_testing import kernel_switches, require_triton_process, rerun_under_interpreter

require_triton_process()

import torch


INTERPRETING, RUN_KERNELS, DEVICE, kernels_here = kernel_switches()

if RUN_KERNELS:
    from kerasvhn.kernels.fgsm_step import fgsm_step, random_start

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def reference_step(x, x0, grad, step, eps, lo, hi):
    """The unfused step in fp32 torch ops, rounded once to x's dtype."""
    dtype = x.dtype
    x, x0, grad = (t.float() for t in (x, x0, grad))
    moved = x + step * torch.sign(grad)
    projected = torch.minimum(torch.maximum(moved, x0 - eps), x0 + eps)
    return projected.clamp(lo, hi).to(dtype)


def tensors(shape, dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x0 = torch.rand(shape, generator=generator)
    x = (x0 + (torch.rand(shape, generator=generator) - 0.5) * 0.1).clamp(0, 1)
    grad = torch.randn(shape, generator=generator)
    grad[..., 0] = 0.0  # sign(0) = 0: no step
    return (t.to(DEVICE, dtype) for t in (x, x0, grad))


@kernels_here
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(2, 54, 54, 3), (3, 7), (1,), (5, 1000, 13)])
def test_step_matches_reference(shape, dtype):
    x, x0, grad = tensors(shape, dtype)
    out = fgsm_step(x, x0, grad, 0.02, 0.03, 0.0, 1.0)
    expected = reference_step(x, x0, grad, 0.02, 0.03, 0.0, 1.0)
    assert out.dtype == dtype and out.shape == x.shape
    # fp32: bit for bit; half: the same fp32 result, rounded once to the dtype.
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


@kernels_here
def test_step_stays_in_the_ball_and_the_range_over_pgd_iterations():
    x, x0, _ = tensors((4, 32, 32, 3), torch.float32, seed=1)
    x = x0.clone()
    for seed in range(5):
        grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
        x = fgsm_step(x, x0, grad, 0.01, 0.025, 0.0, 1.0)
        assert float((x - x0).abs().max()) <= 0.025 + 1e-7
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


@kernels_here
def test_unbounded_sides_and_validation():
    x, x0, grad = tensors((10,), torch.float32)
    out = fgsm_step(x * 10, x0 * 10, grad, 5.0, 100.0)  # no lo/hi: no clipping
    torch.testing.assert_close(out, x * 10 + 5.0 * torch.sign(grad), rtol=0, atol=0)
    with pytest.raises(ValueError, match="shape"):
        fgsm_step(x, x0[:5], grad, 0.1, 0.1)
    with pytest.raises(TypeError, match="dtype"):
        fgsm_step(x.double(), x0.double(), grad.double(), 0.1, 0.1)
    empty = torch.empty((0, 3), device=DEVICE)
    assert fgsm_step(empty, empty, empty, 0.1, 0.1).shape == (0, 3)


@kernels_here
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_random_start_is_uniform_in_the_ball_and_seeded(dtype):
    _, x0, _ = tensors((8, 54, 54, 3), dtype)
    eps = 0.05
    start = random_start(x0, eps, 0.0, 1.0, seed=7)
    assert start.dtype == dtype
    assert torch.equal(start, random_start(x0, eps, 0.0, 1.0, seed=7))
    assert not torch.equal(start, random_start(x0, eps, 0.0, 1.0, seed=8))
    assert float(start.min()) >= 0.0 and float(start.max()) <= 1.0
    unclipped = random_start(x0, eps, seed=7)
    assert torch.equal(start, unclipped.clamp(0.0, 1.0))
    noise = (unclipped.float() - x0.float()) / eps  # ~ U(-1, 1): mean 0, variance 1/3
    slack = 1e-5 if dtype == torch.float32 else 0.2  # x0 + noise is rounded to the dtype
    assert float(noise.abs().max()) <= 1 + slack
    assert abs(float(noise.mean())) < 0.01
    assert abs(float(noise.var()) - 1 / 3) < 0.01


@pytest.mark.skipif(RUN_KERNELS, reason="the kernels run in this process")
def test_kernels_pass_under_the_interpreter():
    rerun_under_interpreter(__file__, timeout=600)