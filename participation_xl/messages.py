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


class Code(StrEnum):
    """Every catalogue code, one member each: a code is always written as Code.X (never
    built from parts), so every place that raises a message can be found by its name."""

    ROSTER_MISSING_COLUMN = "roster.missing_column"
    ROSTER_DUPLICATE_ID = "roster.duplicate_id"
    ROSTER_VALUE = "roster.value"
    ROSTER_EMPTY = "roster.empty"
    ROSTER_UNREADABLE = "roster.unreadable"
    READ_EMPTY = "read.empty"
    READ_NOT_A_WORKBOOK = "read.not_a_workbook"
    READ_TRUNCATED = "read.truncated"
    READ_ENCRYPTED = "read.encrypted"
    READ_CSV = "read.csv"
    READ_TOO_LARGE = "read.too_large"
    READ_XML_ATTACK = "read.xml_attack"
    READ_BAD_XML = "read.bad_xml"
    READ_NO_WORKBOOK_PART = "read.no_workbook_part"
    READ_TIMEOUT = "read.timeout"
    READ_CRASHED = "read.crashed"
    READ_UNREADABLE = "read.unreadable"
    READ_CHANGING = "read.changing"
    READ_NO_PERMISSION = "read.no_permission"
    FILE_RESENT = "file.resent"
    FILE_OFFICE_LOCK = "file.office_lock"
    FILE_HIDDEN = "file.hidden"
    FILE_TEMPORARY = "file.temporary"
    FILE_SYMLINK = "file.symlink"
    FILE_NOT_REGULAR = "file.not_regular"
    FILE_BAD_NAME = "file.bad_name"
    FILE_SECRET_KEY = "file.secret_key"  # noqa: S105 (a message code, not a secret)
    FOLDER_UNREADABLE = "folder.unreadable"
    FOLDER_TOO_DEEP = "folder.too_deep"
    FILE_DUPLICATE = "file.duplicate"
    IDENTIFY_NO_IDENTITY = "identify.no_identity"
    IDENTIFY_BAD_SIGNATURE = "identify.bad_signature"
    IDENTIFY_OTHER_CYCLE = "identify.other_cycle"
    IDENTIFY_UNKNOWN_FORM = "identify.unknown_form"
    IDENTIFY_UNKNOWN_TEAM = "identify.unknown_team"
    IDENTIFY_SHEET_MISSING = "identify.sheet_missing"
    IDENTIFY_MOVED = "identify.moved"
    IDENTIFY_UNVERIFIED = "identify.unverified"
    IDENTIFY_WRONG_FOLDER = "identify.wrong_folder"
    CONTENT_MACROS = "content.macros"
    CONTENT_EXTERNAL_LINKS = "content.external_links"
    CONTENT_DATA_CONNECTIONS = "content.data_connections"
    CONTENT_FORMULA = "content.formula"
    CONTENT_DDE = "content.dde"
    ANSWER_REQUIRED = "answer.required"
    ANSWER_REQUIRED_WHEN = "answer.required_when"
    ANSWER_CHOICE = "answer.choice"
    ANSWER_INTEGER = "answer.integer"
    ANSWER_NUMBER = "answer.number"
    ANSWER_DATE = "answer.date"
    ANSWER_EMAIL = "answer.email"
    ANSWER_TOO_SMALL = "answer.too_small"
    ANSWER_TOO_LARGE = "answer.too_large"
    ANSWER_TOO_LONG = "answer.too_long"
    ANSWER_MIN_ROWS = "answer.min_rows"
    ANSWER_TOO_MANY_ROWS = "answer.too_many_rows"
    ANSWER_PATTERN = "answer.pattern"
    ANSWER_INVALID = "answer.invalid"
    ANSWER_DATE_RANGE = "answer.date_range"
    ANSWER_ERROR_VALUE = "answer.error_value"
    ANSWER_CONTROL_CHARS = "answer.control_chars"
    ANSWER_EXCEL_LIMIT = "answer.excel_limit"
    RULE_MORE_THAN = "rule.more_than"
    RULE_IN_FUTURE = "rule.in_future"
    RULE_NOT_AFTER = "rule.not_after"
    RULE_NOT_AFTER_QUERY = "rule.not_after_query"
    NORMALISE_TRIMMED = "normalise.trimmed"
    NORMALISE_CASE = "normalise.case"
    NORMALISE_NUMBER_TEXT = "normalise.number_text"
    NORMALISE_DATE_TEXT = "normalise.date_text"
    NORMALISE_DATE_SERIAL = "normalise.date_serial"
    NORMALISE_NOT_APPLICABLE = "normalise.not_applicable"
    PRIVACY_PERSONAL_DATA = "privacy.personal_data"
    STATUS_LATE = "status.late"
    STATUS_FUTURE_TIME = "status.future_time"
    REGISTER_DAMAGED = "register.damaged"
    REGISTER_RESTORE = "register.restore"
    REGISTER_NO_BACKUP = "register.no_backup"
    IDENTIFY_OTHER_WORKSPACE = "identify.other_workspace"
    IDENTIFY_PACK_CHANGED = "identify.pack_changed"
    WORKSPACE_EXISTS = "workspace.exists"
    WORKSPACE_ORPHAN_KEY = "workspace.orphan_key"
    WORKSPACE_NOT_EMPTY = "workspace.not_empty"
    KEY_DAMAGED = "key.damaged"
    DATE_NO_SUCH_DAY = "date.no_such_day"
    PACK_LAYOUT = "pack.layout"
    PACK_SCHEMA = "pack.schema"
    ROSTER_PROBLEMS = "roster.problems"
    ROSTER_CASE_CLASH = "roster.case_clash"
    REGISTER_UNUSABLE = "register.unusable"
    REGISTER_READ_ONLY = "register.read_only"
    OUTPUT_IS_A_FILE = "output.is_a_file"
    OUTPUT_IS_A_FOLDER = "output.is_a_folder"
    OUTPUT_FAILED = "output.failed"
    OS_FAILED = "os.failed"
    SIGNATORIES_UNREADABLE = "signatories.unreadable"
    SIGNATORIES_MISSING_COLUMN = "signatories.missing_column"
    REVIEW_UNKNOWN_TEAM = "review.unknown_team"
    REVIEW_UNKNOWN_FORM = "review.unknown_form"
    REVIEW_NO_SUBMISSION = "review.no_submission"
    REVIEW_NOTE_REQUIRED = "review.note_required"
    REVIEW_NOTE_TOO_LONG = "review.note_too_long"
    REVIEW_NOTHING_TO_UNDO = "review.nothing_to_undo"
    REVIEW_BOOK_OPEN = "review.book_open"
    REVIEW_BOOK_UNREAD = "review.book_unread"
    REVIEW_BOOK_BAD_DECISION = "review.book_bad_decision"
    REVIEW_BOOK_NOTE_REQUIRED = "review.book_note_required"
    REVIEW_BOOK_SUPERSEDED = "review.book_superseded"
    REVIEW_BOOK_STALE_ROW = "review.book_stale_row"
    REVIEW_REBUILD_UNPLACED = "review.rebuild_unplaced"
    REVIEW_REBUILD_UNREAD = "review.rebuild_unread"
    EMAIL_NO_DRAFT = "email.no_draft"
    CONFIG_NOT_FOUND = "config.not_found"
    CONFIG_UNREADABLE = "config.unreadable"
    CONFIG_INVALID = "config.invalid"
    CONFIG_FORMS_UNKNOWN = "config.forms_unknown"
    CONFIG_TIMEZONE = "config.timezone"
    CONFIG_DUE = "config.due"
    CONFIG_CYCLE = "config.cycle"
    CONFIG_DUE_BEFORE_CYCLE = "config.due_before_cycle"
    CONFIG_COUNCIL_REQUIRED = "config.council_required"
    CONFIG_RETURN_TO_TOO_LONG = "config.return_to_too_long"
    CONFIG_RETURNS_MISSING = "config.returns_missing"
    CONFIG_RETURNS_OVERLAP = "config.returns_overlap"
    CONFIG_UNKNOWN_TEAM = "config.unknown_team"
    DATE_NOT_A_DATE = "date.not_a_date"
    DATE_NO_SUCH_PART = "date.no_such_part"
    BUSY_RUNNING = "busy.running"
    PACK_MISSING_BUILTIN = "pack.missing_builtin"
    PACK_NOT_A_PACK = "pack.not_a_pack"
    PACK_REF_NOT_LOCAL = "pack.ref_not_local"
    PACK_REF_MISSING = "pack.ref_missing"
    PACK_UNKNOWN_FIELD = "pack.unknown_field"
    PACK_FIELD_TYPE = "pack.field_type"
    PACK_CONDITION = "pack.condition"
    PACK_RULE_CODE = "pack.rule_code"
    PACK_RULE_FIELDS = "pack.rule_fields"
    PACK_RULE_TABLE = "pack.rule_table"
    PACK_BLOCK_TYPE = "pack.block_type"
    CHECK_SCHEMA_INVALID = "check.schema_invalid"
    CHECK_UNKNOWN_FORM = "check.unknown_form"
    CHECK_EXPLANATION_CODE = "check.explanation_code"
    CHECK_EXPLANATION_TEXT = "check.explanation_text"
    CHECK_NO_VERSION = "check.no_version"
    CHECK_NO_INPUT = "check.no_input"
    CHECK_NOT_IN_SCHEMA = "check.not_in_schema"
    CHECK_INPUTS = "check.inputs"
    CHECK_SHEET_TWICE = "check.sheet_twice"
    CHECK_SHEET_NAME = "check.sheet_name"
    CHECK_SHARED_CELL = "check.shared_cell"
    CHECK_TABLE_ROWS = "check.table_rows"
    CHECK_TABLE_MIN = "check.table_min"
    CHECK_DROPDOWN = "check.dropdown"
    CHECK_UNPROTECTED = "check.unprotected"
    CHECK_NO_NAME = "check.no_name"
    CHECK_LOCKED = "check.locked"
    CHECK_VALIDATIONS = "check.validations"
    CHECK_VALIDATION_TYPE = "check.validation_type"
    CHECK_BOUNDS = "check.bounds"
    CHECK_RULE_CHECK = "check.rule_check"
    CHECK_RULE_FORMULA = "check.rule_formula"
    CHECK_IN_FORM = "check.in_form"
    REPORT_NO_ACTION_PLAN = "report.no_action_plan"
    REPORT_TARGET_PASSED = "report.target_passed"
    REPORT_MISSING = "report.missing"
    REPORT_INVALID_OVERDUE = "report.invalid_overdue"
    REPORT_RECEIVED_LATE = "report.received_late"
    # --- fix A ---
    PACK_META_TOML = "pack.meta_toml"
    PACK_META_SHAPE = "pack.meta_shape"
    PACK_META_PLACEHOLDER = "pack.meta_placeholder"
    PACK_META_NO_FORM = "pack.meta_no_form"
    PACK_META_NOT_A_FIELD = "pack.meta_not_a_field"
    PACK_META_NOT_A_TABLE = "pack.meta_not_a_table"
    PACK_META_RATING_WORD = "pack.meta_rating_word"
    PACK_META_LABEL_ROW = "pack.meta_label_row"
    REPORT_REJECTED = "report.rejected"
    # --- fix B ---
    SIGNATORIES_BLANK = "signatories.blank"
    SIGNATORIES_NOT_A_DATE = "signatories.not_a_date"
    PACK_CHECK_FAILED = "pack.check_failed"
    CLI_UNEXPECTED = "cli.unexpected"
    EXPORT_FORMAT = "export.format"
    REVIEW_BOOK_TOO_LARGE = "review.book_too_large"
    REVIEW_BOOK_NO_SHEET = "review.book_no_sheet"
    REVIEW_BOOK_NO_HEADINGS = "review.book_no_headings"
    REVIEW_BOOK_NO_COLUMNS = "review.book_no_columns"
    REVIEW_BOOK_LOCKED = "review.book_locked"
    REVIEW_BOOK_DAMAGED = "review.book_damaged"
    VALIDATE_NO_WORKSPACE = "validate.no_workspace"
    EXPORT_WROTE = "export.wrote"
    # --- issued part (issue 16) ---------------------------------------------------------
    IDENTIFY_NOT_ON_ROSTER = "identify.not_on_roster"
    GENERATE_OLDER_VERSION = "generate.older_version"
    VERSION_REMOVED_ANSWER = "version.removed_answer"
    # --- cycle part (issue 16): a new cycle ---
    CYCLE_NOT_AFTER = "cycle.not_after"
    CYCLE_DUE_OUTSIDE = "cycle.due_outside"
    CYCLE_STARTED = "cycle.started"
    CYCLE_CONFIG_LINE = "cycle.config_line"
    PACK_CARRY_FROM = "pack.carry_from"
    # --- trend part ---
    YEAR_FELL = "year.fell"
    YEAR_EMPTIED = "year.emptied"
    PACK_CROSS_YEAR = "pack.cross_year"


