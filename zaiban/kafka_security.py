"""Kafka's users and ACLs, from Python: what `kafka-configs --alter --add-config SCRAM-SHA-512=...`
and `kafka-acls` do, without Java (the zaiban image has none, and the topics job runs in it).

aiokafka's admin client has no method for either, but speaks the protocol: its protocol module
has the ACL requests (CreateAcls, DescribeAcls, DeleteAcls, one binding each) and the types to
write the SCRAM ones (KIP-554: DescribeUserScramCredentials, AlterUserScramCredentials, flexible
versions). The requests below carry many bindings or users at once, and go through the admin
client's own connection (`AIOKafkaAdminClient._client.send`, as its own methods do); the broker
forwards them to the controller, which checks that the caller may (the super user may). The
controller answers once the change is in the metadata log; a broker applies it a moment later,
so each change returns only once the broker shows it (the describe requests are the broker's).

`SecurityAdmin` is the reusable part: `ensure_user(name, password)`, `delete_user`, `users`,
`grant(acls)`, `revoke(filters)`, `acls(filter)`. A password never travels: the salted password
is computed here (RFC 5802, PBKDF2-HMAC-SHA-512), as Kafka's own tools do.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from types import TracebackType
from typing import Any, ClassVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)


class ResourceType(IntEnum):
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class PatternType(IntEnum):
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


class Permission(IntEnum):
    ANY = 1
    DENY = 2
    ALLOW = 3


class ScramMechanism(IntEnum):
    SCRAM_SHA_256 = 1
    SCRAM_SHA_512 = 2

    @property
    def hash_name(self) -> str:
        return "sha256" if self is ScramMechanism.SCRAM_SHA_256 else "sha512"

    @classmethod
    def named(cls, name: str) -> ScramMechanism:
        return cls[name.upper().replace("-", "_")]


CLUSTER = "kafka-cluster"
"""The one name a CLUSTER resource has."""

RESOURCE_NOT_FOUND = 91  # DescribeUserScramCredentials: no such user (not in aiokafka.errors)


@dataclass(frozen=True, order=True)
class Acl:
    """One ACL binding: `principal` may (or may not) do `operation` on the resource."""

    principal: str  # "User:zaiban-intake"
    resource: ResourceType
    name: str
    pattern: PatternType
    operation: Operation
    permission: Permission = Permission.ALLOW
    host: str = "*"

    def __str__(self) -> str:
        pattern = "" if self.pattern is PatternType.LITERAL else f" ({self.pattern.name.lower()})"
        allow = "" if self.permission is Permission.ALLOW else f" {self.permission.name}"
        return (f"{self.principal} {self.operation.name}{allow} "
                f"{self.resource.name.lower()} {self.name}{pattern}")


@dataclass(frozen=True)
class AclFilter:
    """Which bindings to describe or delete; None matches anything (Kafka's ANY)."""

    principal: str | None = None
    resource: ResourceType = ResourceType.ANY
    name: str | None = None
    pattern: PatternType = PatternType.ANY
    operation: Operation = Operation.ANY
    permission: Permission = Permission.ANY
    host: str | None = None

    @classmethod
    def exactly(cls, acl: Acl) -> AclFilter:
        return cls(acl.principal, acl.resource, acl.name, acl.pattern, acl.operation,
                   acl.permission, acl.host)

    def fields(self) -> tuple[Any, ...]:
        return (int(self.resource), self.name, int(self.pattern), self.principal, self.host,
                int(self.operation), int(self.permission))


def user(name: str) -> str:
    """The principal of a SCRAM user, as ACLs name it."""
    return f"User:{name}"


class SecurityError(RuntimeError):
    """The broker refused a change of users or ACLs; the message says which and why."""


def _raise_for(error_code: int, message: str | None, what: str) -> None:
    if error_code:
        error = for_code(error_code)
        raise SecurityError(f"{what}: {error.__name__} {message or error.description}")


# ---- the SCRAM requests (KIP-554), flexible versions: compact types and tagged fields -------


def _per_user(*fields: tuple[str, Any]) -> CompactArray:
    """The answer for each user: its name, error, `fields`."""
    return CompactArray(("user", CompactString("utf-8")), ("error_code", Int16),
                        ("error_message", CompactString("utf-8")), *fields,
                        ("tags", TaggedFields))


class DescribeUserScramCredentialsResponse_v0(Response):
    API_KEY = 50
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", CompactString("utf-8")),
        ("results", _per_user(("credential_infos", CompactArray(
            ("mechanism", Int8), ("iterations", Int32), ("tags", TaggedFields))))),
        ("tags", TaggedFields),
    )


class DescribeUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 50
    API_VERSION = 0
    RESPONSE_TYPE = DescribeUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("users", CompactArray(("name", CompactString("utf-8")), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class DescribeUserScramCredentials(Request[DescribeUserScramCredentialsRequest_v0]):
    API_KEY = 50

    def __init__(self, users: Sequence[str] | None) -> None:
        self.users = users

    def build(self, request_struct_class: type[DescribeUserScramCredentialsRequest_v0]
              ) -> DescribeUserScramCredentialsRequest_v0:
        users: list[tuple[str, dict[int, bytes]]] | None = (
            None if self.users is None else [(name, {}) for name in self.users])
        return request_struct_class(users, {})


class AlterUserScramCredentialsResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", _per_user()),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(
            ("name", CompactString("utf-8")),
            ("mechanism", Int8),
            ("tags", TaggedFields))),
        ("upsertions", CompactArray(
            ("name", CompactString("utf-8")),
            ("mechanism", Int8),
            ("iterations", Int32),
            ("salt", CompactBytes),
            ("salted_password", CompactBytes),
            ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


@dataclass(frozen=True)
class Upsertion:
    name: str
    mechanism: ScramMechanism
    iterations: int
    salt: bytes
    salted_password: bytes


class AlterUserScramCredentials(Request[AlterUserScramCredentialsRequest_v0]):
    API_KEY = 51

    def __init__(self, upsertions: Sequence[Upsertion] = (),
                 deletions: Sequence[tuple[str, ScramMechanism]] = ()) -> None:
        self.upsertions = upsertions
        self.deletions = deletions

    def build(self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]
              ) -> AlterUserScramCredentialsRequest_v0:
        return request_struct_class(
            [(name, int(mechanism), {}) for name, mechanism in self.deletions],
            [(u.name, int(u.mechanism), u.iterations, u.salt, u.salted_password, {})
             for u in self.upsertions],
            {})


def salted_password(password: str, salt: bytes, iterations: int,
                    mechanism: ScramMechanism = ScramMechanism.SCRAM_SHA_512) -> bytes:
    """RFC 5802's Hi(password, salt, i): PBKDF2 with HMAC of the mechanism's hash, as long as
    the hash (what Kafka keeps, with the salt, to derive the stored and server keys)."""
    return hashlib.pbkdf2_hmac(mechanism.hash_name, password.encode("utf-8"), salt, iterations)


# ---- the ACL requests: aiokafka's version 1 structs, many bindings per request --------------


class CreateAcls(Request[CreateAclsRequest_v1]):
    API_KEY = 30

    def __init__(self, acls: Sequence[Acl]) -> None:
        self.acls = acls

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class([
            (int(a.resource), a.name, int(a.pattern), a.principal, a.host, int(a.operation),
             int(a.permission)) for a in self.acls])


class DescribeAcls(Request[DescribeAclsRequest_v1]):
    API_KEY = 29

    def __init__(self, where: AclFilter) -> None:
        self.where = where

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]
              ) -> DescribeAclsRequest_v1:
        return request_struct_class(*self.where.fields())


class DeleteAcls(Request[DeleteAclsRequest_v1]):
    API_KEY = 31

    def __init__(self, filters: Sequence[AclFilter]) -> None:
        self.filters = filters

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class([f.fields() for f in self.filters])


# ---- the admin ------------------------------------------------------------------------------


async def shown(done: Callable[[], Awaitable[bool]], within_s: float) -> bool:
    """Whether the broker shows, within `within_s`, a change its controller has made
    (`done()` true once it does): the controller answers before the broker has it."""
    deadline = time.monotonic() + within_s
    while not await done():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


