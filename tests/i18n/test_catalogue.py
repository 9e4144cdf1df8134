"""The Danish catalogue is complete: every message in the code and templates, extracted
exactly as `make messages` does, has a Danish translation with the same placeholders, and
the compiled catalogue the app reads says the same as its source."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "idp/translations/da/LC_MESSAGES/messages.po"
MO = PO.with_suffix(".mo")
# The keywords `pybabel extract -k _l` uses: babel's defaults plus the lazy `_l`.
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "ugettext": None,
    "ungettext": (1, 2),
    "dgettext": (2,),
    "dngettext": (2, 3),
    "N_": None,
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "_l": None,
}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sdif]")


def source_messages() -> dict[str, tuple[tuple[str, ...], str]]:
    """msgid -> (its forms: one, or singular and plural; where it first appears), from the
    whole checkout, as `pybabel extract -F babel.cfg -k _l .` finds them."""
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, filename=str(ROOT / "babel.cfg"))
    found: dict[str, tuple[tuple[str, ...], str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        forms = message if isinstance(message, tuple) else (message,)
        if forms[0]:
            found.setdefault(forms[0], (forms, f"{filename}:{lineno}"))
    return found


def placeholders(text: str) -> set[str]:
    return {match.group(0) for match in PLACEHOLDER.finditer(text)}


def catalogue_problems() -> list[str]:
    with open(PO, "rb") as po:
        catalog = read_po(po, locale="da")
    problems = []
    for msgid, (forms, where) in sorted(source_messages().items(), key=lambda m: m[1][1]):
        entry = catalog.get(msgid)
        if entry is None:
            problems.append(f"missing       {where}: {msgid!r}")
            continue
        if entry.fuzzy:
            problems.append(f"fuzzy         {where}: {msgid!r}")
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if len(forms) != len(strings) or len(strings) > 2:
            problems.append(f"plural forms  {where}: {msgid!r}")
        if not all(strings):
            problems.append(f"untranslated  {where}: {msgid!r}")
            continue
        expected = set().union(*(placeholders(form) for form in forms))
        for string in strings:
            # A plural form may leave the number out ("én kode"); nothing else may differ.
            if not placeholders(string) <= expected or (
                len(forms) == 1 and placeholders(string) != expected
            ):
                problems.append(f"placeholders  {where}: {msgid!r} -> {string!r}")
    for entry in catalog:
        if entry.id:
            problems.extend(
                f"check         {entry.id!r}: {error}" for error in entry.check(catalog)
            )
    return problems


def test_every_message_has_a_danish_translation():
    problems = catalogue_problems()
    assert not problems, (
        f"{len(problems)} message(s) need work in {PO.relative_to(ROOT)}"
        " (run `make messages`, translate, remove `#, fuzzy`):\n" + "\n".join(problems)
    )


def _messages(catalog) -> dict:
    def key(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value

    return {key(m.id): key(m.string) for m in catalog if m.id and not m.fuzzy and m.string}


def test_the_app_reads_what_the_danish_catalogue_says():
    """The compiled .mo (gitignored, built by `make install`) holds exactly the .po's
    translations: an edited .po not compiled again would leave pages in the old words."""
    assert MO.exists(), "no compiled Danish catalogue: run `make install`"
    with open(PO, "rb") as po, open(MO, "rb") as mo:
        source, compiled = _messages(read_po(po, locale="da")), _messages(read_mo(mo))
    stale = sorted(str(key) for key in source.keys() ^ compiled.keys())
    stale += sorted(str(k) for k in source.keys() & compiled.keys() if source[k] != compiled[k])
    assert not stale, f"{MO.relative_to(ROOT)} is not {PO.name} compiled: run `make install`. " + (
        "Differing: " + "; ".join(stale[:10])
    )
