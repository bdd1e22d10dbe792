"""Collect, then report: the steps the `collect` command runs in turn.

collect.py records the returns and report.py writes the reports from the register; neither
calls the other. This module runs them one after the other for the API (and so the command
line) and the demo, in one hold of the workspace's run lock, so no other run can come
between the register a collect left and the reports written from it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .collect import Summary, collect_locked
from .errors import ParticipationError
from .report import write_reports
from .workspace import Workspace, returns_folder, run_lock

# The name outputs.atomic_write_bytes gives a report it wrote beside the usual file, when
# that file was locked (open in Excel): "register (20270401-093000).xlsx".
_BESIDE = re.compile(r" \(\d{8}-\d{6}\)$")


@dataclass
class Collected(Summary):
    """A collect run's summary, and the reports written after it."""

    reports: list[Path] = field(default_factory=list)
    # Why the reports could not be written (the register was: every return is recorded).
    report_error: str = ""


@dataclass(frozen=True)
class Written:
    """The reports written, and messages for the coordinator (a review workbook that
    could not be read, an email draft that could not be made)."""

    paths: list[Path]
    warnings: list[str]


def written_beside(path: Path) -> bool:
    """Whether a report went beside its usual file, which was locked (open in Excel?)."""
    return bool(_BESIDE.search(path.stem))


def collect_and_report(
    ws: Workspace,
    folder: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    recheck: bool = False,
    report: bool = True,
) -> Collected:
    """Collect the returns, then (unless `report` is False) rewrite every report.

    A report that cannot be written does not undo the collect: the register is committed,
    so the problem is kept in `report_error` and the summary is still returned."""
    source = returns_folder(ws, folder)
    with run_lock(ws):
        done = Collected(**vars(collect_locked(ws, source, progress, recheck)))
        if report:
            try:
                done.reports = write_reports(ws, warnings=done.warnings)
            except ParticipationError as err:  # the register is committed: say both
                done.report_error = str(err)
    return done


def rewrite_reports(ws: Workspace, today: dt.date | None = None) -> Written:
    """Rewrite every report from the register (the `report` command), under the run lock."""
    warnings: list[str] = []
    with run_lock(ws):
        paths = write_reports(ws, today=today, warnings=warnings)
    return Written(paths, warnings)
