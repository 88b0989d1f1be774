"""The @triton.jit kernels of the fused conv + BatchNorm + ReLU (see the package's docstring).

Conv kernels (implicit GEMMs over NHWC tensors, fp32 accumulation): `conv_fwd_kernel`
(inference epilogue relu(acc + bias), or the training epilogue: store the conv output
and its per-tile mean and M2), `conv_bwd_input_kernel`, `conv_bwd_weight_kernel`.
BatchNorm kernels: `bn_stats_kernel` (Chan's merge of the tiles), `bn_relu_kernel`,
`bn_relu_bwd_reduce_kernel`, `bn_bwd_kernel`. Launched by `autograd.py` with the tiles
that `launch.py` chooses.
"""

from kerasvhn.kernels._triton import round_to  # first: guards the Triton import

import triton
import triton.language as tl

# Epilogues of `conv_fwd_kernel` (its EPILOGUE constexpr).
EPILOGUE_BIAS_RELU = 0  # inference: relu(acc + bias)
EPILOGUE_STATS = 1  # training: store acc, per-tile mean and M2


# ------------------------------------------------------------------- shared pieces


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
def _dot(a, b, acc, DOT_PRECISION: tl.constexpr, DOT_UPCAST: tl.constexpr):
    """acc + a @ b in fp32. DOT_UPCAST (interpreter only): its half-precision dot is
    unreliable, so half tiles are widened first."""
    if DOT_UPCAST:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
    return tl.dot(a, b, acc, input_precision=DOT_PRECISION)


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


# ------------------------------------------------------------------------ forward


@triton.jit
def conv_fwd_kernel(
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
        acc = _dot(a, b, acc, DOT_PRECISION, DOT_UPCAST)

    out_mask = m_mask[:, None] & n_mask[None, :]
    out_offsets = offs_m[:, None] * COUT + offs_n[None, :]
    if EPILOGUE == 0:  # EPILOGUE_BIAS_RELU
        bias = tl.load(bias_ptr + offs_n, mask=n_mask, other=0.0)
        out = tl.maximum(acc + bias[None, :], 0.0)
        tl.store(y_ptr + out_offsets, round_to(out, y_ptr.dtype.element_ty), mask=out_mask)
    else:  # EPILOGUE_STATS
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
def bn_stats_kernel(
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
def bn_relu_kernel(
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


# ----------------------------------------------------------------------- backward


@triton.jit
def bn_relu_bwd_reduce_kernel(
    grad_out_ptr, out_ptr, y_ptr, mean_ptr, rstd_ptr, relu_grad_ptr,
    tile_sum_g_ptr, tile_sum_gx_ptr, M, COUT,
    BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr, BATCH_STATS: tl.constexpr,
):
    """g = grad_out * (out > 0); per-tile sums of g (and of g * x_hat with batch
    statistics). Without batch statistics g itself is the conv's output gradient
    and is stored; with them `bn_bwd_kernel` needs the full sums first."""
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
def bn_bwd_kernel(
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
def _grad_output_tile(
    grad_y_ptr, n, ih, iw, m_mask, kblock, co_blocks,
    OH, OW, COUT, KW, STRIDE_H, STRIDE_W, PAD_H, PAD_W,
    BLOCK_K: tl.constexpr,
):
    """The [BLOCK_M, BLOCK_K] tile of grad_y that reaches input rows (n, ih, iw)
    through window tap `kblock // co_blocks`: grad_y[n, oh, ow, co] with
    oh * stride = ih + pad - kh, zero where no output does (borders; stride > 1).
    Returns the tile, the tap, the output channels and their mask."""
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
    return a, tap, offs_k, k_mask


@triton.jit
def conv_bwd_input_kernel(
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
        a, tap, offs_k, k_mask = _grad_output_tile(
            grad_y_ptr, n, ih, iw, m_mask, kblock, co_blocks,
            OH, OW, COUT, KW, STRIDE_H, STRIDE_W, PAD_H, PAD_W, BLOCK_K,
        )
        b = tl.load(
            w_ptr + (tap * C + offs_n[None, :]) * COUT + offs_k[:, None],
            mask=k_mask[:, None] & n_mask[None, :], other=0.0,
        )
        acc = _dot(a, b, acc, DOT_PRECISION, DOT_UPCAST)
    tl.store(
        grad_x_ptr + offs_m[:, None] * C + offs_n[None, :],
        round_to(acc, grad_x_ptr.dtype.element_ty),
        mask=m_mask[:, None] & n_mask[None, :],
    )


@triton.jit
def conv_bwd_weight_kernel(
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
        acc = _dot(tl.trans(a), b, acc, DOT_PRECISION, DOT_UPCAST)
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
