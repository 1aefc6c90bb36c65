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
//! | `("set_generation", element, kw)` / `(…, kw, kvar)` | `GridAction::SetGeneration` (kw or kvar may be `None`) |
//! | `("set_generation_pf", element, kw, pf)`       | `GridAction::SetGeneration` (kw may be `None`) |
//! | `("set_storage", element, kw)` / `(…, kw, kvar)` | `GridAction::SetStorage` (kW > 0 discharges) |
//! | `(name, v1, v2, ...)` (any other name)         | `GridAction::Custom`           |
//!
//! An agent sets a list of such tuples (`self.market_actions = [...]`); a
//! single tuple is accepted too. Names are case-insensitive.

use ogg_core::{Dispatch, GridAction, MarketAction};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PySequence, PyString, PyTuple};

/// The actions an agent attribute holds: `None`, one action tuple, or a sequence of them.
fn action_items<'py>(value: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if value.is_none() {
        return Ok(Vec::new());
    }
    // Fast paths for the common containers; anything else that is a sequence works too.
    let items: Vec<Bound<'py, PyAny>> = if let Ok(tuple) = value.cast::<PyTuple>() {
        if tuple.is_empty() {
            return Ok(Vec::new()); // the base classes' default
        }
        tuple.iter().collect()
    } else if let Ok(list) = value.cast::<PyList>() {
        list.iter().collect()
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

/// One action tuple: its items (a list is accepted too) and its name.
struct ActionTuple<'py> {
    items: Bound<'py, PyTuple>,
    /// The name, lower case.
    name: std::borrow::Cow<'static, str>,
    index: usize,
    what: &'static str,
}

/// The action names we know, recognised by identity: names written in Python
/// source are interned strings, so a pointer comparison finds them without
/// decoding the string (the common case; anything else is decoded).
fn known_name(name: &Bound<'_, PyAny>) -> Option<&'static str> {
    let py = name.py();
    let known = [
        ("bid", intern!(py, "bid")),
        ("offer", intern!(py, "offer")),
        ("price", intern!(py, "price")),
        ("set_load", intern!(py, "set_load")),
        ("scale_load", intern!(py, "scale_load")),
        ("inject", intern!(py, "inject")),
        ("inject_at_bus", intern!(py, "inject_at_bus")),
        ("set_generation", intern!(py, "set_generation")),
        ("set_generation_pf", intern!(py, "set_generation_pf")),
        ("set_storage", intern!(py, "set_storage")),
    ];
    known.into_iter().find(|(_, s)| name.is(s)).map(|(n, _)| n)
}

impl<'py> ActionTuple<'py> {
    fn new(item: &Bound<'py, PyAny>, what: &'static str, index: usize) -> PyResult<Self> {
        let items = match item.cast::<PyTuple>() {
            Ok(t) => t.clone(),
            Err(_) => match item.cast::<PyList>() {
                Ok(l) => l.to_tuple(),
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "{what}[{index}] must be a tuple like (\"name\", value, ...), got {}",
                        type_name(item)
                    )))
                }
            },
        };
        let first_error =
            || PyTypeError::new_err(format!("{what}[{index}]: the first item must be the action name (a str)"));
        let first = items.get_item(0).map_err(|_| first_error())?;
        let name = match known_name(&first) {
            Some(n) => std::borrow::Cow::Borrowed(n),
            None => std::borrow::Cow::Owned(first.extract::<String>().map_err(|_| first_error())?.to_ascii_lowercase()),
        };
        Ok(ActionTuple { items, name, index, what })
    }

    /// Items after the name.
    fn len(&self) -> usize {
        self.items.len() - 1
    }

    fn number(&self, k: usize) -> PyResult<f64> {
        let v = self.items.get_item(k + 1)?;
        v.extract::<f64>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{}[{}] ({}): item {} must be a number, got {}",
                self.what,
                self.index,
                self.name,
                k + 1,
                type_name(&v)
            ))
        })
    }

    /// Item `k` as a number, or `None` for Python's `None`.
    fn optional_number(&self, k: usize) -> PyResult<Option<f64>> {
        if self.items.get_item(k + 1)?.is_none() {
            return Ok(None);
        }
        self.number(k).map(Some)
    }

    /// Items `from..` as numbers.
    fn numbers(&self, from: usize) -> PyResult<Vec<f64>> {
        (from..self.len()).map(|k| self.number(k)).collect()
    }

    /// Exactly `n` numbers, else an error showing `usage`.
    fn exactly<const N: usize>(&self, from: usize, usage: &str) -> PyResult<[f64; N]> {
        if self.len() != from + N {
            return Err(PyValueError::new_err(format!(
                "{}[{}]: expected {usage}, got {} item(s) after the name",
                self.what,
                self.index,
                self.len()
            )));
        }
        let mut out = [0.0; N];
        for (k, x) in out.iter_mut().enumerate() {
            *x = self.number(from + k)?;
        }
        Ok(out)
    }

    /// The str item after the name (an element or bus).
    fn target(&self, usage: &str) -> PyResult<String> {
        self.items.get_item(1).ok().and_then(|t| t.extract::<String>().ok()).ok_or_else(|| {
            PyTypeError::new_err(format!(
                "{}[{}]: expected {usage} (the second item must be a str)",
                self.what, self.index
            ))
        })
    }
}

