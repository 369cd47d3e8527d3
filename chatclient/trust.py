"""How the client trusts a TLS server: a CA file, or trust on first use as ssh does with known_hosts.

The first time we meet a server we remember its certificate's SHA-256
fingerprint for its ``host:port``; if it ever presents another one we refuse
loudly with both fingerprints instead of connecting.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable
from pathlib import Path

from common.paths import client_config_dir

from .addresses import address_key as _key


class CertificateChanged(Exception):
    pass


class KnownServers:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or client_config_dir() / "known_servers"

    def _load(self) -> dict[str, str]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return {}
        known = {}
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                known[_key(parts[0])] = parts[1]
        return known

    def knows(self, address: str) -> bool:
        """Was ``address`` reached over TLS before? Then it is never reached
        without (a spoofed LAN announcement saying "no TLS" cannot downgrade it)."""
        return _key(address) in self._load()

    def check(self, address: str, fingerprint: str) -> bool:
        """True if ``address`` is new (now remembered), False if known and matching.

        Raises ``CertificateChanged`` with a full explanation on a mismatch.
        """
        known = self._load().get(_key(address))
        if known is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(f"{address} {fingerprint}\n")
            return True
        if known != fingerprint:
            raise CertificateChanged(
                f"the TLS certificate of {address} has CHANGED.\n"
                f"  remembered: SHA256 {known}\n"
                f"  presented:  SHA256 {fingerprint}\n"
                "Someone may be intercepting the connection, or the server has a new certificate. "
                "Not connecting.\n"
                f"If the change is expected, delete the line for {address} from {self.path}."
            )
        return False


@dataclasses.dataclass(frozen=True)
class TlsOptions:
    """How to check the server: a CA file, or trust on first use."""

    cafile: str | None = None
    known_servers: KnownServers = dataclasses.field(default_factory=KnownServers)
    #: Asked ``(address, fingerprint)`` before a new server is trusted (a
    #: person at a terminal, as ssh asks); ``None`` trusts it (scripts).
    confirm: Callable[[str, str], bool] | None = None

    def context(self) -> ssl.SSLContext:
        if self.cafile:
            ctx = ssl.create_default_context(cafile=self.cafile)
        else:  # checked by fingerprint after the handshake instead
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx
