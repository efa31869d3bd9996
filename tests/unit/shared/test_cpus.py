"""The cores a process may use: affinity and the cgroup v2 quota, not the host's count."""

import os
from pathlib import Path

import pytest

from shared.cpus import available_cpus, quota_cpus


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("200000 100000\n", 2),
        ("150000 100000", 2),  # 1.5 CPUs: two threads keep them busy
        ("50000 100000", 1),
        ("max 100000\n", None),  # no limit
        ("", None),
        ("garbage", None),
        ("100000 0", None),
    ],
)
def test_quota_cpus(cpu_max: str, expected: int | None) -> None:
    assert quota_cpus(cpu_max) == expected


def test_the_quota_caps_the_affinity(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("100000 100000\n")
    assert available_cpus(cpu_max) == 1


def test_without_a_cgroup_file_the_affinity_counts(tmp_path: Path) -> None:
    assert available_cpus(tmp_path / "missing") == len(os.sched_getaffinity(0))


def test_a_quota_above_the_affinity_does_not_add_cores(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("6400000 100000\n")  # 64 CPUs allowed
    assert available_cpus(cpu_max) == len(os.sched_getaffinity(0))
