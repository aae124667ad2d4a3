"""The Swedish catalogue: complete, well-formed, compiled, and used by default.

Swedish is the default interface language (LANGUAGE_CODE = "sv"); msgids are English.
"""

import gettext
import importlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

LC_MESSAGES = Path(settings.BASE_DIR) / "locale" / "sv" / "LC_MESSAGES"
PO = LC_MESSAGES / "django.po"
MO = LC_MESSAGES / "django.mo"

# %(name)s / %(count)d, bare %s / %d, and str.format fields {name} (or {}).
PLACEHOLDER = re.compile(r"%\((?P<named>\w+)\)[sdfr]|%(?P<bare>[sdfr])|\{(?P<brace>\w*)\}")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")


@dataclass
class Entry:
    line: int
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return f"django.po:{self.line} {self.msgid[:60]!r}"

    @property
    def translations(self) -> list[str]:
        return [self.msgstr[i] for i in sorted(self.msgstr)]


def _unquote(text: str) -> str:
    text = text.strip()
    assert text.startswith('"') and text.endswith('"'), text
    return re.sub(
        r'\\(["\\ntr])',
        lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)),
        text[1:-1],
    )


def parse_po(path: Path) -> list[Entry]:
    """A small .po reader: enough for what makemessages writes (no obsolete entries)."""
    entries: list[Entry] = []
    entry: Entry | None = None
    flags: set[str] = set()
    target: tuple[str, int | None] | None = None

    def finish():
        nonlocal entry
        if entry is not None:
            entries.append(entry)
        entry = None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#~"):
            finish()
            continue
        if line.startswith("#,"):
            if entry is not None and entry.msgstr:
                finish()
            flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith("#"):
            if entry is not None and entry.msgstr:
                finish()
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            assert entry is not None and target is not None, f"line {number}: stray string"
            name, index = target
            if name == "msgstr":
                entry.msgstr[index or 0] += _unquote(line)
            else:
                setattr(entry, name, (getattr(entry, name) or "") + _unquote(line))
            continue
        if keyword in ("msgctxt", "msgid") and (entry is None or entry.msgstr):
            finish()
            entry = Entry(line=number, flags=flags)
            flags = set()
        assert entry is not None, f"line {number}: {keyword} outside an entry"
        if keyword in ("msgctxt", "msgid", "msgid_plural"):
            setattr(entry, keyword, _unquote(rest))
            target = (keyword, None)
        elif keyword == "msgstr":
            entry.msgstr[0] = _unquote(rest)
            target = ("msgstr", 0)
        elif (match := re.fullmatch(r"msgstr\[(\d+)\]", keyword)) is not None:
            index = int(match.group(1))
            entry.msgstr[index] = _unquote(rest)
            target = ("msgstr", index)
        else:
            raise AssertionError(f"line {number}: cannot read {raw!r}")
    finish()
    return entries


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    assert PO.exists(), "run makemessages -l sv first"
    parsed = parse_po(PO)
    assert parsed and parsed[0].msgid == "", "the catalogue has no header"
    return parsed[1:]  # the header entry is metadata, not a message


def placeholders(text: str) -> list[str]:
    found = []
    for match in PLACEHOLDER.finditer(text):
        found.append(
            f"%({match['named']})"
            if match["named"] is not None
            else f"%{match['bare']}"
            if match["bare"] is not None
            else f"{{{match['brace']}}}"
        )
    return sorted(found)


def test_catalogue_has_entries(entries):
    assert len(entries) > 100


def test_no_untranslated_or_fuzzy_entries(entries):
    fuzzy = [e.label for e in entries if "fuzzy" in e.flags]
    untranslated = [e.label for e in entries if not e.msgstr or not all(e.translations)]
    assert not fuzzy, f"{len(fuzzy)} fuzzy entries: {fuzzy[:20]}"
    assert not untranslated, f"{len(untranslated)} untranslated entries: {untranslated[:20]}"


def test_plural_entries_have_both_swedish_forms(entries):
    wrong = [e.label for e in entries if e.msgid_plural is not None and sorted(e.msgstr) != [0, 1]]
    assert not wrong


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext's msgfmt is not installed")
def test_msgfmt_accepts_the_catalogue():
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(PO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # e.g. "698 translated messages." and nothing about fuzzy or untranslated ones.
    assert "fuzzy" not in result.stderr, result.stderr
    assert "untranslated" not in result.stderr, result.stderr


def test_placeholders_match(entries):
    broken = []
    for entry in entries:
        if entry.msgid_plural is None:
            expected = [placeholders(entry.msgid)]
        else:
            # A plural form may use either the singular's or the plural's placeholders.
            expected = [placeholders(entry.msgid), placeholders(entry.msgid_plural)]
        for index, text in sorted(entry.msgstr.items()):
            if placeholders(text) not in expected:
                broken.append(f"{entry.label} msgstr[{index}]={text!r}")
    assert not broken, "\n".join(broken)


def test_html_markup_is_kept(entries):
    broken = [
        f"{entry.label}: {text!r}"
        for entry in entries
        for text in entry.translations
        if sorted(TAG.findall(text)) != sorted(TAG.findall(entry.msgid))
    ]
    assert not broken, "\n".join(broken)


def test_compiled_catalogue_is_up_to_date(entries):
    """django.mo must hold what django.po says (run compilemessages after editing)."""
    assert MO.exists(), "run manage.py compilemessages"
    with MO.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog
    stale = []
    for entry in entries:
        key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt is not None else entry.msgid
        if entry.msgid_plural is None:
            if catalog.get(key) != entry.msgstr[0]:
                stale.append(entry.label)
        else:
            for index, text in entry.msgstr.items():
                if catalog.get((key, index)) != text:
                    stale.append(f"{entry.label}[{index}]")
    assert not stale, f"django.mo is stale for {len(stale)} entries: {stale[:20]}"


@pytest.fixture
def project_language(settings):
    """The default language as naravard/settings.py sets it.

    Other test modules may pin English for their assertions; these tests are about the
    project's real default, so they read it from the settings module itself.
    """
    module = importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"])
    default = module.LANGUAGE_CODE
    settings.LANGUAGE_CODE = default
    return default


def test_swedish_is_the_default_language(project_language):
    assert project_language == "sv"
    assert "en" in dict(settings.LANGUAGES)


@pytest.mark.django_db
@pytest.mark.usefixtures("project_language")
def test_login_page_is_swedish_by_default():
    response = Client().get("/login/")  # no Accept-Language header, no cookie
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="sv">' in html
    assert "Logga in" in html
    assert "Skicka en kod till mig" in html
    assert "Send me a code" not in html


@pytest.mark.django_db
@pytest.mark.usefixtures("project_language")
def test_switching_to_english_shows_english():
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    html = client.get("/login/").content.decode()
    assert '<html lang="en">' in html
    assert "Send me a code" in html
    assert "Log in" in html
    assert "Logga in" not in html


@pytest.mark.django_db
@pytest.mark.usefixtures("project_language")
def test_switching_back_to_swedish():
    client = Client(headers={"accept-language": "en"})
    assert "Send me a code" in client.get("/login/").content.decode()
    client.post("/i18n/setlang/", {"language": "sv", "next": "/login/"})
    html = client.get("/login/").content.decode()
    assert '<html lang="sv">' in html
    assert "Skicka en kod till mig" in html
