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

Only `conv_bn_relu_layer`, `conv_bn_relu` and `launch_config` are meant for use
outside this module; `aot_specs` lists every GPU variant for bench/aot.py.
"""

import functools

from kerasvhn.kernels._triton import interpreting, round_to  # first: guards the Triton import

import torch
import triton
import triton.language as tl

_DTYPES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}

# Epilogues of the forward conv kernel.
_EPILOGUE_BIAS_RELU = 0  # inference: relu(acc + bias)
_EPILOGUE_STATS = 1  # training: store acc, per-tile mean and M2


# --------------------------------------------------------------------------- kernels


@triton.jit
def _input_tile(
    x_ptr, row_base, ih0, iw0, m_mask, kblock,
    H, W, C, KW, K_TOTAL,
    BLOCK_K: tl.constexpr, FLAT_K: tl.constexpr,
):
    """The [BLOCK_M, BLOCK_K] tile of the implicit im2col matrix at K-block `kblock`.

    Address of x[n, ih0 + kh, iw0 + kw, ci] = row_base[m] + ((kh * W + kw) * C + ci):
    an outer sum of a per-row and a per-column part. FLAT_K walks k = (kh, kw, ci)
    flattened (for few input channels, e.g. RGB); otherwise a block covers one
    window tap and BLOCK_K consecutive channels, so loads are contiguous along ci.
    Returns the tile, the weight rows it multiplies, and their mask.
    """
    if FLAT_K:
        k = kblock * BLOCK_K + tl.arange(0, BLOCK_K)
        k_mask = k < K_TOTAL
        tap = k // C
        ci = k % C
        kh = tap // KW
        kw = tap % KW
        ih = ih0[:, None] + kh[None, :]
        iw = iw0[:, None] + kw[None, :]
        mask = (
            m_mask[:, None] & k_mask[None, :]
            & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        )
        col = (kh * W + kw) * C + ci
        a = tl.load(x_ptr + row_base[:, None] + col[None, :], mask=mask, other=0.0)
        w_row = k
    else:
        # One tap for the whole block: the padding test is per row, not per element.
        c_blocks = tl.cdiv(C, BLOCK_K)
        tap = kblock // c_blocks
        kh = tap // KW
        kw = tap % KW
        ci = (kblock % c_blocks) * BLOCK_K + tl.arange(0, BLOCK_K)
        k_mask = ci < C
        ih = ih0 + kh
        iw = iw0 + kw
        row_ok = m_mask & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        row = row_base + (kh * W + kw) * C
        a = tl.load(
            x_ptr + row[:, None] + ci[None, :],
            mask=row_ok[:, None] & k_mask[None, :], other=0.0,
        )
        w_row = tap * C + ci
    return a, w_row, k_mask


@triton.jit
def _output_rows(offs_m, OH, OW, H, W, C, STRIDE_H, STRIDE_W, PAD_H, PAD_W):
    """Output rows m = (n, oh, ow) -> top-left input corner and its flat NHWC offset."""
    ow = offs_m % OW
    oh = (offs_m // OW) % OH
    n = offs_m // (OW * OH)
    ih0 = oh * STRIDE_H - PAD_H
    iw0 = ow * STRIDE_W - PAD_W
    row_base = ((n * H + ih0) * W + iw0) * C
    return row_base, ih0, iw0


@triton.jit
def _conv_fwd_kernel(
    x_ptr, w_ptr, bias_ptr, y_ptr, tile_mean_ptr, tile_m2_ptr,
    H, W, C, OH, OW, COUT, KH, KW,
    STRIDE_H, STRIDE_W, PAD_H, PAD_W, M,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    FLAT_K: tl.constexpr, EPILOGUE: tl.constexpr,
    DOT_PRECISION: tl.constexpr, DOT_UPCAST: tl.constexpr,
):
    """One [BLOCK_M, BLOCK_N] tile of the conv output; grid (M tiles, Cout tiles)."""
    tl.static_assert(BLOCK_M >= 16)
    tl.static_assert(BLOCK_N >= 16)
    tl.static_assert(BLOCK_K >= 16)
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = offs_m < M
    n_mask = offs_n < COUT
    row_base, ih0, iw0 = _output_rows(offs_m, OH, OW, H, W, C, STRIDE_H, STRIDE_W, PAD_H, PAD_W)

    K_TOTAL = KH * KW * C
    if FLAT_K:
        k_blocks = tl.cdiv(K_TOTAL, BLOCK_K)
    else:
        k_blocks = KH * KW * tl.cdiv(C, BLOCK_K)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for kblock in range(k_blocks):
        a, w_row, k_mask = _input_tile(
            x_ptr, row_base, ih0, iw0, m_mask, kblock, H, W, C, KW, K_TOTAL, BLOCK_K, FLAT_K
        )
        b = tl.load(
            w_ptr + w_row[:, None] * COUT + offs_n[None, :],
            mask=k_mask[:, None] & n_mask[None, :], other=0.0,
        )
        if DOT_UPCAST:  # the interpreter's half-precision dot is unreliable
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)

    out_mask = m_mask[:, None] & n_mask[None, :]
    out_offsets = offs_m[:, None] * COUT + offs_n[None, :]
    if EPILOGUE == 0:
        bias = tl.load(bias_ptr + offs_n, mask=n_mask, other=0.0)
        out = tl.maximum(acc + bias[None, :], 0.0)
        tl.store(y_ptr + out_offsets, round_to(out, y_ptr.dtype.element_ty), mask=out_mask)
    else:
        y = round_to(acc, y_ptr.dtype.element_ty)
        tl.store(y_ptr + out_offsets, y, mask=out_mask)
        # Statistics of the values stored (rounded to the output dtype), two-pass
        # within the tile: mean, then the sum of squared deviations.
        y = tl.where(out_mask, y.to(tl.float32), 0.0)
        count = tl.minimum(M - pid_m * BLOCK_M, BLOCK_M).to(tl.float32)
        mean = tl.sum(y, axis=0) / count
        deviation = tl.where(out_mask, y - mean[None, :], 0.0)
        m2 = tl.sum(deviation * deviation, axis=0)
        tl.store(tile_mean_ptr + pid_m * COUT + offs_n, mean, mask=n_mask)
        tl.store(tile_m2_ptr + pid_m * COUT + offs_n, m2, mask=n_mask)


@triton.jit
def _bn_stats_kernel(
    tile_mean_ptr, tile_m2_ptr, gamma_ptr, beta_ptr,
    mean_ptr, var_ptr, scale_ptr, shift_ptr,
    M, COUT, NUM_TILES, TILE_ROWS, eps,
    BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """Merges the per-tile (count, mean, M2) of BLOCK_C channels; grid (Cout tiles,).

    Chan, Golub & LeVeque's parallel update, never a sum of squares: a chunk of
    BLOCK_T tiles at once in its k-group form (mean = sum n_t mean_t / n,
    M2 = sum M2_t + sum n_t (mean_t - mean)^2), then the chunk into the running
    summary pairwise (delta = mean_b - mean_a, M2 += M2_b + delta^2 n_a n_b / n).
    Writes the batch mean, the biased variance and the normaliser's scale/shift.
    """
    tl.static_assert(BLOCK_T >= 16)
    tl.static_assert(BLOCK_C >= 16)
    offs_c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_mask = offs_c < COUT
    count = tl.zeros([BLOCK_C], dtype=tl.float32)
    mean = tl.zeros([BLOCK_C], dtype=tl.float32)
    m2 = tl.zeros([BLOCK_C], dtype=tl.float32)
    for t0 in range(0, NUM_TILES, BLOCK_T):
        offs_t = t0 + tl.arange(0, BLOCK_T)
        t_mask = offs_t < NUM_TILES
        mask = t_mask[:, None] & c_mask[None, :]
        offsets = offs_t[:, None] * COUT + offs_c[None, :]
        tile_mean = tl.load(tile_mean_ptr + offsets, mask=mask, other=0.0)
        tile_m2 = tl.load(tile_m2_ptr + offsets, mask=mask, other=0.0)
        rows = tl.where(t_mask, tl.minimum(M - offs_t * TILE_ROWS, TILE_ROWS), 0).to(tl.float32)
        chunk_count = tl.sum(rows, axis=0)
        chunk_mean = tl.sum(rows[:, None] * tile_mean, axis=0) / chunk_count
        spread = tl.where(mask, tile_mean - chunk_mean[None, :], 0.0)
        chunk_m2 = tl.sum(tile_m2, axis=0) + tl.sum(rows[:, None] * spread * spread, axis=0)

        total = count + chunk_count
        delta = chunk_mean - mean
        mean = mean + delta * (chunk_count / total)
        m2 = m2 + chunk_m2 + delta * delta * (count * chunk_count / total)
        count = total
    var = m2 / M
    gamma = tl.load(gamma_ptr + offs_c, mask=c_mask, other=1.0)
    beta = tl.load(beta_ptr + offs_c, mask=c_mask, other=0.0)
    scale = gamma * (1.0 / tl.sqrt_rn(var + eps))
    tl.store(mean_ptr + offs_c, mean, mask=c_mask)
    tl.store(var_ptr + offs_c, var, mask=c_mask)
    tl.store(scale_ptr + offs_c, scale, mask=c_mask)
    tl.store(shift_ptr + offs_c, beta - mean * scale, mask=c_mask)


@triton.jit
def _channel_tile(M, COUT, BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr):
    """The (rows, channels) tile of this program in an (M, COUT) row-major tensor:
    row offsets, channel offsets, channel mask, element mask, element offsets."""
    tl.static_assert(BLOCK_M >= 16)
    tl.static_assert(BLOCK_C >= 16)
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_mask = offs_c < COUT
    mask = (offs_m < M)[:, None] & c_mask[None, :]
    return offs_m, offs_c, c_mask, mask, offs_m[:, None] * COUT + offs_c[None, :]


@triton.jit
def _bn_relu_kernel(
    y_ptr, scale_ptr, shift_ptr, out_ptr, M, COUT,
    BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """out = relu(y * scale + shift) per channel; grid (M tiles, Cout tiles)."""
    offs_m, offs_c, c_mask, mask, offsets = _channel_tile(M, COUT, BLOCK_M, BLOCK_C)
    y = tl.load(y_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    scale = tl.load(scale_ptr + offs_c, mask=c_mask, other=0.0)
    shift = tl.load(shift_ptr + offs_c, mask=c_mask, other=0.0)
    out = tl.maximum(y * scale[None, :] + shift[None, :], 0.0)
    tl.store(out_ptr + offsets, round_to(out, out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _bn_relu_bwd_reduce_kernel(
    grad_out_ptr, out_ptr, y_ptr, mean_ptr, rstd_ptr, relu_grad_ptr,
    tile_sum_g_ptr, tile_sum_gx_ptr, M, COUT,
    BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr, BATCH_STATS: tl.constexpr,
):
    """g = grad_out * (out > 0); per-tile sums of g (and of g * x_hat with batch
    statistics). Without batch statistics g itself is the conv's output gradient
    and is stored; with them `_bn_bwd_kernel` needs the full sums first."""
    pid_m = tl.program_id(0)
    offs_m, offs_c, c_mask, mask, offsets = _channel_tile(M, COUT, BLOCK_M, BLOCK_C)
    grad_out = tl.load(grad_out_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    out = tl.load(out_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    g = tl.where(out > 0, grad_out, 0.0)
    tl.store(tile_sum_g_ptr + pid_m * COUT + offs_c, tl.sum(g, axis=0), mask=c_mask)
    if BATCH_STATS:
        y = tl.load(y_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        mean = tl.load(mean_ptr + offs_c, mask=c_mask, other=0.0)
        rstd = tl.load(rstd_ptr + offs_c, mask=c_mask, other=0.0)
        x_hat = (y - mean[None, :]) * rstd[None, :]
        tl.store(tile_sum_gx_ptr + pid_m * COUT + offs_c, tl.sum(g * x_hat, axis=0), mask=c_mask)
    else:
        tl.store(relu_grad_ptr + offsets, round_to(g, relu_grad_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _bn_bwd_kernel(
    grad_out_ptr, out_ptr, y_ptr, coef_g_ptr, coef_y_ptr, coef_1_ptr, grad_y_ptr, M, COUT,
    BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """dL/dy = coef_g * g + coef_y * y + coef_1 per channel (batch-statistics BN)."""
    offs_m, offs_c, c_mask, mask, offsets = _channel_tile(M, COUT, BLOCK_M, BLOCK_C)
    grad_out = tl.load(grad_out_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    out = tl.load(out_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    y = tl.load(y_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    g = tl.where(out > 0, grad_out, 0.0)
    coef_g = tl.load(coef_g_ptr + offs_c, mask=c_mask, other=0.0)
    coef_y = tl.load(coef_y_ptr + offs_c, mask=c_mask, other=0.0)
    coef_1 = tl.load(coef_1_ptr + offs_c, mask=c_mask, other=0.0)
    grad_y = coef_g[None, :] * g + coef_y[None, :] * y + coef_1[None, :]
    tl.store(grad_y_ptr + offsets, round_to(grad_y, grad_y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _conv_bwd_input_kernel(
    grad_y_ptr, w_ptr, grad_x_ptr,
    H, W, C, OH, OW, COUT, KH, KW,
    STRIDE_H, STRIDE_W, PAD_H, PAD_W, M_IN,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_PRECISION: tl.constexpr, DOT_UPCAST: tl.constexpr,
):
    """grad_x[n, ih, iw, ci] = sum over (kh, kw, co) of grad_y[n, oh, ow, co] * w[kh, kw, ci, co]
    with oh * stride = ih + pad - kh. Rows are input positions, columns input channels,
    K runs over window taps x blocks of output channels; positions that no output
    reaches with this tap (stride > 1) are masked. Grid (input-row tiles, Cin tiles)."""
    tl.static_assert(BLOCK_M >= 16)
    tl.static_assert(BLOCK_N >= 16)
    tl.static_assert(BLOCK_K >= 16)
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = offs_m < M_IN
    n_mask = offs_n < C
    iw = offs_m % W
    ih = (offs_m // W) % H
    n = offs_m // (W * H)

    co_blocks = tl.cdiv(COUT, BLOCK_K)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for kblock in range(KH * KW * co_blocks):
        tap = kblock // co_blocks
        kh = tap // KW
        kw = tap % KW
        offs_k = (kblock % co_blocks) * BLOCK_K + tl.arange(0, BLOCK_K)
        k_mask = offs_k < COUT
        oh_scaled = ih + PAD_H - kh
        ow_scaled = iw + PAD_W - kw
        # Division only where the dividend is >= 0 (C and Python disagree below 0).
        oh_scaled = tl.maximum(oh_scaled, -1)
        ow_scaled = tl.maximum(ow_scaled, -1)
        oh = oh_scaled // STRIDE_H
        ow = ow_scaled // STRIDE_W
        row_valid = (
            m_mask & (oh_scaled >= 0) & (ow_scaled >= 0)
            & (oh_scaled - oh * STRIDE_H == 0) & (ow_scaled - ow * STRIDE_W == 0)
            & (oh < OH) & (ow < OW)
        )
        row = ((n * OH + oh) * OW + ow) * COUT
        a = tl.load(
            grad_y_ptr + row[:, None] + offs_k[None, :],
            mask=row_valid[:, None] & k_mask[None, :], other=0.0,
        )
        b = tl.load(
            w_ptr + (tap * C + offs_n[None, :]) * COUT + offs_k[:, None],
            mask=k_mask[:, None] & n_mask[None, :], other=0.0,
        )
        if DOT_UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)
    tl.store(
        grad_x_ptr + offs_m[:, None] * C + offs_n[None, :],
        round_to(acc, grad_x_ptr.dtype.element_ty),
        mask=m_mask[:, None] & n_mask[None, :],
    )


@triton.jit
def _conv_bwd_weight_kernel(
    x_ptr, grad_y_ptr, grad_w_ptr,
    H, W, C, OH, OW, COUT, KH, KW,
    STRIDE_H, STRIDE_W, PAD_H, PAD_W, M, M_PER_SPLIT,
    BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr,
    FLAT_K: tl.constexpr, DOT_PRECISION: tl.constexpr, DOT_UPCAST: tl.constexpr,
):
    """grad_w[k, co] = sum over m of A[m, k] * grad_y[m, co], A the implicit im2col
    matrix. A [BLOCK_R, BLOCK_N] tile of one split's partial sum over M_PER_SPLIT
    rows; grid (K tiles, Cout tiles, splits); partials are summed by the caller."""
    tl.static_assert(BLOCK_R >= 16)
    tl.static_assert(BLOCK_N >= 16)
    tl.static_assert(BLOCK_M >= 16)
    kblock = tl.program_id(0)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    split = tl.program_id(2)
    n_mask = offs_n < COUT
    K_TOTAL = KH * KW * C
    m_begin = split * M_PER_SPLIT
    m_end = tl.minimum(m_begin + M_PER_SPLIT, M)

    acc = tl.zeros([BLOCK_R, BLOCK_N], dtype=tl.float32)
    for m0 in range(m_begin, m_end, BLOCK_M):
        offs_m = m0 + tl.arange(0, BLOCK_M)
        m_mask = offs_m < m_end
        row_base, ih0, iw0 = _output_rows(offs_m, OH, OW, H, W, C, STRIDE_H, STRIDE_W, PAD_H, PAD_W)
        a, w_row, k_mask = _input_tile(
            x_ptr, row_base, ih0, iw0, m_mask, kblock, H, W, C, KW, K_TOTAL, BLOCK_R, FLAT_K
        )
        b = tl.load(
            grad_y_ptr + offs_m[:, None] * COUT + offs_n[None, :],
            mask=m_mask[:, None] & n_mask[None, :], other=0.0,
        )
        if DOT_UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(tl.trans(a), b, acc, input_precision=DOT_PRECISION)
    offs_r = kblock * BLOCK_R + tl.arange(0, BLOCK_R)
    if FLAT_K:
        r_mask = offs_r < K_TOTAL
        rows = offs_r
    else:
        c_blocks = tl.cdiv(C, BLOCK_R)
        ci = (kblock % c_blocks) * BLOCK_R + tl.arange(0, BLOCK_R)
        r_mask = ci < C
        rows = (kblock // c_blocks) * C + ci
    tl.store(
        grad_w_ptr + (split * K_TOTAL + rows[:, None]) * COUT + offs_n[None, :],
        acc,
        mask=r_mask[:, None] & n_mask[None, :],
    )


# ------------------------------------------------------------------- launch parameters


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
    config = _select(_config_table(), op, precision, columns, channels)
    if "DOT_UPCAST" in config:
        config["DOT_UPCAST"] = interpreting() and dtype != torch.float32
    return config


def _select(table, op, precision, columns, channels):
    if precision is None:
        return dict(table[(op, None, None)])
    config = dict(table[(op, precision, "narrow" if columns <= 64 else "wide")])
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


# ------------------------------------------------------------------------- geometry


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


# ------------------------------------------------------------------------- launchers


def _gemm_kwargs(config, *names):
    return {name: config[name] for name in names} | {
        "num_warps": config["num_warps"], "num_stages": config["num_stages"],
    }


def _conv_forward(x, w, geometry, bias=None):
    """conv(x, w) (+ bias, ReLU when bias is given; else the raw conv output and
    per-tile (mean, M2) of each channel). Returns (y, tile_mean, tile_m2)."""
    batch, height, width, channels = x.shape
    kernel_h, kernel_w, _, cout = w.shape
    rows = batch * geometry["OH"] * geometry["OW"]
    config = launch_config("conv_fwd", x.dtype, cout, channels)
    y = torch.empty((batch, geometry["OH"], geometry["OW"], cout), dtype=x.dtype, device=x.device)
    num_tiles = triton.cdiv(rows, config["BLOCK_M"])
    if bias is None:
        tile_mean = torch.empty((num_tiles, cout), dtype=torch.float32, device=x.device)
        tile_m2 = torch.empty_like(tile_mean)
        bias_arg, epilogue = tile_mean, _EPILOGUE_STATS
    else:
        tile_mean = tile_m2 = None
        bias_arg, epilogue = bias, _EPILOGUE_BIAS_RELU
    grid = (num_tiles, triton.cdiv(cout, config["BLOCK_N"]))
    _conv_fwd_kernel[grid](
        x, w, bias_arg, y,
        tile_mean if tile_mean is not None else y, tile_m2 if tile_m2 is not None else y,
        height, width, channels, geometry["OH"], geometry["OW"], cout, kernel_h, kernel_w,
        geometry["STRIDE_H"], geometry["STRIDE_W"], geometry["PAD_H"], geometry["PAD_W"], rows,
        EPILOGUE=epilogue,
        **_gemm_kwargs(config, "BLOCK_M", "BLOCK_N", "BLOCK_K", "FLAT_K", "DOT_PRECISION", "DOT_UPCAST"),
    )
    return y, tile_mean, tile_m2, config["BLOCK_M"]


def _batch_statistics(tile_mean, tile_m2, tile_rows, rows, gamma, beta, epsilon):
    """Chan-merged batch mean and biased variance, and the normaliser's scale/shift."""
    num_tiles, cout = tile_mean.shape
    config = launch_config("stats")
    mean, var, scale, shift = (torch.empty(cout, dtype=torch.float32, device=gamma.device) for _ in range(4))
    _bn_stats_kernel[(triton.cdiv(cout, config["BLOCK_N"]),)](
        tile_mean, tile_m2, gamma, beta, mean, var, scale, shift,
        rows, cout, num_tiles, tile_rows, float(epsilon),
        BLOCK_T=config["BLOCK_M"], BLOCK_C=config["BLOCK_N"], num_warps=config["num_warps"],
    )
    return mean, var, scale, shift


