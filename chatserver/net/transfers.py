"""File transfers on the page's port: ``PUT /up/TOKEN`` takes an upload, ``GET /f/ID/NAME`` serves a shared file.

Each runs in its connection's own thread (the page's port has a thread per
connection) and holds no lock chat needs: a slow uploader or downloader
slows only itself, and is cut after ``STALL`` seconds without progress.

- **Upload**: the token (``Upload`` frame, ``files/sharing.py``) says who
  shares what with whom and how many bytes; ``Content-Length`` must say the
  same (no chunked bodies); a wrong token or length is answered before the
  body is read. The body goes to disk in chunks as it arrives; the answer is
  ``201`` with the file's id, name, size, SHA-256 and link, as JSON. An upload
  refused once under way (too many at once, a disk that fills) is answered
  after the rest of its body is read and dropped (at most what its token
  allowed): an uploader still sending would get a reset, not the line why.
- **Limits**: ``GET /up`` says the largest file taken (the page asks, and
  shows no attach button where it is 404: ``--max-file-size 0``).
- **Download**: the id is the capability (144 random bits, given only in the
  message that shared the file). Served as ``attachment``, but for the safe
  image types (``names.INLINE_TYPES``, checked by content), with ``nosniff``
  and a sandboxing CSP; one byte range (``Range``, ``If-Range``) gives a
  ``206``, so an interrupted download resumes; plaintext goes by ``sendfile``.
- **Cluster**: a file is kept by the node it was uploaded to. Another node asked
  for it asks the others' pages (``HEAD``, marked as a probe so that it goes no
  further) and redirects (``307``) to the one that has it; none: ``404``, "not
  here" (its node stopped, or the file was deleted): never a wrong file. A
  picture the page shows inline is relayed instead (asked by the browser as an
  image: ``Sec-Fetch-Dest``, or ``Accept`` where that is not sent): the page's
  CSP takes images from its own origin only, and a redirect to another node's
  port is another origin, which the browser would block.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import urllib.parse
from collections.abc import Callable, Iterator

import h11

from chatserver.files.ranges import Unsatisfiable, byte_range
from chatserver.files.sharing import Sharing
from chatserver.files.store import Refusal
from chatserver.net.dialects.http import HttpConnection, Refused, Route, Routes, SecurityHeaders, header

log = logging.getLogger(__name__)

STALL = 30.0  # seconds an upload or download may make no progress
BODY_READ = 1024 * 1024  # bytes of an upload read at once
#: A served file may do nothing: no script, no style, no plugin, in a sandbox even if opened as a page.
FILE_CSP = b"default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
PROBE = b"x-lanchat-probe"  # a node asking another whether it keeps a file
PROBE_WAIT = 2.0  # seconds a node waits for another's answer
MAX_PEERS = 16
#: A file's headers a relayed answer keeps (the security headers are this node's own).
_RELAYED = frozenset(
    {"content-type", "content-disposition", "content-length", "content-range", "accept-ranges", "etag"}
    | {"cache-control", "x-content-sha256"}
)
UNAVAILABLE = "this file is not here: deleted, expired, or kept by a server that has stopped"


def add_routes(
    routes: Routes, sharing: Sharing, security: SecurityHeaders, peers: Callable[[], list[str]] = list
) -> None:
    """The upload and download routes of ``sharing`` on a page's port; ``peers``: the page addresses of
    a cluster's other nodes (``http://HOST:PORT/``), asked for a file this node does not keep."""
    routes.add_prefix("/up/", Route(lambda c, r: upload(sharing, security, c, r), frozenset({b"PUT", b"POST"}), True))
    routes.add("/up", Route(lambda c, r: limits(sharing, security, c)))
    routes.add_prefix("/f/", Route(lambda c, r: download(sharing, security, c, r, peers)))


