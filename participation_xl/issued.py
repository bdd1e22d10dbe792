"""What was issued: every workbook `generate` wrote, and every pack version it wrote from.

`generate` records each workbook in the register's `issued` table (team, form, form and
pack version, cycle, when, the file's SHA-256 and path), in one transaction after the
files are written, and keeps a copy of the pack it issued from under
`.participation/packs/<pack version>/` (the register's `packs` table says which forms and
versions each copy holds). `collect` reads a return issued from an earlier version with
that version's own layout and schema; a team removed from the roster after issue is still
known from what it was issued.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .pack import Form, Pack, upgraded
from .register import IssuedRecord, Register, Submission
from .roster import Team
from .workspace import Workspace, register_path

PACKS_DIR = "packs"  # under .participation: the kept copies of every pack that issued
PACK_PARTS = (
    "schemas",
    "workbook_templates",
)  # what a pack is (the built-in one sits in a checkout)


def record(ws: Workspace, pack: Pack, written: Sequence[tuple[Team, str, Path]]) -> None:
    """Record the workbooks just written ((team, form id, path) each) and keep the pack
    they were written from: one transaction, after every file is in place."""
    if not written:
        return
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    rows = [
        (
            ws.cycle,
            team.team_id,
            team.team_name,
            team.kind,
            form_id,
            pack.forms[form_id].version,
            pack.version,
            now,
            hashlib.sha256(path.read_bytes()).hexdigest(),
            _relative(path, ws.root),
        )
        for team, form_id, path in written
    ]
    with Register(register_path(ws)) as reg, reg.transaction():
        keep(ws, reg, pack, now)
        reg.add_issued(rows)


def keep(ws: Workspace, reg: Register, pack: Pack, now: str) -> None:
    """Keep a copy of `pack` unless one with the same forms (id, version, digest) is kept."""
    forms = {(f.id, f.version, f.digest) for f in pack.forms.values()}
    held: dict[str, set[tuple[str, str, str]]] = {}
    for _, form, version, digest, folder in reg.kept_packs():
        held.setdefault(folder, set()).add((form, version, digest))
    if forms in held.values():
        return
    name = _folder_name(pack.version)
    if name in held:  # the same pack version edited since: keep both, told apart by digest
        name += "-" + hashlib.sha256(repr(sorted(forms)).encode()).hexdigest()[:8]
    root = ws.state_dir / PACKS_DIR
    root.mkdir(parents=True, exist_ok=True)
    # A killed run's half-made copy: safe to sweep, as keeping runs inside the register's
    # write transaction (BEGIN IMMEDIATE), so no other generate is copying now.
    for leftover in root.glob(".incoming.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming.", dir=root))
    for part in PACK_PARTS:
        shutil.copytree(pack.dir / part, staging / part)
    target = root / name
    if target.exists():  # a copy a killed run made but never recorded
        shutil.rmtree(target)
    staging.replace(target)
    reg.keep_pack(pack.version, sorted(forms), f"{PACKS_DIR}/{name}", now)


def kept_forms(ws: Workspace, reg: Register) -> dict[tuple[str, str], str]:
    """(form, form version) -> the folder of the kept pack that issued it, for every
    version the current pack no longer has: what collect reads such a return with."""
    current = {(f.id, f.version) for f in ws.pack.forms.values()}
    out: dict[tuple[str, str], str] = {}
    for _, form, version, _, folder in reg.kept_packs():  # a later copy stands over an earlier
        if (form, version) not in current and (ws.state_dir / folder).is_dir():
            out[(form, version)] = str(ws.state_dir / folder)
    return out


def older(ws: Workspace, reg: Register) -> list[IssuedRecord]:
    """The workbooks teams hold (the latest issued of each team and form this cycle) that
    were issued from a version of their form other than the pack's now."""
    forms: dict[str, Form] = ws.pack.forms
    return [
        r
        for r in reg.issued(ws.cycle)
        if r.form not in forms or forms[r.form].version != r.form_version
    ]


def _folder_name(version: str) -> str:
    return re.sub(r"[^\w.-]", "_", version).strip(".") or "unversioned"


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def as_now(pack: Pack, subs: list[Submission]) -> list[Submission]:
    """Submissions with each earlier version's answers under this version's field paths
    (the form's `renamed`); a removed field's answer stays under its old path."""
    out = []
    for s in subs:
        form = pack.forms.get(s.form)
        if form is None or s.form_version == form.version or not form.renamed:
            out.append(s)
        else:
            out.append(dataclasses.replace(s, document=upgraded(s.document, form)))
    return out


def carry_issued(reg: Register, aside: Path) -> None:
    """`rebuild`: copy what was issued and which packs were kept from the register set
    aside (they are in no archive), so a rebuilt register still knows them. A register
    from before they were kept, or one that cannot be read, has nothing to give."""
    try:
        old = sqlite3.connect(f"{aside.resolve().as_uri()}?mode=ro", uri=True)
        try:
            issued = old.execute(f"SELECT {_ISSUED} FROM issued ORDER BY id").fetchall()  # noqa: S608
            packs = old.execute(f"SELECT {_PACKS} FROM packs ORDER BY id").fetchall()  # noqa: S608
        finally:
            old.close()
    except sqlite3.Error:
        return
    with reg.transaction():
        reg.add_issued(issued)
        reg.db.executemany(f"INSERT INTO packs ({_PACKS}) VALUES (?, ?, ?, ?, ?, ?)", packs)  # noqa: S608


_ISSUED = (
    "cycle, team_id, team_name, kind, form, form_version, pack_version, issued_at, sha256, path"
)
_PACKS = "pack_version, form, form_version, digest, folder, kept_at"
