//! The recorder's tables as dicts of numpy arrays.

use numpy::PyArray1;
use ogg_core::recorder::{ColumnData, Table};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// `{column name: numpy array}`: float64 (NaN = missing), uint64, bool, and
/// object arrays of str for text columns ("" = missing).
pub fn table_to_dict<'py>(py: Python<'py>, table: &dyn Table) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for column in table.columns() {
        let array = match column.data {
            ColumnData::Float(v) => PyArray1::from_slice(py, v).into_any(),
            ColumnData::UInt(v) => PyArray1::from_slice(py, v).into_any(),
            ColumnData::Bool(v) => PyArray1::from_slice(py, v).into_any(),
            ColumnData::Text { codes, dictionary } => {
                // One Python str per distinct value, shared by every row that has it.
                let strings: Vec<Py<PyAny>> =
                    dictionary.iter().map(|s| PyString::new(py, s).into_any().unbind()).collect();
                let rows: Vec<Py<PyAny>> = codes.iter().map(|&c| strings[c as usize].clone_ref(py)).collect();
                PyArray1::from_vec(py, rows).into_any()
            }
        };
        dict.set_item(column.name, array)?;
    }
    Ok(dict)
}
