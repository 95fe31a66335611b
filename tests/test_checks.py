"""lib.notebook.checks: each claim passes when true and raises when false, with a margin from the standard error."""

import numpy as np
import pytest

from lib.notebook import checks


def test_check_prints_the_claim_or_raises_it(capsys):
    checks.check("two is even", True)
    assert capsys.readouterr().out == "PASS two is even\n"
    with pytest.raises(AssertionError, match="three is even"):
        checks.check("three is even", False)


def test_below_prints_the_bound_and_refuses_a_larger_value():
    assert checks.below(3e-11, 1e-9) == "below 1e-09"
    with pytest.raises(AssertionError):
        checks.below(2e-9, 1e-9)
    with pytest.raises(AssertionError):
        checks.below(float("nan"), 1e-9)


def test_mean_above_needs_the_margin_of_z_standard_errors():
    values = np.array([9.0, 11.0, 10.0, 10.0])  # mean 10, standard error 0.408
    checks.check_mean_above("close", values, 9.0)  # 10 - 2 x 0.408 = 9.18 > 9
    with pytest.raises(AssertionError):
        checks.check_mean_above("too close", values, 9.5)
    checks.check_mean_below("close", values, 11.0)
    with pytest.raises(AssertionError):
        checks.check_mean_below("too close", values, 10.5)


def test_mean_within_is_a_two_sided_test():
    values = np.array([0.9, 1.1, 1.0, 1.0])  # standard error 0.0408
    checks.check_mean_within("unbiased", values, 1.1)
    with pytest.raises(AssertionError):
        checks.check_mean_within("biased", values, 1.2)


def test_the_printed_claim_carries_no_digits_of_the_run(capsys):
    checks.check_mean_above("returns", [1.0, 2.0, 3.0], -5.0)
    checks.check_mean_above("returns", [1.5, 2.7, 3.1], -5.0)
    first, second = capsys.readouterr().out.splitlines()
    assert first == second == "PASS returns: mean over 3 above -5 by more than 2 standard errors"


@pytest.mark.parametrize("bad", [[1.0], [1.0, float("nan")], [1.0, float("inf")]])
def test_a_mean_needs_two_finite_values(bad):
    with pytest.raises(ValueError, match="values"):
        checks.mean_and_standard_error(bad)


def test_mean_with_error_reports_the_run():
    assert checks.mean_with_error([1.0, 3.0]) == "2 ± 1 (mean ± SE over 2)"
