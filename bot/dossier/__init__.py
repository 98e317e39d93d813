"""The workflow of a dossier: from a fiche received to its bilans.

`intake` handles one classified message (new dossier, new version, replies),
`references` makes and finds the CE-YYYY-NNNN references, `avis` asks the IEN
and records the answer (`avis_reply` reads it), `decisions` records the
troïka's, `bilans` knows what is owed per civil year, `reminders` and `digest`
are the daily jobs (`context` what they need of the runtime), `views` lists
and shows dossiers, `export` writes the table for the troïka meeting,
`retention` plans what rules/retention.toml no longer allows to keep and
`purge` deletes it.

May import: `bot.form`, `bot.mail`, `bot.store`, and `bot.config`, `bot.rules`,
`bot.clock`, `bot.paths`, `bot.text`. Never `bot.poller` or the entry points.
"""
