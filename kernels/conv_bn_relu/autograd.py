"""The torch.autograd.Functions of the fused conv + BN + ReLU, and the launchers they call.

`ConvBNReLUTraining`: batch statistics, outputs (out, batch mean, biased batch
variance). `ConvBiasReLU`: the inference path, BN folded into the weights and a bias.
Both run their backward in Triton. The launchers allocate the outputs, take their
tiles from `launch.py` and launch one kernel of `triton_kernels.py` each.
"""

from kerasvhn.kernels import _triton  # noqa: F401  first: guards the Triton import

import torch
import triton

from kerasvhn.kernels.conv_bn_relu import triton_kernels as tk
from kerasvhn.kernels.conv_bn_relu.launch import launch_config, launch_kwargs, wgrad_splits

# The dtypes the kernels compute in (Keras names); they accumulate in fp32.
DTYPES = ("float32", "float16", "bfloat16")
_TORCH_DTYPES = tuple(getattr(torch, name) for name in DTYPES)


def _check_inputs(x, w, geometry):
    """Raises unless x and w are one supported dtype and int32 indices reach every element."""
    if x.dtype not in _TORCH_DTYPES:
        raise TypeError(f"the fused conv_bn_relu kernel takes {', '.join(DTYPES)}, got {x.dtype}")
    if w.dtype != x.dtype:
        raise TypeError(f"kernel dtype {w.dtype} differs from the input's {x.dtype}")
    out_elements = x.shape[0] * geometry["OH"] * geometry["OW"] * w.shape[-1]
    if max(x.numel(), w.numel(), out_elements) >= 2**31:
        raise ValueError("the conv kernels index with int32: tensors must hold fewer than 2**31 elements")


# ------------------------------------------------------------------------ launchers


def _conv_args(x, w, geometry):
    """The shape arguments every conv kernel takes, in their order."""
    _, height, width, channels = x.shape
    kernel_h, kernel_w, _, cout = w.shape
    return (
        height, width, channels, geometry["OH"], geometry["OW"], cout, kernel_h, kernel_w,
        geometry["STRIDE_H"], geometry["STRIDE_W"], geometry["PAD_H"], geometry["PAD_W"],
    )


def _conv_forward(x, w, geometry, bias=None):
    """conv(x, w) (+ bias, ReLU when bias is given; else the raw conv output and
    per-tile (mean, M2) of each channel). Returns (y, tile_mean, tile_m2, tile rows)."""
    batch, channels, cout = x.shape[0], x.shape[-1], w.shape[-1]
    rows = batch * geometry["OH"] * geometry["OW"]
    config = launch_config("conv_fwd", x.dtype, cout, channels)
    y = torch.empty((batch, geometry["OH"], geometry["OW"], cout), dtype=x.dtype, device=x.device)
    num_tiles = triton.cdiv(rows, config["BLOCK_M"])
    if bias is None:
        tile_mean = torch.empty((num_tiles, cout), dtype=torch.float32, device=x.device)
        tile_m2 = torch.empty_like(tile_mean)
        bias_arg, epilogue = tile_mean, tk.EPILOGUE_STATS
    else:
        tile_mean = tile_m2 = None
        bias_arg, epilogue = bias, tk.EPILOGUE_BIAS_RELU
    grid = (num_tiles, triton.cdiv(cout, config["BLOCK_N"]))
    tk.conv_fwd_kernel[grid](
        x, w, bias_arg, y,
        tile_mean if tile_mean is not None else y, tile_m2 if tile_m2 is not None else y,
        *_conv_args(x, w, geometry), rows,
        EPILOGUE=epilogue, **launch_kwargs("conv_fwd", config),
    )
    return y, tile_mean, tile_m2, config["BLOCK_M"]


def _batch_statistics(tile_mean, tile_m2, tile_rows, rows, gamma, beta, epsilon):
    """Chan-merged batch mean and biased variance, and the normaliser's scale/shift."""
    num_tiles, cout = tile_mean.shape
    config = launch_config("stats")
    mean, var, scale, shift = (torch.empty(cout, dtype=torch.float32, device=gamma.device) for _ in range(4))
    tk.bn_stats_kernel[(triton.cdiv(cout, config["BLOCK_N"]),)](
        tile_mean, tile_m2, gamma, beta, mean, var, scale, shift,
        rows, cout, num_tiles, tile_rows, float(epsilon),
        **launch_kwargs("bn_stats", config),
    )
    return mean, var, scale, shift


