"""Screen-sized point budgets: the figures built for nearby widths are the same figure."""

from __future__ import annotations

import pytest

from pynomaly.screen import DEFAULT_WIDTH, MAX_WIDTH, MIN_WIDTH, point_budget, width_bucket


def test_widths_round_up_to_a_few_buckets():
    assert width_bucket(1280) == 1280
    assert width_bucket(1100) == width_bucket(1200) == 1280
    assert width_bucket(390) == 512
    assert width_bucket("768") == 768


@pytest.mark.parametrize("bad", [None, "", "wide", "nan", "-5", "0", "inf", float("nan"), -1])
def test_a_width_that_is_no_positive_number_reads_as_the_default(bad):
    assert width_bucket(bad) == DEFAULT_WIDTH


def test_widths_are_clamped():
    assert width_bucket(10) == MIN_WIDTH
    assert width_bucket(100_000) == MAX_WIDTH


def test_a_phone_gets_fewer_points_than_a_desktop_and_no_chart_more_than_its_cap():
    phone, desktop = point_budget(390, ceiling=5000), point_budget(1280, ceiling=5000)
    assert phone == 1024 and desktop == 2560
    assert point_budget(2560, ceiling=5000) == 5000
    assert point_budget(1280, ceiling=1000) == 1000
