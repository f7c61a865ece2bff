//! The eager flow (prepare, calibrate, convert, run) — observer and module goldens.
use crate::error::{Error, Result};
use crate::golden::Outcome;

pub fn verify_observer_case(i: usize, _c: serde_json::Value) -> Result<Outcome> {
    Err(Error::Input(format!("case {i}: observer cases not wired yet")))
}
pub fn verify_module_case(i: usize, _c: serde_json::Value) -> Result<Outcome> {
    Err(Error::Input(format!("case {i}: module cases not wired yet")))
}
