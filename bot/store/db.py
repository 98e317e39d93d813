"""The database: engine, sessions, and the Alembic migrations applied at start."""

from __future__ import annotations

from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from alembic import command
from bot.paths import data_path


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")  # readers (CLI) never block the daemon
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()
    return engine


def alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(data_path("alembic")))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the latest migration (idempotent)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def open_database(data_dir, url: str) -> sessionmaker[Session]:
    """Create data_dir if needed, migrate the database, return a session factory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    upgrade(engine)
    return sessions(engine)
