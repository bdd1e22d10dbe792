"""The README's test command checks types too: mypy, strict, as configured in pyproject.toml."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_errors():
    # No arguments: [tool.mypy] names the files and the strictness, so this is the same
    # check a developer runs with a bare `mypy`: about 4 s cold on an idle 2-core machine,
    # under 1 s with its cache (.mypy_cache/, git-ignored).
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_strict_on_the_package():
    # A relaxation is made per module in [[tool.mypy.overrides]], with a comment saying why;
    # the package-wide switches stay on.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["strict"] is True
    assert config["files"] == ["participation_xl"]
