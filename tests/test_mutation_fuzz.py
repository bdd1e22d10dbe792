"""Mutation fuzz of real returns: every mutation ends with an outcome, never a crash.

Bounded in CI; run longer with PXL_FUZZ_EXAMPLES=2000 pytest tests/test_mutation_fuzz.py.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import sys

import pytest
from hostile_corpus import parts_of, zip_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from participation_xl import init_workspace
from participation_xl.examine import validate_files
from participation_xl.generate import generate, issued_form
from participation_xl.register import Register
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.status import status
from participation_xl.workspace import register_path

EXAMPLES = int(os.environ.get("PXL_FUZZ_EXAMPLES", "40"))
OUTCOMES = {"accepted", "rejected", "pending"}


@pytest.fixture(scope="module")
def seed_return(tmp_path_factory):
    ws = init_workspace(
        tmp_path_factory.mktemp("fuzz") / "ws", "Council", "2026-27", dt.date(2027, 3, 31)
    )
    issued = {issued_form(ws, p)[1]: p for p in generate(ws, team_ids=["ADV1"])}
    form = ws.pack.forms["six-standards"]
    path = fill_workbook(
        issued["six-standards"], ws.root / "seed.xlsx", sample_answers(form, random.Random(4)), form
    )
    return ws, path.read_bytes()


def mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    if kind == "cut":
        return data[: rng.randrange(len(data))]
    parts = parts_of(data)
    name = rng.choice(sorted(parts))
    if kind == "delete":
        del parts[name]
    elif kind == "truncate_xml":
        parts[name] = parts[name][: rng.randrange(len(parts[name]) + 1)]
    else:  # replace a part with random bytes
        parts[name] = rng.randbytes(rng.randint(0, 2048))
    return zip_of(parts)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["flip", "cut", "delete", "truncate_xml", "random_part"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_mutation_ends_with_an_outcome(seed_return, tmp_path_factory, kind, seed):
    ws, data = seed_return
    path = tmp_path_factory.mktemp("m") / f"{kind}.xlsx"
    path.write_bytes(mutate(data, kind, random.Random(seed)))
    [(_, examined)] = validate_files(ws, [str(path)])
    assert examined.outcome in OUTCOMES
    if examined.outcome != "accepted":
        assert examined.reason and "Traceback" not in examined.reason


def test_collect_survives_a_folder_of_mutations_and_keeps_the_good_return(seed_return, tmp_path):
    ws, data = seed_return
    rng = random.Random(7)
    shutil.rmtree(ws.returns_dir)
    ws.returns_dir.mkdir()
    (ws.returns_dir / "good.xlsx").write_bytes(data)
    for n in range(30):
        kind = ["flip", "cut", "delete", "truncate_xml", "random_part"][n % 5]
        (ws.returns_dir / f"{n:02d}-{kind}.xlsx").write_bytes(mutate(data, kind, rng))
    code = (
        "import sys; from participation_xl import load_workspace; "
        "from participation_xl.collect import collect; "
        "s = collect(load_workspace(sys.argv[1])); print(sum(s.seen.values()))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(ws.root)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert int(run.stdout.split()[-1]) == 31  # every file has an outcome
    with Register(register_path(ws)) as reg:
        doc = status(ws, reg)
    files = {f["path"]: f["outcome"] for f in doc["files"]}
    assert files["good.xlsx"] == "accepted"
    row = next(t for t in doc["teams"] if t["team_id"] == "ADV1" and t["form"] == "six-standards")
    assert row["status"] == "valid"
