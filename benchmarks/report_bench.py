"""Report time per team on a bench corpus, kept on disk so two versions of the code can be
compared on the same register.

    python benchmarks/report_bench.py --teams 2000 --keep /tmp/pxl-report-2000

The first run builds the corpus (benchmarks/bench.py's roster, workbooks and fills) and
collects it; later runs with the same --keep reuse that register and only time `report`.
To compare with an earlier commit, run the same command with PYTHONPATH pointing at a
checkout of that commit. Figures are printed, never asserted: the machine is noisy.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench import build_corpus

from participation_xl import load_workspace
from participation_xl.collect import collect
from participation_xl.report import write_reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, required=True, help="corpus folder (reused)")
    args = parser.parse_args()
    root = args.keep / "ws"
    if not (root / ".participation").is_dir():
        build_corpus(root, args.teams)
        collect(load_workspace(root))
    ws = load_workspace(root)
    times, cpu = [], []
    for _ in range(max(1, args.repeat)):
        start, start_cpu = time.perf_counter(), time.process_time()
        write_reports(ws)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    per_team = statistics.median(times) / args.teams * 1000
    cpu_team = statistics.median(cpu) / args.teams * 1000
    runs = ", ".join(f"{t:.2f}" for t in times)
    # CPU time is the fairer figure on a shared, busy machine: wall time counts waiting.
    print(
        f"report at N={args.teams}: {per_team:.2f} ms per team wall, {cpu_team:.2f} ms CPU "
        f"(median; wall runs {runs} s)"
    )


if __name__ == "__main__":
    main()
