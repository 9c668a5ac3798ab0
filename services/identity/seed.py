"""Demo data for ``make run``: a few institutions, a teacher, a student, machine clients. Idempotent: running it
again changes nothing. Refused in production."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from services.common.db import Database, utcnow
from services.common.text import fold
from services.identity.accounts.passwords import hash_password
from services.identity.config import IdentitySettings
from services.identity.models import Account, ApiClient, Institution, Membership, Person, StaffCount
from services.identity.persons.numbers import current_province
from services.identity.tokens.service import TokenService

#: (code, name, type, ownership, province, address, latitude, longitude)
DEMO_INSTITUTIONS = [
    ("CD0101", "Trường Cao đẳng Kỹ thuật Công nghệ Hà Nội (demo)", "college", "public", "001",
     "Phường Cầu Giấy, Hà Nội", 21.0362, 105.7906),
    ("TC7901", "Trường Trung cấp Du lịch Sài Gòn (demo)", "intermediate", "private", "079",
     "Phường Bến Thành, TP Hồ Chí Minh", 10.7725, 106.6980),
    # registered in Quảng Nam (049) before the 2025 merger: stored under Đà Nẵng (048)
    ("TT4901", "Trung tâm Giáo dục nghề nghiệp Quảng Nam (demo)", "vet_centre", "public", "049",
     "Phường Tam Kỳ, Đà Nẵng", 15.5736, 108.4740),
    # more schools for the oversight board and the dashboard's map (make run's records seed gives some a sync history)
    ("CD0102", "Trường Cao đẳng Công nghiệp Hà Nội (demo)", "college", "public", "001",
     "Phường Tây Mỗ, Hà Nội", 21.0055, 105.7400),
    ("TC0103", "Trường Trung cấp Kinh tế Hà Nội (demo)", "intermediate", "public", "001",
     "Phường Hoàng Mai, Hà Nội", 20.9810, 105.8630),
    ("CD3101", "Trường Cao đẳng Hàng hải Hải Phòng (demo)", "college", "public", "031",
     "Phường Ngô Quyền, Hải Phòng", 20.8530, 106.6990),
    ("TC3102", "Trường Trung cấp Nghề Thủy Nguyên (demo)", "intermediate", "private", "031",
     "Phường Thủy Nguyên, Hải Phòng", 20.9380, 106.6720),
    ("CD4801", "Trường Cao đẳng Du lịch Đà Nẵng (demo)", "college", "public", "048",
     "Phường Hòa Cường, Đà Nẵng", 16.0330, 108.2210),
    ("TC4902", "Trường Trung cấp Nghề Quảng Nam (demo)", "intermediate", "public", "049",
     "Phường Điện Bàn, Đà Nẵng", 15.8900, 108.2500),
    ("CD7902", "Trường Cao đẳng Kỹ thuật Cao Thắng (demo)", "college", "public", "079",
     "Phường Sài Gòn, TP Hồ Chí Minh", 10.7700, 106.7050),
]

#: (institution, year, teachers, managers): staff counts as the demo schools reported them
DEMO_STAFF_COUNTS = [
    ("CD0101", 2025, 120, 18), ("TC7901", 2025, 45, 8), ("TT4901", 2025, 16, 4), ("CD0102", 2025, 210, 25),
    ("TC0103", 2025, 60, 9), ("CD3101", 2025, 150, 20), ("TC3102", 2025, 40, 6), ("CD4801", 2025, 95, 14),
    ("TC4902", 2025, 38, 7), ("CD7902", 2025, 180, 22),
]

#: (client_id, name, secret, scopes, institution, roles)
DEMO_CLIENTS = [
    ("platform-admin", "Platform operator (demo)", "dev-only-platform-admin-secret",
     ["identity:keys", "identity:clients", "identity:admin", "identity:persons", "identity:persons:unmasked",
      "learning:admin", "records:admin", "credentials:admin", "admissions:share", "records:lmis"], None, ["platform_admin@national"]),
    ("demo-province-079", "Sở LĐTBXH TP Hồ Chí Minh (demo officer system)", "dev-only-demo-province-secret",
     ["identity:institutions"], None, ["province_officer@province:079"]),
    ("demo-school-sis", "Demo school information system (CD0101)", "dev-only-demo-school-secret",
     ["records:sync", "records:read", "credentials:issue"], "CD0101", ["school_system"]),
    # a province education department's system pushing its secondary schools' graduating cohorts (admissions)
    ("demo-sgddt-048", "Sở GDĐT Đà Nẵng – Quảng Nam (demo admissions system)", "dev-only-demo-sgddt-secret",
     ["admissions:share"], None, []),
    # a labour-market information system pulling the graduates feed (what it sees of persons: records' lmis rules)
    ("demo-lmis", "Hệ thống thông tin thị trường lao động (demo)", "dev-only-demo-lmis-secret", ["records:lmis"], None, []),
    ("demo-employer", "Demo employer verifier", "dev-only-demo-employer-secret", ["credentials:verify:bulk"], None, []),
    # the systems of three more demo schools (the connection board: a school is connected when one of these is active
    # and it synced recently)
    ("demo-sis-cd3101", "Demo school information system (CD3101)", "dev-only-demo-sis-cd3101-secret",
     ["records:sync", "records:read"], "CD3101", ["school_system"]),
    ("demo-sis-cd4801", "Demo school information system (CD4801)", "dev-only-demo-sis-cd4801-secret",
     ["records:sync", "records:read"], "CD4801", ["school_system"]),
    ("demo-sis-cd7902", "Demo school information system (CD7902)", "dev-only-demo-sis-cd7902-secret",
     ["records:sync", "records:read"], "CD7902", ["school_system"]),
]

#: identity:oversight and learning:oversight: records pulls the registry's and learning's facts for the connection board
SERVICE_SCOPES = ["events:deliver", "identity:oversight", "identity:persons", "learning:oversight", "records:read"]
#: what one service's client holds beyond those: learning's gradebooks enter grades in records
SERVICE_EXTRA_SCOPES: dict[str, list[str]] = {"learning": ["records:grades:write"]}


def service_scopes(service: str | None) -> list[str]:
    """The scopes of a platform service's own machine client."""
    return sorted(set(SERVICE_SCOPES) | set(SERVICE_EXTRA_SCOPES.get(service or "", [])))

