//! Checking: the pasted output against the engine.
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

/// Compare the pasted output with fbgemm (or `sc.a` when it is qnnpack) on
/// the scenario `apply` built.
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
    let engine = if sc.a == Computation::QNNPACK {
        Computation::QNNPACK
    } else {
        Computation::FBGEMM
    };
    let out: Vec<i32> = if sc.a == engine {
        run.out_a.clone()
    } else if sc.b == engine {
        run.out_b.clone()
    } else {
        let mut s2 = sc.clone();
        s2.a = engine;
        s2.run().ok()?.out_a
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
    let message = match &first_difference {
        None => format!("the pasted output agrees with {} on all {total} values", engine.name()),
        Some(d) => format!(
            "the pasted output differs from {} on {} of {total} values (first at channel {}, row {}, col {}: pasted {}, {} {}){}",
            engine.name(),
            diffs.len(),
            d.channel,
            d.row,
            d.col,
            d.pasted,
            engine.name(),
            d.engine,
            if paste.fields.iter().any(|f| !f.value.exact) { "; some pasted values are rounded printouts (see the notes), which can explain it" } else { "" }
        ),
    };
    Some(OutputCheck {
        engine: engine.name().into(),
        total,
        agree: total - diffs.len(),
        first_difference,
        message,
    })
}
