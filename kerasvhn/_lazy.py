"""Names of a package that load on first use (PEP 562), so importing it stays cheap."""

import importlib


def lazy_exports(package, exports):
    """`__getattr__` and `__dir__` for `package` that import `exports[name]` on first use.

    `exports` maps a public name to the submodule (relative to `package`) defining it.

    >>> getattr_, dir_ = lazy_exports("kerasvhn.data", {"read_split": "splits"})
    >>> getattr_("read_split").__name__
    'read_split'
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted([*namespace, *exports])

    return __getattr__, __dir__
