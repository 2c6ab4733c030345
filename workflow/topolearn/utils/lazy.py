"""Names a package exports from its heavy modules, imported on first use.

The workflow imports topolearn.sweep, .store, .figures and .results while planning, before every
dry run and job: their modules that load torch, zarr or matplotlib must load only when one of
their names is used (tests/test_structure.py checks it).
"""

import importlib
import sys


def lazy_exports(package: str, modules: dict[str, tuple[str, ...]]):
    """A module `__getattr__` for `package`: each name of `modules` ({submodule: names}) is
    imported from its submodule when first asked for, then kept in the package."""
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
