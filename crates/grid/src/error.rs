use crate::sparse::SparseError;

/// Why a power flow did not converge, for reports (never a panic).
#[derive(Debug, Clone, PartialEq)]
pub struct NonConvergence {
    /// Iterations of the last power-flow attempt.
    pub iterations: usize,
    pub control_iterations: usize,
    /// Node (`bus.node`) with the largest change of |V| in the last iteration.
    pub worst_node: String,
    /// That change, per unit of the node's base (or relative when it has none).
    pub mismatch: f64,
    /// True when the power flow converged but the controls kept acting until
    /// `MaxControlIter` was reached.
    pub controls_exhausted: bool,
}

impl std::fmt::Display for NonConvergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.controls_exhausted {
            write!(
                f,
                "controls still acting after {} control iterations (max control iterations exceeded)",
                self.control_iterations
            )
        } else {
            write!(
                f,
                "no convergence after {} iterations (control iteration {}): worst node {} changed by {:.3e} pu",
                self.iterations, self.control_iterations, self.worst_node, self.mismatch
            )
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// An element's data cannot be turned into an admittance (bad kV, zero
    /// impedance, …). Names the element and where it was defined.
    #[error("{element} ({location}): {message}")]
    Element { element: String, location: String, message: String },
    #[error("unknown {kind} '{name}'")]
    Unknown { kind: &'static str, name: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Sparse(#[from] SparseError),
    #[error("power flow did not converge: {0}")]
    NotConverged(NonConvergence),
    #[error("{0}")]
    Read(String),
    #[error("unknown built-in feeder '{name}' (built-in feeders: {known})")]
    UnknownFeeder { name: String, known: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl GridError {
    pub(crate) fn element(element: impl Into<String>, location: &ogg_dss::Location, message: impl Into<String>) -> Self {
        GridError::Element { element: element.into(), location: location.to_string(), message: message.into() }
    }
}
