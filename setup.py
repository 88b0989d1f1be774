"""Builds the Cython extensions and ships kernels/ inside the package as kerasvhn.kernels.

Everything else (metadata, dependencies, extras) lives in pyproject.toml.
"""

import os

from setuptools import find_packages, setup

# Cython extensions: (module name, .pyx source). KERASVHN_NO_EXTENSIONS=1 at build
# time skips them; the pure paths give the same results.
CYTHON_EXTENSIONS = [("kerasvhn.data._digitstruct", "kerasvhn/data/_digitstruct.pyx")]


def extensions():
    if not CYTHON_EXTENSIONS or os.environ.get("KERASVHN_NO_EXTENSIONS") == "1":
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    modules = [
        Extension(name, [source], extra_compile_args=["-O3"])
        for name, source in CYTHON_EXTENSIONS
    ]
    return cythonize(modules, language_level=3)


packages = find_packages(include=["kerasvhn", "kerasvhn.*"])
packages += ["kerasvhn.kernels"] + [
    "kerasvhn.kernels." + p for p in find_packages(where="kernels")
]

setup(
    packages=packages,
    package_dir={"kerasvhn.kernels": "kernels"},
    ext_modules=extensions(),
)
