//! The network-constrained auction (`ogg_market`, the paper's Market 1) and
//! its scripted producer/consumer agents as built-in Rust modules.

use std::any::Any;

use ogg_market::agents::{Consumer, OfferStrategy, Producer};
use ogg_market::{Algorithm, AuctionMarket, ClearOptions, Settlement};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::PyClassInitializer;

use crate::environment::PyEnvironment;
use crate::modules::{RustAgent, RustMarket};

fn finite(name: &str, value: f64) -> PyResult<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(PyValueError::new_err(format!("{name} = {value} must be a finite number")))
    }
}

fn positive(name: &str, value: f64) -> PyResult<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(PyValueError::new_err(format!("{name} = {value} must be a positive number")))
    }
}

/// The network-constrained price-quantity auction (Market 1): every agent's
/// `("bid"|"offer", p_max, p_min, q_max, q_min)` at its `bus` (¢/kWh, kW) is
/// cleared for maximum welfare on the grid's radial network (its topology and
/// line ratings), with nodal prices. `rounds` market rounds per grid step;
/// `algorithm` "tree" (exact, fast) or "clarabel" (interior point);
/// `settlement` "nodal" or "rent_to_buyers". An infeasible round dispatches
/// nothing (or raises with `infeasible_is_error=True`).
#[pyclass(name = "AuctionMarket", module = "opengridgym._core", extends = RustMarket, frozen)]
pub struct PyAuctionMarket;

impl PyAuctionMarket {
    fn read<R>(slf: &Bound<'_, Self>, f: impl Fn(&AuctionMarket) -> R) -> PyResult<R> {
        let base = slf.as_super().get();
        base.read(slf.py(), |m| m.as_any().downcast_ref::<AuctionMarket>().map(&f))?
            .ok_or_else(|| PyValueError::new_err("this AuctionMarket does not hold an auction"))
    }
}

#[pymethods]
impl PyAuctionMarket {
    #[new]
    #[pyo3(signature = (rounds = 1, algorithm = "tree", settlement = "nodal", infeasible_is_error = false))]
    fn new(rounds: usize, algorithm: &str, settlement: &str, infeasible_is_error: bool) -> PyResult<PyClassInitializer<Self>> {
        let algorithm = match algorithm.to_ascii_lowercase().as_str() {
            "tree" => Algorithm::Tree,
            "clarabel" => Algorithm::Clarabel,
            other => return Err(PyValueError::new_err(format!("algorithm must be \"tree\" or \"clarabel\", got {other:?}"))),
        };
        let settlement: Settlement = settlement.parse().map_err(PyValueError::new_err)?;
        if rounds == 0 {
            return Err(PyValueError::new_err("rounds must be at least 1"));
        }
        let mut market = AuctionMarket::new(ClearOptions { algorithm, settlement }).with_rounds(rounds);
        market.infeasible_is_error = infeasible_is_error;
        Ok(PyClassInitializer::from(RustMarket::own(Box::new(market))).add_subclass(PyAuctionMarket))
    }

    /// Nodal price per bus after the last round, ¢/kWh (`{bus: price}`; empty before any).
    #[getter]
    fn bus_prices<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let prices = Self::read(slf, |m| match (m.last_clearing(), m.network()) {
            (Some((c, _, _)), Some(net)) => net.buses.iter().cloned().zip(c.bus_price.iter().copied()).collect(),
            _ => Vec::new(),
        })?;
        let d = PyDict::new(slf.py());
        for (bus, price) in prices {
            d.set_item(bus, price)?;
        }
        Ok(d)
    }

    /// Welfare of the last clearing (Σ benefit − Σ offered cost, ¢/h), or None.
    #[getter]
    fn welfare(slf: &Bound<'_, Self>) -> PyResult<Option<f64>> {
        Self::read(slf, |m| m.last_clearing().map(|(c, _, _)| c.welfare))
    }

    /// Why the last round was infeasible, or None.
    #[getter]
    fn last_infeasibility(slf: &Bound<'_, Self>) -> PyResult<Option<String>> {
        Self::read(slf, |m| m.last_infeasibility.clone())
    }
}

/// A producer with a hidden linear marginal cost from `cost_min` (at 0 kW) to
/// `cost_max` (at `capacity_kw`), ¢/kWh, offering at `bus`. `strategy`:
/// "truthful" (its cost curve), "scripted_markup" (cost × (1 + markup), the
/// markup rising by `markup_step` per round up to `markup_max`) or
/// "hill_climb" (moves the markup by `markup_step` while its reward rises).
/// Its dispatch is injected into the grid at its bus when `inject_into_grid`.
#[pyclass(name = "Producer", module = "opengridgym._core", extends = RustAgent, frozen)]
pub struct PyProducer;

