"""Compares two `voltage_digest` dumps (OGG_DIGEST_DUMP=DIR, one directory per binary).

    python bench/compare_voltage_dumps.py OLD_DIR NEW_DIR

Per feeder / run: the largest |ΔV| in pu over every node (and every step of a series), and
whether the iteration and control-iteration counts of every step are equal.
"""
import pathlib
import sys

import numpy as np


def main(old_dir: str, new_dir: str) -> int:
    old, new = pathlib.Path(old_dir), pathlib.Path(new_dir)
    status = 0
    for a in sorted(old.glob("*.bin")):
        b = new / a.name
        if not b.exists():
            print(f"{a.stem}: missing in {new}")
            status = 1
            continue
        va, vb = np.fromfile(a, dtype="<f8"), np.fromfile(b, dtype="<f8")
        if va.shape != vb.shape:
            print(f"{a.stem}: {va.size} vs {vb.size} values")
            status = 1
            continue
        dv = np.abs((va[0::2] - vb[0::2]) + 1j * (va[1::2] - vb[1::2]))
        ca, cb = a.with_suffix(".counts").read_text(), b.with_suffix(".counts").read_text()
        same_counts = ca == cb
        status |= 0 if same_counts else 1
        identical = va.tobytes() == vb.tobytes()
        print(f"{a.stem}: max |dV| {dv.max() if dv.size else 0.0:.3e} pu over {dv.size} node values"
              f"{' (bit-identical)' if identical else ''}, counts {'equal' if same_counts else 'DIFFER'}")
    return status


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
