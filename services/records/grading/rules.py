"""Grading by the Vietnamese credit-based rules (Thông tư 04/2022/TT-BLĐTBXH as colleges apply it), pure functions.

Everything is :class:`~decimal.Decimal` with ``ROUND_HALF_UP``: a weighted mean of 8.45 is 8.5 (an A), 6.95 is 7.0
(a B), 3.95 is 4.0 (a D, a pass). Binary floats would turn some of these into 8.4499… and round them down.

The thresholds are a :class:`GradingPolicy` held as data (table ``grading_policies``, chosen per programme);
:data:`DEFAULT_POLICY` is the platform's default grading policy (README, design notes), so a corrected circular is a data change, not a code change.

* **Module score** (điểm học phần): components (default 40% continuous assessment, 60% final exam; weights per
  programme or module) → weighted mean on the 10-point scale, rounded to one decimal.
* **Letter and 4-point value**: A 8.5–10 → 4; B 7.0–8.4 → 3; C 5.5–6.9 → 2; D 4.0–5.4 → 1; F < 4.0 → 0. A module
  is passed with D or better (``pass_score``).
* **Retakes and improvement exams** (thi lại, học lại, thi cải thiện): every sitting is its own grade, kept with
  its term; the module's *result* is the sitting with the highest score. An improvement exam therefore never
  lowers a result, and a failed module counts as F until a later sitting passes it.
* **GPA** (điểm trung bình chung tích lũy): credit-weighted mean of the 4-point values of the module results,
  rounded to two decimals. Condition modules (giáo dục thể chất, giáo dục quốc phòng và an ninh) are left out of
  the GPA but must be passed to graduate. A term GPA uses the sittings of that term only.
* **Graduation**: every module of the programme passed (condition modules included) and cumulative GPA ≥ 2.00.
  **Classification**: Xuất sắc 3.50–4.00, Giỏi 3.00–3.49, Khá 2.50–2.99, Trung bình 2.00–2.49.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

ONE_DECIMAL = Decimal("0.1")
TWO_DECIMALS = Decimal("0.01")
MAX_SCORE = Decimal("10")
_ZERO = Decimal(0)


class GradingError(ValueError):
    """A grading input is not valid; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def to_decimal(value: Any, field: str = "score") -> Decimal:
    """A score as Decimal, from a str, int or float (floats go through ``str`` so 8.45 stays 8.45)."""
    if isinstance(value, bool) or value is None:
        raise GradingError(field, "must be a number")
    try:
        # Decimal() ignores surrounding whitespace itself
        result = value if isinstance(value, Decimal) else Decimal(value if type(value) is str else str(value))
    except InvalidOperation:
        raise GradingError(field, "must be a number") from None
    if not result.is_finite():
        raise GradingError(field, "must be a finite number")
    return result


def round_half_up(value: Decimal, places: Decimal) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_UP)


def check_weights(weights: Mapping[str, Any], field: str = "weights") -> dict[str, Decimal]:
    """Weights of the assessment components: names → fractions in (0, 1] adding up to exactly 1."""
    if not weights:
        raise GradingError(field, "at least one component is needed")
    out = {}
    for name, value in weights.items():
        w = to_decimal(value, f"{field}.{name}")
        if not (Decimal(0) < w <= Decimal(1)):
            raise GradingError(f"{field}.{name}", "a weight is a fraction in (0, 1]")
        out[str(name)] = w
    if sum(out.values()) != Decimal(1):
        raise GradingError(field, f"weights add up to {sum(out.values())}, not 1")
    return out


@dataclass(frozen=True)
class LetterBand:
    letter: str
    min_score: Decimal
    points: Decimal


@dataclass(frozen=True)
class ClassBand:
    #: stable key (``xuat_sac``) and the Vietnamese label (``Xuất sắc``)
    key: str
    label: str
    min_gpa: Decimal


