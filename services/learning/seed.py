"""Demo national catalogue for ``make run``: "Kỹ năng giao tiếp" for students and "Năng lực số cho nhà giáo" for
teachers, published, with text lessons and a quiz each. Idempotent: a course with the same title and no institution
is left as it is. Never in production."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from services.common.db import Database, utcnow
from services.common.text import fold
from services.learning.config import LearningSettings
from services.learning.courses import grading
from services.learning.courses.schemas import QuestionCreate
from services.learning.models import Course, CourseModule, Lesson, Question, Quiz

CATALOGUE: list[dict[str, Any]] = [
    {
        "title": "Kỹ năng giao tiếp", "skill_area": "communication", "audience": "students", "hours": 6.0,
        "description": "Khoá học kỹ năng mềm quốc gia (Quyết định 123/QĐ-LĐTBXH): lắng nghe, phản hồi, giao tiếp nơi làm việc.",
        "modules": [
            ("Chương 1: Lắng nghe", [("Bài 1: Lắng nghe chủ động", "<p>Tập trung vào người nói, đặt câu hỏi mở, tóm tắt lại ý chính.</p>", 30),
                                     ("Bài 2: Phản hồi tích cực", "<p>Phản hồi cụ thể, kịp thời, tôn trọng.</p>", 30)]),
            ("Chương 2: Giao tiếp nơi làm việc", [("Bài 3: Trao đổi với khách hàng và đồng nghiệp", "<p>Rõ ràng, lịch sự, đúng mục đích.</p>", 45)]),
        ],
        "questions": [
            {"kind": "single", "prompt": "Lắng nghe chủ động là gì?", "choices": [
                {"text": "Tập trung và phản hồi người nói", "correct": True}, {"text": "Chờ đến lượt mình nói"}, {"text": "Ngắt lời để góp ý"}]},
            {"kind": "true_false", "prompt": "Giao tiếp phi ngôn ngữ cũng truyền tải thông điệp.", "answer": True},
            {"kind": "multiple", "prompt": "Phản hồi tốt cần:", "choices": [
                {"text": "Cụ thể", "correct": True}, {"text": "Kịp thời", "correct": True}, {"text": "Chung chung"}]},
        ],
    },
    {
        "title": "Năng lực số cho nhà giáo giáo dục nghề nghiệp", "skill_area": "digital", "audience": "teachers", "hours": 8.0,
        "description": "Bồi dưỡng năng lực số cho nhà giáo (Quyết định 2222/QĐ-TTg): học liệu số, lớp học trực tuyến, an toàn thông tin.",
        "modules": [
            ("Chương 1: Học liệu số", [("Bài 1: Tìm và dùng học liệu trên kho chung", "<p>Tìm kiếm, giấy phép CC, ghi nguồn.</p>", 40),
                                       ("Bài 2: Soạn bài giảng điện tử", "<p>Video ngắn, tương tác, đánh giá trực tuyến.</p>", 60)]),
            ("Chương 2: An toàn thông tin", [("Bài 3: Bảo vệ dữ liệu người học", "<p>Mật khẩu mạnh, xác thực hai lớp, dữ liệu cá nhân.</p>", 40)]),
        ],
        "questions": [
            {"kind": "single", "prompt": "Giấy phép CC-BY yêu cầu điều gì khi dùng lại học liệu?", "choices": [
                {"text": "Ghi nguồn tác giả", "correct": True}, {"text": "Trả phí bản quyền"}, {"text": "Không được sửa đổi"}]},
            {"kind": "matching", "prompt": "Ghép công cụ với mục đích", "pairs": [
                {"left": "Kho học liệu", "right": "Tìm bài giảng dùng chung"},
                {"left": "Lớp học trực tuyến", "right": "Dạy học từ xa"}]},
            {"kind": "numeric", "prompt": "Mã xác thực hai lớp thường có bao nhiêu chữ số?", "answer": 6},
        ],
    },
]


async def seed(settings: LearningSettings) -> list[str]:
    if settings.environment == "production":
        raise RuntimeError("demo data is never loaded in production")
    db = Database(settings.database_url)
    created: list[str] = []
    try:
        async with db.session(write=True) as session:
            existing = set((await session.scalars(select(Course.title).where(Course.institution_code.is_(None)))).all())
            for spec in CATALOGUE:
                if spec["title"] in existing:
                    continue
                await _course(session, spec)
                created.append(f"course {spec['title']}")
    finally:
        await db.dispose()
    return created


async def _course(session: Any, spec: dict[str, Any]) -> None:
    now = utcnow()
    course = Course(id=uuid.uuid4(), institution_code=None, owner_sub="seed", title=spec["title"], title_folded=fold(spec["title"]),
                    description=spec["description"], skill_area=spec["skill_area"], audience=spec["audience"], language="vi",
                    estimated_hours=spec["hours"], version=1, status="published", release_rule="in_order", self_enrolment=True,
                    published_at=now)
    session.add(course)
    await session.flush()
    for m_pos, (m_title, lessons) in enumerate(spec["modules"], start=1):
        module = CourseModule(id=uuid.uuid4(), course_id=course.id, position=m_pos, title=m_title)
        session.add(module)
        await session.flush()
        for l_pos, (l_title, body, minutes) in enumerate(lessons, start=1):
            session.add(Lesson(id=uuid.uuid4(), course_id=course.id, module_id=module.id, position=l_pos, title=l_title,
                               kind="text", body=body, required=True, estimated_minutes=minutes))
    ids = []
    for q in spec["questions"]:
        options, answer = grading.build(QuestionCreate.model_validate(q))
        question = Question(id=uuid.uuid4(), course_id=course.id, pool="default", kind=q["kind"], prompt=q["prompt"],
                            options=options, answer=answer, points=1)
        session.add(question)
        ids.append(str(question.id))
    session.add(Quiz(id=uuid.uuid4(), course_id=course.id, title="Kiểm tra cuối khoá", question_ids=ids, pools=[], shuffle=True,
                     max_attempts=3, time_limit_seconds=1800, pass_mark=60.0, required=True))
    await session.flush()
