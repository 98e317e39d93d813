"""The database and the files: what lasts between runs.

`models` are the tables (their schema is made by the Alembic migrations in
alembic/), `db` opens the database and applies the migrations, `files` keeps
raw messages and documents under the data_dir, written once, 0600; `private`
makes folders 0700 and files 0600 whatever the umask.

May import: `bot.config`, `bot.paths`, `bot.clock`, `bot.text`. Never the form,
the mail, the dossiers or anything above them.
"""
