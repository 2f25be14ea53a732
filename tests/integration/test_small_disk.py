"""The store's small disk (zaiban/infra/smalldisk.py) on this machine: a tmpfs of a fixed size
that really fills, grows in place keeping its files, and is gone after the block however it
ends. Mounting needs root: without it the test fails saying why (it never skips)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from zaiban import infra
from zaiban.infra.smalldisk import MB, SmallDisk


def mounted(where: Path) -> bool:
    return any(line.split()[1] == str(where)
               for line in Path("/proc/mounts").read_text().splitlines())


def test_a_small_disk_fills_grows_in_place_and_is_unmounted(tmp_path: Path) -> None:
    where = tmp_path / "data"
    with pytest.raises(RuntimeError, match="boom"), infra.small_disk(where, 4) as disk:
        assert mounted(where)
        (where / "kept.sqlite").write_bytes(b"x" * 1000)
        disk.fill(leave_bytes=64 * 1024)
        used, total = disk.usage()
        assert total == 4 * MB and total - used <= 64 * 1024
        with pytest.raises(OSError) as full:
            (where / "more").write_bytes(b"x" * 128 * 1024)
        assert full.value.errno == errno.ENOSPC

        disk.grow(8)
        used, total = disk.usage()
        assert total == 8 * MB and total - used > 3 * MB
        assert (where / "kept.sqlite").read_bytes() == b"x" * 1000  # nothing lost
        raise RuntimeError("boom")
    assert not mounted(where)


def test_without_root_a_small_disk_is_refused_saying_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(infra.InfraError, match="needs root"):
        SmallDisk(tmp_path / "data", 4).mount()
    assert not mounted(tmp_path / "data")


def test_a_small_disk_is_not_mounted_over_files_it_would_hide(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "zt.sqlite").write_bytes(b"cases")
    with pytest.raises(infra.InfraError, match="not empty"):
        SmallDisk(tmp_path / "data", 4).mount()
