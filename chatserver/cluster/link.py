"""The node's link to Redis: the clients, whether it is up, and getting it back with backoff.

Every Redis call of the cluster goes through a ``Link``. A call that fails
for want of Redis (refused, reset, timed out) marks the link down and raises
``ClusterUnavailable``; the link's own thread then pings Redis with a growing
pause until it answers, and calls ``on_up`` (which checks whether Redis kept
its data). ``on_down`` and ``on_up`` are how the node tells its users.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.parse
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chatserver.backends.records import Unavailable
from common.threads import stop_signals_blocked

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2.0  # seconds to open a connection to Redis
CALL_TIMEOUT = 5.0  # seconds for any one call but the blocking read's
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0  # seconds between attempts to reach a lost Redis

#: What a lost or refusing Redis raises in redis-py.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)


class ClusterUnavailable(Unavailable):
    """Redis cannot be reached: nothing that needs it can be done now."""


class BadClusterURL(ValueError):
    pass


def check_url(url: str) -> str:
    """``url`` if it names a Redis (``redis://`` or ``rediss://``), else ``BadClusterURL``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise BadClusterURL(f"not a Redis address: {url!r} (expected redis://HOST:PORT[/DB] or rediss://...)")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise ValueError(db)
    except ValueError:
        raise BadClusterURL(f"not a Redis address: {url!r} (the port and the database must be numbers)") from None
    return url


def shown(url: str) -> str:
    """``url`` without its password, for logs and the start line."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/0", "", ""))


class Link:
    def __init__(self, url: str, *, password: str | None = None) -> None:
        password = password if password is not None else os.environ.get("REDIS_PASSWORD") or None
        # No retries (redis-py's default is ten, with backoff): a lost Redis is the
        # link's to wait for, and a retried append could be applied twice.
        common = {
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "health_check_interval": 0,
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 0),
        }
        extra = {} if urllib.parse.urlsplit(url).password or password is None else {"password": password}
        #: For every call but the blocking read (a pool: safe from any thread).
        self.redis = redis.Redis.from_url(url, socket_timeout=CALL_TIMEOUT, **common, **extra)
        #: For the reader's blocking XREAD alone: its timeout outlasts the block.
        self.blocking = redis.Redis.from_url(url, socket_timeout=CALL_TIMEOUT + 5, **common, **extra)
        self.url = url
        self.up = True
        #: How many times the link has gone down (counted as ``up`` turns false): tells one outage from the next.
        self.outages = 0
        self.on_down: Callable[[], None] = lambda: None
        self.on_up: Callable[[], None] = lambda: None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = False
        self._reached = False  # a call has succeeded
        self._thread: threading.Thread | None = None

    def call(self, fn: Callable[[redis.Redis], object]) -> object:
        """``fn(redis)``; ``ClusterUnavailable`` (and the link marked down) if Redis cannot be reached."""
        if not self.up:
            raise ClusterUnavailable("the cluster's Redis cannot be reached")
        try:
            result = fn(self.redis)
            self._reached = True
            return result
        except REDIS_DOWN as exc:
            self.lost(exc)
            raise ClusterUnavailable(f"the cluster's Redis cannot be reached: {exc}") from exc
        except redis.ResponseError as exc:  # refused (out of memory, read-only, a bad id): not done, not lost
            log.warning("the cluster's Redis refused: %s", exc)
            raise ClusterUnavailable(f"the cluster's Redis refused: {exc}") from None

    def kept(self, key: str, value: str) -> str:
        """The value of ``key``, made ``value`` first if Redis has none (the first node's wins)."""
        self.call(lambda r: r.set(key, value, nx=True))
        return self.call(lambda r: r.get(key))  # type: ignore[return-value]

    def lost(self, exc: BaseException) -> None:
        """A call found Redis gone: tell the node once, and start trying to get it back."""
        with self._lock:
            if not self.up or self._stopping:
                return
            self.outages += 1  # (before ``up`` turns false: whoever sees it down sees this outage counted)
            self.up = False
            self._changed.notify_all()
        if self._reached:  # (never reached at all: the caller says so)
            log.warning("lost the cluster's Redis at %s: %s", shown(self.url), exc)
        with stop_signals_blocked():
            self._thread = threading.Thread(target=self._reconnect, name="redis-reconnect", daemon=True)
            self._thread.start()

    def wait_up(self, timeout: float) -> bool:
        """Wait until the link is up (or stopping), at most ``timeout`` s."""
        with self._lock:
            return self._changed.wait_for(lambda: self.up or self._stopping, timeout)

    def _reconnect(self) -> None:
        self.on_down()  # (here, not in the thread that found it lost: that one may hold any lock)
        pause = BACKOFF_FIRST
        while True:
            with self._lock:
                if self._changed.wait_for(lambda: self._stopping, pause):
                    return
            try:
                self.redis.ping()
                self.blocking.connection_pool.disconnect()  # (its connections are to the lost server)
            except REDIS_DOWN:
                pause = min(pause * 2, BACKOFF_MAX)
                continue
            except redis.RedisError as exc:  # e.g. a wrong password after Redis came back
                log.warning("the cluster's Redis answers but refuses: %s", exc)
                pause = BACKOFF_MAX
                continue
            log.warning("the cluster's Redis at %s is back", shown(self.url))
            with self._lock:
                self.up = True
                self._changed.notify_all()
            self.on_up()
            return

    def close(self) -> None:
        with self._lock:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.redis.close()
        self.blocking.close()
