"""daas.write_file, the one file writer every part of the package uses (daas_write_file)."""

from __future__ import annotations

import os
import stat

import pytest

import daas


def test_write_file_writes_whole_files_and_keeps_the_mode(tmp_path) -> None:
    p = tmp_path / "report.json"
    daas.write_file(p, b'{"a": 1}\n')
    assert p.read_bytes() == b'{"a": 1}\n'
    os.chmod(p, 0o600)
    daas.write_file(str(p), bytearray(b"x" * 100_000))
    assert p.read_bytes() == b"x" * 100_000 and stat.S_IMODE(p.stat().st_mode) == 0o600
    daas.write_file(p, b"")
    assert p.read_bytes() == b""
    assert [f.name for f in tmp_path.iterdir()] == ["report.json"]  # no temporary file left


def test_write_file_errors_leave_the_old_file(tmp_path) -> None:
    p = tmp_path / "a.bin"
    daas.write_file(p, b"old")
    with pytest.raises(daas.DaasIOError, match="no-such-folder"):
        daas.write_file(tmp_path / "no-such-folder" / "a.bin", b"new")
    with pytest.raises(daas.DaasIOError):
        daas.write_file(tmp_path, b"new")  # a folder, not a file
    with pytest.raises(TypeError, match="needs bytes"):
        daas.write_file(p, "text")  # type: ignore[arg-type]
    with pytest.raises(daas.InvalidArgumentError):
        daas.write_file("", b"x")
    assert p.read_bytes() == b"old"
