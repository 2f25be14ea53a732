"""The local real stack: Apache Kafka (KRaft) and FerretDB (SQLite), run as local processes.

No container engine is needed. Kafka's jars are resolved by Maven from ``deploy/local/pom.xml``;
FerretDB is built from its Go module. Both are cached and started detached, so they outlive the
``zaiban infra up`` command, and are found again by the next one.

One module per job: ``settings`` (StackSettings, StackInfo, InfraError), ``processes`` (pid
files, ports, the lock, detached starts), ``kafka`` (Maven, config, start, readiness),
``ferretdb`` (the Go build with its source fix, start, readiness), ``smalldisk`` (a tmpfs of
a fixed size over the store's data, for the full-disk fault), ``stack`` (the API below),
``cli`` (the ``zaiban infra`` commands) and ``toxiproxy`` (the network fault proxy of
``zaiban chaos network``: its build, start and stop, a client of its API).

Everything lives under one git-ignored folder (``$ZAIBAN_HOME``, default ``<repo>/.zaiban``)::

    bin/ferretdb                    the FerretDB binary (rebuilt when its version differs)
    bin/toxiproxy-server            Toxiproxy, built with ``go install`` when `zaiban chaos
                                    network` first needs it (``toxiproxy`` module); never
                                    started by ``zaiban infra up``
    build/                          scratch space for the FerretDB build
    kafka/pom.xml, kafka/libs/      the Kafka classpath (stamped with the pom's SHA-256)
    kafka/server.properties         KRaft combined node, written on each start (mode 0600)
    kafka/data/                     the broker's log dirs (formatted once, with the admin's
                                    SCRAM credential; kafka/admin-credential.sha256 says which)
    kafka-credentials/              one password per Kafka principal (zaiban-admin, the
                                    services'; mode 0600): what every local client logs in with
    kafka-tls/                      the local CA (ca.pem; its key ca-key.pem, mode 0600) and
                                    the broker's certificate for the departments' SASL_SSL
                                    listener (broker.p12 and its password, mode 0600)
    ferretdb/data/, ferretdb/state/ FerretDB's SQLite files and its state file
    run/*.pid, run/infra.lock       pid files; a lock so concurrent ``up`` calls do not race
    logs/*.log                      one log per process, plus the Maven and Go build logs

Ports: ``ZAIBAN_KAFKA_PORT`` (9092), ``ZAIBAN_KAFKA_CONTROLLER_PORT`` (Kafka port + 1),
``ZAIBAN_KAFKA_TLS_PORT`` (Kafka port + 2: the departments' SASL_SSL listener),
``ZAIBAN_STORE_PORT`` (27017). Python API: :func:`ensure_up`, :func:`down`, :func:`status`,
:func:`start`, :func:`stop`, :func:`restart_kafka`, :func:`restart_store`.
"""

from zaiban.infra.ferretdb import (
    FERRETDB_FIXES,
    FERRETDB_MODULE,
    FERRETDB_PACKAGE,
    FERRETDB_VERSION,
    SQLITE_PRAGMAS,
    SourceFix,
    ferretdb_binary_version,
    store_version,
)
from zaiban.infra.kafka import kafka_version
from zaiban.infra.settings import (
    COMPONENTS,
    KAFKA_COMPONENT,
    STORE_COMPONENT,
    ComponentStatus,
    InfraError,
    StackInfo,
    StackSettings,
    component_name,
    repo_root,
)
from zaiban.infra.smalldisk import SmallDisk, small_disk
from zaiban.infra.stack import (
    down,
    ensure_up,
    private_settings,
    restart_kafka,
    restart_store,
    start,
    status,
    stop,
)

__all__ = [
    "COMPONENTS",
    "FERRETDB_FIXES",
    "FERRETDB_MODULE",
    "FERRETDB_PACKAGE",
    "FERRETDB_VERSION",
    "KAFKA_COMPONENT",
    "SQLITE_PRAGMAS",
    "STORE_COMPONENT",
    "ComponentStatus",
    "InfraError",
    "SmallDisk",
    "SourceFix",
    "StackInfo",
    "StackSettings",
    "component_name",
    "down",
    "ensure_up",
    "ferretdb_binary_version",
    "kafka_version",
    "private_settings",
    "repo_root",
    "restart_kafka",
    "restart_store",
    "small_disk",
    "start",
    "status",
    "stop",
    "store_version",
]
