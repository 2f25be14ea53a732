"""The store's small disk (zaiban/infra/smalldisk.py) on this machine: a tmpfs of a fixed size
that really fills, grows in place keeping its files, and is gone after the block however it
ends. Mounting needs root: without it the test fails saying why (it never skips). And what
FerretDB 1.24 does on it when full."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure
from stackfixtures import private_settings

from services.common.store import OUT_OF_SPACE, ensure_collections, store_trouble
from zaiban import infra
from zaiban.infra import StackInfo
from zaiban.infra.smalldisk import BALLAST, MB, SmallDisk


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


async def test_ferretdb_on_a_full_disk_refuses_writes_and_loses_a_collection_made_then(
        local_stack: StackInfo, tmp_path: Path) -> None:
    """Every write is refused with SQLITE_FULL, which the services tell as "out of disk
    space"; reads go on. A collection first written while the disk is full may be left half
    made (FerretDB commits its table, fails its metadata row, cannot drop the table): it
    refuses writes even once there is room again — so the services make theirs at start."""
    settings = private_settings(tmp_path)
    with infra.small_disk(settings.ferretdb_data_dir, 8) as disk:
        infra.start("ferretdb", settings)
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            settings.mongo_url, serverSelectionTimeoutMS=5000)
        try:
            db = client["zt_full"]
            await ensure_collections(db, ["made_at_start"])
            await db["made_at_start"].insert_one({"_id": "before"})
            disk.fill(leave_bytes=0)
            with pytest.raises(OperationFailure) as refused:
                await db["made_at_start"].insert_one({"_id": "while full"})
            assert "database or disk is full" in str(refused.value)
            trouble = store_trouble(refused.value)
            assert trouble is not None and trouble.reason == OUT_OF_SPACE
            assert await db["made_at_start"].find_one({"_id": "before"}) == {"_id": "before"}
            # new collections while space comes back a page at a time: some get their table
            # and not their metadata row
            ballast = disk.where / BALLAST
            tried = []
            for step in range(12):
                os.truncate(ballast, ballast.stat().st_size - 4096)
                tried.append(f"made_while_full_{step}")
                try:
                    await db[tried[-1]].insert_one({"_id": "first"})
                    break
                except OperationFailure:
                    pass  # full (or its table made and then left behind: see below)

            disk.grow(32)
            await db["made_at_start"].insert_one({"_id": "after"})
            lost = []
            for name in tried:
                try:
                    await db[name].insert_one({"_id": "after"})
                except OperationFailure as error:
                    assert "already exists" in str(error), error
                    lost.append(name)
            assert lost, f"FerretDB made {tried} cleanly on a full disk: ensure_collections " \
                         "may no longer be needed"
        finally:
            await client.close()
            infra.stop("ferretdb", settings)