#: the demo student as a school's sync registered him; his VNeID sign-in (stand-in citizen 1) lands on this person
DEMO_PERSON = {"id_number": "001203012345", "full_name": "Trần Văn Minh", "date_of_birth": date(2003, 5, 14),
               "gender": "male", "birth_place": "Hà Nội"}

#: (username, full name, password, [(at, role)])
DEMO_ACCOUNTS = [
    ("teacher.demo", "Nguyễn Thị Lan (giáo viên demo)", "dev-only-Teacher#2026", [("CD0101", "teacher")]),
    ("student.demo", "Trần Văn Minh (học viên demo)", "dev-only-Student#2026", [("CD0101", "student")]),
    # a student at another school (the library demo: finds material CD0101 published)
    ("student.tc.demo", "Lê Thị Hoa (học viên demo, TC7901)", "dev-only-Student#2026", [("TC7901", "student")]),
    ("schooladmin.demo", "Phạm Quốc Huy (quản trị trường demo)", "dev-only-SchoolAdmin#2026", [("CD0101", "school_admin")]),
    ("officer.hcm.demo", "Võ Thị Mai (cán bộ Sở, TP HCM, demo)", "dev-only-Officer#2026", [("province:079", "province_officer")]),
    ("ministry.demo", "Hoàng Văn Nam (cán bộ Bộ, demo)", "dev-only-Ministry#2026", [("national", "ministry_officer")]),
    # an enterprise assessor: no role anywhere; a teacher's invitation lets this account assess one exam
    ("assessor.demo", "Đỗ Văn Tâm (chuyên gia doanh nghiệp demo)", "dev-only-Assessor#2026", []),
]


async def seed(settings: IdentitySettings, service_clients: dict[str, str], services: dict[str, str] | None = None) -> list[str]:
    """Loads demo rows that are missing; ``service_clients`` maps the other services' client ids to their secrets,
    ``services`` their client ids to the services' names (for their scopes: :func:`service_scopes`); a service
    client whose scopes differ is given the right ones. Returns what was created or changed."""
    if settings.environment == "production":
        raise RuntimeError("demo data is never loaded in production")
    db = Database(settings.database_url)
    tokens = TokenService(settings)
    created: list[str] = []
    try:
        async with db.session(write=True) as session:
            await tokens.ensure_signing_key(session)
            existing = set((await session.scalars(select(Institution.code))).all())
            for code, name, kind, ownership, province, address, lat, lon in DEMO_INSTITUTIONS:
                if code not in existing:
                    session.add(Institution(
                        code=code, name=name, name_folded=fold(name), type=kind, ownership=ownership,
                        province_code=current_province(province), address=address, latitude=lat, longitude=lon,
                        status="active", version=1,
                    ))
                    created.append(f"institution {code}")
            clients = set((await session.scalars(select(ApiClient.client_id))).all())
            wanted = list(DEMO_CLIENTS) + [
                (cid, f"Platform service {cid}", secret, service_scopes((services or {}).get(cid)), None, [])
                for cid, secret in service_clients.items()
            ]
            for client_id, name, secret, scopes, inst, roles in wanted:
                if client_id not in clients:
                    await tokens.create_client(
                        session, client_id=client_id, name=name, scopes=scopes, institution_code=inst, roles=roles, secret=secret
                    )
                    created.append(f"client {client_id}")
            # the platform services' clients get the scopes this version gives them (a database seeded before keeps working)
            for client in (await session.scalars(select(ApiClient).where(ApiClient.client_id.in_(list(service_clients))))).all():
                wanted_scopes = service_scopes((services or {}).get(client.client_id))
                if set(client.scopes.split()) != set(wanted_scopes):
                    client.scopes = " ".join(wanted_scopes)
                    created.append(f"client {client.client_id}: scopes {client.scopes}")
            reported = {(c, y) for c, y in (await session.execute(select(StaffCount.institution_code, StaffCount.year))).all()}
            for code, year, teachers, managers in DEMO_STAFF_COUNTS:
                if (code, year) not in reported:
                    session.add(StaffCount(institution_code=code, year=year, teachers=teachers, managers=managers,
                                           reported_by="seed", reported_at=utcnow()))
                    created.append(f"staff counts {code} {year}")
            accounts = set((await session.scalars(select(Account.username))).all())
            person = await session.scalar(select(Person).where(Person.id_number == DEMO_PERSON["id_number"]))
            if person is None:
                person = Person(**DEMO_PERSON)
                session.add(person)
                await session.flush()
                created.append("person (demo student)")
            for username, full_name, password, memberships in DEMO_ACCOUNTS:
                if username not in accounts:
                    account = Account(username=username, full_name=full_name, password_hash=hash_password(password), active=True,
                                      person_id=person.id if username == "student.demo" else None)
                    session.add(account)
                    await session.flush()
                    session.add_all(Membership(account_id=account.id, at=at, role=role, granted_by="seed") for at, role in memberships)
                    created.append(f"account {username}")
    finally:
        await db.dispose()
    return created
