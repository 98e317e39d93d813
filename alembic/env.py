"""Alembic environment: run by bot.db.upgrade() with a live connection."""

from alembic import context
from bot.store.models import Base

target_metadata = Base.metadata
# APScheduler keeps its own job table in the same database; never touch it.
FOREIGN_TABLES = {"apscheduler_jobs"}


def include_name(name, type_, parent_names):
    return not (type_ == "table" and name in FOREIGN_TABLES)


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things
        include_name=include_name,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("citebot runs its migrations online only (citebot db upgrade)")
run_migrations_online()
