"""Languages of the client-facing documents: gettext catalogs and Babel's formatting.

The catalogs are the ``.po`` files in ``locale/<lang>/LC_MESSAGES/mspctl.po``, the only source
of truth kept in git; they are compiled in memory when first used (Babel's ``read_po`` +
``write_mo``, a few milliseconds), so a compiled ``.mo`` can never be stale. The messages are
extracted from the templates and Python with::

    pybabel extract -F mspctl/reports/babel.cfg --no-location -o /tmp/mspctl.pot mspctl/reports
    pybabel update -i /tmp/mspctl.pot -d mspctl/reports/locale -D mspctl --no-wrap \
        --no-fuzzy-matching --ignore-pot-creation-date

then translate the new empty ``msgstr`` of ``it`` (a test fails while one is missing).

English is the source language: its catalog exists (and may be empty) so a wording can be
changed for clients without touching the templates. Dates and numbers are formatted by Babel
in the document's language: "30 novembre 2026", "1.234,5".
"""

from __future__ import annotations

import datetime as dt
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mspctl.errors import BadInput

if TYPE_CHECKING:
    from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "mspctl"
LANGUAGES = ("en", "it")
NONE = "\u2013"  # an en dash where there is no value


def check_language(lang: str, key: str = "--lang") -> str:
    if lang not in LANGUAGES:
        raise BadInput(
            f"unsupported language {lang[:20]!r} (known: {', '.join(LANGUAGES)})", key=key
        )
    return lang


@cache
def translations(lang: str) -> Translations:
    """The language's catalog, compiled from its .po file."""
    import io

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    check_language(lang)
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@lru_cache(maxsize=8192)
def _decimal(value: float, pattern: str | None, lang: str) -> str:
    """Babel's number formatting, cached: a report formats the same small numbers often."""
    from babel.numbers import format_decimal

    return str(format_decimal(value, format=pattern, locale=lang))


class Formatter:
    """Dates, numbers and percentages in one language (Babel's CLDR data)."""

    def __init__(self, lang: str) -> None:
        self.lang = check_language(lang)

    def date(self, value: str | dt.date, fmt: str = "long") -> str:
        from babel.dates import format_date

        day = dt.date.fromisoformat(value) if isinstance(value, str) else value
        return str(format_date(day, format=fmt, locale=self.lang))

    def month(self, value: str) -> str:
        """``2026-11`` as "November 2026" / "novembre 2026"."""
        from babel.dates import format_date

        year, month = (int(x) for x in value.split("-"))
        return str(format_date(dt.date(year, month, 1), format="LLLL y", locale=self.lang))

    def day(self, value: str) -> str:
        """The day of the month with its weekday initial, for the calendar strip."""
        return str(dt.date.fromisoformat(value).day)

    def number(self, value: float | int | None, digits: int = 1) -> str:
        if value is None:
            return NONE
        if isinstance(value, int):
            return _decimal(value, None, self.lang)
        return _decimal(value, f"#,##0.{'#' * digits}", self.lang)

    def percent(self, value: float | None, digits: int = 1) -> str:
        return NONE if value is None else f"{self.number(value, digits)}\u00a0%"

    def weekday(self, value: str) -> str:
        """``mon`` .. ``sun`` as the language's weekday name."""
        from babel.dates import get_day_names

        index = ("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(value)
        return str(get_day_names("wide", locale=self.lang)[index])

    def filters(self) -> dict[str, Any]:
        return {
            "weekday": self.weekday,
            "date": self.date,
            "month": self.month,
            "day": self.day,
            "number": self.number,
            "percent": self.percent,
        }
