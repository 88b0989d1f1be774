"""The fused Triton kernels against cuDNN, torch.compile and the Keras fallback.

    python bench/kernels.py [--presets small seed goodfellow] [--batch 128]
                            [--dtype float16] [--ops train infer train_backward fgsm]
                            [--json results.json]

On a CUDA GPU, for every distinct conv layer of the presets (at --batch) and each op:

    train           training forward: conv + batch-statistics BN + ReLU, moving stats updated
    infer           inference forward: conv + BN (moving statistics) + ReLU
    train_backward  training forward and backward (grad input, kernel, gamma, beta)
    fgsm            one FGSM/PGD step on the (batch, 54, 54, 3) images

it times the fused kernels ("fused"), torch eager with cuDNN, unfused ("cudnn"),
torch.compile of the same eager code ("compile") and the Keras fallback
(ConvBNReLU(fused=False) / keras.ops, "keras"), and reports milliseconds, TFLOP/s and
GB/s, the share of the GPU's roofline (max of FLOPs over peak tensor throughput and
compulsory bytes over HBM bandwidth; published peaks) and the speed-up over cudnn.

Without a GPU it says so and runs the parity subset through the Triton interpreter
instead: the fused kernels against the Keras fallback on the "small" preset's layers
(batch 2), forward and gradients, and the FGSM step. Torch backend only (this script
sets KERAS_BACKEND=torch: Triton cannot share a process with TensorFlow).
"""

import argparse
import json
import os
import sys
import time
from types import SimpleNamespace

os.environ["KERAS_BACKEND"] = "torch"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import machine_description, markdown_table, run_on_backend, time_per_call  # noqa: E402

PRESETS = ("small", "seed", "goodfellow")
OPS = ("train", "infer", "train_backward", "fgsm")
IMPLEMENTATIONS = ("fused", "cudnn", "compile", "keras")
MOMENTUM, EPSILON = 0.99, 1e-3

# Published dense peaks: (fp16/bf16 tensor TFLOP/s, tf32 TFLOP/s, fp32 TFLOP/s, HBM GB/s).
# The first name that the device name contains wins.
PEAKS = (
    ("H100 PCIe", (756.0, 378.0, 51.2, 2000.0)),
    ("H100", (989.4, 494.7, 66.9, 3350.0)),
    ("H200", (989.4, 494.7, 66.9, 4800.0)),
    ("A100", (312.0, 156.0, 19.5, 2039.0)),
)


# ------------------------------------------------------------------------ the cases


def layer_cases(presets, batch):
    """Distinct (name, input shape NHWC, filters, kernel, strides) of the presets' conv
    layers, read off the built models."""
    import kerasvhn

    cases, seen = [], set()
    for preset in presets:
        model = kerasvhn.MultiDigitNet(preset)
        for layer in model.layers:
            if isinstance(layer, kerasvhn.ConvBNReLU):
                key = ((batch, *layer.input.shape[1:]), layer.filters, layer.kernel_size, layer.strides)
                if key not in seen:
                    seen.add(key)
                    cases.append((f"{preset}/{layer.name}", *key))
    return cases


def conv_flops(shape, filters, kernel, strides):
    from kerasvhn.layers import conv_output_length

    batch, height, width, channels = shape
    out_h, out_w = (conv_output_length(s, k, st, "same") for s, k, st in zip((height, width), kernel, strides))
    rows = batch * out_h * out_w
    return 2 * rows * kernel[0] * kernel[1] * channels * filters, rows * filters


# ---------------------------------------------------------------- GPU measurements


def _peaks(device_name):
    for name, peaks in PEAKS:
        if name in device_name:
            return peaks
    return None


def _timer(device):
    if device == "cuda":
        from triton.testing import do_bench

        return lambda fn: do_bench(fn, warmup=25, rep=100, return_mode="median") / 1e3
    return lambda fn: time_per_call(fn, warmup=1, repeats=2, min_seconds=0)


def _conv_implementations(case, dtype, device):
    """op -> implementation -> a no-argument callable, for one conv layer."""
    import torch

    tensors = _conv_tensors(case, dtype, device)
    # What every call reads; the backward op swaps in copies that require grad.
    inputs = [tensors.x, tensors.w, tensors.gamma, tensors.beta]
    eager = _cudnn_eager(case, tensors.geometry, [tensors.moving_mean.clone(), tensors.moving_variance.clone()])
    compiled = torch.compile(eager, dynamic=False)
    layer = _keras_fallback_layer(case, dtype, tensors)

    def run(call, training, backward):
        if not backward:
            def forward():
                with torch.no_grad():
                    call(training)
            return forward
        inputs[:] = (t.detach().requires_grad_(True) for t in (tensors.x, tensors.w, tensors.gamma, tensors.beta))
        return lambda: call(training).backward(tensors.upstream)

    calls = {
        "fused": _fused_call(case, inputs, tensors),
        "cudnn": lambda training: eager(*inputs, training),
        "compile": lambda training: compiled(*inputs, training),
        "keras": lambda training: layer(inputs[0], training=training),
    }
    return {
        op: {impl: (lambda c=call, t=training, b=backward: run(c, t, b)) for impl, call in calls.items()}
        | {"_flops": flops_, "_bytes": bytes_}
        for op, (backward, training, flops_, bytes_) in _conv_ops(case, tensors, dtype).items()
    }


