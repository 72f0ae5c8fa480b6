"""Text a user supplied (a patch's ids, strings and description, a file name), made safe to print.

A shared patch file is written by someone else, and a terminal obeys escape sequences: a
description holding ``ESC ]0;title BEL`` sets the window's title, ``ESC [2J`` clears the screen,
and a 5 MB string echoed in an error is a flood. So every message quotes what it did not write
through :func:`quote` (a value) or :func:`excerpt` (a name or a path shown bare): control
characters, bidirectional overrides and line separators are written as escapes (``\\x1b``,
``\\n``, ``\\u202e``), and a long text keeps its start and its end around an ellipsis, followed by
its full length.
"""

from __future__ import annotations

import difflib
import functools
import re
import reprlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

#: The longest a value quoted inside a message may be (as shown, quotes included).
QUOTE_LIMIT = 80
#: A file path keeps more: its folders are what tells two files apart.
PATH_LIMIT = 200
#: The longest line a message may print, whatever it holds: the last guard, above what a
#: message built of quotes and excerpts reaches, so that it never cuts one again.
LINE_LIMIT = 1000

#: What a terminal or a text view would obey or hide rather than show: C0 and C1 controls
#: and DEL, the Arabic letter mark and bidirectional controls (text that reads otherwise than
#: it is), line and paragraph separators (a line break in disguise) and lone surrogates
#: (which cannot even be encoded for printing).
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
ELLIPSIS = "…"


def visible(text: str, keep: str = "") -> str:
    """``text`` with every character a terminal would obey written as an escape (ESC as
    ``\\x1b``, a newline as ``\\n``), except the characters in ``keep``."""
    return _HIDDEN.sub(lambda match: _escaped(match.group(), keep), text)


def excerpt(text: Any, limit: int = QUOTE_LIMIT) -> str:
    """``text`` shown bare (a node id, a path): visible, in at most ``limit`` characters; a
    longer one keeps its start and end around an ellipsis and ends with its full length."""
    return _shorten(str(text), limit, _visible_char, lambda shown: shown)


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``value`` as a message quotes it: as Python writes it (``'text'``, ``[1, 2]``), control
    characters escaped, in at most ``limit`` characters; a longer one keeps its start and end
    around an ellipsis and is followed by its full length."""
    if isinstance(value, str):
        if len(value) <= limit and len(repr(value)) <= limit:
            return repr(value)
        return _shorten(value, limit, _quoted_char, lambda shown: f"'{shown}'")
    if isinstance(value, int) and not isinstance(value, bool):
        return _integer(value, limit)
    shown = visible(_SHORT_REPR.repr(value))
    if len(shown) <= limit:
        return shown
    size = f" ({len(value)} items)" if isinstance(value, Sequence | dict) else ""
    return shown[: limit - len(size) - 1] + ELLIPSIS + size


def first_few(items: Iterable[Any], count: int = 10, limit: int = 40) -> str:
    """``a, b, c`` of at most ``count`` items, each an excerpt, then how many more there are."""
    items = list(items)
    shown = ", ".join(excerpt(item, limit) for item in items[:count])
    more = len(items) - count
    return f"{shown} and {more} more" if more > 0 else shown


def closest(word: Any, known: Iterable[str]) -> str | None:
    """The known name a mistyped ``word`` most likely meant (difflib's ratio of 0.6 or more,
    case aside: ``LFO`` finds ``lfo``), or None. A long or non-text ``word`` means nothing."""
    if not isinstance(word, str) or not word or len(word) > 100:  # difflib is quadratic
        return None
    return _closest(word, tuple(known))


@functools.lru_cache(maxsize=256)  # a patch may make the same mistake 20,000 times
def _closest(word: str, known: tuple[str, ...]) -> str | None:
    by_lower = {name.lower(): name for name in known}
    matches = difflib.get_close_matches(word.lower(), by_lower, n=1)
    return by_lower[matches[0]] if matches else None


def did_you_mean(word: Any, known: Iterable[str]) -> str:
    """``; did you mean 'frequency_hz'?`` to end a message about an unknown name, or ``""``."""
    match = closest(word, known)
    return f"; did you mean {quote(match)}?" if match is not None else ""


def paragraph(text: str, limit: int = 2000, max_lines: int = 40) -> str:
    """Free text to print (a patch's description): its line breaks and tabs kept, every other
    control character visible, at most ``limit`` characters in ``max_lines`` lines; a longer
    one is cut and says how long it is."""
    text = text.replace("\r\n", "\n")
    cut = "\n".join(text[:limit].split("\n", max_lines)[:max_lines])
    shown = visible(cut, keep="\n\t")
    return shown if len(cut) == len(text) else f"{shown}{ELLIPSIS} ({len(text)} characters)"


def safe_lines(text: str, limit: int = LINE_LIMIT) -> list[str]:
    """A message's lines, each visible and at most about ``limit`` characters: the last guard
    before printing what may hold text no caller quoted (an OS error naming a path)."""
    return [excerpt(line, limit) for line in text.split("\n")]


# -- how ------------------------------------------------------------------------------------
def _escaped(char: str, keep: str = "") -> str:
    return char if char in keep else repr(char)[1:-1]


def _visible_char(char: str) -> str:
    return _escaped(char) if _HIDDEN.match(char) else char


def _quoted_char(char: str) -> str:
    """One character as it is written inside single quotes by repr()."""
    return "\\'" if char == "'" else repr(char)[1:-1]


def _shorten(text: str, limit: int, escape: Callable[[str], str], wrap: Callable[[str], str]) -> str:
    """``text`` escaped char by char and wrapped, in at most ``limit`` characters: a longer one
    keeps its start and end around an ellipsis and ends with its full length. Only about
    ``limit`` characters of a huge text are looked at; a shortened text is not shortened again."""
    if len(text) <= limit:
        whole = wrap("".join(map(escape, text)))
        if len(whole) <= limit:
            return whole
    size = f" ({len(text)} characters)"
    budget = max(limit - len(size) - len(wrap("")) - len(ELLIPSIS), 2)
    head_budget = budget * 2 // 3
    head = _take(text[:head_budget], head_budget, escape)
    tail_budget = budget - head_budget
    tail = _take(reversed(text[len(text) - tail_budget :]), tail_budget, escape)
    return wrap("".join(head) + ELLIPSIS + "".join(reversed(tail))) + size


def _take(chars: Iterable[str], budget: int, escape: Callable[[str], str]) -> list[str]:
    """Escaped characters from ``chars``, in order, while they fit in ``budget``."""
    taken, used = [], 0
    for char in chars:
        piece = escape(char)
        used += len(piece)
        if used > budget:
            break
        taken.append(piece)
    return taken


def _integer(value: int, limit: int) -> str:
    try:
        digits = repr(value)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    if len(digits) <= limit:
        return digits
    size = f" ({len(digits.lstrip('-'))} digits)"
    keep = (limit - len(size) - 1) // 2
    return f"{digits[:keep]}{ELLIPSIS}{digits[-keep:]}{size}"


class _ShortRepr(reprlib.Repr):
    """reprlib's bounded repr (a few items of a few levels), with our strings and integers."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = self.maxother = QUOTE_LIMIT
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 6

    def repr_str(self, value: str, level: int) -> str:
        return quote(value, 30)

    def repr_int(self, value: int, level: int) -> str:
        return _integer(value, 30)


_SHORT_REPR = _ShortRepr()
