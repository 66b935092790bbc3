"""The console scripts keep the memory they free for reuse (c147.app.cli.keep_freed_memory): measured as the page
faults of a training step's pattern (a few MB blocks allocated, written, freed together) in a real process."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

SCRIPT = """\
import ctypes, resource, sys
from c147.app.cli import keep_freed_memory
print(keep_freed_memory() if sys.argv[1] == "kept" else "default")
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # ten 4 MB temporaries a step, written, then freed together
    blocks = [libc.malloc(4 << 20) for _ in range(10)]
    for b in blocks:
        libc.memset(b, 1, 4 << 20)
    for b in reversed(blocks):
        libc.free(b)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def _run(tmp_path, mode: str, **env: str) -> tuple[str, int]:
    script = tmp_path / "faults.py"
    script.write_text(SCRIPT)
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                               "GLIBC_TUNABLES")}
    proc = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=60,
                          env={**clean, **env}, check=True)
    answer, faults = proc.stdout.split()
    return answer, int(faults)


def test_freed_memory_is_kept_for_the_next_step(tmp_path):
    """glibc's default hands the freed 40 MB back each step and faults it in again (~10,240 pages a step); kept,
    only the first step faults. A user's own glibc settings are left alone, and so is a C library without glibc's
    ``mallopt`` (the setting answers False there)."""
    if platform.libc_ver()[0] != "glibc":
        assert _run(tmp_path, "kept")[0] == "False"
        return
    pages = 10 * (4 << 20) // os.sysconf("SC_PAGE_SIZE")
    _, default = _run(tmp_path, "default")
    answer, kept = _run(tmp_path, "kept")
    assert answer == "True"
    assert default > 10 * pages  # the pattern does fault again under glibc's default (else this test proves nothing)
    assert kept < 2 * pages
    answer, mine = _run(tmp_path, "kept", MALLOC_TRIM_THRESHOLD_="131072")
    assert answer == "False" and mine > 10 * pages
