"""CPU seconds and peak memory of the stack's processes, read from /proc through psutil.

Processes are grouped as "our functions" (gateway, ingest, fetcher, compressor replicas,
notifier) and "stand-ins" (SeaweedFS `weed`, SecantusDB, the event relay, RabbitMQ's
`beam.smp`), plus the benchmark's own process (image origin and webhook receiver).
"""

import asyncio
import os
from dataclasses import dataclass

import psutil

MACHINE = "machine"  # every core's busy time, whoever used it
OURS = ("gateway", "ingest", "fetcher", "compressor", "notifier")
STAND_INS = {"seaweed": "SeaweedFS (weed)", "secantusdb": "SecantusDB", "relay": "event relay"}


def function_of(name: str) -> str:
    """A replica's name ("compressor-2") → its function ("compressor")."""
    return name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() else name


def rabbitmq_pid() -> int | None:
    """The machine's RabbitMQ server (beam.smp running `rabbit boot`), if found."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "beam.smp" and "rabbit" in cmdline and "boot" in cmdline:
            return int(proc.pid)
    return None


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of the process; with `children`, of its living children too.

    The benchmark's own process is the parent of every stack process, so only RabbitMQ (whose
    beam.smp runs helper processes) is counted with its children.
    """
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        total = times.user + times.system
        if children:
            for child in proc.children(recursive=True):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
        return float(total)
    except psutil.NoSuchProcess:
        return 0.0


def _machine_busy_s() -> float:
    busy = psutil.cpu_times()
    return float(sum(busy) - busy.idle - getattr(busy, "iowait", 0.0))


async def busy_cores(over_s: float = 1.0) -> float:
    """How many cores the whole machine kept busy, on average, over the next `over_s` s."""
    before = _machine_busy_s()
    await asyncio.sleep(over_s)
    return (_machine_busy_s() - before) / over_s


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak_rss(pid: int) -> None:
    """Start a new VmHWM window (Linux: writing 5 to clear_refs resets the peak)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass  # not permitted: the peak then covers the process's whole life


@dataclass
class CpuSnapshot:
    seconds: dict[str, float]

    @classmethod
    def take(cls, procs: dict[str, int]) -> "CpuSnapshot":
        seconds = {name: cpu_seconds(pid) for name, pid in procs.items()}
        if (rabbit := rabbitmq_pid()) is not None:
            seconds["rabbitmq"] = cpu_seconds(rabbit, children=True)
        seconds["bench"] = cpu_seconds(os.getpid())
        seconds[MACHINE] = _machine_busy_s()
        return cls(seconds)

    def since(self, earlier: "CpuSnapshot") -> dict[str, float]:
        """CPU seconds used per process between `earlier` and this snapshot."""
        return {
            name: max(0.0, value - earlier.seconds.get(name, 0.0))
            for name, value in self.seconds.items()
        }


def grouped(used: dict[str, float]) -> dict[str, float]:
    """Per-process CPU → per function / stand-in (replicas summed)."""
    out: dict[str, float] = {}
    for name, seconds in used.items():
        key = function_of(name)
        out[key] = out.get(key, 0.0) + seconds
    return out
