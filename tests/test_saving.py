import keras
import numpy as np
import pytest

import kerasvhn
from conftest import ALL_BACKENDS, BACKEND, run_python

LOAD_AND_PREDICT = """
import numpy as np, keras
import kerasvhn  # registers the kerasvhn classes, as for any Keras plugin
model = keras.saving.load_model({path!r})
assert type(model).__name__ == "MultiDigitNet", type(model)
x = np.load({inputs!r})
outputs = model.predict(x, verbose=0)
np.savez({result!r}, length=outputs["length"], digits=outputs["digits"])
print(kerasvhn.decode(outputs).numbers)
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(1)
    folder = tmp_path_factory.mktemp(f"saved_{BACKEND}")
    x = rng.uniform(size=(6, 54, 54, 3)).astype("float32")
    y = kerasvhn.encode_numbers(["1", "22", "", "333", "4444", "55555"])
    model = kerasvhn.MultiDigitNet("small", max_digits=5)
    model.compile(optimizer="adam")
    model.fit(x, y, epochs=2, verbose=0)
    path = folder / "model.keras"
    model.save(path)
    np.save(folder / "x.npy", x)
    return model, path, x, folder


def test_save_and_load_predicts_identically(trained):
    model, path, x, _ = trained
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kerasvhn.MultiDigitNet)
    assert loaded.get_config() == model.get_config()
    expected = model.predict(x, verbose=0)
    got = loaded.predict(x, verbose=0)
    for key in ("length", "digits"):
        np.testing.assert_array_equal(got[key], expected[key])
    # Compiled as it was saved: default loss and metrics, the optimizer and its state.
    assert loaded.compiled
    assert [m.name for m in loaded._reading_metrics] == [m.name for m in model._reading_metrics]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.optimizer.iterations), keras.ops.convert_to_numpy(model.optimizer.iterations)
    )
    history = loaded.fit(x, kerasvhn.encode_numbers(["1"] * 6), epochs=1, verbose=0).history
    assert "sequence_accuracy" in history


@pytest.mark.parametrize("other", [b for b in ALL_BACKENDS if b != BACKEND])
def test_loads_under_the_other_backends(trained, other):
    model, path, x, folder = trained
    result = folder / f"from_{other}.npz"
    code = LOAD_AND_PREDICT.format(path=str(path), inputs=str(folder / "x.npy"), result=str(result))
    run_python(code, other)
    got = np.load(result)
    expected = model.predict(x, verbose=0)
    for key in ("length", "digits"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-4)


def test_a_trained_models_weights_file_loads_uncompiled_and_without_warnings(trained, tmp_path):
    import json
    import warnings

    model, _, x, _ = trained  # compiled and trained: its optimizer has state
    model.training_streams = [{"purpose": "train", "seed": 3, "split": "train", "count": 6}]
    path = tmp_path / "m.weights.h5"
    kerasvhn.save_model(model, path)
    assert not json.loads((tmp_path / "m.config.json").read_text()).get("compile_config")
    # A sidecar of before 2026-12-04 carried the compile config: it loads the same way.
    old = json.loads(model.to_json())
    assert old["compile_config"]
    (tmp_path / "m.config.json").write_text(json.dumps(old))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = kerasvhn.load_model(path)
    assert not loaded.compiled and loaded.training_streams == model.training_streams
    np.testing.assert_allclose(loaded.predict(x, verbose=0)["digits"], model.predict(x, verbose=0)["digits"],
                               rtol=1e-5, atol=1e-5)
