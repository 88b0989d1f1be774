"""One clear line when the Keras backend is not installed, instead of a traceback
ending in "No module named 'tensorflow'"."""

import os

#: The module each backend imports first -> the pip extra that installs it.
BACKEND_MODULES = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax", "jaxlib": "jax"}


def missing_backend_message(error):
    """The message for a ModuleNotFoundError raised because the Keras backend is
    missing, or None when the error is about another module.

    >>> print(missing_backend_message(ModuleNotFoundError("x", name="tensorflow")))
    the Keras backend 'tensorflow' is not installed: pip install 'kerasvhn[tensorflow]' (or kerasvhn[torch], kerasvhn[jax], and set KERAS_BACKEND to it)
    """
    missing = (getattr(error, "name", None) or "").split(".")[0]
    if missing not in BACKEND_MODULES:
        return None
    extra = BACKEND_MODULES[missing]
    others = ", ".join(f"kerasvhn[{name}]" for name in ("tensorflow", "torch", "jax") if name != extra)
    return (f"the Keras backend {extra!r} is not installed: pip install 'kerasvhn[{extra}]' "
            f"(or {others}, and set KERAS_BACKEND to it)")


def import_keras_quietly():
    """Imports Keras (and its backend) without TensorFlow's C++ start-up log lines
    (oneDNN, CPU features), which it writes to file descriptor 2 before any log
    setting applies: that descriptor points to /dev/null during the import only.
    An error raised by the import is still raised, and shown."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)