def _elementwise_grid(rows, cout, config):
    return (triton.cdiv(rows, config["BLOCK_M"]), triton.cdiv(cout, config["BLOCK_N"]))


def _bn_relu(y, scale, shift):
    """relu(y * scale + shift), per channel."""
    cout = y.shape[-1]
    rows = y.numel() // cout
    out = torch.empty_like(y)
    config = launch_config("elementwise")
    tk.bn_relu_kernel[_elementwise_grid(rows, cout, config)](
        y, scale, shift, out, rows, cout, **launch_kwargs("bn_relu", config),
    )
    return out


def _relu_backward(grad_out, out, batch_statistics=None):
    """g = grad_out * (out > 0) summed per tile of rows: returns (tile sums of g, X).

    With batch_statistics = (y, mean, rstd), X is the tile sums of g * x_hat; without,
    X is g itself (the conv output's gradient when BN was folded into the conv)."""
    cout = out.shape[-1]
    rows = out.numel() // cout
    config = launch_config("elementwise")
    grid = _elementwise_grid(rows, cout, config)
    tile_sum_g = torch.empty((grid[0], cout), dtype=torch.float32, device=out.device)
    if batch_statistics is None:
        grad_y = torch.empty_like(out)
        # Unused pointers (y, mean, rstd, tile_sum_gx) are given tensors of their dtype.
        tensors = (out, tile_sum_g, tile_sum_g, grad_y, tile_sum_g, tile_sum_g)
        second = grad_y
    else:
        y, mean, rstd = batch_statistics
        tile_sum_gx = torch.empty_like(tile_sum_g)
        tensors = (y, mean, rstd, y, tile_sum_g, tile_sum_gx)
        second = tile_sum_gx
    tk.bn_relu_bwd_reduce_kernel[grid](
        grad_out, out, *tensors, rows, cout,
        BATCH_STATS=batch_statistics is not None, **launch_kwargs("bn_relu_bwd_reduce", config),
    )
    return tile_sum_g, second


def _batch_norm_backward(grad_out, out, y, mean, var, gamma, epsilon):
    """(dL/dy, dL/dgamma, dL/dbeta) of out = relu(gamma * (y - mean) * rstd + beta),
    mean and var the batch statistics of y."""
    cout = y.shape[-1]
    rows = y.numel() // cout
    rstd = 1.0 / torch.sqrt(var + epsilon)
    tile_sum_g, tile_sum_gx = _relu_backward(grad_out, out, (y, mean, rstd))
    grad_beta = tile_sum_g.sum(0)
    grad_gamma = tile_sum_gx.sum(0)
    # dL/dy = gamma * rstd * (g - mean(g) - x_hat * mean(g * x_hat)), x_hat = (y - mean) * rstd,
    # written as coef_g * g + coef_y * y + coef_1 per channel.
    coef_g = gamma * rstd
    coef_y = -coef_g * rstd * grad_gamma / rows
    coef_1 = -coef_g * grad_beta / rows - coef_y * mean
    grad_y = torch.empty_like(y)
    config = launch_config("elementwise")
    tk.bn_bwd_kernel[_elementwise_grid(rows, cout, config)](
        grad_out, out, y, coef_g, coef_y, coef_1, grad_y, rows, cout, **launch_kwargs("bn_bwd", config),
    )
    return grad_y, grad_gamma, grad_beta


def _conv_backward_input(x, w, grad_y, geometry):
    """dL/dx of y = conv(x, w): a transposed convolution of grad_y."""
    channels = x.shape[-1]
    config = launch_config("conv_bwd_input", x.dtype, channels)
    rows = x.numel() // channels
    grad_x = torch.empty_like(x)
    grid = (triton.cdiv(rows, config["BLOCK_M"]), triton.cdiv(channels, config["BLOCK_N"]))
    tk.conv_bwd_input_kernel[grid](
        grad_y, w, grad_x, *_conv_args(x, w, geometry), rows, **launch_kwargs("conv_bwd_input", config),
    )
    return grad_x


