"""The network between the services and their broker and store, made bad on purpose: each
service reaches both through proxies of its own (Toxiproxy), whose links are slowed, cut or
black-holed while the clients drive cases.

The store is easy: a proxy to its port, and the service's ZAIBAN_MONGO_URL points at it. The
broker is not: a Kafka client bootstraps from the address it is given, then connects to the
address the broker ADVERTISES, which would bypass a proxy in front of the bootstrap port. So
the run's broker gets one extra listener per proxied service (`StackSettings.
proxied_listeners`), advertised at that service's proxy port: everything the service says to
the broker, bootstrap and after, goes through its proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from services.common.settings import CommonSettings
from zaiban.chaos.run import Prepared, Stack
from zaiban.infra import KAFKA_COMPONENT, StackSettings
from zaiban.infra.processes import free_port
from zaiban.infra.toxiproxy import Stream, Toxiproxy, running_toxiproxy

LINKS = ("broker", "store")
BOTH_WAYS: tuple[Stream, ...] = ("upstream", "downstream")


def proxy_name(service: str, link: str) -> str:
    return f"{service}-{link}"


@dataclass
class Network:
    """Each proxied service's links to the broker and the store, and what can be done to
    them."""

    toxiproxy: Toxiproxy
    services: tuple[str, ...]

    def links(self, service: str | None = None) -> list[str]:
        return [proxy_name(s, link) for s in ([service] if service else self.services)
                for link in LINKS]

    async def slow(self, ms: int, jitter_ms: int) -> None:
        """Every link: each answer of the broker and the store `ms` ± `jitter_ms` later."""
        await asyncio.gather(*(self.toxiproxy.latency(link, ms, jitter_ms)
                               for link in self.links()))

    async def fast(self) -> None:
        await asyncio.gather(*(self.toxiproxy.remove_toxic(link, "latency-downstream")
                               for link in self.links()))

    async def reset(self, link: str, for_s: float) -> None:
        """Every connection of `link` that carries data for `for_s` is reset (TCP RST)."""
        toxic = await self.toxiproxy.reset_peer(link)
        await asyncio.sleep(for_s)
        await self.toxiproxy.remove_toxic(link, toxic)

    async def refuse(self, link: str, for_s: float) -> None:
        """`link`'s connections closed, and new ones refused, for `for_s`."""
        await self.toxiproxy.set_enabled(link, False)
        await asyncio.sleep(for_s)
        await self.toxiproxy.set_enabled(link, True)

    async def partition(self, service: str) -> None:
        """`service` cut off from the broker and the store: connections open (and new ones
        accepted) but every byte dropped, both ways, as when a route is lost; nothing tells
        the service, it must find out by its own timeouts."""
        await asyncio.gather(*(self.toxiproxy.black_hole(link, stream)
                               for link in self.links(service) for stream in BOTH_WAYS))

    async def heal(self, service: str) -> None:
        """The route back: the black-holed connections are closed, new ones go through."""
        await asyncio.gather(*(self.toxiproxy.remove_toxic(link, f"timeout-{stream}")
                               for link in self.links(service) for stream in BOTH_WAYS))


def proxied_listeners(count: int) -> tuple[tuple[int, int], ...]:
    """`count` (broker listener port, proxy port) pairs, free now."""
    return tuple((free_port(), free_port()) for _ in range(count))


@contextlib.asynccontextmanager
async def through_proxies(settings: CommonSettings, stack: Stack,
                          services: tuple[str, ...]) -> AsyncIterator[Prepared]:
    """Toxiproxy, with a broker and a store proxy per service, for the length of the run; the
    fleet's options point each service at its own. A broker without a listener per service
    is restarted with them first (on its data: nothing is lost)."""
    del settings  # the services' topics and databases are the run's; only the links change
    own = stack.own()
    if len(own.proxied_listeners) < len(services):
        await stack.stop(KAFKA_COMPONENT)
        stack.settings = own = replace(own, proxied_listeners=proxied_listeners(len(services)))
        await stack.start(KAFKA_COMPONENT)
    async with running_toxiproxy(own, build_in=StackSettings.from_env()) as toxiproxy:
        host, env = own.host, {}
        for service, (listener, proxy) in zip(services, own.proxied_listeners, strict=False):
            await toxiproxy.create_proxy(proxy_name(service, "broker"), f"{host}:{proxy}",
                                         f"{host}:{listener}")
            store = free_port()
            await toxiproxy.create_proxy(proxy_name(service, "store"), f"{host}:{store}",
                                         f"{host}:{own.store_port}")
            env[service] = {"ZAIBAN_KAFKA_BOOTSTRAP": f"{host}:{proxy}",
                            "ZAIBAN_MONGO_URL": f"mongodb://{host}:{store}/"}
        yield Prepared({"own": env}, Network(toxiproxy, services))
