"""Email drafts: generate --emails and the chasers collect and report write, each parsed
back with the standard library as a mail program would read it."""

from __future__ import annotations

import datetime as dt
import json
import random
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from recorded import record_return

from participation_xl.cli import main
from participation_xl.emails import draft
from participation_xl.examine import issue
from participation_xl.generate import issued_form
from participation_xl.register import Register
from participation_xl.report import write_reports
from participation_xl.roster import read_roster
from participation_xl.sample import sample_answers
from participation_xl.workspace import register_path

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RETURN_TO = "the Participation returns folder on SharePoint"


def _parse(path: Path) -> EmailMessage:
    with path.open("rb") as fh:
        msg = BytesParser(policy=policy.default).parse(fh)
    assert isinstance(msg, EmailMessage)
    return msg


def _attachments(msg: EmailMessage) -> dict[str, tuple[str, bytes]]:
    return {
        a.get_filename(): (a.get_content_type(), a.get_payload(decode=True))
        for a in msg.iter_attachments()
    }


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return part.get_content()


def _cli(ws, *args, code=0):
    result = CliRunner().invoke(main, ["-w", str(ws.root), *args])
    assert result.exit_code == code, result.output
    return result.output


def _with_return_to(ws):
    config = ws.root / "participation.toml"
    text = config.read_text(encoding="utf-8").replace(
        'return_to = ""', f'return_to = "{RETURN_TO}"'
    )
    config.write_text(text, encoding="utf-8")


# --- generate --emails -----------------------------------------------------------------------


def test_generate_emails_writes_one_draft_per_team_with_exactly_its_workbooks(workspace):
    ws = workspace
    _with_return_to(ws)
    out = _cli(ws, "generate", "--emails")
    assert "draft email" in out
    teams = read_roster(ws.roster_path)
    drafts = sorted((ws.outbox / "emails").glob("*.eml"))
    assert len(drafts) == len(teams)
    for team in teams:
        (path,) = [d for d in drafts if d.name.startswith(f"{team.team_id} ")]
        msg = _parse(path)
        assert msg["X-Unsent"] == "1"
        (to,) = msg["To"].addresses
        assert (to.display_name, to.addr_spec) == (team.contact_name, team.contact_email)
        assert "31 March 2027" in msg["Subject"]
        body = " ".join(_body(msg).split())  # as read: the lines are wrapped
        assert "31 March 2027" in body
        assert RETURN_TO in body
        assert "fill in the cells marked ✎" in body
        issued = {
            p.name: p.read_bytes()
            for p in ws.outbox.rglob("*.xlsx")
            if (issued_form(ws, p) or ("",))[0] == team.team_id
        }
        got = _attachments(msg)
        assert set(got) == set(issued) and issued
        for name, (kind, data) in got.items():
            assert kind == XLSX
            assert data == issued[name]


def test_generate_emails_for_one_team_writes_only_its_draft(workspace):
    _cli(workspace, "generate", "--team", "SW02", "--emails")
    assert [p.name for p in (workspace.outbox / "emails").glob("*.eml")] == [
        "SW02 Children in Care Team.eml"
    ]


def test_generate_without_emails_writes_no_draft(workspace):
    _cli(workspace, "generate")
    assert not (workspace.outbox / "emails").exists()


# --- header injection ---------------------------------------------------------------------


def test_newlines_in_names_subjects_and_notes_never_make_headers(tmp_path):
    book = tmp_path / "a.xlsx"
    book.write_bytes(b"PK not really")
    msg = draft(
        "Sam\r\nBcc: everyone@example.org",
        "sam@example.org",
        "Your return\nX-Evil: 1",
        "Note:\nBcc: nobody@example.org\n",
        [book],
    )
    back = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
    assert back["Bcc"] is None and back["X-Evil"] is None
    assert back["To"].addresses[0].display_name == "Sam Bcc: everyone@example.org"
    assert back["Subject"] == "Your return X-Evil: 1"
    assert sorted(back.keys()) == sorted(
        ["X-Unsent", "To", "Subject", "MIME-Version", "Content-Type"]
    )


