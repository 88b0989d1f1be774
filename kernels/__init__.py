"""Triton kernels for kerasvhn, installed as `kerasvhn.kernels`.

One package per op, each split the same way: `triton_kernels` (the @triton.jit
kernels), `launch` (the launch table, the one place tile sizes and warps are chosen,
and `aot_specs()` beside it), `autograd` (the torch.autograd.Functions that launch
the kernels, where the op is differentiated) and `op` (what the Keras side calls,
with tensors: never a layer). Nothing here is imported unless `kerasvhn.fused`
decides a kernel can run: on the torch backend, never in a process where TensorFlow
is loaded.

- `conv_bn_relu`: NHWC implicit-GEMM conv2d + BatchNorm + ReLU, training (batch
  statistics, Chan-merged per-tile mean/M2) and inference (BN folded), with a
  Triton backward; `conv_bn_relu(x, kernel, gamma, beta, moving_mean,
  moving_variance, strides, padding, epsilon, use_batch_statistics)` is what
  `ConvBNReLU` runs, and returns the batch statistics for its moving averages.
- `fgsm_step`: the fused FGSM/PGD step `fgsm_step(x, x0, grad, step, eps, lo, hi)`
  and its random start `random_start(x0, eps, lo, hi, seed)`.
- `_triton`: what the kernel modules share about Triton (never after TensorFlow;
  the interpreter, TRITON_INTERPRET=1, on which they are tested on CPU); `_aot`:
  compile specs for bench/aot.py, which checks every GPU variant ahead of time for
  sm_80 and sm_90.
"""
