"""The configuration file: the example loads; every mistake gives one French line naming the key."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, parse_when

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config.example.toml"
EXAMPLE_ENV = {
    "CITEBOT_SMTP_PASSWORD": "smtp-Secr3t!",
    "CITEBOT_IMAP_EN_PASSWORD": "en-Secr3t!",
    "CITEBOT_IMAP_VILLE_PASSWORD": "ville-Secr3t!",
}
SECRET = "Tr3s-S3cret-ne-pas-afficher"

# A complete configuration that needs no server and no secret: local Maildirs in and out.
MINIMAL = """\
[bot]
name = "Cité éducative de test"
address = "bot@example.org"

[smtp]
transport = "maildir"
path = "outbox"

[[mailbox]]
name = "en"
address = "en@example.org"
kind = "maildir"
path = "maildir/en"
coordinators = ["coord.en@example.org"]
porteur_types = ["education_nationale"]

[[mailbox]]
name = "ville"
address = "ville@example.org"
kind = "maildir"
path = "maildir/ville"
coordinators = ["coord1@example.org", "coord2@example.org"]
porteur_types = ["service_ville", "association"]

[avis]
ien = ["ien@example.org"]
reply_mailbox = "en"
"""

IMAP_BOX = """
[[mailbox]]
name = "imap"
address = "imap@example.org"
kind = "imap"
host = "imap.example.org"
username = "imap"
coordinators = ["coord.imap@example.org"]
"""


def edited(old: str, new: str, text: str = MINIMAL) -> str:
    assert old in text, f"{old!r} is not in the configuration being edited"
    return text.replace(old, new, 1)


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, env: dict | None = None):
    return load_config(write(tmp_path, text), env or {})


def error(tmp_path: Path, text: str, env: dict | None = None) -> str:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text, env)
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{tmp_path / 'config.toml'} : ")
    return message


# --------------------------------------------------------------------------- what loads


def test_the_example_loads_when_its_password_variables_are_set():
    config = load_config(EXAMPLE, EXAMPLE_ENV)
    assert config.path == EXAMPLE
    assert config.bot.name == "Cité éducative de Liévin"
    assert config.bot.address == "cite-educative@lievin.fr"
    assert config.bot.data_dir == REPO / "var"
    assert config.bot.database_url == f"sqlite:///{REPO / 'var' / 'citebot.sqlite3'}"
    assert (config.smtp.transport, config.smtp.port, config.smtp.security) == ("smtp", 587, "starttls")
    assert config.smtp.password == "smtp-Secr3t!"
    assert [m.name for m in config.mailboxes] == ["education_nationale", "ville"]
    en, ville = config.mailboxes
    assert en.address == "chloe.dulieux@ac-lille.fr" and en.password == "en-Secr3t!"
    assert ville.address == "l.marcq@lievin.fr" and ville.password == "ville-Secr3t!"
    assert ville.coordinators == ("f.talaga@lievin.fr", "l.marcq@lievin.fr")
    assert config.avis.ien == ("ien.lievin@ac-lille.fr",)
    assert config.avis_reply_mailbox is en
    assert config.bot.authserv_id == ""  # shipped empty, with its comment: `run` and `poll` warn
    assert config.schedule.digest_when.days == (0, 1, 2, 3, 4)
    assert (config.limits.max_attachment_mb, config.limits.auto_replies_per_sender_per_day) == (20, 5)


def test_the_example_refuses_to_start_without_its_password_variables():
    with pytest.raises(ConfigError, match="smtp.password_env.*CITEBOT_SMTP_PASSWORD n'est pas définie"):
        load_config(EXAMPLE, {})


def test_omitted_keys_take_their_documented_defaults(tmp_path):
    config = load(tmp_path, MINIMAL)
    assert config.bot.reference_prefix == "CE"
    assert config.bot.timezone == "Europe/Paris"
    assert config.bot.data_dir == tmp_path / "var"
    box = config.mailbox("en")
    assert (box.folder, box.processed_keyword, box.move_to, box.timeout) == ("INBOX", "$CitebotDone", None, 30)
    assert (config.avis.reminder_days, config.bot.authserv_id) == (7, "")
    assert (config.schedule.poll_seconds, config.schedule.digest, config.schedule.reminders,
            config.schedule.purge) == (120, "mon-fri 07:45", "08:30", "03:30")
    assert (config.limits.max_attachment_mb, config.limits.auto_replies_per_sender_per_day) == (20, 5)


@pytest.mark.parametrize(
    ("security", "port"), [("tls", 993), ("starttls", 143), ("none", 143)]
)
def test_imap_port_defaults_from_security(tmp_path, security, port):
    text = MINIMAL + IMAP_BOX + f'security = "{security}"\npassword = "x"\n'
    assert load(tmp_path, text).mailbox("imap").port == port


@pytest.mark.parametrize(
    ("security", "port"), [("tls", 465), ("starttls", 587), ("none", 25)]
)
def test_smtp_port_defaults_from_security(tmp_path, security, port):
    text = edited('transport = "maildir"', f'transport = "smtp"\nhost = "smtp.example.org"\nsecurity = "{security}"')
    assert load(tmp_path, text).smtp.port == port


def test_an_explicit_port_wins_over_the_default(tmp_path):
    text = MINIMAL + IMAP_BOX + 'port = 1993\npassword = "x"\n'
    assert load(tmp_path, text).mailbox("imap").port == 1993


def test_relative_paths_are_resolved_against_the_config_files_folder(tmp_path, monkeypatch):
    folder = tmp_path / "etc" / "citebot"
    folder.mkdir(parents=True)
    (folder / "smtp.pass").write_text(SECRET + "\n")
    text = edited('name = "Cité éducative de test"', 'name = "x"\ndata_dir = "../data"')
    text = edited('transport = "maildir"', 'transport = "smtp"\nhost = "h.example.org"\nusername = "u"\n'
                  'password_file = "smtp.pass"', text)
    monkeypatch.chdir(tmp_path)  # the current folder must not matter
    config = load_config(write(folder, text), {})
    assert config.bot.data_dir == tmp_path / "etc" / "data"
    assert config.bot.database_url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'citebot.sqlite3'}"
    assert config.smtp.path == folder / "outbox"
    assert config.mailbox("ville").path == folder / "maildir" / "ville"
    assert config.smtp.password == SECRET


def test_absolute_paths_are_kept(tmp_path):
    text = edited('path = "outbox"', f'path = "{tmp_path / "elsewhere"}"')
    assert load(tmp_path, text).smtp.path == tmp_path / "elsewhere"


def test_a_relative_sqlite_database_url_is_relative_to_the_config_file(tmp_path):
    text = edited('name = "Cité éducative de test"', 'name = "x"\ndatabase_url = "sqlite:///db/bot.sqlite3"')
    assert load(tmp_path, text).bot.database_url == f"sqlite:///{tmp_path / 'db' / 'bot.sqlite3'}"


def test_other_database_urls_are_kept_as_written(tmp_path):
    url = "postgresql+psycopg://citebot@localhost/citebot"
    text = edited('name = "Cité éducative de test"', f'name = "x"\ndatabase_url = "{url}"')
    assert load(tmp_path, text).bot.database_url == url


def test_mailbox_helpers_find_a_mailbox_by_name_and_by_porteur_type(tmp_path):
    config = load(tmp_path, MINIMAL)
    assert config.mailbox("ville").address == "ville@example.org"
    assert config.mailbox("nope") is None
    assert config.mailbox_for_porteur_type("education_nationale").name == "en"
    assert config.mailbox_for_porteur_type("association").name == "ville"
    assert config.mailbox_for_porteur_type("secteur_prive") is None  # listed by no mailbox
    assert config.mailbox_for_porteur_type(None) is None


def test_the_configuration_is_immutable(tmp_path):
    config = load(tmp_path, MINIMAL)
    with pytest.raises(AttributeError):
        config.bot.name = "autre"  # type: ignore[misc]


# --------------------------------------------------------------------------- lookup order (cli.md)


def _named(tmp_path: Path, folder: str, name: str) -> Path:
    (tmp_path / folder).mkdir(exist_ok=True)
    return write(tmp_path / folder, edited('name = "Cité éducative de test"', f'name = "{name}"'))


def test_the_path_argument_wins_over_citebot_config_and_the_current_folder(tmp_path, monkeypatch):
    argument, variable = _named(tmp_path, "arg", "argument"), _named(tmp_path, "env", "variable")
    monkeypatch.chdir(_named(tmp_path, "cwd", "courant").parent)
    assert load_config(argument, {"CITEBOT_CONFIG": str(variable)}).bot.name == "argument"


def test_citebot_config_wins_over_the_current_folder(tmp_path, monkeypatch):
    variable = _named(tmp_path, "env", "variable")
    monkeypatch.chdir(_named(tmp_path, "cwd", "courant").parent)
    assert load_config(None, {"CITEBOT_CONFIG": str(variable)}).bot.name == "variable"


def test_without_argument_or_variable_config_toml_of_the_current_folder_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(_named(tmp_path, "cwd", "courant").parent)
    config = load_config(None, {"CITEBOT_CONFIG": ""})
    assert config.bot.name == "courant"
    assert config.path == tmp_path / "cwd" / "config.toml"


def test_the_environment_defaults_to_os_environ(tmp_path, monkeypatch):
    monkeypatch.setenv("CITEBOT_CONFIG", str(_named(tmp_path, "env", "variable")))
    assert load_config().bot.name == "variable"


# --------------------------------------------------------------------------- one line per mistake

ERRORS = [
    # (description, old text, new text, key named, words expected)
    ("unknown key with a suggestion", 'address = "bot@example.org"', 'adress = "bot@example.org"',
     "bot.adress", "inconnue. Vouliez-vous dire « address » ?"),
    ("unknown key without a suggestion", "[avis]\n", "[avis]\nfoo_bar_baz = 1\n", "avis.foo_bar_baz", "inconnue."),
    ("unknown section", "[avis]\n", "[mailboxes]\n[avis]\n", "mailboxes", "Vouliez-vous dire « mailbox » ?"),
    ("missing required key", 'name = "Cité éducative de test"\n', "", "bot.name", "obligatoire manquante"),
    ("missing required section", '[avis]\nien = ["ien@example.org"]\nreply_mailbox = "en"\n', "",
     "avis", "section [avis] obligatoire manquante"),
    ("string for an integer", "[avis]\n", '[avis]\nreminder_days = "7"\n', "avis.reminder_days",
     'un nombre entier est attendu (reçu « "7" »)'),
    ("boolean for an integer", "[avis]\n", "[avis]\nreminder_days = true\n", "avis.reminder_days",
     "un nombre entier est attendu (reçu « true »)"),
    ("float for an integer", "[avis]\n", "[avis]\nreminder_days = 7.5\n", "avis.reminder_days",
     "un nombre entier est attendu (reçu « 7.5 »)"),
    ("boolean for a number", 'path = "outbox"', 'path = "outbox"\ntimeout = false', "smtp.timeout",
     "un nombre est attendu"),
    ("string for a list", 'ien = ["ien@example.org"]', 'ien = "ien@example.org"', "avis.ien",
     "une liste de chaînes de caractères est attendue"),
    ("integer for a string", 'name = "Cité éducative de test"', "name = 3", "bot.name",
     "une chaîne de caractères est attendue (reçu « 3 »)"),
    ("table for a string", 'name = "Cité éducative de test"', "name = { a = 1 }", "bot.name", "reçu une table"),
    ("empty string", 'name = "Cité éducative de test"', 'name = ""', "bot.name", "ne peut pas être vide"),
    ("empty list", 'ien = ["ien@example.org"]', "ien = []", "avis.ien", "ne peut pas être vide"),
    ("bad enum", 'transport = "maildir"', 'transport = "sendmail"', "smtp.transport",
     "valeur « sendmail » non reconnue ; valeurs possibles : « smtp », « maildir »"),
    ("bad security", 'kind = "maildir"', 'kind = "maildir"\nsecurity = "ssl"', "mailbox[1].security",
     "valeurs possibles : « none », « starttls », « tls »"),
    ("bad email", 'address = "bot@example.org"', 'address = "bot.example.org"', "bot.address",
     "« bot.example.org » n'est pas une adresse électronique valide"),
    ("bad email in a list", '"coord2@example.org"', '"coord2@example"', "mailbox[2].coordinators",
     "n'est pas une adresse électronique valide"),
    ("unknown porteur type", '["service_ville", "association"]', '["service_ville", "ecole"]',
     "mailbox[2].porteur_types", "« ecole » n'est pas un type de porteur connu ; types possibles : "
     "« education_nationale », « service_ville », « association », « structure_partenaire », « secteur_prive »"),
    ("porteur type in two mailboxes", '["service_ville", "association"]', '["education_nationale"]',
     "mailbox[2].porteur_types", "déjà attribué à la boîte « en »"),
    ("reply_mailbox naming no mailbox", 'reply_mailbox = "en"', 'reply_mailbox = "rectorat"', "avis.reply_mailbox",
     "aucune boîte [[mailbox]] ne s'appelle « rectorat » (boîtes : « en », « ville »)"),
    ("duplicate mailbox names", 'name = "ville"', 'name = "en"', "mailbox[2].name",
     "est déjà celui de mailbox[1]"),
    ("no mailbox", MINIMAL[MINIMAL.index("[[mailbox]]"):MINIMAL.index("[avis]")], "", "mailbox",
     "au moins une boîte [[mailbox]] est attendue"),
    ("imap mailbox without host", 'kind = "maildir"\npath = "maildir/en"',
     'kind = "imap"\nusername = "u"\npassword = "p"', "mailbox[1].host", 'obligatoire quand kind = "imap"'),
    ("maildir mailbox without path", 'path = "maildir/en"\n', "", "mailbox[1].path",
     'obligatoire quand kind = "maildir"'),
    ("smtp transport without host", 'transport = "maildir"', 'transport = "smtp"', "smtp.host",
     'obligatoire quand transport = "smtp"'),
    ("maildir transport without path", 'path = "outbox"\n', "", "smtp.path", 'obligatoire quand transport = "maildir"'),
    ("infinite timeout", 'kind = "maildir"', 'kind = "maildir"\ntimeout = inf', "mailbox[1].timeout",
     "durée positive et finie"),
    ("port out of range", 'kind = "maildir"', 'kind = "maildir"\nport = 70000', "mailbox[1].port",
     "entre 1 et 65535"),
    ("negative limit", "[avis]\n", "[limits]\nmax_attachment_mb = 0\n[avis]\n", "limits.max_attachment_mb",
     "au moins 1"),
    ("unknown time zone", 'address = "bot@example.org"', 'address = "bot@example.org"\ntimezone = "Europe/Lievin"',
     "bot.timezone", "fuseau horaire « Europe/Lievin » inconnu"),
    ("French day names in digest", "[avis]\n", '[schedule]\ndigest = "lun-ven 07:45"\n[avis]\n', "schedule.digest",
     "noms anglais de trois lettres"),
    ("impossible hour in digest", "[avis]\n", '[schedule]\ndigest = "mon-fri 25:00"\n[avis]\n', "schedule.digest",
     "heure « 25:00 » invalide"),
    ("reversed day range", "[avis]\n", '[schedule]\ndigest = "fri-mon 07:45"\n[avis]\n', "schedule.digest",
     "à l'envers"),
    ("days in the daily reminders", "[avis]\n", '[schedule]\nreminders = "mon 08:30"\n[avis]\n',
     "schedule.reminders", "le format attendu est une heure seule"),
    ("days in the nightly purge", "[avis]\n", '[schedule]\npurge = "sun 03:30"\n[avis]\n',
     "schedule.purge", "le format attendu est une heure seule"),
    ("mailbox name with spaces", 'name = "ville"', 'name = "la ville"', "mailbox[2].name", "ne convient pas"),
]


@pytest.mark.parametrize(("old", "new", "key", "words"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_each_mistake_gives_one_line_naming_the_key(tmp_path, old, new, key, words):
    message = error(tmp_path, edited(old, new))
    assert f"« {key} »" in message
    assert words in message


def test_a_single_mailbox_table_instead_of_an_array_is_refused(tmp_path):
    second = MINIMAL[MINIMAL.index('[[mailbox]]\nname = "ville"'):MINIMAL.index("[avis]")]
    text = edited("[[mailbox]]", "[mailbox]", edited(second, ""))
    assert error(tmp_path, text).endswith(
        "clé « mailbox » : une suite de tables [[mailbox]] est attendue (une par boîte relevée)."
    )


def test_an_unknown_key_is_named_with_its_mailbox_number(tmp_path):
    message = error(tmp_path, edited('kind = "maildir"\npath = "maildir/ville"',
                                     'kind = "maildir"\npath = "maildir/ville"\nhots = "x"'))
    assert message.endswith("clé « mailbox[2].hots » inconnue. Vouliez-vous dire « host » ?")


def test_a_wrong_type_message_reads_as_in_the_brief(tmp_path):
    text = edited('transport = "maildir"', 'transport = "smtp"\nhost = "h.example.org"\nport = "587"')
    assert error(tmp_path, text) == (
        f"{tmp_path / 'config.toml'} : clé « smtp.port » : un nombre entier est attendu (reçu « \"587\" »)."
    )


@pytest.mark.parametrize("when", ["mon-fri 07:45", "08:30", "7:05", "sat,sun 10:00", "mon,wed-fri 23:59", "MON 00:00"])
def test_schedule_strings_that_parse(tmp_path, when):
    assert parse_when(when).hour in range(24)
    text = edited("[avis]\n", f'[schedule]\ndigest = "{when}"\n[avis]\n')
    assert load(tmp_path, text).schedule.digest == when


def test_parsed_schedule_gives_days_and_time():
    when = parse_when("mon,wed-fri 07:45")
    assert (when.day_of_week, when.days, when.hour, when.minute) == ("mon,wed-fri", (0, 2, 3, 4), 7, 45)
    assert parse_when("08:30").day_of_week is None


# --------------------------------------------------------------------------- files


def test_a_toml_syntax_error_gives_the_line_and_column(tmp_path):
    text = edited('address = "bot@example.org"', "address = bot@example.org")
    message = error(tmp_path, text)
    assert "erreur de syntaxe TOML à la ligne 3, colonne 11" in message


def test_an_unterminated_string_is_reported_too(tmp_path):
    assert "erreur de syntaxe TOML" in error(tmp_path, MINIMAL + 'x = "abc')


def test_a_missing_file_says_how_to_create_it(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    message = str(raised.value)
    assert message.startswith(f"{path} : fichier de configuration introuvable.")
    assert f"copiez config.example.toml vers {path}" in message
    assert "\n" not in message


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(MINIMAL.encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path, {})


def test_a_folder_instead_of_a_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="dossier"):
        load_config(tmp_path, {})


# --------------------------------------------------------------------------- secrets

SMTP_WITH = 'transport = "smtp"\nhost = "smtp.example.org"\nusername = "bot"\n'


def smtp_with(source: str) -> str:
    return edited('transport = "maildir"', SMTP_WITH + source)


def test_a_password_comes_from_the_named_environment_variable(tmp_path):
    config = load(tmp_path, smtp_with('password_env = "MY_SMTP_PASS"'), {"MY_SMTP_PASS": SECRET})
    assert config.smtp.password == SECRET


def test_a_missing_environment_variable_is_named_without_any_value(tmp_path):
    message = error(tmp_path, smtp_with('password_env = "MY_SMTP_PASS"'), {"OTHER": SECRET})
    assert message.endswith("clé « smtp.password_env » : la variable d'environnement MY_SMTP_PASS n'est pas définie.")


def test_an_empty_environment_variable_is_refused(tmp_path):
    message = error(tmp_path, smtp_with('password_env = "MY_SMTP_PASS"'), {"MY_SMTP_PASS": ""})
    assert message.endswith("la variable d'environnement MY_SMTP_PASS est vide.")


def test_a_missing_variable_of_an_imap_mailbox_names_the_mailbox_number(tmp_path):
    text = MINIMAL + IMAP_BOX + 'password_env = "CITEBOT_IMAP_VILLE_PASSWORD"\n'
    message = error(tmp_path, text)
    assert message.endswith(
        "clé « mailbox[3].password_env » : la variable d'environnement CITEBOT_IMAP_VILLE_PASSWORD n'est pas définie."
    )


def test_a_password_file_is_read_and_its_trailing_newline_stripped(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "smtp").write_text(SECRET + "\n")
    config = load(tmp_path, smtp_with('password_file = "secrets/smtp"'))
    assert config.smtp.password == SECRET


def test_a_password_file_keeps_inner_spaces_and_strips_crlf(tmp_path):
    (tmp_path / "pw").write_bytes(b"a b c \r\n")
    assert load(tmp_path, smtp_with('password_file = "pw"')).smtp.password == "a b c "


def test_an_unreadable_password_file_is_named(tmp_path):
    message = error(tmp_path, smtp_with('password_file = "secrets/absent"'))
    assert f"clé « smtp.password_file » : le fichier {tmp_path / 'secrets' / 'absent'} est introuvable." in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_password_file_without_permission_is_refused(tmp_path):
    path = tmp_path / "pw"
    path.write_text(SECRET)
    path.chmod(0)
    message = error(tmp_path, smtp_with('password_file = "pw"'))
    assert "« smtp.password_file »" in message and "permission refusée" in message


def test_a_folder_given_as_password_file_is_refused(tmp_path):
    (tmp_path / "pw").mkdir()
    message = error(tmp_path, smtp_with('password_file = "pw"'))
    assert message.endswith(f"clé « smtp.password_file » : le fichier {tmp_path / 'pw'} ne peut pas être lu "
                            "(c'est un dossier, pas un fichier).")


def test_an_empty_password_file_is_refused(tmp_path):
    (tmp_path / "pw").write_text("\n")
    assert "est vide" in error(tmp_path, smtp_with('password_file = "pw"'))


def test_a_literal_password_is_accepted(tmp_path):
    assert load(tmp_path, smtp_with(f'password = "{SECRET}"')).smtp.password == SECRET


def test_two_password_sources_are_refused(tmp_path):
    message = error(tmp_path, smtp_with(f'password = "{SECRET}"\npassword_env = "MY_SMTP_PASS"'),
                    {"MY_SMTP_PASS": SECRET})
    assert "« smtp.password_env »" in message
    assert "une seule source de mot de passe" in message
    assert SECRET not in message


def test_an_imap_mailbox_needs_a_password(tmp_path):
    message = error(tmp_path, MINIMAL + IMAP_BOX)
    assert "« mailbox[3].password »" in message and "password_env" in message


def test_an_smtp_password_needs_a_username(tmp_path):
    text = edited('transport = "maildir"', f'transport = "smtp"\nhost = "h.example.org"\npassword = "{SECRET}"')
    assert "« smtp.username »" in error(tmp_path, text)


def test_an_smtp_username_needs_a_password(tmp_path):
    text = edited('transport = "maildir"', 'transport = "smtp"\nhost = "h.example.org"\nusername = "bot"')
    assert "« smtp.password »" in error(tmp_path, text)


def test_an_smtp_server_without_authentication_needs_no_password(tmp_path):
    text = edited('transport = "maildir"', 'transport = "smtp"\nhost = "localhost"\nsecurity = "none"')
    config = load(tmp_path, text)
    assert (config.smtp.username, config.smtp.password, config.smtp.port) == (None, None, 25)


def test_a_maildir_mailbox_does_not_require_its_password_variable(tmp_path):
    text = edited('path = "maildir/en"', 'path = "maildir/en"\npassword_env = "UNSET_VARIABLE"')
    assert load(tmp_path, text).mailbox("en").password is None


def test_no_password_appears_in_the_repr_of_the_configuration(tmp_path):
    (tmp_path / "pw").write_text(SECRET + "-file")
    text = smtp_with('password_file = "pw"') + IMAP_BOX + 'password_env = "IMAP_PASS"\n'
    text += IMAP_BOX.replace('name = "imap"', 'name = "imap2"').replace(
        '["education_nationale"]', "[]") + f'password = "{SECRET}-literal"\n'
    config = load(tmp_path, text, {"IMAP_PASS": SECRET + "-env"})
    assert config.smtp.password == SECRET + "-file"
    assert config.mailbox("imap").password == SECRET + "-env"
    assert config.mailbox("imap2").password == SECRET + "-literal"
    for shown in (repr(config), str(config), repr(config.smtp), repr(config.mailboxes)):
        assert SECRET not in shown


@pytest.mark.parametrize(
    "source",
    [
        f'password = "{SECRET}"\npassword_file = "pw"',  # two sources
        f'password = ["{SECRET}"]',  # wrong type
        f"password = {{ value = \"{SECRET}\" }}",  # wrong type, a table
        f'password_env = "{SECRET}"',  # a password typed where a variable name goes
        f'password = "{SECRET}"\npasword_env = "X"',  # unknown key next to a literal password
        f'password = "{SECRET}"\nport = "587"',  # another error after the password
    ],
)
def test_no_password_appears_in_any_error_message(tmp_path, source):
    (tmp_path / "pw").write_text(SECRET)
    message = error(tmp_path, smtp_with(source), {"X": SECRET})
    assert SECRET.lower() not in message.lower()


# --------------------------------------------------------------------------- systemd credentials


@pytest.mark.parametrize("written", ["%d/smtp", "$CREDENTIALS_DIRECTORY/smtp", "${CREDENTIALS_DIRECTORY}/smtp"])
def test_a_password_file_may_name_a_systemd_credential(tmp_path, written):
    credentials = tmp_path / "run" / "credentials" / "citebot.service"
    credentials.mkdir(parents=True)
    (credentials / "smtp").write_text(SECRET + "\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    config = load(tmp_path, smtp_with(f'password_file = "{written}"'), env)
    assert config.smtp.password == SECRET


def test_a_systemd_credential_outside_systemd_is_explained(tmp_path):
    message = error(tmp_path, smtp_with('password_file = "%d/smtp"'))
    assert "« smtp.password_file »" in message and "CREDENTIALS_DIRECTORY n'est pas définie" in message


def test_a_systemd_credential_name_cannot_leave_its_folder(tmp_path):
    message = error(tmp_path, smtp_with('password_file = "%d/../smtp"'), {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert "« smtp.password_file »" in message and "le nom d'un identifiant systemd est attendu" in message


def test_a_missing_systemd_credential_names_its_file(tmp_path):
    message = error(tmp_path, smtp_with('password_file = "%d/smtp"'), {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert f"le fichier {tmp_path / 'smtp'} est introuvable" in message


# --------------------------------------------------------------------------- secrets that are not secret (security.md)


def test_a_password_written_in_the_file_works_with_one_warning_naming_the_key(tmp_path):
    config = load(tmp_path, smtp_with(f'password = "{SECRET}"'))
    assert config.smtp.password == SECRET
    assert config.warnings == (
        f"{tmp_path / 'config.toml'} : clé « smtp.password » : le mot de passe est écrit dans le fichier de "
        "configuration, que d'autres personnes peuvent lire ou copier ; donnez-le plutôt par password_env (une "
        "variable d'environnement) ou password_file (un fichier que seul citebot peut lire).",
    )


def test_a_password_written_in_a_mailbox_names_that_mailbox(tmp_path):
    (warning,) = load(tmp_path, MINIMAL + IMAP_BOX + f'password = "{SECRET}"\n').warnings
    assert "clé « mailbox[3].password »" in warning and SECRET not in warning


def test_a_password_in_the_file_is_warned_about_even_when_not_read(tmp_path):
    config = load_config(write(tmp_path, smtp_with(f'password = "{SECRET}"')), {}, secrets=False)
    assert config.smtp.password is None and len(config.warnings) == 1


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=lambda mode: f"{mode:04o}")
def test_a_password_file_that_other_accounts_may_read_works_with_one_warning(tmp_path, mode):
    path = tmp_path / "smtp.secret"
    path.write_text(SECRET + "\n")
    path.chmod(mode)
    config = load(tmp_path, smtp_with('password_file = "smtp.secret"'))
    assert config.smtp.password == SECRET
    assert config.warnings == (
        f"{tmp_path / 'config.toml'} : clé « smtp.password_file » : le fichier {path} est lisible par d'autres "
        f"comptes que le sien (droits {mode:04o}) ; réservez-le à citebot : chmod 600 {path} (ou passez-le en "
        "identifiant systemd, LoadCredential=).",
    )


@pytest.mark.parametrize("source", ['password_file = "smtp.secret"', 'password_env = "MY_SMTP_PASS"'])
@pytest.mark.parametrize("mode", [0o600, 0o400], ids=lambda mode: f"{mode:04o}")
def test_a_private_password_file_or_a_variable_gives_no_warning(tmp_path, source, mode):
    path = tmp_path / "smtp.secret"
    path.write_text(SECRET)
    path.chmod(mode)
    assert load(tmp_path, smtp_with(source), {"MY_SMTP_PASS": SECRET}).warnings == ()


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://citebot:{SECRET}@db/citebot",
    f"postgresql://citebot:{SECRET}@localhost:5432/citebot?sslmode=require",
    f"postgresql+psycopg://citebot@db/citebot?password={SECRET}",
    f"mysql+pymysql://citebot:{SECRET}@db.example.org/citebot",
])
def test_a_password_inside_database_url_is_refused_without_showing_it(tmp_path, url):
    text = edited('name = "Cité éducative de test"', f'name = "x"\ndatabase_url = "{url}"')
    message = error(tmp_path, text)
    assert message.endswith(
        "clé « bot.database_url » : l'adresse contient un mot de passe, qui n'a pas sa place dans le fichier de "
        "configuration ; retirez-le de l'adresse et connectez-vous par le socket Unix "
        "(« postgresql+psycopg://citebot@/citebot », authentification peer) ou donnez-le par un fichier PGPASSFILE.")
    assert SECRET not in message


def test_a_database_url_that_is_not_one_is_refused_in_one_line(tmp_path):
    text = edited('name = "Cité éducative de test"', 'name = "x"\ndatabase_url = "citebot sur le serveur db"')
    assert "clé « bot.database_url » : ce n'est pas une adresse de base de données SQLAlchemy" in error(tmp_path, text)


def cli(tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(write(tmp_path, text)), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def test_the_cli_refuses_a_password_in_database_url_with_exit_2_and_a_single_line(tmp_path):
    text = edited('name = "Cité éducative de test"',
                  f'name = "x"\ndatabase_url = "postgresql+psycopg://citebot:{SECRET}@db/citebot"')
    run = cli(tmp_path, text, "dossiers", "list")
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"Configuration refusée — {tmp_path / 'config.toml'} : clé « bot.database_url » : l'adresse contient un "
        "mot de passe, qui n'a pas sa place dans le fichier de configuration ; retirez-le de l'adresse et "
        "connectez-vous par le socket Unix (« postgresql+psycopg://citebot@/citebot », authentification peer) "
        "ou donnez-le par un fichier PGPASSFILE."]
    assert SECRET not in run.stdout + run.stderr


def test_the_cli_says_once_that_a_password_sits_in_the_file_and_goes_on(tmp_path):
    run = cli(tmp_path, smtp_with(f'password = "{SECRET}"'), "dossiers", "list")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "Aucun dossier."
    (line,) = run.stderr.splitlines()
    assert "WARNING" in line and "clé « smtp.password » : le mot de passe est écrit dans le fichier" in line
    assert SECRET not in line


# --------------------------------------------------------------------------- bot.authserv_id (security.md)


def test_bot_authserv_id_is_read(tmp_path):
    text = edited('address = "bot@example.org"', 'address = "bot@example.org"\nauthserv_id = "mx.ac-lille.fr"')
    assert load(tmp_path, text).bot.authserv_id == "mx.ac-lille.fr"


def test_its_old_name_avis_authserv_id_is_still_accepted(tmp_path):
    text = edited('reply_mailbox = "en"', 'reply_mailbox = "en"\nauthserv_id = "mx.ac-lille.fr"')
    assert load(tmp_path, text).bot.authserv_id == "mx.ac-lille.fr"


def test_both_names_may_say_the_same_server(tmp_path):
    text = edited('address = "bot@example.org"', 'address = "bot@example.org"\nauthserv_id = "mx.ac-lille.fr"')
    text = edited('reply_mailbox = "en"', 'reply_mailbox = "en"\nauthserv_id = "MX.ac-lille.fr"', text)
    assert load(tmp_path, text).bot.authserv_id == "mx.ac-lille.fr"


def test_both_names_saying_different_servers_are_refused_in_one_line_naming_both_keys(tmp_path):
    text = edited('address = "bot@example.org"', 'address = "bot@example.org"\nauthserv_id = "mx.ac-lille.fr"')
    text = edited('reply_mailbox = "en"', 'reply_mailbox = "en"\nauthserv_id = "mx.lievin.fr"', text)
    assert error(tmp_path, text).endswith(
        "clé « bot.authserv_id » : « mx.ac-lille.fr » ne correspond pas à « avis.authserv_id » (« mx.lievin.fr »), "
        "l'ancien nom de la même clé ; gardez seulement « bot.authserv_id ».")
    run = cli(tmp_path, text, "poll", "--once")
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1
    assert "bot.authserv_id" in run.stderr and "avis.authserv_id" in run.stderr


@pytest.mark.parametrize("written", ["mx.ac-lille.fr; dkim=pass", "mx ac-lille", "(mx)"])
def test_an_authserv_id_that_is_not_one_word_is_refused(tmp_path, written):
    text = edited('address = "bot@example.org"', f'address = "bot@example.org"\nauthserv_id = "{written}"')
    assert "clé « bot.authserv_id » : " in error(tmp_path, text) and "n'est pas un identifiant de serveur" in \
        error(tmp_path, text)
