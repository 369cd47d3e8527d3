"""The server's TLS certificate: given, or made once and kept (self-signed)."""

from __future__ import annotations

import datetime
import os
import socket
import ssl
from pathlib import Path

from common.paths import server_data_dir


def ensure_self_signed(directory: Path | None = None) -> tuple[Path, Path, bool]:
    """Paths of a self-signed certificate and key, made on first use.

    Returns ``(cert, key, created)``. The key is written readable by its owner
    only. The certificate names this host and the loopback addresses.
    """
    directory = directory or server_data_dir()
    cert_path, key_path = directory / "tls-cert.pem", directory / "tls-key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path, False
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname() or "chatserver"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"chatserver on {host}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt = x509.SubjectAlternativeName(
        [
            x509.DNSName(host),
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(alt, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path, True


class CertificateError(ValueError):
    """A certificate or key the server cannot use; the message names the file."""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read the TLS {what} {path}: {exc.strerror or exc}") from None


def _certificates(path: Path) -> list:
    from cryptography import x509

    data = _read(path, "certificate")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateError(f"{path} holds no PEM certificate (--tls-cert)") from None


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context for ``cert``/``key``; ``CertificateError`` says
    which file is unusable and why (OpenSSL alone says "PEM lib")."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    _certificates(cert)
    key_pem = _read(key, "key")
    try:
        serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:  # "password was not given but private key is encrypted"
        raise CertificateError(f"the key {key} is encrypted; give an unencrypted one (readable by you only)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateError(f"{key} holds no usable PEM private key (--tls-key)") from None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise CertificateError(f"the key {key} does not belong to the certificate {cert}") from None
        raise CertificateError(f"cannot use {cert} with {key}: {exc.reason or exc}") from None
    except OSError as exc:  # (changed since we read it)
        raise CertificateError(f"cannot read {cert} or {key}: {exc.strerror or exc}") from None
    return ctx


def cert_der(cert: Path) -> bytes:
    """The server's own certificate (the first in ``cert``), DER-encoded, for its fingerprint."""
    from cryptography.hazmat.primitives import serialization

    return _certificates(cert)[0].public_bytes(serialization.Encoding.DER)
