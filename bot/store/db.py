"""The database: engine, sessions, and the Alembic migrations applied at start."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from alembic import command
from bot.paths import data_path
from bot.store.lock import migrating
from bot.store.private import private_dir, private_file, restrict

# SQLite's companions of the database file: it creates them with the database
# file's own mode, so a database made 0600 keeps them 0600.
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
# How long a write waits for another connection's (a sqlite3 shell, a backup) before the
# round stops with "database is locked" (bot.store.faults), to be tried again later.
BUSY_TIMEOUT_MS = 10000


def make_engine(url, synchronous: str = "FULL") -> Engine:
    # A database error is logged with its traceback: without its parameters, which
    # are the porteurs' names, addresses and subjects (security.md, "Files and logs").
    engine = create_engine(url, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")  # readers (CLI) never block the daemon
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.close()
    return engine


def unsynced(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions whose commits do not wait for the disk (SQLite: synchronous=NORMAL), for the
    outbox's records while a poll runs beside it. Its commits then take microseconds instead
    of an fsync, during which the poll would wait for the write lock. In WAL mode they are
    safe from a crash of the process, and made durable by the next commit of any connection
    in FULL mode (the WAL is synced as a whole): a power cut can only undo the last `sent`
    records, so that those mails go a second time — never a lost one. Other databases: the
    same sessions."""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        return sessions
    return sessionmaker(make_engine(engine.url, synchronous="NORMAL"), expire_on_commit=False)


def close_unsynced(unsynced_sessions: sessionmaker[Session], sessions: sessionmaker[Session]) -> None:
    """Make what `unsynced` sessions committed durable, and close them: a checkpoint syncs
    the WAL first, whatever connection asks for it."""
    if unsynced_sessions is sessions:
        return
    unsynced_sessions.kw["bind"].dispose()
    with sessions() as session:
        session.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))


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


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL; None for another database or one in memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:"):  # a URI filename (?uri=true): SQLite's to interpret
        return None
    return Path(parsed.database)


def private_sqlite(url: str) -> None:
    """The SQLite file 0600 before SQLite opens it (SQLite would create it with the
    umask's mode); an older one, and its -wal and -shm, made 0600 too."""
    path = sqlite_file(url)
    if path is None or not path.parent.is_dir():
        return  # SQLite will say the folder is missing
    private_file(path)
    for suffix in _SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            restrict(companion)


def open_database(data_dir, url: str) -> sessionmaker[Session]:
    """Create data_dir (0700) if needed, migrate the database (0600), return a session factory."""
    private_dir(data_dir, tighten=True)
    private_sqlite(url)
    engine = make_engine(url)
    with migrating(data_dir):  # two processes started together never both create the tables
        upgrade(engine)
    return sessions(engine)
