"""Generate with pre-filling: ms per workbook, and the share of last year's answers carried.

    python benchmarks/prefill_bench.py --teams 200     # bench.py's corpus, a second year
    python benchmarks/prefill_bench.py --demo          # the demo's teams, a second year

Year one is collected, then new-cycle; generate is timed pre-filled and --blank (the same
workbooks, medians of --repeat runs, wall clock on this machine's cores). The share is,
per workbook, the answers carried over the answers the team's last return held (identity
fields left out): what the pack lets carry, minus the dates and logs that belong to a year.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import _cpu, build_corpus

from participation_xl import prefill
from participation_xl.cycle import new_cycle
from participation_xl.demo import run_demo
from participation_xl.generate import generate
from participation_xl.pack import IDENTITY_FIELDS
from participation_xl.pipeline import collect_and_report
from participation_xl.workspace import load_workspace


def shares(root: Path, questions_only: bool = False) -> list[float]:
    """Per return: answers carried / answers it held (`questions_only`: table rows left
    out, so the year's logs do not weigh in)."""
    ws = load_workspace(root)
    _cycle, docs = prefill.previous_returns(ws)
    out = []
    for (_team, form_id), doc in docs.items():
        form = ws.pack.forms[form_id]
        answered = {k: v for k, v in doc.items() if k not in IDENTITY_FIELDS}
        carried = prefill.carried(form, doc)
        if questions_only:
            tables = {t.path for t in form.tables} | {t.carry_from for t in form.tables}
            answered = {k: v for k, v in answered.items() if k not in tables}
            carried = {k: v for k, v in carried.items() if k not in tables}
        had = prefill.count(_answered(answered))
        if had:
            out.append(prefill.count(carried) / had)
    return out


def _answered(doc: Any) -> Any:
    """The document without its blanks (a blank answer is nothing to carry)."""
    if isinstance(doc, dict):
        return {k: _answered(v) for k, v in doc.items() if v not in (None, "", [], {})}
    if isinstance(doc, list):
        return [_answered(v) for v in doc]
    return doc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.demo:
            root = run_demo(Path(tmp) / "demo").workspace.root
        else:
            root, _ = build_corpus(Path(tmp) / "ws", args.teams)
            collect_and_report(load_workspace(root), report=False)
        new_cycle(load_workspace(root), "2027-28", dt.date(2028, 3, 31))
        ws = load_workspace(root)
        times: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        n = 0
        for _ in range(args.repeat):
            for blank in (False, True):
                start, before = time.perf_counter(), _cpu()
                n = len(generate(ws, blank=blank))
                times[blank].append(time.perf_counter() - start)
                cpu[blank].append(_cpu() - before)
        got, questions = shares(root), shares(root, questions_only=True)
    pre, blank_s = (statistics.median(times[b]) * 1000 / n for b in (False, True))
    pre_cpu, blank_cpu = (statistics.median(cpu[b]) * 1000 / n for b in (False, True))
    print(
        f"{n} workbooks; generate pre-filled {pre:.1f} ms/workbook wall "
        f"({pre_cpu:.1f} ms CPU), --blank {blank_s:.1f} ms wall ({blank_cpu:.1f} ms CPU)"
    )
    if got:
        print(
            f"share of last year's answers carried: median {statistics.median(got):.0%}, "
            f"min {min(got):.0%}, max {max(got):.0%} over {len(got)} returns"
        )
        print(
            f"  of answers to questions (tables left out): median "
            f"{statistics.median(questions):.0%}, min {min(questions):.0%}, "
            f"max {max(questions):.0%}"
        )


if __name__ == "__main__":
    main()