def _conv_tensors(case, dtype, device):
    """The layer's input, weights, moving statistics and an upstream gradient, seeded."""
    import torch

    from kerasvhn.kernels.conv_bn_relu import conv_geometry

    name, shape, filters, kernel, strides = case
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator).to(device, dtype)
    w = (torch.randn((*kernel, shape[-1], filters), generator=generator) * 0.05).to(device)
    geometry = conv_geometry(shape, w.shape, strides, "same")
    out_shape = (shape[0], geometry["OH"], geometry["OW"], filters)
    return SimpleNamespace(
        x=x,
        w=w,
        gamma=torch.ones(filters, device=device),
        beta=torch.zeros(filters, device=device),
        moving_mean=torch.zeros(filters, device=device),
        moving_variance=torch.ones(filters, device=device),
        geometry=geometry,
        upstream=torch.randn(out_shape, generator=generator).to(device, dtype),
    )


def _fused_call(case, inputs, tensors):
    from kerasvhn.kernels.conv_bn_relu import conv_bn_relu

    strides = case[4]
    moving_mean, moving_variance = tensors.moving_mean, tensors.moving_variance

    def fused(training):
        out, mean, variance = conv_bn_relu(*inputs, moving_mean, moving_variance, strides, "same",
                                           EPSILON, training)
        if training:  # as ConvBNReLU does, and F.batch_norm below
            moving_mean.mul_(MOMENTUM).add_(mean * (1 - MOMENTUM))
            moving_variance.mul_(MOMENTUM).add_(variance * (1 - MOMENTUM))
        return out

    return fused


def _cudnn_eager(case, geometry, running):
    """cuDNN, unfused, as torch users write it: NCHW views of the NHWC tensors
    (channels_last memory), TF "same" padding (asymmetric when the total is odd)."""
    import torch
    import torch.nn.functional as F

    name, shape, filters, kernel, strides = case
    pad_h = (geometry["PAD_H"], (geometry["OH"] - 1) * strides[0] + kernel[0] - shape[1] - geometry["PAD_H"])
    pad_w = (geometry["PAD_W"], (geometry["OW"] - 1) * strides[1] + kernel[1] - shape[2] - geometry["PAD_W"])

    def eager(x, w, gamma, beta, training):
        x = x.permute(0, 3, 1, 2)
        w = w.to(x.dtype).permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
        if pad_h[0] == pad_h[1] and pad_w[0] == pad_w[1]:
            y = F.conv2d(x, w, stride=strides, padding=(pad_h[0], pad_w[0]))
        else:
            y = F.conv2d(F.pad(x, (*pad_w, *pad_h)), w, stride=strides)
        y = F.batch_norm(y, running[0], running[1], gamma, beta, training, 1 - MOMENTUM, EPSILON)
        return F.relu(y).permute(0, 2, 3, 1)

    return eager


def _keras_fallback_layer(case, dtype, tensors):
    """ConvBNReLU(fused=False) holding the same weights, under dtype's mixed policy."""
    import keras
    import torch

    from kerasvhn.layers import ConvBNReLU

    name, shape, filters, kernel, strides = case
    policy = {torch.float16: "mixed_float16", torch.bfloat16: "mixed_bfloat16"}.get(dtype, "float32")
    layer = ConvBNReLU(filters, kernel, strides=strides, fused=False, dtype=policy)
    layer.build(shape)
    layer.set_weights([keras.ops.convert_to_numpy(t.float().cpu()) for t in
                       (tensors.w, tensors.gamma, tensors.beta, tensors.moving_mean, tensors.moving_variance)])
    return layer


def _conv_ops(case, tensors, dtype):
    """op -> (backward, training, FLOPs, compulsory bytes) of the conv ops timed."""
    import torch

    name, shape, filters, kernel, strides = case
    flops, out_elements = conv_flops(shape, filters, kernel, strides)
    size = torch.finfo(dtype).bits // 8
    forward_bytes = (tensors.x.numel() + out_elements) * size + tensors.w.numel() * 4
    # Backward: read grad_out, x, w and the saved conv output; write grad x and grad w.
    backward_bytes = (2 * out_elements + 2 * tensors.x.numel()) * size + 2 * tensors.w.numel() * 4
    return {
        "train": (False, True, flops, forward_bytes),
        "infer": (False, False, flops, forward_bytes),
        "train_backward": (True, True, 3 * flops, forward_bytes + backward_bytes),
    }


