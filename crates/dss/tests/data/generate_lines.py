# Writes every line's data as DSS C-API 0.14.5 reports it (per unit of the line's own length unit).
from dss import DSS as d
import os, sys
SHARED = os.environ.get("OGG_SHARED", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../../shared"))
masters = ["ieee13/IEEE13Nodeckt.dss", "ieee34/ieee34Mod1.dss", "ieee34/ieee34Mod2.dss",
           "ieee34_opengridgym/ieee34Mod1.dss", "ieee37/ieee37.dss"]
out = open(sys.argv[1], "w")
out.write("# Generated with dss-python 0.15.7 (DSS C-API 0.14.5) from ../shared/feeders: every line as OpenDSS holds it\n")
out.write("# after compiling the master. Matrices are per unit of the line's own length unit, row-major, space-separated.\n")
out.write("master,line,phases,length,units,linecode,rmatrix,xmatrix,cmatrix_nf\n")
fmt = lambda v: " ".join(repr(float(x)) for x in v)
for m in masters:
    d.Text.Command = "clear"
    d.Text.Command = f"compile {SHARED}/feeders/{m}"
    L = d.ActiveCircuit.Lines
    i = L.First
    while i:
        out.write(f"{m},{L.Name},{L.Phases},{L.Length!r},{L.Units},{L.LineCode},{fmt(L.Rmatrix)},{fmt(L.Xmatrix)},{fmt(L.Cmatrix)}\n")
        i = L.Next