def test_an_address_that_is_not_one_makes_no_draft(tmp_path):
    import pytest

    with pytest.raises(ValueError):
        draft("Sam", "sam@example.org\r\nBcc: x@example.org", "s", "b")


# --- chasers ------------------------------------------------------------------------------


def _doc(ws, team: str, form: str, seed: int = 1) -> dict[str, Any]:
    f = ws.pack.forms[form]
    head = {"form": form, "form_version": f.version, "cycle": ws.cycle, "team_id": team}
    return head | sample_answers(f, random.Random(seed), rows=2)


def _submit(ws, team, form, issues=(), seed=1) -> None:
    received = f"2027-03-{10 + seed:02d}T09:30:00+00:00"
    doc = _doc(ws, team, form, seed)
    record_return(ws, team, form, doc, issues, received, name=f"{team} {form} {seed}.xlsx")


def _chasers(ws) -> dict[str, EmailMessage]:
    folder = ws.reports_dir / "emails"
    return {p.name.split(" ")[0]: _parse(p) for p in folder.glob("*.eml")}


def _valid_everywhere(ws, but: str = "") -> None:
    for team in read_roster(ws.roster_path):
        for form in ws.forms_for(team.kind):
            if team.team_id != but:
                _submit(ws, team.team_id, form)


def test_a_missing_return_is_chased(workspace):
    ws = workspace
    _valid_everywhere(ws, but="SW02")
    write_reports(ws)
    drafts = _chasers(ws)
    assert set(drafts) == {"SW02"}
    msg = drafts["SW02"]
    assert msg["X-Unsent"] == "1"
    assert msg["To"].addresses[0].addr_spec == "alex.jones@example.org"
    assert "not received it yet" in _body(msg)
    assert _attachments(msg) == {}
    assert (ws.reports_dir / "chasers.csv").is_file()  # the mail-merge list stays


def test_an_invalid_return_is_chased_with_its_problems_and_feedback_attached(workspace):
    ws = workspace
    _valid_everywhere(ws, but="SW02")
    problem = issue("answer.required", "SW02 audit 1.xlsx", "About your team", "C9", "Role")
    _submit(ws, "SW02", "audit", [problem])
    write_reports(ws)
    msg = _chasers(ws)["SW02"]
    body = " ".join(_body(msg).split())
    assert "1 problem to fix" in body
    assert "About your team, cell C9:" in body
    feedback = ws.reports_dir / "feedback" / "SW02-audit.xlsx"
    assert _attachments(msg) == {"SW02-audit.xlsx": (XLSX, feedback.read_bytes())}


def test_a_return_sent_back_is_chased_with_the_note(workspace):
    ws = workspace
    _valid_everywhere(ws)
    _cli(ws, "review", "return", "EH01", "audit", "--note", "Please add May's event.\nThanks!")
    write_reports(ws)
    msg = _chasers(ws)["EH01"]
    body = _body(msg)
    assert "need a change before we can accept it" in body
    assert "Please add May's event." in body and "Thanks!" in body
    assert "Thanks" not in msg["Subject"]
    assert set(_attachments(msg)) == {"EH01-audit.xlsx"}


def test_unexplained_queries_are_chased_but_tidy_ups_and_explained_ones_are_not(workspace):
    ws = workspace
    _valid_everywhere(ws, but="EH01")
    query = issue("privacy.personal_data", "f", "You Said, We Did", "C12", "What", what="email")
    tidy = issue("normalise.trimmed", "f", "About your team", "C8", "Role")
    _submit(ws, "EH01", "audit", [query, tidy])
    write_reports(ws)
    body = " ".join(_body(_chasers(ws)["EH01"]).split())
    assert "You Said, We Did, cell C12:" in body
    assert "explanation cell beside it in the feedback workbook" in body
    assert "Spaces at the start" not in body
    # The team explains the query in its feedback workbook; collect records it (as here).
    identity = {"team_id": "EH01", "form": "audit", "form_version": "1.0", "cycle": ws.cycle}
    text = "It is the team's shared inbox, not a child's."
    with Register(register_path(ws)) as reg, reg.transaction():
        sub = reg.current_submission(ws.cycle, "EH01", "audit")
        row = ("privacy.personal_data", "You Said, We Did", "C12", "What", text)
        reg.add_explanations(sub.id, identity, sub.received_at, [row])
    write_reports(ws)
    assert "EH01" not in _chasers(ws)
    status = _cli(ws, "status", "--json")
    eh01 = next(t for t in json.loads(status)["teams"] if t["team_id"] == "EH01")
    assert [i["explanation"] for i in eh01["issues"] if i["code"].startswith("privacy")] == [text]


