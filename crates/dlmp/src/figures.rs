//! UC3's figures as SVG (built on `ogg_market::svg`): the DLMP map on the
//! feeder's bus coordinates (the paper's Fig. 10), DLMPs over the day, the
//! decomposition, model voltages against the AC power flow, the strategic
//! experiments and the dispatch.

use std::fmt::Write as _;

use ogg_market::svg::{self, Panel, PALETTE};

use crate::network::DlmpNetwork;
use crate::opf::{DlmpSolution, Formulation};
use crate::uc3::{Experiment, Uc3Config, Uc3Feeder, Uc3Results};

/// Buses from the root to the electrically farthest bus (largest Σ r).
pub fn path_to_far_end(net: &DlmpNetwork) -> Vec<usize> {
    let mut dist = vec![0.0; net.len()];
    for &i in &net.tree.order {
        if let Some(p) = net.parent(i) {
            dist[i] = dist[p] + net.r_pu[i];
        }
    }
    let far = (0..net.len())
        .max_by(|&a, &b| dist[a].total_cmp(&dist[b]))
        .unwrap_or(0);
    net.path(far)
}

/// A perceptually ordered colour scale (viridis-like), t ∈ [0, 1].
pub fn color(t: f64) -> String {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let k = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    format!(
        "rgb({:.0},{:.0},{:.0})",
        a.0 + (b.0 - a.0) * f,
        a.1 + (b.1 - a.1) * f,
        a.2 + (b.2 - a.2) * f
    )
}

fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    svg::ticks(lo, hi, n)
}

/// An hour axis over [0, n] with a tick every 3 intervals (or fewer for long days).
fn hour_axis(n: usize) -> (f64, Vec<f64>) {
    let n = n.max(2);
    let step = if n <= 24 { 3 } else { n.div_ceil(8) };
    (n as f64, (0..=n).step_by(step).map(|h| h as f64).collect())
}

#[allow(clippy::too_many_arguments)]
/// One map panel: lines grey (congested: red), buses coloured by DLMP on [lo, hi].
fn map_panel(
    net: &DlmpNetwork,
    sol: &DlmpSolution,
    title: &str,
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    lo: f64,
    hi: f64,
) -> Panel {
    let pts: Vec<(f64, f64)> = net.coords.iter().flatten().copied().collect();
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in &pts {
        xmin = xmin.min(x);
        xmax = xmax.max(x);
        ymin = ymin.min(y);
        ymax = ymax.max(y);
    }
    if pts.is_empty() {
        (xmin, xmax, ymin, ymax) = (0.0, 1.0, 0.0, 1.0);
    }
    // Keep the aspect ratio of the feeder drawing.
    let (dx, dy) = ((xmax - xmin).max(1e-9), (ymax - ymin).max(1e-9));
    let scale = (w / dx).min(h / dy);
    let (cx, cy) = ((xmin + xmax) / 2.0, (ymin + ymax) / 2.0);
    let (hw, hh) = (w / scale / 2.0 * 1.08, h / scale / 2.0 * 1.08);
    let mut p = Panel::new(x0, y0, w, h, (cx - hw, cx + hw), (cy - hh, cy + hh));
    p.text(x0 + w / 2.0, y0 - 6.0, title, 12.0, "middle");
    for e in net.edges() {
        let (Some(a), Some(b)) = (net.coords[net.tree.parent[e]], net.coords[e]) else {
            continue;
        };
        let congested = sol.is_optimal() && sol.congestion_dual[e].abs() > 1e-6;
        let (c, wd) = if congested {
            (PALETTE[1], 4.0)
        } else {
            ("#999999", 2.0)
        };
        p.polyline(&[a, b], c, wd, false);
    }
    for i in 0..net.len() {
        let Some((x, y)) = net.coords[i] else {
            continue;
        };
        let v = sol.dlmp[i];
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        p.dot(x, y, &color(t), 5.0);
        p.text(p.px(x) + 6.0, p.py(y) + 3.0, net.bus_name(i), 7.0, "start");
    }
    p
}

