//! A tiny SVG line/scatter plot writer for the UC1 figures (no dependencies).

use std::fmt::Write as _;

pub const PALETTE: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// One panel with data coordinates mapped to a pixel box.
pub struct Panel {
    pub x0: f64,
    pub y0: f64,
    pub width: f64,
    pub height: f64,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    body: String,
}

impl Panel {
    pub fn new(x0: f64, y0: f64, width: f64, height: f64, x_range: (f64, f64), y_range: (f64, f64)) -> Self {
        Panel { x0, y0, width, height, x_range, y_range, body: String::new() }
    }
    pub fn px(&self, x: f64) -> f64 {
        self.x0 + (x - self.x_range.0) / (self.x_range.1 - self.x_range.0) * self.width
    }
    pub fn py(&self, y: f64) -> f64 {
        let y = y.clamp(self.y_range.0, self.y_range.1);
        self.y0 + self.height - (y - self.y_range.0) / (self.y_range.1 - self.y_range.0) * self.height
    }
    pub fn polyline(&mut self, pts: &[(f64, f64)], color: &str, width: f64, dash: bool) {
        let d: Vec<String> = pts.iter().map(|&(x, y)| format!("{:.1},{:.1}", self.px(x), self.py(y))).collect();
        let dash = if dash { " stroke-dasharray=\"4,3\"" } else { "" };
        let _ = writeln!(
            self.body,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\" stroke-opacity=\"0.8\"{dash} points=\"{}\"/>",
            d.join(" ")
        );
    }
    pub fn band(&mut self, xs: &[f64], lo: &[f64], hi: &[f64], color: &str) {
        let mut pts: Vec<String> = xs.iter().zip(lo).map(|(&x, &y)| format!("{:.1},{:.1}", self.px(x), self.py(y))).collect();
        pts.extend(xs.iter().zip(hi).rev().map(|(&x, &y)| format!("{:.1},{:.1}", self.px(x), self.py(y))));
        let _ = writeln!(self.body, "<polygon fill=\"{color}\" fill-opacity=\"0.2\" stroke=\"none\" points=\"{}\"/>", pts.join(" "));
    }
    pub fn dot(&mut self, x: f64, y: f64, color: &str, r: f64) {
        let _ = writeln!(
            self.body,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r}\" fill=\"{color}\" stroke=\"black\" stroke-width=\"0.5\"/>",
            self.px(x),
            self.py(y)
        );
    }
    pub fn marker(&mut self, x: f64, y: f64, color: &str, label: &str) {
        let (cx, cy) = (self.px(x), self.py(y));
        let _ = writeln!(
            self.body,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"8\" height=\"8\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
            cx - 4.0,
            cy - 4.0
        );
        self.text(cx + 7.0, cy - 6.0, label, 11.0, "start");
    }
    pub fn text(&mut self, x: f64, y: f64, s: &str, size: f64, anchor: &str) {
        let _ = writeln!(
            self.body,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" font-family=\"sans-serif\" text-anchor=\"{anchor}\">{}</text>",
            escape(s)
        );
    }
    /// Axes with ticks, labels and a title.
    pub fn axes(&mut self, title: &str, x_label: &str, y_label: &str, x_ticks: &[f64], y_ticks: &[f64]) {
        let (x0, y0, w, h) = (self.x0, self.y0, self.width, self.height);
        let _ = writeln!(self.body, "<rect x=\"{x0}\" y=\"{y0}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"black\"/>");
        for &t in x_ticks {
            let x = self.px(t);
            let _ = writeln!(self.body, "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>", y0, y0 + h);
            self.text(x, y0 + h + 14.0, &trim_num(t), 10.0, "middle");
        }
        for &t in y_ticks {
            let y = self.py(t);
            let _ = writeln!(self.body, "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>", x0, x0 + w);
            self.text(x0 - 5.0, y + 3.0, &trim_num(t), 10.0, "end");
        }
        self.text(x0 + w / 2.0, y0 - 8.0, title, 13.0, "middle");
        self.text(x0 + w / 2.0, y0 + h + 30.0, x_label, 11.0, "middle");
        let (lx, ly) = (x0 - 38.0, y0 + h / 2.0);
        let _ = writeln!(
            self.body,
            "<text x=\"{lx:.1}\" y=\"{ly:.1}\" font-size=\"11\" font-family=\"sans-serif\" text-anchor=\"middle\" transform=\"rotate(-90 {lx:.1} {ly:.1})\">{}</text>",
            escape(y_label)
        );
    }
}

fn trim_num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Evenly spaced ticks.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..=n).map(|i| lo + (hi - lo) * i as f64 / n as f64).collect()
}

/// A whole figure made of panels.
pub fn document(width: f64, height: f64, panels: &[Panel], extra: &str) -> String {
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for p in panels {
        s.push_str(&p.body);
    }
    s.push_str(extra);
    s.push_str("</svg>\n");
    s
}
