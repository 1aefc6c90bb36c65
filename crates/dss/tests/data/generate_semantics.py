# Differential fixture: small scripts exercising the script language, and what
# DSS C-API 0.14.5 (dss-python 0.15.7) reports for chosen properties afterwards.
import json, sys
from dss import DSS as d
T = d.Text

CASES = [
  ("load kW/kvar/pf/kVA interplay", """
New Load.a kW=100
New Load.b kW=100 pf=0.9
New Load.c kW=100 kvar=50
New Load.d kvar=50 kW=100
New Load.e kW=100 kvar=50 pf=0.5
New Load.f kW=100 pf=0.9
~ kvar=10
New Load.g kva=100 pf=0.9
New Load.h kW=10 pf=-0.9
New Load.i kW=10 kvar=-5
New Load.j phases=1 bus1=x.1 kv=0.24 kW=2 pf=0.95 model=8 zipv=[0.2 0.3 0.5 0.2 0.3 0.5 0.8] vminpu=0.9 vmaxpu=1.1 cvrwatts=0.8 cvrvars=3
""", ["load.%s.kw load.%s.kvar load.%s.pf load.%s.kv" % (n, n, n, n) for n in "abcdefghi"] + ["load.j.zipv load.j.vminpu load.j.vmaxpu load.j.cvrwatts load.j.cvrvars load.j.phases load.j.model"]),
  ("positional values and abbreviations", """
New Load.p1 3 x 4.16 50 0.8
New Load.p2 bus1=x kv=1 2 3
New Load.p3 k=5
New Transformer.t1 ph=1 wind=3 XH=3
New Line.l1 x y lineC=
""".replace("lineC=", ""), ["load.p1.phases load.p1.kv load.p1.kw load.p1.pf", "load.p2.kv load.p2.kw load.p2.pf", "load.p3.kv load.p3.kw", "transformer.t1.phases transformer.t1.windings transformer.t1.xhl"]),
  ("transformer winding sequencing and kVA rules", """
New Transformer.k0 wdg=2 kva=50
New Transformer.k1 kva=100 wdg=2 kva=50
New Transformer.k2 wdg=2 kva=50 wdg=1 kva=100
New Transformer.k3 windings=3 wdg=3 kva=20
New Transformer.k4 windings=3 kva=20
New Transformer.k5 phases=1 windings=2 wdg=2 kv=0.24 kva=50 conn=delta %r=0.7 tap=1.05 wdg=1 kv=7.2
New Transformer.k6 kvas=[100 50] kvs=(115, 12.47) %rs=[1 2] taps=[1.0 1.025]
New Transformer.k7 %r=1 %loadloss=3
New Transformer.k8 %loadloss=3 wdg=2 %r=1
New Transformer.k9 wdg=2 maxtap=1.2 mintap=0.8 numtaps=16
""", ["transformer.k%d.kvas" % i for i in range(5)] + ["transformer.k5.kvs transformer.k5.kvas transformer.k5.%rs transformer.k5.taps", "transformer.k6.kvs transformer.k6.kvas transformer.k6.%rs transformer.k6.taps", "transformer.k7.%rs", "transformer.k8.%rs"]),
  ("transformer reactances", """
New Transformer.x0 xlt=9 windings=3
New Transformer.x1 xhl=9 windings=3
New Transformer.x2 windings=3 xscarray=[1 2 3]
New Transformer.x3 windings=3 xscarray=[1 2 3] xhl=4
New Transformer.x4 windings=3 xhl=5 xht=6 xlt=7
New Transformer.x5 xhl=0
New Transformer.x9 xhl=0 xht=0 windings=3
New Transformer.x6 x12=3 X13=4 x23=5 windings=3
New Transformer.x7 windings=3
~ xht=8
New Transformer.x8 windings=4
""", ["transformer.x%d.xscarray" % i for i in range(10)]),
  ("XfmrCode expansion (centre tap) and like", """
New XfmrCode.ct phases=1 windings=3 kvs=[7.2 .12 .12] kvas=[25 25 25] %rs=[0.6 1.2 1.2] conns=[wye wye wye] xhl=2.04 xht=2.04 xlt=1.36 %noloadloss=.2 %imag=.5
New Transformer.t1 xfmrcode=ct buses=[a.1 b.1.0 b.0.2]
New Transformer.t2 like=t1 buses=[a.2 c.1.0 c.0.2] kvs=[7.2 0.12 0.12]
New Transformer.t3 xfmrcode=ct wdg=1 kv=7.62
""", ["transformer.t1.phases transformer.t1.windings transformer.t1.kvs transformer.t1.kvas transformer.t1.%rs transformer.t1.xscarray transformer.t1.%noloadloss transformer.t1.%imag transformer.t1.buses",
      "transformer.t2.kvs transformer.t2.kvas transformer.t2.buses transformer.t2.xscarray", "transformer.t3.kvs transformer.t3.%rs"]),
  ("lines: switch order, line codes, units, direct impedances", """
New LineCode.lc3 nphases=3 r1=0.3 x1=0.6 r0=0.9 x0=1.8 c1=10 c0=5 units=mi normamps=250
New LineCode.lcm nphases=2 rmatrix=[1 | 0.5 1.1] xmatrix=[2 | 1 2.2] cmatrix=[10 | -2 11] units=kft
New LineCode.lc1 nphases=1 rmatrix=(0.5) xmatrix=(0.9) units=km
New LineCode.lcx nphases=3 r1=0.2 rmatrix=[1 | 0.5 1 | 0.5 0.5 1] units=kft
New Line.s1 bus1=sourcebus bus2=b switch=y r1=1e-4 x1=0
New Line.s2 bus1=sourcebus bus2=b r1=1e-4 switch=y
New Line.s3 bus1=sourcebus bus2=b length=5 units=ft switch=y
New Line.c1 bus1=sourcebus bus2=b linecode=lc3 length=2 units=kft
New Line.c2 bus1=sourcebus bus2=b linecode=lc3 length=2 units=kft r1=0.1
New Line.c3 bus1=sourcebus.1.2 bus2=b.1.2 linecode=lcm length=300 units=ft
New Line.c4 bus1=sourcebus.1 bus2=b.1 linecode=lc1 length=0.5
New Line.c5 bus1=sourcebus bus2=b units=kft linecode=lc3 length=3
New Line.c6 bus1=sourcebus bus2=b linecode=lcx length=2 units=mi
New Line.d1 bus1=sourcebus bus2=b r1=0.2 x1=0.4 r0=0.6 x0=1.2 c1=3 c0=1 length=2 units=km
New Line.d2 bus1=sourcebus bus2=b r1=0.2 units=kft length=2
~ units=ft
New Line.d3 bus1=sourcebus.1 bus2=b.1 phases=1 r1=0.2 x1=0.4 c1=3
New Line.d4 bus1=sourcebus.1.2 bus2=b.1.2 phases=2 rmatrix=[1 | 0.5 1] xmatrix=[2 | 1 2]
New Line.d5 bus1=sourcebus bus2=b b1=5 b0=2
New Line.d6 bus1=sourcebus bus2=b linecode=lc3 phases=3 length=1.5
New Line.d7 bus1=sourcebus bus2=b rmatrix=[1 | 0.5 1 | 0.5 0.5 1] r1=2
New Line.d8 bus1=sourcebus bus2=b r1=2 c1=0 c0=0 rmatrix=[1 | 0.5 1 | 0.5 0.5 1]
New Line.d9 bus1=sourcebus bus2=b r1=2
~ rmatrix=[1 | 0.5 1 | 0.5 0.5 1]
New Line.e1 bus1=sourcebus bus2=b enabled=false
New Load.sink bus1=b kW=1
""", ["line.c1.normamps line.c1.linecode line.s3.length line.s3.units line.c3.units line.c3.length", "line.e1.enabled"]),
  ("regressions found by random differential testing", """
New LineCode.sq nphases=3 r1=0.3 x1=0.6 r0=0.9 x0=1.8 c1=10 c0=5 units=mi
New LineCode.mx nphases=3 rmatrix=[0.4 | 0.1 0.4 | 0.1 0.1 0.4] xmatrix=[1 | 0.4 1 | 0.3 0.4 1] cmatrix=[9 | -2 9 | -1 -2 9] units=kft
New Line.u1 bus1=sourcebus bus2=b switch=y
~ units=ft length=2
New Line.u2 bus1=sourcebus bus2=b r1=0.058 units=mi length=2
New Line.u3 bus1=sourcebus bus2=b length=2 switch=y
~ x1=0.3 units=mi linecode=sq
New Line.u4 bus1=sourcebus bus2=b r0=0.5 rmatrix=[1 | 0.5 1 | 0.5 0.5 1] linecode=sq linecode=mx
New Line.u5 bus1=sourcebus bus2=b units=mi units=km units=none
New Line.u6 bus1=sourcebus bus2=b r1=0.2 linecode=mx
New Line.u7 bus1=sourcebus bus2=b linecode=mx c1=3
~ rmatrix=[1 | 0.5 1 | 0.5 0.5 1] linecode=sq length=0.5 rmatrix=[1 | 0.5 1 | 0.5 0.5 1] length=2
New Transformer.w0 windings=3
New Transformer.w1 windings=2 xscarray=[2]
New Transformer.w2 like=w0 xscarray=[1]
New Transformer.w3 windings=3 kvs=[1 2] %r=9
New Transformer.w4 windings=2 %rs=(0.3 0.3) %r=0.01
New Transformer.w5 wdg=2
New Transformer.w6 like=w5 %r=5
New Capacitor.k1 bus1=b states=[0] numsteps=1
New Capacitor.k2 bus1=b numsteps=2 states=[0 1] numsteps=3
New LineCode.p2 nphases=2 rmatrix=[1 2 | 3]
New LineCode.p3 nphases=3 rmatrix=[1 2 4 | 7 3 5 | 9 8 6]
New Line.p1 bus1=sourcebus bus2=b linecode=p2 phases=2 bus1=sourcebus.1.2 bus2=b.1.2
New Line.p4 bus1=sourcebus bus2=b linecode=p3
New Load.sink bus1=b kW=1
""", ["transformer.w0.xscarray transformer.w1.xscarray transformer.w2.xscarray transformer.w3.%rs transformer.w4.%rs transformer.w6.%rs transformer.w3.kvs",
      "capacitor.k1.states"]),
  ("capacitor steps", """
New Capacitor.c1 bus1=x kvar=[100 200]
New Capacitor.c2 bus1=x numsteps=3 kvar=300
New Capacitor.c3 bus1=x kvar=300 numsteps=3
New Capacitor.c4 bus1=x numsteps=3 kvar=[100 200 300] states=[1 0 1]
New Capacitor.c5 bus1=x phases=1 kv=2.4 kvar=50 conn=delta
""", ["capacitor.c%d.kvar capacitor.c%d.states capacitor.c%d.numsteps" % (i, i, i) for i in range(1, 6)] + ["capacitor.c5.kv capacitor.c5.phases"]),
  ("reactor specifications", """
New Reactor.r1 bus1=x phases=1 kv=2.4 kvar=100
New Reactor.r2 bus1=x conn=delta kvar=100
New Reactor.r3 bus1=x phases=1 r=1 x=2 kvar=50
New Reactor.r4 bus1=x phases=1 kvar=50 r=1
New Reactor.r5 bus1=x phases=1 r=1 x=2
New Reactor.r6 bus1=x phases=3 kv=12.47 kvar=300
""", ["reactor.r%d.r reactor.r%d.x" % (i, i) for i in range(1, 7)]),
  ("regcontrol settings", """
New Transformer.t phases=1 windings=2
New RegControl.a transformer=t winding=2 vreg=122 band=2 ptratio=20 ctprim=700 R=3 X=9
New RegControl.b transformer=t winding=2 ptphase=min reversible=yes revvreg=119 revband=2 revr=1 revx=2 vlimit=125 tapwinding=1 maxtapchange=1 delay=30 tapdelay=3
New RegControl.c like=a transformer=t delay=45
""", ["regcontrol.a.winding regcontrol.a.vreg regcontrol.a.band regcontrol.a.ptratio regcontrol.a.ctprim regcontrol.a.r regcontrol.a.x regcontrol.a.tapwinding regcontrol.a.delay",
      "regcontrol.b.ptphase regcontrol.b.reversible regcontrol.b.revvreg regcontrol.b.revband regcontrol.b.revr regcontrol.b.revx regcontrol.b.vlimit regcontrol.b.tapwinding regcontrol.b.maxtapchange regcontrol.b.delay regcontrol.b.tapdelay",
      "regcontrol.c.vreg regcontrol.c.ctprim regcontrol.c.delay regcontrol.c.r"]),
  ("load shapes", """
New LoadShape.s1 npts=4 mult=[1 2 3 4 5 6]
New LoadShape.s3 npts=5 mult=[1 2 3]
New LoadShape.s4 npts=3 sinterval=900 mult=(0.5, 0.6, 0.7) qmult=[0.1 0.2 0.3]
New LoadShape.s5 npts=3 minterval=30 mult=[1 2 3]
""", ["loadshape.s1.npts loadshape.s1.mult", "loadshape.s3.npts loadshape.s3.mult", "loadshape.s4.npts loadshape.s4.mult loadshape.s4.qmult loadshape.s4.interval", "loadshape.s5.interval loadshape.default.npts loadshape.default.mult"]),
  ("in-line RPN and quotes", """
New Load.r1 kW=(2 3 ^) kvar="4 sqrt" kv='1 2 +'
New Load.r2 kW={10 4 -} kv=(16 sqrt 2 *)
New Transformer.t x12=(8 1000 /) taps=[(0.00625 12 * 1 +) 1]
""", ["load.r1.kw load.r1.kvar load.r1.kv", "load.r2.kw load.r2.kv", "transformer.t.xhl transformer.t.taps"]),
  ("sources", """
New Vsource.v1 bus1=a basekv=12.47 pu=1.02 angle=-30 phases=3 mvasc3=100 mvasc1=90
New Vsource.v2 bus1=a isc3=5000 isc1=4000
New Vsource.v3 bus1=a r1=1 x1=2 r0=3 x0=4
New Vsource.v4 bus1=a z1=[0.5 1.5] z0=[1 3]
""", ["vsource.v1.basekv vsource.v1.pu vsource.v1.angle vsource.v1.mvasc3 vsource.v1.mvasc1", "vsource.v2.isc3 vsource.v2.isc1", "vsource.v3.r1 vsource.v3.x1 vsource.v3.r0 vsource.v3.x0", "vsource.v4.r1 vsource.v4.x1 vsource.v4.r0 vsource.v4.x0"]),
]

