"""The safety index (docs/safety-index.md): its definition pinned, part by part."""

import pytest

from fieldwalk.reports.safety_index import EVENT_WEIGHTS, index_parts


def test_the_worked_example_of_the_documentation():
    january = index_parts({"drug_dealing": 2, "disorder": 1}, 3.0, 0)
    assert january == {"events": 5.0, "feeling": 5.0, "open_fixes": 0.0, "total": 10.0}
    assert index_parts({"violence": 1}, None, 0)["total"] == 3.0
    assert index_parts({"drug_use": 1}, None, 2) == {
        "events": 1.0,
        "feeling": 0.0,
        "open_fixes": 1.0,
        "total": 2.0,
    }


def test_the_weights_of_the_event_types():
    assert EVENT_WEIGHTS == {
        "violence": 3.0,
        "drug_dealing": 2.0,
        "drug_use": 1.0,
        "disorder": 1.0,
        "vandalism": 1.0,
        "littering": 0.5,
        "other": 0.5,
    }
    assert index_parts({"a_new_type": 4}, None, 0)["events"] == 2.0  # unknown: as "other"


@pytest.mark.parametrize(("mean", "points"), [(5, 0.0), (4, 2.5), (1, 10.0), (3.25, 4.4)])
def test_feeling_gives_two_and_a_half_points_per_step_below_five(mean, points):
    assert index_parts({}, mean, 0)["feeling"] == points


def test_no_score_is_not_read_as_unsafe_and_the_parts_add_up_to_the_total():
    assert index_parts({}, None, 0) == {
        "events": 0.0,
        "feeling": 0.0,
        "open_fixes": 0.0,
        "total": 0.0,
    }
    parts = index_parts({"littering": 3, "vandalism": 1}, 3.7, 5)
    assert parts["total"] == round(parts["events"] + parts["feeling"] + parts["open_fixes"], 1)
    assert parts == {"events": 2.5, "feeling": 3.2, "open_fixes": 2.5, "total": 8.2}
