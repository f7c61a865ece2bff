//! Ordering: two uint8 tensors that nothing but their order tells apart are
//! read input first, output second. The engine can tell better: if it
//! reproduces the pasted output more closely the other way round, that order
//! is taken, and a note says so.
use super::applying::build;
use super::checking::{engine_of, mismatches};
use super::*;

/// The paste with input and output swapped, when that fits the engine better.
pub(super) fn settle(paste: &Paste, base: &Scenario) -> Option<Paste> {
    if !paste.unlabelled_activations {
        return None;
    }
    let (i, o) = (paste.input_codes.as_ref()?, paste.expected_output.as_ref()?);
    let mut sw = paste.clone();
    sw.unlabelled_activations = false;
    sw.input_codes = Some(Codes {
        recovered: o.recovered,
        ..o.clone()
    });
    sw.expected_output = Some(Codes {
        recovered: i.recovered,
        ..i.clone()
    });
    let score = |p: &Paste| -> Option<usize> {
        let (sc, _, _) = build(p, base).ok()?;
        mismatches(&sc, engine_of(&sc), &p.expected_output.as_ref()?.values)
    };
    let kept = score(paste);
    let other = score(&sw)?;
    if kept.is_some_and(|k| k <= other) {
        return None;
    }
    let total = o.values.len().max(i.values.len());
    let why = format!(
        "the other order: neither uint8 tensor is labelled, and taken this way round the engine reproduces {} of {total} output values{}",
        total - other,
        kept.map_or(String::new(), |k| format!(" (the paste order: {})", total - k))
    );
    for f in &mut sw.found {
        if f.lines == i.lines {
            f.what = f.what.replacen("input codes", "output codes", 1);
            f.why = why.clone();
        } else if f.lines == o.lines {
            f.what = f.what.replacen("output codes", "input codes", 1);
            f.why = why.clone();
        }
    }
    sw.warnings.push(format!(
        "the two uint8 tensors ({} and {}) had no label ('# input' / '# output' or a prompt) and were read in the other order: {why}",
        i.lines, o.lines
    ));
    Some(sw)
}
