"""`zaiban config export | history`: the city's configuration as it runs, from the console.

The running configuration is the last change on the configuration topic
(`services/common/cityconfig.py`); with none, `deploy/config/` (version 0). `export` writes
it back as the files of `deploy/config/` (comments do not survive; `load_city` reads them as
an equal configuration), so a city can keep its running configuration in version control or
start a new deployment from it.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import yaml

from contracts.cityconfig import CityChanged
from contracts.topics import Topics
from services.common.catalogue import as_files, load_city
from services.common.cityconfig import READ_CHANGE, LiveCity
from services.common.settings import CommonSettings
from zaiban.dlq import read_topic


async def running_city(settings: CommonSettings) -> LiveCity:
    """The configuration as every service runs it now: `deploy/config/` and every change."""
    live = LiveCity(load_city(settings.config_dir))
    for record in await read_topic(settings, Topics(settings.topic_prefix).city_config):
        live.apply(READ_CHANGE.validate_json(record.value or b""))
    return live


def write_files(live: LiveCity, out: Path) -> list[Path]:
    """Write the configuration of `live` into `out` as the files of `deploy/config/`."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in as_files(live.current).items():
        path = out / name
        header = f"# The city's configuration at version {live.version} (zaiban config export).\n"
        path.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False,
                                                width=100), encoding="utf-8")
        written.append(path)
    return written


@asynccontextmanager
async def as_running(settings: CommonSettings) -> AsyncIterator[CommonSettings]:
    """`settings` with the running configuration as their configuration directory (the files
    written to a temporary one), for what derives from the city: its departments' topics,
    and the services' rights on them (`zaiban topics ensure`)."""
    live = await running_city(settings)
    if live.version == 0:
        yield settings
        return
    with tempfile.TemporaryDirectory(prefix="zaiban-city-") as directory:
        write_files(live, Path(directory))
        yield settings.model_copy(update={"config_dir": Path(directory)})


def history_line(event: CityChanged) -> str:
    what = f"{event.change.action} {event.change.kind} {event.change.code}"
    note = f" — {event.change.note}" if event.change.note else ""
    return f"{event.version:>5}  {event.at.isoformat()}  {event.by:<20} {what}{note}"
