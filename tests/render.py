"""What a workbook looks like on paper: render it to PDF and measure the text (pdfplumber).

LibreOffice prints a workbook to PDF. Text that a cell clips does not print, but it is
still in the PDF: LibreOffice draws every line of a wrapped cell, even the lines below the
cell's bottom edge, and hides them with a clipping rectangle (`x y w h re W* n`). pdfminer
(under pdfplumber) ignores clipping, so `page.chars` and `page.extract_text()` include text
nobody can see. `read_pdf` tracks the clip and keeps a character only when its centre lies
inside the clip in force when it was drawn; every helper here reads only what prints.

On sizes: LibreOffice writes the scaling of "fit to page" into the font size itself (a 10 pt
font printed at 51% is drawn with `/F1 5.103 Tf` under an identity text matrix), and
pdfminer computes `char["size"]` as the height of the character's em box (font size tall)
mapped through the text matrix and the page's transformation matrix. So `char["size"]` is
the size as printed, in points of the A4 page, whatever the producer scales; it equals
`char["height"]` for upright text. (A word's box from `pdftotext -bbox` is taller, ascent
plus descent: about 1.3 times the size for LibreOffice's DejaVu Sans.)

The size printed depends on the fonts installed: a workbook asking for Arial prints in
Liberation Sans (same widths as Arial) when fonts-liberation is installed, and otherwise in
DejaVu Sans, which is wider, so "fit to one page wide" shrinks the page further. `fonts`
says which were used.
"""

from __future__ import annotations

import math
import os
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Text extraction: two characters belong to one word when the gap between them is under a
# tenth of their size. Fixed tolerances (pdfplumber's default is 3 pt) join the last word of
# one cell to the first of the next when a page is printed small.
_EXTRACT: dict[str, Any] = {"x_tolerance_ratio": 0.1, "y_tolerance": 2}
_WORD = re.compile(r"[a-z]+")


def pdfplumber_missing() -> str:
    """Why PDFs cannot be measured here, or '' when they can."""
    try:
        import pdfplumber  # noqa: F401
    except ImportError:
        return "pdfplumber is not installed (pip install pdfplumber)"
    return ""


def words(text: str) -> list[str]:
    """The words of a text, lower case, letters only: how both sides are compared."""
    return _WORD.findall(text.lower())


@dataclass
class Clipped:
    """The text drawn inside one clipping rectangle (in a workbook: one cell's text)."""

    words: list[str]
    visible: list[bool]  # per word: does it print?


@dataclass
class Printed:
    """What a PDF shows on paper."""

    page_sizes: list[float]  # the smallest printed text size per page (inf: no text)
    text: str  # the text that prints, page after page, line by line
    words: list[str]  # its words, in reading order
    hidden_words: int  # words drawn but clipped away
    cells: list[Clipped] = field(default_factory=list)
    fonts: dict[str, int] = field(default_factory=dict)  # font -> characters printed in it

    @property
    def smallest_pt(self) -> float:
        return min(self.page_sizes, default=math.inf)


def read_pdf(pdf_path: str | Path) -> Printed:
    """Read a PDF once: sizes, text and words of what prints, and each clipped cell."""
    import pdfplumber  # only the printing tests need it
    from pdfplumber.utils.text import WordExtractor, extract_text

    sizes, texts, cells = [], [], []
    fonts: Counter = Counter()
    with pdfplumber.open(str(pdf_path)) as pdf:
        for page in pdf.pages:
            chars = _chars(page)
            shown = [c for c in chars if c["pxl_visible"]]
            ink = [rendered_size(c) for c in shown if c["text"].strip()]
            sizes.append(min(ink, default=math.inf))
            # "BAAAAA+LiberationSans": the subset tag before "+" says nothing of the font.
            fonts.update(str(c["fontname"]).split("+")[-1] for c in shown if c["text"].strip())
            texts.append(extract_text(shown, **_EXTRACT))
            by_clip: dict[Any, list[dict]] = {}
            for c in chars:
                by_clip.setdefault(c["pxl_clip"], []).append(c)
            extractor = WordExtractor(**_EXTRACT)
            for group in by_clip.values():
                cell = Clipped([], [])
                for w in extractor.extract_words(group, return_chars=True):
                    seen = all(c["pxl_visible"] for c in w["chars"])
                    for token in words(w["text"]):
                        cell.words.append(token)
                        cell.visible.append(seen)
                if cell.words:
                    cells.append(cell)
    text = "\n".join(texts)
    hidden = sum(c.visible.count(False) for c in cells)
    return Printed(sizes, text, words(text), hidden, cells, dict(fonts.most_common()))


