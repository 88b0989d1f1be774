"""The fused conv + BN + ReLU Triton kernels against the pure-Keras ConvBNReLU.

Runs on the torch backend only, never in a process that has loaded TensorFlow (Triton
and TensorFlow both bundle LLVM). Without a GPU the kernels run on CPU tensors through
the Triton interpreter, which must be switched on before Triton compiles anything: in a
plain test run, `test_kernels_pass_under_the_interpreter` reruns this file in a fresh
process with TRITON_INTERPRET=1 (and the parity tests here report as skipped).
"""


import keras
import pytest

from kernel_testing import kernel_switches, require_triton_process, rerun_under_interpreter

require_triton_process()

import numpy as np
import torch

from kerasvhn import MultiDigitNet, encode_numbers
from kerasvhn import fused as fused_dispatch
from kerasvhn.layers import ConvBNReLU, conv_output_length
from kerasvhn.presets import PRESETS

INTERPRETING, RUN_KERNELS, DEVICE, kernels_here = kernel_switches()

if RUN_KERNELS:
    from kerasvhn.kernels import conv_bn_relu as cbr
    from kerasvhn.kernels.conv_bn_relu import autograd, launch

# Errors are the largest |difference| over the largest |reference|. fp32: the kernel
# against the fallback, forward and gradients, within the 1e-4. Half
# precision rounds the conv output, the normalised output and every gradient tensor
# to 11 (fp16) or 8 (bf16) bits, in a different order on each path, and outputs near
# zero then fall on different sides of the ReLU: the gradients of *both* paths are
# then some 1e-2 (fp16) to 1e-1 (bf16) away from the fp32 result. So, as
# FlashAttention's tests do, half-precision gradients must be as accurate as the
# fallback's: error(kernel, fp32) <= 2 * error(fallback, fp32) + "gradient";
# forward quantities (output, moving statistics) within "forward" of the fallback.
TOLERANCE = {
    "float32": {"forward": 1e-4, "gradient": 1e-4},
    "mixed_float16": {"forward": 5e-3, "gradient": 2e-3},
    "mixed_bfloat16": {"forward": 2e-2, "gradient": 1e-2},
}
GRADIENTS = ("grad_input", "grad_kernel", "grad_gamma", "grad_beta")


def _preset_layer_shapes():
    """(name, (height, width, channels), filters, kernel, strides) of every distinct
    conv layer of the presets, following the pooling from the 54x54x3 input."""
    shapes = {}
    for preset, config in PRESETS.items():
        height, width, channels = config["input_shape"]
        for index, layer in enumerate(config["conv_layers"]):
            key = ((height, width, channels), layer["filters"], layer["kernel_size"], layer["strides"])
            shapes.setdefault(key, f"{preset}{index + 1}")
            height, width = (
                conv_output_length(size, layer["kernel_size"], layer["strides"], "same")
                for size in (height, width)
            )
            if layer["pool"]:
                height, width = (conv_output_length(size, 2, layer["pool"], "same") for size in (height, width))
            channels = layer["filters"]
    return [(name, *key) for key, name in shapes.items()]


# (id, input shape (N, H, W, C), filters, kernel, strides, padding)
PRESET_CASES = [
    (name, (2, *hwc), filters, kernel, strides, "same")
    for name, hwc, filters, kernel, strides in _preset_layer_shapes()
]
AWKWARD_CASES = [
    ("rgb-odd-hw", (2, 9, 11, 3), 20, 5, 1, "same"),
    ("batch1-stride2", (1, 10, 10, 24), 40, 3, 2, "same"),
    ("valid", (2, 12, 12, 16), 96, 3, 1, "valid"),
    ("1x1-stride2-valid-c70", (2, 7, 8, 70), 24, 1, 2, "valid"),
    ("7x7-stride2-c5", (1, 9, 9, 5), 17, 7, 2, "same"),
    ("4x4-stride2-odd-pad", (2, 8, 7, 8), 12, 4, 2, "same"),
    ("3x5-strides21-valid", (2, 9, 10, 6), 33, (3, 5), (2, 1), "valid"),
]
MIXED_CASES = AWKWARD_CASES


def _case_id(case):
    return case[0]


