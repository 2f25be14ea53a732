"""The demo city is written by the real deciders: every history is one the services could have made."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

from pydantic import SecretStr

from contracts.registry import read_event
from services.common.catalogue import load_city
from services.common.settings import REPO_ROOT
from services.lifecycle.policy import Policy
from zaiban.demo import PRODUCER, REFERENCE_CASE, generate

CITY = load_city(REPO_ROOT / "deploy" / "config")
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def test_the_demo_has_cases_in_every_state_and_the_reference_case() -> None:
    chronicle = generate(Policy(city=CITY), SecretStr("s"), now=NOW, cases=300)
    states = Counter(case.require_facts().status.value for case in chronicle.cases.values())
    assert len(chronicle.cases) > 280
    assert {"submitted", "routed", "acknowledged", "resolved", "closed", "rejected", "merged",
            "awaiting_dispatch"} <= set(states) | {"submitted", "routed"}
    assert states["closed"] > 50 and states["acknowledged"] > 20
    by_case = defaultdict(list)
    for envelope in chronicle.envelopes:
        read_event(envelope)
        assert envelope.producer == PRODUCER and envelope.occurred_at <= NOW
        by_case[envelope.case_id].append(envelope.seq)
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_case.values())

    reference = [e.type for e in chronicle.envelopes if e.case_id == REFERENCE_CASE]
    assert reference == ["CaseSubmitted", "CaseAccepted", "ReporterAssigned", "SiteVisited",
                         "CaseRouted", "CaseAcknowledged", "StoryPublished", "CaseResolved",
                         "SiteVisited", "FeedbackGiven", "CaseClosed"]


def test_the_same_seed_gives_the_same_city() -> None:
    one = generate(Policy(city=CITY), SecretStr("s"), now=NOW, cases=50)
    two = generate(Policy(city=CITY), SecretStr("s"), now=NOW, cases=50)
    assert [e.event_id for e in one.envelopes] == [e.event_id for e in two.envelopes]
