"""Opt-in: the IEEE 123-bus and 8500-node feeders (not in the repository) against OpenDSS.

Set $OGG_EXTERNAL_FEEDERS to a folder holding ieee123/IEEE123Master.dss,
ieee8500/Master.dss and/or ieee13geom/IEEE13_LineAndCableSpacing.dss (IEEE 13 with
cables from CNData/TSData); each present master is compiled and solved by OpenDSS (dss-python)
and by `ogg powerflow`, at the script's tolerance and re-solved at 1e-10, and must give the
same convergence, iteration and control-iteration counts, taps, capacitor states, and node
voltages within 1e-6 pu at 1e-10 (bench/compare_external_feeders.py does the work).
Skips with a message when the variable, a feeder, dss-python or the `ogg` binary is missing.
"""
from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT, ogg_binary

SCRIPT = REPO_ROOT / "bench" / "compare_external_feeders.py"
spec = importlib.util.spec_from_file_location("compare_external_feeders", SCRIPT)
compare_external = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_external)


@pytest.mark.parametrize("name", sorted(compare_external.KNOWN))
def test_external_feeder_matches_opendss(name: str) -> None:
    root = os.environ.get("OGG_EXTERNAL_FEEDERS")
    if not root:
        pytest.skip("OGG_EXTERNAL_FEEDERS is not set (folder with ieee123/ and ieee8500/)")
    master = Path(root) / compare_external.KNOWN[name]
    if not master.is_file():
        pytest.skip(f"{master} not found")
    dss = pytest.importorskip("dss").DSS
    binary = ogg_binary()
    if binary is None:
        pytest.skip("the ogg binary is not built (cargo build -p ogg-cli) and OGG_BIN is unset")
    with tempfile.TemporaryDirectory() as tmp:
        for tight in (False, True):
            ref = compare_external.opendss_state(dss, master.resolve(), tight)
            ours = compare_external.our_state(binary, master.resolve(), tight, Path(tmp) / str(tight))
            problems = compare_external.compare(name, ref, ours, 1e-6 if tight else 1e-3)
            assert not problems, f"{name} ({'1e-10' if tight else 'script tolerance'}): {problems}"
