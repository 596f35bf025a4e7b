//! A fast yes for canonical JSON's value walk (`gridledger.codec._check_value`).
//!
//! Every transaction decoded and every state value written goes through that walk, which refuses
//! floats, integers outside the signed 64-bit range, non-string keys and nesting deeper than the
//! limit. In Python it is a call per object, array and number. This function answers only
//! "certainly fine": true when the value is made of nothing but exact `str`, `bool`, `None`,
//! exact `int` in range, exact `dict` with exact `str` keys, exact `list` and exact `tuple`,
//! no container at depth `max_depth` or deeper. Anything else gives false and the Python walk
//! runs, which raises with its own message or accepts what it accepts (subclasses, other
//! mappings), so the outcome is the Python walk's in every case. The Python tests compare the
//! two over generated and edge values.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyString, PyTuple};

fn is_plain(value: &Bound<'_, PyAny>, depth: usize, max_depth: usize) -> bool {
    if value.is_exact_instance_of::<PyString>()
        || value.is_none()
        || value.is_exact_instance_of::<PyBool>()
    {
        return true;
    }
    if value.is_exact_instance_of::<PyInt>() {
        return value.extract::<i64>().is_ok();
    }
    if depth >= max_depth {
        return false;
    }
    if let Ok(object) = value.downcast_exact::<PyDict>() {
        return object.iter().all(|(key, item)| {
            key.is_exact_instance_of::<PyString>() && is_plain(&item, depth + 1, max_depth)
        });
    }
    if let Ok(array) = value.downcast_exact::<PyList>() {
        return array
            .iter()
            .all(|item| is_plain(&item, depth + 1, max_depth));
    }
    if let Ok(array) = value.downcast_exact::<PyTuple>() {
        return array
            .iter()
            .all(|item| is_plain(&item, depth + 1, max_depth));
    }
    false
}

/// True when `value` certainly passes canonical JSON's value walk with nesting below
/// `max_depth`; false means "ask the Python walk", not "refused".
#[pyfunction]
pub fn json_value_is_plain(value: &Bound<'_, PyAny>, max_depth: usize) -> bool {
    is_plain(value, 0, max_depth)
}
