//! Built-in feeders by name. The project's feeders live in `ogg-grid`
//! (`ogg_grid::feeders::circuit`); until that module is available this
//! resolves nothing and says so (pass an OpenDSS script path instead).

use ogg_dss::Circuit;

use crate::error::MarketError;

pub fn circuit(name: &str) -> Result<Circuit, MarketError> {
    Err(MarketError::Input(format!(
        "feeder '{name}': built-in feeders are not available in this build yet; pass an OpenDSS script (*.dss) or an edge list (*.csv)"
    )))
}
