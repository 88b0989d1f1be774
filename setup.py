"""Builds the Cython extensions and ships kernels/ inside the package as kerasvhn.kernels.

Everything else (metadata, dependencies, extras) lives in pyproject.toml.
"""

import os

from setuptools import find_packages, setup

# Cython extensions: (module name, .pyx source). The data issue adds the
# digitStruct.mat parser here.
CYTHON_EXTENSIONS = []


def extensions():
    if not CYTHON_EXTENSIONS or os.environ.get("KERASVHN_NO_EXTENSIONS") == "1":
        return []
    import numpy
    from Cython.Build import cythonize
    from setuptools import Extension

    modules = [
        Extension(name, [source], include_dirs=[numpy.get_include()])
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
