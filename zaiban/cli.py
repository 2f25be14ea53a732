"""The `zaiban` command: run the local stack, one service, replays, demo data and benchmarks."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from contracts.facts import Role
from zaiban import infra
from zaiban.infra.cli import app as infra_app

T = TypeVar("T")

app = typer.Typer(help="zaiban — citizen requests, handled in the open.", no_args_is_help=True)
app.add_typer(infra_app, name="infra",
              help="Start, stop and inspect the local Kafka broker and document store.")
token_app = typer.Typer(help="Staff tokens and Open311 API keys.", no_args_is_help=True)
app.add_typer(token_app, name="token")
contracts_app = typer.Typer(help="The event and command contracts.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")


@contracts_app.command("export")
def export_contracts() -> None:
    """Write the JSON Schema of every event and command to contracts/schemas/."""
    from contracts.schemas import export

    for path in export():
        typer.echo(str(path))


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"zaiban: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def serve(
    service: str = typer.Argument(..., help="intake, routing, tracking, metrics, notify, "
                                            "opendata — or 'public' for all"),
    host: str = typer.Option(None, help="Address to listen on (default from ZAIBAN_HOST)."),
    port: int = typer.Option(None, help="Port (default: the service's ZAIBAN_<SERVICE>_PORT)."),
) -> None:
    """Run one service alone, as production would (its own consumer group and port)."""
    import uvicorn

    from services.common.settings import CommonSettings
    from services.composition import SERVICES, create_app, create_public_app

    settings = CommonSettings()
    if service == "public":
        application = create_public_app()
        default_port = settings.public_port
    elif service in SERVICES:
        application = create_app(service)
        default_port = getattr(settings, f"{service}_port")
    else:
        _fail(f"no service named {service!r}; one of: {', '.join(SERVICES)}, public")
        return
    uvicorn.run(application, host=host or settings.host, port=port or default_port,
                log_level="warning", access_log=False, lifespan="on")


@app.command()
def up(
    demo: bool = typer.Option(True, help="Load the demo city's cases on first start."),
    port: int = typer.Option(None, help="Public port (default 8080)."),
) -> None:
    """Start everything locally in the foreground: broker, store, every service, the public entry."""

    import uvicorn

    from services.common.logging import configure_logging
    from services.common.settings import CommonSettings
    from services.composition import create_public_app
    from zaiban.topics import ensure_for_city

    try:
        stack = infra.ensure_up()
    except infra.InfraError as error:
        _fail(str(error))
        return
    for name, value in stack.env().items():  # the broker, its credentials, the store
        os.environ.setdefault(name, value)
    settings = CommonSettings()
    configure_logging(settings)  # now, not when the services are built: the libraries' first
    # lines (the demo's producer) carry their level too
    # Every topic exists before the demo's producer and the services' consumers first ask for
    # one: a topic left to auto-creation is "not found in cluster metadata" (an ERROR line)
    # until the broker has made it.
    try:
        asyncio.run(ensure_for_city(settings))
    except Exception as error:
        _fail(f"cannot create the topics on Kafka at {settings.kafka_bootstrap}: {error}")
        return
    public_port = port or settings.public_port
    if demo:
        from zaiban.demo import load_demo_if_new

        load_demo_if_new(settings)
    if not os.environ.get("ZAIBAN_MAP_TILES"):
        # no tile server set: plain tiles from one on loopback, so the maps work offline
        from zaiban.tiles import TileServer

        tiles = TileServer(settings.host).start()
        os.environ["ZAIBAN_MAP_TILES"] = tiles.template
        os.environ.setdefault("ZAIBAN_MAP_ATTRIBUTION", "zaiban (plain tiles)")
    base = f"http://{settings.host}:{public_port}"
    typer.secho(f"\nzaiban is starting on {base}", fg=typer.colors.GREEN, bold=True)
    for label, path in (("submit a request", "/"), ("public dashboard", "/dashboard"),
                        ("staff console", "/staff"), ("API docs", "/docs"),
                        ("bus topics", "/asyncapi"),
                        ("Open311", "/open311/v2/services.xml"), ("readiness", "/readyz"),
                        ("open data feed", "/open-data/events.ndjson")):
        typer.echo(f"  {label:<18} {base}{path}")
    typer.echo(f"  map tiles          {os.environ['ZAIBAN_MAP_TILES']}")
    typer.echo("  staff tokens       zaiban token issue --role officer --subject you\n"
               "Ctrl-C stops the services; `zaiban infra down` stops the broker and store.\n")
    uvicorn.run(create_public_app(settings), host=settings.host, port=public_port,
                log_level="warning", access_log=False, lifespan="on")


@token_app.command("issue")
def issue(
    role: Role = typer.Option(..., help="officer, department, reporter, supervisor or admin"),
    subject: str = typer.Option(..., help="Who holds it (a staff id, a system's name)."),
    department: str = typer.Option(None, help="The department (for department tokens)."),
    hours: float = typer.Option(None, min=0.01, help="Valid for this many hours (staff: "
                                                     "ZAIBAN_STAFF_TOKEN_HOURS, 8, by default)."),
    days: float = typer.Option(None, min=0.01, help="Valid for this many days (api keys: "
                                                    "ZAIBAN_API_KEY_DAYS, 30, by default)."),
    api_key: bool = typer.Option(False, "--api-key", help="An Open311 API key instead."),
    per_minute: int = typer.Option(
        None, min=1, help="An API key's own quota of submissions a minute, all of them at once "
                          "if need be; without one the key is limited like a resident."),
    coordinator: bool = typer.Option(
        False, "--coordinator", help="The department's coordinator, who gives its cases to "
                                     "handlers (the subjects of the department's tokens)."),
) -> None:
    """Print a signed token for a member of staff (or an Open311 API key); its id and end of
    life go to stderr (`zaiban token revoke --id <id>` takes it back)."""
    from datetime import UTC, datetime

    from services.common.auth import issue_token, verify_token
    from services.common.catalogue import load_city
    from services.common.settings import CommonSettings

    settings = CommonSettings()
    if role is Role.RESIDENT or role is Role.SYSTEM:
        _fail("tokens are for staff roles and integrations")
    if department and load_city(settings.config_dir).department(department) is None:
        _fail(f"unknown department {department!r}")
    if hours is not None and days is not None:
        _fail("give --hours or --days, not both")
    kind = "api_key" if api_key else "staff"
    if hours is not None or days is not None:
        ttl_s = hours * 3600 if hours is not None else (days or 0) * 86400
    else:
        ttl_s = settings.api_key_days * 86400 if api_key else settings.staff_token_hours * 3600
    if per_minute is not None and not api_key:
        _fail("--per-minute is a quota for an API key: add --api-key")
    try:
        token = issue_token(settings.secret(), subject, role, department, kind=kind, ttl_s=ttl_s,
                            per_minute=per_minute, coordinator=coordinator)
    except ValueError as error:
        _fail(str(error))
        return
    issued = verify_token(settings.secret(), token, kind=kind)
    sys.stdout.write(token + "\n")
    expires = datetime.fromtimestamp(issued.expires, UTC).isoformat(timespec="seconds")
    typer.echo(f"id {issued.token_id}, {kind.replace('_', ' ')} of {subject}, "
               f"valid until {expires}", err=True)


@token_app.command("revoke")
def revoke(
    token_id: str = typer.Option(None, "--id", help="The token's id, as `issue` printed it."),
    subject: str = typer.Option(None, "--subject",
                                help="Every token of this subject issued until now."),
    reason: str = typer.Option("", help="Why, for the record."),
) -> None:
    """Take staff access back: one token (--id), or every token of a member of staff or an
    Open311 client issued until now (--subject). Recorded on the revocations topic; every
    instance of every service refuses them within seconds."""
    from pydantic import ValidationError

    from contracts.revocations import RevokeTokens
    from services.common.bus import describe_error
    from services.common.settings import CommonSettings
    from zaiban.tokens import revoke_from_console

    settings = CommonSettings()
    try:
        asked = RevokeTokens(token_id=token_id, subject=subject, reason=reason)
    except ValidationError as error:
        _fail(describe_error(error), code=2)
        return
    try:
        revoked = asyncio.run(revoke_from_console(settings, asked))
    except Exception as error:  # the broker is away: say so plainly
        _fail(f"cannot record the revocation on Kafka at {settings.kafka_bootstrap}: {error}")
        return
    what = f"token {revoked.token_id}" if revoked.token_id else \
        f"every token of {revoked.subject} issued before {revoked.at.isoformat()}"
    typer.echo(f"revoked {what} (revocation {revoked.revocation_id}); every instance refuses "
               "it within seconds")


topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")


@topics_app.command("ensure")
def topics_ensure() -> None:
    """Create every topic zaiban uses, with partitions, replication and retention from settings."""

    from services.common.settings import CommonSettings
    from zaiban.topics import ensure_for_city

    settings = CommonSettings()
    try:
        outcome = asyncio.run(ensure_for_city(settings))
    except Exception as error:  # the broker is away: say so plainly
        _fail(f"cannot reach Kafka at {settings.kafka_bootstrap}: {error}")
        return
    for topic, what in outcome:
        typer.echo(f"{topic:<60} {what}")


config_app = typer.Typer(help="The city's configuration as it runs (changed by admins in the "
                                "staff console or by API).", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("export")
def config_export(out: Path = typer.Option(Path("city-config"), "--out",
                                           help="The directory to write the files into.")) -> None:
    """Write the running configuration as YAML files in the layout of deploy/config/."""
    from services.common.settings import CommonSettings
    from zaiban.cityconfig import running_city, write_files

    settings = CommonSettings()
    live = _on_kafka(settings, running_city(settings), "read the city's configuration")
    for path in write_files(live, out):
        typer.echo(f"wrote {path}")
    typer.echo(f"the city's configuration at version {live.version}")


@config_app.command("history")
def config_history() -> None:
    """Every change of the configuration: version, when, who, what."""
    from services.common.settings import CommonSettings
    from zaiban.cityconfig import history_line, running_city

    settings = CommonSettings()
    live = _on_kafka(settings, running_city(settings), "read the city's configuration")
    typer.echo("    0  deploy/config/ (the initial configuration)")
    for event in live.history:
        typer.echo(history_line(event))


departments_app = typer.Typer(help="Departments' own systems on the bus: their topics, "
                                    "credentials and client configuration.",
                               no_args_is_help=True)
app.add_typer(departments_app, name="departments")


def _on_kafka(settings: Any, work: Coroutine[Any, Any, T], doing: str) -> T:
    """Run `work`; a refusal, or a broker that is away, said plainly (exit 1)."""
    from zaiban.departments import NotACertificate, UnknownDepartment
    from zaiban.kafka_security import SecurityError

    try:
        return asyncio.run(work)
    except (UnknownDepartment, NotACertificate, SecurityError) as error:
        _fail(str(error))
    except Exception as error:
        _fail(f"cannot {doing} on Kafka at {settings.kafka_bootstrap}: {error}")


def _with_local_departments_listener(settings: Any) -> Any:
    """On the local stack (`zaiban infra up`, the broker these settings name), departments
    connect to its TLS listener with its CA, unless the settings name another listener."""
    if settings.kafka_departments_bootstrap or settings.kafka_security_protocol == "PLAINTEXT":
        return settings
    local = infra.StackSettings.from_env()
    ca = local.kafka_tls_dir / "ca.pem"
    if settings.kafka_bootstrap != local.bootstrap_servers or not ca.is_file():
        return settings
    return settings.model_copy(update={"kafka_departments_bootstrap": local.tls_bootstrap_servers,
                                       "kafka_departments_ca_file": ca})


@departments_app.command("onboard")
def departments_onboard(
    code: str = typer.Argument(..., help="A department of the city (deploy/config/departments.yaml)."),
    out: Path = typer.Option(None, "--out", help="Write the client configuration to this file "
                             "(mode 0600) instead of standard output."),
    bootstrap: str = typer.Option(None, help="The broker address the department connects to "
                                  "(default: ZAIBAN_KAFKA_BOOTSTRAP)."),
    ca_file: Path = typer.Option(None, "--ca-file", help="With SASL_SSL: the CA certificate "
                                 "(PEM) the department's client trusts, written into its "
                                 "configuration (default: ZAIBAN_KAFKA_DEPARTMENTS_CA_FILE)."),
) -> None:
    """Give a department its two topics, its Kafka user and ACLs, and print the client
    configuration (Kafka client properties) its systems connect with: to the broker's
    SASL_SSL listener for departments (the local stack's, with its CA, on the local stack)."""
    from services.common.settings import CommonSettings
    from zaiban.departments import onboard, write_secret

    settings = _with_local_departments_listener(CommonSettings())
    done = _on_kafka(settings, onboard(settings, code, bootstrap=bootstrap, ca_file=ca_file),
                     f"onboard {code}")
    config = done.config
    if out is not None:
        write_secret(out, config.properties())
    else:
        sys.stdout.write(config.properties())
    aside = out is None  # the configuration alone on standard output: `> dept.properties`
    for topic, what in done.topics:
        typer.echo(f"{topic:<60} {what}", err=aside)
    access = config.access
    if config.security.authenticates:
        typer.echo(f"user {access.user}: reads {access.cases_topic} in group {access.group}, "
                   f"writes {access.replies_topic}", err=aside)
    else:
        typer.secho(f"zaiban: the broker at {settings.kafka_bootstrap} does not authenticate "
                    "(security.protocol=PLAINTEXT): no user was made, and any client that reaches "
                    "it can read every topic", fg=typer.colors.YELLOW, err=True)
    if out is not None:
        typer.echo(f"client configuration of {code} written to {out} (readable by you only)")


@departments_app.command("webhook")
def departments_webhook(
    code: str = typer.Argument(..., help="A department of the city."),
    url: str = typer.Argument(None, help="Where its cases are POSTed: an https:// URL."),
    off: bool = typer.Option(False, "--off", help="Take the webhook away (its cases stay on "
                                                  "its topic)."),
) -> None:
    """POST a department's routed cases to its URL, signed: prints the signing secret once
    (registering again makes a new one)."""
    from services.common.settings import CommonSettings
    from services.notify.webhooks import BadWebhookUrl
    from zaiban.departments import UnknownDepartment, register_webhook

    if off == (url is not None):
        _fail("give the department's URL, or --off")
    settings = CommonSettings()
    try:
        done = asyncio.run(register_webhook(settings, code, None if off else url))
    except (UnknownDepartment, BadWebhookUrl) as error:
        _fail(str(error))
    except Exception as error:
        _fail(f"cannot register the webhook in the store: {error}")
    if off:
        typer.echo(f"{code}: webhook taken away" if done else f"{code}: had no webhook")
        return
    sys.stdout.write(f"{done}\n")
    typer.echo(f"{code}: its cases are POSTed to {url}, signed with the secret above "
               "(Zaiban-Signature); it is shown this once: keep it where the receiver reads it",
               err=True)


@departments_app.command("offboard")
def departments_offboard(code: str = typer.Argument(..., help="The department's code.")) -> None:
    """Take a department's Kafka user and ACLs away; its topics (its history) stay."""
    from services.common.settings import CommonSettings
    from zaiban.departments import offboard, user_of

    settings = CommonSettings()
    had = _on_kafka(settings, offboard(settings, code), f"offboard {code}")
    if had is None:
        typer.secho(f"zaiban: the broker at {settings.kafka_bootstrap} does not authenticate: "
                    f"{code} has no user to take away, and any client can still read every topic",
                    fg=typer.colors.YELLOW, err=True)
    elif had:
        typer.echo(f"{code}: user {user_of(code)} and its ACLs deleted; its topics are kept")
    else:
        typer.echo(f"{code}: had no user on the broker; nothing to take away")


@departments_app.command("list")
def departments_list() -> None:
    """Every department of the city: its topics, whether it has a Kafka user, and whether its
    cases are POSTed to a webhook."""
    from services.common.settings import CommonSettings
    from zaiban.departments import standings

    settings = CommonSettings()
    found = _on_kafka(settings, standings(settings), "list the departments")

    def mark(present: bool | None) -> str:
        return {True: "yes", False: "no", None: "-"}[present]

    typer.echo(f"{'department':<20} {'cases topic':<12} {'replies topic':<14} {'user':<5} "
               f"{'webhook':<8} name")
    for standing in found:
        typer.echo(f"{standing.code:<20} {mark(standing.cases_topic):<12} "
                   f"{mark(standing.replies_topic):<14} {mark(standing.user):<5} "
                   f"{mark(standing.webhook):<8} {standing.name}")
    if found and found[0].user is None:
        typer.echo("user: - the broker does not authenticate (security.protocol=PLAINTEXT)")


frontends_app = typer.Typer(help="Frontends that submit on the bus: their Kafka user, rights "
                                  "and client configuration.", no_args_is_help=True)
app.add_typer(frontends_app, name="frontends")


@frontends_app.command("onboard")
def frontends_onboard(
    name: str = typer.Argument(..., help="The frontend's name (e.g. city-app)."),
    out: Path = typer.Option(None, "--out", help="Write the client configuration to this file "
                             "(mode 0600) instead of standard output."),
    bootstrap: str = typer.Option(None, help="The broker address the frontend connects to "
                                  "(default: ZAIBAN_KAFKA_BOOTSTRAP)."),
) -> None:
    """Give a frontend its Kafka user, allowed to write submissions and read receipts (in its
    own group) and nothing else, and print the client configuration it connects with."""
    from services.common.settings import CommonSettings
    from zaiban.departments import write_secret
    from zaiban.frontends import BadName, access_of, onboard

    settings = CommonSettings()
    try:
        access_of(settings, name)
    except BadName as error:
        _fail(str(error))
    access, config = _on_kafka(settings, onboard(settings, name, bootstrap=bootstrap),
                               f"onboard {name}")
    if out is not None:
        write_secret(out, config)
    else:
        sys.stdout.write(config)
    if "sasl.jaas.config" in config:
        typer.echo(f"user {access.user}: writes {access.submissions_topic}, reads "
                   f"{access.receipts_topic} in group {access.group}", err=out is None)
    else:
        typer.secho(f"zaiban: the broker at {settings.kafka_bootstrap} does not authenticate "
                    "(security.protocol=PLAINTEXT): no user was made", fg=typer.colors.YELLOW,
                    err=True)
    if out is not None:
        typer.echo(f"client configuration of {name} written to {out} (readable by you only)")


@frontends_app.command("offboard")
def frontends_offboard(name: str = typer.Argument(..., help="The frontend's name.")) -> None:
    """Take a frontend's Kafka user and ACLs away."""
    from services.common.settings import CommonSettings
    from zaiban.frontends import BadName, access_of, offboard

    settings = CommonSettings()
    try:
        access = access_of(settings, name)
    except BadName as error:
        _fail(str(error))
    had = _on_kafka(settings, offboard(settings, name), f"offboard {name}")
    if had is None:
        typer.secho(f"zaiban: the broker at {settings.kafka_bootstrap} does not authenticate: "
                    f"{name} has no user to take away", fg=typer.colors.YELLOW, err=True)
    elif had:
        typer.echo(f"{name}: user {access.user} and its ACLs deleted")
    else:
        typer.echo(f"{name}: had no user on the broker; nothing to take away")


@topics_app.command("credentials")
def topics_credentials(
    folder: Path = typer.Argument(..., help="Where to keep them, e.g. deploy/kafka-credentials "
                                            "(git-ignored): one file per principal."),
) -> None:
    """Make the Kafka passwords a deployment needs: zaiban-admin's and each service's, one
    file per principal, keeping those already there; then give the folder to compose (its
    secrets) or to Kubernetes (`kubectl create secret generic zaiban-kafka --from-file=...`)."""
    from services.common.kafka import ADMIN, CredentialStore, principal_of
    from services.composition import SERVICES

    # compose mounts each file as it is: its container's user (not yours) must read it, so
    # the files are 0644 and the folder (0700) keeps the others on this machine out
    store = CredentialStore(folder, file_mode=0o644)
    for principal in (ADMIN, *(principal_of(service) for service in SERVICES)):
        kept = store.path(principal).exists()
        store.ensure(principal)
        typer.echo(f"{store.path(principal)}  {'kept' if kept else 'made'}")


@topics_app.command("certificates")
def topics_certificates(
    folder: Path = typer.Argument(..., help="Where to keep them, e.g. deploy/kafka-tls "
                                            "(git-ignored)."),
    host: list[str] = typer.Option(..., "--host", help="A name (or IP address) departments "
                                   "reach the broker by; repeat for several."),
) -> None:
    """Make the broker's TLS certificate for the departments' SASL_SSL listener, issued by a
    CA of the deployment's own (made once, kept): ca.pem (what departments trust), ca-key.pem
    (0600, keep it off the cluster), broker.p12 and broker.p12-password (the broker's
    keystore); then give the folder to compose (its secrets) or to Kubernetes (`kubectl create
    secret generic zaiban-kafka-tls --from-file=...`)."""
    from zaiban.infra.tls import TlsFiles, ensure_broker_certificate

    # as the credentials: compose mounts each file as it is, for the broker's container user
    files = TlsFiles(folder, file_mode=0o644)
    ensure_broker_certificate(files, host)
    for path in (files.ca, files.ca_key, files.broker, files.broker_password):
        typer.echo(str(path))


@topics_app.command("acls")
def topics_acls(
    granted: bool = typer.Option(False, "--granted", help="What the broker holds now (every "
                                 "principal's), instead of what the services' brokers declare."),
) -> None:
    """Who may do what on the bus: principal × topic or group × operations."""
    from services.common.settings import CommonSettings
    from zaiban.kafka_security import AclFilter
    from zaiban.topics import acl_table, security_admin, service_acls

    settings = CommonSettings()

    async def held() -> list[Any]:
        async with security_admin(settings) as admin:
            return await admin.acls(AclFilter())

    try:
        acls = asyncio.run(held() if granted else service_acls(settings))
    except Exception as error:
        _fail(f"cannot read the ACLs of Kafka at {settings.kafka_bootstrap}: {error}")
        return
    for principal, kind, name, operations in acl_table(acls):
        typer.echo(f"{principal:<22} {kind:<18} {name:<58} {operations}")


dlq_app = typer.Typer(help="Dead letters: what a service could never process.",
                      no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


@dlq_app.command("list")
def dlq_list() -> None:
    """How many dead letters each service has, and the latest reason."""
    from services.common.settings import CommonSettings
    from zaiban.dlq import all_services, read_letters, run

    settings = CommonSettings()
    for service in all_services():
        letters = run(read_letters(settings, service))
        latest = letters[-1].body.get("reason", "") if letters else ""
        typer.echo(f"{service:<10} {len(letters):>6}  {latest[:100]}")


@dlq_app.command("show")
def dlq_show(service: str, limit: int = typer.Option(20, help="The newest this many.")) -> None:
    """The newest dead letters of one service: reason, source, offset."""
    import json as json_

    from services.common.settings import CommonSettings
    from zaiban.dlq import read_letters, run

    for letter in run(read_letters(CommonSettings(), service))[-limit:]:
        body = dict(letter.body)
        body.pop("payload", None)
        typer.echo(json_.dumps({"dlq_offset": letter.offset, **body}, ensure_ascii=False))


@dlq_app.command("redrive")
def dlq_redrive(service: str,
                since_offset: int = typer.Option(0, help="Only letters at or after this offset."),
                yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Publish a service's dead letters to their source topics again."""
    from services.common.settings import CommonSettings
    from zaiban.dlq import read_letters, redrive, run

    settings = CommonSettings()
    letters = [item for item in run(read_letters(settings, service)) if item.offset >= since_offset]
    if not letters:
        typer.echo("nothing to redrive")
        return
    if not yes and not typer.confirm(f"republish {len(letters)} messages?"):
        raise typer.Exit(1)
    typer.echo(f"redriven {run(redrive(settings, letters))} messages")


privacy_app = typer.Typer(help="Residents' personal data: who read it, proof it is kept "
                               "only sealed, erasure and retention.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")


@privacy_app.command("erase")
def privacy_erase(
    case_id: str = typer.Argument(..., help="The case whose resident's personal data to erase."),
    wait: float = typer.Option(30.0, min=0, help="Seconds to wait for it to be carried out."),
) -> None:
    """Erase a case's personal data for good (its key, its photos), as an admin would; say
    what was done."""
    from services.intake.settings import IntakeSettings
    from services.lifecycle.errors import Refused
    from zaiban.privacy import erase

    try:
        done = asyncio.run(erase(IntakeSettings(), case_id, wait))
    except Refused as refused:
        _fail(refused.reason)
        return
    typer.echo(f"case {case_id}: {done['status']} ({done['reason'] or 'request'})")
    typer.echo(f"  key destroyed at   {done['key_destroyed_at'] or 'not yet'}")
    typer.echo(f"  photos deleted     {done['photos_deleted']}")
    recorded = done["recorded"]
    typer.echo("  recorded           " + (
        f"PersonalDataErased, seq {recorded['seq']}, by {recorded['by']}; departments holding "
        "the case are told on their topics" if recorded else
        "not yet: the request is on the erasures topic; intake and routing carry it out"))


@privacy_app.command("retention")
def privacy_retention(
    dry_run: bool = typer.Option(False, "--dry-run", help="List what is due, erase nothing."),
    limit: int = typer.Option(500, min=1, help="At most this many cases."),
) -> None:
    """Finished cases whose personal data is past ZAIBAN_RETENTION_DAYS; without --dry-run,
    ask for their erasure now (intake also does it by itself, every sweep)."""
    from services.intake.settings import IntakeSettings
    from zaiban.privacy import run_retention

    settings = IntakeSettings()
    run_ = asyncio.run(run_retention(settings, dry_run=dry_run, limit=limit))
    for due in run_.due:
        typer.echo(f"{due.case_id}  {due.status:<9} ended {due.ended_at.isoformat()}")
    kept = f"kept {settings.retention_days:g} days"
    if dry_run:
        typer.echo(f"{len(run_.due)} cases due ({kept}); nothing erased (--dry-run)")
    else:
        typer.echo(f"{len(run_.due)} cases due ({kept}); erasure asked for {len(run_.asked)}")


@privacy_app.command("reconcile")
def privacy_reconcile() -> None:
    """After restoring the key store from a backup: destroy again the key of every case whose
    erasure is in the log."""
    from services.intake.settings import IntakeSettings
    from zaiban.privacy import reconcile

    done = asyncio.run(reconcile(IntakeSettings()))
    typer.echo(f"read {done.events} events: {done.erasures} erasures in the log; "
               f"keys destroyed again: {len(done.destroyed_again)}")
    for case_id in done.destroyed_again:
        typer.echo(f"  {case_id}")


@privacy_app.command("reads")
def privacy_reads(
    case: str = typer.Option(None, "--case", help="The reads of this case."),
    staff: str = typer.Option(None, "--staff", help="The reads by this member of staff."),
    limit: int = typer.Option(20, min=1, max=100, help="At most this many."),
    offset: int = typer.Option(0, min=0, help="Skip the newest this many."),
) -> None:
    """Who among staff read residents' personal data, newest first: of a case, of a
    member of staff, or both (the audit trail, as admins list it)."""

    from services.common.settings import CommonSettings
    from services.tracking.audit import ReadsQuery, list_reads

    try:
        query = ReadsQuery(case_id=case, staff_id=staff, limit=limit, offset=offset)
    except ValueError:
        _fail("say whose reads: --case, --staff, or both")
        return
    try:
        total, reads = asyncio.run(list_reads(CommonSettings(), query))
    except Exception as error:  # the store is away: say so plainly
        _fail(f"cannot read the audit trail in tracking's store: {error}")
        return
    for read in reads:
        who = f"{read.role.value}/{read.department}" if read.department else read.role.value
        typer.echo(f"{read.at.isoformat()}  {read.case_id}  {read.staff_id} ({who})  "
                   f"{','.join(read.fields)}  {read.route}  {read.correlation_id}")
    typer.echo(f"{total} {'read' if total == 1 else 'reads'} in all; "
               f"shown {len(reads)} from offset {offset}")


@privacy_app.command("scan")
def privacy_scan(
    needle: list[str] = typer.Option(None, "--needle", help="A detail to look for (a name, "
                                     "a phone, an email, an address, a coordinate); repeat it."),
    needles_from: str = typer.Option(None, "--needles-from", help="A file with one detail a "
                                     "line ('-': standard input), kept out of shell history."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures and hits as JSON."),
) -> None:
    """Read every topic and database of this deployment raw and look for each detail:
    exit 1 when one is found anywhere; 2 when the scan could not be made, could not read
    everything, or found nothing to read."""
    import dataclasses
    import json as json_

    from rich.console import Console

    from services.common.settings import CommonSettings
    from zaiban.scan import needles_of, scan

    given = list(needle or [])
    if needles_from:
        text = sys.stdin.read() if needles_from == "-" else Path(needles_from).read_text("utf-8")
        given += [line for line in text.splitlines() if line.strip()]
    try:
        needles_of(given)  # refused before anything is read
    except ValueError as error:
        _fail(str(error), code=2)
    settings = CommonSettings()
    try:
        with Console(stderr=True).status("scanning") as status:
            result = asyncio.run(scan(settings, given, progress=status.update))
    except Exception as error:  # ScanIncomplete, or the broker or the store is away
        _fail(f"the scan did not read everything: {error}", code=2)
        return
    if as_json:
        typer.echo(json_.dumps(dataclasses.asdict(result), ensure_ascii=False, indent=2))
    else:
        typer.echo(f"topics {settings.topic_prefix}zaiban.*, databases {settings.db_prefix}_*, "
                   f"{len(given)} details\n{result.figures()}")
        for hit in sorted(result.hits, key=lambda hit: hit.place):
            typer.secho(f"HIT {hit}", fg=typer.colors.RED)
    if result.hits:
        raise typer.Exit(1)
    if not result.topics or not result.databases:  # a proof over nothing proves nothing
        _fail(f"no topic named {settings.topic_prefix}zaiban.* or no database named "
              f"{settings.db_prefix}_*: are ZAIBAN_TOPIC_PREFIX and ZAIBAN_DB_PREFIX this "
              "deployment's?", code=2)


@app.command()
def replay(model: str = typer.Argument(..., help="tracking or metrics"),
           processes: int = typer.Option(
               0, min=0, help="tracking: processes that fold the log's partitions apart "
                              "(0: one per partition, up to two per core it may use)")) -> None:
    """Rebuild a read model from offset 0 into a fresh collection and swap it in."""

    from rich.progress import Progress

    from services.common.settings import CommonSettings
    from services.metrics import replay as metrics_replay
    from services.tracking import replay as tracking_replay

    settings = CommonSettings()
    rebuilders = {"tracking": tracking_replay.rebuild, "metrics": metrics_replay.rebuild}
    if model not in rebuilders:
        _fail("replay takes a read model: tracking or metrics")
        return
    rebuild: Any = rebuilders[model]
    with Progress() as bar:
        task = bar.add_task(f"rebuilding {model} from offset 0", total=None)

        def advance(read: int, total: int) -> None:
            bar.update(task, completed=read, total=total)

        told = {"processes": processes} if model == "tracking" and processes else {}
        report = asyncio.run(rebuild(settings, progress=advance, **told))
    typer.echo(f"{model} rebuilt: {report}")


import_app = typer.Typer(help="Bring cases in from other channels.", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("social")
def import_social(
    path: str = typer.Argument(..., help="A CSV, JSON or JSON-lines (.jsonl) export of posts."),
    channel: str = typer.Option("weibo", help="weibo or wechat"),
    default_category: str = typer.Option("inquiry", help="For posts without a category."),
    default_district: str = typer.Option("zhongyuan", help="For posts without a district."),
    replies: str | None = typer.Option(
        None, help="Where to write one reply per post (.csv, else JSON lines); default: "
                   "beside the export, <name>.replies.jsonl."),
    site: str | None = typer.Option(
        None, help="The platform's public address (https://...): each reply links the "
                   "case's page. Without it a reply gives the case number alone."),
    wait: float = typer.Option(60.0, min=0, help="Seconds to wait for intake's receipts."),
) -> None:
    """Publish each post as a submission on the bus; intake checks it like any other, and
    answers it on the receipts topic. Then write, per post, its case number and the reply to
    post under it (in the post's language, at most 140 characters), or why it made no case."""

    from rich.console import Console
    from rich.progress import Progress

    from contracts.facts import Channel
    from contracts.topics import Topics
    from services.common.catalogue import load_city
    from services.common.settings import CommonSettings
    from zaiban.social import (
        collect_receipts,
        prepare,
        read_rows,
        reply_rows,
        reply_text,
        write_replies,
    )

    if channel not in ("weibo", "wechat"):
        _fail("channel is weibo or wechat")
    if site is not None and not site.startswith(("https://", "http://")):
        _fail("--site: the platform's address, starting with https://")
    settings = CommonSettings()
    source = Path(path)
    if not source.exists():
        _fail(f"no such file: {source}")
    target = Path(replies) if replies else source.with_name(f"{source.stem}.replies.jsonl")
    try:
        reply_text("ZB000000-0000-0000", "en", site)
        ready, skipped = prepare(read_rows(source), load_city(settings.config_dir),
                                 Channel(channel), default_category=default_category,
                                 default_district=default_district)
    except (ValueError, UnicodeDecodeError) as error:
        _fail(f"cannot read {source}: {error}")
        return
    for item in skipped:
        typer.secho(f"row {item.number}: skipped: {item.reason}", fg=typer.colors.YELLOW, err=True)

    async def publish() -> None:
        from aiokafka import AIOKafkaProducer

        from services.common.kafka import ADMIN, kafka_options
        from services.common.keys import SUBMISSION_KEY, key_store, public_key_of
        from services.common.store import make_client
        from zaiban.social import bus_message

        store = make_client(settings)
        try:
            recipient = public_key_of(await key_store(store, settings).issue(SUBMISSION_KEY))
        finally:
            await store.close()
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                    enable_idempotence=True, linger_ms=5,
                                    **kafka_options(settings, ADMIN))
        await producer.start()
        try:
            topic = Topics(settings.topic_prefix).submissions
            with Progress(console=Console(stderr=True)) as progress:  # stdout: the outcome
                task = progress.add_task(f"publishing {len(ready)} {channel} posts", total=len(ready))
                for command in ready:
                    await producer.send_and_wait(topic, bus_message(command, recipient),
                                                 key=command.submission_id.encode())
                    progress.advance(task)
        finally:
            await producer.stop()

    asyncio.run(publish())
    typer.echo(f"published {len(ready)} submissions, skipped {len(skipped)}; waiting for "
               "intake's receipts (an import repeated makes no second case)", err=True)
    receipts = asyncio.run(collect_receipts(settings, [c.submission_id for c in ready],
                                            timeout_s=wait))
    rows = reply_rows(ready, skipped, receipts, site)
    write_replies(target, rows)
    made = sum(1 for row in rows if row["case_id"])
    pending = len(ready) - len(receipts)
    typer.echo(f"{made} posts are cases, {len(rows) - made} are not"
               + (f" ({pending} without a receipt yet)" if pending else "")
               + f"; one reply per post in {target}")
    if pending:
        raise typer.Exit(1)


# --- zaiban bench (owner: performance; zaiban/bench/) -------------------------------------------
bench_app = typer.Typer(help="Benchmarks on the real local stack, each against its baseline.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")
PROFILE_HELP = "Sample the measured process with py-spy (pip install py-spy) into .zaiban/bench/."
STORE_HELP = "Another MongoDB-protocol store than the local stack's (Kafka stays the local one)."


def _bench(names: list[str], sizes: dict[str, object] | None, profile: bool,
           store_url: str | None) -> None:
    from rich.console import Console

    from zaiban.bench.env import BenchError
    from zaiban.bench.runner import run

    try:
        run(names, sizes, console=Console(), profile=profile, store_url=store_url)
    except BenchError as error:
        _fail(str(error))


@bench_app.command("intake")
def bench_intake(
    requests: int = typer.Option(3000, help="Submissions to post (after a warm-up)."),
    concurrency: int = typer.Option(32, help="Clients posting at once."),
    seconds: float = typer.Option(60.0, help="Stop after this long at the latest."),
    profile: bool = typer.Option(False, help=PROFILE_HELP),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """Accepted submissions per second over HTTP, with latency, against a bare endpoint."""
    from zaiban.bench.intake import Sizes

    sizes = Sizes(requests=requests, concurrency=concurrency, seconds=seconds)
    _bench(["intake"], {"intake": sizes}, profile, store_url)


@bench_app.command("bus-security")
def bench_bus_security(
    requests: int = typer.Option(1000, help="Submissions to post per app and listener."),
    concurrency: int = typer.Option(16, help="Clients posting at once."),
    seconds: float = typer.Option(30.0, help="Stop each after this long at the latest."),
    tls: bool = typer.Option(True, help="Also over the departments' SASL_SSL listener."),
    rounds: int = typer.Option(2, min=1, help="Rounds over every listener, in rotated order."),
    profile: bool = typer.Option(False, help=PROFILE_HELP),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """The cost of SASL (and TLS) on intake: the bare endpoint and intake against the local
    broker and against a throwaway PLAINTEXT broker of the same build, in one run."""
    from zaiban.bench.bus_security import Sizes

    sizes = Sizes(requests=requests, concurrency=concurrency, seconds=seconds, tls=tls,
                  rounds=rounds)
    _bench(["bus-security"], {"bus-security": sizes}, profile, store_url)


@bench_app.command("projections")
def bench_projections(
    cases: int = typer.Option(3000, help="Cases in the history (about 7 events each)."),
    profile: bool = typer.Option(False, help=PROFILE_HELP),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """Events per second through tracking and metrics, against a raw consumer."""
    from zaiban.bench.projections import Sizes

    _bench(["projections"], {"projections": Sizes(cases=cases)}, profile, store_url)


@bench_app.command("e2e")
def bench_e2e(
    rate: float = typer.Option(200.0, help="Submissions offered per second."),
    seconds: float = typer.Option(20.0, help="For this long."),
    sample_every: int = typer.Option(4, help="Follow one case in this many to the API."),
    steps: str = typer.Option("50,100,200,300,400,600,800,1000",
                              help="Rates offered in turn to find the knee (comma-separated; "
                                   "empty: no knee)."),
    step_seconds: float = typer.Option(8.0, help="Seconds per knee step."),
    profile: bool = typer.Option(False, help=PROFILE_HELP),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """Latency from submission to the case on tracking's API, at a steady rate; then rising
    rates up to the knee (the highest with p99 under 250 ms)."""
    from zaiban.bench.e2e import Sizes

    try:
        rates = tuple(float(part) for part in steps.split(",") if part.strip())
    except ValueError:
        _fail(f"--steps: {steps!r} is not a comma-separated list of rates")
    sizes = Sizes(rate=rate, seconds=seconds, sample_every=sample_every, steps=rates,
                  step_seconds=step_seconds)
    _bench(["e2e"], {"e2e": sizes}, profile, store_url)


@bench_app.command("replay")
def bench_replay(
    cases: int = typer.Option(4000, help="Cases in the history (about 7 events each)."),
    profile: bool = typer.Option(False, help=PROFILE_HELP),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """Events per second rebuilding each read model from offset 0."""
    from zaiban.bench.replay import Sizes

    _bench(["replay"], {"replay": Sizes(cases=cases)}, profile, store_url)


@bench_app.command("opendata")
def bench_opendata(
    cases: int = typer.Option(3000, help="Cases in the history (the article: 30148)."),
    profile: bool = typer.Option(False, help=PROFILE_HELP),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """The open-data feed: bytes per event, lines served per second, days published."""
    from zaiban.bench.opendata import Sizes

    _bench(["opendata"], {"opendata": Sizes(cases=cases)}, profile, store_url)


@bench_app.command("reads")
def bench_reads(
    cases: int = typer.Option(None, help="One size (cases in the store); by default 3,000 and "
                                         "the article's 30,148."),
    requests: int = typer.Option(200, help="Requests per query, at most."),
    seconds: float = typer.Option(20.0, help="Seconds per query, at most..."),
    at_least: int = typer.Option(5, min=1, help="... but at least this many requests."),
    warmup: int = typer.Option(2, min=1, help="Requests before the timed ones."),
    profile: bool = typer.Option(False, help=PROFILE_HELP),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """Every list and search over HTTP (staff queues, public list and search, Open311, maps,
    feeds, duplicate suggestions): p50/p95/p99 against a case read by its number."""
    from zaiban.bench.reads import Sizes

    sizes = Sizes(cases=(cases,) if cases else Sizes().cases, requests=requests,
                  seconds=seconds, at_least=at_least, warmup=warmup)
    _bench(["reads"], {"reads": sizes}, profile, store_url)


@bench_app.command("seed")
def bench_seed(
    cases: int = typer.Option(30_148, help="Cases received (the article: 30,148); resolved "
                                           "keeps the article's share (25,807 of 30,148)."),
    profile: bool = typer.Option(False, help=PROFILE_HELP),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """The article's volume through the pipeline: wall time and the final figures (85.6%)."""
    from zaiban.bench.seed import Sizes

    _bench(["seed"], {"seed": Sizes.scaled(cases)}, profile, store_url)


@bench_app.command("scale")
def bench_scale(
    cases: int = typer.Option(3000, help="Cases in the history (about 7 events each)."),
    service: str = typer.Option("tracking", help="tracking or metrics"),
    profile: bool = typer.Option(False, help=PROFILE_HELP),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """The same projection load with one and with two instances in one consumer group."""
    from zaiban.bench.scale import Sizes

    if service not in ("tracking", "metrics"):
        _fail("scale takes a read model: tracking or metrics")
    _bench(["scale"], {"scale": Sizes(cases=cases, service=service)}, profile, store_url)


@bench_app.command("memory")
def bench_memory(
    cases: int = typer.Option(30_148, help="Cases in the history (the article: 30148)."),
    timeout: float = typer.Option(1800.0, help="Seconds the services may take to catch up."),
    services: str = typer.Option("", help="The services to run (comma-separated; all by default)."),
    profile: bool = typer.Option(False, help=PROFILE_HELP),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """Each service's peak memory over the article's volume (and after a restart over it), and
    the log's bytes per event and the store's bytes per case."""
    from services.composition import SERVICES
    from zaiban.bench.memory import Sizes

    chosen = tuple(name.strip() for name in services.split(",") if name.strip()) or SERVICES
    unknown = sorted(set(chosen) - set(SERVICES))
    if unknown:
        _fail(f"--services: no service {', '.join(unknown)} (one of {', '.join(SERVICES)})")
    sizes = Sizes.scaled(cases, timeout_s=timeout, services=chosen)
    _bench(["memory"], {"memory": sizes}, profile, store_url)


@bench_app.command("lifecycle")
def bench_lifecycle(
    cases: int = typer.Option(30_148, help="Cases received (the article: 30,148); resolved "
                                           "keeps the article's share (25,807 of 30,148)."),
    workers: int = typer.Option(64, help="Clients at once, each amid one case."),
    profile: bool = typer.Option(False, help="Sample each service with py-spy (pip install "
                                             "py-spy) into .zaiban/bench/."),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """The article's volume through the real services: submissions (HTTP, Open311, bus),
    acceptance, routing, the department (HTTP, bus), residents' answers; stage rates, command
    latencies, consumer lag, and the figures (85.6%)."""
    from zaiban.bench.lifecycle import Sizes

    _bench(["lifecycle"], {"lifecycle": Sizes(cases=cases, workers=workers)}, profile,
           store_url)


@bench_app.command("all")
def bench_all(
    profile: bool = typer.Option(False, help=PROFILE_HELP),
    store_url: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """Every scenario, with sizes that fit a few minutes on two cores (what `make bench` runs)."""
    from zaiban.bench.runner import SCENARIOS

    _bench(list(SCENARIOS), None, profile, store_url)
# --- end of zaiban bench -------------------------------------------------------------------------


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               "help_option_names": []})
def verify(context: typer.Context) -> None:
    """Recompute the published figures from the open data and check its hash chain (the
    local stack's public entry unless --from URL; --help for the options). The same as
    `python3 zaiban/verify_open_data.py`, which needs nothing but Python."""
    from services.common.settings import CommonSettings
    from zaiban.verify_open_data import main as verify_main

    settings = CommonSettings()
    code = verify_main(context.args, prog="zaiban verify",
                       default_url=f"http://{settings.host}:{settings.public_port}")
    raise typer.Exit(code)


# --- zaiban chaos (zaiban/chaos/) -----------------------------------------------------------


@app.command()
def chaos(
    scenario: str = typer.Argument(..., help="kills, broker, store-30s, store-3min, scale, "
                                             "clock, ... (several: a,b) or 'all'"),
    short: bool = typer.Option(False, help="The short version (what `make test` runs)."),
    cases: int = typer.Option(None, help="Cases at least (default: the scenario's size)."),
    seed: int = typer.Option(20, help="Seed of the random faults (the same run again)."),
) -> None:
    """Drive cases through the real services while injecting faults, then check that nothing
    was lost or counted twice and that every figure equals a clean replay."""
    from rich.console import Console

    from zaiban.chaos.cli import main as chaos_main
    from zaiban.chaos.scenarios import SCENARIOS

    names = list(SCENARIOS) if scenario == "all" else scenario.split(",")
    if any(name not in SCENARIOS for name in names):
        _fail(f"no chaos scenario {scenario!r}: one of {', '.join(SCENARIOS)}, or all")
    # a log file gets the whole table, not one squeezed to 80 columns
    console = Console(width=None if sys.stdout.isatty() else 200)
    found = chaos_main(names, short=short, cases=cases, seed=seed, console=console)
    if not all(f.ok for f in found):
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