out = []
for title, script, queries in CASES:
    T.Command = "clear"
    T.Command = "new circuit.fixture"
    for line in script.strip().splitlines():
        try:
            T.Command = line
        except Exception as e:
            raise SystemExit(f"{title}: {line}: {e}")
    results = {}
    lines = {}
    if "New Line." in script:
        import numpy as np
        try:
            T.Command = "solve"
        except Exception:
            pass
        L = d.ActiveCircuit.Lines
        i = L.First
        while i:
            n = L.Phases
            y = np.array(d.ActiveCircuit.ActiveCktElement.Yprim)
            if y.size:
                y = (y[0::2] + 1j * y[1::2]).reshape(2 * n, 2 * n)
                yser = -y[:n, n:]
                z = np.linalg.inv(yser) if abs(np.linalg.det(yser)) > 0 else np.zeros((n, n))
                c_nf = (y[:n, :n] - yser).imag * 2 / (2 * np.pi * 60) * 1e9
                lines[L.Name] = {"phases": n, "z_re": z.real.flatten().tolist(), "z_im": z.imag.flatten().tolist(), "c_total_nf": c_nf.flatten().tolist()}
            i = L.Next
    for group in queries:
        for q in group.split():
            T.Command = "? " + q
            results[q] = T.Result
    out.append({"title": title, "script": "new circuit.fixture\n" + script.strip() + "\n", "expect": results, "line_totals": lines})
json.dump({"generator": "dss-python 0.15.7 (DSS C-API 0.14.5), crates/dss/tests/data/README.md", "cases": out}, open(sys.argv[1], "w"), indent=1)
print(sum(len(c["expect"]) for c in out), "values")
