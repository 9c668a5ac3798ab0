"""Who may do what with e-courses.

* Teachers and school admins holding ``learning:publish`` author courses for their institution.
* National courses are authored by national officers holding ``learning:moderate`` (the ministry's designated
  officers) or by holders of ``learning:admin``.
* A school (staff or its SIS) enrols its own classes; officers (province for institutions of their province,
  national anywhere) enrol teachers; anyone signed in may enrol themselves in a published course open to them.
* Learners see and change only their own progress; a school sees its learners; officers their province / nation.
* An enrolment is withdrawn by its learner, by the school (staff or its system) of the learner's institution, or —
  for teachers enrolled by officers — by an officer of the enrolment's province or of the ministry (the enrolling
  office: any of its officers, not only the one who sent the batch). A school does not withdraw teachers an officer
  enrolled. Learners reopen by enrolling again only what they withdrew themselves; a withdrawal by the school or an
  officer is reopened by them (a class or officer batch).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, true

from services.common.auth import Principal
from services.common.errors import Forbidden, NotFound
from services.common.permissions import INSTITUTION_STAFF, is_national_officer, person_id_of, provinces_of

# the library's notion of membership and staff, shared (``actor`` re-exported for the courses package)
from services.learning.library.access import PUBLISH_SCOPE, actor, member_institutions, staff_institutions  # noqa: F401
from services.learning.models import Course, CourseEnrolment

ADMIN_SCOPE = "learning:admin"
NATIONAL_AUTHOR_SCOPE = "learning:moderate"


def is_platform_admin(principal: Principal) -> bool:
    return ADMIN_SCOPE in principal.scopes


def national_author(principal: Principal) -> bool:
    return is_platform_admin(principal) or (is_national_officer(principal) and NATIONAL_AUTHOR_SCOPE in principal.scopes)


def may_author(principal: Principal, course: Course) -> bool:
    if course.institution_code is None:
        return national_author(principal)
    return PUBLISH_SCOPE in principal.scopes and course.institution_code in staff_institutions(principal)


def ensure_author(principal: Principal, course: Course) -> None:
    if not may_author(principal, course):
        where = course.institution_code or "national courses"
        raise Forbidden(f"You may not author courses for {where}.")


def may_see_course(principal: Principal | None, course: Course) -> bool:
    """Published courses: national ones to everyone, an institution's to its members; drafts to their authors."""
    if course.status == "published":
        return course.institution_code is None or course.institution_code in member_institutions(principal) or (
            principal is not None and (is_national_officer(principal) or is_platform_admin(principal))
        )
    return principal is not None and may_author(principal, course)


def ensure_see_course(principal: Principal | None, course: Course) -> None:
    if not may_see_course(principal, course):
        raise NotFound(f"No course {course.id}.")


def listing_filter(principal: Principal | None) -> Any:
    """SQL condition: the courses the caller may list — what :func:`may_see_course` allows, as a query."""
    published: list[Any] = [Course.institution_code.is_(None), Course.institution_code.in_(member_institutions(principal))]
    if principal is not None and (is_national_officer(principal) or is_platform_admin(principal)):
        published.append(true())
    authored = [Course.institution_code.in_(staff_institutions(principal))] if principal and PUBLISH_SCOPE in principal.scopes else []
    if principal is not None and national_author(principal):
        authored.append(Course.institution_code.is_(None))
    return or_(and_(Course.status == "published", or_(*published)), *authored)


def learner_key(principal: Principal) -> str:
    person = person_id_of(principal)
    return f"person:{person}" if person else principal.sub


def owns(principal: Principal, enrolment: CourseEnrolment) -> bool:
    person = person_id_of(principal)
    return enrolment.account_sub == principal.sub or (person is not None and enrolment.person_id == person)


def school_staff(principal: Principal) -> set[str]:
    """Institutions where the caller is school staff or the school's own system."""
    return {code for code in member_institutions(principal) if INSTITUTION_STAFF & set(principal.roles.get(code, []))}


def oversees(principal: Principal, institution_code: str | None, province_code: str | None) -> bool:
    """A school sees its learners, a province officer the institutions of the province, national officers all."""
    if is_national_officer(principal) or is_platform_admin(principal):
        return True
    if province_code is not None and province_code in provinces_of(principal):
        return True
    return institution_code is not None and institution_code in school_staff(principal)


def ensure_can_read_enrolment(principal: Principal, enrolment: CourseEnrolment) -> None:
    if owns(principal, enrolment) or oversees(principal, enrolment.institution_code, enrolment.province_code):
        return
    raise NotFound(f"No enrolment {enrolment.id}.")


def ensure_learner(principal: Principal, enrolment: CourseEnrolment) -> None:
    """Progress is recorded by the learners themselves (their content reports for them)."""
    if owns(principal, enrolment):
        return
    if oversees(principal, enrolment.institution_code, enrolment.province_code):
        raise Forbidden("Only the learner records progress in an enrolment.")
    raise NotFound(f"No enrolment {enrolment.id}.")


def may_withdraw(principal: Principal, enrolment: CourseEnrolment) -> bool:
    if owns(principal, enrolment):
        return True
    if enrolment.method == "officer":
        return enrolment.enrolled_by == actor(principal) or oversees(principal, None, enrolment.province_code)
    return enrolment.institution_code is not None and enrolment.institution_code in school_staff(principal)


def ensure_may_withdraw(principal: Principal, enrolment: CourseEnrolment) -> None:
    if may_withdraw(principal, enrolment):
        return
    ensure_can_read_enrolment(principal, enrolment)  # 404 to those who may not even see it
    if enrolment.method == "officer":
        raise Forbidden("Teachers enrolled by an officer are withdrawn by officers of their province or of the ministry.")
    raise Forbidden("An enrolment is withdrawn by its learner or by the learner's school.")
