"""What reaches the disk when: the poll's commits are synced; the outbox's, beside it, are
not, and become durable when the poll's sessions checkpoint them."""

from __future__ import annotations

from sqlalchemy import text

from bot.store.db import close_unsynced, open_database, unsynced


def pragma(sessions, name: str):
    with sessions() as session:
        return session.execute(text(f"PRAGMA {name}")).one()


def test_the_poll_s_commits_wait_for_the_disk_and_the_outbox_s_beside_it_do_not(tmp_path):
    sessions = open_database(tmp_path, f"sqlite:///{tmp_path / 'citebot.db'}")
    fast = unsynced(sessions)
    assert pragma(sessions, "synchronous") == (2,)  # FULL
    assert pragma(fast, "synchronous") == (1,)  # NORMAL
    assert pragma(fast, "journal_mode") == ("wal",) and pragma(fast, "foreign_keys") == (1,)
    close_unsynced(fast, sessions)


def test_closing_the_outbox_s_sessions_checkpoints_what_they_wrote(tmp_path):
    sessions = open_database(tmp_path, f"sqlite:///{tmp_path / 'citebot.db'}")
    fast = unsynced(sessions)
    with fast.begin() as session:
        session.execute(text("CREATE TABLE written (n INTEGER)"))
        session.execute(text("INSERT INTO written VALUES (1)"))
    close_unsynced(fast, sessions)
    busy, frames, checkpointed = pragma(sessions, "wal_checkpoint(PASSIVE)")
    assert busy == 0 and frames == checkpointed  # nothing left only in the WAL
    with sessions() as session:
        assert session.execute(text("SELECT n FROM written")).scalar() == 1
