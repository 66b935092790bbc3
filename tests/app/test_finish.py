"""A console script ends as Python ends (threads joined, atexit handlers, flushed output, its exit status) without
the interpreter's teardown (c147.app.cli.finish); a process that only calls the entry point keeps Python's end."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """\
import atexit, sys, threading, time
class Teardown:
    def __del__(self):
        print("teardown", flush=True)
keep = Teardown()  # a module's global: freed by the interpreter's teardown
atexit.register(print, "atexit ran")
threading.Thread(target=lambda: (time.sleep(0.3), print("thread done"))).start()
from concurrent.futures import ThreadPoolExecutor
pool = ThreadPoolExecutor(2)  # idle workers at the end (torch.compile leaves such): stopped, not waited for forever
pool.submit(print, "pool ran").result()
from c147.app.cli import tensorboard
sys.exit(tensorboard())
"""


@pytest.mark.parametrize("name, teardown", [("c147-tensorboard", False), ("some-other-program", True)])
def test_a_console_script_ends_without_the_teardown(name, teardown, tmp_path):
    """Run as the script ``c147-tensorboard`` (its __main__ named as the command): the non-daemon thread is waited
    for, an executor's idle workers are stopped, the atexit handler runs, stderr's error line and the exit status
    2 come through, and no module is torn down; the same code under another name (not the console script: a
    caller's process) ends as Python does."""
    script = tmp_path / name
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), "no_such_folder"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "c147-tensorboard: error: no such folder: no_such_folder" in proc.stderr
    assert proc.stdout.splitlines() == ["pool ran", "thread done", "atexit ran"] + (["teardown"] if teardown else [])
