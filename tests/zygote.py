"""Console-script runs for the tests without paying the imports each time: a zygote.

A real ``c147-train`` process spends ~5 s importing torch, Lightning, Hydra and what they import before its first
line of work, and the end-to-end tests start well over a hundred of them. The zygote is one process that imports
those libraries once (imports only: no tensor is made, no Python thread started) and then forks a child per run.
Each child is a real process of its own (its own pid, signals, exit status, stdout and stderr pipes, working
directory and environment) that runs the console script's entry point with ``sys.argv`` as the script would get it,
and ends as Python ends (non-daemon threads joined, ``atexit`` run, standard streams flushed).

What a fork cannot show stays on new processes: the tests of a signal landing during the imports
(tests/app/test_interrupt.py, tests/app/test_sigkill.py), of an installed wheel (tests/app/test_packaging.py) and of
the console scripts' own path to an error (tests/test_layout.py).

:func:`start` is ``subprocess.Popen`` for a console script (the parts of it the tests use), :func:`run` is
``subprocess.run``. The zygote starts on the first call and ends with the test session (EOF on its stdin).
"""

from __future__ import annotations

import atexit
import functools
import importlib
import importlib.metadata
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# what a c147 command imports before its first batch (a default c147-train run imports ~4300 modules; these bring in
# nearly all of them)
PRELOAD = ["torch", "numpy", "scipy", "sklearn", "torchvision", "torchmetrics", "lightning", "lightning.pytorch",
           "hydra", "omegaconf", "hydra_plugins", "tensorboard", "matplotlib", "rich", "c147.lit", "c147.models",
           "c147.nn", "c147.data", "c147.optim", "c147.app.train", "c147.app.eval", "c147.app.bench",
           "c147.app.studies.command"]
_LENGTH = struct.Struct("!I")


# ---- the test's side ------------------------------------------------------------------------------------------------

