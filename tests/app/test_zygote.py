"""tests/zygote.py, the forked runs the end-to-end tests use, against what a new process does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests import zygote
from tests.conftest import cli_env

CASES = [
    ("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)", 3),
    ("raise ValueError('bad')", 1),
    ("raise SystemExit('a message')", 1),
    ("raise KeyboardInterrupt", -signal.SIGINT),
    ("import os, sys; print(os.getcwd(), os.environ['C147_ZYGOTE_TEST'], sys.argv[1:])", 0),
    ("import atexit, threading, time; atexit.register(lambda: print('atexit'));"
     "threading.Thread(target=lambda: (time.sleep(0.2), print('thread'))).start()", 0),
]


@pytest.mark.parametrize("code, status", CASES)
def test_a_forked_run_ends_as_a_new_process_does(tmp_path, code, status):
    env = cli_env({"C147_ZYGOTE_TEST": "yes"})
    new = subprocess.run([sys.executable, "-c", code, "a", "b"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    proc = zygote.start_code(code, "a", "b", cwd=tmp_path, env=env)
    out, err = proc.communicate(timeout=60)
    assert new.returncode == proc.returncode == status
    assert out == new.stdout
    assert err.splitlines()[-1:] == new.stderr.splitlines()[-1:]  # the traceback's last line, or nothing


def test_signals_reach_the_child_and_its_status_says_so(tmp_path):
    proc = zygote.start_code("import time; time.sleep(60)", cwd=tmp_path, env=cli_env())
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and proc.poll() == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)  # reaped by the zygote: no zombie left


def test_a_run_past_its_timeout_is_killed(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired):
        zygote.run("c147-train", "--help", cwd=tmp_path, env=cli_env(), timeout=0.0001)
