"""Settings shared by every service; each service's object extends this one.

Everything comes from the environment with the prefix `ZAIBAN_` (for example
`ZAIBAN_KAFKA_BOOTSTRAP`), so the same code runs on a laptop and in a cluster.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


def local_home() -> Path:
    return REPO_ROOT / ".zaiban"


def _local_secret(name: str = "auth-secret") -> SecretStr:
    """A per-checkout secret for local runs, kept in the git-ignored state folder."""
    path = local_home() / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return SecretStr(path.read_text().strip())


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZAIBAN_", extra="ignore")

    environment: Literal["local", "test", "production"] = "local"
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Who a Kafka client is, and how it proves it (services/common/kafka.py, kafka_options).
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="SASL_PLAINTEXT", description="How clients connect to Kafka: SASL_PLAINTEXT "
                                              "(the local stack), SASL_SSL (a cluster with TLS), "
                                              "PLAINTEXT (a broker without authentication).")
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str | None = Field(
        default=None, description="One Kafka principal for every client of this process (the "
                                  "admin, for an operator's one-off command); unset, each client "
                                  "logs in as its own principal with the password from "
                                  "ZAIBAN_KAFKA_CREDENTIALS.")
    kafka_password: SecretStr | None = Field(default=None,
                                             description="The password of ZAIBAN_KAFKA_USERNAME.")
    kafka_credentials: Path | None = Field(
        default=None, description="A folder with one file per principal holding its password "
                                  "(a mounted Secret); default: the local stack's, "
                                  "$ZAIBAN_HOME/kafka-credentials.")
    kafka_ca_file: Path | None = Field(
        default=None, description="With SASL_SSL: the CA certificate (PEM) the broker's is "
                                  "checked against; default: the system's CAs.")
    # Where departments (organisations of their own, from outside) connect: zaiban/departments.py
    kafka_departments_bootstrap: str | None = Field(
        default=None, description="The broker's SASL_SSL listener that departments connect to "
                                  "from outside, given in their client configuration; unset: "
                                  "ZAIBAN_KAFKA_BOOTSTRAP with ZAIBAN_KAFKA_SECURITY_PROTOCOL.")
    kafka_departments_ca_file: Path | None = Field(
        default=None, description="The CA certificate (PEM) of that listener, written into each "
                                  "department's client configuration; unset: the department's "
                                  "client trusts its system's CAs.")
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    topic_prefix: str = Field(default="", description="Prepended to every topic name.")
    db_prefix: str = Field(default="zaiban", description="Each service's database is <prefix>_<service>.")
    config_dir: Path = Field(default=REPO_ROOT / "deploy" / "config")
    auth_secret: SecretStr | None = Field(
        default=None, description="Signs staff tokens and tracking codes. Required in production."
    )
    master_key: SecretStr | None = Field(
        default=None, description="Wraps the data keys that seal residents' personal data: "
                                  "base64 of 32 random bytes. Required in production; "
                                  "losing it loses every resident's contact.")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    public_port: int = 8080
    intake_port: int = 8081
    routing_port: int = 8082
    tracking_port: int = 8083
    metrics_port: int = 8084
    notify_port: int = 8085
    opendata_port: int = 8086
    topic_partitions: int = Field(default=3, description="Partitions of each topic (zaiban topics ensure).")
    topic_replication: int = Field(default=1, description="Replication factor of each topic.")
    topic_min_insync: int = Field(default=1, description="min.insync.replicas of each topic.")
    write_concern_majority: bool = Field(
        default=False, description="Use w=majority and read concern majority (replica sets)."
    )
    staff_token_hours: float = Field(
        default=8, gt=0, description="How long a staff token `zaiban token issue` signs lives, "
                                     "unless told otherwise (--hours, --days).")
    api_key_days: float = Field(
        default=30, gt=0, description="How long an Open311 api key `zaiban token issue "
                                      "--api-key` signs lives, unless told otherwise.")
    # Open311 GeoReport v2 (intake and tracking serve it together under /open311/v2).
    open311_jurisdiction: str | None = Field(
        default=None, description="The Open311 jurisdiction_id; when set, a different one "
                                  "given by a client is refused (404).")
    open311_default_district: str | None = Field(
        default=None, description="District of an Open311 request that has no point and no "
                                  "attribute[district]; unset, such a request is refused (400).")
    open311_contact: str = Field(
        default="", description="How to reach this deployment's operators (Open311 discovery).")
    # Public submission is rate-limited per client address, in each instance (limits.py).
    submit_rate_per_minute: float = Field(
        default=20.0, gt=0, description="Submissions (POST /api/cases, Open311 POST requests) and "
                                        "photo uploads one client may make per minute, after a burst.")
    submit_burst: int = Field(default=10, ge=1, description="Requests of each kind one client "
                                                            "may make at once.")
    trusted_proxy_hops: int = Field(
        default=0, ge=0, description="Proxies of ours in front that append to X-Forwarded-For; "
                                     "0 believes none and limits by the connecting address.")
    # The time a service dates events with: its host's, corrected against the store's
    # (services/common/clock.py).
    clock_from_store: bool = Field(
        default=True, description="Correct this host's clock by its offset from the store's, "
                                  "measured at start and every ZAIBAN_CLOCK_CHECK_EVERY_S; off, "
                                  "the host's clock is taken as it is.")
    clock_check_every_s: float = Field(
        default=300.0, gt=0, description="How often the offset from the store's clock is "
                                         "measured again.")
    clock_skew_warn_s: float = Field(
        default=1.0, gt=0, description="An offset larger than this is logged as a warning "
                                       "(clock_skew): the host's clock needs NTP.")

    @classmethod
    def from_common(cls, settings: CommonSettings, **overrides: Any) -> Self:
        """This class's settings for the deployment `settings` describe (kept if already
        ours): the shared values as they are, the rest read from the environment."""
        if isinstance(settings, cls) and not overrides:
            return settings
        return cls(**{**settings.model_dump(), **overrides})

    def database(self, service: str) -> str:
        return f"{self.db_prefix}_{service}"

    def secret(self) -> SecretStr:
        if self.auth_secret is not None:
            return self.auth_secret
        if self.environment == "production":
            raise RuntimeError("ZAIBAN_AUTH_SECRET must be set in production")
        return _local_secret()

    def master_key_text(self) -> str:
        """The master key (base64 of 32 bytes): set, or made once for a local checkout."""
        if self.master_key is not None:
            return self.master_key.get_secret_value()
        if self.environment == "production":
            raise RuntimeError("ZAIBAN_MASTER_KEY must be set in production")
        return _local_secret("master-key").get_secret_value()


class GatheringSettings(CommonSettings):
    """A service that reads the case event log in batches whose cost is more per batch than per
    record (a write of what the batch changed, an offset commit, a fetch: each a round trip
    of its own), and whose readers can wait half a second more: metrics, notify, opendata,
    and intake (it folds the events of cases it no longer writes, recorded by routing after
    triage; what it records itself it never waits for the log to learn).

    The broker holds each fetch of the log until `gather_bytes` are there or `gather_ms`
    have passed, so that live records come in fewer, larger batches (a service whose settings
    are these gathers: `ServiceRuntime.read_case_events`); catching up, fetches
    fill at once and nothing waits. In `zaiban bench lifecycle` (800 cases, runs alternated),
    metrics spent 13.8-14.3 ms of CPU per case taking each record as it came and 2.6-3.4 ms
    gathering; the four services together 75.6-78.1 and 60.3-71.1 ms. Intake (later, two runs
    each): 22.2 and 17.0 ms, the store's CPU 35 and 31 s for the 800 cases."""

    gather_bytes: int = Field(
        default=256 * 1024, ge=1, le=16 << 20,
        description="Bytes of the log a fetch waits for (or `gather_ms`); 1: each record as "
                    "it comes.")
    gather_ms: int = Field(
        default=500, ge=0, le=10_000,
        description="How long the broker may hold a fetch gathering records: what this "
                    "service shows follows the log within about this much more.")
