"""The public entry routes every path to the service that owns it — through the gateway
(deploy/gateway/nginx.conf, in compose and in the cluster) and through the Ingress.

The routes are read from the services themselves (each runtime's router, the web pages'
router), so a route added to a service and not to the deploy map fails here, by name."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from unit.deploy.manifests import (
    K8S,
    Gateway,
    compose_services,
    endpoints,
    ingress_backend,
    kubernetes_objects,
    sample_path,
)

from services.common.settings import CommonSettings
from services.composition import SERVICES, build
from services.web import web_routes

GATEWAY = Gateway.load()
[INGRESS] = [o for o in kubernetes_objects(K8S / "base") if o.get("kind") == "Ingress"]
OPERATIONS = ("/healthz", "/readyz", "/metrics")  # every process has these on its own port


def offline_settings() -> CommonSettings:
    """Settings that reach nothing: the runtimes are built for their routes, never started."""
    return CommonSettings(environment="test", auth_secret=SecretStr("offline"),
                          kafka_bootstrap="127.0.0.1:9", mongo_url="mongodb://127.0.0.1:9/",
                          kafka_security_protocol="PLAINTEXT")


async def routes_of(service: str) -> list[tuple[str, str]]:
    runtime = build(service, offline_settings())
    try:
        return endpoints(runtime.router)
    finally:
        await runtime.mongo.close()


def through_ingress(method: str, path: str) -> str:
    backend = ingress_backend(INGRESS, path)
    return GATEWAY.route(method, path) if backend == "gateway" else backend


def misrouted(owner: str, routes: list[tuple[str, str]]) -> list[str]:
    wrong = []
    for method, template in routes:
        path = sample_path(template)
        for where, reached in (("gateway", GATEWAY.route(method, path)),
                               ("ingress", through_ingress(method, path))):
            if reached != owner:
                wrong.append(f"{method} {template}: the {where} sends it to {reached}")
    return wrong


@pytest.mark.parametrize("service", SERVICES)
async def test_every_route_of_a_service_reaches_that_service(service: str) -> None:
    routes = await routes_of(service)
    assert routes, f"{service} has no routes"
    assert not misrouted(service, routes), "\n".join(misrouted(service, routes))


def test_the_web_pages_and_the_api_docs_reach_the_all_in_one_process() -> None:
    pages = endpoints(web_routes(offline_settings()))
    assert pages
    assert not misrouted("public", [*pages, ("GET", "/docs"), ("GET", "/openapi.json")])


def test_one_path_two_owners_split_by_method() -> None:
    assert GATEWAY.route("POST", "/api/cases") == "intake"
    assert GATEWAY.route("GET", "/api/cases") == "tracking"
    assert GATEWAY.route("HEAD", "/api/cases") == "tracking"
    assert GATEWAY.route("POST", "/open311/v2/requests.xml") == "intake"
    assert GATEWAY.route("GET", "/open311/v2/requests.xml") == "tracking"


def test_the_gateway_answers_its_own_health_and_keeps_the_metrics_private() -> None:
    assert GATEWAY.route("GET", "/healthz") == "return 200"
    assert through_ingress("GET", "/metrics") == "return 404"


def test_rate_limited_writes_all_pass_the_gateway_so_the_proxy_count_holds() -> None:
    """intake limits submissions (and notify subscriptions) per client by X-Forwarded-For,
    trusting exactly ZAIBAN_TRUSTED_PROXY_HOPS proxies: every such write must cross the same
    ones."""
    for path in ("/api/cases", "/api/media", "/open311/v2/requests.json",
                 "/api/notify/subscriptions"):
        assert ingress_backend(INGRESS, path) == "gateway", path


def test_the_upstreams_are_the_services_on_their_own_ports_in_compose_and_kubernetes() -> None:
    services: dict[str, Any] = {o["metadata"]["name"]: o
                                for o in kubernetes_objects(K8S / "base")
                                if o.get("kind") == "Service"}
    for name, [server] in GATEWAY.upstreams.items():
        port = CommonSettings.model_fields[f"{name}_port"].default
        assert server == f"{name}:{port}"
        assert compose_services()[name]["command"] == ["serve", name]
        assert services[name]["spec"]["ports"][0]["port"] == port
    assert set(GATEWAY.upstreams) == {*SERVICES, "public"}
    assert GATEWAY.listen == ["8080"]
    assert services["gateway"]["spec"]["ports"][0]["port"] == 8080
