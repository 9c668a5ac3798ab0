"""Events this service receives (through the kit's ``/v1/events``, in the receiving transaction): a learner
graduated (records) → a diploma or certificate; a course completed (learning) → a course certificate. Each becomes
a one-item issuing job, so the event is stored at once and its problems, if any, stay visible on the job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.events import EventHandler
from services.common.models import InboxEvent
from services.credentials.jobs import service as jobs

GRADUATED = "vn.vet.records.learner.graduated"
COURSE_COMPLETED = "vn.vet.learning.course.completed"

LEVELS = {"trung_cap": "intermediate", "trung cấp": "intermediate", "cao_dang": "college", "cao đẳng": "college",
          "so_cap": "elementary", "sơ cấp": "elementary"}
#: records' values (``work_study``, ``xuat_sac`` …) and the Vietnamese labels, to this service's vocabulary
MODES = {"work_study": "part_time", "chính quy": "full_time", "chinh_quy": "full_time", "vừa làm vừa học": "part_time",
         "vua_lam_vua_hoc": "part_time"}
CLASSIFICATIONS = {"xuat_sac": "excellent", "gioi": "very_good", "kha": "good", "trung_binh": "average",
                   "xuất sắc": "excellent", "giỏi": "very_good", "khá": "good", "trung bình": "average"}


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def graduated_payload(data: dict[str, Any]) -> dict[str, Any]:
    programme = data.get("programme") or {}
    graduation = data.get("graduation") or {}
    holder = data.get("holder") or {}
    level = LEVELS.get(_lower(programme.get("level")), programme.get("level"))
    mode = graduation.get("mode")
    classification = graduation.get("classification")
    return _clean({
        "institution_code": data.get("institution_code"),
        "kind": "diploma" if level in ("intermediate", "college") else "certificate",
        "level": level,
        "person_id": data.get("person_id"),
        "learner_id": str(data["learner_id"]) if data.get("learner_id") is not None else None,
        "holder": _clean({
            "full_name": holder.get("full_name"), "date_of_birth": holder.get("birth_date") or holder.get("date_of_birth"),
            "gender": holder.get("gender"), "birth_place": holder.get("birth_place"), "id_number": holder.get("id_number"),
        }),
        "achievement": _clean({
            "code": programme.get("code"), "name": programme.get("occupation_name") or programme.get("name"),
            "occupation_code": programme.get("occupation_code"), "occupation_name": programme.get("occupation_name"),
            "credits": programme.get("credits"),
        }),
        "graduation": _clean({
            "year": graduation.get("year"), "decision_number": graduation.get("decision_number"),
            "decision_date": graduation.get("decision_date"), "mode": MODES.get(_lower(mode), mode),
            "gpa": graduation.get("gpa"), "classification": CLASSIFICATIONS.get(_lower(classification), classification),
        }),
    })


def course_payload(data: dict[str, Any], platform_issuer: str) -> dict[str, Any]:
    completed = data.get("completed_at") or data.get("completion_time")
    year = None
    if isinstance(completed, str):
        try:
            year = datetime.fromisoformat(completed.replace("Z", "+00:00")).year
        except ValueError:
            year = None
    return _clean({
        "institution_code": data.get("institution_code") or platform_issuer,
        "kind": "course_certificate",
        "level": "course",
        "person_id": data.get("person_id"),
        # a learner without a person record (a staff account) is named by the account: learner_id "account:<id>"
        "learner_id": str(data["learner_id"]) if data.get("learner_id") is not None else None,
        "holder": data.get("holder"),
        "achievement": _clean({
            "code": str(data["course_id"]) if data.get("course_id") is not None else None,
            "name": data.get("title"), "version": str(data["version"]) if data.get("version") is not None else None,
            "skill_area": data.get("skill_area"), "hours": data.get("hours"),
        }),
        "graduation": _clean({"year": year, "completed_at": completed, "final_score": data.get("final_score")}),
    })


def handlers(platform_issuer: str) -> dict[str, EventHandler]:
    async def on_graduated(session: AsyncSession, event: InboxEvent) -> None:
        payload = graduated_payload(event.data)
        await jobs.create_from_event(session, event.id, str(payload.get("institution_code") or "?"), payload)

    async def on_course_completed(session: AsyncSession, event: InboxEvent) -> None:
        payload = course_payload(event.data, platform_issuer)
        await jobs.create_from_event(session, event.id, str(payload.get("institution_code")), payload)

    return {GRADUATED: on_graduated, COURSE_COMPLETED: on_course_completed}
