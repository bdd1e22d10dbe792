"""Text a team controls, made safe to print on a terminal.

File names, folder names and anything read from a returned workbook may hold carriage
returns, newlines or escape sequences that would rewrite what the coordinator sees, and
bytes that are not UTF-8. Every such name goes through `shown` before the CLI prints it.
"""

from __future__ import annotations

import re

_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
# C0 and C1 controls, DEL, bidirectional overrides (which reorder what follows) and the
# surrogates Python uses for bytes that are not UTF-8.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def shown(text: object) -> str:
    """`text` with every control character, bidi override and undecodable byte escaped
    (\\r, \\n, \\x1b, \\u202e, \\xe9 for a byte that is not UTF-8); ordinary text as is."""
    value = str(text)
    if not _UNSAFE.search(value):
        return value
    return _UNSAFE.sub(_escape, value)


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