E, Q = Severity.ERROR, Severity.QUERY

CATALOGUE: dict[Code, Message] = {
    # --- roster (row and column named by the caller) -------------------------------
    Code.ROSTER_MISSING_COLUMN: Message(
        E, "Column '{column}' is missing. Add a column headed '{column}'."
    ),
    Code.ROSTER_DUPLICATE_ID: Message(
        E,
        "Row {row}, column team_id: '{value}' is used by row {first} too. Give every team its own id.",
    ),
    Code.ROSTER_VALUE: Message(E, "Row {row}, column {column}: {problem}."),
    Code.ROSTER_EMPTY: Message(
        E, "The roster has no teams. Add one row per team under the headings."
    ),
    Code.ROSTER_UNREADABLE: Message(
        E, "The roster cannot be read ({detail}). Save it as .xlsx or .csv (UTF-8)."
    ),
    # --- reading a return --------------------------------------------------------------
    Code.READ_EMPTY: Message(
        E,
        "The file is empty (0 bytes). Save the workbook again in Excel and put it back in the folder.",
    ),
    Code.READ_NOT_A_WORKBOOK: Message(
        E, "This is not an Excel workbook. Save as .xlsx from your original workbook."
    ),
    Code.READ_TRUNCATED: Message(
        E,
        "The file is incomplete, perhaps still copying or syncing. It will be tried again on the next collect.",
    ),
    Code.READ_ENCRYPTED: Message(
        E,
        "The workbook is protected with a password to open. Remove the file password (File > Info > Protect Workbook) and return it again.",
    ),
    Code.READ_CSV: Message(
        E,
        "This is a CSV or text file, which cannot carry the workbook's identity. Save as .xlsx from your original workbook.",
    ),
    Code.READ_TOO_LARGE: Message(
        E,
        "The file is far larger than a return can be and was not opened. Save as .xlsx from your original workbook, or ask the coordinator for a fresh copy.",
    ),
    Code.READ_XML_ATTACK: Message(
        E,
        "The file contains XML that could harm the reader (an entity declaration) and was not opened. Ask the sender where it came from; do not open it in Excel.",
    ),
    Code.READ_BAD_XML: Message(
        E, "The file is damaged and cannot be read. Save as .xlsx from your original workbook."
    ),
    Code.READ_NO_WORKBOOK_PART: Message(
        E, "The file is a zip but not a workbook. Save as .xlsx from your original workbook."
    ),
    Code.READ_TIMEOUT: Message(
        E,
        "Reading the file took too long and was stopped. Save as .xlsx from your original workbook.",
    ),
    Code.READ_CRASHED: Message(
        E,
        "The file made the reader fail and was set aside; the rest of the batch went on. Save as .xlsx from your original workbook.",
    ),
    Code.READ_UNREADABLE: Message(
        E,
        "The file cannot be read: it is damaged, or in a format this tool does not read. Save as .xlsx from your original workbook.",
    ),
    Code.READ_CHANGING: Message(
        E,
        "The file was changing while it was read (still being saved or synced). It will be tried again on the next collect.",
    ),
    Code.READ_NO_PERMISSION: Message(
        E,
        "The file cannot be opened: the coordinator's account may not read it. Ask whoever manages the shared folder to let it; the file is tried again on every collect.",
    ),
    Code.FILE_RESENT: Message(
        Q,
        "An identical copy of {first}, an earlier version, sent again: it is the team's current return again.",
        notice=True,
    ),
    # --- files and folders that are not read (recorded as ignored, with the reason) ----
    Code.FILE_OFFICE_LOCK: Message(
        Q, "An Office lock file, made while someone has the workbook open."
    ),
    Code.FILE_HIDDEN: Message(Q, "A hidden or system file."),
    Code.FILE_TEMPORARY: Message(Q, "A temporary file, made while saving or copying."),
    Code.FILE_SYMLINK: Message(
        Q,
        "A link (shortcut), which collect never follows: it could lead anywhere. Put the workbook itself in the folder.",
    ),
    Code.FILE_NOT_REGULAR: Message(
        Q,
        "Not a file but a pipe, socket or device, so it was not read. Put the workbook itself in the folder.",
    ),
    Code.FILE_BAD_NAME: Message(
        Q,
        "The name is not valid text (UTF-8), so it is shown with codes like \\xe9 and was not read. Rename it with ordinary letters and numbers.",
    ),
    Code.FILE_SECRET_KEY: Message(
        Q, "The workspace's secret key: it is never copied or read as a return."
    ),
    Code.FOLDER_UNREADABLE: Message(
        Q,
        "The folder cannot be opened: the coordinator's account may not read it. Ask whoever manages the shared folder to let it; it is looked at again on every collect.",
    ),
    Code.FOLDER_TOO_DEEP: Message(
        Q,
        "The folder lies more than {limit} folders deep and was not looked into. Move the workbooks nearer the top of the shared folder.",
    ),
    Code.FILE_DUPLICATE: Message(
        Q, "An identical copy of {first}, which is already recorded. Nothing more to do."
    ),
    # --- identifying a return ----------------------------------------------------------
    Code.IDENTIFY_NO_IDENTITY: Message(
        E,
        "This workbook was not issued by the coordinator (it has no identity sheet). Copy your answers into the workbook you were sent, or ask for a fresh one.",
    ),
    Code.IDENTIFY_BAD_SIGNATURE: Message(
        E,
        "The workbook's identity has been changed since it was issued, so it cannot be trusted. Copy your answers into the workbook you were sent, or ask for a fresh one.",
    ),
    Code.IDENTIFY_OTHER_CYCLE: Message(
        E,
        "This is the workbook for cycle {found}, not {expected}. Fill in this year's workbook instead.",
    ),
    Code.IDENTIFY_UNKNOWN_FORM: Message(
        E,
        "This workbook is form '{form}' version {version}, which this cycle does not use. Fill in the workbook you were sent this cycle.",
    ),
    Code.IDENTIFY_UNKNOWN_TEAM: Message(
        E,
        "The workbook belongs to team '{team}', which is not on the roster. Ask the coordinator whether the team was renamed or removed.",
    ),
    Code.IDENTIFY_SHEET_MISSING: Message(
        E,
        "Sheet '{sheet}' is missing or renamed. Use the workbook you were sent, without renaming sheets.",
    ),
    Code.IDENTIFY_MOVED: Message(
        E,
        "{place}: the answers on this sheet have moved (rows inserted or deleted). Copy your answers into a fresh copy of the workbook.",
    ),
    Code.IDENTIFY_UNVERIFIED: Message(
        Q,
        "Checked outside a workspace, so the workbook's signature (which team and cycle it was issued to, and that its identity is unchanged) was not checked. Run validate inside the coordinator's workspace, or with -w DIR, to check it.",
        notice=True,
    ),
    Code.IDENTIFY_WRONG_FOLDER: Message(
        Q,
        "The file sits in a folder named for another team ({folder}); it was recorded for team '{team}', whose workbook it is.",
        notice=True,
    ),
    # --- active content ----------------------------------------------------------------
    Code.CONTENT_MACROS: Message(
        Q,
        "The workbook contains macros. They were not run. Save as .xlsx (not .xlsm) from your original workbook.",
    ),
    Code.CONTENT_EXTERNAL_LINKS: Message(
        Q,
        "The workbook links to other files. The links were not followed. Remove them (Data > Edit Links > Break Link).",
    ),
    Code.CONTENT_DATA_CONNECTIONS: Message(
        Q,
        "The workbook has data connections. They were not used. Remove them (Data > Queries & Connections).",
    ),
    Code.CONTENT_FORMULA: Message(
        E, "The answer is a formula ({formula}), which is not trusted. Type the answer itself."
    ),
    Code.CONTENT_DDE: Message(
        E,
        "The answer holds a command-like formula ({formula}), which was not run. Type the answer itself.",
    ),
    # --- answers -----------------------------------------------------------------------
    Code.ANSWER_REQUIRED: Message(E, "'{label}' is required. Please fill it in."),
    Code.ANSWER_REQUIRED_WHEN: Message(
        E, "'{label}' is needed because of your answer to '{other}'. Please fill it in."
    ),
    Code.ANSWER_CHOICE: Message(
        E, "'{value}' is not one of the options. Choose one from the list: {options}."
    ),
    Code.ANSWER_INTEGER: Message(
        E, "'{value}' is not a whole number. Type a whole number, for example 12."
    ),
    Code.ANSWER_NUMBER: Message(E, "'{value}' is not a number. Type a number, for example 2500."),
    Code.ANSWER_DATE: Message(
        E, "'{value}' is not a date. Type a date as dd/mm/yyyy, for example 31/03/2027."
    ),
    Code.ANSWER_EMAIL: Message(
        E, "'{value}' is not an email address. Type an address like name@example.org."
    ),
    Code.ANSWER_TOO_SMALL: Message(
        E, "{value} is below the lowest allowed, {limit}. Check the number."
    ),
    Code.ANSWER_TOO_LARGE: Message(
        E, "{value} is above the highest allowed, {limit}. Check the number."
    ),
    Code.ANSWER_TOO_LONG: Message(
        E, "The answer is {length} characters long; the most allowed is {limit}. Please shorten it."
    ),
    Code.ANSWER_MIN_ROWS: Message(
        E, "'{label}' needs at least {limit} row(s). Please add at least {limit}."
    ),
    Code.ANSWER_TOO_MANY_ROWS: Message(E, "'{label}' has more rows than allowed ({limit})."),
    Code.ANSWER_PATTERN: Message(E, "'{value}' is not in the expected form. {hint}"),
    Code.ANSWER_INVALID: Message(E, "{detail}. Please check the answer."),
    Code.ANSWER_DATE_RANGE: Message(
        E,
        "'{value}' is outside the dates this form takes (1990 to 2100). Type the right date as dd/mm/yyyy.",
    ),
    Code.ANSWER_ERROR_VALUE: Message(
        E, "The cell shows an error ({value}) instead of an answer. Type the answer itself."
    ),
    Code.ANSWER_CONTROL_CHARS: Message(
        Q,
        "Invisible control characters were removed from the answer.",
        notice=True,
    ),
    Code.ANSWER_EXCEL_LIMIT: Message(
        E,
        "The text is {length} characters, over Excel's limit of 32,767 per cell. Please shorten it.",
    ),
    # --- rules that relate one answer to another (declared in the pack's [[rules]]) ------
    Code.RULE_MORE_THAN: Message(
        E,
        "'{label}' is {value}, more than '{other}' ({limit}). It can be no more than that: please check both answers.",
    ),
    Code.RULE_IN_FUTURE: Message(
        E,
        "'{label}' is {value}, which is after today ({today}). Type the date it actually happened.",
    ),
    Code.RULE_NOT_AFTER: Message(
        E, "'{label}' ({value}) must be after '{other}' ({limit}). Please check both dates."
    ),
    Code.RULE_NOT_AFTER_QUERY: Message(
        Q,
        "'{label}' ({value}) is not after '{other}' ({limit}). Please check it: if it is right, nothing needs changing.",
    ),
    # --- normalising what people type (queries: the change is shown, not hidden) --------
    Code.NORMALISE_TRIMMED: Message(Q, "Spaces at the start or end were removed.", notice=True),
    Code.NORMALISE_CASE: Message(Q, "'{value}' was read as '{fixed}'.", notice=True),
    Code.NORMALISE_NUMBER_TEXT: Message(
        Q,
        "The number '{value}' was typed as text and was read as {fixed}.",
        notice=True,
    ),
    Code.NORMALISE_DATE_TEXT: Message(
        Q,
        "The date '{value}' was typed as text and was read as {fixed} (day first).",
        notice=True,
    ),
    Code.NORMALISE_DATE_SERIAL: Message(
        Q, "The number {value} was read as the date {fixed}.", notice=True
    ),
    Code.NORMALISE_NOT_APPLICABLE: Message(Q, "'{value}' was read as a blank answer.", notice=True),
    Code.PRIVACY_PERSONAL_DATA: Message(
        Q,
        "The answer looks like it holds personal data ({what}). Returns describe services: never name a child or give contact details. Remove it, or explain why it is needed.",
    ),
    Code.STATUS_LATE: Message(Q, "Received {received}, after the due date {due}."),
    Code.STATUS_FUTURE_TIME: Message(
        Q,
        "The file's time ({stamp}) is in the future, so it was not trusted: the return counts as received when collect first saw it, {received}.",
        notice=True,
    ),
    # --- the register -------------------------------------------------------------------
    Code.REGISTER_DAMAGED: Message(E, "{register}: the register is damaged ({detail})."),
    Code.REGISTER_RESTORE: Message(
        E,
        "Restore the newest backup: copy {backup} over {register} (and delete any register.sqlite-wal and -shm beside it), then run collect; or run 'participation-xl rebuild' to rebuild it from the archive.",
    ),
    Code.REGISTER_NO_BACKUP: Message(
        E,
        "There is no backup in .participation/backups. Run 'participation-xl rebuild' to rebuild it from the archive; the damaged file is kept beside it.",
    ),
    # --- the coordinator's side: workbooks the pack or workspace no longer matches --------
    Code.IDENTIFY_OTHER_WORKSPACE: Message(
        E,
        "The workbook was signed by another workspace (another key), not by this one. It was issued from a different participation-xl workspace: collect it there, or send the team the workbook issued from this workspace.",
    ),
    Code.IDENTIFY_PACK_CHANGED: Message(
        E,
        "The template pack has changed since this workbook was issued (form '{form}' version {version}; the pack now has {now}). This is for the coordinator to fix, not the team: issue the workbook again (generate), or restore the pack as it was when it was issued.",
    ),
    # --- the workspace, its key, settings and outputs (shown by the command line) --------
    Code.WORKSPACE_EXISTS: Message(
        E,
        "{paths}: already there, and {command} never writes over anything. Nothing was written. Move it away, or name a new folder.",
    ),
    Code.WORKSPACE_ORPHAN_KEY: Message(
        E,
        "{path}: this folder holds a workspace key but no participation.toml, so it is a workspace whose settings were lost. Nothing was written. Restore participation.toml from your backup (the key must stay: workbooks already issued are checked with it), or run init in a new folder.",
    ),
    Code.WORKSPACE_NOT_EMPTY: Message(
        E,
        "{path}: the folder is not empty (it holds {names}), and demo never writes over anything. Nothing was written. Name a new or empty folder, like participation-demo.",
    ),
    Code.KEY_DAMAGED: Message(
        E,
        "{path}: the workspace key is missing or damaged ({problem}). Restore the .participation folder from your backup: returned workbooks are checked with this key. If it is lost for good, make a new workspace (participation-xl init) and issue the workbooks again.",
    ),
    Code.DATE_NO_SUCH_DAY: Message(
        E, "'{value}': {day} does not exist{why}. Type a day of the calendar, like {example}."
    ),
    Code.PACK_LAYOUT: Message(
        E, "{path}: {problem}. Fix the layout (see docs/architecture.md, the template pack)."
    ),
    Code.PACK_SCHEMA: Message(
        E, "{path}: {problem}. Fix the schema: it must be one JSON object (a JSON Schema)."
    ),
    Code.ROSTER_PROBLEMS: Message(
        E,
        "{path}: the roster has {count} problem(s); {not_done}. Fix them and run the command again.",
    ),
    Code.ROSTER_CASE_CLASH: Message(
        E,
        "Row {row}, column team_id: '{value}' differs only in capitals from '{other}' in row {first}; on a shared folder their files would collide. Give every team an id that differs in more than capitals.",
    ),
    Code.REGISTER_UNUSABLE: Message(
        E,
        "{path}: the register cannot be used ({detail}). If another program has it open, close that and try again; if it is damaged, restore the .participation folder from your backup.",
    ),
    Code.REGISTER_READ_ONLY: Message(
        E,
        "{path}: the register cannot be opened, even to read ({detail}). Ask whoever runs collect for read access to the .participation folder, or run the command as that user.",
    ),
    Code.OUTPUT_IS_A_FILE: Message(
        E,
        "{path}: is a file where the reports need a folder. Move or rename it, then run 'participation-xl report'. No report was changed.",
    ),
    Code.OUTPUT_IS_A_FOLDER: Message(
        E,
        "{path}: is a folder where a report is written. Move or rename it, then run 'participation-xl report'. No report was changed.",
    ),
    Code.OUTPUT_FAILED: Message(
        E,
        "{path}: the reports cannot be written here ({detail}). Check that you may write to the folder and that the disk is not full, then run 'participation-xl report'. No report was changed.",
    ),
    Code.OS_FAILED: Message(
        E,
        "{path}{detail}. Check that the file or folder exists, that you may read and write it, and that the disk is not full; then try again.",
    ),
    # --- the coordinator's signatories.csv (report; the row is left out, the rest is used) -
    Code.SIGNATORIES_UNREADABLE: Message(
        E,
        "signatories.csv cannot be read ({detail}). Save it as CSV UTF-8 from Excel; no one in it is on the register until then.",
    ),
    Code.SIGNATORIES_MISSING_COLUMN: Message(
        E,
        "Column '{column}' is missing. Add a column headed '{column}' (columns: name, role, organisation, date_signed).",
    ),
    # --- the coordinator's review (participation-xl review, reports/review.xlsx) -------
    Code.REVIEW_UNKNOWN_TEAM: Message(
        E,
        "Team '{team}' is not on the roster. Check the team_id: 'participation-xl status' lists them.",
    ),
    Code.REVIEW_UNKNOWN_FORM: Message(
        E, "Team '{team}' is not expected to return form '{form}'. Its forms: {forms}."
    ),
    Code.REVIEW_NO_SUBMISSION: Message(
        E,
        "Team '{team}' has no accepted return of '{form}' this cycle, so there is nothing to review. Run collect first, or chase the team.",
    ),
    Code.REVIEW_NOTE_REQUIRED: Message(
        E, "Sending a return back needs a note that tells the team what to change: add --note TEXT."
    ),
    Code.REVIEW_NOTE_TOO_LONG: Message(
        E, "The note is {length} characters; keep it to {limit}, and put detail in an email."
    ),
    Code.REVIEW_NOTHING_TO_UNDO: Message(
        E, "Team '{team}', form '{form}': the current return has no decision to undo."
    ),
    Code.REVIEW_BOOK_OPEN: Message(
        Q,
        "{path} is open (its lock file {lock} is there). Decisions saved in it were recorded, but it was not rewritten, so nothing typed in it is lost. Close it and run 'participation-xl report' (if it is not open anywhere, the lock file was left by a program that stopped: delete it).",
    ),
    Code.REVIEW_BOOK_UNREAD: Message(
        E,
        "{path} has changed since it was last read and cannot be read now ({detail}). It was kept as it is and not rewritten, so no decision typed in it is lost; the other reports were written. Close it (or repair it) and run 'participation-xl report'.",
    ),
    Code.REVIEW_BOOK_BAD_DECISION: Message(
        Q,
        "{path}: Review, cell {cell}: '{value}' is not a decision, so it was not recorded (it is kept in the file). Choose Approve or Send back, or leave it blank.",
    ),
    Code.REVIEW_BOOK_NOTE_REQUIRED: Message(
        Q,
        "{path}: Review, cell {cell}: Send back needs a note that tells the team what to change, so it was not recorded yet (it is kept in the file). Type the note beside it.",
    ),
    Code.REVIEW_BOOK_SUPERSEDED: Message(
        Q,
        "{path}: Review, cell {cell}: a newer return from {team} ({form}) arrived after this decision was typed. It was recorded for the earlier return; the new one waits for your review.",
    ),
    Code.REVIEW_BOOK_STALE_ROW: Message(
        Q,
        "{path}: Review, cell {cell}: this row was written for {team} ({form}) but return no. {number} is now another return (the register was rebuilt, or the row was copied), so '{value}' was not recorded. Type your decision again in the new reports/review.xlsx, or use 'participation-xl review'.",
    ),
    Code.REVIEW_REBUILD_UNPLACED: Message(
        Q,
        "A decision ({action} by {by}, {at}) on {team}'s return of {form} ({cycle}) could not be carried over: no return with the same file was rebuilt from the archive. It is still in the old register {aside}; decide again with 'participation-xl review'.",
    ),
    Code.REVIEW_REBUILD_UNREAD: Message(
        Q,
        "The review decisions in the old register {aside} could not be read ({detail}), so none were carried over. Decide again with 'participation-xl review', or restore the newest backup in .participation/backups.",
    ),
    Code.EMAIL_NO_DRAFT: Message(
        Q,
        "No email draft for team '{team}': {detail}. Check contact_name and contact_email in the roster.",
    ),
    # --- place part ---
    # participation.toml and the command line (ConfigError; exit 2, nothing done)
    Code.CONFIG_NOT_FOUND: Message(
        E,
        "{path}: no {config} here or above. Run 'participation-xl init' first, or name the workspace with -w DIR.",
    ),
    Code.CONFIG_UNREADABLE: Message(
        E, "{path}: cannot be read ({detail}). Fix the file and try again."
    ),
    Code.CONFIG_INVALID: Message(E, "{path}: {problems}. Fix the file and try again."),
    Code.CONFIG_FORMS_UNKNOWN: Message(
        E,
        "{path}: [forms] {kind} names {unknown}, which the pack does not have. Use one of: {forms}.",
    ),
    Code.CONFIG_TIMEZONE: Message(
        E,
        "{path}: timezone: '{name}' is not a time zone this computer knows. Use a name like {default} (the default), or delete the line.",
    ),
    Code.CONFIG_DUE: Message(E, "{path}: due: {detail} Fix the file and try again."),
    Code.CONFIG_CYCLE: Message(
        E, "Cycle '{cycle}' is not a year like 2026-27 (two consecutive years)."
    ),
    Code.CONFIG_DUE_BEFORE_CYCLE: Message(
        E,
        "The due date {due} is before cycle {cycle} starts ({start}: a cycle is the financial year from 1 April). Give a date in the cycle, like {example}.",
    ),
    Code.CONFIG_COUNCIL_REQUIRED: Message(E, "--council must name the council."),
    Code.CONFIG_RETURN_TO_TOO_LONG: Message(
        E,
        "--return-to is {length} characters; keep it to {limit} (say where, briefly: a folder, a SharePoint site, an email address).",
    ),
    Code.CONFIG_RETURNS_MISSING: Message(
        E,
        "{path}: the returns folder does not exist. Check 'returns' in participation.toml.",
    ),
    Code.CONFIG_RETURNS_OVERLAP: Message(
        E,
        "{path}: the returns folder overlaps the workspace ({root}), so collect would read the tool's own workbooks, reports or key as returns. Name a folder of its own for returns (the default is 'returns' in the workspace) in participation.toml, or on the command line.",
    ),
    Code.CONFIG_UNKNOWN_TEAM: Message(E, "--team {teams}: not on the roster. Check the team_id."),
    Code.DATE_NOT_A_DATE: Message(
        E, "'{value}' is not a date: type it day first, like 31/03/2027."
    ),
    Code.DATE_NO_SUCH_PART: Message(
        E, "'{value}': there is no {part}. Type the date day first, like 31/03/2027."
    ),
    # another run holds the workspace's lock (BusyError)
    Code.BUSY_RUNNING: Message(
        E,
        "Another collect or report is running on this workspace ({holder}). Try again when it has finished.",
    ),
    # the template pack cannot be loaded (PackError; pack.layout and pack.schema above too)
    Code.PACK_MISSING_BUILTIN: Message(
        E, "The built-in template pack is missing from this installation. Install the tool again."
    ),
    Code.PACK_NOT_A_PACK: Message(
        E, "{path}: a template pack needs a workbook_templates/ and a schemas/ folder."
    ),
    Code.PACK_REF_NOT_LOCAL: Message(
        E, "{path}: only local $refs (#/$defs/...) are supported: {ref}"
    ),
    Code.PACK_REF_MISSING: Message(E, "{path}: $ref {ref} points at nothing."),
    Code.PACK_UNKNOWN_FIELD: Message(E, "{path}: the layout names '{field}', not in the schema."),
    Code.PACK_FIELD_TYPE: Message(
        E, "{path}: field '{field}' has a type the workbook cannot ask for."
    ),
    Code.PACK_CONDITION: Message(
        E,
        "{path}: a conditional rule must be 'if one sibling is one of some values, then these are required'; found {rule}",
    ),
    Code.PACK_RULE_CODE: Message(E, "{path}: rule {spec} needs a code, one of {known}."),
    Code.PACK_RULE_FIELDS: Message(
        E,
        "{path}: rule {rule} compares {fields}: each must be a field of this form of kind {kinds}.",
    ),
    Code.PACK_RULE_TABLE: Message(
        E,
        "{path}: rule {rule}: '{other}' is in a table, so '{field}' must be a column of the same table.",
    ),
    Code.PACK_BLOCK_TYPE: Message(E, "{path}: unknown block type {kind} on sheet '{sheet}'."),
    # pack check: where the layouts, schemas and a generated workbook disagree
    Code.CHECK_SCHEMA_INVALID: Message(E, "{name} is not a valid JSON Schema 2020-12: {detail}"),
    Code.CHECK_UNKNOWN_FORM: Message(E, "pack.toml: [forms] {kind} names unknown form '{form}'"),
    Code.CHECK_EXPLANATION_CODE: Message(
        E,
        "pack.toml: [explanations] '{query}' is not a query code of the message catalogue (participation_xl/messages.py): only queries can be explained",
    ),
    Code.CHECK_EXPLANATION_TEXT: Message(
        E, "pack.toml: [explanations] '{query}' must be text of 1 to 1,000 characters"
    ),
    Code.CHECK_NO_VERSION: Message(E, "the schema needs an $id and an x-form-version"),
    Code.CHECK_NO_INPUT: Message(E, "schema field '{field}' has no input cell in the layout"),
    Code.CHECK_NOT_IN_SCHEMA: Message(E, "layout field '{field}' is not in the schema"),
    Code.CHECK_INPUTS: Message(E, "field '{field}' has {count} input cells; it needs exactly one"),
    Code.CHECK_SHEET_TWICE: Message(E, "sheet name '{sheet}' is used twice"),
    Code.CHECK_SHEET_NAME: Message(
        E,
        "sheet name '{sheet}' is not allowed in Excel (1 to 31 characters, none of []:*?/\\, not beginning or ending with an apostrophe)",
    ),
    Code.CHECK_SHARED_CELL: Message(E, "two inputs share {place}"),
    Code.CHECK_TABLE_ROWS: Message(
        E, "table '{table}' has {rows} rows but the schema allows {allowed}"
    ),
    Code.CHECK_TABLE_MIN: Message(E, "table '{table}' has fewer rows than minItems"),
    Code.CHECK_DROPDOWN: Message(
        E, "dropdown {name} holds {found}, but the schema's enum is {expected}"
    ),
    Code.CHECK_UNPROTECTED: Message(E, "the workbook structure is not protected"),
    Code.CHECK_NO_NAME: Message(E, "field '{field}' has no defined name in the workbook"),
    Code.CHECK_LOCKED: Message(E, "'{field}' cell {cell} is locked"),
    Code.CHECK_VALIDATIONS: Message(E, "'{field}' has {count} validations; it needs exactly one"),
    Code.CHECK_VALIDATION_TYPE: Message(
        E, "'{field}' is validated as {found}, but the schema says {kind}"
    ),
    Code.CHECK_BOUNDS: Message(
        E, "'{field}' validation bounds {found} differ from the schema's {expected}"
    ),
    Code.CHECK_RULE_CHECK: Message(E, "rule {rule} on '{field}': collect's check is wrong"),
    Code.CHECK_RULE_FORMULA: Message(
        E, "rule {rule} on '{field}': the workbook's live check lacks it"
    ),
    Code.CHECK_IN_FORM: Message(E, "{form}: {problem}"),
    # --- packrep part -------------------------------------------------------------------
    # The compliance workbook's Exceptions: a rating short of met ([report.ratings] in
    # pack.toml) with no action plan, and an action whose target date has passed.
    Code.REPORT_NO_ACTION_PLAN: Message(Q, "{rating} with no {missing}."),
    Code.REPORT_TARGET_PASSED: Message(Q, "The target date {date} has passed."),
    Code.REPORT_MISSING: Message(E, "No return received; it was due {due}."),
    Code.REPORT_INVALID_OVERDUE: Message(
        E, "The return has {errors} problem(s) to fix; it was due {due}."
    ),
    # Lateness as collect judged it when it recorded the return (the submission's `late`).
    Code.REPORT_RECEIVED_LATE: Message(Q, "Received {received}, after the due date {due}."),
    # --- fix A ---
    # pack.toml (the pack's [report], [instructions] and the rest): each problem names the
    # file, the part and the word, and says to fix pack.toml (not a form's layout).
    Code.PACK_META_TOML: Message(E, "{path}: it cannot be read as TOML ({detail}). Fix pack.toml."),
    Code.PACK_META_SHAPE: Message(
        E,
        "{path}: {where}: {detail}. Fix pack.toml (see docs/architecture.md, the template pack).",
    ),
    Code.PACK_META_PLACEHOLDER: Message(
        E,
        "{path}: instructions: '{label}' holds {{{name}}}; the text may hold {known} (write a brace as {{{{ or }}}}). Fix pack.toml.",
    ),
    Code.PACK_META_NO_FORM: Message(
        E, "{path}: report.{part}: the pack has no form '{form}'. Fix pack.toml."
    ),
    Code.PACK_META_NOT_A_FIELD: Message(
        E,
        "{path}: report.{part}: {key} names '{field}', which is not a field of form '{form}'. Fix pack.toml.",
    ),
    Code.PACK_META_NOT_A_TABLE: Message(
        E, "{path}: report.{part}: '{table}' is not a table of form '{form}'. Fix pack.toml."
    ),
    Code.PACK_META_RATING_WORD: Message(
        E,
        "{path}: report.ratings: {key} holds '{word}', which is not a rating '{field}' can take ({choices}). Fix pack.toml: use the schema's words exactly.",
    ),
    Code.PACK_META_LABEL_ROW: Message(
        E,
        "{path}: report.ratings: labels names '{row}', which is not a row of '{group}' ({rows}). Fix pack.toml.",
    ),
    # The compliance Exceptions: a team whose every file was refused has no return.
    Code.REPORT_REJECTED: Message(E, "Every file sent was refused: {reason}"),
    # --- fix B ---
    Code.SIGNATORIES_BLANK: Message(
        E,
        "Row {row}, column {column}: it is blank. Correct it in signatories.csv; the row is left off the register until then.",
    ),
    Code.SIGNATORIES_NOT_A_DATE: Message(
        E,
        "Row {row}, column {column}: '{value}' is not a date. Correct it in signatories.csv; the row is left off the register until then.",
    ),
    Code.PACK_CHECK_FAILED: Message(E, "{directory}: {count} problem(s) in the template pack."),
    Code.CLI_UNEXPECTED: Message(
        E,
        "Something went wrong that participation-xl did not expect ({kind}: {detail}). Nothing more was done. Please report this, with the command you ran.",
    ),
    Code.EXPORT_FORMAT: Message(E, "export format {fmt}: use one of {formats}"),
    # Why reports/review.xlsx could not be read: the {detail} of review.book_unread.
    Code.REVIEW_BOOK_TOO_LARGE: Message(E, "it is far larger than a review workbook can be"),
    Code.REVIEW_BOOK_NO_SHEET: Message(E, "it has no sheet named '{sheet}'"),
    Code.REVIEW_BOOK_NO_HEADINGS: Message(E, "its '{sheet}' sheet has no heading row"),
    Code.REVIEW_BOOK_NO_COLUMNS: Message(E, "its Decision, Note or Return no. column is missing"),
    Code.REVIEW_BOOK_LOCKED: Message(E, "it is locked, perhaps open in Excel"),
    Code.REVIEW_BOOK_DAMAGED: Message(E, "it is not a workbook any more, or it is damaged"),
    # Notes the CLI writes on standard error about what it did (nothing to fix).
    Code.VALIDATE_NO_WORKSPACE: Message(
        Q,
        "Note: no workspace here, so each file is checked against the built-in pack, but its signature is not checked (use -w DIR to name the workspace).",
        notice=True,
    ),
    Code.EXPORT_WROTE: Message(Q, "Wrote {count} submission(s) to {output}.", notice=True),
    # --- issued part (issue 16) ---------------------------------------------------------
    # A return from a team issued a workbook this cycle and removed from the roster since:
    # recorded and counted if it comes, never chased.
    Code.IDENTIFY_NOT_ON_ROSTER: Message(
        Q,
        "Team '{team}' was issued this workbook this cycle but is no longer on the roster. The return was recorded; it is not chased. If the team should still take part, add it back to the roster.",
    ),
    Code.GENERATE_OLDER_VERSION: Message(
        Q,
        "{count} workbook(s) held by teams were issued from an older version of their form: {held}. Their returns are still read with the version they were issued with; issue them again (generate --team ID) if they should answer the new version.",
    ),
    # An answer to a question the pack has removed since the workbook was issued: kept
    # under its old path in the register and the JSON export, never dropped.
    Code.VERSION_REMOVED_ANSWER: Message(
        Q,
        "'{field}' was answered on form version {version}, but the pack's version {now} no longer asks it. The answer is kept under its old path ({path}) in the register and the JSON export; it is not in the reports.",
        notice=True,
    ),
    # --- cycle part (issue 16): a new cycle ---
    Code.CYCLE_NOT_AFTER: Message(
        E,
        "Cycle {cycle} is not after the current cycle {current}. Give the next cycle, like {example}.",
    ),
    Code.CYCLE_DUE_OUTSIDE: Message(
        E,
        "The due date {due} is not in cycle {cycle} ({start} to {end}). Give a date in the cycle, like {example}.",
    ),
    Code.CYCLE_STARTED: Message(
        E,
        "Cycle {cycle} was already started in this workspace ({where}). Nothing was changed; check participation.toml's cycle.",
    ),
    Code.PACK_CARRY_FROM: Message(
        E,
        "{path}: table '{table}' is filled from '{origin}' (x-carry-from), which is not a table of this form with a column of the same name. Name a table of the form, or remove x-carry-from.",
    ),
    Code.CYCLE_CONFIG_LINE: Message(
        E,
        "{path}: the line '{key} = ...' could not be found to change. Nothing was changed; put cycle and due on lines of their own, near the top, as init writes them.",
    ),
    # --- trend part ---------------------------------------------------------------------
    # Cross-year queries ([[cross_year]] in a form's layout): this return against the same
    # team's current return of the previous cycle in the register.
    Code.YEAR_FELL: Message(
        Q,
        "'{label}' is rated {value} this cycle; in {cycle} it was {before}. Please check the rating and say what changed.",
    ),
    Code.YEAR_EMPTIED: Message(
        Q,
        "'{label}' has no entries this cycle; in {cycle} it had {count}. Please add this cycle's entries, or say why there are none.",
    ),
    Code.PACK_CROSS_YEAR: Message(
        E,
        '{path}: cross-year query {spec} cannot be used. Each [[cross_year]] needs a kind, "fell" (with field: a rated answer on the [report.ratings] scale, * for each row of a grid) or "emptied" (with table: a table of this form), and the code of that kind ({known}).',
    ),
}


def render(code: Code, **values: object) -> str:
    """The plain-English text for a catalogue code, with the place and values filled in.
    (A Code is a str, so a code read back as text looks up the same entry.)"""
    return CATALOGUE[code].template.format(**values)


def severity(code: Code) -> Severity:
    return CATALOGUE[code].severity


def is_notice(code: Code) -> bool:
    """A query about what the tool itself did: the team is not asked to explain it."""
    message = CATALOGUE.get(code)
    return bool(message and message.notice)
