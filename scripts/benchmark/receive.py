"""The receiving half of a load-generator process: registration, counting deliveries, auditing, the tally."""

from __future__ import annotations

import contextlib
import re
import time

from benchmark.protocol import CLOSED, FAILED, IRC_ROOM, NATIVE_SEQ_RE, NS, READY, REGISTERING, UPGRADING, Peer
from benchmark.wsframes import frame as ws_frame
from benchmark.wsframes import lines as ws_lines


class Reader:
    """Mixed into ``Worker``: what it does with the bytes a client receives."""

    def on_read(self, p: Peer) -> None:
        try:
            data = p.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.lose(p, time.monotonic_ns(), f"recv: {exc}")
            return
        now = time.monotonic_ns()
        if not data:
            self.lose(p, now)
            return
        if self.ws and (p.state != READY or p.audit):  # frames into lines (a counter counts marks in frames)
            if p.state == UPGRADING:
                data = self.upgraded(p, data, now)
                if not data:
                    return
            data, p.fbuf = ws_lines(p.fbuf + data)
            if not data:
                return
        if p.state == REGISTERING:
            buf = p.rbuf + data
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    p.rbuf = buf[-65536:]
                    return
                line, buf = buf[:nl], buf[nl + 1 :]
                if self.native:
                    if b'"type":"welcome"' in line:
                        break
                    if b'"type":"error"' in line:
                        self.lose(p, now, "refused: " + line.decode(errors="replace")[:200])
                        return
                elif self.irc:  # registered (001): join; in the room at the end of its names (366)
                    code = line.split(b" ", 2)[1:2]
                    if code == [b"001"]:
                        self.push(p, b"JOIN " + IRC_ROOM + b"\r\n")
                    elif code == [b"366"]:
                        break
                    elif line.startswith(b"ERROR") or (code and code[0][:1] in b"45" and code[0].isdigit()):
                        self.lose(p, now, "refused: " + line.decode(errors="replace")[:200])
                        return
                    elif line.startswith(b"PING "):
                        self.push(p, b"PONG " + line[5:] + b"\n")
                else:
                    if line.startswith(b"* welcome"):
                        break
                    if line.startswith(b"* error"):
                        self.lose(p, now, "refused: " + line.decode(errors="replace")[:200])
                        return
            p.state = READY
            p.ready_at = now
            p.rbuf = b""
            if not p.reads or self.sweep_every:
                with contextlib.suppress(KeyError, ValueError):
                    self.sel.unregister(p.sock)
            if not buf:
                return
            data = buf
        if self.native and b'"type":"ping"' in data:
            self.pong(p, data)
        elif self.irc and (data.startswith(b"PING ") or b"\nPING " in data):
            for token in re.findall(rb"(?:^|\n)PING ([^\r\n]*)", data):
                self.push(p, b"PONG " + token + b"\r\n")
        if p.audit:
            self.audit(p, data, now)
            return
        n = data.count(self.mark)
        if p.carry:
            n += (p.carry + data[: self.marklen]).count(self.mark)
        p.carry = data[-self.marklen :]
        if n:
            p.count += n
            p.t_last = now
            self.last_progress = now
            if not p.complete and p.count >= p.expected:
                p.complete = True
                self.incomplete -= 1

    def upgraded(self, p: Peer, data: bytes, now: int) -> bytes:
        """A WebSocket client's answer to its upgrade: on 101, send the hello; the bytes after the answer."""
        buf = p.rbuf + data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            p.rbuf = buf[-65536:]
            return b""
        p.rbuf = b""
        if not buf.startswith(b"HTTP/1.1 101"):
            self.lose(p, now, "upgrade refused: " + buf[:end].decode(errors="replace")[:200])
            return b""
        p.state = REGISTERING
        self.push(p, self.hello(p))
        return buf[end + 4 :]

    def pong(self, p: Peer, data: bytes) -> None:
        """Answer the server's keepalive pings, as a real client would (native protocol only)."""
        for token in re.findall(rb'"type":"ping","token":("(?:[^"\\]|\\.)*"|[^,}]*)', data):
            line = b'{"type":"pong","token":%s}\n' % token
            self.push(p, ws_frame(line) if self.ws else line)

    def audit(self, p: Peer, data: bytes, now: int) -> None:
        buf = p.rbuf + data if p.rbuf else data
        end = buf.rfind(b"\n") + 1
        p.rbuf = buf[end:]
        if not end:
            return
        tracks = p.tracks
        lat = self.lat
        got = 0
        nodes = self.node_of
        if self.room_order:
            found = NATIVE_SEQ_RE.findall(buf, 0, end)
        else:
            found = self.line_re.findall(buf, 0, end)
            if self.native:
                found = [(b"", a or f, b or d, c or e) for a, b, c, d, e, f in found]
            else:
                found = [(b"", *f) for f in found]
        for room_seq, nick, seq, ts in found:
            track = tracks.get(nick)
            s = int(seq)
            if room_seq:
                self.check_room_order(p, int(room_seq), nick, s)
            if track is None or s >= len(track[0]):
                p.unknown += 1
                continue
            seen = track[0]
            if seen[s]:
                p.dup += 1
                continue
            seen[s] = 1
            if s < track[1]:
                p.ooo += 1
            else:
                track[1] = s
            got += 1
            lat.append(now - int(ts))
            if room_seq and nodes.get(nick, p.node) != p.node:
                self.lat_cross.append(now - int(ts))
        if self.watch and not p.watch_at and self.watch in buf:
            p.watch_at = now
        if got:
            p.count += got
            p.t_last = now
            self.last_progress = now
            if not p.complete and p.count >= p.expected:
                p.complete = True
                self.incomplete -= 1

    def check_room_order(self, p: Peer, room_seq: int, nick: bytes, s: int) -> None:
        """One order per room: ``p`` sees the room's numbers rise, and a number means one message to all."""
        if room_seq <= p.room_last:
            self.room_ooo += 1
        else:
            p.room_last = room_seq
        known = self.room_seqs.setdefault(room_seq, (nick, s))
        if known != (nick, s):
            self.room_conflicts += 1

    def results(self, t_go: int) -> dict:
        """What the clients received, tallied: deliveries, loss, duplicates, order, latencies, who was closed."""
        checked = [p for p in self.peers if p.reads and p.state != FAILED]
        loss = dup = ooo = unknown = 0
        for p in checked:
            if p.audit:
                for seen, _ in p.tracks.values():
                    loss += seen.count(0)
                dup += p.dup
                ooo += p.ooo
                unknown += p.unknown
            else:
                loss += max(0, p.expected - p.count)
                dup += max(0, p.count - p.expected)  # more than expected: duplicates (or strays)
        return {
            "delivered": sum(p.count for p in checked),
            "expected": sum(p.expected for p in checked),
            "loss": loss,
            "dup": dup,
            "ooo": ooo,
            "unknown": unknown,
            "sent": sum(p.sent for p in self.peers),
            "t_last": max((p.t_last for p in checked), default=0),
            "closed": [(p.nick, (p.closed_at - t_go) / NS, p.error) for p in self.peers if p.state == CLOSED],
            "watch_at": min(((p.watch_at - t_go) / NS for p in self.peers if p.watch_at), default=None),
            "lat": self.lat.tobytes(),
            "lat_cross": self.lat_cross.tobytes(),
            "room_seqs": {k: (n.decode(), s) for k, (n, s) in self.room_seqs.items()} if self.room_order else None,
            "room_conflicts": self.room_conflicts,
            "room_ooo": self.room_ooo,
            "auditors": sum(1 for p in checked if p.audit),
            "cut_off": self.cut_off,
            "receivers": len(checked),
        }
