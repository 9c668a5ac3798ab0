"""Alembic, driven from code: one tree per service (``services/<svc>/migrations``), run on an async engine.

``env.py`` of every service calls :func:`run_env`; :func:`upgrade` and :func:`downgrade` run a tree against a
database URL (SQLite or PostgreSQL) sharing one connection, as Alembic's asyncio cookbook shows."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.db import is_sqlite


def alembic_config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", f"services.{service}:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(slug)s")
    return cfg


def _configure_and_run(connection: Any, metadata: list[MetaData]) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_env(metadata: list[MetaData]) -> None:
    """Body of every service's ``env.py``."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection, metadata)
        return
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    async def online() -> None:
        url = config.get_main_option("sqlalchemy.url")
        if url is None:
            raise RuntimeError("alembic: neither a connection nor sqlalchemy.url was given")
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(_configure_and_run, metadata)
        await engine.dispose()

    asyncio.run(online())


async def _run(service: str, url: str, fn: Any, revision: str) -> None:
    if is_sqlite(url):
        from services.common.db import _sqlite_file

        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, poolclass=pool.NullPool)
    cfg = alembic_config(service, url)

    def go(connection: Any) -> None:
        cfg.attributes["connection"] = connection
        fn(cfg, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(go)
    finally:
        await engine.dispose()


async def upgrade(service: str, url: str, revision: str = "head") -> None:
    await _run(service, url, command.upgrade, revision)


async def downgrade(service: str, url: str, revision: str = "base") -> None:
    await _run(service, url, command.downgrade, revision)
