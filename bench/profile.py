"""Sampling profiles of the function processes during a benchmark run (py-spy, if installed).

py-spy attaches to the running processes (no product change, no restart); each process's
samples are written as collapsed stacks and summarised as the frames where time was spent.
"""

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench import procs
from deploy.local.stack import Stack

TOP = 8


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    def __init__(
        self, stack: Stack, out_dir: Path, functions: tuple[str, ...] = procs.OURS
    ) -> None:
        self.stack = stack
        self.out_dir = out_dir
        self.functions = functions
        self._running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        tool = py_spy()
        if tool is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.stack.procs.items():
            if procs.function_of(name) not in self.functions:
                continue
            argv = [tool, "record", "--pid", str(pid), "--rate", "100", "--nonblocking"]
            argv += ["--nolineno", "--format", "raw", "--output", str(self._file(name))]
            self._running[name] = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

    def stop(self) -> dict[str, list[tuple[str, float]]]:
        """Stop sampling; per process, its top leaf frames and (marked "incl.") the functions
        of our own packages with the most samples under them, as shares of its samples."""
        for proc in self._running.values():
            proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        summary: dict[str, list[tuple[str, float]]] = {}
        for name, proc in self._running.items():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            path = self._file(name)
            if path.exists():
                collapsed = path.read_text(errors="replace")
                summary[name] = top_frames(collapsed) + top_ours(collapsed)
        return summary

    def _file(self, name: str) -> Path:
        return self.out_dir / f"{name}.collapsed.txt"


def top_frames(collapsed: str, top: int = TOP) -> list[tuple[str, float]]:
    """The `top` leaf frames ("self time") of a collapsed-stacks file, as shares of samples."""
    leaves: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaves[_short(stack.split(";")[-1])] += int(count)
        total += int(count)
    return [(frame, n / total) for frame, n in leaves.most_common(top)] if total else []


OUR_PACKAGES = ("shared/", "ingest/", "fetcher/", "compressor/", "notifier/")
_ROOTS = ("<module>", "run", "main", "run.<locals>.main")  # every sample sits under these


def top_ours(collapsed: str, top: int = 5) -> list[tuple[str, float]]:
    """Our own functions with the most samples anywhere in their stacks ("inclusive")."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        frames = {
            f
            for f in stack.split(";")
            if any(f"({p}" in f for p in OUR_PACKAGES) and f.split(" (")[0] not in _ROOTS
        }
        for frame in frames:
            inclusive[f"incl. {_short(frame)}"] += int(count)
    if not total:
        return []
    # Leave out the roots (`<module>`, the consumer loop): every sample sits under them.
    shares = [(frame, n / total) for frame, n in inclusive.most_common() if n < 0.99 * total]
    return shares[:top]


def _short(frame: str) -> str:
    """ "save (PIL/Image.py)" stays as is; long paths keep their last two parts."""
    function, _, where = frame.partition(" (")
    where = where.rstrip(")")
    return f"{function} ({'/'.join(where.split('/')[-2:])})" if where else function
