"""`zaiban bench bus-security`: what the broker's authentication (and TLS) costs intake.

The local broker lets no one in anonymously: every client logs in with SASL/SCRAM-SHA-512
and every request is checked against the ACLs; departments, from outside, speak SASL_SSL.
What that costs is measured in one run, against a broker that does none of it: the run
starts a throwaway PLAINTEXT broker of the same Kafka build (`zaiban.infra.throwaway_kafka`:
a temporary home, free loopback ports, stopped and deleted afterwards) and drives the same
workload as `zaiban bench intake` — the bare endpoint (validate and send) and zaiban intake,
each in its own server process — over each listener, in rounds (the order rotated each
round, so that drift on a shared machine, or the throwaway broker's JVM warming up, does not
favour one listener):

- PLAINTEXT: the throwaway broker, no login, no ACLs (the baseline);
- SASL_PLAINTEXT: the local broker, as the services use it (their own principals, ACLs);
- SASL_SSL: the local broker's listener for departments, trusting its CA (with `--tls`).

Each figure is then divided by PLAINTEXT's for the same app. SCRAM costs a handshake per
connection, and the authorizer a lookup per request, so the expectation is that intake keeps
at least 80% of its PLAINTEXT rate with SASL. The brokers differ in what they hold (the local
one has other topics and groups); both are otherwise configured alike (zaiban/infra/kafka.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from services.common.catalogue import load_city
from zaiban.bench import intake
from zaiban.bench.env import Bench
from zaiban.bench.report import Result, latency_summary, rate, ratio
from zaiban.bench.workload import submissions

TARGET_RATIO = 0.80
APPS = {"bare": "baseline (validate + send)", "intake": "zaiban intake"}


@dataclass(frozen=True)
class Sizes(intake.Sizes):
    requests: int = 1000
    concurrency: int = 16
    seconds: float = 30.0
    warmup: int = 100
    tls: bool = True
    rounds: int = 2


def merged(before: intake.Drive | None, seen: intake.Drive) -> intake.Drive:
    """Two drives of one app over one listener, as one (their times added)."""
    if before is None:
        return seen
    return intake.Drive(latencies=before.latencies + seen.latencies,
                        refused=before.refused + seen.refused, failed=before.failed + seen.failed,
                        elapsed=before.elapsed + seen.elapsed)


async def run(bench: Bench, sizes: Sizes = Sizes()) -> Result:
    from zaiban import infra
    from zaiban.infra.stack import throwaway_kafka
    from zaiban.topics import ensure_topics

    result = Result("bus-security", params=vars(sizes).copy())
    city = load_city(bench.settings.config_dir)
    bodies = submissions(city, min(sizes.requests, 5000))
    profiles: dict[str, Any] = {}
    local = infra.StackSettings.from_env()
    listeners = {"SASL_PLAINTEXT": bench.settings}
    if sizes.tls:
        listeners["SASL_SSL"] = bench.child(
            kafka_bootstrap=local.tls_bootstrap_servers, kafka_security_protocol="SASL_SSL",
            kafka_ca_file=local.kafka_tls_dir / "ca.pem")
    step = bench.steps.start("a throwaway PLAINTEXT broker of the same build: starting")
    throwaway = throwaway_kafka(local)
    plain = await asyncio.to_thread(throwaway.__enter__)
    try:
        step.done()
        result.params["plaintext_broker"] = plain.bootstrap_servers
        listeners = {"PLAINTEXT": bench.child(kafka_bootstrap=plain.bootstrap_servers,
                                              kafka_security_protocol="PLAINTEXT"),
                     **listeners}
        await ensure_topics(listeners["PLAINTEXT"],
                            [department.code for department in city.departments])
        runs: dict[tuple[str, str], intake.Drive] = {}
        rounds: dict[tuple[str, str], list[float]] = {}  # each round's rate: the noise
        order = list(listeners)
        for turn in range(sizes.rounds):  # each round in another order: drift hits all alike
            for app in APPS:
                for protocol in order[turn % len(order):] + order[:turn % len(order)]:
                    seen = await intake.measure(bench, app, bodies, sizes, profiles,
                                                settings=listeners[protocol],
                                                label=f" over {protocol}")
                    runs[app, protocol] = merged(runs.get((app, protocol)), seen)
                    rounds.setdefault((app, protocol), []).append(
                        rate(seen.accepted, seen.elapsed))
    finally:
        await asyncio.to_thread(throwaway.__exit__, None, None, None)
    for (app, protocol), seen in runs.items():
        base = runs[app, "PLAINTEXT"]
        per_s = rate(seen.accepted, seen.elapsed)
        figures: dict[str, float] = dict(
            accepted=seen.accepted, per_s=per_s, per_s_lowest_round=min(rounds[app, protocol]),
            per_s_highest_round=max(rounds[app, protocol]), **latency_summary(seen.latencies),
            refused=sum(seen.refused.values()), failed=seen.failed)
        if protocol != "PLAINTEXT":
            figures.update(
                per_s_vs_plaintext=ratio(per_s, rate(base.accepted, base.elapsed)),
                p50_vs_plaintext=ratio(latency_summary(seen.latencies)["p50_ms"],
                                       latency_summary(base.latencies)["p50_ms"]))
        result.add(f"{APPS[app]}, {protocol}", **figures)
        if seen.refused:
            result.note(f"{APPS[app]}, {protocol}: answers other than 200/201: "
                        f"{dict(seen.refused)}")
    for protocol in listeners:
        if protocol != "PLAINTEXT":
            mine, base = runs["intake", protocol], runs["intake", "PLAINTEXT"]
            result.check(f"intake {protocol} / PLAINTEXT submissions per second",
                         ratio(rate(mine.accepted, mine.elapsed), rate(base.accepted, base.elapsed)),
                         TARGET_RATIO)
    result.note(f"{sizes.rounds} rounds, each app over every listener in turn, the order "
                f"rotated each round; a server process per app, listener and round; figures "
                f"over all rounds")
    if profiles:
        result.params["profiles"] = profiles
    return result