def smallest_text_pt(pdf_path: str | Path) -> float:
    """The smallest printed text size on any page of the PDF, in points."""
    return read_pdf(pdf_path).smallest_pt


def pdf_text(pdf_path: str | Path) -> str:
    """All the text the PDF prints (clipped text left out), page after page, line by line."""
    return read_pdf(pdf_path).text


def rendered_size(char: dict) -> float:
    """The printed size of one character, in points (see the module's note)."""
    if char.get("upright", True):
        return float(char["size"])
    # Rotated or skewed text: the em box no longer stands on the baseline; its smaller
    # side is a safe lower bound for the size.
    return float(min(char["width"], char["height"]))


def _chars(page: Any) -> list[dict]:
    """Every character pdfminer finds on a page, each with `pxl_visible` (inside the clip
    in force when it was drawn) and `pxl_clip` (that clip, to group a cell's text)."""
    from pdfminer.layout import LTChar, LTContainer

    layout = _clipped_layout(page)
    out = []
    stack = list(reversed(layout._objs))
    while stack:
        obj = stack.pop()
        if isinstance(obj, LTChar):
            char = page.process_object(obj)
            char["pxl_visible"] = getattr(obj, "pxl_visible", True)
            char["pxl_clip"] = getattr(obj, "pxl_clip", None)
            out.append(char)
        elif isinstance(obj, LTContainer):
            stack.extend(reversed(obj._objs))
    return out


def _clipped_layout(page: Any) -> Any:
    """pdfplumber's own layout of a page, with clipping rectangles tracked."""
    from pdfminer.pdfinterp import PDFPageInterpreter
    from pdfminer.utils import apply_matrix_pt
    from pdfplumber.page import PDFPageAggregatorWithMarkedContent

    class Device(PDFPageAggregatorWithMarkedContent):
        interpreter: Any = None

        def render_char(self, *args: Any, **kwargs: Any) -> float:
            adv = super().render_char(*args, **kwargs)
            char = self.cur_item._objs[-1]
            clip = self.interpreter.clip if self.interpreter else None
            char.pxl_clip = clip
            if clip is not None:
                x, y = (char.x0 + char.x1) / 2, (char.y0 + char.y1) / 2
                char.pxl_visible = clip[0] <= x <= clip[2] and clip[1] <= y <= clip[3]
            return adv

    class Interpreter(PDFPageInterpreter):
        inherited_clip: Any = None

        def init_state(self, ctm: Any) -> None:
            super().init_state(ctm)
            self.clip = self.inherited_clip  # (x0, y0, x1, y1) on the page; None: all
            self.clips: list[Any] = []
            self.clipping = False
            self.device.interpreter = self

        def dup(self) -> Any:
            child = super().dup()
            child.inherited_clip = self.clip
            return child

        def do_Do(self, xobjid_arg: Any) -> None:
            try:
                super().do_Do(xobjid_arg)
            finally:
                self.device.interpreter = self

        def do_q(self) -> None:
            self.clips.append(self.clip)
            super().do_q()

        def do_Q(self) -> None:
            if self.clips:
                self.clip = self.clips.pop()
            super().do_Q()

        def do_W(self) -> None:
            self.clipping = True

        do_W_a = do_W

        def end_path(self) -> None:
            """The path ends (painted or not): after W, it clips what follows."""
            if not self.clipping:
                return
            self.clipping = False
            points = [
                apply_matrix_pt(self.ctm, (seg[k], seg[k + 1]))
                for seg in self.curpath
                for k in range(1, len(seg) - 1, 2)
            ]
            if not points:
                return
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            box = (min(xs), min(ys), max(xs), max(ys))
            if self.clip is not None:
                box = (
                    max(box[0], self.clip[0]),
                    max(box[1], self.clip[1]),
                    min(box[2], self.clip[2]),
                    min(box[3], self.clip[3]),
                )
            self.clip = box

    for name in ("n", "S", "s", "f", "F", "f_a", "B", "B_a", "b", "b_a"):
        setattr(Interpreter, f"do_{name}", _ending(getattr(PDFPageInterpreter, f"do_{name}")))

    device = Device(page.pdf.rsrcmgr, pageno=page.page_number, laparams=page.pdf.laparams)
    Interpreter(page.pdf.rsrcmgr, device).process_page(page.page_obj)
    return device.get_result()


