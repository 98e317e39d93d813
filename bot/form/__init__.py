"""The Word form, pure: bytes in, data out.

Reading a fiche projet (`docxfile` opens the .docx safely, `layout` turns its XML
into blocks, `reader` finds the labels and values, `marks` reads check boxes,
`values` parses amounts and dates, `interpret` types the fields), checking it
against the call's rules (`validate`, `findings`, `check` the whole of it,
`report` the result for people), and writing documents (`template` the blank
fiche, `fill` a filled one, `consent` the image-consent form, `samples` the
demo's fiches).

May import: `bot.rules`, `bot.text`, `bot.paths`, `bot.clock`, and itself.
Never the mail, the dossiers or the store: nothing here touches the world.
"""
