//! Result files: `voltages.csv` and `summary.json`, and the `ogg powerflow`
//! command built on them.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::engine::PowerFlow;
use crate::error::GridError;

/// What `summary.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub circuit: String,
    pub converged: bool,
    pub iterations: usize,
    pub control_iterations: usize,
    /// Power delivered by the source(s).
    pub total_power_kw: f64,
    pub total_power_kvar: f64,
    pub losses_kw: f64,
    pub losses_kvar: f64,
    pub load_kw: f64,
    pub load_kvar: f64,
    /// RegControl name → tap step (round((tap − 1)/step)).
    pub taps: std::collections::BTreeMap<String, i64>,
    /// Capacitor name → step states (1 closed).
    pub capacitors: std::collections::BTreeMap<String, Vec<u8>>,
    pub buses: usize,
    pub nodes: usize,
    pub tolerance: f64,
    /// Present when the solution did not converge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_convergence: Option<String>,
    /// Generators, PV systems and storage (`Class.name`): power into the
    /// terminals (OpenDSS sign, negative when generating) and stored kWh.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub ders: std::collections::BTreeMap<String, DerSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DerSummary {
    pub kw: f64,
    pub kvar: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kwh: Option<f64>,
}

impl PowerFlow {
    pub fn summary(&self) -> Summary {
        let (p, q) = self.total_power();
        let (lp, lq) = self.losses();
        let (ldp, ldq) = self.load_power();
        let r = self.last_report();
        Summary {
            circuit: self.name().to_string(),
            converged: r.converged,
            iterations: r.iterations,
            control_iterations: r.control_iterations,
            total_power_kw: p,
            total_power_kvar: q,
            losses_kw: lp,
            losses_kvar: lq,
            load_kw: ldp,
            load_kvar: ldq,
            taps: self.regulator_taps().into_iter().map(|(n, _, s)| (n, s)).collect(),
            capacitors: self.capacitor_states().into_iter().collect(),
            buses: self.buses().len(),
            nodes: self.n_nodes(),
            tolerance: self.settings().tolerance,
            non_convergence: r.non_convergence.as_ref().map(|n| n.to_string()),
            ders: (0..self.n_ders())
                .map(|i| {
                    let (kw, kvar) = self.der_power(i);
                    (self.elements[self.ders[i].elem].full_name(), DerSummary { kw, kvar, kwh: self.storage_kwh(i) })
                })
                .collect(),
        }
    }

    /// Writes node-to-ground voltages: `bus,node,v_re,v_im,v_mag,v_ang_deg,v_pu`
    /// (buses in OpenDSS order, nodes ascending; v_pu is 0 without a base).
    pub fn write_voltages_csv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "bus,node,v_re,v_im,v_mag,v_ang_deg,v_pu")?;
        for v in self.voltage_table() {
            writeln!(
                out,
                "{},{},{:.10e},{:.10e},{:.10e},{:.10},{:.12}",
                v.bus,
                v.node,
                v.v.re,
                v.v.im,
                v.v.norm(),
                v.v.arg().to_degrees(),
                v.pu
            )?;
        }
        Ok(())
    }

    pub fn write_summary_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &self.summary()).map_err(std::io::Error::other)?;
        writeln!(out)
    }
}

pub(crate) fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>, GridError> {
    std::fs::File::create(path)
        .map(std::io::BufWriter::new)
        .map_err(|source| GridError::Io { path: path.display().to_string(), source })
}

/// `ogg powerflow`: reads a feeder (built-in name or path to a master
/// script), solves it as OpenDSS's `Solve` would (controls included), and
/// writes `voltages.csv` and `summary.json` into `out_dir` (created if
/// needed).
///
/// `max_iterations` overrides the script's MaxIterations. A `tolerance`
/// tighter than the script's refines the solution: the circuit is first
/// solved at the script's tolerance (so regulators and capacitors end where
/// OpenDSS puts them), then re-solved to `tolerance` from there — OpenDSS's
/// `set tolerance=… ; Solve` after a `Solve`, as in the references' `_tight`
/// cases. A looser one simply replaces the script's.
///
/// A non-converged solution still writes its files (`converged: false`) and
/// returns the summary; read errors and singular systems are errors.
pub fn powerflow_command(
    input: &str,
    tolerance: Option<f64>,
    max_iterations: Option<usize>,
    out_dir: &Path,
) -> Result<Summary, GridError> {
    let circuit = crate::feeders::circuit_from(input)?;
    let mut pf = PowerFlow::new(&circuit)?;
    if let Some(m) = max_iterations {
        pf.settings_mut().max_iterations = m.max(1);
    }
    match tolerance {
        Some(t) if !crate::positive(t) => {
            return Err(GridError::Invalid(format!("tolerance must be positive (got {t})")));
        }
        Some(t) if t < pf.settings().tolerance => {
            let first = pf.solve()?;
            pf.settings_mut().tolerance = t;
            if first.non_convergence.is_none() {
                pf.solve()?;
            }
        }
        Some(t) => {
            pf.settings_mut().tolerance = t;
            pf.solve()?;
        }
        None => {
            pf.solve()?;
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|source| GridError::Io { path: out_dir.display().to_string(), source })?;
    let vpath = out_dir.join("voltages.csv");
    let mut w = create(&vpath)?;
    pf.write_voltages_csv(&mut w)
        .and_then(|_| w.flush())
        .map_err(|source| GridError::Io { path: vpath.display().to_string(), source })?;
    let spath = out_dir.join("summary.json");
    let mut w = create(&spath)?;
    pf.write_summary_json(&mut w)
        .and_then(|_| w.flush())
        .map_err(|source| GridError::Io { path: spath.display().to_string(), source })?;
    Ok(pf.summary())
}
