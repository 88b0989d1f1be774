import pytest

from conftest import BACKEND, run_python

DATA_PARALLEL = """
import jax, keras, numpy as np, kerasvhn
devices = keras.distribution.list_devices()
assert len(devices) == 2, devices
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
rng = np.random.default_rng(0)
x = rng.uniform(size=(32, 54, 54, 3)).astype("float32")
y = kerasvhn.encode_numbers([str(n) for n in rng.integers(0, 100, 32)])
model = kerasvhn.MultiDigitNet("small", conv_dropout=0.0, dense_dropout=0.0)
model.compile(optimizer=keras.optimizers.Adam(3e-3))
history = model.fit(x, y, batch_size=16, epochs=8, verbose=0).history
kernel = model.get_layer("conv1").kernel.value
assert len(kernel.sharding.device_set) == 2, kernel.sharding  # replicated on both devices
assert history["loss"][-1] < history["loss"][0], history["loss"]
print("ok", history["loss"][0], history["loss"][-1])
"""


@pytest.mark.skipif(BACKEND != "jax", reason="simulated CPU devices are a JAX feature")
def test_data_parallel_on_two_simulated_devices():
    out = run_python(DATA_PARALLEL, "jax", env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert out.startswith("ok")
