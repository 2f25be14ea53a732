"""A small disk for the store: a tmpfs of a fixed size mounted over FerretDB's data directory.

The fault "the store's disk is full" needs a filesystem that really fills: SQLite then
answers SQLITE_FULL ("database or disk is full"), and FerretDB passes it on to every write.
A tmpfs of a few megabytes fills in seconds and is grown in place (``mount -o remount,size=``)
to give the space back without stopping anything; its files stay. Mounting needs root
(CAP_SYS_ADMIN): without it :class:`SmallDisk` raises an :class:`InfraError` saying so.

Used by the fault tests' private stacks (tests/stackfixtures.py) and ``zaiban chaos``: mount
before the store starts, stop the store before unmounting (:func:`small_disk` does the
unmounting, whatever happened).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from zaiban.infra.settings import InfraError

MB = 1 << 20
BALLAST = "ballast.fill"
"""The file `SmallDisk.fill` writes (FerretDB reads only the `*.sqlite` files there)."""


def _run(args: list[str], what: str) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30,  # noqa: S603
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InfraError(f"{what}: {error}") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise InfraError(f"{what}: {said}")


@dataclass
class SmallDisk:
    """A tmpfs of `size_mb` megabytes over `where` (a directory; made if missing)."""

    where: Path
    size_mb: int
    mounted: bool = False

    def mount(self) -> None:
        mount = shutil.which("mount")
        if mount is None:
            raise InfraError("a small disk for the store needs the `mount` command")
        if os.geteuid() != 0:
            raise InfraError(f"a small disk for the store is a tmpfs mount, which needs root "
                             f"(this process runs as uid {os.geteuid()})")
        self.where.mkdir(parents=True, exist_ok=True)
        if any(self.where.iterdir()):
            raise InfraError(f"{self.where} is not empty: a tmpfs mounted over it would hide "
                             "its files")
        _run([mount, "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs",
              str(self.where)], f"mounting a {self.size_mb} MB tmpfs over {self.where}")
        self.mounted = True

    def grow(self, size_mb: int) -> None:
        """Give the store more room, in place: its files stay, nothing is restarted."""
        if not self.mounted:
            raise InfraError(f"{self.where} has no small disk mounted to grow")
        _run([shutil.which("mount") or "mount", "-o", f"remount,size={size_mb}m",
              str(self.where)], f"growing the tmpfs over {self.where} to {size_mb} MB")
        self.size_mb = size_mb

    def fill(self, leave_bytes: int) -> int:
        """Take all but `leave_bytes` of the free space with a ballast file (another tenant of
        the disk, say): the store's next writes fill the rest within moments. Returns the
        bytes taken; `grow` gives room again, the ballast staying."""
        used, total = self.usage()
        left = take = max(0, total - used - leave_bytes)
        chunk = b"\0" * MB
        with (self.where / BALLAST).open("ab", buffering=0) as ballast:
            while left > 0:
                try:
                    left -= ballast.write(chunk[:min(left, MB)])
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break  # the store took the rest meanwhile: full all the same
        return take - left

    def usage(self) -> tuple[int, int]:
        """Bytes used and bytes in all on the small disk."""
        stats = os.statvfs(self.where)
        total = stats.f_blocks * stats.f_frsize
        return total - stats.f_bfree * stats.f_frsize, total

    def unmount(self) -> None:
        """Unmount (stop whatever writes there first); if something still holds a file open,
        detach it lazily: the memory is freed when the last file closes."""
        if not self.mounted:
            return
        umount = shutil.which("umount") or "umount"
        try:
            _run([umount, str(self.where)], f"unmounting the tmpfs over {self.where}")
        except InfraError:
            _run([umount, "-l", str(self.where)],
                 f"detaching the busy tmpfs over {self.where}")
        self.mounted = False


@contextlib.contextmanager
def small_disk(where: Path, size_mb: int) -> Iterator[SmallDisk]:
    """`where` on a tmpfs of `size_mb` MB for the block, unmounted however it ends."""
    disk = SmallDisk(where, size_mb)
    disk.mount()
    try:
        yield disk
    finally:
        disk.unmount()
