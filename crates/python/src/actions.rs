//! Market and grid actions as Python tuples, and back.
//!
//! | Python                                         | Rust                           |
//! |------------------------------------------------|--------------------------------|
//! | `("bid", p_max, p_min, q_max, q_min)`          | `MarketAction::Bid`            |
//! | `("offer", p_max, p_min, q_max, q_min)`        | `MarketAction::Offer`          |
//! | `("price", x)`                                 | `MarketAction::Price`          |
//! | `(name, v1, v2, ...)` (any other name)         | `MarketAction::Custom`         |
//! | `("set_load", element, kw)` / `(…, kw, kvar)`  | `GridAction::SetLoad`          |
//! | `("scale_load", element, multiplier)`          | `GridAction::ScaleLoad`        |
//! | `("inject", bus, kw, kvar)`                    | `GridAction::InjectAtBus`      |
//! | `(name, v1, v2, ...)` (any other name)         | `GridAction::Custom`           |
//!
//! An agent sets a list of such tuples (`self.market_actions = [...]`); a
//! single tuple is accepted too. Names are case-insensitive.

use ogg_core::{Dispatch, GridAction, MarketAction};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PySequence, PyString, PyTuple};

/// The actions an agent attribute holds: `None`, one action tuple, or a sequence of them.
fn action_items<'py>(value: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if value.is_none() {
        return Ok(Vec::new());
    }
    // Fast paths for the common containers; anything else that is a sequence works too.
    let items: Vec<Bound<'py, PyAny>> = if let Ok(list) = value.cast::<PyList>() {
        list.iter().collect()
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        tuple.iter().collect()
    } else if let Ok(seq) = value.cast::<PySequence>() {
        seq.try_iter()?.collect::<PyResult<_>>()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a list of action tuples, got {}",
            type_name(value)
        )));
    };
    // A single action tuple like ("bid", 1, 0, 2, 0): its first item is the name.
    if items.first().is_some_and(|first| first.is_instance_of::<PyString>()) {
        return Ok(vec![value.clone()]);
    }
    Ok(items)
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// The parts of one action tuple: its name (lower case) and the items after it.
fn split_action<'py>(
    item: &Bound<'py, PyAny>,
    what: &str,
    index: usize,
) -> PyResult<(String, Vec<Bound<'py, PyAny>>)> {
    let parts: Vec<Bound<'py, PyAny>> = match item.cast::<PyTuple>() {
        Ok(t) => t.iter().collect(),
        Err(_) => match item.cast::<PyList>() {
            Ok(l) => l.iter().collect(),
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "{what}[{index}] must be a tuple like (\"name\", value, ...), got {}",
                    type_name(item)
                )))
            }
        },
    };
    let name = parts
        .first()
        .and_then(|n| n.extract::<String>().ok())
        .ok_or_else(|| PyTypeError::new_err(format!("{what}[{index}]: the first item must be the action name (a str)")))?;
    Ok((name.to_ascii_lowercase(), parts.into_iter().skip(1).collect()))
}

fn numbers(values: &[Bound<'_, PyAny>], what: &str, index: usize, name: &str) -> PyResult<Vec<f64>> {
    values
        .iter()
        .enumerate()
        .map(|(k, v)| {
            v.extract::<f64>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "{what}[{index}] ({name}): item {} must be a number, got {}",
                    k + 1,
                    type_name(v)
                ))
            })
        })
        .collect()
}

fn expect_len(values: &[f64], n: usize, what: &str, index: usize, usage: &str) -> PyResult<()> {
    if values.len() != n {
        return Err(PyValueError::new_err(format!(
            "{what}[{index}]: expected {usage}, got {} number(s)",
            values.len()
        )));
    }
    Ok(())
}

/// Reads an agent's `market_actions` value.
pub fn market_actions_from_py(value: &Bound<'_, PyAny>, out: &mut Vec<MarketAction>) -> PyResult<()> {
    const WHAT: &str = "market_actions";
    out.clear();
    for (index, item) in action_items(value, WHAT)?.iter().enumerate() {
        let (name, rest) = split_action(item, WHAT, index)?;
        let v = numbers(&rest, WHAT, index, &name)?;
        let action = match name.as_str() {
            "bid" | "offer" => {
                expect_len(&v, 4, WHAT, index, &format!("(\"{name}\", p_max, p_min, q_max, q_min)"))?;
                let (p_max, p_min, q_max, q_min) = (v[0], v[1], v[2], v[3]);
                if name == "bid" {
                    MarketAction::Bid { p_max, p_min, q_max, q_min }
                } else {
                    MarketAction::Offer { p_max, p_min, q_max, q_min }
                }
            }
            "price" => {
                expect_len(&v, 1, WHAT, index, "(\"price\", value)")?;
                MarketAction::Price(v[0])
            }
            _ => MarketAction::Custom { name, values: v },
        };
        out.push(action);
    }
    Ok(())
}

