"""Pure helpers of the database layer."""

from shared.db.codec import IN_QUERY_VALUES, in_batches


def test_in_batches_cover_every_value_once_in_order() -> None:
    values = list(range(2 * IN_QUERY_VALUES + 3))
    batches = list(in_batches(values))
    assert [len(b) for b in batches] == [IN_QUERY_VALUES, IN_QUERY_VALUES, 3]
    assert [v for b in batches for v in b] == values
    assert list(in_batches([])) == []
