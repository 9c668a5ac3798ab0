"""Credentials's ORM models; every table is imported here so Alembic sees it."""

from sqlalchemy.orm import DeclarativeBase

from services.common.db import TYPE_ANNOTATION_MAP


class Base(DeclarativeBase):
    type_annotation_map = TYPE_ANNOTATION_MAP


__all__ = ["Base"]
