"""The case lifecycle: what may happen to a case, and what is recorded when it does. Pure.

A case lives from a resident's submission to its closing. Every change is an
event (`contracts/case_events.py`); the case is the fold of its events
(`case.py`: one evolve per event, state and public facts together). Each
command is decided by a pure function — `(case, command, actor, now, policy)
-> events` — that checks who is asking (`access.py`) and where the case
stands, then returns the events to record, or raises a domain error
(`errors.py`: NotFound, NotAllowed, NotNow, Invalid) and nothing is recorded.

One module per part of the life, each opening with what happens when:
- `submitting.py`  a resident submits a request; it is checked against the city;
- `triage.py`      an officer accepts, rejects or merges it;
- `dispatching.py` it is routed to a department: on acceptance, by hand, reassigned;
- `handling.py`    the department acknowledges, notes progress, resolves;
- `returning.py`   the department returns a case that is not theirs;
- `reporting.py`   a reporter follows it: assigned, site visits, stories;
- `supervision.py` a supervisor escalates it, or a deadline passes (triage, first
                   response, resolution: overdue);
- `feedback.py`    the resident answers the resolution, or does not (auto-close);
- `assigning.py`   inside the department, its coordinator gives it to a handler.
Beside them: `policy.py` (dispatch rules and deadlines), `codes.py` (tracking codes),
`ownership.py` (who records a case's events at each moment: intake until triage
decides it, routing from then on — one writer per case, so no two services ever
record the same seq of a case).

Nothing here does I/O or reads settings: the services (`services/intake`,
`services/routing`) load a case, call a decider, and record what it returns.
Only `contracts/`, the city (`services/common/catalogue.py`, its calendar
`services/common/workdays.py`), pydantic and the standard library are imported (`tests/unit/lifecycle/test_purity.py` checks).
"""
