"""Facts the Python side writes down again agree with their one source.

include/daas.h is the source of the version (and of the status codes: test_errors.py); the engine is
the source of the preset spaces (daas.torch.model.PRESETS: test_torch_model.py). go.mod's FlatBuffers
version is held to requirements.txt and pyproject.toml by TestFlatbuffersVersionEverywhere
(engine/flatbuffers_version_test.go).
"""

from __future__ import annotations

import re

import daas
from conftest import PKG_ROOT, REPO

HEADER = (REPO / "include" / "daas.h").read_text()


def _define(name: str) -> str:
    found = re.search(rf"^#define {name}[ \t]+(\S+)", HEADER, re.M)
    assert found, f"include/daas.h does not define {name}"
    return found.group(1).strip('"')


def test_pyproject_version_is_the_headers() -> None:
    version = _define("DAAS_VERSION_STRING")
    assert version == ".".join(_define(f"DAAS_VERSION_{p}") for p in ("MAJOR", "MINOR", "PATCH"))
    project = re.search(r'^\[project\]\n(?:.*\n)*?version = "([^"]+)"$', (PKG_ROOT / "pyproject.toml").read_text(), re.M)
    assert project and project.group(1) == version, "pyproject.toml's [project] version must be include/daas.h's"


def test_package_version_is_the_headers_and_the_librarys() -> None:
    assert daas.__version__ == _define("DAAS_VERSION_STRING") == daas.version_string()


def test_spec_reference_presets_are_the_engines() -> None:
    # tests/spec_reference.py writes the presets out from the specification on purpose (it never calls
    # daas); a difference from the engine is a bug in one of the two.
    import spec_reference
    from daas.torch.model import PRESETS

    assert sorted(spec_reference.PRESETS) == sorted(PRESETS)
    for name, (cells, inputs, nodes, keep, ops) in spec_reference.PRESETS.items():
        with daas.Engine({"space": name}) as eng:
            space = eng.config["space"]
        assert space["ops"] == ops, name
        assert [c["name"] for c in space["cells"]] == cells, name
        for c in space["cells"]:
            want_keep = [inputs + j if keep == "all" else min(keep, inputs + j) for j in range(nodes)]
            assert (c["inputs"], c["nodes"], c["keep"]) == (inputs, nodes, want_keep), (name, c)
