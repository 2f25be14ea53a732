"""Who records a case's events at each moment: one writer per case. Pure.

Two services record case events, intake and routing, each through a compare-and-set of
its own (its claims, `services/common/casestreams.py`), and the two cannot see each
other's. Were both allowed to decide on the same version of a case, both would record
the next seq: every consumer keeps the first event of a seq and skips the other as a
repeat, so a command whose client was told "recorded" would be lost (an acceptance lost:
the case never routed). So each case has exactly ONE writer at each moment, decided by
where the case stands — its status, which every service reads alike from the log:

| the case                        | its writer | what it records then                         |
| ------------------------------- | ---------- | -------------------------------------------- |
| not submitted yet, or submitted | intake     | the submission; triage (accept, reject,      |
| (awaiting triage)               |            | merge); its triage deadline passing (intake's|
|                                 |            | sweep, `supervision.overdue`); the erasure   |
|                                 |            | of its resident's personal data              |
| triaged: accepted and after,    | routing    | dispatch on acceptance, the departments',    |
| rejected, merged                |            | reporters', supervisors' and the resident's  |
|                                 |            | commands, the other deadline sweeps (first   |
|                                 |            | response, resolution, asking again, closing  |
|                                 |            | unanswered), erasures                        |

The hand-over is one event, the triage decision, recorded by intake. From then on
intake decides nothing more on the case, and routing decides nothing on it before it
has read that decision: a service decides on its own write model, which holds the case
up to the version it decides on, and the writer's version is always the log's — no one
else can have recorded past it. So the writer's compare-and-set is the case's, and
every (case, seq) has one event. A merge records on the duplicate only (`CaseMerged`),
never on the case it joins, so it hands over only the duplicate.

`check_writer` is where it is enforced: every service records through its write model
(`CaseStreams.execute`), which refuses to record what a service that is not the case's
writer decided (`NotTheWriter`, answered 409 naming the writer); the deciders refuse
the same commands first with their own reasons (triage needs a submitted case, every
other command an accepted one, `access.admit`), and each service's deadline sweep looks
only at the cases it writes.

Why by status rather than one compare-and-set shared by both services: the status is
already what every decider checks, so the rule costs no store and no round trip between
the services (each stays the only reader of its own collections), and it names who
may act, where a shared seq would only say who came first.
"""

from __future__ import annotations

from enum import StrEnum

from contracts.facts import CaseStatus
from services.lifecycle.case import Case
from services.lifecycle.errors import NotNow


class Writer(StrEnum):
    """A service that records case events (its name is the envelopes' producer)."""

    INTAKE = "intake"
    ROUTING = "routing"


class NotTheWriter(NotNow):
    """What a service decided on a case it does not write now: nothing is recorded."""


def writer_of(case: Case) -> Writer:
    """Who records `case`'s next events: intake until triage has decided it, then routing."""
    return Writer.INTAKE if case.status in (None, CaseStatus.SUBMITTED) else Writer.ROUTING


def check_writer(case: Case, writer: Writer) -> None:
    """Raise unless `writer` is the one that records `case`'s next events."""
    holder = writer_of(case)
    if holder is writer:
        return
    if holder is Writer.INTAKE:
        raise NotTheWriter(f"case {case.case_id} awaits triage: intake records its events until "
                           f"an officer accepts, rejects or merges it, not {writer.value}")
    status = case.status.value if case.status else "triaged"
    raise NotTheWriter(f"case {case.case_id} is {status}: routing records its events since "
                       f"its triage, not {writer.value}")
