"""Start ``python -m chatserver`` processes by forking one that has imported it already.

Most tests start a server, and a server spends nearly all of its start-up CPU
(about half a second, ~90% of a typical test server's life) importing
``chatserver``. A fork server (a "zygote", as Android and ``multiprocessing``'s
``forkserver`` call it) imports it once per pytest worker, then forks a child per
server. Each child is still a real process of its own: its argv, environment,
working directory and standard streams are the test's, it runs ``chatserver``'s
``__main__`` through ``runpy`` exactly as ``python -m chatserver`` does, it listens
on real sockets, takes real signals and exits as the interpreter would (non-daemon
threads joined, ``atexit`` run, the exit code or the signal that ended it).

What differs from ``subprocess.Popen`` is only the parent: the zygote forks and reaps
the child, and the test holds a ``Forked`` handle with ``Popen``'s methods (the exit
is watched through a pidfd). ``CHATSERVER_TEST_FORK=0`` starts every server with a
plain ``Popen`` instead, as do servers a test gives a ``preexec_fn`` or an
environment that changes how Python itself starts (``PYTHON*``, locale).
"""

from __future__ import annotations

import atexit
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

#: Environment variables read by the interpreter at start-up (before the zygote forked): a
#: server whose environment differs from the zygote's in one of these is started with Popen.
STARTUP_VARIABLES = ("PYTHON", "LANG", "LC_")


def enabled() -> bool:
    return os.environ.get("CHATSERVER_TEST_FORK", "1") != "0"


class Forked:
    """A child of the zygote, seen through ``subprocess.Popen``'s methods."""

    def __init__(self, zygote: Zygote, pid: int, args: list[str], stdin, stdout, stderr) -> None:  # noqa: ANN001
        self._zygote = zygote
        self.pid = pid
        self.args = args
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self._pidfd = os.pidfd_open(pid)
        self._lock = threading.Lock()
        self._readers: list[tuple[threading.Thread, list[str]]] | None = None

    def _exited(self, timeout: float | None) -> bool:
        ready, _, _ = select.select([self._pidfd], [], [], timeout)
        return bool(ready)

    def _reap(self) -> int:
        with self._lock:
            if self.returncode is None:
                self.returncode = self._zygote.reap(self.pid)
                os.close(self._pidfd)
            return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None and self._exited(0):
            self._reap()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        if not self._exited(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self._reap()

    def communicate(self, input: str | None = None, timeout: float | None = None) -> tuple[str, str]:  # noqa: A002
        """As Popen's: ``input`` to stdin, which is then closed; all of stdout and stderr, once it exits."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._readers is None:
            if self.stdin is not None:
                try:
                    if input:
                        self.stdin.write(input)
                    self.stdin.close()
                except BrokenPipeError:
                    pass
            self._readers = []
            for stream in (self.stdout, self.stderr):
                got: list[str] = []
                reader = threading.Thread(target=lambda s=stream, g=got: g.append(s.read()), daemon=True)
                reader.start()
                self._readers.append((reader, got))
        for reader, _ in self._readers:
            reader.join(None if deadline is None else max(0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait(None if deadline is None else max(0, deadline - time.monotonic()))
        out, err = ("".join(got) for _, got in self._readers)
        return out, err

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # (as Popen: never signal a pid that may have been reused)
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """This worker's fork server: started on first use, ended when this process ends."""

    def __init__(self, module: str, env: dict[str, str]) -> None:
        self.env = env
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        #: The zygote's own stderr (a child's goes to its test): a file, not a pipe no one reads, and
        #: not a terminal (a child's streams are made as for a pipe, which is what it is given).
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), str(theirs.fileno()), PRELOAD[module]],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env=env,
        )
        theirs.close()
        self.sock = ours
        self.file = ours.makefile("r")
        self.lock = threading.Lock()
        ready = self.file.readline()
        if ready.strip() != "ready":
            self.log.seek(0)
            raise RuntimeError(f"the fork server did not start: {ready!r} {self.log.read().decode(errors='replace')}")

    def fits(self, env: dict[str, str]) -> bool:
        """Whether a process with ``env`` would have started Python as the zygote did."""
        keys = {k for k in (*env, *self.env) if k.startswith(STARTUP_VARIABLES)}
        return all(env.get(k) == self.env.get(k) for k in keys)

    def _ask(self, request: dict, fds: list[int] = ()) -> dict:  # noqa: B006
        data = json.dumps(request).encode() + b"\n"
        with self.lock:
            if fds:
                socket.send_fds(self.sock, [data], list(fds))
            else:
                self.sock.sendall(data)
            answer = self.file.readline()
        if not answer:
            raise RuntimeError(f"the fork server ended (exit {self.proc.poll()})")
        reply = json.loads(answer)
        if "error" in reply:
            raise RuntimeError(f"the fork server could not start the program: {reply['error']}")
        return reply

    def spawn(self, module: str, args: list[str], env: dict[str, str], stdin: int | None) -> Forked:
        """``python -m MODULE ARGS`` with ``env``, its stdout and stderr piped (text), and stdin piped
        (``subprocess.PIPE``), ``subprocess.DEVNULL`` or (None) this process's descriptor 0, as Popen
        would leave it (under pytest, ``sys.stdin`` is a stand-in)."""
        mine: list[int] = []  # (our ends: closed if the child is not had)
        theirs: list[int] = []  # (the child's ends: closed here once the zygote has them)
        try:
            if stdin == subprocess.PIPE:
                in_r, in_w = os.pipe()
                mine.append(in_w)
                theirs.append(in_r)
            elif stdin == subprocess.DEVNULL:
                theirs.append(os.open(os.devnull, os.O_RDONLY))
            else:
                theirs.append(os.dup(0))
            for _ in ("stdout", "stderr"):
                r, w = os.pipe()
                mine.append(r)
                theirs.append(w)
            reply = self._ask({"spawn": module, "args": args, "env": env, "cwd": os.getcwd()}, theirs)
        except BaseException:
            for fd in mine:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        out, err = (open(fd) for fd in mine[-2:])
        # (stdin as Popen's in text mode: written through to a buffer that flush() sends)
        into = io.TextIOWrapper(open(mine[0], "wb"), write_through=True) if stdin == subprocess.PIPE else None
        return Forked(self, reply["pid"], [sys.executable, "-m", module, *args], into, out, err)

    def reap(self, pid: int) -> int:
        return self._ask({"reap": pid})["returncode"]

    def close(self) -> None:
        """Hang up: the zygote ends (its children, if any still run, are left to end as they will)."""
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


