"""Launching a cmi5 assignable unit (the cmi5 specification, Quartz edition): the launch URL with its five query
parameters (§8.1), the one-time fetch URL (§8.2, see :func:`services.learning.xapi.auth.fetch_token`), the
``LMS.LaunchData`` State document written before the launch (§10) and the "Launched" statement (§9.3.1).

The platform's ids: registration = the enrolment, activityId = the lesson's activity IRI (never the publisher's AU
id, which goes into the context template's grouping), session id = the launch id."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.learning.models import Course, CourseEnrolment, Package, XapiLaunch
from services.learning.xapi import service, state
from services.learning.xapi.auth import Caller, learner_agent
from services.learning.xapi.validation import agent_key

EXT = "https://w3id.org/xapi/cmi5/context/extensions/"
SESSION_ID = EXT + "sessionid"
CATEGORY_CMI5 = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
COURSE_TYPE = "https://w3id.org/xapi/cmi5/activitytype/course"
COURSE_ACTIVITY_BASE = "https://vet.gov.vn/xapi/activities/courses/"
LAUNCHED = "http://adlnet.gov/expapi/verbs/launched"
#: what an AU without a moveOn in cmi5.xml gets (the platform counts a lesson done when it is completed)
DEFAULT_MOVE_ON = "Completed"


def assignable_unit(package: Package) -> dict[str, Any] | None:
    """The AU of a cmi5 package a lesson launches: the one at the package's launch path (the first launched from
    inside the package)."""
    if package.kind != "cmi5":
        return None

    def walk(nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
        for node in nodes:
            if node.get("type") == "au" and node.get("launch") == package.launch_path:
                return node
            found = walk(node.get("children") or [])
            if found:
                return found
        return None

    return walk(package.manifest.get("structure") or []) or {"id": None, "launch": package.launch_path}


def launch_data(au: dict[str, Any], session_id: uuid.UUID, course: Course) -> dict[str, Any]:
    grouping = [{"objectType": "Activity", "id": f"{COURSE_ACTIVITY_BASE}{course.id}", "definition": {"type": COURSE_TYPE}}]
    if au.get("id"):  # the publisher's AU id (cmi5 §9.6.2.3)
        grouping.insert(0, {"objectType": "Activity", "id": au["id"]})
    data: dict[str, Any] = {
        "contextTemplate": {"contextActivities": {"grouping": grouping}, "extensions": {SESSION_ID: str(session_id)}},
        "launchMode": "Normal",
        "moveOn": au.get("move_on") or DEFAULT_MOVE_ON,
    }
    if au.get("mastery_score") is not None:
        data["masteryScore"] = au["mastery_score"]
    if au.get("launch_parameters"):
        data["launchParameters"] = au["launch_parameters"]
    return data


def launch_url(au_url: str, *, endpoint: str, fetch: str, actor: dict[str, Any], registration: uuid.UUID, activity_id: str) -> str:
    """The AU's URL with endpoint, fetch, actor (JSON), registration and activityId, each value percent-encoded."""
    params = {"endpoint": endpoint, "fetch": fetch, "actor": json.dumps(actor, ensure_ascii=False, separators=(",", ":")),
              "registration": str(registration), "activityId": activity_id}
    return au_url + ("&" if "?" in au_url else "?") + urlencode(params, safe="", quote_via=quote)


async def start(session: AsyncSession, outbox: Any, launch: XapiLaunch, enrolment: CourseEnrolment, course: Course,
                au: dict[str, Any], *, activity_id: str, au_url: str) -> None:
    """Before the AU runs: ``LMS.LaunchData`` for this learner, AU and registration, and the "Launched" statement."""
    actor = learner_agent(enrolment)
    data = launch_data(au, launch.id, course)
    now = utcnow()
    scope = state.Scope(activity_id=activity_id, agent_key=agent_key(actor), registration=enrolment.id)
    await state.put(session, scope, state.LAUNCH_DATA, state.JSON_TYPE, json.dumps(data, ensure_ascii=False).encode(), now)
    context = copy.deepcopy(data["contextTemplate"])
    context["registration"] = str(enrolment.id)
    context["contextActivities"]["category"] = [{"objectType": "Activity", "id": CATEGORY_CMI5}]
    context["extensions"] |= {EXT + "launchmode": data["launchMode"], EXT + "launchurl": au_url, EXT + "moveon": data["moveOn"]}
    if "masteryScore" in data:
        context["extensions"][EXT + "masteryscore"] = data["masteryScore"]
    if "launchParameters" in data:
        context["extensions"][EXT + "launchparameters"] = data["launchParameters"]
    launched = {"id": str(uuid.uuid4()), "actor": actor, "verb": {"id": LAUNCHED, "display": {"en-US": "Launched"}},
                "object": {"objectType": "Activity", "id": activity_id}, "context": context, "timestamp": now.isoformat()}
    # stored as the learner's, like the AU's own statements, so the learner and the AU see the whole session
    caller = Caller(authority=enrolment.account_sub or enrolment.learner_key, launch=launch)
    await service.store(session, outbox, caller, [launched])
