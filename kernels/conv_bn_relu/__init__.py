"""Fused conv2d + BatchNorm + ReLU on NHWC tensors (Keras's layout), implicit GEMM.

The convolution is a GEMM out[m, co] = sum_k A[m, k] * W[k, co] where m runs over the
output positions (n, oh, ow) and k over the window (kh, kw, ci). A is never built:
each program gathers its [BLOCK_M, BLOCK_K] tile of A straight from the NHWC input
(padding is a masked load), and the Keras kernel (KH, KW, Cin, Cout) already *is* the
[K, Cout] matrix W in row-major order. Accumulation is fp32 whatever the input dtype.

Inference: BN folded into the weights and a bias (torch ops on the small weight
tensors, differentiable), then one kernel: conv, + bias, ReLU.

Training: the conv kernel also writes, per BLOCK_M tile and channel, the tile's mean
and M2 (sum of squared deviations, two-pass within the tile); a small kernel merges
the tiles with Chan et al.'s parallel formula (numerically stable where a sum and
sum of squares is not) into the batch mean and biased variance, and a light
elementwise kernel normalises and applies ReLU.

Backward (torch.autograd.Function, all Triton): ReLU + batch-statistics BN backward
(per-tile partial sums of g and g*x_hat, then the elementwise dL/dconv), then the
conv gradients as two implicit GEMMs: grad input (a transposed convolution over
the output gradient, strided positions masked) and grad kernel (x^T dY, split over
M so that a few hundred programs share the long reduction).

Modules, each importing only the ones above it:
- `triton_kernels`: the @triton.jit kernels.
- `launch`: the launch table and its one selection (`launch_config`,
  `launch_kwargs`; `TILE_OVERRIDES`, for tests), and `aot_specs()`, every variant a
  GPU can get, for bench/aot.py.
- `autograd`: the torch.autograd.Functions and the launchers they call.
- `op`: `conv_bn_relu(x, kernel, gamma, beta, moving_mean, moving_variance, ...)`,
  the Keras-facing op `ConvBNReLU` calls, and `conv_geometry`.
"""

from kerasvhn.kernels.conv_bn_relu.autograd import DTYPES
from kerasvhn.kernels.conv_bn_relu.op import conv_bn_relu, conv_geometry

__all__ = ["DTYPES", "conv_bn_relu", "conv_geometry"]
