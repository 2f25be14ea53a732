"""`zaiban departments onboard | list | offboard` on the real broker, as an operator runs
them: onboarding makes the department's two topics and hands over its configuration
(in a file only its owner reads), the list shows who has topics, and offboarding keeps
the topics — the cases topic is the department's history."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from helpers import eventually
from typer.testing import CliRunner

from contracts.topics import Topics
from services.common.settings import CommonSettings
from zaiban.cli import app as cli


async def test_onboard_list_and_offboard_a_department(settings: CommonSettings,
                                                     tmp_path: Path) -> None:
    environment = {"ZAIBAN_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                   "ZAIBAN_TOPIC_PREFIX": settings.topic_prefix}
    topics = Topics(settings.topic_prefix)

    def zaiban(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["departments", *args], env=environment)
        return result.exit_code, result.stdout, result.stderr

    out = tmp_path / "water-co.properties"
    code, said, warned = await asyncio.to_thread(zaiban, "onboard", "water-co", "--out", str(out))
    assert code == 0, warned
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert said.splitlines() == [
        f"{topics.department_cases('water-co'):<60} created (3 partitions, replication 1)",
        f"{topics.department_replies('water-co'):<60} created (3 partitions, replication 1)",
        f"client configuration of water-co written to {out} (readable by you only)"]
    assert "does not authenticate" in warned  # the local broker, until issue 14's lands
    written = out.read_text().splitlines()
    assert f"group.id={settings.topic_prefix}zaiban-dept-water-co" in written
    assert f"zaiban.replies.topic={topics.department_replies('water-co')}" in written

    # again, to standard output alone (`> file`): the topics are there already
    code, said, warned = await asyncio.to_thread(zaiban, "onboard", "water-co")
    assert code == 0 and said.startswith("# zaiban: the Kafka client configuration of "
                                         "department water-co (Water Supply Company)")
    assert f"{topics.department_cases('water-co'):<60} exists" in warned

    async def listed() -> dict[str, list[str]] | None:
        """`zaiban departments list`, once the broker's metadata shows water-co's topics."""
        code, said, warned = await asyncio.to_thread(zaiban, "list")
        assert code == 0, warned
        rows = {line.split()[0]: line.split()[1:4] for line in said.splitlines()[1:-1]}
        return rows if rows["water-co"] == ["yes", "yes", "-"] else None

    rows = await eventually(listed, what="water-co's topics in the list")
    assert rows["heating-co"] == ["no", "no", "-"] and len(rows) == 11

    code, said, warned = await asyncio.to_thread(zaiban, "offboard", "water-co")
    assert code == 0 and "water-co has no user to take away" in warned
    assert await listed()  # its history stays