def _elementwise_grid(rows, cout, config):
    return (triton.cdiv(rows, config["BLOCK_M"]), triton.cdiv(cout, config["BLOCK_N"]))


def _elementwise_kwargs(config):
    return {"BLOCK_M": config["BLOCK_M"], "BLOCK_C": config["BLOCK_N"], "num_warps": config["num_warps"]}


def _conv_backward(x, w, grad_y, geometry, needs_input, needs_kernel):
    """(grad x, grad w) of y = conv(x, w), either None when not needed."""
    batch, height, width, channels = x.shape
    kernel_h, kernel_w, _, cout = w.shape
    args = (
        height, width, channels, geometry["OH"], geometry["OW"], cout, kernel_h, kernel_w,
        geometry["STRIDE_H"], geometry["STRIDE_W"], geometry["PAD_H"], geometry["PAD_W"],
    )
    grad_x = grad_w = None
    if needs_input:
        config = launch_config("conv_bwd_input", x.dtype, channels)
        rows = batch * height * width
        grad_x = torch.empty_like(x)
        grid = (triton.cdiv(rows, config["BLOCK_M"]), triton.cdiv(channels, config["BLOCK_N"]))
        _conv_bwd_input_kernel[grid](
            grad_y, w, grad_x, *args, rows,
            **_gemm_kwargs(config, "BLOCK_M", "BLOCK_N", "BLOCK_K", "DOT_PRECISION", "DOT_UPCAST"),
        )
    if needs_kernel:
        config = launch_config("conv_bwd_weight", x.dtype, cout, channels)
        rows = batch * geometry["OH"] * geometry["OW"]
        k_total = kernel_h * kernel_w * channels
        flat_k = config["FLAT_K"]
        k_blocks = (
            triton.cdiv(k_total, config["BLOCK_K"]) if flat_k
            else kernel_h * kernel_w * triton.cdiv(channels, config["BLOCK_K"])
        )
        n_blocks = triton.cdiv(cout, config["BLOCK_N"])
        splits = _wgrad_splits(rows, k_blocks * n_blocks, config["BLOCK_M"], x.device)
        rows_per_split = triton.cdiv(triton.cdiv(rows, splits), config["BLOCK_M"]) * config["BLOCK_M"]
        splits = triton.cdiv(rows, rows_per_split)
        partial = torch.empty((splits, k_total, cout), dtype=torch.float32, device=x.device)
        _conv_bwd_weight_kernel[(k_blocks, n_blocks, splits)](
            x, grad_y, partial, *args, rows, rows_per_split,
            BLOCK_R=config["BLOCK_K"],
            **_gemm_kwargs(config, "BLOCK_N", "BLOCK_M", "FLAT_K", "DOT_PRECISION", "DOT_UPCAST"),
        )
        grad_w = partial.sum(0).reshape(w.shape).to(w.dtype)
    return grad_x, grad_w


