"""Record a return in the register as collect would, for tests of what reads the register
(reports, review, email drafts) without generating and collecting workbooks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from participation_xl.issues import Issue
from participation_xl.messages import Code
from participation_xl.register import Register
from participation_xl.workspace import Workspace, register_path


def record_return(
    ws: Workspace,
    team: str,
    form: str,
    doc: dict[str, Any],
    issues: Sequence[Issue] = (),
    received: str = "2027-03-10T09:30:00+00:00",
    cycle: str | None = None,
    name: str | None = None,
) -> int:
    """A file, its submission and which is current; returns the submission's id. Late as
    collect judges it: a late return carries the status.late query."""
    cycle = cycle or ws.cycle
    name = name or f"{team} {form}.xlsx"
    identity = {"team_id": team, "form": form, "form_version": "1.0", "cycle": cycle}
    sha = hashlib.sha256(json.dumps([name, received, doc]).encode()).hexdigest()
    now = dt.datetime.now(dt.UTC).isoformat()
    with Register(register_path(ws)) as reg, reg.transaction():
        file_id = reg.add_file(name, 1, 1, sha, "accepted", "", "", now)
        sub = reg.add_submission(
            file_id,
            sha,
            name,
            identity,
            not any(i.is_error for i in issues),
            doc,
            list(issues),
            received,
            now,
            late=any(i.code == Code.STATUS_LATE for i in issues),
        )
        reg.refresh_current(cycle, team, form)
    return sub
