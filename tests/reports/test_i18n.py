"""The catalogs and Babel's formatting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mspctl.reports import i18n

REPORTS = Path(i18n.__file__).parent


def extracted() -> set[str]:
    from babel.messages.extract import extract_from_dir

    with (REPORTS / "babel.cfg").open() as handle:
        from babel.messages.frontend import parse_mapping_cfg

        method_map, options_map = parse_mapping_cfg(handle)
    return {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            REPORTS, method_map, options_map
        )
    }


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_message_is_in_the_catalog(lang):
    from babel.messages.pofile import read_po

    with (REPORTS / "locale" / lang / "LC_MESSAGES" / "mspctl.po").open("rb") as handle:
        catalog = read_po(handle)
    ids = {m.id for m in catalog if m.id}
    missing = extracted() - ids
    assert not missing, f"run pybabel update (see mspctl/reports/i18n.py): {sorted(missing)}"
    if lang == "it":
        untranslated = [m.id for m in catalog if m.id and not m.string]
        assert untranslated == []


def test_italian_dates_and_numbers():
    it = i18n.Formatter("it")
    assert it.date("2026-11-30") == "30 novembre 2026"
    assert it.number(1234.5) == "1.234,5"
    assert it.number(1234) == "1.234"
    assert it.percent(98.66, 2) == "98,66\u00a0%"
    assert it.month("2026-11") == "novembre 2026"
    assert it.weekday("mon") == "lunedì"
    en = i18n.Formatter("en")
    assert en.date(dt.date(2026, 11, 30)) == "November 30, 2026"
    assert en.number(1234.5) == "1,234.5"


def test_italian_translation_is_used():
    assert i18n.translations("it").gettext("Summary") == "In sintesi"
    assert i18n.translations("en").gettext("Summary") == "Summary"
