"""A certificate authority of one's own, and the broker's certificate issued by it.

Departments are separate organisations and connect to the broker from outside, over TLS
(SASL_SSL): they must know they talk to the city's broker, and their passwords must not cross
a network in clear. The local stack plays that part with a CA made once by `zaiban infra up`
(`kafka-tls/` under `$ZAIBAN_HOME`); `zaiban topics certificates <folder> --host ...` makes the
same files for a deployment (deploy/: the Secret the broker mounts). The folder holds:

    ca.pem          the CA's certificate: what a department's client trusts (onboarding puts it
                    in the department's configuration)
    ca-key.pem      the CA's private key (mode 0600): it signs the broker's certificates
    broker.p12      the broker's private key and its certificate then the CA's, in a PKCS#12
                    keystore (mode 0600): Kafka's `ssl.keystore.type=PKCS12` (a PEM keystore
                    read from a file needs its key encrypted with PBES1, which `cryptography`
                    does not write; Java 17 reads PKCS#12's PBES2/AES)
    broker.p12-password   the keystore's password (mode 0600): Kafka's
                    `ssl.keystore.password` (the key's too)

The broker's certificate names the hosts departments reach it by (DNS names and IP
addresses); it is issued again when it names other hosts, expires within 30 days, or was
signed by another CA. Keys are ECDSA P-256.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFE = timedelta(days=3650)
BROKER_LIFE = timedelta(days=825)
RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    """The files of a CA and the broker certificate it issued, in one folder."""

    folder: Path
    file_mode: int = 0o600
    """The broker's keystore and its password (the CA's key is 0600 whatever this says): a
    deployment's folder makes them 0644, for the broker's container user to read (the folder,
    0700, keeps the others on the machine out)."""

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca-key.pem"

    @property
    def broker(self) -> Path:
        return self.folder / "broker.p12"

    @property
    def broker_password(self) -> Path:
        return self.folder / "broker.p12-password"

    def ca_pem(self) -> str:
        return self.ca.read_text(encoding="ascii")


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` with `mode` (readable by its owner only by default), whatever the file was."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode)
        out.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "zaiban"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ensure_ca(files: TlsFiles) -> x509.Certificate:
    """The CA's certificate, made now (with its key) if the folder has none."""
    if files.ca.is_file() and files.ca_key.is_file():
        return x509.load_pem_x509_certificate(files.ca.read_bytes())
    files.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = _name("zaiban local CA")
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + CA_LIFE)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(files.ca_key, key.private_bytes(serialization.Encoding.PEM,
                                                   serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    files.ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


def _alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _broker_current(files: TlsFiles, ca: x509.Certificate, hosts: Sequence[str]) -> bool:
    try:
        password = files.broker_password.read_text().strip().encode()
        _key, cert, _chain = pkcs12.load_key_and_certificates(files.broker.read_bytes(), password)
    except (OSError, ValueError):
        return False
    if cert is None:
        return False
    try:
        named = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return (cert.issuer == ca.subject
            and set(named) == set(_alt_names(hosts))
            and cert.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE)


def ensure_broker_certificate(files: TlsFiles, hosts: Sequence[str]) -> Path:
    """The broker's keystore (`broker.p12`), issued now by the folder's CA (made if need be)
    unless a current one names exactly `hosts`."""
    if not hosts:
        raise ValueError("a broker certificate names at least one host")
    ca = ensure_ca(files)
    if _broker_current(files, ca, hosts):
        return files.broker
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.ca_key} is not the ECDSA key this CA was made with")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(hosts[0])).issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + BROKER_LIFE)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    password = secrets.token_urlsafe(24)
    _write_private(files.broker_password, (password + "\n").encode(), files.file_mode)
    _write_private(files.broker, pkcs12.serialize_key_and_certificates(
        b"kafka", key, cert, [ca], serialization.BestAvailableEncryption(password.encode())),
        files.file_mode)
    return files.broker
