"""Email drafts: one .eml per team, which Outlook and Thunderbird open as an unsent draft.

A Word mail merge cannot attach a workbook, so with 50 to 500 teams the coordinator would
mail them one by one. Each draft is built with the standard library's `email` package
(EmailMessage, SMTP policy: CRLF line ends, RFC 2047 for names with accents), carries
`X-Unsent: 1`, is addressed to the team's contact, and has exactly that team's workbooks
attached. There is no From: the coordinator's own mail program fills it in when sent.

Names, subjects and notes come from people; a header gets them on one line only, so a
newline in a team name or note can never start a header of its own.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

from .generate import issued_form, safe_name
from .issues import Issue
from .messages import Code, render
from .outputs import as_written, atomic_write_bytes, remove_output
from .review import coordinator_name
from .roster import Team
from .status import Expected
from .workspace import Workspace

XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
ISSUE_DIR = "emails"  # under outbox/
CHASER_DIR = "emails"  # under reports/
MAX_LISTED = 12  # problems listed in a chaser; the feedback workbook shows every one
# Queries that ask nothing of the team: lateness is a fact, and a tidy-up (spaces trimmed,
# "yes" read as "Yes") is shown on the workbook but needs no answer.


def one_line(text: object) -> str:
    """Text for a header: every run of whitespace (newlines included) becomes one space."""
    return " ".join(str(text or "").split())


def draft(
    to_name: str, to_address: str, subject: str, body: str, attachments: Sequence[Path] = ()
) -> EmailMessage:
    """An unsent draft to one person, with workbooks attached. ValueError for an address
    that is not one (the roster checks them, so this is a last guard)."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["X-Unsent"] = "1"  # Outlook and Thunderbird open it as a draft to send
    address = one_line(to_address)
    if not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+", address):
        raise ValueError(f"'{address}' is not an email address")
    msg["To"] = Address(display_name=one_line(to_name), addr_spec=address)
    msg["Subject"] = one_line(subject)
    msg.set_content(body, cte="quoted-printable")  # 7-bit safe, still readable
    for path in attachments:
        msg.add_attachment(
            as_written(Path(path)).read_bytes(),
            maintype=XLSX[0],
            subtype=XLSX[1],
            filename=Path(path).name,
        )
    return msg


def draft_name(team: Team) -> str:
    """<team id> <team name>.eml: one file per team, safe on any share."""
    return f"{safe_name(f'{team.team_id} {team.team_name}')}.eml"


def _write(folder: Path, team: Team, msg: EmailMessage) -> Path:
    return atomic_write_bytes(folder / draft_name(team), msg.as_bytes())


def _sign_off(ws: Workspace) -> str:
    return f"Thank you,\n{coordinator_name(ws)}\n{ws.council}\n"


def _due(ws: Workspace) -> str:
    return f"{ws.due:%A} {ws.due.day} {ws.due:%B %Y}"


# --- generate --emails ----------------------------------------------------------------------


def write_issue_drafts(
    ws: Workspace, teams: Iterable[Team], workbooks: Iterable[Path]
) -> tuple[list[Path], list[str]]:
    """outbox/emails/<team>.eml for each team with workbooks: (drafts written, warnings)."""
    by_team: dict[str, list[Path]] = {}
    for path in workbooks:
        found = issued_form(ws, path)
        if found:
            by_team.setdefault(found[0], []).append(Path(path))
    folder = ws.outbox / ISSUE_DIR
    written, warnings = [], []
    for team in teams:
        books = sorted(by_team.get(team.team_id, []), key=lambda p: p.name)
        if not books:
            continue
        subject = f"{ws.council}: participation return{_s(books)} for {ws.cycle}, due {_due(ws)}"
        try:
            msg = draft(
                team.contact_name, team.contact_email, subject, _issue_body(ws, team, books), books
            )
        except ValueError as err:
            warnings.append(render(Code.EMAIL_NO_DRAFT, team=team.team_id, detail=str(err)))
            continue
        written.append(_write(folder, team, msg))
    return written, warnings


def _s(items: Sized) -> str:
    return "" if len(items) == 1 else "s"


def _issue_body(ws: Workspace, team: Team, books: list[Path]) -> str:
    one = len(books) == 1
    names = "\n".join(f"  - {p.name}" for p in books)
    it = "it" if one else "each one"
    paras = [
        f"Dear {one_line(team.contact_name)},",
        f"{ws.council} asks every team to complete its participation return for {ws.cycle}. "
        f"Attached {'is the workbook' if one else 'are the workbooks'} for "
        f"{one_line(team.team_name)} ({team.team_id}):",
        names,
        "What to do:",
        _steps(
            f"Open {it} in Excel (or LibreOffice) and fill in the cells marked ✎: they are "
            "pale yellow with a dashed border. Everything else is locked so the form "
            "cannot break.",
            "The line at the top of each sheet says how many answers are still to fill in "
            "or fix. When every sheet says ✓, the workbook is ready to return.",
            f"Save it as .xlsx (you may keep its name) and return it to "
            f"{ws.return_instructions} by {_due(ws)}.",
        ),
        f"Please use {'this workbook' if one else 'these workbooks'} rather than a copy of "
        "last year's or a new file: each carries your team's identity, so it is recorded "
        "against your team.",
        _sign_off(ws),
    ]
    return _paragraphs(paras)


def _paragraphs(paras: list[str]) -> str:
    """Prose wrapped at 76 characters; lists and indented text kept as they are."""
    out = []
    for p in paras:
        keep = p.startswith(" ") or "\n" in p
        out.append(
            p if keep else textwrap.fill(p, 76, break_long_words=False, break_on_hyphens=False)
        )
    return "\n\n".join(out).rstrip() + "\n"


def _steps(*steps: str) -> str:
    return "\n".join(
        textwrap.fill(
            s,
            76,
            initial_indent=f"  {n}. ",
            subsequent_indent="     ",
            break_long_words=False,
            break_on_hyphens=False,
        )
        for n, s in enumerate(steps, start=1)
    )


# --- chasers from collect and report --------------------------------------------------------
@dataclass(frozen=True)
class Chase:
    """Why one return of a team is chased, in plain words, and what to attach."""

    expected: Expected
    words: str
    attachment: Path | None


def chases(
    ws: Workspace,
    expected: Iterable[Expected],
    feedback: dict[tuple[str, str], Path],
) -> list[Chase]:
    """Every return to chase (`Expected.chased`, the rule chasers.csv and the feedback
    workbooks follow too), with why in plain words."""
    out = []
    for e in expected:
        if not e.chased:
            continue
        attach = feedback.get((e.team.team_id, e.form))
        attach = attach if attach and as_written(attach).is_file() else None
        out.append(Chase(e, _why(ws, e, attach is not None), attach))
    return out


def _why(ws: Workspace, e: Expected, feedback: bool) -> str:
    if e.current is None and e.rejected is not None:
        return f"The file you sent ({e.rejected.path}) could not be accepted. {e.rejected.reason}"
    if e.current is None:
        return (
            "We have not received it yet. Please fill in the workbook you were sent and "
            "return it; if you cannot find it, reply and we will send a fresh copy."
        )
    parts = []
    if e.sent_back:
        assert e.review is not None
        review = e.review
        parts.append(
            "We have reviewed it and need a change before we can accept it:\n"
            + _indent(review["note"])
        )
    errors = [i for i in e.current.issues if i.is_error]
    if errors:
        parts.append(f"It has {len(errors)} problem{_s(errors)} to fix:\n{_listed(errors)}")
    if e.queries_open:  # none once approved; explanations in force are the register's
        queries = e.queries_open
        if queries:
            where = (
                "in the explanation cell beside it in the feedback workbook"
                if feedback
                else "in your reply to this email"
            )
            these = "this answer" if len(queries) == 1 else "these answers"
            parts.append(
                f"Please check {these}; if an answer is right, say why ({where}):\n"
                + _listed(queries)
            )
    return "\n\n".join(parts)


