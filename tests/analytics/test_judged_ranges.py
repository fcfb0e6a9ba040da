"""Which months a consumption write re-judges: the record's month and the twelve after it."""

from __future__ import annotations

from energy_api.summaries.maintenance import judged_ranges
from tests.analytics.support import month


def test_a_record_is_judged_with_the_twelve_months_after_it() -> None:
    ranges = judged_ranges([(7, month("2024-03"))])

    assert ranges == [(7, month("2024-03"), month("2025-03"))]


def test_a_move_within_a_year_is_one_range_and_a_far_one_two() -> None:
    old = (7, month("2024-03"))

    near = judged_ranges([old, (7, month("2025-04"))])  # adjacent
    far = judged_ranges([old, (7, month("2025-05"))])
    other_client = judged_ranges([old, (8, month("2024-03"))])

    assert near == [(7, month("2024-03"), month("2026-04"))]
    assert far == [(7, month("2024-03"), month("2025-03")), (7, month("2025-05"), month("2026-05"))]
    assert other_client == [
        (7, month("2024-03"), month("2025-03")),
        (8, month("2024-03"), month("2025-03")),
    ]
