"""Launching a course lesson for xAPI content: the LRS endpoint, Basic credentials for the content, actor and
registration; for a cmi5 assignable unit also the one-time fetch URL and the ready launch URL (LMS.LaunchData
written)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import NotFound
from services.learning.context import LearningContext
from services.learning.courses import repository as course_repository
from services.learning.courses import service as courses
from services.learning.courses.schemas import LaunchRead
from services.learning.packages import player
from services.learning.xapi import cmi5
from services.learning.xapi.auth import learner_agent, new_launch


async def launch(ctx: LearningContext, session: AsyncSession, principal: Principal, enrolment_id: uuid.UUID,
                 lesson_id: uuid.UUID) -> LaunchRead:
    enrolment, course = await courses.active_enrolment(session, principal, enrolment_id)
    lesson = next((x for x in await course_repository.lessons(session, course.id) if x.id == lesson_id), None)
    if lesson is None:
        raise NotFound(f"No lesson {lesson_id} in this course.")
    await courses.apply_progress(session, ctx.outbox, enrolment, course, lesson_id, "opened", 0)
    settings = ctx.settings
    au = au_url = None
    if lesson.kind == "package" and lesson.learning_object_id and lesson.learning_object_version:
        package = await player.package_of(session, lesson.learning_object_id, lesson.learning_object_version)
        au = cmi5.assignable_unit(package) if package is not None else None
        if au is not None:  # the learner must be allowed to play it, as through the library's launch
            _, _, _, blob = await player.playable(session, principal, lesson.learning_object_id, lesson.learning_object_version)
            au_url = au["launch"] if au["launch"].startswith(("http://", "https://")) else player.base_url(settings, blob.sha256) + au["launch"]
    row, auth, fetch_secret = await new_launch(ctx, session, enrolment, lesson_id, fetch=au is not None)
    base = settings.public_service_url.rstrip("/")
    content = {
        "package": f"{base}/v1/learning-objects/{lesson.learning_object_id}/launch?version={lesson.learning_object_version}",
        "learning_object": f"{base}/v1/learning-objects/{lesson.learning_object_id}/versions/{lesson.learning_object_version}",
    }.get(lesson.kind)
    endpoint, actor, activity = f"{base}/v1/xapi/", learner_agent(enrolment), courses.activity_id(lesson_id)
    fetch_url = launch_url = None
    if au is not None and au_url is not None:
        fetch_url = f"{base}/v1/xapi/cmi5/fetch/{row.id}?k={fetch_secret}"
        launch_url = cmi5.launch_url(au_url, endpoint=endpoint, fetch=fetch_url, actor=actor, registration=enrolment.id, activity_id=activity)
        await cmi5.start(session, ctx.outbox, row, enrolment, course, au, activity_id=activity, au_url=au_url)
    return LaunchRead(content_url=content, endpoint=endpoint, auth=auth, actor=actor, registration=enrolment.id,
                      activity_id=activity, expires_at=row.expires_at, fetch_url=fetch_url, cmi5_launch_url=launch_url)