class SecurityAdmin:
    """Users and ACLs of one cluster, through an admin client logged in as the super user.

        async with SecurityAdmin(**kafka_options(settings, ADMIN), bootstrap_servers=...) as sec:
            await sec.ensure_user("dept-water-co", password)
            await sec.grant([Acl(user("dept-water-co"), ResourceType.TOPIC, ...)])
    """

    ITERATIONS: ClassVar[int] = 8192  # Kafka accepts 4096..16384 for SCRAM-SHA-512
    SETTLE_S: ClassVar[float] = 15.0

    def __init__(self, **client_options: Any) -> None:
        client_options.setdefault("request_timeout_ms", 15_000)
        self.admin = AIOKafkaAdminClient(**client_options)

    async def __aenter__(self) -> SecurityAdmin:
        await self.admin.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.admin.close()

    async def _send(self, request: Request[Any]) -> Any:
        client = self.admin._client
        return await client.send(client.get_random_node(), request)

    async def _settled(self, done: Callable[[], Awaitable[bool]], what: str) -> None:
        """Wait until the broker shows a change the controller has made (`done()` is true)."""
        if not await shown(done, self.SETTLE_S):
            raise SecurityError(f"{what}: made, but the broker does not show it after "
                                f"{self.SETTLE_S:g}s")

    # -- users --

    async def users(self, names: Sequence[str] | None = None) -> dict[str, list[str]]:
        """Each user that has SCRAM credentials (of `names`, or all): its mechanisms."""
        response = await self._send(DescribeUserScramCredentials(names))
        _raise_for(response.error_code, response.error_message, "describing SCRAM users")
        found: dict[str, list[str]] = {}
        for name, code, message, infos, _ in response.results:
            if code == RESOURCE_NOT_FOUND:
                continue
            _raise_for(code, message, f"describing SCRAM user {name}")
            found[name] = [ScramMechanism(m).name.replace("_", "-") for m, _, _ in infos]
        return found

    async def ensure_users(self, passwords: dict[str, str],
                           mechanism: ScramMechanism = ScramMechanism.SCRAM_SHA_512) -> None:
        """Each user exists with this password (set again, with a new salt, if it did):
        one request for all of them. Connections already made are not affected."""
        if not passwords:
            return
        upsertions = []
        for name, password in passwords.items():
            salt = secrets.token_bytes(32)
            upsertions.append(Upsertion(name, mechanism, self.ITERATIONS, salt,
                                        salted_password(password, salt, self.ITERATIONS,
                                                        mechanism)))
        response = await self._send(AlterUserScramCredentials(upsertions))
        for name, code, message, _ in response.results:
            _raise_for(code, message, f"setting the SCRAM credential of {name}")

        async def known() -> bool:
            return set(passwords) <= set(await self.users(list(passwords)))

        await self._settled(known, f"the SCRAM credentials of {', '.join(sorted(passwords))}")

    async def ensure_user(self, name: str, password: str,
                          mechanism: ScramMechanism = ScramMechanism.SCRAM_SHA_512) -> None:
        await self.ensure_users({name: password}, mechanism)

    async def delete_user(self, name: str,
                          mechanism: ScramMechanism = ScramMechanism.SCRAM_SHA_512) -> bool:
        """Remove the user's credential (its open connections live on until they close);
        False if it had none."""
        if name not in await self.users([name]):
            return False
        response = await self._send(AlterUserScramCredentials(deletions=[(name, mechanism)]))
        for user_name, code, message, _ in response.results:
            _raise_for(code, message, f"deleting the SCRAM credential of {user_name}")

        async def gone() -> bool:
            return name not in await self.users([name])

        await self._settled(gone, f"deleting the SCRAM credential of {name}")
        return True

    # -- ACLs --

    async def acls(self, where: AclFilter | None = None) -> list[Acl]:
        """The bindings matching `where` (all of them by default), sorted."""
        response = await self._send(DescribeAcls(where or AclFilter()))
        _raise_for(response.error_code, response.error_message, "describing ACLs")
        return sorted(
            Acl(principal, ResourceType(kind), name, PatternType(pattern), Operation(operation),
                Permission(permission), host)
            for kind, name, pattern, bindings in response.resources
            for principal, host, operation, permission in bindings)

    async def grant(self, acls: Iterable[Acl]) -> None:
        """Create the bindings (one request for all; a binding that exists is left as is)."""
        wanted = list(dict.fromkeys(acls))
        if not wanted:
            return
        response = await self._send(CreateAcls(wanted))
        for acl, (code, message) in zip(wanted, response.creation_responses, strict=True):
            _raise_for(code, message, f"granting {acl}")

        async def held() -> bool:
            return set(wanted) <= set(await self.acls(_covering(wanted)))

        await self._settled(held, f"granting {len(wanted)} ACLs")

    async def revoke(self, filters: Iterable[AclFilter | Acl]) -> list[Acl]:
        """Delete every binding matching one of `filters` (an `Acl` matches itself); returns
        what was deleted."""
        wanted = [AclFilter.exactly(f) if isinstance(f, Acl) else f for f in filters]
        if not wanted:
            return []
        response = await self._send(DeleteAcls(wanted))
        deleted: list[Acl] = []
        for code, message, matching in response.filter_responses:
            _raise_for(code, message, "revoking ACLs")
            for m_code, m_message, kind, name, pattern, principal, host, operation, permission \
                    in matching:
                _raise_for(m_code, m_message, f"revoking an ACL on {name}")
                deleted.append(Acl(principal, ResourceType(kind), name, PatternType(pattern),
                                   Operation(operation), Permission(permission), host))

        async def gone() -> bool:
            return not set(deleted) & set(await self.acls(_covering(deleted)))

        if deleted:
            await self._settled(gone, f"revoking {len(deleted)} ACLs")
        return sorted(deleted)


def _covering(acls: Sequence[Acl]) -> AclFilter:
    """One filter that matches all of `acls` (narrowed to their principal when they share it)."""
    principals = {acl.principal for acl in acls}
    return AclFilter(principal=principals.pop() if len(principals) == 1 else None)
