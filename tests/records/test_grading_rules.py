"""Grading arithmetic against worked examples: rounding at the boundaries, letters, GPA with condition modules,
retakes, graduation and classification at each threshold (pure functions, no database)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from services.records.grading.rules import (
    DEFAULT_POLICY as P,
)
from services.records.grading.rules import (
    GradingError,
    GradingPolicy,
    ModuleResult,
    best_results,
    gpa,
    module_score,
    standing,
    term_gpa,
)

W = {"continuous": "0.4", "final": "0.6"}


@pytest.mark.parametrize(
    ("continuous", "final", "score", "letter", "points"),
    [
        ("8.0", "8.75", "8.5", "A", 4),   # 3.20 + 5.25 = 8.45 → 8.5 (half up), an A
        ("8.0", "8.7", "8.4", "B", 3),    # 3.20 + 5.22 = 8.42 → 8.4
        ("7.1", "6.85", "7.0", "B", 3),   # 2.84 + 4.11 = 6.95 → 7.0, a B
        ("5.6", "5.4", "5.5", "C", 2),    # 2.24 + 3.24 = 5.48 → 5.5
        ("4.7", "3.45", "4.0", "D", 1),   # 1.88 + 2.07 = 3.95 → 4.0, a pass
        ("4.7", "3.4", "3.9", "F", 0),    # 1.88 + 2.04 = 3.92 → 3.9, fails
        ("10", "10", "10.0", "A", 4),
        ("0", "0", "0.0", "F", 0),
        (9.5, 7.75, "8.5", "A", 4),       # floats go through str(): 0.4*9.5+0.6*7.75 is 8.4499… in binary
    ],
)
def test_module_score_letter_points(continuous: object, final: object, score: str, letter: str, points: int) -> None:
    s = module_score({"continuous": continuous, "final": final}, W)
    assert s == D(score)
    band = P.letter(s)
    assert (band.letter, band.points) == (letter, D(points))
    assert P.passed(s) is (points > 0)


def test_letter_band_edges() -> None:
    for score, letter in [("8.5", "A"), ("8.4", "B"), ("7.0", "B"), ("6.9", "C"), ("5.5", "C"), ("5.4", "D"), ("4.0", "D"), ("3.9", "F")]:
        assert P.letter(D(score)).letter == letter, score


@pytest.mark.parametrize(
    ("components", "weights", "field"),
    [
        ({"continuous": "7"}, W, "components.final"),
        ({"continuous": "7", "final": "11"}, W, "components.final"),
        ({"continuous": "-1", "final": "5"}, W, "components.continuous"),
        ({"continuous": "x", "final": "5"}, W, "components.continuous"),
        ({"continuous": "7", "final": "5", "oral": "5"}, W, "components.oral"),
        ({"continuous": "7", "final": "5"}, {"continuous": "0.5", "final": "0.6"}, "weights"),
    ],
)
def test_bad_components_name_the_field(components: dict, weights: dict, field: str) -> None:
    with pytest.raises(GradingError) as err:
        module_score(components, weights)
    assert err.value.field == field


def test_other_weights_per_programme() -> None:
    assert module_score({"continuous": "6", "practice": "9", "final": "7"}, {"continuous": "0.3", "practice": "0.3", "final": "0.4"}) == D("7.3")


def test_gpa_is_credit_weighted_two_decimals_and_leaves_condition_modules_out() -> None:
    sittings = [
        ModuleResult("M1", 3, D("8.5")),   # A 4 × 3
        ModuleResult("M2", 2, D("7.0")),   # B 3 × 2
        ModuleResult("M3", 4, D("5.0")),   # D 1 × 4
        ModuleResult("GDTC", 2, D("9.0"), is_condition=True),  # would lift the GPA if counted
    ]
    results = best_results(P, sittings)
    # (12 + 6 + 4) / 9 = 2.444… → 2.44
    assert gpa(P, results.values()) == D("2.44")
    # with the condition module counted it would be (22 + 8) / 11 = 2.73
    assert gpa(P, [r for r in results.values() if not r.is_condition]) == D("2.44")


def test_gpa_rounds_half_up() -> None:
    # (4×1 + 3×1 + 3×1 + 2×1 + 4×1 + 3×1 + 3×1 + 2×1) = 24 / 8 = 3.00; (4+4+3+2)/4 = 3.25; 2.445 cases:
    results = best_results(P, [ModuleResult("A", 1, D("8.5")), ModuleResult("B", 1, D("7.0"))] + [ModuleResult(f"C{i}", 1, D("5.5")) for i in range(6)])
    # (4 + 3 + 6×2) / 8 = 19/8 = 2.375 → 2.38 (half up; banker's rounding would give 2.38 too, so also check 2.125)
    assert gpa(P, results.values()) == D("2.38")
    results = best_results(P, [ModuleResult("A", 1, D("7.0"))] + [ModuleResult(f"C{i}", 1, D("5.5")) for i in range(7)])
    assert gpa(P, results.values()) == D("2.13")  # 17/8 = 2.125 → 2.13, not 2.12


def test_retake_and_improvement_keep_the_best_sitting() -> None:
    sittings = [
        ModuleResult("M1", 3, D("3.0"), term="2024-1"),   # failed
        ModuleResult("M1", 3, D("6.0"), term="2024-2"),   # retake passes: C
        ModuleResult("M2", 2, D("7.5"), term="2024-1"),   # B
        ModuleResult("M2", 2, D("6.0"), term="2025-1"),   # improvement went worse: B stays
    ]
    results = best_results(P, sittings)
    assert (results["M1"].letter, results["M1"].attempts) == ("C", 2)
    assert results["M2"].letter == "B"
    assert gpa(P, results.values()) == D("2.40")  # (2×3 + 3×2) / 5
    assert term_gpa(P, sittings, "2024-1") == D("1.20")  # (0×3 + 3×2) / 5


PROGRAMME = {"M1": (3, False), "M2": (2, False), "GDQP": (2, True)}


@pytest.mark.parametrize(
    ("scores", "gpa_value", "classification"),
    [
        ({"M1": "8.5", "M2": "8.5"}, "4.00", "xuat_sac"),
        ({"M1": "8.5", "M2": "5.5"}, "3.20", "gioi"),      # (12 + 4) / 5
        ({"M1": "7.0", "M2": "7.0"}, "3.00", "gioi"),      # exactly 3.00
        ({"M1": "8.5", "M2": "4.0"}, "2.80", "kha"),       # (12 + 2) / 5
        ({"M1": "7.0", "M2": "5.5"}, "2.60", "kha"),
        ({"M1": "5.5", "M2": "8.5"}, "2.80", "kha"),
        ({"M1": "5.5", "M2": "5.5"}, "2.00", "trung_binh"),  # exactly 2.00
        ({"M1": "7.0", "M2": "4.0"}, "2.20", "trung_binh"),
    ],
)
def test_classification_at_each_threshold(scores: dict, gpa_value: str, classification: str) -> None:
    sittings = [ModuleResult(code, PROGRAMME[code][0], D(s)) for code, s in scores.items()] + [ModuleResult("GDQP", 2, D("5.0"), is_condition=True)]
    st = standing(P, PROGRAMME, sittings)
    assert st.gpa == D(gpa_value)
    assert st.eligible and st.classification is not None and st.classification.key == classification


def test_classification_boundaries_on_gpa() -> None:
    for value, key in [("3.50", "xuat_sac"), ("3.49", "gioi"), ("3.00", "gioi"), ("2.99", "kha"), ("2.50", "kha"), ("2.49", "trung_binh"), ("2.00", "trung_binh")]:
        assert P.classify(D(value)).key == key, value
    assert P.classify(D("1.99")) is None


def test_not_eligible_reasons() -> None:
    low = standing(P, PROGRAMME, [ModuleResult("M1", 3, D("4.0")), ModuleResult("M2", 2, D("5.4")), ModuleResult("GDQP", 2, D("9"), is_condition=True)])
    assert not low.eligible and low.gpa == D("1.00") and "below 2.00" in low.reasons[0]
    condition_failed = standing(P, PROGRAMME, [ModuleResult("M1", 3, D("9")), ModuleResult("M2", 2, D("9")), ModuleResult("GDQP", 2, D("3.0"), is_condition=True)])
    assert not condition_failed.eligible and condition_failed.failed_modules == ("GDQP",) and condition_failed.gpa == D("4.00")
    missing = standing(P, PROGRAMME, [ModuleResult("M1", 3, D("9"))])
    assert not missing.eligible and missing.missing_modules == ("GDQP", "M2")


def test_policy_round_trips_as_data_and_a_changed_threshold_is_a_data_change() -> None:
    data = P.to_dict()
    assert GradingPolicy.from_dict(data) == P
    stricter = GradingPolicy.from_dict(data | {"code": "X", "graduation_min_gpa": "2.50"})
    sittings = [ModuleResult("M1", 3, D("5.5")), ModuleResult("M2", 2, D("5.5")), ModuleResult("GDQP", 2, D("5"), is_condition=True)]
    assert standing(P, PROGRAMME, sittings).eligible
    assert not standing(stricter, PROGRAMME, sittings).eligible
