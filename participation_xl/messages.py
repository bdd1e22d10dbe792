"""The one catalogue of every problem a user can meet.

Each problem has a stable code, a severity and a plain-English template that names the
place first (file, then sheet and cell), then what is wrong, then what to do. Errors must
be fixed; queries may stand if the team explains them (as in DfE COLLECT).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    QUERY = "query"


@dataclass(frozen=True)
class Message:
    severity: Severity
    template: str
    # A query that only says what the tool itself did (tidied an answer, took a re-sent
    # version, did not trust a clock): shown, but nothing for the team to explain.
    notice: bool = False


E, Q = Severity.ERROR, Severity.QUERY

CATALOGUE: dict[str, Message] = {
    # --- roster (row and column named by the caller) -------------------------------
    "roster.missing_column": Message(
        E, "Column '{column}' is missing. Add a column headed '{column}'."
    ),
    "roster.duplicate_id": Message(
        E,
        "Row {row}, column team_id: '{value}' is used by row {first} too. Give every team its own id.",
    ),
    "roster.value": Message(E, "Row {row}, column {column}: {problem}."),
    "roster.empty": Message(E, "The roster has no teams. Add one row per team under the headings."),
    "roster.unreadable": Message(
        E, "The roster cannot be read ({detail}). Save it as .xlsx or .csv (UTF-8)."
    ),
    # --- reading a return --------------------------------------------------------------
    "read.empty": Message(
        E,
        "The file is empty (0 bytes). Save the workbook again in Excel and put it back in the folder.",
    ),
    "read.not_a_workbook": Message(
        E, "This is not an Excel workbook. Save as .xlsx from your original workbook."
    ),
    "read.truncated": Message(
        E,
        "The file is incomplete, perhaps still copying or syncing. It will be tried again on the next collect.",
    ),
    "read.encrypted": Message(
        E,
        "The workbook is protected with a password to open. Remove the file password (File > Info > Protect Workbook) and return it again.",
    ),
    "read.csv": Message(
        E,
        "This is a CSV or text file, which cannot carry the workbook's identity. Save as .xlsx from your original workbook.",
    ),
    "read.too_large": Message(
        E,
        "The file is far larger than a return can be and was not opened. Save as .xlsx from your original workbook, or ask the coordinator for a fresh copy.",
    ),
    "read.xml_attack": Message(
        E,
        "The file contains XML that could harm the reader (an entity declaration) and was not opened. Ask the sender where it came from; do not open it in Excel.",
    ),
    "read.bad_xml": Message(
        E, "The file is damaged and cannot be read. Save as .xlsx from your original workbook."
    ),
    "read.no_workbook_part": Message(
        E, "The file is a zip but not a workbook. Save as .xlsx from your original workbook."
    ),
    "read.timeout": Message(
        E,
        "Reading the file took too long and was stopped. Save as .xlsx from your original workbook.",
    ),
    "read.crashed": Message(
        E,
        "The file made the reader fail and was set aside; the rest of the batch went on. Save as .xlsx from your original workbook.",
    ),
    "read.unreadable": Message(
        E,
        "The file cannot be read: it is damaged, or in a format this tool does not read. Save as .xlsx from your original workbook.",
    ),
    "read.changing": Message(
        E,
        "The file was changing while it was read (still being saved or synced). It will be tried again on the next collect.",
    ),
    "read.no_permission": Message(
        E,
        "The file cannot be opened: the coordinator's account may not read it. Ask whoever manages the shared folder to let it; the file is tried again on every collect.",
    ),
    "file.resent": Message(
        Q,
        "An identical copy of {first}, an earlier version, sent again: it is the team's current return again.",
        notice=True,
    ),
    # --- files and folders that are not read (recorded as ignored, with the reason) ----
    "file.office_lock": Message(
        Q, "An Office lock file, made while someone has the workbook open."
    ),
    "file.hidden": Message(Q, "A hidden or system file."),
    "file.temporary": Message(Q, "A temporary file, made while saving or copying."),
    "file.symlink": Message(
        Q,
        "A link (shortcut), which collect never follows: it could lead anywhere. Put the workbook itself in the folder.",
    ),
    "file.not_regular": Message(
        Q,
        "Not a file but a pipe, socket or device, so it was not read. Put the workbook itself in the folder.",
    ),
    "file.bad_name": Message(
        Q,
        "The name is not valid text (UTF-8), so it is shown with codes like \\xe9 and was not read. Rename it with ordinary letters and numbers.",
    ),
    "file.secret_key": Message(
        Q, "The workspace's secret key: it is never copied or read as a return."
    ),
    "folder.unreadable": Message(
        Q,
        "The folder cannot be opened: the coordinator's account may not read it. Ask whoever manages the shared folder to let it; it is looked at again on every collect.",
    ),
    "folder.too_deep": Message(
        Q,
        "The folder lies more than {limit} folders deep and was not looked into. Move the workbooks nearer the top of the shared folder.",
    ),
    "file.duplicate": Message(
        Q, "An identical copy of {first}, which is already recorded. Nothing more to do."
    ),
    # --- identifying a return ----------------------------------------------------------
    "identify.no_identity": Message(
        E,
        "This workbook was not issued by the coordinator (it has no identity sheet). Copy your answers into the workbook you were sent, or ask for a fresh one.",
    ),
    "identify.bad_signature": Message(
        E,
        "The workbook's identity has been changed since it was issued, so it cannot be trusted. Copy your answers into the workbook you were sent, or ask for a fresh one.",
    ),
    "identify.other_cycle": Message(
        E,
        "This is the workbook for cycle {found}, not {expected}. Fill in this year's workbook instead.",
    ),
    "identify.unknown_form": Message(
        E,
        "This workbook is form '{form}' version {version}, which this cycle does not use. Fill in the workbook you were sent this cycle.",
    ),
    "identify.unknown_team": Message(
        E,
        "The workbook belongs to team '{team}', which is not on the roster. Ask the coordinator whether the team was renamed or removed.",
    ),
    "identify.sheet_missing": Message(
        E,
        "Sheet '{sheet}' is missing or renamed. Use the workbook you were sent, without renaming sheets.",
    ),
    "identify.moved": Message(
        E,
        "'{sheet}'!{cell}: the answers on this sheet have moved (rows inserted or deleted). Copy your answers into a fresh copy of the workbook.",
    ),
    "identify.unverified": Message(
        Q,
        "Checked outside a workspace, so the workbook's signature (which team and cycle it was issued to, and that its identity is unchanged) was not checked. Run validate inside the coordinator's workspace, or with -w DIR, to check it.",
        notice=True,
    ),
    "identify.wrong_folder": Message(
        Q,
        "The file sits in a folder named for another team ({folder}); it was recorded for team '{team}', whose workbook it is.",
        notice=True,
    ),
    # --- active content ----------------------------------------------------------------
    "content.macros": Message(
        Q,
        "The workbook contains macros. They were not run. Save as .xlsx (not .xlsm) from your original workbook.",
    ),
    "content.external_links": Message(
        Q,
        "The workbook links to other files. The links were not followed. Remove them (Data > Edit Links > Break Link).",
    ),
    "content.data_connections": Message(
        Q,
        "The workbook has data connections. They were not used. Remove them (Data > Queries & Connections).",
    ),
    "content.formula": Message(
        E, "The answer is a formula ({formula}), which is not trusted. Type the answer itself."
    ),
    "content.dde": Message(
        E,
        "The answer holds a command-like formula ({formula}), which was not run. Type the answer itself.",
    ),
    # --- answers -----------------------------------------------------------------------
    "answer.required": Message(E, "'{label}' is required. Please fill it in."),
    "answer.required_when": Message(
        E, "'{label}' is needed because of your answer to '{other}'. Please fill it in."
    ),
    "answer.choice": Message(
        E, "'{value}' is not one of the options. Choose one from the list: {options}."
    ),
    "answer.integer": Message(
        E, "'{value}' is not a whole number. Type a whole number, for example 12."
    ),
    "answer.number": Message(E, "'{value}' is not a number. Type a number, for example 2500."),
    "answer.date": Message(
        E, "'{value}' is not a date. Type a date as dd/mm/yyyy, for example 31/03/2027."
    ),
    "answer.email": Message(
        E, "'{value}' is not an email address. Type an address like name@example.org."
    ),
    "answer.too_small": Message(
        E, "{value} is below the lowest allowed, {limit}. Check the number."
    ),
    "answer.too_large": Message(
        E, "{value} is above the highest allowed, {limit}. Check the number."
    ),
    "answer.too_long": Message(
        E, "The answer is {length} characters long; the most allowed is {limit}. Please shorten it."
    ),
    "answer.min_rows": Message(
        E, "'{label}' needs at least {limit} row(s). Please add at least {limit}."
    ),
    "answer.too_many_rows": Message(E, "'{label}' has more rows than allowed ({limit})."),
    "answer.pattern": Message(E, "'{value}' is not in the expected form. {hint}"),
    "answer.invalid": Message(E, "{detail}. Please check the answer."),
    "answer.date_range": Message(
        E,
        "'{value}' is outside the dates this form takes (1990 to 2100). Type the right date as dd/mm/yyyy.",
    ),
    "answer.error_value": Message(
        E, "The cell shows an error ({value}) instead of an answer. Type the answer itself."
    ),
    "answer.control_chars": Message(
        Q,
        "Invisible control characters were removed from the answer.",
        notice=True,
    ),
    "answer.excel_limit": Message(
        E,
        "The text is {length} characters, over Excel's limit of 32,767 per cell. Please shorten it.",
    ),
    # --- rules that relate one answer to another (declared in the pack's [[rules]]) ------
    "rule.more_than": Message(
        E,
        "'{label}' is {value}, more than '{other}' ({limit}). It can be no more than that: please check both answers.",
    ),
    "rule.in_future": Message(
        E,
        "'{label}' is {value}, which is after today ({today}). Type the date it actually happened.",
    ),
    "rule.not_after": Message(
        E, "'{label}' ({value}) must be after '{other}' ({limit}). Please check both dates."
    ),
    "rule.not_after_query": Message(
        Q,
        "'{label}' ({value}) is not after '{other}' ({limit}). Please check it: if it is right, nothing needs changing.",
    ),
    # --- normalising what people type (queries: the change is shown, not hidden) --------
    "normalise.trimmed": Message(Q, "Spaces at the start or end were removed.", notice=True),
    "normalise.case": Message(Q, "'{value}' was read as '{fixed}'.", notice=True),
    "normalise.number_text": Message(
        Q,
        "The number '{value}' was typed as text and was read as {fixed}.",
        notice=True,
    ),
    "normalise.date_text": Message(
        Q,
        "The date '{value}' was typed as text and was read as {fixed} (day first).",
        notice=True,
    ),
    "normalise.date_serial": Message(
        Q, "The number {value} was read as the date {fixed}.", notice=True
    ),
    "normalise.not_applicable": Message(Q, "'{value}' was read as a blank answer.", notice=True),
    "privacy.personal_data": Message(
        Q,
        "The answer looks like it holds personal data ({what}). Returns describe services: never name a child or give contact details. Remove it, or explain why it is needed.",
    ),
    "status.late": Message(Q, "Received {received}, after the due date {due}."),
    "status.future_time": Message(
        Q,
        "The file's time ({stamp}) is in the future, so it was not trusted: the return counts as received when collect first saw it, {received}.",
        notice=True,
    ),
    # --- the register -------------------------------------------------------------------
    "register.damaged": Message(E, "{register}: the register is damaged ({detail})."),
    "register.restore": Message(
        E,
        "Restore the newest backup: copy {backup} over {register} (and delete any register.sqlite-wal and -shm beside it), then run collect; or run 'participation-xl rebuild' to rebuild it from the archive.",
    ),
    "register.no_backup": Message(
        E,
        "There is no backup in .participation/backups. Run 'participation-xl rebuild' to rebuild it from the archive; the damaged file is kept beside it.",
    ),
    # --- the coordinator's side: workbooks the pack or workspace no longer matches --------
    "identify.other_workspace": Message(
        E,
        "The workbook was signed by another workspace (another key), not by this one. It was issued from a different participation-xl workspace: collect it there, or send the team the workbook issued from this workspace.",
    ),
    "identify.pack_changed": Message(
        E,
        "The template pack has changed since this workbook was issued (form '{form}' version {version}; the pack now has {now}). This is for the coordinator to fix, not the team: issue the workbook again (generate), or restore the pack as it was when it was issued.",
    ),
    # --- the workspace, its key, settings and outputs (shown by the command line) --------
    "workspace.exists": Message(
        E,
        "{paths}: already there, and {command} never writes over anything. Nothing was written. Move it away, or name a new folder.",
    ),
    "workspace.orphan_key": Message(
        E,
        "{path}: this folder holds a workspace key but no participation.toml, so it is a workspace whose settings were lost. Nothing was written. Restore participation.toml from your backup (the key must stay: workbooks already issued are checked with it), or run init in a new folder.",
    ),
    "workspace.not_empty": Message(
        E,
        "{path}: the folder is not empty (it holds {names}), and demo never writes over anything. Nothing was written. Name a new or empty folder, like participation-demo.",
    ),
    "key.damaged": Message(
        E,
        "{path}: the workspace key is missing or damaged ({problem}). Restore the .participation folder from your backup: returned workbooks are checked with this key. If it is lost for good, make a new workspace (participation-xl init) and issue the workbooks again.",
    ),
    "date.no_such_day": Message(
        E, "'{value}': {day} does not exist{why}. Type a day of the calendar, like {example}."
    ),
    "pack.layout": Message(
        E, "{path}: {problem}. Fix the layout (see docs/architecture.md, the template pack)."
    ),
    "pack.schema": Message(
        E, "{path}: {problem}. Fix the schema: it must be one JSON object (a JSON Schema)."
    ),
    "roster.problems": Message(
        E,
        "{path}: the roster has {count} problem(s); {not_done}. Fix them and run the command again.",
    ),
    "roster.case_clash": Message(
        E,
        "Row {row}, column team_id: '{value}' differs only in capitals from '{other}' in row {first}; on a shared folder their files would collide. Give every team an id that differs in more than capitals.",
    ),
    "register.unusable": Message(
        E,
        "{path}: the register cannot be used ({detail}). If another program has it open, close that and try again; if it is damaged, restore the .participation folder from your backup.",
    ),
    "register.read_only": Message(
        E,
        "{path}: the register cannot be opened, even to read ({detail}). Ask whoever runs collect for read access to the .participation folder, or run the command as that user.",
    ),
    "output.is_a_file": Message(
        E,
        "{path}: is a file where the reports need a folder. Move or rename it, then run 'participation-xl report'. No report was changed.",
    ),
    "output.is_a_folder": Message(
        E,
        "{path}: is a folder where a report is written. Move or rename it, then run 'participation-xl report'. No report was changed.",
    ),
    "output.failed": Message(
        E,
        "{path}: the reports cannot be written here ({detail}). Check that you may write to the folder and that the disk is not full, then run 'participation-xl report'. No report was changed.",
    ),
    "os.failed": Message(
        E,
        "{path}{detail}. Check that the file or folder exists, that you may read and write it, and that the disk is not full; then try again.",
    ),
    # --- the coordinator's signatories.csv (report; the row is left out, the rest is used) -
    "signatories.unreadable": Message(
        E,
        "signatories.csv cannot be read ({detail}). Save it as CSV UTF-8 from Excel; no one in it is on the register until then.",
    ),
    "signatories.missing_column": Message(
        E,
        "Column '{column}' is missing. Add a column headed '{column}' (columns: name, role, organisation, date_signed).",
    ),
    "signatories.value": Message(
        E,
        "Row {row}, column {column}: {problem}. Correct it in signatories.csv; the row is left off the register until then.",
    ),
    # --- the coordinator's review (participation-xl review, reports/review.xlsx) -------
    "review.unknown_team": Message(
        E,
        "Team '{team}' is not on the roster. Check the team_id: 'participation-xl status' lists them.",
    ),
    "review.unknown_form": Message(
        E, "Team '{team}' is not expected to return form '{form}'. Its forms: {forms}."
    ),
    "review.no_submission": Message(
        E,
        "Team '{team}' has no accepted return of '{form}' this cycle, so there is nothing to review. Run collect first, or chase the team.",
    ),
    "review.note_required": Message(
        E, "Sending a return back needs a note that tells the team what to change: add --note TEXT."
    ),
    "review.note_too_long": Message(
        E, "The note is {length} characters; keep it to {limit}, and put detail in an email."
    ),
    "review.nothing_to_undo": Message(
        E, "Team '{team}', form '{form}': the current return has no decision to undo."
    ),
    "review.book_open": Message(
        Q,
        "{path} is open (its lock file {lock} is there). Decisions saved in it were recorded, but it was not rewritten, so nothing typed in it is lost. Close it and run 'participation-xl report' (if it is not open anywhere, the lock file was left by a program that stopped: delete it).",
    ),
    "review.book_unread": Message(
        E,
        "{path} has changed since it was last read and cannot be read now ({detail}). It was kept as it is and not rewritten, so no decision typed in it is lost; the other reports were written. Close it (or repair it) and run 'participation-xl report'.",
    ),
    "review.book_bad_decision": Message(
        Q,
        "{path}: 'Review'!{cell}: '{value}' is not a decision, so it was not recorded (it is kept in the file). Choose Approve or Send back, or leave it blank.",
    ),
    "review.book_note_required": Message(
        Q,
        "{path}: 'Review'!{cell}: Send back needs a note that tells the team what to change, so it was not recorded yet (it is kept in the file). Type the note beside it.",
    ),
    "review.book_superseded": Message(
        Q,
        "{path}: 'Review'!{cell}: a newer return from {team} ({form}) arrived after this decision was typed. It was recorded for the earlier return; the new one waits for your review.",
    ),
    "review.book_stale_row": Message(
        Q,
        "{path}: 'Review'!{cell}: this row was written for {team} ({form}) but return no. {number} is now another return (the register was rebuilt, or the row was copied), so '{value}' was not recorded. Type your decision again in the new reports/review.xlsx, or use 'participation-xl review'.",
    ),
    "review.rebuild_unplaced": Message(
        Q,
        "A decision ({action} by {by}, {at}) on {team}'s return of {form} ({cycle}) could not be carried over: no return with the same file was rebuilt from the archive. It is still in the old register {aside}; decide again with 'participation-xl review'.",
    ),
    "review.rebuild_unread": Message(
        Q,
        "The review decisions in the old register {aside} could not be read ({detail}), so none were carried over. Decide again with 'participation-xl review', or restore the newest backup in .participation/backups.",
    ),
    "email.no_draft": Message(
        Q,
        "No email draft for team '{team}': {detail}. Check contact_name and contact_email in the roster.",
    ),
    # --- packrep part -------------------------------------------------------------------
    # The compliance workbook's Exceptions: a rating short of met ([report.ratings] in
    # pack.toml) with no action plan, and an action whose target date has passed.
    "report.no_action_plan": Message(Q, "{rating} with no {missing}."),
    "report.target_passed": Message(Q, "The target date {date} has passed."),
}


def render(code: str, **values: object) -> str:
    """The plain-English text for a catalogue code, with the place and values filled in."""
    return CATALOGUE[code].template.format(**values)


def severity(code: str) -> Severity:
    return CATALOGUE[code].severity


def is_notice(code: str) -> bool:
    """A query about what the tool itself did: the team is not asked to explain it."""
    message = CATALOGUE.get(code)
    return bool(message and message.notice)
