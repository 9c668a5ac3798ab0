"""Helpers for the e-course tests: a course authored through the API, learners signed in, answers chosen by text
(the key never leaves the server, so a test answers as a learner would: by reading the options)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from services.common.models import OutboxEvent
from tests.learning.helpers import login, new_person, subject_of
from tests.support import Platform

MINISTRY = ("ministry.demo", "dev-only-Ministry#2026")  # national ministry officer
COMPLETED = "vn.vet.learning.course.completed"

#: prompt → (kind, body extras, the right answer as texts)
QUESTIONS: list[dict[str, Any]] = [
    {"kind": "single", "prompt": "Lắng nghe chủ động là gì?", "choices": [
        {"text": "Tập trung và phản hồi người nói", "correct": True}, {"text": "Chờ đến lượt mình nói"},
        {"text": "Ngắt lời để góp ý"}]},
    {"kind": "multiple", "prompt": "Những điều nào giúp làm việc nhóm tốt?", "choices": [
        {"text": "Phân công rõ ràng", "correct": True}, {"text": "Giao tiếp cởi mở", "correct": True},
        {"text": "Giấu thông tin"}]},
    {"kind": "true_false", "prompt": "Giao tiếp phi ngôn ngữ cũng truyền tải thông điệp.", "answer": True},
    {"kind": "numeric", "prompt": "Một buổi thuyết trình 3 phần, mỗi phần 7 phút: tổng bao nhiêu phút?", "answer": 21, "tolerance": 0},
    {"kind": "matching", "prompt": "Ghép kỹ năng với ví dụ", "pairs": [
        {"left": "Quản lý thời gian", "right": "Lập kế hoạch tuần"},
        {"left": "Giải quyết vấn đề", "right": "Phân tích nguyên nhân"},
        {"left": "Tư duy phản biện", "right": "Đánh giá lập luận"}]},
]


def right_answer(q: dict[str, Any], spec: dict[str, Any]) -> Any:
    """The right answer to an attempt's question ``q`` (as shown) from its authored ``spec``."""
    kind = spec["kind"]
    if kind in ("single", "multiple"):
        right = {c["text"] for c in spec["choices"] if c.get("correct")}
        ids = [c["id"] for c in q["choices"] if c["text"] in right]
        return ids[0] if kind == "single" else ids
    if kind == "true_false":
        return spec["answer"]
    if kind == "numeric":
        return spec["answer"]
    pairs = {p["left"]: p["right"] for p in spec["pairs"]}
    right_ids = {o["text"]: o["id"] for o in q["right"]}
    return {o["id"]: right_ids[pairs[o["text"]]] for o in q["left"]}


def wrong_answer(q: dict[str, Any], spec: dict[str, Any]) -> Any:
    kind = spec["kind"]
    if kind == "single":
        right = {c["text"] for c in spec["choices"] if c.get("correct")}
        return next(c["id"] for c in q["choices"] if c["text"] not in right)
    if kind == "multiple":
        return [q["choices"][0]["id"]] if len(right_answer(q, spec)) != 1 else []
    if kind == "true_false":
        return not spec["answer"]
    if kind == "numeric":
        return spec["answer"] + 5
    good = right_answer(q, spec)
    lefts = list(good)
    return {lefts[0]: good[lefts[1]], lefts[1]: good[lefts[0]], **{k: good[k] for k in lefts[2:]}}


def answers_for(attempt: dict[str, Any], specs: dict[str, dict[str, Any]], *, right: bool) -> dict[str, Any]:
    return {q["id"]: (right_answer if right else wrong_answer)(q, specs[q["prompt"]]) for q in attempt["questions"]}


async def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def build_course(c: httpx.AsyncClient, author: dict[str, str], *, title: str | None = None, audience: str = "students",
                       national: bool = False, release_rule: str = "in_order", max_attempts: int | None = 2,
                       time_limit_seconds: int | None = None, pass_mark: float = 80.0, publish: bool = True,
                       skill_area: str = "communication") -> dict[str, Any]:
    """A course: one module, two required text lessons and one optional, a bank of five kinds, one quiz of all five."""
    body: dict[str, Any] = {"title": title or f"Kỹ năng giao tiếp {uuid.uuid4().hex[:6]}", "skill_area": skill_area,
                            "audience": audience, "estimated_hours": 4, "release_rule": release_rule,
                            "description": "Khoá học kỹ năng mềm theo Quyết định 123"}
    if national:
        body["national"] = True
    course = await ok(await c.post("/v1/courses", json=body, headers=author), 201)
    module = await ok(await c.post(f"/v1/courses/{course['id']}/modules", json={"title": "Chương 1: Lắng nghe"}, headers=author), 201)
    lessons = []
    for title_, required in (("Bài 1: Lắng nghe chủ động", True), ("Bài 2: Phản hồi", True), ("Đọc thêm", False)):
        lessons.append(await ok(await c.post(f"/v1/courses/{course['id']}/modules/{module['id']}/lessons", json={
            "title": title_, "kind": "text", "body": f"<p>{title_}</p>", "required": required, "estimated_minutes": 20},
            headers=author), 201))
    questions = [await ok(await c.post(f"/v1/courses/{course['id']}/questions", json=q, headers=author), 201) for q in QUESTIONS]
    quiz = await ok(await c.post(f"/v1/courses/{course['id']}/quizzes", json={
        "title": "Kiểm tra cuối khoá", "question_ids": [q["id"] for q in questions], "shuffle": True,
        "max_attempts": max_attempts, "time_limit_seconds": time_limit_seconds, "pass_mark": pass_mark}, headers=author), 201)
    if publish:
        course = await ok(await c.post(f"/v1/courses/{course['id']}/publish", headers=author))
    return {"course": course, "module": module, "lessons": lessons, "questions": questions, "quiz": quiz,
            "specs": {q["prompt"]: q for q in QUESTIONS}}


async def learner(platform: Platform, at: str, role: str = "student") -> tuple[dict[str, str], str]:
    headers = await new_person(platform, at, role)
    return headers, subject_of(headers)


async def ministry(platform: Platform) -> dict[str, str]:
    return await login(platform, *MINISTRY)


async def completion_events(platform: Platform, enrolment_id: str) -> list[OutboxEvent]:
    async with platform.apps["learning"].state.db.session(write=False) as session:
        stmt = select(OutboxEvent).where(OutboxEvent.type == COMPLETED, OutboxEvent.subject == f"enrolment/{enrolment_id}")
        return list((await session.scalars(stmt)).all())


async def count_events(platform: Platform, enrolment_id: str) -> int:
    async with platform.apps["learning"].state.db.session(write=False) as session:
        stmt = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == COMPLETED,
                                                                   OutboxEvent.subject == f"enrolment/{enrolment_id}")
        return int(await session.scalar(stmt) or 0)