def _ending(paint: Any) -> Any:
    def do(self: Any, *args: Any) -> Any:
        self.end_path()
        return paint(self, *args)

    return do


# --- is a text all there? ------------------------------------------------------------


def missing_words(printed: Printed, texts: dict[str, str]) -> dict[str, list[str]]:
    """For each text, the words of it that do not print (an empty list: all of it prints).

    A text found in a clipped cell (its words in a row, perhaps cut short) loses the words
    clipped away or never drawn; each clipped cell answers for one text only, so the same
    guidance on two rows is checked twice. Any other text is looked for among the printed
    words in reading order, where a cell's lines come interleaved with its neighbours'.
    """
    used: set[int] = set()
    out: dict[str, list[str]] = {}
    for key, text in texts.items():
        want = words(text)
        if not want:
            out[key] = []
            continue
        found = _in_cell(printed.cells, want, used)
        if found is None:
            out[key] = _in_order(printed.words, want)
        else:
            n, start = found
            used.add(n)
            cell = printed.cells[n]
            drawn = len(cell.words) - start
            out[key] = [w for k, w in enumerate(want) if k >= drawn or not cell.visible[start + k]]
    return out


def _in_cell(cells: list[Clipped], want: list[str], used: set[int]) -> tuple[int, int] | None:
    """The clipped cell holding `want` (whole, or cut short at the cell's end), and where.

    A short text must open its cell: a word or two recur too often to place elsewhere."""
    least = min(3, len(want))
    for n, cell in enumerate(cells):
        if n in used or all(cell.visible):
            continue
        got = cell.words
        starts = range(len(got)) if len(want) >= 5 else range(1)
        for start in (i for i in starts if got[i] == want[0]):
            span = got[start : start + len(want)]
            if len(span) >= least and span == want[: len(span)]:
                return n, start
    return None


# How far apart, in printed words, two neighbouring words of one cell may be: the other
# cells on the same line, and a page's footer and repeated headings, come in between.
_GAP = 400


def _in_order(shown: list[str], want: list[str]) -> list[str]:
    """The words of `want` not found in order in `shown` (see _anchored). Where the anchor
    leaves words missing, each place the text's first word prints is tried as the start
    too: the longest run can lie where a few of its words recur in a neighbouring cell
    (interleaved line by line with this one), and calls words missing that print."""
    missing = _anchored(shown, want)
    if missing and want:
        for start in (k for k, w in enumerate(shown) if w == want[0]):
            found = _forward(shown, want, start)
            if len(found) < len(missing):
                missing = found
            if not missing:
                break
    return missing


def _forward(shown: list[str], want: list[str], start: int) -> list[str]:
    """The words of `want` missing when its first word is the one printed at `start`."""
    missing, j = [], start + 1
    for w in want[1:]:
        k = _find(shown, w, j, min(len(shown), j + _GAP))
        if k is None:
            missing.append(w)
        else:
            j = k + 1
    return missing


def _anchored(shown: list[str], want: list[str]) -> list[str]:
    """The words of `want` not found in order in `shown`, anchored where its longest run of
    words prints; each next word must follow within _GAP words, else it is missing.

    Greedy (each word at its first place after the last): it never calls a printed text
    short, but once a word is missing it may match a later copy of the next one and call
    a few more missing than are. `count_deficit` gives exact totals."""
    from difflib import SequenceMatcher

    matcher = SequenceMatcher(None, want, shown, autojunk=False)
    a, b, size = matcher.find_longest_match(0, len(want), 0, len(shown))
    if size == 0:
        return list(want)
    after = []
    j = b + size
    for w in want[a + size :]:
        k = _find(shown, w, j, min(len(shown), j + _GAP))
        if k is None:
            after.append(w)
        else:
            j = k + 1
    before = []
    j = b
    for w in reversed(want[:a]):
        k = _rfind(shown, w, max(0, j - _GAP), j)
        if k is None:
            before.append(w)
        else:
            j = k
    return before[::-1] + after


def _find(items: list[str], value: str, start: int, stop: int) -> int | None:
    try:
        return items.index(value, start, stop)
    except ValueError:
        return None


def _rfind(items: list[str], value: str, start: int, stop: int) -> int | None:
    for k in range(stop - 1, start - 1, -1):
        if items[k] == value:
            return k
    return None


