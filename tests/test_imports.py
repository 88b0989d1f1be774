import pytest

from conftest import ALL_BACKENDS, run_python

NEW_TOP_LEVEL_MODULES = """
import sys
import keras
before = {name.split(".")[0] for name in sys.modules}
import kerasvhn
model = kerasvhn.MultiDigitNet("small")
after = {name.split(".")[0] for name in sys.modules}
print(sorted(after - before))
print("triton" in sys.modules, "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_import_adds_no_backend(backend):
    out = run_python(NEW_TOP_LEVEL_MODULES, backend).splitlines()
    new_modules = eval(out[0])
    assert not {"torch", "tensorflow", "jax", "triton"} & set(new_modules), new_modules
    triton_loaded, tensorflow_loaded = eval(out[1].replace(" ", ","))
    assert not (triton_loaded and tensorflow_loaded)
    if backend == "tensorflow":
        assert not triton_loaded


def test_fused_request_on_tensorflow_never_imports_triton():
    code = """
import sys, numpy as np, kerasvhn
try:
    kerasvhn.ConvBNReLU(4, 3, fused=True)(np.zeros((1, 5, 5, 3), "float32"))
except RuntimeError as error:
    print(error)
assert "triton" not in sys.modules
"""
    out = run_python(code, "tensorflow")
    assert "torch backend only" in out
