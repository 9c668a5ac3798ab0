"""The library's rules: learning objects, their versions, moderation, downloads, usage, acquisitions."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import utcnow
from services.common.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from services.common.text import fold
from services.learning.context import LearningContext
from services.learning.files.rules import ensure_accepts
from services.learning.library import access, repository
from services.learning.library.schemas import (
    AcquisitionCreate,
    DownloadLink,
    FileRead,
    LearningObjectCreate,
    LearningObjectRead,
    LearningObjectUpdate,
    Metadata,
    PackageSummary,
    VersionRead,
)
from services.learning.models import Acquisition, Blob, LearningObject, LearningObjectVersion, ModerationEvent, Package, Reviewer

OPEN_STATES = {"draft", "submitted", "rejected"}


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    try:
        return Metadata.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()]
        raise ValidationFailed("The metadata is not valid.", errors=errors) from None


def apply_listing(obj: LearningObject, meta: dict[str, Any]) -> set[tuple[str, str]]:
    """Copy a version's metadata into the object's listing columns; returns the facet tags to store."""
    obj.title = meta["title"]
    obj.type = meta["type"]
    obj.language = meta["language"]
    obj.licence = meta["licence"]["code"]
    obj.visibility = meta["visibility"]
    words = [meta["title"], meta.get("description") or "", *meta.get("keywords", []), *meta.get("subjects", []), *meta.get("authors", [])]
    obj.search_text = fold(" ".join(words))
    tags = {("level", v) for v in meta.get("levels", [])}
    tags |= {("occupation", v) for v in meta.get("occupation_codes", [])}
    tags |= {("audience", v) for v in meta.get("audience", [])}
    return tags


async def _set_listing(session: AsyncSession, obj: LearningObject, meta: dict[str, Any]) -> None:
    tags = apply_listing(obj, meta)
    await session.flush()
    await repository.replace_tags(session, obj.id, tags)


def _event(session: AsyncSession, obj: LearningObject, version: int, action: str, principal: Principal | None, reason: str | None = None) -> None:
    session.add(ModerationEvent(object_id=obj.id, version=version, action=action, actor=access.actor(principal), reason=reason))


async def create(session: AsyncSession, principal: Principal, body: LearningObjectCreate) -> tuple[LearningObject, LearningObjectVersion]:
    code = body.institution_code
    if code is None:
        staff = sorted(access.staff_institutions(principal))
        if not staff:
            raise Forbidden("Only teachers author learning material for their institution.")
        if len(staff) != 1:
            raise ValidationFailed(
                "Say which institution the material belongs to.",
                errors=[{"field": "institution_code", "message": "required when you work at several or no institutions"}],
            )
        code = staff[0]
    access.ensure_author(principal, code)
    meta = _validated(body.model_dump(exclude={"institution_code"}))
    obj = LearningObject(id=uuid.uuid4(), institution_code=code, owner_sub=access.actor(principal), latest_version=1, status="draft")
    version = LearningObjectVersion(object_id=obj.id, number=1, status="draft", meta=meta, created_by=access.actor(principal))
    session.add(obj)
    await _set_listing(session, obj, meta)
    session.add(version)
    _event(session, obj, 1, "created", principal)
    await session.flush()
    return obj, version


async def load(session: AsyncSession, object_id: uuid.UUID, *, for_update: bool = False) -> LearningObject:
    obj = await repository.get_object(session, object_id, for_update=for_update)
    if obj is None:
        raise NotFound(f"No learning object {object_id}.")
    return obj


async def visible_version(
    session: AsyncSession, principal: Principal | None, obj: LearningObject, number: int | None = None
) -> LearningObjectVersion:
    """The version asked for, or by default the one this caller should see; NotFound if they may not."""
    if number is None:
        if access.is_insider(principal, obj) or obj.published_version is None:
            number = obj.latest_version
        else:
            number = obj.published_version
    version = await repository.get_version(session, obj.id, number)
    if version is None:
        if access.is_insider(principal, obj):
            raise NotFound(f"Learning object {obj.id} has no version {number}.")
        raise NotFound(f"No learning object {obj.id}.")
    await access.ensure_can_see_version(session, principal, obj, version)
    return version


async def _authorise_edit(session: AsyncSession, principal: Principal, object_id: uuid.UUID, if_match: str | None) -> tuple[LearningObject, LearningObjectVersion]:
    obj = await load(session, object_id, for_update=True)
    if not access.is_insider(principal, obj):
        await visible_version(session, principal, obj)  # NotFound for those who may not even see it
    access.ensure_author(principal, obj.institution_code)
    if if_match is not None and if_match.strip() not in (etag_of(obj), "*"):
        raise PreconditionFailed(
            f"The learning object has changed (now version {obj.latest_version}); reload it and try again."
        )
    latest = await repository.get_version(session, obj.id, obj.latest_version)
    assert latest is not None
    return obj, latest


async def _add_version(
    session: AsyncSession,
    principal: Principal,
    obj: LearningObject,
    latest: LearningObjectVersion,
    *,
    meta: dict[str, Any],
    blob: Blob | None,
    filename: str | None,
    note: str | None,
) -> LearningObjectVersion:
    if latest.status in OPEN_STATES:
        latest.status = "superseded"  # an unreviewed version is replaced by the new one
    number = obj.latest_version + 1
    version = LearningObjectVersion(
        object_id=obj.id, number=number, status="draft", meta=meta, blob_id=blob.id if blob else None,
        filename=filename, change_note=note, created_by=access.actor(principal),
    )
    session.add(version)
    obj.latest_version = number
    obj.status = "draft"
    obj.updated_at = utcnow()
    if obj.published_version is None:
        await _set_listing(session, obj, meta)
    _event(session, obj, number, "new_version", principal, note)
    await session.flush()
    return version


async def update(
    session: AsyncSession, principal: Principal, object_id: uuid.UUID, body: LearningObjectUpdate, if_match: str | None
) -> tuple[LearningObject, LearningObjectVersion]:
    obj, latest = await _authorise_edit(session, principal, object_id, if_match)
    changes = body.model_dump(exclude_unset=True, mode="json")
    note = changes.pop("change_note", None)
    meta = _validated({**latest.meta, **changes})
    if meta == latest.meta:
        return obj, latest  # nothing changed: no new version
    if latest.blob_id is not None and meta["type"] != latest.meta["type"]:
        blob = await session.get(Blob, latest.blob_id)
        package = await session.get(Package, latest.blob_id)
        assert blob is not None
        ensure_accepts(meta["type"], blob.content_type, package.kind if package else None)
    version = await _add_version(session, principal, obj, latest, meta=meta, blob=await session.get(Blob, latest.blob_id) if latest.blob_id else None, filename=latest.filename, note=note)
    return obj, version


async def editable(session: AsyncSession, principal: Principal, object_id: uuid.UUID, if_match: str | None = None) -> tuple[LearningObject, LearningObjectVersion]:
    """For file uploads: the object and its latest version, after the same checks as an edit."""
    return await _authorise_edit(session, principal, object_id, if_match)


async def attach_file(
    session: AsyncSession, principal: Principal, obj: LearningObject, latest: LearningObjectVersion, blob: Blob,
    filename: str | None, note: str | None,
) -> LearningObjectVersion:
    return await _add_version(session, principal, obj, latest, meta=latest.meta, blob=blob, filename=filename, note=note or "new file")


def etag_of(obj: LearningObject) -> str:
    return f'"v{obj.latest_version}"'


async def to_read(session: AsyncSession, obj: LearningObject, version: LearningObjectVersion) -> LearningObjectRead:
    (read,) = await versions_read(session, [version])
    return LearningObjectRead(
        id=obj.id, institution_code=obj.institution_code, owner=obj.owner_sub, status=obj.status,
        latest_version=obj.latest_version, published_version=obj.published_version, version=read,
        view_count=obj.view_count, download_count=obj.download_count, created_at=obj.created_at, updated_at=obj.updated_at,
    )


async def versions_read(session: AsyncSession, versions: list[LearningObjectVersion]) -> list[VersionRead]:
    blob_ids = {v.blob_id for v in versions if v.blob_id}
    blobs = await repository.blobs_by_id(session, blob_ids)
    packages = await repository.packages_by_blob(session, blob_ids)
    out = []
    for v in versions:
        blob = blobs.get(v.blob_id) if v.blob_id else None
        package = packages.get(v.blob_id) if v.blob_id else None
        out.append(VersionRead(
            number=v.number, status=v.status, metadata=v.meta, change_note=v.change_note, created_by=v.created_by,
            created_at=v.created_at, published_at=v.published_at,
            file=FileRead(sha256=blob.sha256, size=blob.size, content_type=blob.content_type, filename=v.filename, scan_status=blob.scan_status) if blob else None,
            package=PackageSummary(kind=package.kind, launch_path=package.launch_path, file_count=package.file_count) if package else None,
        ))
    return out


async def list_versions(session: AsyncSession, principal: Principal | None, object_id: uuid.UUID) -> list[VersionRead]:
    obj = await load(session, object_id)
    await visible_version(session, principal, obj)
    versions = list(await repository.list_versions(session, obj.id))
    if not access.is_insider(principal, obj) and not await access.is_moderator(session, principal):
        versions = [v for v in versions if v.published_at is not None]
    return await versions_read(session, versions)


# -- moderation ------------------------------------------------------------------------------------------------


async def submit(session: AsyncSession, principal: Principal, object_id: uuid.UUID, note: str | None) -> LearningObject:
    obj, latest = await _authorise_edit(session, principal, object_id, None)
    if latest.status not in {"draft", "rejected"}:
        raise Conflict(f"Version {latest.number} is {latest.status}; only a draft or rejected version can be submitted.")
    if latest.meta["type"] not in {"link"} and latest.blob_id is None:
        raise Conflict("Upload the file before submitting the material for review.")
    latest.status = obj.status = "submitted"
    obj.updated_at = utcnow()
    _event(session, obj, latest.number, "submitted", principal, note)
    await session.flush()
    return obj


async def _submitted(session: AsyncSession, principal: Principal, object_id: uuid.UUID, number: int | None) -> tuple[LearningObject, LearningObjectVersion]:
    await access.ensure_moderator(session, principal)
    obj = await load(session, object_id, for_update=True)
    version = await repository.get_version(session, obj.id, number or obj.latest_version)
    if version is None:
        raise NotFound(f"Learning object {obj.id} has no version {number}.")
    if version.status != "submitted":
        raise Conflict(f"Version {version.number} is {version.status}, not submitted for review.")
    if version.created_by == access.actor(principal) or (
        access.is_insider(principal, obj) and access.MODERATE_SCOPE not in principal.scopes
    ):
        raise Forbidden("A reviewer may not review material of their own institution.")
    return obj, version


async def publish(session: AsyncSession, principal: Principal, object_id: uuid.UUID, number: int | None, note: str | None) -> LearningObject:
    obj, version = await _submitted(session, principal, object_id, number)
    now = utcnow()
    if obj.published_version is not None and obj.published_version != version.number:
        previous = await repository.get_version(session, obj.id, obj.published_version)
        if previous is not None and previous.status == "published":
            previous.status = "superseded"
    version.status = "published"
    version.published_at = now
    obj.published_version = version.number
    obj.published_at = now
    obj.status = "published" if version.number == obj.latest_version else obj.status
    obj.updated_at = now
    await _set_listing(session, obj, version.meta)
    _event(session, obj, version.number, "published", principal, note)
    await session.flush()
    return obj


async def reject(session: AsyncSession, principal: Principal, object_id: uuid.UUID, number: int | None, reason: str | None) -> LearningObject:
    if not reason:
        raise ValidationFailed("Say why the material is rejected.", errors=[{"field": "reason", "message": "required"}])
    obj, version = await _submitted(session, principal, object_id, number)
    version.status = "rejected"
    if version.number == obj.latest_version:
        obj.status = "rejected"
    obj.updated_at = utcnow()
    _event(session, obj, version.number, "rejected", principal, reason)
    await session.flush()
    return obj


async def withdraw(session: AsyncSession, principal: Principal, object_id: uuid.UUID, reason: str | None) -> LearningObject:
    """Take published material off the library; its versions and history stay (readable by its institution)."""
    obj = await load(session, object_id, for_update=True)
    moderator = await access.is_moderator(session, principal)
    if not moderator:
        if not access.is_insider(principal, obj):
            await visible_version(session, principal, obj)
        access.ensure_author(principal, obj.institution_code)
    if obj.published_version is None:
        raise Conflict("The learning object is not published.")
    version = await repository.get_version(session, obj.id, obj.published_version)
    assert version is not None
    version.status = "withdrawn"
    obj.published_version = None
    if version.number == obj.latest_version:
        obj.status = "withdrawn"
    obj.updated_at = utcnow()
    latest = await repository.get_version(session, obj.id, obj.latest_version)
    assert latest is not None
    await _set_listing(session, obj, latest.meta)
    _event(session, obj, version.number, "withdrawn", principal, reason)
    await session.flush()
    return obj


# -- downloads, usage, marketplace ------------------------------------------------------------------------------


async def _ensure_licensed(session: AsyncSession, principal: Principal | None, obj: LearningObject, version: LearningObjectVersion) -> None:
    if version.meta["licence"]["code"] != "marketplace" or access.is_insider(principal, obj):
        return
    if await access.is_moderator(session, principal):
        return
    if principal is not None and (
        await repository.acquisition_of(session, obj.id, principal.sub) is not None
        or await repository.acquired_by_institutions(session, obj.id, access.staff_institutions(principal) | access.member_institutions(principal))
    ):
        return
    raise Forbidden("This is marketplace material: acquire it (accepting its terms) before downloading.", acquire=f"/v1/learning-objects/{obj.id}/acquisitions")


async def download_link(ctx: LearningContext, session: AsyncSession, principal: Principal | None, object_id: uuid.UUID, number: int | None) -> DownloadLink:
    obj = await load(session, object_id)
    version = await visible_version(session, principal, obj, number)
    if version.blob_id is None:
        raise NotFound("This version has no file." + (" It is a link." if version.meta["type"] == "link" else ""))
    await _ensure_licensed(session, principal, obj, version)
    blob = await session.get(Blob, version.blob_id)
    assert blob is not None
    seconds = ctx.settings.download_url_seconds
    url = await ctx.store.download_url(blob.object_key, expires_seconds=seconds, filename=version.filename or f"{obj.id}")
    return DownloadLink(url=url, expires_in=seconds, sha256=blob.sha256, size=blob.size, content_type=blob.content_type,
                        filename=version.filename, version=version.number)


async def record_usage(ctx: LearningContext, object_id: uuid.UUID, principal: Principal | None, kind: str) -> None:
    """Counted in its own short transaction (the reads that cause it stay read-only)."""
    async with ctx.db.session(write=True) as session:
        await repository.count_usage(session, object_id, access.home_institution(principal), kind)


async def usage(session: AsyncSession, principal: Principal, object_id: uuid.UUID) -> dict[str, Any]:
    obj = await load(session, object_id)
    if not access.is_insider(principal, obj) and not await access.is_moderator(session, principal):
        raise Forbidden("Usage figures are for the owning institution and moderators.")
    rows = await repository.usage(session, obj.id)
    totals = {"view": 0, "download": 0, "launch": 0}
    by: dict[str, dict[str, Any]] = {}
    for row in rows:
        totals[row.kind] = totals.get(row.kind, 0) + row.count
        by.setdefault(row.institution_code, {"institution_code": row.institution_code or None, "view": 0, "download": 0, "launch": 0})[row.kind] = row.count
    return {"views": totals["view"], "downloads": totals["download"], "launches": totals["launch"], "by_institution": list(by.values())}


async def acquire(session: AsyncSession, principal: Principal, object_id: uuid.UUID, body: AcquisitionCreate) -> tuple[Acquisition, bool]:
    obj = await load(session, object_id)
    version = await visible_version(session, principal, obj)
    licence = version.meta["licence"]
    if licence["code"] != "marketplace":
        raise Conflict("Only marketplace material is acquired; this material's licence lets you use it directly.")
    if obj.published_version is None or version.number != obj.published_version:
        raise Conflict("Only published marketplace material can be acquired.")
    if not body.accept_terms:
        raise ValidationFailed("The terms must be accepted.", errors=[{"field": "accept_terms", "message": "must be true"}])
    if body.expected_price is not None and body.expected_price.model_dump() != licence["price"]:
        raise Conflict("The price has changed; review the new price and terms.", price=licence["price"])
    if body.institution_code is not None and body.institution_code not in access.staff_institutions(principal):
        raise Forbidden(f"You may not acquire material on behalf of {body.institution_code}.")
    existing = await repository.acquisition_of(session, obj.id, principal.sub)
    if existing is not None:
        return existing, False
    terms = licence["terms"]
    acquisition = Acquisition(
        object_id=obj.id, version=version.number, acquirer_sub=principal.sub, institution_code=body.institution_code,
        price_amount=licence["price"]["amount"], currency=licence["price"]["currency"], terms=terms,
        terms_sha256=hashlib.sha256(terms.encode("utf-8")).hexdigest(), licence=licence,
    )
    session.add(acquisition)
    await session.flush()
    return acquisition, True


async def list_acquisitions(session: AsyncSession, principal: Principal, object_id: uuid.UUID) -> list[Acquisition]:
    obj = await load(session, object_id)
    if not access.is_insider(principal, obj) and not await access.is_moderator(session, principal):
        raise NotFound(f"No acquisitions of {object_id} for you.")
    return list(await repository.acquisitions(session, obj.id))


async def list_reviewers(session: AsyncSession, principal: Principal) -> list[Reviewer]:
    access.ensure_moderator_scope(principal)
    return list(await repository.reviewers(session))


async def designate_reviewer(session: AsyncSession, principal: Principal, subject: str, note: str | None) -> Reviewer:
    """The person's designation; designating a reviewer again keeps the first designation."""
    access.ensure_moderator_scope(principal)
    reviewer = await repository.get_reviewer(session, subject)
    if reviewer is None:
        reviewer = Reviewer(subject=subject, note=note, designated_by=access.actor(principal))
        await repository.add_reviewer(session, reviewer)
    return reviewer


async def remove_reviewer(session: AsyncSession, principal: Principal, subject: str) -> None:
    access.ensure_moderator_scope(principal)
    reviewer = await repository.get_reviewer(session, subject)
    if reviewer is not None:
        await repository.delete_reviewer(session, reviewer)