#: What each program's zygote imports before it forks: what ``python -m PROGRAM`` imports first.
PRELOAD = {"chatserver": "chatserver.app.cli", "chatclient": "chatclient.cli"}
_ZYGOTES: dict[str, Zygote] = {}
_ZYGOTES_LOCK = threading.Lock()


def _zygote(module: str, env: dict[str, str], stdin: int | None) -> Zygote | None:
    """The zygote for ``module``'s processes with ``env`` and ``stdin``, or None: start them with Popen."""
    if not enabled() or module not in PRELOAD or not hasattr(os, "pidfd_open"):  # (Linux 5.3 and later)
        return None
    if stdin is None and os.isatty(0):  # (a fresh process would be given a terminal, unlike the zygote)
        return None
    if stdin not in (None, subprocess.PIPE, subprocess.DEVNULL):
        return None
    with _ZYGOTES_LOCK:
        zygote = _ZYGOTES.get(module)
        if zygote is None or zygote.proc.poll() is not None:
            zygote = _ZYGOTES[module] = Zygote(module, env)
            atexit.register(zygote.close)
    return zygote if zygote.fits(env) else None


def popen(module: str, args: list[str], env: dict[str, str], stdin: int | None = None) -> subprocess.Popen | Forked:
    """``python -m MODULE ARGS`` (stdout and stderr piped, text) forked from the zygote when it can be."""
    zygote = _zygote(module, env, stdin)
    if zygote is not None:
        return zygote.spawn(module, args, env, stdin)
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def run(
    module: str,
    args: list[str],
    env: dict[str, str],
    input: str | None,
    timeout: float,  # noqa: A002
) -> subprocess.CompletedProcess:
    """As ``subprocess.run(..., input=input, capture_output=True, text=True, timeout=timeout)``."""
    proc = popen(module, args, env, stdin=None if input is None else subprocess.PIPE)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        raise subprocess.TimeoutExpired(exc.cmd, timeout) from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# ---- the zygote's side (run as a script) ----


def _exit_code(exc: SystemExit) -> int:
    """The status the interpreter gives ``sys.exit(exc.code)`` (a message is printed, exit 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def _run_child(request: dict, control: socket.socket) -> None:
    """In the forked child: become ``python -m MODULE ARGS`` and never return."""
    import runpy
    import traceback

    code = 1
    try:
        control.close()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = os.getcwd()  # (as `python -m` puts it)
        sys.argv = ["-m", *request["args"]]  # (run_module sets argv[0] to the module's file)
        try:
            runpy.run_module(request["spawn"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
        except KeyboardInterrupt:  # (the interpreter ends by the signal itself)
            threading._shutdown()
            atexit._run_exitfuncs()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:
            traceback.print_exc()
            code = 1
        threading._shutdown()  # (non-daemon threads joined, as at the interpreter's exit)
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # (a closed pipe: nothing more to say)
                pass
        os._exit(code)


def _reap_the_ended() -> None:
    """Reap every child that has ended and was not asked about (their CPU time then counts as the
    worker's children's, as it would with Popen); those still running are left to end by themselves."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _serve(control: socket.socket) -> None:
    """Fork a child per ``spawn`` request, reap one per ``reap`` request, until the worker hangs up."""
    control.sendall(b"ready\n")
    while True:
        # The request line and, with a spawn, the three standard streams (stdin, stdout, stderr).
        data, fds, _flags, _addr = socket.recv_fds(control, 1 << 20, 3)
        if not data:
            _reap_the_ended()
            return
        buffered = data
        while not buffered.endswith(b"\n"):
            more = control.recv(1 << 20)
            if not more:
                return
            buffered += more
        for line in buffered.splitlines():
            request = json.loads(line)
            if "reap" in request:
                _, status = os.waitpid(request["reap"], 0)
                control.sendall(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                continue
            try:
                pid = os.fork()
            except OSError as exc:
                control.sendall(json.dumps({"error": str(exc)}).encode() + b"\n")
                pid = None
            if pid == 0:
                # The zygote's own sys.stdin/stdout/stderr objects stay (as a fresh interpreter makes
                # them for pipes: nothing was read or written through them), now on the test's pipes.
                for target, fd in enumerate(fds):
                    os.dup2(fd, target)
                for fd in fds:
                    os.close(fd)
                _run_child(request, control)
            for fd in fds:
                os.close(fd)
            fds = []
            if pid is not None:
                control.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    sys.path[0] = os.getcwd()  # (as `python -m` puts it, not this file's folder)
    import importlib
    import runpy  # noqa: F401 - (what every child runs through)

    importlib.import_module(sys.argv[2])  # (what every child imports first: the reason for all this)

    _serve(control)


if __name__ == "__main__":
    main()
