"""How many cores this process may use: what a container was given, not the host's count.

`os.cpu_count()` reports the host's cores, so a replica limited to 2 CPUs on a 32-core host
would start 32 codec threads and budget memory for 32 photos. The CPU affinity (cpusets,
`docker --cpuset-cpus`) and the cgroup v2 quota (`docker --cpus`, Kubernetes limits) are what
the process really gets.
"""

import math
import os
from pathlib import Path

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path = CPU_MAX) -> int:
    """The cores this process may keep busy: affinity, then the cgroup quota, at least 1."""
    cores = len(os.sched_getaffinity(0))
    quota = quota_cpus(cpu_max.read_text() if cpu_max.exists() else "")
    return max(1, min(cores, quota) if quota else cores)


def quota_cpus(cpu_max: str) -> int | None:
    """Cores allowed by a cgroup v2 `cpu.max` ("200000 100000" → 2, rounded up); None if
    unlimited ("max 100000") or unreadable."""
    parts = cpu_max.split()
    if len(parts) != 2 or not all(part.isdigit() for part in parts) or int(parts[1]) == 0:
        return None
    return math.ceil(int(parts[0]) / int(parts[1]))
