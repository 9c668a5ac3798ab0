"""Per-institution activity in learning for national oversight (records pulls it for the connection board's
freshness of published material and for the indicators on soft skills and teachers' digital competence).

Read by platform services holding ``learning:oversight`` and by national officers. Province officers read the
connection board and the indicators in records, which scopes them to their provinces (learning objects carry no
province here)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Forbidden
from services.common.permissions import is_national_officer
from services.learning.activity import repository
from services.learning.activity.schemas import InstitutionActivity

READ_SCOPE = "learning:oversight"


def ensure_reader(principal: Principal) -> None:
    if not (principal.has_scope(READ_SCOPE) or is_national_officer(principal)):
        raise Forbidden("Institution activity is for platform services and national officers.", missing_scopes=[READ_SCOPE])


async def listing(session: AsyncSession, principal: Principal) -> list[InstitutionActivity]:
    ensure_reader(principal)
    published = await repository.publications(session)
    completed = await repository.completions(session)
    out = []
    for code in sorted(set(published) | set(completed)):
        n, last = published.get(code, (0, None))
        c = completed.get(code, {"students": 0, "teachers": 0, "last": None})
        out.append(InstitutionActivity(institution_code=code, objects_published=n, last_published_at=last,
                                       students_completed=c["students"], teachers_digital_completed=c["teachers"],
                                       last_completed_at=c["last"]))
    return out