def _for_an_image(request: h11.Request) -> bool:
    """Does the browser ask for this to show it in the page (an ``<img>``)?"""
    dest = header(request, b"sec-fetch-dest")
    return dest == b"image" if dest else header(request, b"accept").startswith(b"image/")


def _relay(found: str, request: h11.Request, conn: HttpConnection, security: SecurityHeaders) -> None:
    """Answer with another node's answer for ``found`` (its page's address of the file), as it comes:
    the file's own headers, this node's security headers, one range passed on."""
    url = urllib.parse.urlsplit(found)
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    kwargs = {"context": _any_certificate()} if url.scheme == "https" else {}
    asked = {PROBE.decode(): "1"}
    for name in (b"range", b"if-range"):
        if value := header(request, name):
            asked[name.decode()] = value.decode("latin-1")
    try:
        peer = kind(url.hostname or "", url.port, timeout=STALL, **kwargs)
        try:
            peer.request(request.method.decode(), url.path, headers=asked)
            answer = peer.getresponse()
            length = answer.getheader("content-length", "")
            if answer.status not in (200, 206, 416) or not length.isdigit():
                raise Refused(404, UNAVAILABLE)
            kept = [(k.lower().encode(), v.encode("latin-1")) for k, v in answer.getheaders() if k.lower() in _RELAYED]
            headers = [*kept, *[(k, FILE_CSP if k == b"content-security-policy" else v) for k, v in security]]
            conn.respond_stream(answer.status, headers, answer.read, int(length), STALL)
        finally:
            peer.close()
    except (OSError, http.client.HTTPException) as exc:
        if conn.http.our_state is h11.SEND_RESPONSE:  # (nothing answered yet: say so)
            raise Refused(502, f"the server of the cluster that keeps this file did not send it: {exc}") from None
        raise


def _on_peer(peers: Callable[[], list[str]], target: str) -> str | None:
    """The address of ``target`` on the cluster's node that keeps it (a ``HEAD`` to each other node's
    page, one after the other, each within ``PROBE_WAIT`` s), or None."""
    try:
        others = peers()
    except Exception as exc:  # (the cluster's Redis away): nobody else known now
        log.debug("files: the other nodes' pages: %s", exc)
        return None
    for page in others[:MAX_PEERS]:
        url = urllib.parse.urlsplit(page)
        if url.scheme not in ("http", "https") or not url.hostname or not url.port:
            continue
        kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        kwargs = {"context": _any_certificate()} if url.scheme == "https" else {}
        try:
            peer = kind(url.hostname, url.port, timeout=PROBE_WAIT, **kwargs)
            peer.request("HEAD", target, headers={PROBE.decode(): "1"})
            status = peer.getresponse().status
            peer.close()
        except (OSError, http.client.HTTPException):
            continue
        if status == 200:
            return f"{url.scheme}://{url.netloc}{target}"
    return None


