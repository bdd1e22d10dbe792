"""Shared fixtures: a fresh workspace per test, built through the public API."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from participation_xl import init_workspace, load_pack
from participation_xl.generate import generate
from participation_xl.pack import builtin_pack_dir

pytest_plugins = ["libreoffice"]

DUE = dt.date(2027, 3, 31)


@pytest.fixture(scope="session")
def pack():
    return load_pack()


@pytest.fixture
def workspace(tmp_path: Path):
    return init_workspace(tmp_path / "ws", "Bath and North East Somerset Council", "2026-27", DUE)


@pytest.fixture(scope="session")
def issued(tmp_path_factory):
    """One workspace with the starter roster's workbooks generated, shared read-only."""
    root = tmp_path_factory.mktemp("issued") / "ws"
    ws = init_workspace(root, "Bath and North East Somerset Council", "2026-27", DUE)
    paths = generate(ws)
    return ws, paths


@pytest.fixture
def pack_copy(tmp_path: Path) -> Path:
    """A copy of the built-in pack to edit as a council would."""
    src = builtin_pack_dir()
    for sub in ("schemas", "workbook_templates"):
        shutil.copytree(src / sub, tmp_path / sub)
    return tmp_path
