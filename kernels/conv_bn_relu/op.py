"""The Keras-facing op: what `ConvBNReLU` runs on the fused path (through kerasvhn.fused).

Keras's layouts and conventions in, the autograd Functions behind: NHWC inputs, a
(KH, KW, Cin, Cout) kernel, "same"/"valid" padding with TF's split, and BatchNorm as
keras.layers.BatchNormalization computes it. The layer passes tensors and its
settings; updating the moving statistics stays the layer's.
"""

import torch

from kerasvhn.kernels.conv_bn_relu.autograd import ConvBiasReLU, ConvBNReLUTraining


def conv_bn_relu(x, kernel, gamma, beta, moving_mean, moving_variance, strides=(1, 1),
                 padding="same", epsilon=1e-3, use_batch_statistics=False):
    """Fused relu(batch_norm(conv2d(x, kernel))) on NHWC torch tensors.

    x: (N, H, W, Cin) float32/float16/bfloat16, the dtype it computes and returns in;
    kernel: (KH, KW, Cin, Cout), cast to x's dtype; gamma, beta, moving_mean,
    moving_variance: (Cout,), computed in float32. With batch statistics, returns
    (out, batch mean, biased batch variance), the statistics float32 and not
    differentiable; without, (out, None, None), the moving statistics folded into the
    conv. Differentiable in x, kernel, gamma and beta.

    Example (CUDA tensors, or CPU ones with TRITON_INTERPRET=1):

    >>> x = torch.randn(2, 8, 8, 3, device="cuda")  # doctest: +SKIP
    >>> ones, zeros = torch.ones(16, device="cuda"), torch.zeros(16, device="cuda")  # doctest: +SKIP
    >>> out, mean, variance = conv_bn_relu(x, torch.randn(3, 3, 3, 16, device="cuda"),  # doctest: +SKIP
    ...                                    ones, zeros, zeros, ones, use_batch_statistics=True)
    >>> tuple(out.shape), tuple(mean.shape)  # doctest: +SKIP
    ((2, 8, 8, 16), (16,))
    """
    x = x.contiguous()
    w = kernel.to(x.dtype).contiguous()
    geometry = conv_geometry(x.shape, w.shape, tuple(strides), padding)
    gamma, beta = gamma.float().contiguous(), beta.float().contiguous()
    if use_batch_statistics:
        return ConvBNReLUTraining.apply(x, w, gamma, beta, geometry, float(epsilon))
    scale = gamma * torch.rsqrt(moving_variance.float() + epsilon)
    bias = (beta - moving_mean.float() * scale).contiguous()
    folded = (w.float() * scale).to(x.dtype).contiguous()
    return ConvBiasReLU.apply(x, folded, bias, geometry), None, None


def conv_geometry(input_shape, kernel_shape, strides, padding):
    """Output size and top/left padding, with Keras/TF "same" semantics (the extra
    padding row/column, if any, goes after: pad_before = total // 2)."""
    _, height, width, _ = input_shape
    kernel_h, kernel_w = kernel_shape[:2]
    (out_h, pad_h), (out_w, pad_w) = (
        _output_and_padding(size, kernel, stride, padding)
        for size, kernel, stride in ((height, kernel_h, strides[0]), (width, kernel_w, strides[1]))
    )
    if out_h <= 0 or out_w <= 0:
        raise ValueError(
            f"input {tuple(input_shape)} is smaller than the {kernel_h}x{kernel_w} window "
            f'with padding="valid"'
        )
    return {"OH": out_h, "OW": out_w, "PAD_H": pad_h, "PAD_W": pad_w,
            "STRIDE_H": strides[0], "STRIDE_W": strides[1]}


def _output_and_padding(size, kernel, stride, padding):
    if padding == "same":
        out = -(-size // stride)
        return out, max((out - 1) * stride + kernel - size, 0) // 2
    return (size - kernel) // stride + 1, 0