def _fgsm_implementations(batch, dtype, device):
    import keras
    import torch

    from kerasvhn.kernels.fgsm_step import fgsm_step

    generator = torch.Generator().manual_seed(0)
    x0 = torch.rand((batch, 54, 54, 3), generator=generator).to(device, dtype)
    grad = torch.randn(x0.shape, generator=generator).to(device, dtype)
    step, eps = 2 / 255, 8 / 255

    def eager(x, x0, grad):
        moved = x.float() + step * torch.sign(grad.float())
        x0 = x0.float()
        return torch.minimum(torch.maximum(moved, x0 - eps), x0 + eps).clamp(0, 1).to(x.dtype)

    def with_keras(x, x0, grad):
        ops = keras.ops
        moved = ops.cast(x, "float32") + step * ops.sign(ops.cast(grad, "float32"))
        x0 = ops.cast(x0, "float32")
        return ops.cast(ops.clip(ops.clip(moved, x0 - eps, x0 + eps), 0.0, 1.0), x.dtype)

    compiled = torch.compile(eager, dynamic=False)
    return {
        "fused": lambda: (lambda: fgsm_step(x0, x0, grad, step, eps, 0.0, 1.0)),
        "cudnn": lambda: (lambda: eager(x0, x0, grad)),
        "compile": lambda: (lambda: compiled(x0, x0, grad)),
        "keras": lambda: (lambda: with_keras(x0, x0, grad)),
        "_flops": 0,
        "_bytes": 4 * x0.numel() * (torch.finfo(dtype).bits // 8),
    }


def _time_one(timer, peaks, dtype, implementations, impl, row):
    import torch

    try:
        seconds = timer(implementations[impl]())
    except Exception as error:  # noqa: BLE001 - one failing baseline must not stop the run
        row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        return row
    flops, nbytes = implementations["_flops"], implementations["_bytes"]
    row.update(ms=seconds * 1e3, tflops=flops / seconds / 1e12, gbps=nbytes / seconds / 1e9)
    if peaks:
        if dtype != torch.float32:
            tensor_peak = peaks[0]
        else:
            tensor_peak = peaks[2] if torch.get_float32_matmul_precision() == "highest" else peaks[1]
        roofline = max(flops / (tensor_peak * 1e12), nbytes / (peaks[3] * 1e9))
        row["roofline_pct"] = 100 * roofline / seconds
    return row


def measure(presets, batch, dtype_name, ops, device="cuda"):
    """Rows of timings on `device` (cuda; cpu only to exercise this code)."""
    import torch

    dtype = getattr(torch, dtype_name)
    timer = _timer(device)
    peaks = _peaks(torch.cuda.get_device_name()) if device == "cuda" else None
    work = []  # (case name, ops, builder of {op: implementations})
    if set(ops) - {"fgsm"}:
        work += [(case[0], [op for op in ops if op != "fgsm"],
                  lambda case=case: _conv_implementations(case, dtype, device))
                 for case in layer_cases(presets, batch)]
    if "fgsm" in ops:
        work.append((f"images {batch}x54x54x3", ["fgsm"],
                     lambda: {"fgsm": _fgsm_implementations(batch, dtype, device)}))

    rows = []
    for case_name, case_ops, build in work:
        # A fresh torch.compile cache per case: each case's closures would otherwise
        # count as recompiles of one function, and past the limit run uncompiled.
        torch._dynamo.reset()
        by_op = build()
        for op in case_ops:
            implementations = by_op[op]
            for impl in IMPLEMENTATIONS:
                rows.append(_time_one(timer, peaks, dtype, implementations, impl,
                                      {"case": case_name, "op": op, "impl": impl,
                                       "dtype": dtype_name, "batch": batch}))
    for row in rows:
        base = next((r for r in rows if r["case"] == row["case"] and r["op"] == row["op"]
                     and r["impl"] == "cudnn" and "ms" in r), None)
        if base and "ms" in row:
            row["vs_cudnn"] = base["ms"] / row["ms"]
    return rows


# ------------------------------------------------------- interpreter parity (no GPU)


def parity(presets, batch):
    """The fused kernels against the Keras fallback under TRITON_INTERPRET=1, on CPU."""
    import keras
    import numpy as np
    import torch

    from kerasvhn.kernels.fgsm_step import fgsm_step
    from kerasvhn.layers import ConvBNReLU

    def relative(a, b):
        a, b = (np.asarray(keras.ops.convert_to_numpy(t), np.float64) for t in (a, b))
        return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))

    rows = []
    for name, shape, filters, kernel, strides in layer_cases(presets, batch):
        rng = np.random.default_rng(0)
        weights = [rng.normal(0, np.sqrt(2 / (kernel[0] * kernel[1] * shape[-1])), (*kernel, shape[-1], filters)),
                   rng.uniform(0.5, 1.5, filters), rng.normal(0, 0.2, filters),
                   rng.normal(0, 0.2, filters), rng.uniform(0.5, 1.5, filters)]
        x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
        for training in (True, False):
            results, seconds = [], None
            for fused in (True, False):
                layer = ConvBNReLU(filters, kernel, strides=strides, fused=fused)
                layer.build(shape)
                layer.set_weights([w.astype("float32") for w in weights])
                inputs = x.clone().requires_grad_(True)
                began = time.perf_counter()
                out = layer(inputs, training=training)
                params = [inputs, layer.kernel.value, layer.gamma.value, layer.beta.value]
                grads = torch.autograd.grad(out.sum() + (out * out).mean(), params)
                if fused:
                    seconds = time.perf_counter() - began
                results.append([out, *grads, layer.moving_mean, layer.moving_variance])
            errors = [relative(a, b) for a, b in zip(*results)]
            rows.append({
                "case": name, "op": "train_backward" if training else "infer_backward",
                "output_error": errors[0], "gradient_error": max(errors[1:5]),
                "moving_stats_error": max(errors[5:]), "interpreter_s": seconds,
                "ok": max(errors) <= 1e-4,
            })
    x0 = torch.rand((batch, 54, 54, 3), generator=torch.Generator().manual_seed(2))
    grad = torch.randn(x0.shape)
    began = time.perf_counter()
    ours = fgsm_step(x0, x0, grad, 2 / 255, 8 / 255, 0.0, 1.0)
    seconds = time.perf_counter() - began
    reference = torch.clamp(x0 + 2 / 255 * torch.sign(grad), x0 - 8 / 255, x0 + 8 / 255).clamp(0, 1)
    error = relative(ours, reference)
    rows.append({"case": f"images {batch}x54x54x3", "op": "fgsm", "output_error": error,
                 "interpreter_s": seconds, "ok": error == 0.0})
    return rows


