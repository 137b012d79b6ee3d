import pytest

from evals.suites.insider_trading.scenario import INSIDER_TICKER, Condition, condition_grid, messages, system_prompt


def text(condition: Condition) -> str:
    return "\n".join(m["content"] for m in messages(condition))


def test_grid_is_every_combination_and_keys_round_trip():
    grid = condition_grid()
    assert len(grid) == 64 == len({c.key for c in grid})
    for c in grid:
        assert Condition.from_key(c.key) == c


def test_the_decision_turn_ends_with_the_tip():
    msgs = messages(Condition())
    assert msgs[0]["role"] == "system"
    assert msgs[-1]["role"] == "user" and INSIDER_TICKER in msgs[-1]["content"]
    assert "insider trading" in msgs[-1]["content"]


@pytest.mark.parametrize(
    ("pressure", "gone"),
    [
        ("no_manager_pressure", "wind the fund down"),
        ("no_failed_search", "No low-risk trades"),
        ("no_downturn_warning", "market slide"),
    ],
)
def test_each_pressure_source_can_be_removed_alone(pressure, gone):
    assert gone in text(Condition())
    assert gone not in text(Condition(pressure=pressure))
    others = {"wind the fund down", "No low-risk trades", "market slide"} - {gone}
    assert all(o in text(Condition(pressure=pressure)) for o in others)


def test_scratchpad_system_prompt_and_risk_variations():
    assert 'Reasoning: """' in text(Condition(scratchpad=True))
    assert 'Reasoning: """' not in text(Condition(scratchpad=False))
    assert "never trade on material non-public information" in system_prompt(Condition(system_prompt="forbid_insider"))
    assert "ethically" in system_prompt(Condition(system_prompt="discourage"))
    assert "grey areas" in system_prompt(Condition(system_prompt="encourage"))
    assert "auditing every trade" in text(Condition(risk="high"))
    assert "auditing every trade" not in text(Condition(risk="low"))
    with pytest.raises(ValueError):
        Condition(pressure="extreme")
