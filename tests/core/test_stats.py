import pytest

from core.stats import wilson


def test_wilson_matches_known_values():
    # 7 of 10: the textbook Wilson 95% interval is about (0.397, 0.892).
    r = wilson(7, 10)
    assert r.value == 0.7
    assert r.low == pytest.approx(0.3968, abs=1e-4)
    assert r.high == pytest.approx(0.8922, abs=1e-4)


def test_wilson_edges():
    assert wilson(0, 0).as_dict() == {"count": 0, "of": 0, "rate": None, "ci95_low": 0.0, "ci95_high": 1.0}
    zero = wilson(0, 20)
    assert zero.low == 0.0 and 0.15 < zero.high < 0.17  # not a zero-width interval
    full = wilson(20, 20)
    assert full.high == 1.0 and 0.83 < full.low < 0.85
    with pytest.raises(ValueError):
        wilson(3, 2)
