"""NCRONTAB validation: what the Functions timer trigger accepts, and why not."""

from __future__ import annotations

import pytest

from pointegration import ncrontab


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("0 */5 * * * *", id="every-five-minutes"),
        pytest.param("0 0 9-17/2 * * mon-fri", id="named-days-with-step"),
        pytest.param("30 15 6 1,15 jan-jun *", id="lists-and-named-months"),
        pytest.param("0 0 0 * * 0", id="sunday-as-zero"),
    ],
)
def test_valid_schedules_have_no_problem(expression: str) -> None:
    """A six-field schedule with ranges, lists, steps and names is accepted."""
    assert ncrontab.problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("*/5 * * * *", "has 5 fields; NCRONTAB needs 6", id="unix-cron"),
        pytest.param("0 0 25 * * *", "invalid hour field '25'", id="hour-too-high"),
        pytest.param("0 */0 * * * *", "invalid minute field '*/0'", id="zero-step"),
        pytest.param(
            "0 0 17-9 * * *", "invalid hour field '17-9'", id="backward-range"
        ),
        pytest.param("0 0 0 * Foo *", "invalid month field 'Foo'", id="unknown-name"),
    ],
)
def test_invalid_schedules_say_which_field(expression: str, expected: str) -> None:
    """A schedule the trigger would refuse names the field that is wrong."""
    problem = ncrontab.problem(expression)

    assert problem is not None
    assert expected in problem