/// Reads an agent's `grid_actions` value.
pub fn grid_actions_from_py(value: &Bound<'_, PyAny>, out: &mut Vec<GridAction>) -> PyResult<()> {
    const WHAT: &str = "grid_actions";
    out.clear();
    for (index, item) in action_items(value, WHAT)?.iter().enumerate() {
        let (name, rest) = split_action(item, WHAT, index)?;
        let target = |usage: &str| -> PyResult<String> {
            rest.first().and_then(|t| t.extract::<String>().ok()).ok_or_else(|| {
                PyTypeError::new_err(format!("{WHAT}[{index}]: expected {usage} (the second item must be a str)"))
            })
        };
        let action = match name.as_str() {
            "set_load" => {
                let usage = "(\"set_load\", element, kw) or (\"set_load\", element, kw, kvar)";
                let element = target(usage)?;
                let v = numbers(&rest[1..], WHAT, index, &name)?;
                match v.len() {
                    1 => GridAction::SetLoad { element, kw: v[0], kvar: None },
                    2 => GridAction::SetLoad { element, kw: v[0], kvar: Some(v[1]) },
                    _ => return Err(PyValueError::new_err(format!("{WHAT}[{index}]: expected {usage}"))),
                }
            }
            "scale_load" => {
                let usage = "(\"scale_load\", element, multiplier)";
                let element = target(usage)?;
                let v = numbers(&rest[1..], WHAT, index, &name)?;
                expect_len(&v, 1, WHAT, index, usage)?;
                GridAction::ScaleLoad { element, multiplier: v[0] }
            }
            "inject" | "inject_at_bus" => {
                let usage = "(\"inject\", bus, kw, kvar)";
                let bus = target(usage)?;
                let v = numbers(&rest[1..], WHAT, index, &name)?;
                expect_len(&v, 2, WHAT, index, usage)?;
                GridAction::InjectAtBus { bus, kw: v[0], kvar: v[1] }
            }
            _ => GridAction::Custom { values: numbers(&rest, WHAT, index, &name)?, name },
        };
        out.push(action);
    }
    Ok(())
}

pub fn market_action_to_py<'py>(py: Python<'py>, action: &MarketAction) -> PyResult<Bound<'py, PyTuple>> {
    match action {
        MarketAction::Bid { p_max, p_min, q_max, q_min } => ("bid", p_max, p_min, q_max, q_min).into_pyobject(py),
        MarketAction::Offer { p_max, p_min, q_max, q_min } => {
            ("offer", p_max, p_min, q_max, q_min).into_pyobject(py)
        }
        MarketAction::Price(x) => ("price", x).into_pyobject(py),
        MarketAction::Custom { name, values } => custom_to_py(py, name, values),
    }
}

pub fn grid_action_to_py<'py>(py: Python<'py>, action: &GridAction) -> PyResult<Bound<'py, PyTuple>> {
    match action {
        GridAction::SetLoad { element, kw, kvar: None } => ("set_load", element, kw).into_pyobject(py),
        GridAction::SetLoad { element, kw, kvar: Some(kvar) } => ("set_load", element, kw, kvar).into_pyobject(py),
        GridAction::ScaleLoad { element, multiplier } => ("scale_load", element, multiplier).into_pyobject(py),
        GridAction::InjectAtBus { bus, kw, kvar } => ("inject", bus, kw, kvar).into_pyobject(py),
        GridAction::Custom { name, values } => custom_to_py(py, name, values),
    }
}

fn custom_to_py<'py>(py: Python<'py>, name: &str, values: &[f64]) -> PyResult<Bound<'py, PyTuple>> {
    let mut items: Vec<Bound<'py, PyAny>> = Vec::with_capacity(values.len() + 1);
    items.push(PyString::new(py, name).into_any());
    for v in values {
        items.push(v.into_pyobject(py)?.into_any());
    }
    PyTuple::new(py, items)
}

/// A market's `dispatch(i)` result: `None`, `(price, quantity)`, or an object
/// with `price` and `quantity` attributes.
pub fn dispatch_from_py(value: &Bound<'_, PyAny>, index: usize) -> PyResult<Option<Dispatch>> {
    if value.is_none() {
        return Ok(None);
    }
    if let Ok((price, quantity)) = value.extract::<(f64, f64)>() {
        return Ok(Some(Dispatch { price, quantity }));
    }
    let py = value.py();
    let attrs = value
        .getattr(pyo3::intern!(py, "price"))
        .and_then(|p| p.extract::<f64>())
        .and_then(|price| Ok((price, value.getattr(pyo3::intern!(py, "quantity"))?.extract::<f64>()?)));
    match attrs {
        Ok((price, quantity)) => Ok(Some(Dispatch { price, quantity })),
        Err(_) => Err(PyTypeError::new_err(format!(
            "dispatch({index}) must return None, (price, quantity) or an object with .price and .quantity, got {}",
            type_name(value)
        ))),
    }
}

/// Converts actions to Rust and back (what a Rust module would see); for tests and debugging.
#[pyfunction]
#[pyo3(signature = (market_actions, grid_actions))]
pub fn _roundtrip_actions<'py>(
    py: Python<'py>,
    market_actions: &Bound<'py, PyAny>,
    grid_actions: &Bound<'py, PyAny>,
) -> PyResult<(Vec<Bound<'py, PyTuple>>, Vec<Bound<'py, PyTuple>>)> {
    let (mut m, mut g) = (Vec::new(), Vec::new());
    market_actions_from_py(market_actions, &mut m)?;
    grid_actions_from_py(grid_actions, &mut g)?;
    Ok((
        m.iter().map(|a| market_action_to_py(py, a)).collect::<PyResult<_>>()?,
        g.iter().map(|a| grid_action_to_py(py, a)).collect::<PyResult<_>>()?,
    ))
}
