"""What the Triton kernel tests share: which process may run them, and where."""

import os
import sys

import keras
import pytest


def require_triton_process():
    """Skips the calling test module unless this is a torch process without TensorFlow
    (importing Triton after TensorFlow aborts the process). Call it before importing
    torch or triton."""
    if keras.backend.backend() != "torch" or "tensorflow" in sys.modules:
        pytest.skip(
            "Triton kernels: torch backend only, never after TensorFlow is imported",
            allow_module_level=True,
        )


def kernel_switches():
    """(interpreting, run_kernels, device, kernels_here): kernels run here under
    TRITON_INTERPRET=1 (CPU tensors) or on a GPU; `kernels_here` skips the others."""
    import torch

    interpreting = os.environ.get("TRITON_INTERPRET") == "1"
    run_kernels = interpreting or torch.cuda.is_available()
    device = "cpu" if interpreting or not run_kernels else "cuda"
    kernels_here = pytest.mark.skipif(
        not run_kernels,
        reason="no GPU: run by test_kernels_pass_under_the_interpreter with TRITON_INTERPRET=1",
    )
    return interpreting, run_kernels, device, kernels_here


def rerun_under_interpreter(test_file, timeout=600):
    """Runs `test_file` again in a fresh torch process with TRITON_INTERPRET=1 (Triton
    reads it when the kernels are decorated, so it cannot be switched on here)."""
    from conftest import run_python

    code = (
        "import sys, pytest; sys.stdout = sys.stderr; "
        f"sys.exit(pytest.main([{str(test_file)!r}, '-q', '-p', 'no:cacheprovider']))"
    )
    # One BLAS thread: the interpreter's tile products are small, and threads that
    # outnumber the cores make them many times slower.
    run_python(code, "torch", env={"TRITON_INTERPRET": "1", "OPENBLAS_NUM_THREADS": "1"}, timeout=timeout)