fn colorbar(x: f64, y: f64, h: f64, lo: f64, hi: f64, label: &str) -> String {
    let mut s = String::new();
    let steps = 40;
    for k in 0..steps {
        let t = k as f64 / (steps - 1) as f64;
        let yy = y + h - (k + 1) as f64 * h / steps as f64;
        let _ = writeln!(s, "<rect x=\"{x:.1}\" y=\"{yy:.1}\" width=\"14\" height=\"{:.2}\" fill=\"{}\" stroke=\"none\"/>", h / steps as f64 + 0.5, color(t));
    }
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        let yy = y + h - h * k as f64 / 4.0;
        let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" font-family=\"sans-serif\">{v:.1}</text>", x + 18.0, yy + 3.0);
    }
    let _ = writeln!(
        s,
        "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" font-family=\"sans-serif\">{label}</text>",
        y - 8.0
    );
    s
}

/// The paper's Fig. 10: DLMP at every bus on the feeder's coordinates, for
/// each formulation at the peak map hour and the market formulation at the first one.
pub fn dlmp_map(cfg: &Uc3Config, feeder: &Uc3Feeder, res: &Uc3Results) -> String {
    let Some(run) = res.experiment(Experiment::Truthful) else {
        return svg::document(100.0, 100.0, &[], "");
    };
    let hours: Vec<usize> = if cfg.map_hours.is_empty() {
        vec![0]
    } else {
        cfg.map_hours.clone()
    };
    let peak = *hours.iter().max().unwrap_or(&0);
    let mut maps: Vec<(String, &DlmpSolution)> = Vec::new();
    for &h in hours.iter().filter(|&&h| h != peak) {
        if let Some(r) = run.run(h, res.formulations[0]) {
            maps.push((
                format!(
                    "{} — hour {h} (LMP {:.0} $/MWh)",
                    res.formulations[0],
                    cfg.lmp[h % cfg.day_len()]
                ),
                &r.solution,
            ));
        }
    }
    for &f in &res.formulations {
        if let Some(r) = run.run(peak, f) {
            maps.push((
                format!(
                    "{f} — hour {peak} (LMP {:.0} $/MWh)",
                    cfg.lmp[peak % cfg.day_len()]
                ),
                &r.solution,
            ));
        }
    }
    map_figure(
        &feeder.network,
        &maps,
        &format!(
            "DLMP at every bus of {} (truthful offers); red lines are congested",
            cfg.feeder
        ),
    )
}

/// DLMP maps at the peak map hour in each experiment (market formulation).
pub fn dlmp_map_strategic(cfg: &Uc3Config, feeder: &Uc3Feeder, res: &Uc3Results) -> String {
    let peak = cfg.map_hours.iter().copied().max().unwrap_or(0);
    let f = res.formulations[0];
    let maps: Vec<(String, &DlmpSolution)> = res
        .experiments
        .iter()
        .filter_map(|run| {
            run.run(peak, f).map(|r| {
                (
                    format!("{} — {f}, hour {peak}", run.experiment.label()),
                    &r.solution,
                )
            })
        })
        .collect();
    map_figure(
        &feeder.network,
        &maps,
        &format!(
            "DLMP at every bus of {} at hour {peak}: truthful vs strategic cost curves",
            cfg.feeder
        ),
    )
}

fn map_figure(net: &DlmpNetwork, maps: &[(String, &DlmpSolution)], heading: &str) -> String {
    let all: Vec<f64> = maps
        .iter()
        .flat_map(|(_, s)| s.dlmp.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min).floor();
    let hi = all
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
        .ceil()
        .max(lo + 1.0);
    let (w, h) = (300.0, 340.0);
    let cols = maps.len().clamp(1, 3);
    let panels: Vec<Panel> = maps
        .iter()
        .enumerate()
        .map(|(k, (title, s))| {
            let (c, r) = (k % cols, k / cols);
            map_panel(
                net,
                s,
                title,
                20.0 + c as f64 * (w + 30.0),
                50.0 + r as f64 * (h + 50.0),
                w,
                h,
                lo,
                hi,
            )
        })
        .collect();
    let rows = maps.len().div_ceil(cols).max(1);
    let width = 20.0 + cols as f64 * (w + 30.0) + 80.0;
    let height = 50.0 + rows as f64 * (h + 50.0);
    let mut extra = colorbar(width - 85.0, 70.0, 260.0, lo, hi, "DLMP $/MWh");
    let _ = writeln!(
        extra,
        "<text x=\"20\" y=\"20\" font-size=\"13\" font-family=\"sans-serif\">{heading}</text>"
    );
    svg::document(width, height, &panels, &extra)
}

