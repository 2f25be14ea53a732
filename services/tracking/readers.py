"""Which member of staff reads which case, and whether they see the resident's contact
details. Pure: the routes ask it with the caller's `Actor` and the case's view.

Least privilege (issue 13): staff see a resident's name, phone and email only where
their work needs them.

- A department reads the cases it leads or assists (the assisting departments of the
  latest routing, as the lifecycle keeps them for `own_case`), finds them in its staff
  list, and sees their contact details; any other case answers 403 and stays out of
  its list. What it may *do* on a case it assists is the lifecycle's to say
  (`services/lifecycle/access.py`: it may note progress; only the lead department
  acknowledges, returns or resolves).
- A reporter reads every case (the staff list is where stories are found), but sees
  the contact details only on the cases handed to them: the case's reporter (named
  when an officer accepts it, `CaseAccepted.reporter_id`, or later by
  `ReporterAssigned`) is the reporter's staff id, the subject of their token
  (the view keeps it hashed, `timeline.staff_hash`).
- Officers, supervisors and admins read every case with its contact details: they
  triage, call back and supervise.
"""

from __future__ import annotations

from contracts.facts import Actor, Role
from services.tracking.timeline import CaseView, staff_hash


def involved(view: CaseView, department: str | None) -> bool:
    """The department leads the case or assists with it."""
    return department is not None and (
        department == view.facts.department or department in view.assisting)


def may_read(view: CaseView, reader: Actor) -> bool:
    """The member of staff may read the case as staff see it."""
    if reader.role is Role.DEPARTMENT:
        return involved(view, reader.department)
    return True


def sees_contact(view: CaseView, reader: Actor) -> bool:
    """The member of staff, who may read the case, also sees the resident's contact."""
    match reader.role:
        case Role.REPORTER:
            return (view.reporter_hash is not None and reader.staff_id is not None
                    and view.reporter_hash == staff_hash(reader.staff_id))
        case Role.DEPARTMENT:
            return involved(view, reader.department)
    return True
