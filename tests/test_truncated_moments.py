"""Truncated-normal moments against 50-digit arithmetic, where the closed form cancels."""

from __future__ import annotations

import math

import pytest

from initlab.initializers import truncated_normal_moments

mpmath = pytest.importorskip("mpmath")


def reference(a: float, b: float) -> tuple[float, float]:
    """The closed-form moments evaluated with 60 significant digits."""
    if b <= 0:  # mirror a lower tail into an upper one, where erfc keeps its digits
        mean, std = reference(-b, -a)
        return -mean, std
    with mpmath.workdps(60):
        A, B = mpmath.mpf(a), mpmath.mpf(b)

        def pdf(x):
            return mpmath.mpf(0) if mpmath.isinf(x) else mpmath.npdf(x)

        def xpdf(x):
            return mpmath.mpf(0) if mpmath.isinf(x) else x * mpmath.npdf(x)

        z = (mpmath.erfc(A / mpmath.sqrt(2)) - mpmath.erfc(B / mpmath.sqrt(2))) / 2
        mean = (pdf(A) - pdf(B)) / z
        var = 1 + (xpdf(A) - xpdf(B)) / z - mean**2
        return float(mean), float(mpmath.sqrt(var))


@pytest.mark.parametrize(
    ("a", "b"),
    [(-2, 2), (-1, 3), (0, math.inf), (-math.inf, -3), (3, 4), (5, 8), (-1e-6, 1e-6), (0, 1e-6), (2, 2.000001),
     (-1e-3, 2e-3), (20, math.inf), (30, 31), (37, 38), (50, 150), (-150, -50), (-0.3, 9)],
)  # fmt: skip
def test_moments_match_high_precision(a: float, b: float) -> None:
    mean, std = truncated_normal_moments(a, b)
    ref_mean, ref_std = reference(a, b)
    assert mean == pytest.approx(ref_mean, rel=1e-13, abs=1e-300)
    assert std == pytest.approx(ref_std, rel=1e-11)
