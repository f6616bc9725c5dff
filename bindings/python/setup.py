"""Build hooks of the daas Python package; the metadata is in pyproject.toml.

A wheel of this package carries libdaas (a Go-built shared library that :mod:`daas._library` loads
with ctypes) as ``daas/libdaas.so``, so it is platform-specific but not tied to one Python: it is
tagged ``py3-none-<platform>``. The library is taken from, in order:

1. the file named by the environment variable ``DAAS_LIBRARY_BUILD``;
2. ``../../build/libdaas.so``, the build tree of the checkout this folder sits in;
3. a fresh ``make lib`` in that checkout, when the Go toolchain and the Go sources are there.

Otherwise the build stops with a message saying what to do. ``libdaas-cuda.so`` beside the library
(a GPU build) goes into the package too. The library is copied into the build folder only, never
into the source tree. An editable install (``pip install -e``) copies nothing: the package finds
``../../build/libdaas.so`` at run time, so the library only has to exist (or be built).

``DAAS_WHEEL_PLATFORM`` sets the platform tag (``tools/wheel.sh`` derives it from the glibc symbol
versions the library needs); without it the tag is the build machine's (``linux_x86_64``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import List

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel  # in setuptools itself since 70.1
from setuptools.command.build_py import build_py
from setuptools.errors import SetupError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LIBRARY_VAR = "DAAS_LIBRARY_BUILD"
PLATFORM_VAR = "DAAS_WHEEL_PLATFORM"
NAME = "libdaas.so"
EXTRA = ("libdaas-cuda.so",)
HOW = (
    "daas: building this package needs libdaas.so: run `make lib` in the repository (Go 1.26), "
    "or install the wheel from `make wheel` (or point DAAS_LIBRARY_BUILD at a built libdaas.so)"
)


def _checkout_library() -> Path:
    """../../build/libdaas.so, built with `make lib` first if it is missing and can be built."""
    built = REPO / "build" / NAME
    if built.is_file():
        return built
    sources = (REPO / "go.mod").is_file() and (REPO / "capi").is_dir()
    if not sources:
        raise SetupError(HOW + f" ({HERE} is not inside a daas checkout, so it cannot be built here)")
    missing = [tool for tool in ("go", "make") if shutil.which(tool) is None]
    if missing:
        raise SetupError(HOW + f" ({built} does not exist and {' and '.join(missing)} is not on PATH)")
    print(f"daas: {built} is missing; running make -C {REPO} lib")
    if subprocess.run(["make", "-C", str(REPO), "lib"]).returncode != 0 or not built.is_file():
        raise SetupError(HOW + f" (`make -C {REPO} lib` failed; its output is above)")
    return built


def _library() -> Path:
    env = os.environ.get(LIBRARY_VAR)
    if env:
        lib = Path(env)
        if not lib.is_file():
            raise SetupError(f"daas: {LIBRARY_VAR}={env!r} does not name a file")
        return lib
    return _checkout_library()


class BuildPy(build_py):
    """build_py that also puts libdaas.so (and a GPU build beside it) into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            _checkout_library()  # the editable package loads it from the build tree
            return
        lib = _library()
        dest = Path(self.build_lib) / "daas"
        self.mkpath(str(dest))
        self.copy_file(str(lib), str(dest / NAME))
        for name in EXTRA:
            if (lib.parent / name).is_file():
                self.copy_file(str(lib.parent / name), str(dest / name))

    def get_outputs(self, include_bytecode: bool = True) -> List[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not self.editable_mode:
            dest = Path(self.build_lib) / "daas"
            outputs += [str(dest / name) for name in (NAME, *EXTRA) if (dest / name).is_file()]
        return outputs


class BinaryDistribution(Distribution):
    """A distribution with a platform-specific file: the wheel is not pure and installs to platlib."""

    def has_ext_modules(self) -> bool:
        return True


class BdistWheel(bdist_wheel):
    """A wheel that is platform-specific (it holds a shared library) but fits any Python 3."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False
        platform = os.environ.get(PLATFORM_VAR)
        if platform:
            self.plat_name, self.plat_name_supplied = platform, True

    def get_tag(self) -> tuple:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(distclass=BinaryDistribution, cmdclass={"build_py": BuildPy, "bdist_wheel": BdistWheel})