@pytest.fixture(autouse=True)
def exact_fp32_fallback(monkeypatch):
    """On a GPU, cuDNN's fp32 convolutions default to TF32: the fallback must be exact
    for the 1e-4 bound (the kernel is, unless torch's matmul precision allows TF32)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)


@pytest.fixture
def kernel_calls(monkeypatch):
    """Records the calls of the fused op (layers that ran it, not the fallback):
    the input shape and whether it used batch statistics."""
    calls = []
    op = cbr.conv_bn_relu

    def counted(x, *args, **kwargs):
        calls.append((tuple(x.shape), kwargs["use_batch_statistics"]))
        return op(x, *args, **kwargs)

    monkeypatch.setattr(cbr, "conv_bn_relu", counted)
    return calls


def relative_error(actual, expected):
    actual = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(actual, "float32")), dtype=np.float64)
    expected = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(expected, "float32")), dtype=np.float64)
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-30))


def make_layer(case, dtype="float32", fused=True, seed=0):
    """A ConvBNReLU for `case` with weights that depend on `seed` only: he-normal
    kernel, and gamma, beta, moving statistics away from their initial 1 and 0."""
    _, shape, filters, kernel_size, strides, padding = case
    layer = ConvBNReLU(filters, kernel_size, strides=strides, padding=padding, fused=fused,
                       dtype=dtype, momentum=0.9)
    layer.build(shape)
    rng = np.random.default_rng(seed)
    kernel_shape = tuple(layer.kernel.shape)
    weights = [
        rng.normal(0, np.sqrt(2 / np.prod(kernel_shape[:3])), kernel_shape),
        rng.uniform(0.5, 1.5, filters),
        rng.normal(0, 0.2, filters),
        rng.normal(0, 0.2, filters),
        rng.uniform(0.5, 1.5, filters),
    ]
    layer.set_weights([w.astype("float32") for w in weights])
    return layer


def layer_pair(case, dtype="float32"):
    """The fused layer and the fallback, with identical weights."""
    return make_layer(case, dtype, fused=True), make_layer(case, dtype, fused=False)


def run_layer(layer, x, upstream, training):
    """Output, moving statistics after the call, and the gradients of
    sum(output * upstream) in (x, kernel, gamma, beta), as float64 arrays."""
    x = x.detach().clone().requires_grad_(True)
    out = layer(x, training=training)
    params = [layer.kernel.value, layer.gamma.value, layer.beta.value]
    grads = torch.autograd.grad((out.float() * upstream).sum(), [x, *params])
    values = {"output": out, "moving_mean": layer.moving_mean, "moving_variance": layer.moving_variance}
    values.update(zip(GRADIENTS, grads))
    return {name: keras.ops.convert_to_numpy(keras.ops.cast(v, "float64")) for name, v in values.items()}


def check_parity(case, dtype, training):
    fused, plain = layer_pair(case, dtype)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(case[1], generator=generator).to(DEVICE)
    upstream = torch.randn(fused.compute_output_shape(case[1]), generator=generator).to(x.device)
    ours = run_layer(fused, x, upstream, training)
    theirs = run_layer(plain, x, upstream, training)
    tolerance = TOLERANCE[dtype]
    errors = {name: relative_error(ours[name], theirs[name]) for name in ours}
    if dtype == "float32":
        bad = {name: e for name, e in errors.items() if not e <= tolerance["forward"]}
    else:
        exact = run_layer(make_layer(case, "float32", fused=False), x, upstream, training)
        bad = {name: errors[name] for name in ours if name not in GRADIENTS and not errors[name] <= tolerance["forward"]}
        for name in GRADIENTS:
            ours_off, theirs_off = relative_error(ours[name], exact[name]), relative_error(theirs[name], exact[name])
            if not ours_off <= 2 * theirs_off + tolerance["gradient"]:
                bad[name] = f"{ours_off:.2g} from fp32, the fallback {theirs_off:.2g}"
    assert not bad, f"beyond {tolerance}: {bad} (kernel against fallback: {errors})"


@kernels_here
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("case", PRESET_CASES + AWKWARD_CASES, ids=_case_id)
def test_fp32_parity_with_fallback(case, training, kernel_calls):
    check_parity(case, "float32", training)
    assert len(kernel_calls) == 1


@kernels_here
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("case", MIXED_CASES, ids=_case_id)
@pytest.mark.parametrize("dtype", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_parity_with_fallback(dtype, case, training, kernel_calls):
    check_parity(case, dtype, training)
    assert len(kernel_calls) == 1


@kernels_here
def test_moving_statistics_follow_keras_over_several_steps():
    case = AWKWARD_CASES[1]
    fused, plain = layer_pair(case)
    generator = torch.Generator().manual_seed(2)
    for _ in range(3):
        x = (torch.randn(case[1], generator=generator) * 3 + 1).to(DEVICE)
        fused(x, training=True)
        plain(x, training=True)
    for a, b in zip(fused.get_weights()[3:], plain.get_weights()[3:]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    frozen = make_layer(case)
    frozen.trainable = False  # a frozen layer normalises with its moving statistics
    before = frozen.get_weights()
    frozen(x, training=True)
    for a, b in zip(frozen.get_weights(), before):
        np.testing.assert_array_equal(a, b)


@kernels_here
def test_batch_variance_is_exact_when_the_mean_is_large():
    """Chan's merge of per-tile (mean, M2): a mean 1000x the spread costs no digits,
    where fp32 sum and sum of squares would lose about six."""
    generator = torch.Generator().manual_seed(3)
    x = (torch.randn((2, 20, 20, 16), generator=generator) + 1000.0).to(DEVICE)
    kernel = (torch.randn((1, 1, 16, 16), generator=generator) * 0.1 + 0.05).to(DEVICE)
    ones, zeros = torch.ones(16, device=DEVICE), torch.zeros(16, device=DEVICE)
    _, mean, variance = cbr.conv_bn_relu(x, kernel, ones, zeros, zeros, ones, use_batch_statistics=True)
    reference = torch.einsum("nhwc,cd->nhwd", x.double().cpu(), kernel[0, 0].double().cpu()).reshape(-1, 16)
    assert relative_error(mean, reference.mean(0)) < 1e-6
    assert relative_error(variance, reference.var(0, unbiased=False)) < 1e-4
    naive = (reference.float() ** 2).mean(0) - reference.float().mean(0) ** 2
    assert relative_error(naive, reference.var(0, unbiased=False)) > 1e-3  # what Chan avoids


# Batch statistics of a conv output whose mean is >= 1000x its spread, merged from many
# tiles. 16-row tiles (the GPU's minimum: smaller ones pass in the interpreter but not
# on a GPU) make the conv write one (mean, M2) pair per 16 rows, the stats kernel
# merge them 16 at a time (Chan's k-group form) and then chunk into chunk (pairwise),
# and the backward sum 16-row partials; 16-channel tiles split the channels too.
# Shapes are no multiple of a tile (the interpreter does not trap out-of-bounds loads).
SMALL_TILES = {op: {"BLOCK_M": 16, "BLOCK_N": 16} for op in ("conv_fwd", "stats", "elementwise")}
# (id, input shape, filters, kernel, strides; padding "valid": zero padding would pull
# the border outputs 1000 spreads away from the mean)
LARGE_MEAN_CASES = [
    ("1x1-675rows", (3, 15, 15, 5), 20, 1, 1),  # 43 tiles (chunks of 16, 16, 11), the last of 3 rows
    ("3x3-stride2-594rows", (6, 23, 19, 6), 18, 3, 2),  # 38 tiles, the last of 2 rows
]
# Largest |error| / largest |float64 value|. One float32 ulp of 2000 is 2e-4 of the
# conv output's spread (0.6): the conv output, the per-tile means and everything
# computed from them carry errors of that order (measured: at most 5e-4, variance).
# grad_kernel sums 2000-sized inputs times gradients whose sum over the batch is 0
# in exact arithmetic but not once the batch mean is a float32: along the mean input
# patch it is ill-conditioned (20-30% off here; rounding the mean alone to float32,
# all else float64, moves it 10%). It is checked across that one direction per channel.
LARGE_MEAN_TOLERANCE = {
    "mean": 1e-6, "variance": 2e-3, "output": 1e-3,
    "grad_input": 1e-3, "grad_kernel": 2e-3, "grad_gamma": 2e-3, "grad_beta": 1e-5,
}


def reference_conv_bn_relu_backward(x, kernel, gamma, beta, upstream, strides, padding, epsilon):
    """float64 NumPy: conv, BN on batch statistics, ReLU, and the gradients of
    sum(out * upstream) in (x, kernel, gamma, beta)."""
    x, kernel, gamma, beta, upstream = (np.asarray(a, np.float64) for a in (x, kernel, gamma, beta, upstream))
    geometry = cbr.conv_geometry(x.shape, kernel.shape, strides, padding)
    out_h, out_w, stride_h, stride_w = (geometry[k] for k in ("OH", "OW", "STRIDE_H", "STRIDE_W"))
    top, left = geometry["PAD_H"], geometry["PAD_W"]
    kh, kw = kernel.shape[:2]
    bottom = max((out_h - 1) * stride_h + kh - x.shape[1] - top, 0)
    right = max((out_w - 1) * stride_w + kw - x.shape[2] - left, 0)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    windows = {
        (i, j): (slice(None), slice(i, i + stride_h * out_h, stride_h), slice(j, j + stride_w * out_w, stride_w))
        for i in range(kh) for j in range(kw)
    }
    y = sum(xp[window] @ kernel[i, j] for (i, j), window in windows.items())
    rows = y.size // y.shape[-1]
    mean, variance = y.mean(axis=(0, 1, 2)), y.var(axis=(0, 1, 2))
    rstd = 1 / np.sqrt(variance + epsilon)
    x_hat = (y - mean) * rstd
    pre = gamma * x_hat + beta
    g = upstream * (pre > 0)
    grad_beta, grad_gamma = g.sum(axis=(0, 1, 2)), (g * x_hat).sum(axis=(0, 1, 2))
    grad_y = gamma * rstd * (g - grad_beta / rows - x_hat * grad_gamma / rows)
    grad_xp, grad_kernel = np.zeros_like(xp), np.zeros_like(kernel)
    for (i, j), window in windows.items():
        grad_kernel[i, j] = np.einsum("nhwc,nhwd->cd", xp[window], grad_y)
        grad_xp[window] += grad_y @ kernel[i, j].T
    grad_x = grad_xp[:, top : top + x.shape[1], left : left + x.shape[2]]
    mean_patch = np.stack([xp[windows[i, j]].mean(axis=(0, 1, 2)) for i in range(kh) for j in range(kw)])
    return {
        "conv_output": y, "mean_patch": mean_patch.reshape(kh, kw, -1),
        "output": np.maximum(pre, 0), "mean": mean, "variance": variance,
        "grad_input": grad_x, "grad_kernel": grad_kernel, "grad_gamma": grad_gamma, "grad_beta": grad_beta,
    }


def across_the_mean_patch(grad_kernel, mean_patch):
    """grad_kernel without its component along the mean input patch, per output channel."""
    grad = np.asarray(grad_kernel, np.float64).reshape(-1, grad_kernel.shape[-1])
    direction = mean_patch.reshape(-1, 1) / np.linalg.norm(mean_patch)
    return grad - direction @ (direction.T @ grad)


def naively_merged_variance(y, tile_rows):
    """What a sum-of-squares merge of float32 per-tile (mean, M2) pairs gives:
    E[y^2] - E[y]^2 with E[y^2] = sum(M2_t + n_t mean_t^2) / n."""
    tiles = [t.astype(np.float32) for t in np.split(y, range(tile_rows, len(y), tile_rows))]
    counts = [np.float32(len(t)) for t in tiles]
    means = [t.mean(axis=0) for t in tiles]
    m2s = [((t - m) ** 2).sum(axis=0) for t, m in zip(tiles, means)]
    total = np.float32(len(y))
    mean = sum(n * m for n, m in zip(counts, means)) / total
    squares = sum(m2 + n * m * m for n, m, m2 in zip(counts, means, m2s)) / total
    return squares - mean * mean


@kernels_here
@pytest.mark.parametrize("case", LARGE_MEAN_CASES, ids=_case_id)
def test_batch_statistics_merged_from_many_tiles_when_the_mean_is_large(case, monkeypatch):
    """Chan's merge of per-tile (mean, M2) pairs, forward and backward, against float64
    NumPy, where a float32 sum-of-squares merge loses every digit of the variance."""
    _, shape, filters, kernel_size, stride = case
    monkeypatch.setattr(launch, "TILE_OVERRIDES", SMALL_TILES)
    merged = []
    statistics = autograd._batch_statistics

    def spy(tile_mean, tile_m2, tile_rows, rows, *args):
        merged.append((tile_mean.shape[0], tile_rows, rows))
        return statistics(tile_mean, tile_m2, tile_rows, rows, *args)

    monkeypatch.setattr(autograd, "_batch_statistics", spy)
    rng = np.random.default_rng(4)
    strides, padding = (stride, stride), "valid"
    # Images around 2000, each shifted by up to one spread (tile and chunk means
    # differ: the merge's between-tile terms matter); positive weights summing to ~1.
    shift = np.linspace(-1, 1, shape[0])[:, None, None, None]
    x = (2000 + shift + rng.normal(size=shape)).astype(np.float32)
    kernel_shape = (kernel_size, kernel_size, shape[-1], filters)
    kernel = (rng.uniform(0.5, 1.5, kernel_shape) / np.prod(kernel_shape[:3])).astype(np.float32)
    gamma = rng.uniform(0.5, 1.5, filters).astype(np.float32)
    # beta keeps every pre-activation above 0: one within float32 error of 0 could
    # fall on either side of the ReLU (the ReLU is checked by the parity tests).
    beta = np.full(filters, 8.0, np.float32)
    geometry = cbr.conv_geometry(shape, kernel.shape, strides, padding)
    upstream = rng.normal(size=(shape[0], geometry["OH"], geometry["OW"], filters))
    expected = reference_conv_bn_relu_backward(x, kernel, gamma, beta, upstream, strides, padding, 1e-3)
    assert np.min(np.abs(expected["mean"]) / np.sqrt(expected["variance"])) >= 1e3

    inputs = [torch.tensor(a, device=DEVICE, requires_grad=True) for a in (x, kernel, gamma, beta)]
    zeros, ones = torch.zeros(filters, device=DEVICE), torch.ones(filters, device=DEVICE)
    out, mean, variance = cbr.conv_bn_relu(
        *inputs, zeros, ones, strides=strides, padding=padding, use_batch_statistics=True
    )
    upstream_tensor = torch.tensor(upstream, dtype=torch.float32, device=DEVICE)
    grads = torch.autograd.grad((out * upstream_tensor).sum(), inputs)
    ours = {"output": out, "mean": mean, "variance": variance, **dict(zip(GRADIENTS, grads))}
    ours = {name: value.detach().cpu().double().numpy() for name, value in ours.items()}
    for values in (ours, expected):
        values["grad_kernel"] = across_the_mean_patch(values["grad_kernel"], expected["mean_patch"])
    errors = {name: relative_error(ours[name], expected[name]) for name in ours}
    bad = {name: error for name, error in errors.items() if not error <= LARGE_MEAN_TOLERANCE[name]}
    assert not bad, f"beyond {LARGE_MEAN_TOLERANCE}: {bad} (all errors: {errors})"

    ((num_tiles, tile_rows, rows),) = merged  # many tiles, 3 chunks of them, the last tile part-filled
    assert tile_rows == 16 and num_tiles > 2 * 16 and rows % tile_rows
    # The test can tell: merging the same float32 tiles by sums of squares fails it.
    naive = naively_merged_variance(expected["conv_output"].reshape(-1, filters), tile_rows)
    assert relative_error(naive, expected["variance"]) > 10 * LARGE_MEAN_TOLERANCE["variance"]


@kernels_here
@pytest.mark.skipif(not INTERPRETING, reason="checks the GPU tile table under the interpreter")
@pytest.mark.parametrize("precision", ["highest", "high"], ids=["ieee", "tf32"])
def test_gpu_launch_configs_under_the_interpreter(monkeypatch, precision):
    """The interpreter tests use big tiles; this runs the GPU tile table (several
    M, N and K blocks per dimension) on a small case."""
    monkeypatch.setattr(launch, "_config_table", lambda: launch.GPU_CONFIGS)
    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: precision)
    check_parity(("gpu-tiles", (2, 9, 10, 40), 70, 3, 1, "same"), "float32", True)
    check_parity(("gpu-tiles-half", (1, 9, 10, 5), 130, 3, 2, "same"), "mixed_float16", False)


@kernels_here
def test_small_model_training_step_matches_fallback(kernel_calls):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(2, 54, 54, 3)).astype("float32")
    y = encode_numbers(["12", "7"])
    models = []
    for fused in (True, False):
        model = MultiDigitNet("small", fused=fused, conv_dropout=0.0, dense_dropout=0.0)
        if models:
            model.set_weights(models[0].get_weights())
        else:
            initial = model.get_weights()
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        models.append(model)
    losses = [model.train_on_batch(x, y, return_dict=True)["loss"] for model in models]
    assert len(kernel_calls) == 5  # every conv layer of the fused model, once
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    for fused_weight, plain_weight in zip(models[0].weights, models[1].weights):
        assert relative_error(fused_weight, plain_weight) < 1e-4, fused_weight.path
    changed = [relative_error(w, w0) for w, w0 in zip(models[0].get_weights(), initial)]
    assert max(changed) > 1e-2  # the step did something


@kernels_here
def test_float64_layer_falls_back_unless_fused_is_forced(kernel_calls):
    x = torch.tensor(np.random.default_rng(0).normal(size=(1, 5, 5, 3)), device=DEVICE)
    with pytest.raises(RuntimeError, match="cannot run: .*float64"):
        ConvBNReLU(4, 3, fused=True, dtype="float64")(x)
    assert "float64" in fused_dispatch.kernel_unavailable("conv_bn_relu", x, "float64")
    assert fused_dispatch.kernel_unavailable("conv_bn_relu", x, "bfloat16") is None
    auto = ConvBNReLU(4, 3, fused="auto", dtype="float64")
    auto.build(x.shape)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(auto(x)), keras.ops.convert_to_numpy(auto._call_fallback(x, False))
    )
    assert kernel_calls == []


@pytest.mark.skipif(RUN_KERNELS, reason="the kernels run in this process")
def test_kernels_pass_under_the_interpreter():
    rerun_under_interpreter(__file__, timeout=1200)