@dataclass(frozen=True)
class GradingPolicy:
    code: str
    name: str
    letters: tuple[LetterBand, ...]
    classifications: tuple[ClassBand, ...]
    pass_score: Decimal
    graduation_min_gpa: Decimal
    default_weights: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "letters", tuple(sorted(self.letters, key=lambda b: b.min_score, reverse=True)))
        object.__setattr__(self, "classifications", tuple(sorted(self.classifications, key=lambda b: b.min_gpa, reverse=True)))
        if not self.letters or self.letters[-1].min_score != 0:
            raise ValueError("the lowest letter band must start at 0")
        check_weights(self.default_weights, "default_weights")

    # -- data form (stored in the grading_policies table, returned by the API) -----------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "letters": [{"letter": b.letter, "min_score": str(b.min_score), "points": str(b.points)} for b in self.letters],
            "classifications": [{"key": c.key, "label": c.label, "min_gpa": str(c.min_gpa)} for c in self.classifications],
            "pass_score": str(self.pass_score),
            "graduation_min_gpa": str(self.graduation_min_gpa),
            "default_weights": {k: str(v) for k, v in self.default_weights.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GradingPolicy:
        return cls(
            code=str(data["code"]),
            name=str(data["name"]),
            letters=tuple(LetterBand(str(b["letter"]), to_decimal(b["min_score"]), to_decimal(b["points"])) for b in data["letters"]),
            classifications=tuple(ClassBand(str(c["key"]), str(c["label"]), to_decimal(c["min_gpa"])) for c in data["classifications"]),
            pass_score=to_decimal(data["pass_score"]),
            graduation_min_gpa=to_decimal(data["graduation_min_gpa"]),
            default_weights={k: to_decimal(v) for k, v in (data.get("default_weights") or {}).items()},
        )

    # -- one module ----------------------------------------------------------------------------------------------
    def letter(self, score: Decimal) -> LetterBand:
        for band in self.letters:
            if score >= band.min_score:
                return band
        return self.letters[-1]

    def passed(self, score: Decimal) -> bool:
        return score >= self.pass_score

    def classify(self, gpa: Decimal | None) -> ClassBand | None:
        if gpa is None:
            return None
        for band in self.classifications:
            if gpa >= band.min_gpa:
                return band
        return None


DEFAULT_POLICY = GradingPolicy(
    code="TT04-2022",
    name="Thông tư 04/2022/TT-BLĐTBXH (tín chỉ): thang 10, chữ A–F, thang 4",
    letters=(
        LetterBand("A", Decimal("8.5"), Decimal("4")),
        LetterBand("B", Decimal("7.0"), Decimal("3")),
        LetterBand("C", Decimal("5.5"), Decimal("2")),
        LetterBand("D", Decimal("4.0"), Decimal("1")),
        LetterBand("F", Decimal("0"), Decimal("0")),
    ),
    classifications=(
        ClassBand("xuat_sac", "Xuất sắc", Decimal("3.50")),
        ClassBand("gioi", "Giỏi", Decimal("3.00")),
        ClassBand("kha", "Khá", Decimal("2.50")),
        ClassBand("trung_binh", "Trung bình", Decimal("2.00")),
    ),
    pass_score=Decimal("4.0"),
    graduation_min_gpa=Decimal("2.00"),
    default_weights={"continuous": Decimal("0.4"), "final": Decimal("0.6")},
)


def module_score(components: Mapping[str, Any], weights: Mapping[str, Any]) -> Decimal:
    """Weighted mean of the component scores (each 0–10), one decimal, half up. Every weighted component must be
    given and no other: a missing final exam is not a zero."""
    return weighted_score(components, check_weights(weights))


def weighted_score(components: Mapping[str, Any], w: Mapping[str, Decimal]) -> Decimal:
    """:func:`module_score` with weights already checked by :func:`check_weights` (a sync checks a module's
    weights once, not once per row)."""
    if len(components) != len(w) or not all(name in w for name in components):
        unknown = sorted(set(components) - set(w))
        if unknown:
            raise GradingError(f"components.{unknown[0]}", f"not an assessment component of this module (expected {', '.join(sorted(w))})")
    total = _ZERO
    for name, weight in w.items():
        value = components.get(name)
        if value is None:
            raise GradingError(f"components.{name}", "missing")
        score = to_decimal(value, f"components.{name}")
        if not (_ZERO <= score <= MAX_SCORE):
            raise GradingError(f"components.{name}", "a score is between 0 and 10")
        total += score * weight
    return total.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ModuleResult:
    """One sitting of one module, as GPA and graduation see it."""

    module_code: str
    credits: int
    score: Decimal
    is_condition: bool = False
    term: str | None = None


@dataclass(frozen=True)
class GradedModule:
    module_code: str
    credits: int
    score: Decimal | None
    letter: str | None
    points: Decimal | None
    passed: bool
    is_condition: bool
    attempts: int
    #: recognised (công nhận) rather than studied: where from (see :class:`Recognised`)
    recognised: str | None = None
    #: counts in the GPA (a recognised module only when its rule said so and it has a grade)
    in_gpa: bool = True


@dataclass(frozen=True)
class Recognised:
    """A module of the programme recognised from a prior result (credit transfer, RPL): passed, counted toward
    graduation; in the GPA only with ``in_gpa`` and a ``score``."""

    module_code: str
    source: str
    score: Decimal | None
    in_gpa: bool


def best_results(policy: GradingPolicy, sittings: Iterable[ModuleResult]) -> dict[str, GradedModule]:
    """The result of each module: its highest-scoring sitting (retake and improvement policy above)."""
    best: dict[str, ModuleResult] = {}
    attempts: dict[str, int] = {}
    for s in sittings:
        attempts[s.module_code] = attempts.get(s.module_code, 0) + 1
        if s.module_code not in best or s.score > best[s.module_code].score:
            best[s.module_code] = s
    out = {}
    for code, s in best.items():
        band = policy.letter(s.score)
        out[code] = GradedModule(code, s.credits, s.score, band.letter, band.points, policy.passed(s.score), s.is_condition, attempts[code])
    return out


def gpa(policy: GradingPolicy, results: Iterable[GradedModule]) -> Decimal | None:
    """Credit-weighted mean of 4-point values, two decimals; condition modules excluded; None if nothing counts."""
    weighted = Decimal(0)
    credits = 0
    for r in results:
        if r.is_condition or r.credits <= 0 or not r.in_gpa or r.points is None:
            continue
        weighted += r.points * r.credits
        credits += r.credits
    if credits == 0:
        return None
    return round_half_up(weighted / credits, TWO_DECIMALS)


def term_gpa(policy: GradingPolicy, sittings: Iterable[ModuleResult], term: str) -> Decimal | None:
    return gpa(policy, best_results(policy, (s for s in sittings if s.term == term)).values())


@dataclass(frozen=True)
class Standing:
    """Where a learner stands against a programme: GPA, credits, graduation eligibility and classification."""

    gpa: Decimal | None
    credits_attempted: int
    credits_earned: int
    eligible: bool
    classification: ClassBand | None
    missing_modules: tuple[str, ...]
    failed_modules: tuple[str, ...]
    reasons: tuple[str, ...]
    results: dict[str, GradedModule]


def recognised_results(policy: GradingPolicy, programme_modules: Mapping[str, tuple[int, bool]],
                       recognised: Iterable[Recognised]) -> dict[str, GradedModule]:
    out = {}
    for r in recognised:
        if r.module_code not in programme_modules:
            continue
        credits, is_condition = programme_modules[r.module_code]
        counted = r.in_gpa and r.score is not None
        band = policy.letter(r.score) if counted and r.score is not None else None
        out[r.module_code] = GradedModule(r.module_code, credits, r.score if counted else None, band.letter if band else None,
                                          band.points if band else None, True, is_condition, 0, recognised=r.source, in_gpa=counted)
    return out


def standing(policy: GradingPolicy, programme_modules: Mapping[str, tuple[int, bool]], sittings: Iterable[ModuleResult],
             recognised: Iterable[Recognised] = ()) -> Standing:
    """``programme_modules`` maps each module code to ``(credits, is_condition)``. A recognised module stands in for
    the module's sittings (the learner is exempt from it: miễn học)."""
    results = best_results(policy, sittings) | recognised_results(policy, programme_modules, recognised)
    missing = tuple(sorted(code for code in programme_modules if code not in results))
    failed = tuple(sorted(code for code, r in results.items() if not r.passed and code in programme_modules))
    cumulative = gpa(policy, results.values())
    reasons = []
    if missing:
        reasons.append(f"no result for module(s) {', '.join(missing)}")
    if failed:
        reasons.append(f"module(s) not passed: {', '.join(failed)}")
    if cumulative is None or cumulative < policy.graduation_min_gpa:
        reasons.append(f"cumulative GPA {cumulative if cumulative is not None else '-'} is below {policy.graduation_min_gpa}")
    eligible = not reasons
    return Standing(
        gpa=cumulative,
        credits_attempted=sum(r.credits for r in results.values()),
        credits_earned=sum(r.credits for r in results.values() if r.passed),
        eligible=eligible,
        classification=policy.classify(cumulative) if eligible else None,
        missing_modules=missing,
        failed_modules=failed,
        reasons=tuple(reasons),
        results=results,
    )
