"""Topic names. One prefix (empty in production) isolates a deployment or a test."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    @property
    def case_events(self) -> str:
        """The case event log: the source of truth, keyed by case id, kept forever."""
        return f"{self.prefix}zaiban.case-events"

    @property
    def submissions(self) -> str:
        """Submissions published by frontends and channel adapters (`SubmitCase`)."""
        return f"{self.prefix}zaiban.intake.submissions"

    @property
    def receipts(self) -> str:
        """Intake's answers to submissions on the bus (`SubmissionReceipt`), keyed by
        submission id: the case number and the sealed tracking code, or the refusal."""
        return f"{self.prefix}zaiban.intake.receipts"

    @property
    def erasures(self) -> str:
        """Requests to erase a case's personal data (`ErasePersonalData`), keyed by case id."""
        return f"{self.prefix}zaiban.privacy.erasures"

    @property
    def audit(self) -> str:
        """Staff reads of residents' personal data (`PersonalDataRead`), keyed by case id,
        kept forever: who read whose details, when and where."""
        return f"{self.prefix}zaiban.audit.personal-data"

    @property
    def revocations(self) -> str:
        """Staff tokens and Open311 api keys taken back (`TokenRevoked`), keyed by subject,
        kept forever: every instance that checks tokens reads all of it, from the beginning."""
        return f"{self.prefix}zaiban.staff.revocations"

    @property
    def city_config(self) -> str:
        """The city's configuration, changed while running (`CityChanged`): one partition, so
        versions are read in order; kept forever. Every instance of every service reads all
        of it, from the beginning; the last event is the running configuration."""
        return f"{self.prefix}zaiban.config.city"

    def department_cases(self, department: str) -> str:
        """The cases routed to one department, with what it needs to act."""
        return f"{self.prefix}zaiban.routing.department.{department}.cases"

    def department_replies(self, department: str) -> str:
        """One department's replies (`DepartmentReply`), from its own systems. Only that
        department may write it (the broker's ACLs), so a reply's sender is the topic it came
        on: a reply naming another department is refused."""
        return f"{self.prefix}zaiban.routing.department.{department}.replies"

    def dead_letter(self, service: str) -> str:
        """Messages `service` can never process, with the reason."""
        return f"{self.prefix}zaiban.dlq.{service}"
