"""Secrets: compared in constant time, read from the environment, never in the repository."""

from __future__ import annotations

import ast
import hmac
import re
import subprocess
from pathlib import Path

import pytest
from helpers import TEST_SECRET

from contracts.facts import Role
from services.common import auth
from services.common.auth import issue_token, verify_token
from services.common.settings import CommonSettings
from services.lifecycle.codes import hash_tracking_code, tracking_code_for, tracking_code_matches

ROOT = Path(__file__).resolve().parents[2]
CODE = ("services", "contracts", "zaiban")

# --- constant time -------------------------------------------------------------------

SECRET_NAMES = re.compile(
    r"secret|token|signature|tracking_code|code_hash|api_key|password|digest|\bmac\b", re.I)
NOT_SECRETS = {
    ("services/common/auth.py", "parts[0] != TOKEN_PREFIX"),  # the token format's marker
    ("services/intake/media.py", "head[offset:offset + len(signature)] == signature"),  # magic
    ("zaiban/infra/kafka.py", "stamp.read_text().strip() == digest"),  # a build stamp
    ("services/common/keys.py", "len(secret) != KEY_BYTES"),  # a key's length, not its bytes
    # a token's id is printed and recorded like a serial number, and looked up only once the
    # token's signature held
    ("services/common/revocations.py", "token_id in self.tokens"),
}
"""Comparisons whose names sound secret but whose values are not."""


def comparisons_of_secrets(path: Path) -> list[str]:
    """`==`, `!=`, `in` comparisons that involve a secret-sounding name (not `is None`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
            continue
        names = [n.id if isinstance(n, ast.Name) else n.attr
                 for side in (node.left, *node.comparators) for n in ast.walk(side)
                 if isinstance(n, ast.Name | ast.Attribute)]
        if any(SECRET_NAMES.search(name) for name in names):
            found.append(ast.unparse(node))
    return found


def test_no_secret_is_compared_with_an_ordinary_comparison() -> None:
    offenders = []
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            offenders += [f"{relative}: {expr}" for expr in comparisons_of_secrets(path)
                          if (relative, expr) not in NOT_SECRETS]
    assert not offenders, ("compare secrets with hmac.compare_digest (or tracking_code_matches):"
                           "\n" + "\n".join(offenders))


def test_the_scan_would_find_a_plain_comparison(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def ok(given, case):\n    return given == case.tracking_code_hash\n")
    assert comparisons_of_secrets(sample) == ["given == case.tracking_code_hash"]


def test_tokens_and_tracking_codes_are_checked_with_compare_digest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    compare_digest = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    token = issue_token(TEST_SECRET, "officer-li", Role.OFFICER)
    assert verify_token(TEST_SECRET, token).subject == "officer-li"
    assert len(calls) == 1  # the signature

    code = tracking_code_for(TEST_SECRET, "ZB261006-AAAA-0001")
    assert tracking_code_matches(code.lower().replace("-", " "), hash_tracking_code(code))
    assert not tracking_code_matches(tracking_code_for(TEST_SECRET, "ZB261006-AAAA-0002"),
                                     hash_tracking_code(code))
    assert len(calls) == 3

    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(auth.BadToken):
        verify_token(TEST_SECRET, forged)
    assert len(calls) == 4


# --- from the environment, not the repository --------------------------------------------


def test_the_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    value = "from-the-environment-" + "k3Jq9" * 6
    monkeypatch.setenv("ZAIBAN_AUTH_SECRET", value)
    settings = CommonSettings(environment="production")
    assert settings.secret().get_secret_value() == value
    assert value not in repr(settings) and value not in settings.model_dump_json()

    monkeypatch.delenv("ZAIBAN_AUTH_SECRET")
    with pytest.raises(RuntimeError, match="ZAIBAN_AUTH_SECRET must be set"):
        CommonSettings(environment="production").secret()


def repository_files() -> list[Path]:
    """What is or would be committed: tracked files and untracked ones not ignored."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                             "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name]


TOKEN_LIKE = re.compile(r"zb1\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{20,}")
SECRET_LITERAL = re.compile(
    r"""(?i)auth[_-]?secret\s*[=:]\s*(?:SecretStr\(\s*)?["']([^"'$\s{][^"']*)["']""")
SECRET_IN_ENV = re.compile(
    r"""(?m)(?<![{\w])ZAIBAN_AUTH_SECRET\s*[=:]\s*["']?([^\s"'$<{#?.][^\s"']*)""")
PRIVATE_KEY = re.compile("-----BEGIN [A-Z ]*" + "PRIVATE KEY-----")


def test_no_committed_file_holds_a_secret() -> None:
    files = repository_files()
    assert files, "git ls-files listed nothing"
    test_value = TEST_SECRET.get_secret_value()
    found = []
    for path in files:
        if not path.is_file():
            continue  # deleted in the work tree
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images and other binaries
        relative = path.relative_to(ROOT).as_posix()
        patterns = [(TOKEN_LIKE, "a signed token"), (PRIVATE_KEY, "a private key")]
        if not relative.startswith("tests/"):  # tests may hold their own constants
            patterns += [(SECRET_LITERAL, "an auth secret"), (SECRET_IN_ENV, "ZAIBAN_AUTH_SECRET")]
            if test_value in text:
                found.append(f"{relative}: the tests' secret, outside the tests")
        found += [f"{relative}: {what}: {match.group(0)[:60]}"
                  for pattern, what in patterns for match in pattern.finditer(text)]
    assert not found, "secrets belong in the environment:\n" + "\n".join(found)
    names = {path.relative_to(ROOT).as_posix() for path in files}
    assert not any(name.startswith(".zaiban/") for name in names)  # the local secret's home


def test_the_scan_recognises_secrets() -> None:
    token = issue_token(TEST_SECRET, "someone", Role.ADMIN)
    assert TOKEN_LIKE.search(f"curl -H 'Authorization: Bearer {token}'")
    assert SECRET_LITERAL.search('auth_secret="s3cr3t-value"')
    assert SECRET_LITERAL.search("auth_secret=SecretStr('s3cr3t-value')")
    assert not SECRET_LITERAL.search("auth_secret=TEST_SECRET")
    assert SECRET_IN_ENV.search("ZAIBAN_AUTH_SECRET=s3cr3t-value")
    assert SECRET_IN_ENV.search("  ZAIBAN_AUTH_SECRET: 's3cr3t-value'")
    assert not SECRET_IN_ENV.search("ZAIBAN_AUTH_SECRET: ${ZAIBAN_AUTH_SECRET:?set it}")
    assert not SECRET_IN_ENV.search("ZAIBAN_AUTH_SECRET=<generate one>")
    assert not SECRET_IN_ENV.search("docker run -e ZAIBAN_AUTH_SECRET=... zaiban")