def _wgrad_splits(rows, tiles, block_m, device):
    """How many slices the grad-kernel reduction over M is cut into: enough programs
    to fill the GPU twice, each slice at least 8 row blocks long."""
    if device.type != "cuda":
        return 1
    target = 2 * _multiprocessors(device.index if device.index is not None else torch.cuda.current_device())
    return max(1, min(triton.cdiv(target, tiles), triton.cdiv(rows, 8 * block_m)))


@functools.lru_cache(maxsize=None)
def _multiprocessors(device_index):
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def _check_inputs(x, w, geometry):
    if x.dtype not in _DTYPES:
        raise TypeError(f"the fused conv_bn_relu kernel takes {sorted(_DTYPES.values())}, got {x.dtype}")
    if w.dtype != x.dtype:
        raise TypeError(f"kernel dtype {w.dtype} differs from the input's {x.dtype}")
    out_elements = x.shape[0] * geometry["OH"] * geometry["OW"] * w.shape[-1]
    if max(x.numel(), w.numel(), out_elements) >= 2**31:
        raise ValueError("the conv kernels index with int32: tensors must hold fewer than 2**31 elements")


class _ConvBNReLUTraining(torch.autograd.Function):
    """relu(batch_norm(conv(x, w), gamma, beta)) with batch statistics.

    Outputs (out, batch mean, biased batch variance); the statistics are not
    differentiable outputs (they feed the moving averages only)."""

    @staticmethod
    def forward(ctx, x, w, gamma, beta, geometry, epsilon):
        _check_inputs(x, w, geometry)
        y, tile_mean, tile_m2, tile_rows = _conv_forward(x, w, geometry)
        cout = w.shape[-1]
        rows = y.numel() // cout
        mean, var, scale, shift = _batch_statistics(tile_mean, tile_m2, tile_rows, rows, gamma, beta, epsilon)
        out = torch.empty_like(y)
        config = launch_config("elementwise")
        _bn_relu_kernel[_elementwise_grid(rows, cout, config)](
            y, scale, shift, out, rows, cout, **_elementwise_kwargs(config),
        )
        ctx.save_for_backward(x, w, y, out, mean, var, gamma)
        ctx.geometry, ctx.epsilon = geometry, epsilon
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    def backward(ctx, grad_out, _grad_mean, _grad_var):
        x, w, y, out, mean, var, gamma = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        cout = w.shape[-1]
        rows = y.numel() // cout
        rstd = 1.0 / torch.sqrt(var + ctx.epsilon)
        config = launch_config("elementwise")
        grid = _elementwise_grid(rows, cout, config)
        tile_sum_g = torch.empty((grid[0], cout), dtype=torch.float32, device=x.device)
        tile_sum_gx = torch.empty_like(tile_sum_g)
        _bn_relu_bwd_reduce_kernel[grid](
            grad_out, out, y, mean, rstd, y, tile_sum_g, tile_sum_gx, rows, cout,
            BATCH_STATS=True, **_elementwise_kwargs(config),
        )
        grad_beta = tile_sum_g.sum(0)
        grad_gamma = tile_sum_gx.sum(0)
        # dL/dy = gamma * rstd * (g - mean(g) - x_hat * mean(g * x_hat)), x_hat = (y - mean) * rstd,
        # written as coef_g * g + coef_y * y + coef_1 per channel.
        coef_g = gamma * rstd
        coef_y = -coef_g * rstd * grad_gamma / rows
        coef_1 = -coef_g * grad_beta / rows - coef_y * mean
        grad_y = torch.empty_like(y)
        _bn_bwd_kernel[grid](
            grad_out, out, y, coef_g, coef_y, coef_1, grad_y, rows, cout, **_elementwise_kwargs(config),
        )
        grad_x, grad_w = _conv_backward(
            x, w, grad_y, ctx.geometry, ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        )
        return (
            grad_x, grad_w,
            grad_gamma if ctx.needs_input_grad[2] else None,
            grad_beta if ctx.needs_input_grad[3] else None,
            None, None,
        )


