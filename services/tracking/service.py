"""The tracking service, wired: the case event log in, timelines out.

It reads the case event log as consumer group `<prefix>zaiban-tracking`
(partitions spread over N instances), folds each batch into one document per
case (`store.py` around the pure `timeline.apply`), wakes this process's live
streams, and serves the routes of `api.py`. `replay.py` rebuilds the read
model from offset 0.

It records staff reads of residents' personal data on the audit topic, and reads
that topic back as `<prefix>zaiban-tracking-audit` into the admins' list
(`audit.py`). Admins take staff access back through it too (`POST
/api/admin/tokens/revoke`, onto the revocations topic every instance reads).

Every instance answers every list from the rows of all the cases, kept in memory and current
from the log (`services/common/rowfollower.py`); it is ready once they are loaded.

It serves the public Atom feeds of new and resolved cases (`/feeds/...`, `feeds.py`), and
the public case list as open data (`/open-data/cases.csv`, `open_data.py`).
"""

from __future__ import annotations

import asyncio

from aiokafka import ConsumerRecord
from pydantic import TypeAdapter

from contracts.audit import PersonalDataRead
from contracts.topics import Topics
from services.common import collector
from services.common.bus import (
    RETRY_PAUSE_S,
    Delivery,
    described,
    read_as,
    typed,
)
from services.common.clock import Clock
from services.common.keys import key_store
from services.common.logging import bound, get_logger
from services.common.runtime import ServiceRuntime
from services.common.store import ensure_collections, report_failure
from services.tracking.api import (
    install_audit_routes,
    install_revocation_routes,
    install_routes,
)
from services.tracking.audit import AUDIT_COLLECTION, AuditReads, StaffReads
from services.tracking.feed_routes import install_feed_routes
from services.tracking.live import Signals
from services.tracking.map_routes import install_map_routes
from services.tracking.open311.routes import routes as open311_routes
from services.tracking.open_data import install_open_data_routes
from services.tracking.settings import TrackingSettings
from services.tracking.store import CODES_COLLECTION, COLLECTION, TimelineStore, case_rows

log = get_logger("zaiban.tracking")

READ_AUDIT: TypeAdapter[PersonalDataRead] = TypeAdapter(PersonalDataRead)


class TrackingService(ServiceRuntime[TrackingSettings]):
    name = "tracking"

    def __init__(self, settings: TrackingSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self.store = TimelineStore(self.db[COLLECTION], kept_views=settings.tracking_kept_views)
        self.signals = Signals()
        self.read_case_events(self.project, title="tracking: case timelines",
                              max_records=settings.tracking_batch_max)
        self.reads = AuditReads(self.db[AUDIT_COLLECTION])
        self.broker.subscriber(self.topics.audit, group_id=f"{self.group_id}-audit",
                               auto_offset_reset="earliest",
                               title="tracking: the audit trail, for admins to list",
                               description=described(Topics.audit),
                               decoder=read_as(READ_AUDIT, self.dead_letters))(
            typed(self.keep_read))
        install_map_routes(self.router, store=self.store, city=self.city, tokens=self.tokens)
        install_routes(self.router, store=self.store, city=self.city, settings=self.settings,
                       signals=self.signals, keys=key_store(self.mongo, settings),
                       audit=StaffReads(self.audit, self.clock), tokens=self.tokens,
                       clock=self.clock)
        install_audit_routes(self.router, reads=self.reads, tokens=self.tokens)
        install_revocation_routes(self.router, tokens=self.tokens, log=self.revocation_log)
        install_feed_routes(self.router, store=self.store, city=self.city,
                            cache_s=settings.tracking_feed_cache_s)
        install_open_data_routes(self.router, store=self.store, city=self.city)
        self.router.include_router(open311_routes(store=self.store, city=self.city,
                                                  settings=self.settings, clock=self.clock))

    async def on_start(self) -> None:
        collector.for_folding()  # this process folds the log (`collector.py`)
        await ensure_collections(self.db, [COLLECTION, CODES_COLLECTION])
        await self.reads.ensure_indexes()
        # the lists: every case's row, before this instance says it is ready
        self.store.follow(await self.follow_rows(case_rows(), self.store.collection,
                                                 written_by_projection=True))

    async def keep_read(self, read: PersonalDataRead) -> None:
        """A read on the audit topic, into the admins' list (once, however often delivered)."""
        try:
            await self.reads.add(read)
        except Exception as error:
            with bound(case_id=read.case_id, correlation_id=read.correlation_id):
                report_failure(log, "audit_read_failed_will_retry", error,
                               read_id=str(read.read_id))
            await asyncio.sleep(RETRY_PAUSE_S)
            raise

    async def project(self, deliveries: list[Delivery]) -> None:
        projected = await self.store.project([d.envelope for d in deliveries])
        self.signals.notify(projected.changed)
        if projected.failed:
            where = {d.envelope.event_id: d for d in deliveries}
            for envelope, reason in projected.failed:
                with bound(case_id=envelope.case_id, event_id=str(envelope.event_id),
                           correlation_id=envelope.correlation_id):
                    log.error("projection_failed", type=envelope.type, seq=envelope.seq,
                              reason=reason)
                await self.dead_letters.put(as_record(where[envelope.event_id]), reason)
        log.debug("projected", events=len(deliveries), cases=len(projected.changed))


def as_record(delivery: Delivery) -> ConsumerRecord[bytes, bytes]:
    """The log record a delivery came from, as the dead-letter topic describes it."""
    value = delivery.envelope.to_bytes()
    key = delivery.envelope.key()
    return ConsumerRecord(topic=delivery.topic, partition=delivery.partition,
                          offset=delivery.offset, timestamp=0, timestamp_type=0, key=key,
                          value=value, checksum=None, serialized_key_size=len(key),
                          serialized_value_size=len(value), headers=())
