"""The README's Python example runs as written (keeps the README true)."""

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_example_runs(tmp_path, capsys):
    blocks = python_blocks()
    assert blocks, "README has no python example"
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for code in blocks:
            exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    finally:
        os.chdir(cwd)
    lines = capsys.readouterr().out.split()
    # 24 grid steps printed, and the records written with one row per agent and step.
    assert "23" in lines
    rows = (tmp_path / "records.csv").read_text().splitlines()
    assert rows[0].startswith("time_s,grid_step,market_round,agent")
    assert len(rows) == 1 + 24 * 5