#[pymethods]
impl PyProducer {
    #[new]
    #[pyo3(signature = (name, bus, capacity_kw, cost_min, cost_max = None, strategy = "truthful", markup_step = 0.05, markup_max = 0.5, inject_into_grid = true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: &str,
        bus: &str,
        capacity_kw: f64,
        cost_min: f64,
        cost_max: Option<f64>,
        strategy: &str,
        markup_step: f64,
        markup_max: f64,
        inject_into_grid: bool,
    ) -> PyResult<PyClassInitializer<Self>> {
        let capacity_kw = positive("capacity_kw", capacity_kw)?;
        let cost_min = finite("cost_min", cost_min)?;
        let cost_max = finite("cost_max", cost_max.unwrap_or(cost_min))?;
        let (step, max) = (finite("markup_step", markup_step)?, finite("markup_max", markup_max)?);
        let strategy = match strategy.to_ascii_lowercase().replace('-', "_").as_str() {
            "truthful" => OfferStrategy::Truthful,
            "scripted_markup" => OfferStrategy::ScriptedMarkup { step, max },
            "hill_climb" => OfferStrategy::HillClimb { step, max },
            other => {
                return Err(PyValueError::new_err(format!(
                    "strategy must be \"truthful\", \"scripted_markup\" or \"hill_climb\", got {other:?}"
                )))
            }
        };
        let mut producer = Producer::new(name, bus, capacity_kw, cost_min, cost_max, strategy);
        producer.inject_into_grid = inject_into_grid;
        Ok(PyClassInitializer::from(RustAgent::own(Box::new(producer))).add_subclass(PyProducer))
    }
}

/// A consumer at `bus` wanting `demand_kw`, of which `(1 - flexibility)` it
/// must have; it bids its marginal utility truthfully: `("bid", v_max, v_min,
/// demand_kw, (1 - flexibility) * demand_kw)`. With `loads`, the grid's loads
/// at its bus are scaled by the share it was dispatched.
#[pyclass(name = "Consumer", module = "opengridgym._core", extends = RustAgent, frozen)]
pub struct PyConsumer;

#[pymethods]
impl PyConsumer {
    #[new]
    #[pyo3(signature = (name, bus, demand_kw, flexibility, v_max, v_min, loads = None))]
    fn new(
        name: &str,
        bus: &str,
        demand_kw: f64,
        flexibility: f64,
        v_max: f64,
        v_min: f64,
        loads: Option<Vec<String>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let demand_kw = positive("demand_kw", demand_kw)?;
        if !(flexibility > 0.0 && flexibility <= 1.0) {
            return Err(PyValueError::new_err(format!("flexibility = {flexibility} must be in (0, 1]")));
        }
        let (v_max, v_min) = (finite("v_max", v_max)?, finite("v_min", v_min)?);
        let mut consumer = Consumer::new(name, bus, demand_kw, flexibility, v_max, v_min);
        consumer.loads = loads.unwrap_or_default();
        Ok(PyClassInitializer::from(RustAgent::own(Box::new(consumer))).add_subclass(PyConsumer))
    }
}

/// The handle of a market living in `env`, if it is one of these.
pub fn market_handle_for(py: Python<'_>, market: &dyn Any, env: &Py<PyEnvironment>) -> PyResult<Option<Py<PyAny>>> {
    if !market.is::<AuctionMarket>() {
        return Ok(None);
    }
    let init = PyClassInitializer::from(RustMarket::bound(env.clone_ref(py))).add_subclass(PyAuctionMarket);
    Ok(Some(Bound::new(py, init)?.into_any().unbind()))
}

/// The handle of an agent living in `env` at `index`, if it is one of these.
pub fn agent_handle_for(py: Python<'_>, agent: &dyn Any, env: &Py<PyEnvironment>, index: usize) -> PyResult<Option<Py<PyAny>>> {
    let base = || PyClassInitializer::from(RustAgent::bound(env.clone_ref(py), index));
    if agent.is::<Producer>() {
        return Ok(Some(Bound::new(py, base().add_subclass(PyProducer))?.into_any().unbind()));
    }
    if agent.is::<Consumer>() {
        return Ok(Some(Bound::new(py, base().add_subclass(PyConsumer))?.into_any().unbind()));
    }
    Ok(None)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAuctionMarket>()?;
    m.add_class::<PyProducer>()?;
    m.add_class::<PyConsumer>()?;
    Ok(())
}
