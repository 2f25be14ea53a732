"""`zaiban departments onboard | list | offboard` on the real broker, as an operator runs
them: onboarding makes the department's two topics, its Kafka user and ACLs, and hands over
its configuration (in a file only its owner reads); the list shows who has topics, a user and
a webhook;
offboarding takes the user and its ACLs away and keeps the topics — the cases topic is the
department's history."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from helpers import eventually
from stackfixtures import Namespace
from typer.testing import CliRunner

from contracts.topics import Topics
from examples.department_client import read_properties
from services.common.settings import CommonSettings
from zaiban.cli import app as cli
from zaiban.departments import register_webhook
from zaiban.infra import StackInfo
from zaiban.kafka_security import AclFilter
from zaiban.topics import security_admin

# Kafka users are the broker's, not a namespace's: each test file that onboards departments
# onboards its own (here gas-co; power-co's webhook, housing never), as make test runs the
# files side by side


async def test_onboard_list_and_offboard_a_department(settings: CommonSettings,
                                                     namespace: Namespace,
                                                     local_stack: StackInfo,
                                                     tmp_path: Path) -> None:
    # a prefix of its own, inside the namespace (whose topics `settings` made already)
    fresh = settings.model_copy(update={"topic_prefix": f"{namespace.prefix}fresh."})
    environment = {"ZAIBAN_KAFKA_BOOTSTRAP": fresh.kafka_bootstrap,
                   "ZAIBAN_TOPIC_PREFIX": fresh.topic_prefix,
                   "ZAIBAN_MONGO_URL": settings.mongo_url, "ZAIBAN_DB_PREFIX": settings.db_prefix,
                   "ZAIBAN_AUTH_SECRET": settings.secret().get_secret_value()}
    topics = Topics(fresh.topic_prefix)

    def zaiban(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["departments", *args], env=environment)
        return result.exit_code, result.stdout, result.stderr

    out = tmp_path / "gas-co.properties"
    code, said, warned = await asyncio.to_thread(zaiban, "onboard", "gas-co", "--out", str(out))
    assert code == 0, warned
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert said.splitlines() == [
        f"{topics.department_cases('gas-co'):<60} created (3 partitions, replication 1)",
        f"{topics.department_replies('gas-co'):<60} created (3 partitions, replication 1)",
        f"user dept-gas-co: reads {topics.department_cases('gas-co')} in group "
        f"{fresh.topic_prefix}zaiban-dept-gas-co, writes {topics.department_replies('gas-co')}",
        f"client configuration of gas-co written to {out} (readable by you only)"]
    assert warned == ""
    written = out.read_text().splitlines()
    # on the local stack, for its TLS listener, with the CA that issued its certificate
    assert f"bootstrap.servers={local_stack.departments_bootstrap}" in written
    assert "security.protocol=SASL_SSL" in written and "ssl.truststore.type=PEM" in written
    assert local_stack.departments_ca_file is not None
    assert read_properties(out)["ssl.truststore.certificates"] == (
        local_stack.departments_ca_file.read_text().strip())
    assert "sasl.mechanism=SCRAM-SHA-512" in written
    assert f"group.id={fresh.topic_prefix}zaiban-dept-gas-co" in written
    assert f"zaiban.replies.topic={topics.department_replies('gas-co')}" in written

    # again, to standard output alone (`> file`): the topics are there already
    code, said, warned = await asyncio.to_thread(zaiban, "onboard", "gas-co")
    assert code == 0 and said.startswith("# zaiban: the Kafka client configuration of "
                                         "department gas-co (Gas Company)")
    assert f"{topics.department_cases('gas-co'):<60} exists" in warned

    # power-co takes its cases by webhook instead (`zaiban departments webhook`)
    await register_webhook(settings, "power-co", "https://power.example/zaiban/cases")

    async def listing() -> dict[str, list[str]]:
        """`zaiban departments list`: department -> cases topic, replies topic, user, webhook."""
        code, said, warned = await asyncio.to_thread(zaiban, "list")
        assert code == 0, warned
        assert said.split()[:7] == ["department", "cases", "topic", "replies", "topic", "user",
                                    "webhook"]
        return {line.split()[0]: line.split()[1:5] for line in said.splitlines()[1:]}

    async def listed() -> dict[str, list[str]] | None:
        """The list, once the broker's metadata shows gas-co's topics."""
        rows = await listing()
        return rows if rows["gas-co"] == ["yes", "yes", "yes", "no"] else None

    rows = await eventually(listed, what="gas-co's topics and user in the list")
    assert rows["housing"] == ["no", "no", "no", "no"] and len(rows) == 11
    assert rows["power-co"] == ["no", "no", "no", "yes"]
    await register_webhook(settings, "power-co", None)
    assert (await listing())["power-co"] == ["no", "no", "no", "no"]

    code, said, warned = await asyncio.to_thread(zaiban, "offboard", "gas-co")
    assert code == 0, warned
    assert said.strip() == "gas-co: user dept-gas-co and its ACLs deleted; its topics are kept"
    async with security_admin(fresh) as admin:
        assert "dept-gas-co" not in await admin.users()
        assert await admin.acls(AclFilter(principal="User:dept-gas-co")) == []
    assert (await listing())["gas-co"] == ["yes", "yes", "no", "no"]  # its history stays
    code, said, warned = await asyncio.to_thread(zaiban, "offboard", "gas-co")
    assert code == 0 and said.strip() == "gas-co: had no user on the broker; nothing to take away"


async def test_a_department_by_webhook_gets_its_signing_secret_once(
        settings: CommonSettings) -> None:
    """`zaiban departments webhook`: the secret alone on standard output, the registration in
    notify's store (no secret there), a URL that would leak refused, `--off` taking it away."""
    from services.common.store import make_client, service_db
    from services.notify.webhooks import Webhooks

    environment = {"ZAIBAN_MONGO_URL": settings.mongo_url, "ZAIBAN_DB_PREFIX": settings.db_prefix,
                   "ZAIBAN_AUTH_SECRET": settings.secret().get_secret_value()}

    def zaiban(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["departments", "webhook", *args], env=environment)
        return result.exit_code, result.stdout, result.stderr

    url = "https://signals.example/zaiban/cases"
    code, said, told = await asyncio.to_thread(zaiban, "signal-co", url)
    assert code == 0, told
    [secret] = said.splitlines()
    assert secret.startswith("whsec_") and f"POSTed to {url}" in told
    client = make_client(settings)
    try:
        collection = service_db(client, settings, "notify")["webhooks"]
        webhooks = Webhooks(collection, settings.secret())
        registered = await webhooks.get("signal-co")
        assert registered is not None and registered.url == url
        assert webhooks.secret_of(registered) == secret
        assert secret not in str(await collection.find_one({"_id": "signal-co"}))
        again = await asyncio.to_thread(zaiban, "signal-co", url)
        assert again[0] == 0 and again[1].strip() != secret  # a new secret each time

        for args, why in [(("signal-co", "http://signals.example/"), "https only"),
                          (("no-such-co", url), "is not a department of the city"),
                          (("signal-co",), "give the department's URL, or --off")]:
            code, _, told = await asyncio.to_thread(zaiban, *args)
            assert code == 1 and why in told, (args, told)

        assert (await asyncio.to_thread(zaiban, "signal-co", "--off"))[:2] == (
            0, "signal-co: webhook taken away\n")
        assert await webhooks.get("signal-co") is None
    finally:
        await client.close()
