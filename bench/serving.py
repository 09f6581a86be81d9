"""Running an emulator in its own process for a benchmark, so client and server don't share a GIL."""

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def serve_until_interrupted(server: Any) -> int:
    """In the child: announce ``READY <port>`` on stdout, serve until interrupted or terminated, stop."""
    print(f"READY {server.port}", flush=True)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


@contextmanager
def emulator_process(cmd: list[str], mount: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """In the parent: start ``cmd`` (which calls :func:`serve_until_interrupted`), yield the platform's URL."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"emulator did not start: {' '.join(cmd)}")
        yield f"http://127.0.0.1:{int(line.split()[1])}/{mount}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