def _any_certificate() -> ssl.SSLContext:
    """A node's page has its own certificate: a probe only asks, it sends nothing secret."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _path(request: h11.Request) -> str:
    return urllib.parse.unquote(request.target.split(b"?", 1)[0].decode("latin-1"))


def limits(sharing: Sharing, security: SecurityHeaders, conn: HttpConnection) -> None:
    """``GET /up``: the largest file taken, as JSON (the page shows its attach button if this answers;
    with file sharing off there is no such route: 404)."""
    body = json.dumps({"max_size": sharing.max_size}).encode()
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    conn.respond(200, [*headers, (b"content-length", str(len(body)).encode()), *security], body)


def upload(sharing: Sharing, security: SecurityHeaders, conn: HttpConnection, request: h11.Request) -> None:
    token = _path(request)[len("/up/") :]
    if header(request, b"transfer-encoding"):
        raise Refused(411, "send the file with a Content-Length (no chunked uploads)")
    length = header(request, b"content-length")
    if not length.isdigit():
        raise Refused(411, "an upload needs a Content-Length")
    try:
        offer = sharing.claim(token)
    except Refusal as exc:
        raise Refused(exc.status, str(exc)) from None
    if int(length) != offer.size:
        raise Refused(400, f"Content-Length {int(length)} is not the {offer.size} bytes the token was given for")
    if conn.http.they_are_waiting_for_100_continue:
        conn.stream.write(conn.http.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
    address = conn.stream.addr[0]
    body = conn.raw_body(offer.size, BODY_READ, STALL)
    try:
        ref = sharing.receive(offer, address, body)
    except Refusal as exc:
        log.info("web %s: upload of %r refused: %s", conn.peer, offer.name, exc)
        _drain(body)
        raise Refused(exc.status, str(exc)) from None
    except (TimeoutError, ConnectionError) as exc:
        raise Refused(408, f"the upload stopped: {exc}") from None
    log.info("web %s: %s shared %s (%d bytes)", conn.peer, offer.nick, ref.id, ref.size)
    body = json.dumps(
        {
            "id": ref.id,
            "name": ref.name,
            "size": ref.size,
            "sha256": ref.sha256,
            "type": ref.type,
            "url": f"/f/{ref.id}/{urllib.parse.quote(ref.name)}",
        }  # fmt: skip
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    conn.respond(201, [*headers, (b"connection", b"close"), *security], body)  # (the body went round h11: see raw_body)


def _drain(body: Iterator[bytes]) -> None:
    """Read and drop the rest of a refused upload's body (at most the size its token allowed), so
    that the uploader, still sending, reads the answer: closing with its bytes unread would reset
    the connection, and a reset loses the answer that says why."""
    try:
        for _ in body:
            pass
    except (OSError, TimeoutError, ConnectionError) as exc:
        log.debug("files: the rest of a refused upload: %s", exc)


def download(
    sharing: Sharing,
    security: SecurityHeaders,
    conn: HttpConnection,
    request: h11.Request,
    peers: Callable[[], list[str]] = list,
) -> None:
    file_id, _, _name = _path(request)[len("/f/") :].partition("/")
    record = sharing.store.get(file_id) if file_id else None
    if record is None:
        if file_id and not header(request, PROBE):  # (a probe is answered for this node alone: no loops)
            found = _on_peer(peers, request.target.decode("latin-1"))
            if found is not None and _for_an_image(request):
                _relay(found, request, conn, security)
                return
            if found is not None:
                raise Refused(
                    307, f"this file is kept by another server of the cluster: {found}", [(b"location", found.encode())]
                )
        raise Refused(404, UNAVAILABLE)
    size = record.size
    etag = f'"{record.sha256[:32]}"'.encode()
    whole = header(request, b"if-range") not in (b"", etag)  # (a changed file cannot be: ids are never reused)
    try:
        span = None if whole else byte_range(header(request, b"range").decode("latin-1"), size)
    except Unsatisfiable:
        raise Refused(416, "that range is not in the file", [(b"content-range", f"bytes */{size}".encode())]) from None
    start, end = span if span is not None else (0, size)
    inline = record.type != "application/octet-stream"
    quoted = urllib.parse.quote(record.name)
    disposition = f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quoted}"
    headers = [
        (b"content-type", record.type.encode()),
        (b"content-disposition", disposition.encode()),
        (b"content-length", str(end - start).encode()),
        (b"accept-ranges", b"bytes"),
        (b"etag", etag),
        (b"cache-control", b"private, max-age=86400"),
        *[(k, FILE_CSP if k == b"content-security-policy" else v) for k, v in security],
        (b"x-content-sha256", record.sha256.encode()),
    ]
    if span is not None:
        headers.append((b"content-range", f"bytes {start}-{end - 1}/{size}".encode()))
    try:
        with open(sharing.store.path(file_id), "rb") as file:
            conn.respond_file(206 if span is not None else 200, headers, file, start, end - start, STALL)
    except FileNotFoundError:
        raise Refused(404, UNAVAILABLE) from None
