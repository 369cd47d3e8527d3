"""Advertise a running server on the LAN with mDNS / DNS-SD (``zeroconf``).

The service type is ``_chatserver._tcp.local.``; the TXT record carries the
server's ``name``, protocol ``version`` and whether it needs ``tls`` and a
``password`` ("1"/"0"), and for a node of a cluster (``--cluster``) the
``cluster`` id its nodes share, so clients list them as one server with several
addresses. ``avahi-browse -rt _chatserver._tcp`` shows it.

The chat page, when served, is published beside it under the same instance
name as ``_http._tcp.local.`` (``_https._tcp.local.`` with ``--tls``) with
``path=/``, so browsers and phones that browse Bonjour list it.

Registration (mDNS probing and announcing, about 1.5 s) runs in a background
thread so it never delays the server; ``close`` sends the goodbye and gives
up after a short timeout so shutdown stays quick. Anything that goes wrong
(no multicast, no interface, no ``zeroconf``) is logged as a warning: the
server keeps serving, just unadvertised.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import logging
import socket
import threading
from typing import TYPE_CHECKING

from chatserver.app.netinfo import lan_addresses, service_host
from common.discovery import SERVICE_TYPE
from common.messages import PROTOCOL_VERSION
from common.threads import stop_signals_blocked

if TYPE_CHECKING:
    from chatserver.net.server import ChatServer

log = logging.getLogger(__name__)

_MAX_LABEL = 63  # bytes in one DNS label (the instance name)
WEB_SERVICE_TYPES = {False: "_http._tcp.local.", True: "_https._tcp.local."}  # by TLS
IRC_SERVICE_TYPE = "_irc._tcp.local."  # the IRC port (issue 21), TXT tls=1 when it speaks TLS
_REGISTER_DEADLINE = 20.0  # seconds; probing and announcing take about 1.5 s (3 s if the name is taken)


def should_advertise(bind_host: str) -> bool:
    """False when the server is reachable from this machine only (loopback)."""
    host = (bind_host or "").strip().strip("[]").lower()
    if host in ("", "0.0.0.0", "::"):
        return True
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        addrs = [ipaddress.ip_address(host.split("%", 1)[0])]
    except ValueError:  # a host name: look at what it resolves to
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return False
        addrs = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    return not all(_is_loopback(a) for a in addrs)


def _is_loopback(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def advertised_addresses(bind_host: str) -> list[str]:
    """The addresses to publish for a server bound to ``bind_host``."""
    host = (bind_host or "").strip().strip("[]")
    if host in ("", "0.0.0.0", "::"):
        return [a.strip("[]") for a in lan_addresses(ipv6=host == "::")]
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return []
    mapped = getattr(addr, "ipv4_mapped", None)
    addr = mapped or addr
    return [] if addr.is_loopback else [str(addr)]


def _instance_label(text: str) -> str:
    """``text`` cut to one DNS label (63 bytes of UTF-8), whole characters only."""
    text = " ".join(text.split()).replace(".", "\u2024") or "chatserver"  # no dots in a label
    while len(text.encode()) > _MAX_LABEL:
        text = text[:-1]
    return text


class Advertiser:
    """Publishes one server as ``NAME._chatserver._tcp.local.`` until ``close``.

    ``host`` is the address the server is bound to (``0.0.0.0``/``::`` means
    every LAN address of this machine), ``port`` the port it listens on.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        *,
        tls: bool = False,
        password: bool = False,
        version: int = PROTOCOL_VERSION,
        web_port: int | None = None,
        cluster: str | None = None,
        instance: str | None = None,
        irc_port: int | None = None,
    ) -> None:
        self.name = name
        #: The instance name to ask for: ``name``, or for a cluster's node "NAME (NODE)"
        #: (its nodes must not contend for one name; clients list them as one server).
        self.wanted = instance or name
        #: The id of the cluster this server is a node of (TXT ``cluster``); None: a server alone.
        self.cluster = cluster
        #: The chat page's port, published as a web service too (None: not served).
        self.web_port = web_port
        #: The IRC port, published as ``_irc._tcp`` too (None: not served).
        self.irc_port = irc_port
        self.host = host
        self.port = port
        self.tls = tls
        self.password = password
        self.version = version
        #: The instance name registered (may differ from ``name`` if that was taken).
        self.instance: str | None = None
        #: The chat page's instance name, once registered.
        self.web_instance: str | None = None
        #: Set once registration has finished, successfully or not.
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self._zc = None
        self._future: concurrent.futures.Future | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def for_server(cls, server: ChatServer, web_port: int | None = None, irc_port: int | None = None) -> Advertiser:
        """An advertiser for a started ``ChatServer`` (its name, bound address, TLS, password, cluster)."""
        host, port = server.address
        config = server.config
        return cls(
            config.name,
            host,
            port,
            tls=config.tls_context is not None,
            password=config.password is not None,
            web_port=web_port,
            cluster=server.cluster_id,
            instance=f"{config.name} ({server.cluster_node})" if server.cluster_node else None,
            irc_port=irc_port,
        )

    @property
    def web_type(self) -> str:
        return WEB_SERVICE_TYPES[self.tls]

    def properties(self) -> dict[str, str]:
        props = {
            "name": self.name,
            "version": str(self.version),
            "tls": "1" if self.tls else "0",
            "password": "1" if self.password else "0",
        }
        if self.cluster is not None:
            props["cluster"] = self.cluster
        return props

    def start(self) -> None:
        """Register in the background; returns at once."""
        self._thread = threading.Thread(target=self._register_logged, name="advertise", daemon=True)
        # This thread and zeroconf's (started from it) inherit a mask blocking the
        # stop signals, so the kernel delivers SIGINT/SIGTERM to the main thread,
        # whose wait they must interrupt (as ChatServer.start does for its threads).
        with stop_signals_blocked():
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for registration to finish; True if the service is registered."""
        self.done.wait(timeout)
        return self.instance is not None

    def close(self, timeout: float = 0.5) -> None:
        """Say goodbye on the LAN and stop; never takes much longer than ``timeout``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            zc, self._zc = self._zc, None
            if self._future is not None:
                self._future.cancel()  # still probing: stop at once
        if zc is None:
            return
        closer = threading.Thread(target=self._close_quietly, args=(zc,), name="advertise-close", daemon=True)
        closer.start()
        closer.join(timeout)
        if closer.is_alive():
            log.warning("mDNS: goodbye not finished within %.1f s; leaving it", timeout)

    async def _async_register(self, zc, info, web, irc=None) -> None:  # noqa: ANN001
        """Probe and announce: first as "name"; if taken, "name (host)"; then zeroconf's "-2", "-3"..."""
        from zeroconf import NonUniqueNameException

        try:
            await (await zc.async_register_service(info, allow_name_change=False))
        except NonUniqueNameException:
            alternative = _instance_label(f"{self.name} ({socket.gethostname().split('.')[0]})")
            info.name = f"{alternative}.{SERVICE_TYPE}"
            await (await zc.async_register_service(info, allow_name_change=True))
        if web is not None:  # the page, under the name the chat service got
            web.name = info.name[: -len(SERVICE_TYPE)] + self.web_type
            await (await zc.async_register_service(web, allow_name_change=True))
            self.web_instance = web.name[: -len(self.web_type) - 1]
        if irc is not None:  # the IRC port, under the same name
            irc.name = info.name[: -len(SERVICE_TYPE)] + IRC_SERVICE_TYPE
            await (await zc.async_register_service(irc, allow_name_change=True))

    @staticmethod
    def _close_quietly(zc) -> None:  # noqa: ANN001
        try:
            zc.close()  # sends goodbyes for what is registered, then stops
        except Exception as exc:  # shutting down: report, never raise
            log.debug("mDNS: error while closing: %s", exc)

    def _register_logged(self) -> None:
        try:
            self._register()
        except (Exception, concurrent.futures.CancelledError) as exc:  # optional: warn, never crash
            if not self._closed:
                log.warning("not advertised on the LAN (mDNS): %s", exc)
        finally:
            self.done.set()

    def _register(self) -> None:
        import asyncio  # (here: a server that advertises nothing, on loopback say, starts without it)

        try:
            from zeroconf import IPVersion, ServiceInfo, Zeroconf
        except ImportError:
            raise RuntimeError("the zeroconf package is not installed") from None
        addresses = advertised_addresses(self.host)
        if not addresses:
            raise RuntimeError(f"no LAN address to advertise for {self.host}")
        v4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
        attempts = [(addresses, IPVersion.All if len(v4) < len(addresses) else IPVersion.V4Only)]
        if v4 and len(v4) < len(addresses):
            attempts.append((v4, IPVersion.V4Only))  # IPv6 multicast may not work here
        with self._lock:
            if self._closed:
                return
            error: Exception | None = None
            for interfaces, ip_version in attempts:
                try:
                    self._zc = Zeroconf(interfaces=interfaces, ip_version=ip_version)
                    break
                except (OSError, RuntimeError) as exc:
                    error = exc
            if self._zc is None:
                raise RuntimeError(f"cannot open mDNS sockets: {error}")
            zc = self._zc
        info = ServiceInfo(
            SERVICE_TYPE,
            f"{_instance_label(self.wanted)}.{SERVICE_TYPE}",
            port=self.port,
            properties=self.properties(),
            server=service_host(self.port),
            parsed_addresses=addresses,
        )
        web = None
        if self.web_port is not None:
            web = ServiceInfo(
                self.web_type,
                f"{_instance_label(self.wanted)}.{self.web_type}",
                port=self.web_port,
                properties={"path": "/"},
                server=service_host(self.port),
                parsed_addresses=addresses,
            )
        irc = None
        if self.irc_port is not None:
            irc = ServiceInfo(
                IRC_SERVICE_TYPE,
                f"{_instance_label(self.wanted)}.{IRC_SERVICE_TYPE}",
                port=self.irc_port,
                properties={"tls": "1" if self.tls else "0"},
                server=service_host(self.port),
                parsed_addresses=addresses,
            )
        with self._lock:
            if self._closed:
                return
            # On zeroconf's event loop, so that close() can cancel it halfway.
            self._future = asyncio.run_coroutine_threadsafe(self._async_register(zc, info, web, irc), zc.loop)
        self._future.result(_REGISTER_DEADLINE)
        self.instance = info.name[: -len(SERVICE_TYPE) - 1]
        log.info(
            "advertised on the LAN as %r (mDNS %s) at %s",
            self.instance,
            SERVICE_TYPE,
            ", ".join(addresses),
        )
        if self.web_instance is not None:
            log.info("chat page advertised as %r (mDNS %s)", self.web_instance, self.web_type)