def _indent(text: object) -> str:
    """A person's note, quoted: indented, wrapped, its own line breaks kept."""
    return "\n".join(
        textwrap.fill(
            line,
            76,
            initial_indent="    ",
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        )
        or "    "
        for line in str(text or "").splitlines()
    )


def _listed(issues: list[Issue]) -> str:
    """Each problem on its own item, place first, wrapped with a hanging indent."""
    lines = []
    for i in issues[:MAX_LISTED]:
        where = f"{i.place.shown()}: " if i.sheet and i.cell else ""
        lines.append(_item(f"{where}{one_line(i.message)}"))
    if len(issues) > MAX_LISTED:
        more = len(issues) - MAX_LISTED
        lines.append(_item(f"and {more} more: the feedback workbook shows each one."))
    return "\n".join(lines)


def _item(text: str) -> str:
    return textwrap.fill(
        text,
        76,
        initial_indent="  - ",
        subsequent_indent="    ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def write_chaser_drafts(
    ws: Workspace,
    expected: Sequence[Expected],
    feedback: dict[tuple[str, str], Path],
    form_title: Callable[[str], str] | None = None,
) -> tuple[list[Path], list[str]]:
    """reports/emails/<team>.eml for every team with a return to chase; drafts of teams no
    longer chased are removed. (drafts written, warnings)"""
    title = form_title or (lambda f: ws.pack.forms[f].title if f in ws.pack.forms else f)
    by_team: dict[str, list[Chase]] = {}
    for c in chases(ws, expected, feedback):
        by_team.setdefault(c.expected.team.team_id, []).append(c)
    folder = ws.reports_dir / CHASER_DIR
    written: list[Path] = []
    warnings: list[str] = []
    for mine in by_team.values():
        team = mine[0].expected.team
        subject = (
            f"Action needed: {team.team_name}'s participation return{_s(mine)} for "
            f"{ws.cycle} ({ws.council})"
        )
        attachments = [c.attachment for c in mine if c.attachment]
        body = _chaser_body(ws, team, mine, title)
        try:
            msg = draft(team.contact_name, team.contact_email, subject, body, attachments)
        except ValueError as err:
            warnings.append(render(Code.EMAIL_NO_DRAFT, team=team.team_id, detail=str(err)))
            continue
        written.append(_write(folder, team, msg))
    ours = {draft_name(e.team) for e in expected}
    _remove_stale(folder, ours - {p.name for p in written})
    return written, warnings


def _chaser_body(ws: Workspace, team: Team, mine: list[Chase], title: Callable[[str], str]) -> str:
    paras = [
        f"Dear {one_line(team.contact_name)},",
        f"Thank you for your work on the participation returns for {ws.cycle}. We still "
        f"need the following from {one_line(team.team_name)} ({team.team_id}):",
    ]
    for c in mine:
        paras.append(f"{title(c.expected.form)}\n{_wrapped(c.words)}")
    attached = [c.attachment.name for c in mine if c.attachment]
    if attached:
        what = "is a feedback workbook" if len(attached) == 1 else "are feedback workbooks"
        paras.append(
            f"Attached {what} ({', '.join(attached)}): your own answers, with what to "
            "change listed at the top and marked on each cell it concerns. Change it there "
            "and return it; you need not start again."
        )
    paras.append(
        f"Please return {'it' if len(mine) == 1 else 'them'} to {ws.return_instructions} by "
        f"{_due(ws)} (or as soon as you can, if that date has passed)."
    )
    paras.append(_sign_off(ws))
    return _paragraphs(paras)


def _wrapped(words: str) -> str:
    """A chase's words: its first line wrapped as prose, listed lines kept."""
    return "\n".join(
        line
        if line.startswith(" ")
        else textwrap.fill(line, 76, break_long_words=False, break_on_hyphens=False)
        for line in words.splitlines()
    )


def _remove_stale(folder: Path, stale: set[str]) -> None:
    """Delete our drafts of teams no longer chased: only names we write ('<team id> <team
    name>.eml' of a team on the roster), so a coordinator's own .eml files stay."""
    for name in stale:
        path = folder / name
        if path.is_file():
            remove_output(path)  # with the rest of the set: all or nothing
