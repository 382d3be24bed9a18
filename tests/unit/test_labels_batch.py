"""A print batch's name as staff read it: the day in Japanese, the batch number after it."""

from __future__ import annotations

from outreach import labels


def test_a_batch_name_reads_as_its_day() -> None:
    assert labels.batch("2026-12-02") == "2026年12月2日分"
    assert labels.batch("2026-12-02-3") == "2026年12月2日分（3）"


def test_a_name_that_is_not_a_day_is_shown_as_it_is() -> None:
    assert labels.batch("special") == "special"
