"""Where the local stack lives, which ports it uses, and what a start reports back.

The two components are named ``kafka`` and ``ferretdb`` (``store``, ``mongo`` and ``mongodb``
are accepted for the latter). Every failure to have the stack is an :class:`InfraError` whose
message says why in one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

KAFKA_COMPONENT = "kafka"
STORE_COMPONENT = "ferretdb"
COMPONENTS: tuple[str, ...] = (KAFKA_COMPONENT, STORE_COMPONENT)
_ALIASES = {"kafka": KAFKA_COMPONENT, "ferretdb": STORE_COMPONENT, "store": STORE_COMPONENT,
            "mongo": STORE_COMPONENT, "mongodb": STORE_COMPONENT}


class InfraError(RuntimeError):
    """The stack cannot be had; the message says why in one line (and where the log is)."""


def repo_root() -> Path | None:
    """The source checkout this package runs from (it holds deploy/local/pom.xml), if any."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "deploy" / "local" / "pom.xml").is_file() else None


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InfraError(f"{name}={raw!r} is not a port number") from None
    if not 0 < value < 65536:
        raise InfraError(f"{name}={value} is not a port number")
    return value


@dataclass(frozen=True)
class StackSettings:
    """Where the local stack lives and which loopback ports it uses."""

    home: Path
    host: str = "127.0.0.1"
    kafka_port: int = 9092
    controller_port: int = 9093
    tls_port: int = 9094
    store_port: int = 27017
    start_timeout: float = 120.0
    stop_timeout: float = 30.0
    kafka_heap: str = "512m"
    authenticated: bool = True
    """False: a broker of one's own with a PLAINTEXT listener only, no users, no ACLs, no TLS
    (the baseline `zaiban bench bus-security` measures the cost of authentication against)."""
    proxied_listeners: tuple[tuple[int, int], ...] = ()
    """Extra client listeners of the broker, each (listener port, advertised port): a Kafka
    client bootstraps, then connects to the address the broker advertises, so a proxy in
    front of one service's broker link (`zaiban chaos network`) needs a listener of its own
    advertised at the proxy's port. Empty (the stack's normal config): none."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> StackSettings:
        env = dict(os.environ if env is None else env)
        if env.get("ZAIBAN_HOME"):
            home = Path(env["ZAIBAN_HOME"]).expanduser()
        else:
            root = repo_root()
            home = (root if root is not None else Path.cwd()) / ".zaiban"
        kafka_port = _env_int(env, "ZAIBAN_KAFKA_PORT", 9092)
        try:
            start_timeout = float(env.get("ZAIBAN_INFRA_TIMEOUT") or 120)
        except ValueError:
            raise InfraError(f"ZAIBAN_INFRA_TIMEOUT={env['ZAIBAN_INFRA_TIMEOUT']!r} "
                             "is not a number of seconds") from None
        return cls(
            home=home.resolve(),
            kafka_port=kafka_port,
            controller_port=_env_int(env, "ZAIBAN_KAFKA_CONTROLLER_PORT", kafka_port + 1),
            tls_port=_env_int(env, "ZAIBAN_KAFKA_TLS_PORT", kafka_port + 2),
            store_port=_env_int(env, "ZAIBAN_STORE_PORT", 27017),
            start_timeout=start_timeout,
            kafka_heap=env.get("ZAIBAN_KAFKA_HEAP") or "512m",
        )

    # -- layout --
    @property
    def bin_dir(self) -> Path:
        return self.home / "bin"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def kafka_dir(self) -> Path:
        return self.home / "kafka"

    @property
    def libs_dir(self) -> Path:
        return self.kafka_dir / "libs"

    @property
    def ferretdb_dir(self) -> Path:
        return self.home / "ferretdb"

    @property
    def ferretdb_data_dir(self) -> Path:
        """FerretDB's SQLite files (one per database, with its WAL)."""
        return self.ferretdb_dir / "data"

    @property
    def ferretdb_bin(self) -> Path:
        return self.bin_dir / "ferretdb"

    @property
    def kafka_credentials_dir(self) -> Path:
        """The principals' passwords, one file each (services/common/kafka.py reads them)."""
        return self.home / "kafka-credentials"

    @property
    def kafka_tls_dir(self) -> Path:
        """The local CA and the broker's certificate (zaiban/infra/tls.py)."""
        return self.home / "kafka-tls"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def tls_bootstrap_servers(self) -> str:
        """The broker's SASL_SSL listener, the one departments connect to."""
        return f"{self.host}:{self.tls_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://{self.host}:{self.store_port}/"

    def pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def address(self, component: str) -> str:
        return self.bootstrap_servers if component == KAFKA_COMPONENT else self.mongo_url

    def ports(self, component: str) -> tuple[int, ...]:
        if component == KAFKA_COMPONENT:
            return (self.kafka_port, self.controller_port, self.tls_port,
                    *(listener for listener, _advertised in self.proxied_listeners))
        return (self.store_port,)


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    pid: int | None
    address: str
    version: str
    log: Path
    state: str = ""  # running | stopped | started | starting | unresponsive | stale pid file


@dataclass(frozen=True)
class StackInfo:
    """What tests and services need to reach the stack."""

    bootstrap_servers: str
    mongo_url: str
    kafka_pid: int | None
    store_pid: int | None
    kafka_version: str
    store_version: str
    home: Path | None = None
    mode: str = "local"
    started: tuple[str, ...] = field(default=())  # components this call started (empty: reused)
    kafka_credentials: Path | None = None  # the principals' passwords (None: no SASL)
    departments_bootstrap: str | None = None  # the SASL_SSL listener departments connect to
    departments_ca_file: Path | None = None  # the CA certificate (PEM) of that listener


    def env(self) -> dict[str, str]:
        """Environment variables pointing a service process at this stack."""
        env = {"ZAIBAN_KAFKA_BOOTSTRAP": self.bootstrap_servers,
               "ZAIBAN_MONGO_URL": self.mongo_url}
        if self.kafka_credentials is not None:
            env["ZAIBAN_KAFKA_CREDENTIALS"] = str(self.kafka_credentials)
        else:
            env["ZAIBAN_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
        if self.departments_bootstrap is not None:
            env["ZAIBAN_KAFKA_DEPARTMENTS_BOOTSTRAP"] = self.departments_bootstrap
        if self.departments_ca_file is not None:
            env["ZAIBAN_KAFKA_DEPARTMENTS_CA_FILE"] = str(self.departments_ca_file)
        return env


def component_name(name: str) -> str:
    try:
        return _ALIASES[name.lower()]
    except KeyError:
        raise InfraError(f"unknown component {name!r}; expected one of "
                         f"{', '.join(sorted(_ALIASES))}") from None
