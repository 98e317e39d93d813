"""Mail in and out, knowing nothing of dossiers.

`parse` turns raw bytes into an `Incoming` (tolerant of odd encodings),
`sources` reads the mailboxes (IMAP, Maildir), `reply` finds the new text of a
reply (quotes, signatures, clients' quirks), `compose` renders the mail
templates into messages, `outbox` queues them in the database and sends them,
`transports` speaks SMTP (or writes .eml files), `redact` masks the addresses
in a server's text before it is logged.

May import: `bot.config`, `bot.rules`, `bot.clock`, `bot.paths`, `bot.text`,
`bot.store` (the outbox is a table, files are private) and `bot.form` (value formatting for the
templates). Never `bot.dossier` or anything above it.
"""