def count_deficit(texts: Iterable[str], shown: list[str], only: set[str]) -> dict[str, int]:
    """For words in `only`: how many fewer times the PDF shows each than the texts hold.

    Exact when `only` holds words the workbook shows nowhere else (see VOCABULARY).
    """
    want = Counter(w for t in texts for w in words(t) if w in only)
    have = Counter(w for w in shown if w in only)
    return {w: n - have[w] for w, n in sorted(want.items()) if have[w] < n}


# Everyday words of a team's answer, of every length from 2 to 14 letters. Tests use only
# the ones a blank workbook never shows, so each one found in a PDF comes from an answer.
_EVERYDAY = """
    ok go up us me my yes ask art bus cafe camp club cook game hall help hope idea kind
    lego lunch map meal mood music noise park pizza plan poem quiz rain room shop song
    sport story talk team town trip walk wall week wish zoo advice allotment autumn
    badge banner bingo bottle budget canvas carers cinema circle colour comic corner
    council dance debate design diary dinner drama drawing easter energy escape family
    fence film flyer forest friend garden gaming guitar health hiking history holiday
    homework kitchen ladder laptop leaflet library listening litter magazine market
    meeting mentor minibus monthly mural museum netball newsletter orchard painting
    panel parents parks picnic playground podcast pottery puppet puzzle radio recipe
    recycling respect rugby sandwich scooter seaside snack soccer sofa spring stage
    summer surfing swimming tablet theatre ticket timetable transport uniform vehicle
    village voucher weekend winter workshop youth volunteering apprentices celebration
    championship consultation conversation countryside documentary encouragement
    entertainment friendships grandparents independence partnership performances
    photographers presentation questionnaire relationships skateboarding understanding
    wellbeing allotments basketball bicycles breakfast calendars ceremonies classrooms
    competition confidence cricket cupboards equipment festivals football gardening
    headphones invitations journalism lanterns microphone neighbours notebooks orchestra
    paintbrush passport photographs quietly recording residential scrapbook sculpture
    sketchbook snowflakes storytelling teamwork telescope thoughtful translation
    travelling umbrella vegetables waterproof wheelchair woodland yesterday zebra
    quickly bright gentle honest curious patient cheerful careful brave calm clever
    funny helpful lively polite proud quiet warm wise
"""
VOCABULARY = tuple(_EVERYDAY.split())


def vocabulary(exclude: Iterable[str] = ()) -> list[str]:
    """VOCABULARY less every word in `exclude` (words the workbook shows anyway)."""
    shown = set(exclude)
    return [w for w in VOCABULARY if w not in shown]


def long_text(rng: random.Random, length: int, vocab: list[str]) -> str:
    """Sentences of real words, exactly `length` characters long, ending with a full stop."""
    by_length: dict[int, list[str]] = {}
    for w in vocab:
        by_length.setdefault(len(w), []).append(w)
    parts: list[str] = []
    size = -1  # " ".join's length: a space before every word, less the first one's
    sentence = 0
    while length - size > 40:
        w = rng.choice(vocab)
        if sentence == 0:
            w = w.capitalize()
        sentence += 1
        if sentence >= rng.randint(6, 14):
            w += "."
            sentence = 0
        elif rng.random() < 0.08:
            w += ","
        if length - 1 - (size + 1 + len(w)) < 20:
            break
        parts.append(w)
        size += 1 + len(w)
    # Fill what is left exactly with words of the right lengths, then the final "."
    tail = _exact(length - 1 - size, sorted(by_length), rng)
    if tail is None:
        raise ValueError(f"cannot make {length} characters from this vocabulary")
    parts += [rng.choice(by_length[n]) for n in tail]
    text = " ".join(parts) + "."
    assert len(text) == length, (len(text), length)
    return text


def _exact(total: int, lengths: list[int], rng: random.Random) -> list[int] | None:
    """Word lengths that fill `total` characters exactly, each word after a space."""
    reach: dict[int, list[int]] = {0: []}
    for s in range(1, total + 1):
        options = [n for n in lengths if s - n - 1 in reach]
        if options:
            n = rng.choice(options)
            reach[s] = [*reach[s - n - 1], n]
    return reach.get(total)


def keep_pdfs() -> Path | None:
    """Where to keep the rendered PDFs for a person to look at (PXL_KEEP_PDF=DIR), if set."""
    folder = os.environ.get("PXL_KEEP_PDF")
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path
