//! Checking: the pasted output against the engine, and when they differ,
//! which printed-rounded values can explain it (see `diagnosis.rs`).
use super::diagnosis::{diagnose, Culprit};
use super::*;
use crate::engine::Computation;

/// The pasted output compared with an engine's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputCheck {
    pub engine: String,
    pub total: usize,
    pub agree: usize,
    /// First disagreement: flat index, (channel, row, col), pasted, engine.
    pub first_difference: Option<Difference>,
    /// Rounded printouts that, moved within their rounding, reduce the
    /// mismatch (the engine ran each).
    pub culprits: Vec<Culprit>,
    /// Values to try, each checked by the engine to reduce the mismatch.
    pub suggestions: Vec<Suggestion>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub index: usize,
    pub channel: usize,
    pub row: usize,
    pub col: usize,
    pub pasted: i64,
    pub engine: i64,
}

/// The engine the pasted output is compared with: fbgemm (PyTorch's x86
/// default), or qnnpack when the scenario's computation A is qnnpack.
pub(super) fn engine_of(sc: &Scenario) -> Computation {
    if sc.a == Computation::QNNPACK {
        Computation::QNNPACK
    } else {
        Computation::FBGEMM
    }
}

/// That engine's output codes on `sc`.
pub(super) fn engine_output(sc: &Scenario, engine: Computation) -> Option<Vec<i32>> {
    let mut s = sc.clone();
    (s.a, s.b) = (engine, engine);
    s.run().ok().map(|r| r.out_a)
}

/// How many output values differ from the pasted ones (None: it does not run).
pub(super) fn mismatches(sc: &Scenario, engine: Computation, want: &[i64]) -> Option<usize> {
    let out = engine_output(sc, engine)?;
    (out.len() == want.len()).then(|| {
        out.iter()
            .zip(want)
            .filter(|(a, b)| **a as i64 != **b)
            .count()
    })
}

/// Compare the pasted output with the engine on the scenario `apply` built;
/// when they differ, diagnose the rounded printouts.
pub fn check_output(paste: &Paste, sc: &Scenario) -> Option<OutputCheck> {
    let run = sc.run().ok()?;
    check_output_run(paste, sc, &run)
}

pub(super) fn check_output_run(
    paste: &Paste,
    sc: &Scenario,
    run: &crate::scenario::Run,
) -> Option<OutputCheck> {
    let o = paste.expected_output.as_ref()?;
    let engine = engine_of(sc);
    let out: Vec<i32> = if sc.a == engine {
        run.out_a.clone()
    } else if sc.b == engine {
        run.out_b.clone()
    } else {
        engine_output(sc, engine)?
    };
    if out.len() != o.values.len() {
        return None;
    }
    let diffs: Vec<usize> = (0..out.len())
        .filter(|&i| out[i] as i64 != o.values[i])
        .collect();
    let first_difference = diffs.first().map(|&i| {
        let (_, c, y, x) = run.position(i);
        Difference {
            index: i,
            channel: c,
            row: y,
            col: x,
            pasted: o.values[i],
            engine: out[i] as i64,
        }
    });
    let total = out.len();
    let name = engine.name();
    let (culprits, suggestions, diagnosis) = if diffs.is_empty() {
        (vec![], vec![], String::new())
    } else {
        diagnose(paste, sc, engine, &o.values, diffs.len())
    };
    let message = match &first_difference {
        None => format!("the pasted output agrees with {name} on all {total} values"),
        Some(d) => format!(
            "the pasted output differs from {name} on {} of {total} values (first at channel {}, row {}, col {}: pasted {}, {name} {}){diagnosis}",
            diffs.len(),
            d.channel,
            d.row,
            d.col,
            d.pasted,
            d.engine,
        ),
    };
    Some(OutputCheck {
        engine: name.into(),
        total,
        agree: total - diffs.len(),
        first_difference,
        culprits,
        suggestions,
        message,
    })
}
