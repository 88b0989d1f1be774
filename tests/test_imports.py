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


LIGHT_IMPORTS = """
import sys
import kerasvhn, kerasvhn.data, kerasvhn.labels, kerasvhn.framing, kerasvhn.cli
from kerasvhn.data import synth
heavy = {"keras", "tensorflow", "torch", "jax", "h5py", "matplotlib", "skimage"}
print(sorted(heavy & {name.split(".")[0] for name in sys.modules}))
"""


def test_the_package_root_the_data_path_and_the_cli_import_no_keras():
    """`import kerasvhn`, `kerasvhn.data` (labels, synthesis) and the CLI module leave
    Keras, its backends, h5py and matplotlib unloaded: names load on first use."""
    assert run_python(LIGHT_IMPORTS, "tensorflow").strip() == "[]"


def test_a_missing_backend_is_one_line_naming_the_extras(tmp_path):
    """As after `pip install kerasvhn` without a backend extra: the backend module
    cannot be imported (a meta path hook hides it)."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'tensorflow':\n"
        "            raise ModuleNotFoundError(f\"No module named {name!r}\", name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
    )
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(tmp_path)}
    command = subprocess.run([sys.executable, "-m", "kerasvhn.cli", "info"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert command.returncode == 1
    assert command.stderr.strip().splitlines() == [
        "kerasvhn: error: the Keras backend 'tensorflow' is not installed: pip install 'kerasvhn[tensorflow]' "
        "(or kerasvhn[torch], kerasvhn[jax], and set KERAS_BACKEND to it)"]
    script = "import kerasvhn\ntry:\n    kerasvhn.MultiDigitNet\nexcept ImportError as error:\n    print(error)\n"
    python = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert python.returncode == 0 and "pip install 'kerasvhn[tensorflow]'" in python.stdout, python.stderr


def test_the_command_line_prints_no_backend_start_up_logs(tmp_path):
    """TensorFlow writes oneDNN / CPU-feature lines at start-up; the CLI hides them
    unless --verbose."""
    import os
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((30, 50, 3), 128, np.uint8)).save(tmp_path / "wall.png")
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env["KERAS_BACKEND"] = "tensorflow"

    def stderr(*flags):
        argv = [sys.executable, "-m", "kerasvhn.cli", "predict", str(tmp_path / "wall.png"), *flags]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stderr

    assert stderr() == ""
    assert "oneDNN" in stderr("--verbose") or "cpu_feature_guard" in stderr("--verbose")


def test_the_package_reaches_no_private_keras_module():
    """Public Keras only (issue 16): the text "keras.src" appears nowhere in
    kerasvhn/, so that a new Keras release does not break the plugin."""
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "kerasvhn"
    found = [f"{path.relative_to(package.parent)}:{number}: {line.strip()}"
             for path in sorted(package.rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1) if "keras.src" in line]
    assert not found, "private Keras modules named:\n" + "\n".join(found)


SEEDING = """
import sys
from kerasvhn.seeding import set_random_seed
set_random_seed(0)
print("tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_seeding_imports_no_tensorflow_into_other_backends(backend):
    assert run_python(SEEDING, backend).strip() == "False"
