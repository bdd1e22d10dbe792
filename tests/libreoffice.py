"""The pytest side of the LibreOffice driver: one soffice per test session.

Real-client tests must run in CI: when LibreOffice or its UNO bridge is missing, the
fixture fails under CI=true and skips (saying why) only on a developer's machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("lo_driver.py")
SYSTEM_PYTHON = "/usr/bin/python3"


class LibreOffice:
    """A running driver: `call(op, **args)` sends one request and returns its answer."""

    def __init__(self, timeout: float = 180.0) -> None:
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"LibreOffice driver did not start: {ready}")

    def _read(self) -> dict:
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()))
        reader.start()
        reader.join(self.timeout)
        if not box or not box[0]:
            self.close()
            raise RuntimeError("LibreOffice did not answer in time")
        return json.loads(box[0])

    def call(self, op: str, **args: object) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(answer["error"] + "\n" + answer.get("trace", ""))
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def missing() -> str:
    """Why LibreOffice cannot be driven here, or '' when it can."""
    if not shutil.which("soffice"):
        return "soffice is not installed (apt-get install libreoffice-calc-nogui)"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import uno"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "the UNO bridge is not installed (apt-get install python3-uno)"
    return ""


@pytest.fixture(scope="session")
def libreoffice():
    why = missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"LibreOffice tests must run in CI: {why}")
        pytest.skip(why)
    office = LibreOffice()
    yield office
    office.close()
