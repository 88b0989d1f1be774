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
from kerasvhn.layers import ConvBNReLU, conv_output_length
from kerasvhn.presets import PRESETS

INTERPRETING, RUN_KERNELS, DEVICE, kernels_here = kernel_switches()

if RUN_KERNELS:
    from kerasvhn.kernels import conv_bn_relu as cbr

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
    """Counts the layers that ran the fused kernel (and not the fallback)."""
    calls = []
    launch = cbr.conv_bn_relu_layer

    def counted(layer, inputs, use_batch_statistics):
        calls.append(layer.name)
        return launch(layer, inputs, use_batch_statistics)

    monkeypatch.setattr(cbr, "conv_bn_relu_layer", counted)
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


@kernels_here
@pytest.mark.skipif(not INTERPRETING, reason="checks the GPU tile table under the interpreter")
@pytest.mark.parametrize("precision", ["highest", "high"], ids=["ieee", "tf32"])
def test_gpu_launch_configs_under_the_interpreter(monkeypatch, precision):
    """The interpreter tests use big tiles; this runs the GPU tile table (several
    M, N and K blocks per dimension) on a small case."""
    monkeypatch.setattr(cbr, "_config_table", lambda: cbr.GPU_CONFIGS)
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
def test_float64_layer_falls_back_unless_fused_is_forced():
    x = np.random.default_rng(0).normal(size=(1, 5, 5, 3))
    with pytest.raises(RuntimeError, match="float64"):
        ConvBNReLU(4, 3, fused=True, dtype="float64")(x)
    auto = ConvBNReLU(4, 3, fused="auto", dtype="float64")
    auto.build(x.shape)
    x = keras.ops.convert_to_tensor(x, "float64")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(cbr.conv_bn_relu_layer(auto, x, False)),
        keras.ops.convert_to_numpy(auto._call_fallback(x, False)),
    )


@pytest.mark.skipif(RUN_KERNELS, reason="the kernels run in this process")
def test_kernels_pass_under_the_interpreter():
    rerun_under_interpreter(__file__, timeout=1200)