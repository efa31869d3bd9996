"""The relay's resume point: out-of-order events inside the margin are kept, repeats dropped,
and the state survives a restart."""

from pathlib import Path

from deploy.local.relay import RESUME_MARGIN_NS, Relay, StateFile

MS = 1_000_000


def relay(path: Path) -> Relay:
    return Relay("127.0.0.1:1", "amqp://guest:guest@127.0.0.1:1/", StateFile(path))


def test_an_event_slightly_out_of_order_is_still_new(tmp_path: Path) -> None:
    r = relay(tmp_path / "state")
    r.remember((1_000 * MS, "b/key-2"))
    assert r.is_new((995 * MS, "b/key-1"))  # 5 ms older than the newest: not dropped
    assert not r.is_new((1_000 * MS, "b/key-2"))  # the same event again: a repeat


def test_events_before_the_margin_are_old(tmp_path: Path) -> None:
    r = relay(tmp_path / "state")
    r.remember((10_000 * MS, "b/k"))
    assert not r.is_new((10_000 * MS - RESUME_MARGIN_NS - 1, "b/other"))


def test_state_survives_a_restart_and_keeps_only_the_margin(tmp_path: Path) -> None:
    first = relay(tmp_path / "state")
    first.remember((1_000 * MS, "b/old"))
    first.remember((2_000 * MS, "b/a"))
    first.remember((2_100 * MS, "b/b"))
    again = relay(tmp_path / "state")
    assert again.since_ns == 2_100 * MS
    assert list(again.recent) == [(2_000 * MS, "b/a"), (2_100 * MS, "b/b")]  # old pruned
    assert not again.is_new((2_000 * MS, "b/a"))  # replayed by the margin: skipped
    assert again.is_new((2_050 * MS, "b/late"))  # never published: kept
