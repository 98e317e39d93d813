"""Alembic is the single source of the schema: the models must agree with it."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.store.db import make_engine, upgrade
from bot.store.models import Base


def test_migrations_create_exactly_the_schema_of_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'citebot.sqlite3'}")
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "render_as_batch": True})
        assert compare_metadata(context, Base.metadata) == []
    assert "alembic_version" in inspect(engine).get_table_names()


def test_upgrading_twice_changes_nothing(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'citebot.sqlite3'}")
    upgrade(engine)
    upgrade(engine)
    assert {"dossier", "outbox", "inbound_message"} <= set(inspect(engine).get_table_names())
