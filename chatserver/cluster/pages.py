"""Where each node of the cluster serves the chat page, kept in Redis, so a page whose node died moves to a living one.

A node with a page says where (``publish``: its page's addresses, as a
browser opens them) in one hash, ``lanchat:pages``, node id -> JSON list.
``others`` answers the page's ``/info``: the addresses of the other nodes
whose lease (``keys.alive``) still holds; the entry of a node found dead is
removed as it is read. The terminal client learns the nodes from the user
or from mDNS; a browser can do neither, so its node tells it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from chatserver.cluster import keys
from chatserver.cluster.link import Link

#: hash node id -> JSON list of the URLs its chat page is served at.
PAGES = keys.PREFIX + "pages"
#: A node says no more addresses than this (a machine's LAN addresses).
MAX_URLS = 8


class PageAddresses:
    """This node's entry, and the other living nodes' addresses."""

    def __init__(self, link: Link, node: str) -> None:
        self._link = link
        self._node = node

    def publish(self, urls: Sequence[str]) -> None:
        self._link.call(lambda r: r.hset(PAGES, self._node, json.dumps(list(urls)[:MAX_URLS])))

    def withdraw(self) -> None:
        self._link.call(lambda r: r.hdel(PAGES, self._node))

    def others(self) -> list[str]:
        """The page addresses of the other nodes alive now (``ClusterUnavailable`` without Redis)."""

        def read(r) -> list[str]:  # noqa: ANN001 - a redis client
            held: dict[str, str] = r.hgetall(PAGES)
            nodes = [node for node in sorted(held) if node != self._node]
            if not nodes:
                return []
            pipe = r.pipeline(transaction=False)
            for node in nodes:
                pipe.exists(keys.alive(node))
            alive = pipe.execute()
            dead = [node for node, live in zip(nodes, alive, strict=True) if not live]
            if dead:
                r.hdel(PAGES, *dead)
            urls: list[str] = []
            for node, live in zip(nodes, alive, strict=True):
                if live:
                    try:
                        found = json.loads(held[node])
                    except ValueError:
                        continue
                    urls += [u for u in found if isinstance(u, str)][:MAX_URLS] if isinstance(found, list) else []
            return urls

        return self._link.call(read)  # type: ignore[return-value]
