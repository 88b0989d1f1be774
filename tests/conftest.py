"""Shared test setup. Each backend runs in its own pytest process (see the Makefile):
KERAS_BACKEND selects it before keras is imported."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasvhn.seeding import set_random_seed

BACKEND = keras.backend.backend()
ALL_BACKENDS = ("torch", "tensorflow", "jax")


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {BACKEND}"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def run_python(code, backend, env=None, timeout=300):
    """Runs `code` in a fresh interpreter on `backend`; returns its stdout (fails on error)."""
    environment = {**os.environ, "KERAS_BACKEND": backend, **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"subprocess on {backend} failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )
    return result.stdout