/// DLMPs over the day: the LMP and, per experiment, the band min–max of the market formulation's DLMPs.
pub fn dlmp_by_hour(cfg: &Uc3Config, res: &Uc3Results) -> String {
    let n = cfg.day_len();
    let (xmax, xticks) = hour_axis(n);
    let mut hi: f64 = cfg.lmp.iter().copied().fold(0.0, f64::max);
    for run in &res.experiments {
        for iv in &run.intervals {
            if let Some(r) = iv.runs.first().filter(|r| r.solution.is_optimal()) {
                hi = hi.max(r.solution.dlmp.iter().copied().fold(0.0, f64::max));
            }
        }
    }
    let top = (hi * 1.1 / 10.0).ceil() * 10.0;
    let mut p = Panel::new(70.0, 40.0, 640.0, 330.0, (0.0, xmax), (0.0, top));
    p.axes(
        &format!(
            "DLMPs over the day ({}; band = min–max over the buses)",
            res.formulations[0]
        ),
        "hour",
        "$/MWh",
        &xticks,
        &nice_ticks(0.0, top, 5),
    );
    let mut legend = String::new();
    for (k, run) in res.experiments.iter().enumerate() {
        let c = PALETTE[[0, 3, 2][k % 3]];
        let mut xs = Vec::new();
        let mut lo_v = Vec::new();
        let mut hi_v = Vec::new();
        let mut mean = Vec::new();
        for iv in &run.intervals {
            if let Some(r) = iv.runs.first().filter(|r| r.solution.is_optimal()) {
                let d = &r.solution.dlmp;
                xs.push(iv.hour as f64);
                lo_v.push(d.iter().copied().fold(f64::INFINITY, f64::min));
                hi_v.push(d.iter().copied().fold(f64::NEG_INFINITY, f64::max));
                mean.push(d.iter().sum::<f64>() / d.len() as f64);
            }
        }
        if !xs.is_empty() {
            p.band(&xs, &lo_v, &hi_v, c);
            p.polyline(
                &xs.iter()
                    .copied()
                    .zip(hi_v.iter().copied())
                    .collect::<Vec<_>>(),
                c,
                1.5,
                false,
            );
            p.polyline(
                &xs.iter()
                    .copied()
                    .zip(mean.iter().copied())
                    .collect::<Vec<_>>(),
                c,
                1.0,
                true,
            );
        }
        let _ = writeln!(legend, "<rect x=\"730\" y=\"{}\" width=\"14\" height=\"10\" fill=\"{c}\" fill-opacity=\"0.5\"/><text x=\"750\" y=\"{}\" font-size=\"11\" font-family=\"sans-serif\">{} (max solid, mean dashed)</text>", 60 + 18 * k, 69 + 18 * k, run.experiment.label());
    }
    let lmp: Vec<(f64, f64)> = cfg
        .lmp
        .iter()
        .enumerate()
        .map(|(h, &v)| (h as f64, v))
        .collect();
    p.polyline(&lmp, "black", 2.0, false);
    let _ = writeln!(legend, "<rect x=\"730\" y=\"{}\" width=\"14\" height=\"3\" fill=\"black\"/><text x=\"750\" y=\"{}\" font-size=\"11\" font-family=\"sans-serif\">LMP at the substation</text>", 60 + 18 * 3 + 3, 69 + 18 * 3);
    svg::document(1000.0, 420.0, &[p], &legend)
}