def _conv_backward_weight(x, w, grad_y, geometry):
    """dL/dw of y = conv(x, w): x^T grad_y, the reduction over M split across programs."""
    channels = x.shape[-1]
    kernel_h, kernel_w, _, cout = w.shape
    config = launch_config("conv_bwd_weight", x.dtype, cout, channels)
    rows = x.shape[0] * geometry["OH"] * geometry["OW"]
    k_total = kernel_h * kernel_w * channels
    k_blocks = (
        triton.cdiv(k_total, config["BLOCK_K"]) if config["FLAT_K"]
        else kernel_h * kernel_w * triton.cdiv(channels, config["BLOCK_K"])
    )
    n_blocks = triton.cdiv(cout, config["BLOCK_N"])
    splits = wgrad_splits(rows, k_blocks * n_blocks, config["BLOCK_M"], x.device)
    rows_per_split = triton.cdiv(triton.cdiv(rows, splits), config["BLOCK_M"]) * config["BLOCK_M"]
    splits = triton.cdiv(rows, rows_per_split)
    partial = torch.empty((splits, k_total, cout), dtype=torch.float32, device=x.device)
    tk.conv_bwd_weight_kernel[(k_blocks, n_blocks, splits)](
        x, grad_y, partial, *_conv_args(x, w, geometry), rows, rows_per_split,
        **launch_kwargs("conv_bwd_weight", config),
    )
    return partial.sum(0).reshape(w.shape).to(w.dtype)


def _conv_backward(ctx, x, w, grad_y):
    """(grad x, grad w) of y = conv(x, w), each None where autograd does not need it."""
    needs_input, needs_kernel = ctx.needs_input_grad[:2]
    return (
        _conv_backward_input(x, w, grad_y, ctx.geometry) if needs_input else None,
        _conv_backward_weight(x, w, grad_y, ctx.geometry) if needs_kernel else None,
    )


# ------------------------------------------------------------------------ Functions


class ConvBNReLUTraining(torch.autograd.Function):
    """relu(batch_norm(conv(x, w), gamma, beta)) with batch statistics.

    Outputs (out, batch mean, biased batch variance); the statistics are not
    differentiable outputs (they feed the moving averages only)."""

    @staticmethod
    def forward(ctx, x, w, gamma, beta, geometry, epsilon):
        _check_inputs(x, w, geometry)
        y, tile_mean, tile_m2, tile_rows = _conv_forward(x, w, geometry)
        rows = y.numel() // w.shape[-1]
        mean, var, scale, shift = _batch_statistics(tile_mean, tile_m2, tile_rows, rows, gamma, beta, epsilon)
        out = _bn_relu(y, scale, shift)
        ctx.save_for_backward(x, w, y, out, mean, var, gamma)
        ctx.geometry, ctx.epsilon = geometry, epsilon
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    def backward(ctx, grad_out, _grad_mean, _grad_var):
        x, w, y, out, mean, var, gamma = ctx.saved_tensors
        grad_y, grad_gamma, grad_beta = _batch_norm_backward(
            grad_out.contiguous(), out, y, mean, var, gamma, ctx.epsilon
        )
        grad_x, grad_w = _conv_backward(ctx, x, w, grad_y)
        return (
            grad_x, grad_w,
            grad_gamma if ctx.needs_input_grad[2] else None,
            grad_beta if ctx.needs_input_grad[3] else None,
            None, None,
        )


class ConvBiasReLU(torch.autograd.Function):
    """relu(conv(x, w) + bias): the inference path, BN folded into w and bias."""

    @staticmethod
    def forward(ctx, x, w, bias, geometry):
        _check_inputs(x, w, geometry)
        out, _, _, _ = _conv_forward(x, w, geometry, bias=bias)
        ctx.save_for_backward(x, w, out)
        ctx.geometry = geometry
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, w, out = ctx.saved_tensors
        tile_sum_g, grad_y = _relu_backward(grad_out.contiguous(), out)
        grad_x, grad_w = _conv_backward(ctx, x, w, grad_y)
        return grad_x, grad_w, tile_sum_g.sum(0) if ctx.needs_input_grad[2] else None, None