def test_an_approved_return_with_queries_is_not_chased(workspace):
    ws = workspace
    _valid_everywhere(ws, but="EH01")
    query = issue("privacy.personal_data", "f", "You Said, We Did", "C12", "What", what="email")
    _submit(ws, "EH01", "audit", [query])
    _cli(ws, "review", "approve", "EH01", "audit", "--note", "Accepted as it is")
    write_reports(ws)
    assert "EH01" not in _chasers(ws)


def test_drafts_of_teams_no_longer_chased_are_removed(workspace):
    ws = workspace
    _valid_everywhere(ws, but="SW02")
    (ws.reports_dir / "emails").mkdir(parents=True, exist_ok=True)
    mine = ws.reports_dir / "emails" / "notes.txt"
    mine.write_text("the coordinator's own file")
    letter = ws.reports_dir / "emails" / "Letter to SEG.eml"  # named like a draft
    letter.write_bytes(b"To: seg@example.org\r\nSubject: Board paper\r\n\r\nDraft.\r\n")
    write_reports(ws)
    assert set(_chasers(ws)) == {"SW02", "Letter"}
    _submit(ws, "SW02", "audit")
    write_reports(ws)
    assert set(_chasers(ws)) == {"Letter"}
    assert mine.is_file() and letter.is_file()  # only our own drafts are removed


def test_collect_writes_chaser_drafts_too(workspace):
    from participation_xl.pipeline import collect_and_report

    summary = collect_and_report(workspace)
    names = {p.name for p in summary.reports if p.suffix == ".eml"}
    assert len(names) == len(read_roster(workspace.roster_path))  # nothing returned yet


def test_a_rejected_return_is_chased_with_the_reason(workspace):
    ws = workspace
    _valid_everywhere(ws, but="SW02")
    now = dt.datetime.now(dt.UTC).isoformat()
    with Register(register_path(ws)) as reg, reg.transaction():
        reg.add_file(
            "SW02 old.xlsx", 1, 1, "ab" * 32, "rejected", "This is the workbook for cycle "
            "2025-26, not 2026-27. Fill in this year's workbook instead.",
            "identify.other_cycle", now, cycle=ws.cycle, claimed_team="SW02", claimed_form="audit",
        )  # fmt: skip
    write_reports(ws)
    body = " ".join(_body(_chasers(ws)["SW02"]).split())
    assert "The file you sent (SW02 old.xlsx) could not be accepted" in body
    assert "Fill in this year's workbook instead." in body


def test_chasers_csv_drafts_and_feedback_follow_one_rule(workspace):
    """Sent back (even valid): chased everywhere, with the note. Approved with a query
    open: chased nowhere. The CSV, the drafts and the feedback workbooks agree."""
    import csv

    ws = workspace
    _valid_everywhere(ws, but="EH01")
    query = issue("privacy.personal_data", "f", "You Said, We Did", "C12", "What", what="email")
    _submit(ws, "EH01", "audit", [query])
    _cli(ws, "review", "approve", "EH01", "audit")
    _cli(ws, "review", "return", "SW02", "audit", "--note", "Please add May's event.")
    write_reports(ws)
    text = (ws.reports_dir / "chasers.csv").read_text(encoding="utf-8-sig")
    rows = {(r["team_id"], r["form"]): r for r in csv.DictReader(text.splitlines())}
    feedback = {p.name for p in (ws.reports_dir / "feedback").glob("*.xlsx")}
    assert set(rows) == {("SW02", "audit")} and set(_chasers(ws)) == {"SW02"}
    assert feedback == {"SW02-audit.xlsx"}
    assert "Please add May's event." in next(iter(rows.values()))["what"]
