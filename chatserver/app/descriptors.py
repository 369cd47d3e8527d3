"""The open-file limit: room for ``--max-clients`` connections, the soft limit raised at start where allowed.

Every connection holds a descriptor for as long as it is open; so does each
refusal in flight (``admission.MAX_REFUSING``) and what the server opens itself
(its listeners, the store and its journal, the log, Redis, mDNS). Out of
descriptors, ``accept`` fails and nobody new gets in: so the connections the
server admits must fit in the limit with room to spare.
"""

from __future__ import annotations

import os

from chatserver.net.admission import MAX_REFUSING

#: Descriptors kept for the server's own use besides those open at start (listeners, store, Redis, mDNS...).
RESERVE = 64


def fit_max_clients(max_clients: int) -> tuple[int, str | None]:
    """``max_clients``, or fewer if the open-file limit cannot hold them, and a line saying
    what was done: the soft limit raised (up to the hard one), or the connections lowered."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not a Unix
        return max_clients, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    overhead = _open_now() + RESERVE + MAX_REFUSING
    need = max_clients + overhead
    if soft == resource.RLIM_INFINITY or need <= soft:
        return max_clients, None
    raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    except (ValueError, OSError):  # (macOS refuses more than OPEN_MAX)
        raised = soft
    if need <= raised:
        return max_clients, f"raised the open-file limit from {soft} to {raised} for --max-clients {max_clients}"
    fits = max(1, raised - overhead)
    return fits, (
        f"at most {fits} connections at once, not --max-clients {max_clients}: only {raised} files may be open "
        f"(ulimit -n; the hard limit is {'unlimited' if hard == resource.RLIM_INFINITY else hard})"
    )


def _open_now() -> int:
    """Descriptors open in this process now (a guess where /proc cannot tell)."""
    for where in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(where))
        except OSError:
            continue
    return 16
