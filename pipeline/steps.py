"""Running the toolkit's scripts as a user would: the command printed, its output kept in a log.

While a step runs, its progress bars (stderr) go to the terminal as they come when the
terminal is one; otherwise a line every `HEARTBEAT_S` seconds says the step is still running.
Each step's whole output is kept in `<logs>/<NN>_<step-name>.log`, names a shell can use as
they are.
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from utils.atomic_io import write_text_atomic

REPO = Path(__file__).resolve().parent.parent
HEARTBEAT_S = 20.0


class StepFailed(Exception):
    """A pipeline step exited non-zero; the message names the step, its last line and its log."""


def slug(name: str) -> str:
    """`retrain (tracin pairs)` -> `retrain-tracin-pairs`: a file name without spaces or brackets."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class StepRunner:
    """Runs scripts in order, numbering them `[k/total]`; `seconds` keeps each step's wall time."""

    def __init__(self, log_dir: Path, total: int, live: bool | None = None, env: dict[str, str] | None = None):
        self.log_dir = log_dir
        self.env = env  # the steps' environment (None: this process's)
        self.total = total
        self.done = 0
        self.seconds: dict[str, float] = {}
        self.live = sys.stderr.isatty() if live is None else live
        log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def progress_flag(self) -> list[str]:
        """What the scripts are given: their progress bars only when someone watches them."""
        return [] if self.live else ["--no-progress"]

    def skip(self, name: str, why: str) -> None:
        """Count a step that needs no run (`why` says so), so that the numbers reach the total announced."""
        self.done += 1
        print(f"[{self.done}/{self.total}] {name}: not run, {why}", flush=True)

    def run(self, name: str, argv: list[str]) -> str:
        """Run one script (`argv` after `python`), numbered; its stdout. A non-zero exit raises StepFailed."""
        self.done += 1
        shown = " ".join(argv)
        print(f"[{self.done}/{self.total}] {name}: python {shown}", flush=True)
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *argv], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env)
        err_parts: list[str] = []
        reader = threading.Thread(target=self._follow, args=(proc, err_parts), daemon=True)
        reader.start()
        stdout = self._wait(proc, start)
        reader.join()
        stderr = "".join(err_parts)
        seconds = time.perf_counter() - start
        self.seconds[name] = round(seconds, 2)
        log = self.log_dir / f"{self.done:02d}_{slug(name)}.log"
        write_text_atomic(log, f"$ python {shown}\n\n{stdout}\n--- stderr ---\n{stderr}")
        if proc.returncode != 0:
            tail = (stderr or stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise StepFailed(f"step '{name}' failed (exit {proc.returncode}): {tail[0]}  [log: {log}]")
        print(f"      done in {seconds:.1f} s", flush=True)
        return stdout

    def _follow(self, proc: subprocess.Popen, parts: list[str]) -> None:
        """Collect the step's stderr, echoing it to the terminal as it comes when someone watches."""
        while chunk := proc.stderr.read(256):
            parts.append(chunk)
            if self.live:
                sys.stderr.write(chunk)
                sys.stderr.flush()

    def _wait(self, proc: subprocess.Popen, start: float) -> str:
        """The step's stdout; a heartbeat line every HEARTBEAT_S seconds while it runs, for a log or CI."""
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
        reader.start()
        while reader.is_alive():
            reader.join(HEARTBEAT_S)
            if reader.is_alive() and not self.live:
                print(f"      ... still running ({time.perf_counter() - start:.0f} s)", flush=True)
        proc.wait()
        return "".join(out)
