"""The store's disk fills up: for the length of a run, the store keeps its data on a tmpfs
of a fixed size (`zaiban.infra.smalldisk`), which a ballast file then fills, as another
tenant of the disk would, and which is grown in place once the fault has been seen.

The stack's own data directory is set aside meanwhile (a tmpfs mounted over it would hide
its files) and put back afterwards, with the store restarted on it: the run's databases are
its own corner's, which nothing reads after the run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.common.settings import CommonSettings
from zaiban.chaos.run import Prepared, Run, Stack
from zaiban.infra import STORE_COMPONENT, SmallDisk, small_disk

SIZE_MB = 64
LEFT_KB = 64
GROWN_MB = 512


@contextlib.asynccontextmanager
async def on_a_small_disk(settings: CommonSettings, stack: Stack) -> AsyncIterator[Prepared]:
    """The store restarted on a tmpfs of SIZE_MB for the run, and back on its own data
    after it."""
    del settings
    data = stack.own().ferretdb_data_dir
    aside = data.with_name(f"{data.name}.aside")
    await stack.stop(STORE_COMPONENT)
    data.rename(aside)
    try:
        with small_disk(data, SIZE_MB) as disk:
            try:
                await stack.start(STORE_COMPONENT)
                yield Prepared(tools=disk)
            finally:
                await stack.stop(STORE_COMPONENT)
    finally:
        data.rmdir()
        aside.rename(data)
        await stack.start(STORE_COMPONENT)


async def disk_full(run: Run) -> None:
    """Once cases flow, the store's disk filled: submissions are refused with a 503 saying
    so (and a consumer that fails to write says so on /readyz; one with nothing to write
    has nothing to say); after a while the disk is grown in place, and every service is
    ready again by itself."""
    disk: SmallDisk = run.prepared
    await run.under_way(int(run.size.knob("cases_before")))
    injected = run.begin(f"store disk full {run.size.knob('full_s'):g} s")
    await asyncio.to_thread(disk.fill, LEFT_KB * 1024)
    refused = run.load.refused_503
    await asyncio.sleep(run.size.knob("full_s"))
    if run.load.refused_503 == refused:
        run.problems.append("no client was refused with a 503 while the store's disk was full")
    await asyncio.to_thread(disk.grow, GROWN_MB)
    run.end(injected)
    await run.recovered(injected)
