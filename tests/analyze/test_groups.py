"""Day and hour groupings: the binary-search path for time-ordered rows equals the per-row key path."""

from __future__ import annotations

import numpy as np

from bench.analyze.groups import DAY_US, HOUR_US, Days, Groups


def test_ordered_days_and_hours_match_the_per_row_keys():
    rng = np.random.default_rng(20261123)
    for trial in range(200):
        n = int(rng.integers(1, 3000))
        t = np.sort(rng.integers(-5 * DAY_US, 40 * DAY_US, n)).astype(np.int64)
        if trial % 3 == 0:
            t = np.repeat(t[: n // 2 + 1], 2)[:n]  # repeated instants
        days = Days(t)
        assert days.ordered
        key = t // DAY_US
        ref = Groups(key - key.min())
        assert days.d0 == int(key.min())
        assert (days.n, days.starts.tolist(), days.ids.tolist()) == (ref.n, ref.starts.tolist(), ref.ids.tolist())
        hours, ref_h = days.hours(), Groups((t - days.d0 * DAY_US) // HOUR_US, days.n * 24)
        assert (hours.n, hours.starts.tolist(), hours.ids.tolist()) == (
            ref_h.n,
            ref_h.starts.tolist(),
            ref_h.ids.tolist(),
        )
        x = rng.random(n)
        np.testing.assert_allclose(days.sum(x), ref.sum(x))
        np.testing.assert_array_equal(days.max(x), ref.max(x))


def test_a_wall_clock_going_back_falls_back_to_sorting_keys():
    hour = HOUR_US
    t = np.array([0, hour, 2 * hour, hour + 1, 3 * hour, DAY_US + 5], np.int64)  # DST: one hour repeated
    days = Days(t)
    assert not days.ordered
    np.testing.assert_array_equal(days.sum(np.ones(len(t))), [5.0, 1.0])
    np.testing.assert_array_equal(days.hours().sum(np.ones(len(t)))[:4], [1.0, 2.0, 1.0, 1.0])
