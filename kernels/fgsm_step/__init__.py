"""Fused FGSM/PGD step and random start: one pass over the image tensor.

    x_adv = clip(clip(x + step * sign(grad), x0 - eps, x0 + eps), lo, hi)     (fgsm_step)
    x_adv = clip(x0 + uniform(-eps, eps), lo, hi)                              (random_start)

An unfused step reads and writes the image several times (sign, add, two clamps for the
eps-ball, one for the valid range); here each element is read once from x, x0 and grad
and written once. Any float dtype (fp32, fp16, bf16) is computed in fp32 and stored in
x's dtype. Tensors are flattened: the kernel is a 1-D streaming loop, memory bound.

Modules, as in `conv_bn_relu` (no autograd Function: the step is not differentiated):
`triton_kernels` (the @triton.jit kernels), `launch` (block size and warps, and
`aot_specs()` for bench/aot.py), `op` (`fgsm_step`, `random_start` on torch tensors,
what `kerasvhn.adversarial.attacks.fgsm_step` runs on the fused path).
"""

from kerasvhn.kernels.fgsm_step.op import fgsm_step, random_start

__all__ = ["fgsm_step", "random_start"]