class _ConvBiasReLU(torch.autograd.Function):
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
        grad_out = grad_out.contiguous()
        cout = w.shape[-1]
        rows = out.numel() // cout
        config = launch_config("elementwise")
        grid = _elementwise_grid(rows, cout, config)
        tile_sum_g = torch.empty((grid[0], cout), dtype=torch.float32, device=x.device)
        grad_y = torch.empty_like(out)
        _bn_relu_bwd_reduce_kernel[grid](
            grad_out, out, out, tile_sum_g, tile_sum_g, grad_y, tile_sum_g, tile_sum_g, rows, cout,
            BATCH_STATS=False, **_elementwise_kwargs(config),
        )
        grad_x, grad_w = _conv_backward(
            x, w, grad_y, ctx.geometry, ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        )
        return grad_x, grad_w, tile_sum_g.sum(0) if ctx.needs_input_grad[2] else None, None


# ---------------------------------------------------------------------------- entry points


def conv_bn_relu(x, kernel, gamma, beta, moving_mean, moving_variance, strides=(1, 1),
                 padding="same", epsilon=1e-3, use_batch_statistics=False):
    """Fused relu(batch_norm(conv2d(x, kernel))) on NHWC torch tensors.

    x: (N, H, W, Cin) fp32/fp16/bf16; kernel: (KH, KW, Cin, Cout), cast to x's dtype;
    gamma, beta, moving_mean, moving_variance: (Cout,) fp32. With batch statistics,
    returns (out, batch mean, biased batch variance); without, (out, None, None),
    the moving statistics folded into the conv. Differentiable in x, kernel, gamma, beta.
    """
    x = x.contiguous()
    w = kernel.to(x.dtype).contiguous()
    geometry = conv_geometry(x.shape, w.shape, tuple(strides), padding)
    gamma, beta = gamma.float().contiguous(), beta.float().contiguous()
    if use_batch_statistics:
        return _ConvBNReLUTraining.apply(x, w, gamma, beta, geometry, float(epsilon))
    scale = gamma * torch.rsqrt(moving_variance.float() + epsilon)
    bias = (beta - moving_mean.float() * scale).contiguous()
    folded = (w.float() * scale).to(x.dtype).contiguous()
    return _ConvBiasReLU.apply(x, folded, bias, geometry), None, None