/// Reads an agent's `market_actions` value.
pub fn market_actions_from_py(value: &Bound<'_, PyAny>, out: &mut Vec<MarketAction>) -> PyResult<()> {
    out.clear();
    for (index, item) in action_items(value, "market_actions")?.iter().enumerate() {
        let a = ActionTuple::new(item, "market_actions", index)?;
        let action = match a.name.as_ref() {
            "bid" => {
                let [p_max, p_min, q_max, q_min] = a.exactly(0, "(\"bid\", p_max, p_min, q_max, q_min)")?;
                MarketAction::Bid { p_max, p_min, q_max, q_min }
            }
            "offer" => {
                let [p_max, p_min, q_max, q_min] = a.exactly(0, "(\"offer\", p_max, p_min, q_max, q_min)")?;
                MarketAction::Offer { p_max, p_min, q_max, q_min }
            }
            "price" => MarketAction::Price(a.exactly::<1>(0, "(\"price\", value)")?[0]),
            _ => MarketAction::Custom { values: a.numbers(0)?, name: a.name.into_owned() },
        };
        out.push(action);
    }
    Ok(())
}

/// Reads an agent's `grid_actions` value.
pub fn grid_actions_from_py(value: &Bound<'_, PyAny>, out: &mut Vec<GridAction>) -> PyResult<()> {
    out.clear();
    for (index, item) in action_items(value, "grid_actions")?.iter().enumerate() {
        let a = ActionTuple::new(item, "grid_actions", index)?;
        let action = match a.name.as_ref() {
            "set_load" => {
                let usage = "(\"set_load\", element, kw) or (\"set_load\", element, kw, kvar)";
                let element = a.target(usage)?;
                match a.len() {
                    2 => GridAction::SetLoad { element, kw: a.number(1)?, kvar: None },
                    3 => GridAction::SetLoad { element, kw: a.number(1)?, kvar: Some(a.number(2)?) },
                    _ => return Err(PyValueError::new_err(format!("grid_actions[{index}]: expected {usage}"))),
                }
            }
            "scale_load" => {
                let usage = "(\"scale_load\", element, multiplier)";
                let element = a.target(usage)?;
                let [multiplier] = a.exactly(1, usage)?;
                GridAction::ScaleLoad { element, multiplier }
            }
            "inject" | "inject_at_bus" => {
                let usage = "(\"inject\", bus, kw, kvar)";
                let bus = a.target(usage)?;
                let [kw, kvar] = a.exactly(1, usage)?;
                GridAction::InjectAtBus { bus, kw, kvar }
            }
            "set_generation" => {
                let usage = "(\"set_generation\", element, kw) or (\"set_generation\", element, kw, kvar)";
                let element = a.target(usage)?;
                match a.len() {
                    2 => GridAction::SetGeneration { element, kw: a.optional_number(1)?, kvar: None, pf: None },
                    3 => GridAction::SetGeneration {
                        element,
                        kw: a.optional_number(1)?,
                        kvar: a.optional_number(2)?,
                        pf: None,
                    },
                    _ => return Err(PyValueError::new_err(format!("grid_actions[{index}]: expected {usage}"))),
                }
            }
            "set_generation_pf" => {
                let usage = "(\"set_generation_pf\", element, kw, pf)";
                let element = a.target(usage)?;
                if a.len() != 3 {
                    return Err(PyValueError::new_err(format!("grid_actions[{index}]: expected {usage}")));
                }
                GridAction::SetGeneration { element, kw: a.optional_number(1)?, kvar: None, pf: Some(a.number(2)?) }
            }
            "set_storage" => {
                let usage = "(\"set_storage\", element, kw) or (\"set_storage\", element, kw, kvar)";
                let element = a.target(usage)?;
                match a.len() {
                    2 => GridAction::SetStorage { element, kw: a.number(1)?, kvar: None },
                    3 => GridAction::SetStorage { element, kw: a.number(1)?, kvar: Some(a.number(2)?) },
                    _ => return Err(PyValueError::new_err(format!("grid_actions[{index}]: expected {usage}"))),
                }
            }
            _ => GridAction::Custom { values: a.numbers(0)?, name: a.name.into_owned() },
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
        GridAction::SetGeneration { element, kw, kvar: None, pf: Some(pf) } => {
            ("set_generation_pf", element, kw, pf).into_pyobject(py)
        }
        GridAction::SetGeneration { element, kw, kvar: None, pf: None } => ("set_generation", element, kw).into_pyobject(py),
        GridAction::SetGeneration { element, kw, kvar: Some(kvar), .. } => {
            ("set_generation", element, kw, kvar).into_pyobject(py)
        }
        GridAction::SetStorage { element, kw, kvar: None } => ("set_storage", element, kw).into_pyobject(py),
        GridAction::SetStorage { element, kw, kvar: Some(kvar) } => ("set_storage", element, kw, kvar).into_pyobject(py),
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

type ActionLists<'py> = (Vec<Bound<'py, PyTuple>>, Vec<Bound<'py, PyTuple>>);

/// Converts actions to Rust and back (what a Rust module would see); for tests and debugging.
#[pyfunction]
#[pyo3(signature = (market_actions, grid_actions))]
pub fn _roundtrip_actions<'py>(
    py: Python<'py>,
    market_actions: &Bound<'py, PyAny>,
    grid_actions: &Bound<'py, PyAny>,
) -> PyResult<ActionLists<'py>> {
    let (mut m, mut g) = (Vec::new(), Vec::new());
    market_actions_from_py(market_actions, &mut m)?;
    grid_actions_from_py(grid_actions, &mut g)?;
    Ok((
        m.iter().map(|a| market_action_to_py(py, a)).collect::<PyResult<_>>()?,
        g.iter().map(|a| grid_action_to_py(py, a)).collect::<PyResult<_>>()?,
    ))
}