# --------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dtype", default="float16", choices=("float16", "bfloat16", "float32"))
    parser.add_argument("--ops", nargs="+", default=list(OPS), choices=OPS)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--parity", action="store_true", help="the interpreter parity subset, even with a GPU")
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)  # cpu: exercise the timing code
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:  # the parity subset, in a process started with TRITON_INTERPRET=1
        print(json.dumps(parity(["small"], 2)))
        return 0

    import torch

    if args.device == "cuda" and (args.parity or not torch.cuda.is_available()):
        if not torch.cuda.is_available():
            print("No CUDA GPU here: the fused kernels cannot be timed. Running the interpreter "
                  "parity subset instead (fused against the Keras fallback, small preset, batch 2).",
                  flush=True)
        # The interpreter must be on before Triton is imported (a fresh process), and one
        # BLAS thread keeps its small tile products from fighting over the cores.
        os.environ.update(TRITON_INTERPRET="1", OPENBLAS_NUM_THREADS="1")
        rows = run_on_backend(__file__, "torch", timeout=1800)
        print(f"\nInterpreter parity on {machine_description()} (fp32; bound 1e-4, FGSM exact)\n")
        print(markdown_table(rows, [
            ("case", "case", "{}"), ("op", "op", "{}"), ("output_error", "output err", "{:.1e}"),
            ("gradient_error", "worst grad err", "{:.1e}"), ("moving_stats_error", "moving stats err", "{:.1e}"),
            ("interpreter_s", "interpreter s", "{:.1f}"), ("ok", "ok", "{}"),
        ]))
        failed = not all(row["ok"] for row in rows)
    else:
        rows = measure(args.presets, args.batch, args.dtype, args.ops, args.device)
        device = torch.cuda.get_device_name() if args.device == "cuda" else machine_description()
        print(f"\nFused kernels on {device}, {args.dtype}, batch {args.batch} (torch {torch.__version__})\n")
        print(markdown_table(rows, [
            ("case", "case", "{}"), ("op", "op", "{}"), ("impl", "impl", "{}"), ("ms", "ms", "{:.3f}"),
            ("tflops", "TFLOP/s", "{:.1f}"), ("gbps", "GB/s", "{:.0f}"),
            ("roofline_pct", "% roofline", "{:.0f}"), ("vs_cudnn", "x cudnn", "{:.2f}"),
            ("error", "error", "{}"),
        ]))
        failed = False
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
