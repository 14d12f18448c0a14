"""`make up` runs akashi-up: the services answer at the URLs it prints, and Ctrl-C stops them
cleanly. Run as a real process (a signal to a process is what is tested), on ports chosen free."""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from akashi_demo.up import PORT_OFFSETS

ROOT = Path(__file__).resolve().parents[1]
#: How long the services may take to come up, and to stop after Ctrl-C.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def _environment() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    return {**clean, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}


def _free_base() -> int:
    """A base port whose every port of akashi-up is free now (random, to avoid other runs)."""
    for _ in range(50):
        base = random.randint(20000, 40000)
        try:
            for offset in PORT_OFFSETS.values():
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise AssertionError("no free range of ports found")


class Up:
    """``python -m akashi_demo.up`` as a process; its output read line by line in a thread."""

    def __init__(self, *argv: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "akashi_demo.up", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
            env=_environment(), cwd=ROOT,
        )  # fmt: skip
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_ready(self) -> bool:
        """True once it printed "Ready."; False if it ended first."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                return False
            self.lines.append(line)
            if line.startswith("Ready."):
                return True
        raise AssertionError("akashi-up did not come up:\n" + self.output)

    def finish(self) -> int:
        """Its exit status, once it ended (its output then complete)."""
        code = self.process.wait(timeout=STOP_TIMEOUT)
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _start() -> tuple[Up, int]:
    """akashi-up running on a free range of ports (another process may take a port between
    the check and the start: then another range)."""
    for _ in range(3):
        base = _free_base()
        up = Up("--base-port", str(base))
        if up.wait_ready():
            return up, base
        up.finish()
        assert "is not available" in up.output, up.output
    raise AssertionError("akashi-up found no free ports three times")


def test_up_serves_what_it_prints_and_ctrl_c_stops_everything() -> None:
    up, base = _start()
    try:
        out = up.output
        urls = re.findall(r"http://127\.0\.0\.1:\d+\S*", out)
        wallet = f"http://127.0.0.1:{base + PORT_OFFSETS['wallet']}/"
        assert wallet in urls
        with httpx.Client(timeout=10) as http:
            # No wallet yet: its first page creates one.
            assert http.get(wallet, follow_redirects=False).headers["location"] == "/create"
            assert http.get(wallet + "create").status_code == 200
            pages = [u for u in urls if "/requests/" in u]
            assert {int(re.findall(r":(\d+)/", u)[0]) - base for u in pages} == {2, 3, 4}
            for page in pages:
                answer = http.get(page)
                assert answer.status_code == 200 and "<svg" in answer.text, page
            assert "株式会社パーセルロッカー" in http.get(pages[-1]).text  # from the trust registry
            checkpoint = http.get(f"http://127.0.0.1:{base}/checkpoint")
            assert checkpoint.status_code == 200 and checkpoint.text
            offers = re.findall(r"^\s+(openid-credential-offer://\S+)$", out, re.MULTILINE)
            assert len(offers) == 2
            assert all(o.startswith("openid-credential-offer://?credential_offer_uri=") for o in offers)

            # The counter page makes fresh offers and requests (the printed ones expire).
            counter = f"http://127.0.0.1:{base + PORT_OFFSETS['counter']}"
            assert counter + "/" in urls and http.get(counter).status_code == 200
            fresh = http.post(counter + "/offers")
            assert fresh.status_code == 201 and fresh.text.count("openid-credential-offer://") == 2
            new = http.post(counter + "/requests/space-sharing")
            assert new.status_code == 303 and "/requests/" in new.headers["location"]
            assert http.get(new.headers["location"]).status_code == 200
        data = re.search(r"^Data: (\S+) \(removed when you stop\)$", out, re.MULTILINE)
        assert data is not None and Path(data.group(1)).is_dir()

        up.process.send_signal(signal.SIGINT)
        assert up.finish() == 0, up.output
        assert "Traceback" not in up.output
        assert not Path(data.group(1)).exists()
    finally:
        up.kill()


def test_a_port_in_use_is_one_line_and_a_failure() -> None:
    base = _free_base()
    taken = base + PORT_OFFSETS["space-sharing"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        done = subprocess.run(
            [sys.executable, "-m", "akashi_demo.up", "--base-port", str(base)],
            capture_output=True, text=True, encoding="utf-8", env=_environment(), cwd=ROOT, timeout=60,
        )  # fmt: skip
    assert done.returncode != 0
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert f"port {taken} (space-sharing)" in line and "--base-port" in line