/// Stacked DLMP components along the path to the far end at the peak hour, one panel per branch formulation.
pub fn decomposition(cfg: &Uc3Config, feeder: &Uc3Feeder, res: &Uc3Results) -> String {
    let net = &feeder.network;
    let Some(run) = res.experiment(Experiment::Truthful) else {
        return svg::document(100.0, 100.0, &[], "");
    };
    let peak = cfg.map_hours.iter().copied().max().unwrap_or(0);
    let path: Vec<usize> = path_to_far_end(net)
        .into_iter()
        .filter(|&b| b != net.root())
        .collect();
    let forms: Vec<Formulation> = res.formulations.clone();
    let mut panels = Vec::new();
    let mut extra = String::new();
    let (w, h) = (300.0, 300.0);
    for (k, &f) in forms.iter().enumerate() {
        let Some(r) = run.run(peak, f).filter(|r| r.solution.is_optimal()) else {
            continue;
        };
        let s = &r.solution;
        let d = &s.decomposition;
        let top = path
            .iter()
            .map(|&b| d.congestion[b].max(0.0) + d.voltage[b].max(0.0) + d.loss[b].max(0.0))
            .fold(0.0, f64::max);
        let bottom = path
            .iter()
            .map(|&b| d.congestion[b].min(0.0) + d.voltage[b].min(0.0) + d.loss[b].min(0.0))
            .fold(0.0, f64::min);
        let (ylo, yhi) = ((bottom * 1.1).floor(), (top * 1.1).ceil().max(1.0));
        let x0 = 70.0 + k as f64 * (w + 60.0);
        let mut p = Panel::new(x0, 40.0, w, h, (0.0, path.len() as f64), (ylo, yhi));
        p.axes(
            &format!("{f}, hour {peak} (energy {:.2} $/MWh)", d.energy),
            "",
            "DLMP − energy, $/MWh",
            &[],
            &nice_ticks(ylo, yhi, 5),
        );
        let bw = w / path.len() as f64 * 0.7;
        for (i, &b) in path.iter().enumerate() {
            let (mut up, mut down) = (0.0, 0.0);
            for (v, c) in [
                (d.congestion[b], PALETTE[1]),
                (d.voltage[b], PALETTE[0]),
                (d.loss[b], PALETTE[2]),
            ] {
                let (a, z) = if v >= 0.0 {
                    let r = (up, up + v);
                    up += v;
                    r
                } else {
                    let r = (down + v, down);
                    down += v;
                    r
                };
                let (ya, yz) = (p.py(z), p.py(a));
                let xl = p.px(i as f64 + 0.5) - bw / 2.0;
                let _ = writeln!(extra, "<rect x=\"{xl:.1}\" y=\"{ya:.1}\" width=\"{bw:.1}\" height=\"{:.2}\" fill=\"{c}\"/>", (yz - ya).max(0.0));
            }
            let _ = writeln!(
                extra,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"8\" font-family=\"sans-serif\" text-anchor=\"end\" transform=\"rotate(-60 {:.1} {:.1})\">{}</text>",
                p.px(i as f64 + 0.5),
                40.0 + h + 12.0,
                p.px(i as f64 + 0.5),
                40.0 + h + 12.0,
                net.bus_name(b)
            );
            p.dot(i as f64 + 0.5, s.dlmp[b] - d.energy, "black", 2.0);
        }
        panels.push(p);
    }
    let width = 70.0 + forms.len() as f64 * (w + 60.0);
    for (k, (name, c)) in [
        ("congestion", PALETTE[1]),
        ("voltage", PALETTE[0]),
        ("loss", PALETTE[2]),
        ("DLMP − energy (dot)", "black"),
    ]
    .iter()
    .enumerate()
    {
        let x = 70.0 + k as f64 * 110.0;
        let _ = writeln!(extra, "<rect x=\"{x}\" y=\"385\" width=\"12\" height=\"10\" fill=\"{c}\"/><text x=\"{}\" y=\"394\" font-size=\"11\" font-family=\"sans-serif\">{name}</text>", x + 16.0);
    }
    let _ = writeln!(extra, "<text x=\"70\" y=\"18\" font-size=\"13\" font-family=\"sans-serif\">DLMP components beyond energy, from the substation to the far end (truthful offers)</text>");
    svg::document(width, 410.0, &panels, &extra)
}

