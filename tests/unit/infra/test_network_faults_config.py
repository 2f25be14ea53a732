"""What `zaiban chaos network` asks of the stack: a broker listener per proxied service,
advertised at the service's proxy (and nothing more in the normal config), and a Toxiproxy
client that says to the proxy what each fault means."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from zaiban.infra import InfraError, StackSettings
from zaiban.infra.kafka import _security_lines
from zaiban.infra.toxiproxy import Toxiproxy


def _properties(settings: StackSettings) -> dict[str, str]:
    return dict(line.split("=", 1) for line in _security_lines(settings))


def _plain(tmp_path: Path, **extra: object) -> StackSettings:
    return StackSettings(home=tmp_path, kafka_port=9500, controller_port=9501, tls_port=9502,
                         authenticated=False, **extra)  # type: ignore[arg-type]


def test_the_normal_broker_config_has_no_proxied_listener(tmp_path: Path) -> None:
    lines = _security_lines(_plain(tmp_path))
    assert not any("PROXIED" in line for line in lines)
    assert _plain(tmp_path).ports("kafka") == (9500, 9501, 9502)


def test_each_proxied_service_has_a_listener_advertised_at_its_proxy(tmp_path: Path) -> None:
    settings = _plain(tmp_path, proxied_listeners=((9600, 7600), (9601, 7601)))
    props = _properties(settings)
    assert props["listeners"] == ("CLIENT://127.0.0.1:9500,CONTROLLER://127.0.0.1:9501,"
                                  "PROXIED1://127.0.0.1:9600,PROXIED2://127.0.0.1:9601")
    assert props["advertised.listeners"] == ("CLIENT://127.0.0.1:9500,"
                                             "PROXIED1://127.0.0.1:7600,"
                                             "PROXIED2://127.0.0.1:7601")
    assert props["listener.security.protocol.map"].endswith(
        ",PROXIED1:PLAINTEXT,PROXIED2:PLAINTEXT")
    # the broker talks to itself and to its controller as before
    assert props["inter.broker.listener.name"] == "CLIENT"
    assert props["controller.listener.names"] == "CONTROLLER"
    # a start checks the listeners' ports are free, and a stop waits for them
    assert settings.ports("kafka") == (9500, 9501, 9502, 9600, 9601)


def test_an_authenticated_broker_asks_scram_on_the_proxied_listeners_too(
        tmp_path: Path) -> None:
    settings = StackSettings(home=tmp_path, kafka_port=9500, controller_port=9501,
                             tls_port=9502, proxied_listeners=((9600, 7600),))
    props = _properties(settings)
    assert props["advertised.listeners"].endswith(",PROXIED1://127.0.0.1:7600")
    assert props["listener.security.protocol.map"] == (
        "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,EXTERNAL:SASL_SSL,"
        "PROXIED1:SASL_PLAINTEXT")
    assert props["listener.name.proxied1.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.proxied1.scram-sha-512.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required;")
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"


class Recorder:
    """A stand-in Toxiproxy API: records each request, answers as v2 does."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        if request.url.path.endswith("/missing/toxics"):
            return httpx.Response(404, json={"error": "proxy not found", "status": 404})
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(201 if request.method == "POST" else 200, json=body or {})


async def test_the_client_says_what_each_fault_means_to_the_proxy() -> None:
    api = Recorder()
    async with Toxiproxy("http://toxiproxy", transport=httpx.MockTransport(api)) as proxy:
        await proxy.create_proxy("routing-broker", "127.0.0.1:7600", "127.0.0.1:9600")
        assert await proxy.latency("routing-broker", 200, 50) == "latency-downstream"
        await proxy.reset_peer("routing-store")
        hole = await proxy.black_hole("routing-store", "upstream")
        await proxy.bandwidth("routing-store", 64)
        await proxy.remove_toxic("routing-store", hole)
        await proxy.set_enabled("routing-broker", False)
    assert api.requests == [
        ("POST", "/proxies", {"name": "routing-broker", "listen": "127.0.0.1:7600",
                              "upstream": "127.0.0.1:9600", "enabled": True}),
        ("POST", "/proxies/routing-broker/toxics",
         {"name": "latency-downstream", "type": "latency", "stream": "downstream",
          "toxicity": 1.0, "attributes": {"latency": 200, "jitter": 50}}),
        ("POST", "/proxies/routing-store/toxics",
         {"name": "reset-downstream", "type": "reset_peer", "stream": "downstream",
          "toxicity": 1.0, "attributes": {"timeout": 0}}),
        ("POST", "/proxies/routing-store/toxics",
         {"name": "timeout-upstream", "type": "timeout", "stream": "upstream",
          "toxicity": 1.0, "attributes": {"timeout": 0}}),
        ("POST", "/proxies/routing-store/toxics",
         {"name": "bandwidth-downstream", "type": "bandwidth", "stream": "downstream",
          "toxicity": 1.0, "attributes": {"rate": 64}}),
        ("DELETE", "/proxies/routing-store/toxics/timeout-upstream", None),
        ("POST", "/proxies/routing-broker", {"enabled": False}),
    ]


async def test_a_refusal_of_the_proxy_is_a_clear_error() -> None:
    async with Toxiproxy("http://toxiproxy", transport=httpx.MockTransport(Recorder())) as proxy:
        with pytest.raises(InfraError, match=r"404: .*proxy not found"):
            await proxy.latency("missing", 200)