def conv_bn_relu_layer(layer, inputs, use_batch_statistics):
    """`ConvBNReLU.call` on the fused path: the layer's weights and settings, the
    moving statistics updated as keras.layers.BatchNormalization does. Returns
    the NHWC output in the layer's compute dtype."""
    dtype = getattr(torch, layer.compute_dtype)
    if dtype not in _DTYPES:
        if layer.fused is True:
            raise RuntimeError(
                f"fused=True, but the fused conv_bn_relu kernel takes float32, float16 or "
                f"bfloat16, and the layer computes in {layer.compute_dtype}."
            )
        return layer._call_fallback(inputs, use_batch_statistics)
    out, mean, var = conv_bn_relu(
        inputs.to(dtype),
        layer.kernel.value,
        layer.gamma.value,
        layer.beta.value,
        layer.moving_mean.value,
        layer.moving_variance.value,
        strides=layer.strides,
        padding=layer.padding,
        epsilon=layer.epsilon,
        use_batch_statistics=use_batch_statistics,
    )
    if use_batch_statistics:
        moving_mean = layer.moving_mean.value.float()
        moving_variance = layer.moving_variance.value.float()
        layer.moving_mean.assign(moving_mean * layer.momentum + mean * (1.0 - layer.momentum))
        layer.moving_variance.assign(moving_variance * layer.momentum + var * (1.0 - layer.momentum))
    return out


