"""The benchmark package behind ``scripts/bench.py``: chatserver against reference servers, on 127.0.0.1 only.

    python scripts/bench.py                 # the full run (about 15 minutes on 2 cores), prints one table
    python scripts/bench.py --json out.json # the same, plus every number as JSON
    python scripts/bench.py --quick         # a small smoke run (a few minutes); exit 1 on any loss

Servers: ours (``python -m chatserver``) measured in both its native JSON
protocol and its plain-line mode, and two baselines under scripts/baselines/
that speak the plain-line protocol: a naive thread-per-connection server and
an asyncio server. Each run starts the server as a subprocess, pinned to its
own core where there are two or more, and stops it afterwards.

Workloads (see docs/performance.md for what the numbers mean):

* fanout  -- N clients in one room each send M messages as fast as TCP allows
             (``--batch`` lines per send); deliveries/s, latency, loss, dups,
             out-of-order. M is chosen so a run is about ``--deliveries``
             deliveries, unless ``--messages`` is given.
* latency -- N=50, 500 messages/s in total for 5 s: p50/p99/max.
* idle    -- 1,000 and 5,000 registered idle connections: held, RSS each, threads.
* register -- 5,000 clients register: the last 1,000's rate over the first 1,000's,
             the overall rate, RSS per connection (issue 20's targets).
* slow    -- N=20 at 1,000 messages/s, without and with one client that never
             reads: the others' deliveries/s and p99, when the stuck one is dropped.
* pty     -- a real chatclient in a pseudo-terminal receiving 2,000 messages/s
             for 5 s: all shown? typed-key echo time.
* store   -- chatserver with its SQLite store (``--store FILE``, a new file per
             run) against the same with ``--store memory``: fan-out N=50 and
             latency at 500 msg/s into 50, ratios within the run; and the time
             from process start to the ready line with a store of 1,000,000
             messages (made by a real server, then filled with sqlite3).
* cluster -- (benchmark.workloads.cluster) two ``chatserver --cluster`` nodes on a
             real redis-server of the bench's own, the N=50 clients split
             25/25, against the plain server and one node alone: fan-out
             deliveries/s with ratios, cross-node latency at 500 msg/s, Redis's
             CPU beside the nodes', the commands Redis ran per message, and an
             audit of the room's numbering. Skipped (with a message) when no
             redis-server can be found, unless the environment has CI set.
* search  -- two people talk in a room of 10,000 long messages (SQLite store)
             while four sessions search it in a loop: their p99 (issue 20).
* web     -- fan-out N=50 over the page's WebSocket, native and plain,
             interleaved: WebSocket over native, native over plain (issue 20).
* cluster-joins -- two nodes with Redis 5 ms away (a delaying proxy): do 50
             people joining one node raise the others' p99 (issue 20)?

Every chatserver the bench starts gets ``--store memory`` unless it measures the
store, and every process it starts a temporary HOME and XDG directories.

Every message's text is ``m SEQ T_NS`` (plus padding in the slow workload):
receivers count deliveries in bulk (occurrences of a marker per recv chunk)
and a few "auditor" receivers parse every line for per-sender loss,
duplicates, order and latency. Timestamps are CLOCK_MONOTONIC, shared by all
processes. The load generator runs in ``--workers`` processes. Fan-out,
latency and slow-consumer cases run ``--repeat`` times (interleaved across
servers) and the median is reported.
"""