/// Model voltages against the AC power flow of each model's dispatch, along the path to the far end.
pub fn voltage_vs_ac(cfg: &Uc3Config, feeder: &Uc3Feeder, res: &Uc3Results) -> String {
    let net = &feeder.network;
    let Some(run) = res.experiment(Experiment::Truthful) else {
        return svg::document(100.0, 100.0, &[], "");
    };
    let peak = cfg.map_hours.iter().copied().max().unwrap_or(0);
    let path: Vec<usize> = path_to_far_end(net)
        .into_iter()
        .filter(|&b| b != net.root())
        .collect();
    // (label, points, colour, dashed)
    type Line<'a> = (String, Vec<(f64, f64)>, &'a str, bool);
    let mut lines: Vec<Line> = Vec::new();
    for (k, &f) in res.formulations.iter().enumerate() {
        let Some(r) = run.run(peak, f).filter(|r| r.solution.is_optimal()) else {
            continue;
        };
        let c = PALETTE[k % PALETTE.len()];
        lines.push((
            format!("{f} model"),
            path.iter()
                .enumerate()
                .map(|(i, &b)| (i as f64, r.solution.voltage_pu[b]))
                .collect(),
            c,
            false,
        ));
        if let Some(ac) = r.ac.as_ref().filter(|a| a.error.is_none()) {
            lines.push((
                format!("AC of {f} dispatch"),
                path.iter()
                    .enumerate()
                    .map(|(i, &b)| (i as f64, ac.voltage_pu[b]))
                    .collect(),
                c,
                true,
            ));
        }
    }
    let vals: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .collect();
    let lo = (vals.iter().copied().fold(cfg.v_min_pu, f64::min) * 100.0).floor() / 100.0 - 0.01;
    let hi =
        (vals.iter().copied().fold(cfg.v_max_pu.min(1.06), f64::max) * 100.0).ceil() / 100.0 + 0.01;
    let xmax = (path.len().max(2) - 1) as f64;
    let mut p = Panel::new(70.0, 40.0, 560.0, 320.0, (0.0, xmax), (lo, hi));
    p.axes(
        &format!("Voltage along the feeder at hour {peak}: models vs the AC power flow"),
        "bus (substation → far end)",
        "voltage, pu",
        &[],
        &nice_ticks(lo, hi, 5),
    );
    let mut extra = String::new();
    for (i, &b) in path.iter().enumerate() {
        let _ = writeln!(extra, "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"8\" font-family=\"sans-serif\" text-anchor=\"middle\">{}</text>", p.px(i as f64), 372.0, net.bus_name(b));
    }
    p.polyline(
        &[(0.0, cfg.v_min_pu), (xmax, cfg.v_min_pu)],
        "#bbbbbb",
        1.0,
        true,
    );
    for (k, (name, pts, c, dash)) in lines.iter().enumerate() {
        p.polyline(pts, c, 1.8, *dash);
        let _ = writeln!(
            extra,
            "<line x1=\"650\" y1=\"{y}\" x2=\"672\" y2=\"{y}\" stroke=\"{c}\" stroke-width=\"2\"{}/><text x=\"678\" y=\"{}\" font-size=\"11\" font-family=\"sans-serif\">{name}</text>",
            if *dash { " stroke-dasharray=\"4,3\"" } else { "" },
            60 + 16 * k + 4,
            y = 60 + 16 * k
        );
    }
    svg::document(880.0, 400.0, &[p], &extra)
}

