"""The texts people read, in their language: gettext message catalogs, one per language.

The English text is the message id; each language is a catalog (``en``'s only names values),
``suitability/locale/<lang>/LC_MESSAGES/suitability.po`` (the source, edited by translators),
compiled with Babel into the ``.mo`` next to it, which ships in the wheel and is read here with the
standard library's :mod:`gettext` (no runtime dependency, nothing compiled at import). Adding a
language is adding a catalog and its tag to :data:`LANGUAGES`.

Values a person reads by name (a horizon ``short``, an outcome ``blocked``, a record type) are
catalog entries too, with the kind as their context (``msgctxt "horizon"``): :func:`name`.

Texts of documents (questionnaires, policies, products) are the documents' own, in the languages
they carry; :func:`pick` chooses one, falling back along :data:`FALLBACK` (``zh-Hant`` to
``zh-CN``, then ``en``) when a document has none in the language asked for.

Refresh after changing a text (Babel is a development dependency)::

    pybabel extract -F suitability/locale/babel.cfg -k tr:2 -k pN_:1c,2 -k Message:1 \
        --omit-header --no-wrap -o suitability/locale/suitability.pot .
    pybabel update --no-wrap -i suitability/locale/suitability.pot -d suitability/locale -D suitability
    pybabel compile -d suitability/locale -D suitability

(Run from the repository's root: babel.cfg's pattern is relative to it. Babel reads no text marked
inside an f-string: compute the text first, then put it in.)
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

#: The languages of the texts people read, as BCP 47 tags (``--lang``).
LANGUAGES = ("zh-CN", "zh-Hant", "en")
#: Where a text missing in a language is looked for next (catalogs and documents alike).
FALLBACK: dict[str, tuple[str, ...]] = {
    "zh-CN": ("zh-CN", "en"),
    "zh-Hant": ("zh-Hant", "zh-CN", "en"),
    "en": ("en",),
}
DOMAIN = "suitability"
LOCALE_DIR = Path(__file__).parent / "locale"


def catalog_dir(lang: str) -> str:
    """The folder name of ``lang``'s catalog (gettext style: ``zh_CN``, ``zh_Hant``)."""
    return lang.replace("-", "_")


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The catalog of ``lang``, falling back along :data:`FALLBACK` to the English message ids."""
    chain = FALLBACK.get(lang, (lang, "en"))
    result: _gettext.NullTranslations = _gettext.NullTranslations()
    for tag in reversed(chain):
        mo = LOCALE_DIR / catalog_dir(tag) / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if not mo.is_file():
            continue
        with mo.open("rb") as file:
            catalog = _gettext.GNUTranslations(file)
        catalog.add_fallback(result)
        result = catalog
    return result


def tr(lang: str, message: str, /, **params: Any) -> str:
    """``message`` (its English text) in ``lang``, with ``{placeholders}`` filled from ``params``."""
    text = translations(lang).gettext(message)
    return text.format(**params) if params else text


def name(lang: str, kind: str, value: str) -> str:
    """The name of the value ``value`` of ``kind`` (``horizon``, ``outcome``…) in ``lang``; unknown values as they are."""
    return translations(lang).pgettext(kind, value)


def pN_(kind: str, value: str) -> str:
    """Mark ``value`` of ``kind`` for extraction into the catalogs (returns it unchanged)."""
    return value


def pick(texts: Mapping[str, str] | None, lang: str) -> str:
    """A document's text in ``lang``, or in the next language of :data:`FALLBACK` it has ("" if none)."""
    if not texts:
        return ""
    for tag in FALLBACK.get(lang, (lang, "en")):
        if tag in texts:
            return texts[tag]
    return next(iter(texts.values()))


class Message:
    """A text to be shown later in whichever language is asked for: its English text and its values.

    ``message[lang]`` renders it, so it reads like the ``{"zh-CN": …, "en": …}`` texts of documents.
    """

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, /, **params: Any) -> None:
        self.msgid = msgid
        self.params = params

    def __getitem__(self, lang: str) -> str:
        return tr(lang, self.msgid, **{key: _render(value, lang) for key, value in self.params.items()})

    def all(self) -> dict[str, str]:
        """The text in every language (for JSON)."""
        return {lang: self[lang] for lang in LANGUAGES}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.msgid, self.params) == (other.msgid, other.params)

    def __hash__(self) -> int:
        return hash(self.msgid)

    def __repr__(self) -> str:
        return f"Message({self.msgid!r}, **{self.params!r})"


def _render(value: Any, lang: str) -> Any:
    """A parameter of a :class:`Message` in ``lang``: messages rendered, lists of them joined."""
    if isinstance(value, Message):
        return value[lang]
    if isinstance(value, list) and value and all(isinstance(v, Message) for v in value):
        return tr(lang, "; ").join(v[lang] for v in value)
    return value


# Values people read by name (each kind is a catalog context). Documents may name others; those
# are shown as they are.
KNOWN_NAMES = (
    pN_("horizon", "short"),
    pN_("horizon", "medium"),
    pN_("horizon", "long"),
    pN_("variety", "fixed_income"),
    pN_("variety", "equity"),
    pN_("variety", "derivatives_financing"),
    pN_("variety", "complex"),
    pN_("variety", "other"),
    pN_("variety_mode", "selected"),
    pN_("variety_mode", "cumulative"),
    pN_("outcome", "suitable"),
    pN_("outcome", "requires_confirmation"),
    pN_("outcome", "blocked"),
    pN_("investor_type", "ordinary"),
    pN_("investor_type", "professional"),
    pN_("initiated_by", "client"),
    pN_("initiated_by", "firm"),
    pN_("status", "active"),
    pN_("status", "retired"),
    pN_("status", "draft"),
    pN_("record_type", "artifact"),
    pN_("record_type", "assessment"),
    pN_("record_type", "decision"),
    pN_("record_type", "confirmation"),
    pN_("dimension", "risk"),
    pN_("dimension", "horizon"),
    pN_("dimension", "variety"),
    pN_("dimension", "investor_type"),
    pN_("dimension", "assessment"),
    pN_("dimension", "document"),
    pN_("dimension", "age"),
    pN_("dimension", "initiator"),
    pN_("dimension", "axis"),
    pN_("axis_basis", "fact_unknown"),
    pN_("axis_basis", "value_unknown"),
    pN_("question_dimension", "financial_situation"),
    pN_("question_dimension", "knowledge_experience"),
    pN_("question_dimension", "objectives"),
    pN_("question_dimension", "risk_tolerance"),
    pN_("question_dimension", "loss_capacity"),
    pN_("question_dimension", "personal"),
    pN_("aggregate", "sum"),
    pN_("aggregate", "max"),
    pN_("question_type", "single"),
    pN_("question_type", "multi"),
    pN_("check", "sequence"),
    pN_("check", "canonical bytes"),
    pN_("check", "leaf hashes"),
    pN_("check", "root"),
    pN_("check", "references"),
    pN_("check_status", "ok"),
    pN_("check_status", "FAIL"),
    pN_("check_status", "skip"),
    pN_("finding", "retake_drift"),
    pN_("finding", "flipped_decision"),
    pN_("finding", "dated"),
    pN_("finding", "actor"),
    pN_("age_band", "unknown"),
    pN_("reason_group", "other"),
)
