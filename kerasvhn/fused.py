"""The one seam between Keras layers and the Triton kernels in `kerasvhn.kernels`.

Layers ask `resolve_fused(fused, op_name, inputs, compute_dtype)` whether the fused
kernel runs on these inputs (`kernel_unavailable` says why not), then call the op,
`kernel_module(op_name).<op_name>(tensors...)`: the kernels get tensors and settings,
never the layer. Triton is imported here only on the torch backend and never in a
process that has loaded TensorFlow: TensorFlow and Triton both bundle LLVM, and
importing Triton after TensorFlow aborts the process.
"""

import functools
import importlib
import os
import sys

import keras

_ENV_SWITCH = "KERASVHN_FUSED"


def fused_disabled_by_env():
    """True when `KERASVHN_FUSED=0` forces the pure-Keras fallback."""
    return os.environ.get(_ENV_SWITCH, "").strip().lower() in ("0", "false", "no", "off")


def _interpreting():
    return os.environ.get("TRITON_INTERPRET", "") == "1"


@functools.lru_cache(maxsize=None)
def _load_kernel_once(op_name):
    try:
        importlib.import_module("triton")
    except ImportError as error:
        return None, f"Triton is not installed ({error}); pip install 'kerasvhn[gpu]'"
    try:
        module = importlib.import_module(f"kerasvhn.kernels.{op_name}")
    except ModuleNotFoundError:
        return None, f"this build of kerasvhn has no Triton kernel for {op_name!r} yet"
    return module, None


def _load_kernel(op_name):
    """Imports `kerasvhn.kernels.<op_name>` or returns a reason why it cannot."""
    if keras.backend.backend() != "torch":
        return None, (
            f"the Triton kernels run on the torch backend only "
            f"(KERAS_BACKEND is {keras.backend.backend()!r})"
        )
    if "tensorflow" in sys.modules:
        return None, (
            "TensorFlow is loaded in this process, and importing Triton after "
            "TensorFlow aborts the process (both bundle LLVM)"
        )
    return _load_kernel_once(op_name)


def _on_cuda(tensor):
    return getattr(getattr(tensor, "device", None), "type", None) == "cuda"


def _is_symbolic(tensor):
    device = getattr(tensor, "device", None)
    return isinstance(tensor, keras.KerasTensor) or getattr(device, "type", None) == "meta"


def kernel_unavailable(op_name, tensor, compute_dtype=None):
    """Why the Triton kernel `op_name` cannot run on `tensor`, or None when it can.

    A CUDA tensor is needed, except under `TRITON_INTERPRET=1`, where CPU tensors
    run through the Triton interpreter (how the kernels are tested without a GPU).
    compute_dtype: the dtype the kernel would compute in (a layer's compute dtype),
    checked against the op's `DTYPES` where both are given.
    """
    if fused_disabled_by_env():
        return f"{_ENV_SWITCH}=0 is set"
    module, reason = _load_kernel(op_name)
    if reason:
        return reason
    if not _on_cuda(tensor) and not _interpreting():
        return (
            f"the input is on {getattr(tensor, 'device', 'the host')}, not on a CUDA device "
            "(set TRITON_INTERPRET=1 to run the kernel on CPU through the interpreter)"
        )
    dtypes = getattr(module, "DTYPES", None)
    if compute_dtype is not None and dtypes is not None and compute_dtype not in dtypes:
        return f"it computes in {', '.join(dtypes)}, and the layer computes in {compute_dtype}"
    return None


def resolve_fused(fused, op_name, tensor, compute_dtype=None):
    """Decides whether a layer runs the fused kernel for `tensor`, computing in
    `compute_dtype` where given (see `kernel_unavailable`).

    fused="auto" picks the kernel only on torch with CUDA tensors; fused=True raises
    a RuntimeError saying why when the kernel cannot run; fused=False never picks it.
    """
    if fused is False or (fused == "auto" and not _on_cuda(tensor)):
        return False
    if _is_symbolic(tensor):
        return False  # shape inference: both paths give the same output spec
    reason = kernel_unavailable(op_name, tensor, compute_dtype)
    if fused == "auto":
        return reason is None
    if reason is not None:
        raise RuntimeError(f"fused=True, but the fused {op_name} kernel cannot run: {reason}.")
    return True


def kernel_module(op_name):
    """The imported `kerasvhn.kernels.<op_name>` module (after `resolve_fused` said yes)."""
    module, reason = _load_kernel(op_name)
    if reason:
        raise RuntimeError(reason)
    return module
