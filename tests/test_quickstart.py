"""The quickstart says above its numbers whether its search decided, so a smoke run is not read as a result."""
from mpqlab.course.quickstart import search_status


def test_an_undecided_or_smoke_search_is_announced_as_not_a_result():
    undecided = search_status(0.57, 5, smoke=False)
    assert undecided.startswith("NOT A RESULT: this search has not decided") and "0.57" in undecided
    assert "5 layer(s) rewritten" in undecided
    assert search_status(0.95, 0, smoke=True).startswith("NOT A RESULT: a smoke search (1 batch) has decided")
    assert search_status(0.95, 2, smoke=False).startswith("NOT A RESULT")  # the budget rewrote two layers
    decided = search_status(0.95, 1, smoke=False)
    assert decided.startswith("The search decided") and "not evidence for a method" in decided
