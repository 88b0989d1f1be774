"""`fgsm_step` and `random_start` on torch tensors: what the Keras-facing
`kerasvhn.adversarial.attacks.fgsm_step` runs on the fused path."""

from kerasvhn.kernels import _triton  # noqa: F401  first: guards the Triton import

import torch
import triton

from kerasvhn.kernels.fgsm_step.launch import launch_config
from kerasvhn.kernels.fgsm_step.triton_kernels import fgsm_step_kernel, random_start_kernel

_SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _bounds(lo, hi):
    """(lo, hi) as floats, a side of None unbounded."""
    return (-float("inf") if lo is None else float(lo), float("inf") if hi is None else float(hi))


def _check(name, tensor, like):
    if tensor.shape != like.shape:
        raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(like.shape)}")
    if tensor.device != like.device:
        raise ValueError(f"{name} is on {tensor.device}, expected {like.device}")
    if tensor.dtype not in _SUPPORTED_DTYPES:
        raise TypeError(f"{name} has dtype {tensor.dtype}; the kernel takes {_SUPPORTED_DTYPES}")
    return tensor.contiguous()


def _launch(op, kernel, inputs, scalars, like):
    """out = kernel(*inputs, out, n_elements, *scalars), out a new tensor like `like`."""
    out = torch.empty_like(like)
    n_elements = like.numel()
    if n_elements == 0:
        return out
    if n_elements >= 2**31:
        raise ValueError(f"{op} indexes with int32: split tensors of 2**31 elements or more")
    config = launch_config()
    kernel[(triton.cdiv(n_elements, config["BLOCK_SIZE"]),)](
        *inputs, out, n_elements, *scalars,
        BLOCK_SIZE=config["BLOCK_SIZE"], num_warps=config["num_warps"],
    )
    return out


@torch.no_grad()
def fgsm_step(x, x0, grad, step, eps, lo=None, hi=None):
    """One FGSM/PGD step, projected onto the L-inf eps-ball around x0 and into [lo, hi].

    Returns a new tensor of x's dtype and shape. `lo`/`hi` of None leave that side
    unbounded. A zero gradient leaves the element where it is.

    Example (on a CUDA tensor, or a CPU one with TRITON_INTERPRET=1):

    >>> x0 = torch.full((4,), 0.5, device="cuda")  # doctest: +SKIP
    >>> grad = torch.tensor([1.0, -1.0, 0.0, 2.0], device="cuda")  # doctest: +SKIP
    >>> fgsm_step(x0, x0, grad, 0.1, 0.05, 0, 1)  # doctest: +SKIP
    tensor([0.5500, 0.4500, 0.5000, 0.5500], device='cuda:0')
    """
    x = _check("x", x, x)
    inputs = (x, _check("x0", x0, x), _check("grad", grad, x))
    return _launch("fgsm_step", fgsm_step_kernel, inputs, (float(step), float(eps), *_bounds(lo, hi)), x)


@torch.no_grad()
def random_start(x0, eps, lo=None, hi=None, seed=0):
    """x0 plus uniform noise in [-eps, eps), clipped to [lo, hi]; deterministic in `seed`."""
    x0 = _check("x0", x0, x0)
    scalars = (int(seed) & 0x7FFFFFFF, float(eps), *_bounds(lo, hi))
    return _launch("random_start", random_start_kernel, (x0,), scalars, x0)
