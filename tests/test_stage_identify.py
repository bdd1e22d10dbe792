# ruff: noqa: E501 (the tables are wide on purpose: one case a line)
"""Specification of identify: which returns are taken, and why the others are rejected.

`identify.identify(raw, pack, secret, cycle, team_ids)` is called directly on a workbook
`generate` issued to team ADV1 (the audit) and read with `read.read_workbook`, after the
change in its row is made to what was read. README, "What collect does with each file":
a return is identified by its signed identity, never by its file name.

- `change`: edits to the identity, `key = value` separated by `;` (made on the very hidden
  _meta sheet and in the document properties alike), or one of: `no _meta sheet`,
  `no properties`, `no sheet <name>`, `hint <name> = <value>` (an unsigned hint in the
  properties only).
- `signed`: `as issued` (the signature is left as it was), `ours` (signed again with
  this workspace's key, as if we had issued it so), `another key` (another workspace's
  key, which names itself in the key_id hint), `another key, no hint`.
- `checked`: `in the workspace` (its key, its cycle 2026-27 and its roster) or `outside`
  (`validate FILE` with no workspace: no key, cycle or roster).
- `outcome`: `accepted`, or the rejection's catalogue code; `claimed`: the team and form
  the rejection still says the file claims to be (blank: none could be read).

To add a case, add a row; a new `change` word needs a line in `_changed`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import tables

from participation_xl import identity, init_workspace
from participation_xl.examine import Context
from participation_xl.generate import generate, issued_form
from participation_xl.identify import Identified, Rejection, identify, read_identity
from participation_xl.pack import META_SHEET
from participation_xl.read import Cell, RawWorkbook, read_workbook

OTHER_SECRET = b"another workspace's secret key, 32"

SPEC = r"""
| case                                      | change                                     | signed               | checked          | outcome                  | claimed            |
|-------------------------------------------|--------------------------------------------|----------------------|------------------|--------------------------|--------------------|
| the workbook as issued                    |                                            | as issued            | in the workspace | accepted                 |                    |
| as issued, checked outside a workspace    |                                            | as issued            | outside          | accepted                 |                    |
| the identity only in the properties       | no _meta sheet                             | as issued            | in the workspace | accepted                 |                    |
| the identity only on the _meta sheet      | no properties                              | as issued            | in the workspace | accepted                 |                    |
| no identity at all                        | no _meta sheet; no properties              | as issued            | in the workspace | identify.no_identity     |                    |
| no identity, outside a workspace          | no _meta sheet; no properties              | as issued            | outside          | identify.no_identity     |                    |
# A signature that does not match: edited, or copied into another team's file.
| the signature edited                      | signature = 0123456789abcdef               | as issued            | in the workspace | identify.bad_signature   | ADV1 audit         |
| the team edited, the signature kept       | team_id = SW02                             | as issued            | in the workspace | identify.bad_signature   | SW02 audit         |
| the cycle edited, the signature kept      | cycle = 2027-28                            | as issued            | in the workspace | identify.bad_signature   | ADV1 audit         |
| the key hint edited too                   | team_id = SW02; hint key_id = 00ff         | as issued            | in the workspace | identify.other_workspace | SW02 audit         |
| signed by another workspace               |                                            | another key          | in the workspace | identify.other_workspace | ADV1 audit         |
| another key, its hint removed             |                                            | another key, no hint | in the workspace | identify.bad_signature   | ADV1 audit         |
| another workspace's file, outside         |                                            | another key          | outside          | accepted                 |                    |
| a part of the identity gone, outside      | team_id =                                  | as issued            | outside          | identify.bad_signature   | " audit"           |
# Signed by us, but not for this cycle, roster or pack.
| another cycle                             | cycle = 2025-26                            | ours                 | in the workspace | identify.other_cycle     | ADV1 audit         |
| another cycle, outside: no cycle to check | cycle = 2025-26                            | ours                 | outside          | accepted                 |                    |
| a team not on the roster                  | team_id = ZZ99                             | ours                 | in the workspace | identify.unknown_team    | ZZ99 audit         |
| a form the pack no longer has             | form = annual-review                       | ours                 | in the workspace | identify.pack_changed    | ADV1 annual-review |
| a form the pack does not have, outside    | form = annual-review                       | ours                 | outside          | identify.unknown_form    | ADV1 annual-review |
| a version the pack no longer has          | form_version = 0.9                         | ours                 | in the workspace | identify.pack_changed    | ADV1 audit         |
| a version the pack does not have, outside | form_version = 0.9                         | ours                 | outside          | identify.pack_changed    | ADV1 audit         |
# The form's sheets: each must be there, by name.
| a sheet of the form renamed or deleted    | no sheet Sign-off                          | as issued            | in the workspace | identify.sheet_missing   | ADV1 audit         |
| a sheet gone, issued from another layout  | no sheet Sign-off; hint form_digest = 0000 | as issued            | in the workspace | identify.pack_changed    | ADV1 audit         |
| another layout, every sheet there         | hint form_digest = 0000                    | as issued            | in the workspace | accepted                 |                    |
"""

COLUMNS = ("case", "change", "signed", "checked", "outcome", "claimed")


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    """The workspace, and the audit workbook issued to ADV1 as `read_workbook` reads it."""
    root = tmp_path_factory.mktemp("identify") / "ws"
    ws = init_workspace(root, "Council", "2026-27", dt.date(2027, 3, 31))
    paths = generate(ws, team_ids=["ADV1"])
    path = next(p for p in paths if issued_form(ws, p) == ("ADV1", "audit"))
    ctx = Context.of(ws)
    return ws, ctx, read_workbook(path, 0, 0, ctx.boxes)


def _with_identity(
    raw: RawWorkbook, ident: dict[str, str], hints: dict[str, str], props: bool, meta: bool
) -> None:
    """Write the identity where a generated workbook keeps it: rows of the _meta sheet,
    and document properties (with the unsigned hints, in the properties only)."""
    both = {**ident, **hints} if props else {}
    raw.custom_properties = {identity.PROPERTY_PREFIX + k: v for k, v in both.items()}
    raw.cells.pop(META_SHEET, None)
    if meta:
        rows = enumerate(ident.items(), start=1)
        raw.cells[META_SHEET] = {
            rc: cell
            for r, (k, v) in rows
            for rc, cell in (((r, 1), Cell(k, "s")), ((r, 2), Cell(v, "s")))
        }


def _changed(raw: RawWorkbook, change: str, signed: str, secret: bytes) -> RawWorkbook:
    raw = dataclasses.replace(
        raw,
        cells=dict(raw.cells),
        custom_properties=dict(raw.custom_properties),
        sheets=list(raw.sheets),
    )
    ident = dict(read_identity(raw) or {})
    meta = props = True
    hints = {
        k: raw.custom_properties[identity.PROPERTY_PREFIX + k]
        for k in identity.HINTS
        if identity.PROPERTY_PREFIX + k in raw.custom_properties
    }
    for step in filter(None, (s.strip() for s in change.split(";"))):
        if step == "no _meta sheet":
            meta = False
        elif step == "no properties":
            props = False
        elif step.startswith("no sheet "):
            name = step.removeprefix("no sheet ")
            raw.sheets = [s for s in raw.sheets if s.name != name]
            raw.cells.pop(name, None)
        elif step.startswith("hint "):
            key, _, value = (p.strip() for p in step.removeprefix("hint ").partition("="))
            hints[key] = value
        else:
            key, _, value = (p.strip() for p in step.partition("="))
            ident[key] = value
    if signed in ("ours", "another key", "another key, no hint"):
        key = secret if signed == "ours" else OTHER_SECRET
        ident[identity.SIGNATURE] = identity.sign(ident, key)
        hints[identity.KEY_ID] = identity.key_id(key)
    elif signed != "as issued":
        raise ValueError(f"unknown signing {signed!r}")
    if signed == "another key, no hint":
        del hints[identity.KEY_ID]
    _with_identity(raw, ident, hints, props, meta)
    return raw


@pytest.mark.parametrize("row", tables.params(SPEC, *COLUMNS))
def test_identify(issued, row):
    ws, ctx, raw = issued
    changed = _changed(raw, row["change"], row["signed"], ws.secret)
    if row["checked"] == "in the workspace":
        found = identify(changed, ctx.pack, ctx.secret, ctx.cycle, ctx.team_ids)
    else:
        assert row["checked"] == "outside"
        found = identify(changed, ctx.pack, None, None, None)
    if row["outcome"] == "accepted":
        assert isinstance(found, Identified), found
        assert found.form.id == "audit"
        assert found.identity["team_id"] == "ADV1"
    else:
        assert isinstance(found, Rejection), found
        assert found.code == row["outcome"]
        assert tables.codes(row["outcome"]) == [row["outcome"]]  # a catalogue code
        claimed = tables.value(row["claimed"])
        assert found.claimed == (tuple(claimed.split(" ")) if claimed else None)


def test_the_hand_made_identity_is_read_as_the_generated_one(issued):
    """The table's edits start from what was issued: rewriting it unchanged changes nothing."""
    _, _, raw = issued
    same = _changed(raw, "", "as issued", b"")
    assert read_identity(same) == read_identity(raw)
    assert same.custom_properties == raw.custom_properties
    assert dict(same.cells[META_SHEET]) == dict(raw.cells[META_SHEET])