/// Strategic behaviour: DLMP at the far end by hour in each experiment, and the learners' progress.
pub fn strategic(cfg: &Uc3Config, feeder: &Uc3Feeder, res: &Uc3Results) -> String {
    let net = &feeder.network;
    let far = *path_to_far_end(net).last().unwrap_or(&0);
    let n = cfg.day_len();
    let (xmax, xticks) = hour_axis(n);
    let mut top: f64 = cfg.lmp.iter().copied().fold(0.0, f64::max);
    for run in &res.experiments {
        for iv in &run.intervals {
            if let Some(r) = iv.runs.first().filter(|r| r.solution.is_optimal()) {
                top = top.max(r.solution.dlmp[far]);
            }
        }
    }
    let top = (top * 1.1 / 10.0).ceil() * 10.0;
    let mut left = Panel::new(70.0, 40.0, 420.0, 300.0, (0.0, xmax), (0.0, top));
    left.axes(
        &format!(
            "DLMP at bus {} (far end), {}",
            net.bus_name(far),
            res.formulations[0]
        ),
        "hour",
        "$/MWh",
        &xticks,
        &nice_ticks(0.0, top, 5),
    );
    left.polyline(
        &cfg.lmp
            .iter()
            .enumerate()
            .map(|(h, &v)| (h as f64, v))
            .collect::<Vec<_>>(),
        "black",
        1.5,
        true,
    );
    let mut extra = String::new();
    for (k, run) in res.experiments.iter().enumerate() {
        let c = PALETTE[[0, 3, 2][k % 3]];
        let pts: Vec<(f64, f64)> = run
            .intervals
            .iter()
            .filter_map(|iv| {
                iv.runs
                    .first()
                    .filter(|r| r.solution.is_optimal())
                    .map(|r| (iv.hour as f64, r.solution.dlmp[far]))
            })
            .collect();
        left.polyline(&pts, c, 2.0, false);
        let _ = writeln!(extra, "<line x1=\"80\" y1=\"{y}\" x2=\"100\" y2=\"{y}\" stroke=\"{c}\" stroke-width=\"2\"/><text x=\"105\" y=\"{}\" font-size=\"11\" font-family=\"sans-serif\">{}</text>", 60 + 15 * k + 4, run.experiment.label(), y = 60 + 15 * k);
    }
    let _ = writeln!(extra, "<line x1=\"80\" y1=\"105\" x2=\"100\" y2=\"105\" stroke=\"black\" stroke-width=\"1.5\" stroke-dasharray=\"4,3\"/><text x=\"105\" y=\"109\" font-size=\"11\" font-family=\"sans-serif\">LMP</text>");
    let mut panels = vec![left];
    if let Some(learn) = res
        .experiment(Experiment::Learning)
        .filter(|r| r.days.len() > 1)
    {
        let days = learn.days.len() as f64;
        let rewards: Vec<f64> = learn.days.iter().map(|d| d.producer_reward).collect();
        let (rlo, rhi) = (
            rewards.iter().copied().fold(f64::INFINITY, f64::min),
            rewards.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        let (rlo, rhi) = (
            (rlo.min(0.0) / 50.0).floor() * 50.0,
            (rhi / 50.0).ceil() * 50.0 + 50.0,
        );
        let mut right = Panel::new(590.0, 40.0, 380.0, 300.0, (0.0, days.max(2.0)), (rlo, rhi));
        right.axes(
            "Learning: producers' reward per day",
            "day",
            "$ per day (markup ×100)",
            &nice_ticks(0.0, days.max(2.0), 4),
            &nice_ticks(rlo, rhi, 5),
        );
        let _ = writeln!(extra, "<line x1=\"600\" y1=\"60\" x2=\"620\" y2=\"60\" stroke=\"{}\" stroke-width=\"2\"/><text x=\"625\" y=\"64\" font-size=\"11\" font-family=\"sans-serif\">reward, learning</text>", PALETTE[2]);
        let _ = writeln!(extra, "<line x1=\"600\" y1=\"75\" x2=\"620\" y2=\"75\" stroke=\"{}\" stroke-width=\"1.5\" stroke-dasharray=\"4,3\"/><text x=\"625\" y=\"79\" font-size=\"11\" font-family=\"sans-serif\">mean markup × 100</text>", PALETTE[4]);
        let _ = writeln!(extra, "<line x1=\"600\" y1=\"90\" x2=\"620\" y2=\"90\" stroke=\"{}\" stroke-width=\"1\" stroke-dasharray=\"4,3\"/><text x=\"625\" y=\"94\" font-size=\"11\" font-family=\"sans-serif\">reward, truthful</text>", PALETTE[0]);
        right.polyline(
            &learn
                .days
                .iter()
                .map(|d| (d.day as f64 + 1.0, d.producer_reward))
                .collect::<Vec<_>>(),
            PALETTE[2],
            2.0,
            false,
        );
        // Markups drawn on the reward axis, scaled ×100 so that 1.0 … 3.0 reads 100 … 300.
        right.polyline(
            &learn
                .days
                .iter()
                .map(|d| (d.day as f64 + 1.0, d.mean_markup * 100.0))
                .collect::<Vec<_>>(),
            PALETTE[4],
            1.5,
            true,
        );
        if let Some(truth) = res
            .experiment(Experiment::Truthful)
            .and_then(|r| r.days.last())
        {
            right.polyline(
                &[
                    (0.0, truth.producer_reward),
                    (days.max(2.0), truth.producer_reward),
                ],
                PALETTE[0],
                1.0,
                true,
            );
        }
        panels.push(right);
    }
    svg::document(1000.0, 400.0, &panels, &extra)
}

/// Producers' output by hour (market formulation) in each experiment.
pub fn dispatch(cfg: &Uc3Config, res: &Uc3Results) -> String {
    let n = cfg.day_len();
    let (xmax, xticks) = hour_axis(n);
    let cap = cfg
        .producers
        .iter()
        .map(|p| p.capacity_kw)
        .fold(1.0, f64::max);
    let top = (cap * 1.1 / 50.0).ceil() * 50.0;
    let mut panels = Vec::new();
    let mut extra = String::new();
    for (k, run) in res.experiments.iter().enumerate() {
        let mut p = Panel::new(
            70.0 + k as f64 * 320.0,
            40.0,
            260.0,
            260.0,
            (0.0, xmax),
            (0.0, top),
        );
        p.axes(
            &format!("{}: producers' output", run.experiment.label()),
            "hour",
            "kW",
            &xticks,
            &nice_ticks(0.0, top, 5),
        );
        for (j, pc) in cfg.producers.iter().enumerate() {
            let pts: Vec<(f64, f64)> = run
                .intervals
                .iter()
                .filter_map(|iv| {
                    iv.agents
                        .iter()
                        .find(|a| a.agent == pc.name)
                        .filter(|a| a.injection_kw.is_finite())
                        .map(|a| (iv.hour as f64, a.injection_kw))
                })
                .collect();
            p.polyline(&pts, PALETTE[j % PALETTE.len()], 1.8, false);
            if k == 0 {
                let x = 70 + j * 120;
                let _ = writeln!(extra, "<line x1=\"{x}\" y1=\"345\" x2=\"{}\" y2=\"345\" stroke=\"{}\" stroke-width=\"2\"/><text x=\"{}\" y=\"349\" font-size=\"11\" font-family=\"sans-serif\">{}</text>", x + 20, PALETTE[j % PALETTE.len()], x + 25, pc.name);
            }
        }
        panels.push(p);
    }
    svg::document(1040.0, 370.0, &panels, &extra)
}

/// Every UC3 figure: (file name, SVG).
pub fn all(cfg: &Uc3Config, feeder: &Uc3Feeder, res: &Uc3Results) -> Vec<(String, String)> {
    vec![
        ("fig10_dlmp_map.svg".into(), dlmp_map(cfg, feeder, res)),
        ("fig10b_dlmp_by_hour.svg".into(), dlmp_by_hour(cfg, res)),
        (
            "fig10c_dlmp_map_strategic.svg".into(),
            dlmp_map_strategic(cfg, feeder, res),
        ),
        (
            "fig11_decomposition.svg".into(),
            decomposition(cfg, feeder, res),
        ),
        (
            "fig12_voltage_vs_ac.svg".into(),
            voltage_vs_ac(cfg, feeder, res),
        ),
        ("fig13_strategic.svg".into(), strategic(cfg, feeder, res)),
        ("fig14_dispatch.svg".into(), dispatch(cfg, res)),
    ]
}
