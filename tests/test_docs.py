"""The CLI reference in docs/cli.md is generated from --help, and must stay current.

Regenerate it with: python tests/test_docs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

from participation_xl.cli import main

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name in sorted(group.commands):
        cmd = group.commands[name]
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


def render() -> str:
    runner = CliRunner()
    parts = [
        "# Command-line reference",
        "",
        "Generated from `--help` by `python tests/test_docs.py`; do not edit by hand.",
        "",
    ]
    for path in [(), *_commands(main)]:
        result = runner.invoke(
            main, [*path, "--help"], prog_name="participation-xl", terminal_width=100
        )
        title = " ".join(("participation-xl", *path))
        parts += [f"## `{title}`", "", "```", result.output.rstrip(), "```", ""]
    return "\n".join(parts)


def test_cli_reference_is_current():
    assert DOC.read_text(encoding="utf-8") == render(), "run: python tests/test_docs.py"


if __name__ == "__main__":
    DOC.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {DOC}\n")
