/// The network as markets see it: buses and the branches between them, with
/// ratings. Built by a grid from its circuit (for a feeder: lines, switches,
/// transformers and regulators collapsed to bus-to-bus edges).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    /// Bus names; indices below refer to this list.
    pub buses: Vec<String>,
    /// Index of the bus fed by the upstream network (the substation / source).
    pub root: usize,
    pub branches: Vec<Branch>,
    /// Nominal line-to-line kV per bus (0 where unknown).
    pub bus_kv: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// Element name, e.g. `line.l1` or `transformer.reg1`.
    pub name: String,
    pub from: usize,
    pub to: usize,
    pub phases: usize,
    /// Thermal rating as apparent power, kVA (`f64::INFINITY` when unrated):
    /// normamps × kV (× √3 for 3-phase) for lines, kVA for transformers.
    pub rating_kva: f64,
}

impl Topology {
    pub fn bus_index(&self, name: &str) -> Option<usize> {
        self.buses.iter().position(|b| b.eq_ignore_ascii_case(name))
    }
}