# ------------------------------------------------------------------ ahead-of-time specs


def aot_specs():
    """Every kernel variant the launchers above can choose on a GPU, found by asking
    the same selection as `launch_config` for each dtype, fp32 precision, width and
    channel regime (see bench/aot.py)."""
    from kerasvhn.kernels._aot import spec

    gemm_configs = {}  # (op, dtype) -> distinct configs
    for op in _GEMMS:
        for dtype, precision in (("fp32", "ieee"), ("fp32", "tf32"), ("fp16", "half"), ("bf16", "half")):
            for columns in (64, 256):
                for channels in (None,) if op == "conv_bwd_input" else (3, 256):
                    config = _select(GPU_CONFIGS, op, precision, columns, channels)
                    configs = gemm_configs.setdefault((op, dtype), [])
                    if config not in configs:
                        configs.append(config)
    stats_pointers = {"bias_ptr": "fp32", "tile_mean_ptr": "fp32", "tile_m2_ptr": "fp32"}
    specs = []
    for (op, dtype), configs in gemm_configs.items():
        for config in configs:
            flags = _pick(config, "DOT_PRECISION", "DOT_UPCAST")
            half = dtype != "fp32"
            warps, stages = config["num_warps"], config["num_stages"]
            if op == "conv_bwd_weight":
                specs.append(spec(
                    op, _conv_bwd_weight_kernel, dtype,
                    {"BLOCK_R": config["BLOCK_K"], **_pick(config, "BLOCK_N", "BLOCK_M", "FLAT_K"), **flags},
                    warps, stages, pointer_dtypes={"grad_w_ptr": "fp32"},
                    aligned=("COUT",) if config["FLAT_K"] else ("C", "COUT"), tensor_core_gemm=half,
                ))
            elif op == "conv_bwd_input":
                specs.append(spec(
                    op, _conv_bwd_input_kernel, dtype,
                    {**_pick(config, "BLOCK_M", "BLOCK_N", "BLOCK_K"), **flags},
                    warps, stages, aligned=("C", "COUT"), tensor_core_gemm=half,
                ))
            else:
                for epilogue in (_EPILOGUE_BIAS_RELU, _EPILOGUE_STATS):
                    specs.append(spec(
                        op, _conv_fwd_kernel, dtype,
                        {**_pick(config, "BLOCK_M", "BLOCK_N", "BLOCK_K", "FLAT_K"),
                         "EPILOGUE": epilogue, **flags},
                        warps, stages, pointer_dtypes=stats_pointers,
                        aligned=("COUT",) if config["FLAT_K"] else ("C", "COUT"), tensor_core_gemm=half,
                    ))

    elementwise = GPU_CONFIGS[("elementwise", None, None)]
    blocks = {"BLOCK_M": elementwise["BLOCK_M"], "BLOCK_C": elementwise["BLOCK_N"]}
    warps = elementwise["num_warps"]
    fp32 = dict.fromkeys
    for dtype in ("fp32", "fp16", "bf16"):
        specs.append(spec("bn_relu", _bn_relu_kernel, dtype, blocks, warps,
                          pointer_dtypes=fp32(("scale_ptr", "shift_ptr"), "fp32"), aligned=("COUT",)))
        for batch_stats in (True, False):
            specs.append(spec(
                "bn_relu_bwd_reduce", _bn_relu_bwd_reduce_kernel, dtype,
                {**blocks, "BATCH_STATS": batch_stats}, warps,
                pointer_dtypes=fp32(("mean_ptr", "rstd_ptr", "tile_sum_g_ptr", "tile_sum_gx_ptr"), "fp32"),
                aligned=("COUT",),
            ))
        specs.append(spec("bn_bwd", _bn_bwd_kernel, dtype, blocks, warps,
                          pointer_dtypes=fp32(("coef_g_ptr", "coef_y_ptr", "coef_1_ptr"), "fp32"),
                          aligned=("COUT",)))
    stats = GPU_CONFIGS[("stats", None, None)]
    specs.append(spec("bn_stats", _bn_stats_kernel, "fp32",
                      {"BLOCK_T": stats["BLOCK_M"], "BLOCK_C": stats["BLOCK_N"]}, stats["num_warps"],
                      floats=("eps",), aligned=("COUT",)))
    return specs


def _pick(config, *names):
    return {name: config[name] for name in names}