class Run:
    """A console script forked from the zygote: ``pid``, ``stdout``/``stderr`` (text pipes), ``returncode`` and
    Popen's ``poll``, ``wait``, ``communicate``, ``send_signal``, ``terminate`` and ``kill``. The zygote is the
    child's parent; it reports the exit status on this run's own connection."""

    def __init__(self, args: list[str], conn: socket.socket, pid: int, stdout, stderr, status: bytes = b"") -> None:
        self.args, self.pid, self.stdout, self.stderr = args, pid, stdout, stderr
        self.returncode: int | None = None
        self._conn = conn
        self._status = status  # what has come of the exit status's line

    def poll(self) -> int | None:
        if self.returncode is None:
            self._conn.setblocking(False)
            try:
                self._read_status()
            except BlockingIOError:
                pass
            finally:
                self._conn.setblocking(True)
        return self.returncode

    def _read_status(self) -> None:
        while not self._status.endswith(b"\n"):
            chunk = self._conn.recv(64)
            if not chunk:
                raise RuntimeError(f"the zygote ended before reporting {self.args[0]}'s exit status")
            self._status += chunk
        self.returncode = int(self._status)
        self._conn.close()

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._conn.settimeout(timeout)
            try:
                self._read_status()
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout) from None
            finally:
                if self.returncode is None:
                    self._conn.settimeout(None)
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Both pipes read to their end, then the exit status (as Popen's, with ``text=True``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks: dict[int, list[bytes]] = {self.stdout.fileno(): [], self.stderr.fileno(): []}
        with selectors.DefaultSelector() as sel:
            for f in (self.stdout, self.stderr):
                if not f.closed:
                    sel.register(f.fileno(), selectors.EVENT_READ)
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                for key, _ in sel.select(left):
                    data = os.read(key.fd, 1 << 16)
                    if data:
                        chunks[key.fd].append(data)
                    else:
                        sel.unregister(key.fd)
        # decoded and with newlines translated, as Popen(text=True) does
        out, err = (b"".join(chunks[f.fileno()]).decode().replace("\r\n", "\n").replace("\r", "\n")
                    for f in (self.stdout, self.stderr))
        self.stdout.close()
        self.stderr.close()
        self.wait(None if deadline is None else max(deadline - time.monotonic(), 0.01))
        return out, err

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:  # as Popen: never signal a pid that may have been reused
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Zygote:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="c147-zygote-"))
        self.path = self.folder / "socket"
        self.log = open(self.folder / "zygote.log", "w")  # noqa: SIM115 - open as long as the zygote runs
        self.proc = subprocess.Popen([sys.executable, "-c", "import sys; from tests.zygote import serve; "
                                      "serve(sys.argv[1])", str(self.path)], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 300
        while not self.path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the zygote did not start: {(self.folder / 'zygote.log').read_text()[-3000:]}")
            time.sleep(0.05)
        atexit.register(self.close)

    def close(self) -> None:
        self.proc.stdin.close()  # the zygote ends at EOF
        self.proc.wait(30)
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def start(self, argv: list[str], code: str | None, cwd: Path, env: dict[str, str]) -> Run:
        request = json.dumps({"argv": argv, "code": code, "cwd": str(cwd), "env": env}).encode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(self.path))
        devnull = os.open(os.devnull, os.O_RDONLY)
        (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe()
        try:
            socket.send_fds(conn, [_LENGTH.pack(len(request))], [devnull, out_w, err_w])
            conn.sendall(request)
        finally:
            for fd in (devnull, out_w, err_w):
                os.close(fd)
        reply = b""
        while b"\n" not in reply:  # the pid's line (the exit status's may follow in the same read)
            chunk = conn.recv(64)
            if not chunk:
                raise RuntimeError(f"the zygote did not fork {argv}: {(self.folder / 'zygote.log').read_text()}")
            reply += chunk
        pid, status = reply.split(b"\n", 1)
        return Run(argv, conn, int(pid), open(out_r, "rb", buffering=0), open(err_r, "rb", buffering=0), status)


@functools.cache
def _zygote() -> _Zygote:
    return _Zygote()


def start(script: str, *args: str, cwd: Path, env: dict[str, str]) -> Run:
    """``subprocess.Popen([script, *args], cwd=cwd, env=env, stdout=PIPE, stderr=PIPE, text=True)``, forked."""
    return _zygote().start([str(BIN / script), *args], None, Path(cwd), env)


def start_code(code: str, *args: str, cwd: Path, env: dict[str, str]) -> Run:
    """``subprocess.Popen([sys.executable, "-c", code, *args], ...)`` as :func:`start`, forked."""
    return _zygote().start(["-c", *args], code, Path(cwd), env)


def run(script: str, *args: str, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """``subprocess.run([script, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)``."""
    proc = start(script, *args, cwd=cwd, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# ---- the zygote's side ----------------------------------------------------------------------------------------------

def serve(path: str) -> None:
    """Import :data:`PRELOAD`, listen on ``path``, fork a child per request; end at EOF on stdin."""
    for name in PRELOAD:
        importlib.import_module(name)
    # a Python thread would not be in the children (OpenBLAS's own pool, started by numpy's import, restarts in a
    # forked child as it does in a DataLoader's forked workers)
    assert threading.active_count() == 1, f"a thread would not fork: {threading.enumerate()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    listener.listen(64)
    os.rename(path + ".new", path)  # the client waits for the path: it appears ready to connect
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a child's exit writes to wake_w
    waiting: dict[int, socket.socket] = {}
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                try:
                    pid = _fork(conn, closing=[listener, sel, wake_r, wake_w, *waiting.values()])
                    conn.sendall(b"%d\n" % pid)
                except OSError as e:  # a test gone before its request was whole: the next one is served
                    print(f"zygote: {e!r}", file=sys.stderr, flush=True)
                    conn.close()
                    continue
                waiting[pid] = conn
            elif key.fileobj == wake_r:
                os.read(wake_r, 4096)
            elif not os.read(sys.stdin.fileno(), 4096):
                return
        _reap(waiting)


def _reap(waiting: dict[int, socket.socket]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no child left
            return
        if pid == 0:
            return
        conn = waiting.pop(pid, None)
        if conn is None:  # its test went away (serve)
            continue
        try:
            conn.sendall(b"%d\n" % os.waitstatus_to_exitcode(status))
        except OSError:  # the test stopped waiting for it
            pass
        conn.close()


def _fork(conn: socket.socket, closing: list) -> int:
    header, fds, _, _ = socket.recv_fds(conn, _LENGTH.size, 3)
    (length,) = _LENGTH.unpack(header)
    request = b""
    while len(request) < length:
        chunk = conn.recv(length - len(request))
        if not chunk:
            raise ConnectionError("the test closed its connection before the request was whole")
        request += chunk
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for thing in [*closing, conn]:
            thing.close() if hasattr(thing, "close") else os.close(thing)
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        code = _child(json.loads(request))
    except BaseException:  # noqa: BLE001 - before the script ran (a working directory gone): say why
        traceback.print_exc()
    finally:
        os._exit(code)


def _child(request: dict) -> int:
    """Run the console script as its own process would, and end as Python ends; the exit status."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # gettempdir() again from this environment's TMPDIR
    sys.argv = request["argv"]
    if request["code"] is None:  # a console script: its own folder first on the path, as for the script
        sys.path[0] = os.path.dirname(sys.argv[0])
        (entry,) = importlib.metadata.entry_points(group="console_scripts", name=os.path.basename(sys.argv[0]))
        main = entry.load()
    else:  # python -c: the working directory first on the path
        sys.path[0] = ""

        def main() -> None:
            exec(compile(request["code"], "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
    code, interrupted = 0, False
    try:
        sys.exit(main())
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        interrupted = True
    except BaseException:  # noqa: BLE001 - an uncaught exception: Python's traceback and status 1
        sys.excepthook(*sys.exc_info())
        code = 1
    threading._shutdown()  # Python's own end: wait for non-daemon threads, then atexit, then flush
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            traceback.print_exc()
    if interrupted:  # an uncaught KeyboardInterrupt ends a Python process by SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code
