"""Oversight facts of the registry: staff counts reported by schools (who may report them), and the registry as
national oversight reads it (who may read it).

* Staff counts of an institution are reported by its school administrator or its school system, or by officers
  of its province and national officers; anyone may read them (headcounts are public statistics).
* The oversight listing (registry facts, active machine clients that may sync, latest staff counts) is read by
  platform services holding ``identity:oversight`` (records pulls it for the connection board), by national
  officers (every institution) and by province officers (their provinces' institutions)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import utcnow
from services.common.errors import Forbidden, NotFound
from services.common.permissions import is_national_officer, may_manage_province, provinces_of, roles_at
from services.identity.audit import service as audit
from services.identity.institutions import repository as institutions
from services.identity.models import Institution, StaffCount
from services.identity.oversight import repository
from services.identity.oversight.schemas import OversightInstitution, StaffCountIn, StaffCountRead

READ_SCOPE = "identity:oversight"
REPORTERS = {"school_admin", "school_system"}


async def _institution(session: AsyncSession, code: str) -> Institution:
    inst = await institutions.by_code(session, code)
    if inst is None:
        raise NotFound(f"No institution {code}.")
    return inst


def _actor(principal: Principal) -> str:
    return principal.sub[:200]


async def report_staff(session: AsyncSession, principal: Principal, code: str, year: int, body: StaffCountIn) -> StaffCount:
    inst = await _institution(session, code)
    if not (roles_at(principal, code) & REPORTERS or may_manage_province(principal, inst.province_code)):
        raise Forbidden(f"You may not report the staff of institution {code}.")
    row = await repository.staff_count(session, code, year)
    before = None
    if row is None:
        row = StaffCount(institution_code=code, year=year, teachers=body.teachers, managers=body.managers,
                         reported_by=_actor(principal), reported_at=utcnow())
        session.add(row)
    else:
        before = {"teachers": row.teachers, "managers": row.managers}
        row.teachers, row.managers, row.reported_by, row.reported_at = body.teachers, body.managers, _actor(principal), utcnow()
    await session.flush()
    audit.record(session, actor=principal, action="institution.staff_reported", target_type="institution", target_id=code,
                 details={"year": year, "teachers": body.teachers, "managers": body.managers, "before": before})
    return row


async def staff_history(session: AsyncSession, code: str) -> list[StaffCount]:
    await _institution(session, code)
    return await repository.staff_counts(session, code)


def readable_provinces(principal: Principal) -> set[str] | None:
    """None: every province; else the provinces the caller oversees. Refuses everyone else."""
    if principal.has_scope(READ_SCOPE) or is_national_officer(principal):
        return None
    provinces = provinces_of(principal)
    if not provinces:
        raise Forbidden("The oversight listing is for officers and platform services.", missing_scopes=[READ_SCOPE])
    return provinces


async def listing(session: AsyncSession, principal: Principal) -> list[OversightInstitution]:
    provinces = readable_provinces(principal)
    clients = await repository.sync_clients_by_institution(session)
    staff = await repository.latest_staff_counts(session)
    return [
        OversightInstitution(
            code=i.code, name=i.name, type=i.type, ownership=i.ownership, province_code=i.province_code, status=i.status,
            latitude=i.latitude, longitude=i.longitude, machine_clients_active=clients.get(i.code, 0),
            staff=StaffCountRead.model_validate(staff[i.code]) if i.code in staff else None,
        )
        for i in await repository.institutions(session, provinces)
    ]
