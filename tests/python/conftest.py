"""Shared pytest fixtures for the Python tests.

Locations:
* the repository root is two levels above this file;
* reference material (../shared, never shipped) is at <repo root>/../shared, or $OGG_SHARED;
* the `ogg` binary is $OGG_BIN, else <repo root>/target/debug/ogg (then release).
Tests that need one of them skip with a message saying which is missing.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FEEDER_DIR = REPO_ROOT / "crates" / "grid" / "feeders"


def shared_dir() -> Path | None:
    env = os.environ.get("OGG_SHARED")
    path = Path(env) if env else REPO_ROOT.parent / "shared"
    return path if path.is_dir() else None


def ogg_binary() -> Path | None:
    env = os.environ.get("OGG_BIN")
    if env:
        return Path(env) if Path(env).is_file() else None
    for profile in ("debug", "release"):
        exe = REPO_ROOT / "target" / profile / ("ogg.exe" if os.name == "nt" else "ogg")
        if exe.is_file():
            return exe
    return None


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if path is None:
        pytest.skip("reference material ../shared not found (set OGG_SHARED to its path)")
    return path


@pytest.fixture(scope="session")
def ogg_bin() -> Path:
    exe = ogg_binary()
    if exe is None:
        where = os.environ.get("OGG_BIN") or f"{REPO_ROOT / 'target' / 'debug' / 'ogg'}"
        pytest.skip(f"`ogg` binary not found at {where}: build it with `cargo build -p ogg-cli` or set OGG_BIN")
    return exe


@pytest.fixture(scope="session")
def opendss():
    """The live OpenDSS engine (dss-python); skips when it is not installed."""
    dss = pytest.importorskip("dss", reason="dss-python not installed: pip install dss-python")
    return dss.DSS
