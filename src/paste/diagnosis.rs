//! Diagnosis: which printed-rounded values explain a pasted output that the
//! engine does not reproduce. Each rounded scale or bias is moved across the
//! interval its printout allows (the others stay as printed) and the engine
//! runs at every step; a value whose interval holds fewer mismatches is named,
//! with the sub-interval that does best. A suggestion is offered only when the
//! engine, run with it, gives fewer mismatches than the printed values.
use super::checking::mismatches;
use super::rounding::{fmt_hw, shortest_in};
use super::*;
use crate::engine::ConvQParams;
use crate::engine::{Accumulation, Computation, Requant};
use crate::scenario::{InputSource, Run};

/// A rounded printout that can explain (part of) the mismatch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Culprit {
    /// `input_scale`, `weight_scale[0]`, `bias[0]`, ...
    pub field: String,
    pub printed: Number,
    /// Where in the printed interval the mismatch is smallest (engine-checked
    /// at evenly spaced points).
    pub low: f64,
    pub high: f64,
    /// Mismatches there, and with the printed value.
    pub mismatches: usize,
    pub before: usize,
}

/// Engine runs' total multiply-adds a diagnosis may spend.
const BUDGET: usize = 40_000_000;
/// Most steps across one printed interval (then each edge of the best run is
/// bisected `REFINE` times).
const STEPS: usize = 64;
const REFINE: usize = 8;
/// Fewest steps worth scanning.
const MIN_STEPS: usize = 10;

/// Set a paste field in quantization parameters (false: there is no such field).
pub(super) fn set_field(p: &mut ConvQParams, field: &str, v: f64) -> bool {
    let (name, idx) = match field.split_once('[') {
        Some((n, rest)) => (
            n,
            rest.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()),
        ),
        None => (field, None),
    };
    match (name.strip_suffix("_scale").unwrap_or(name), idx) {
        ("input", None) => p.input_scale = v,
        ("output", None) => p.output_scale = v,
        ("weight", Some(c)) => match p.weight_scales.get_mut(c) {
            Some(s) => *s = v,
            None => return false,
        },
        ("bias", Some(c)) => match p.bias.as_mut() {
            Some(b) if c < b.len() => b[c] = v as f32,
            _ => return false,
        },
        _ => return false,
    }
    true
}

/// Counts mismatches with one field changed. Scales and bias only change the
/// requantization, so the accumulators of one run are reused whenever the
/// engine's accumulation does not itself depend on them (and the input codes
/// do not: pasted codes stay put when the input scale moves).
struct Scanner<'a> {
    sc: &'a Scenario,
    engine: Computation,
    want: &'a [i64],
    run: Option<Run>,
}

impl Scanner<'_> {
    fn count(&self, field: &str, v: f64) -> Option<usize> {
        let mut p = self.sc.params.clone();
        set_field(&mut p, field, v).then_some(())?;
        let fixed_input =
            !field.starts_with("input") || matches!(self.sc.input, InputSource::Codes { .. });
        if let (Some(run), true) = (&self.run, fixed_input) {
            let r = Requant::new(self.engine, &p, &self.sc.shape, &self.sc.platform).ok()?;
            let k = r.kernel.accumulation;
            if k == run.ra.kernel.accumulation && k != Accumulation::DequantizedFloat {
                let out = run.outputs(&r);
                return (out.len() == self.want.len()).then(|| {
                    out.iter()
                        .zip(self.want)
                        .filter(|(a, b)| **a as i64 != **b)
                        .count()
                });
            }
        }
        let mut t = self.sc.clone();
        t.params = p;
        mismatches(&t, self.engine, self.want)
    }
}

/// `weight_scale[0]` -> "weight scale" (one channel) or "weight scale of channel 0".
fn human(field: &str, channels: usize) -> String {
    let (name, c) = match field.split_once('[') {
        Some((n, rest)) => (n, Some(rest.trim_end_matches(']'))),
        None => (field, None),
    };
    let name = name.replace('_', " ");
    match c {
        Some(c) if channels > 1 => format!("{name} of channel {c}"),
        _ => name,
    }
}

/// Six significant digits.
fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let d = (5 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.d$}")
}

/// The fields a printout rounded that the computation uses.
fn rounded_fields(paste: &Paste) -> Vec<&Field> {
    paste
        .fields
        .iter()
        .filter(|f| !f.value.exact && f.value.half_width > 0.0)
        // Scales and bias; zero points are integers, printed exactly.
        .filter(|f| !f.name.contains("zero_point"))
        .collect()
}

/// Culprits, engine-checked suggestions, and the sentence that names them.
pub(super) fn diagnose(
    paste: &Paste,
    sc: &Scenario,
    engine: Computation,
    want: &[i64],
    before: usize,
) -> (Vec<Culprit>, Vec<Suggestion>, String) {
    let fields = rounded_fields(paste);
    let total = want.len();
    let channels = sc.shape.out_channels;
    if fields.is_empty() {
        return (vec![], vec![], "; every value it depends on was pasted exact, so the difference is not rounding (another engine, or another layer's printout?)".into());
    }
    let s = &sc.shape;
    let per_run = (s.output_len() * (s.in_channels / s.groups.max(1)) * s.kernel[0] * s.kernel[1])
        .max(s.output_len())
        + s.input_len();
    let runs = fields.len() * 2 + paste.suggestions.len();
    let steps = (BUDGET / per_run.max(1) / runs.max(1)).min(STEPS);
    if steps < MIN_STEPS {
        return (vec![], vec![], format!("; {} of the values it depends on are rounded printouts (see the notes), which can explain it (the conv is too large to test each)", fields.len()));
    }
    let scanner = Scanner {
        sc,
        engine,
        want,
        run: {
            let mut t = sc.clone();
            (t.a, t.b) = (engine, engine);
            t.run().ok()
        },
    };
    let count = |field: &str, v: f64| scanner.count(field, v);
    let mut culprits = vec![];
    let mut suggestions: Vec<Suggestion> = vec![];
    for f in &fields {
        let (lo, hi) = f.value.interval();
        let pts: Vec<(f64, usize)> = (0..=steps)
            .filter_map(|i| {
                let x = lo + (hi - lo) * i as f64 / steps as f64;
                Some((x, count(&f.name, x)?))
            })
            .collect();
        let Some(best) = pts.iter().map(|p| p.1).min() else {
            continue;
        };
        if best >= before {
            continue;
        }
        // The longest run of steps at the best count.
        let (mut run, mut cur) = ((0, 0), None::<usize>);
        for (i, p) in pts.iter().enumerate() {
            if p.1 == best {
                let start = *cur.get_or_insert(i);
                if i - start >= run.1 - run.0 || pts[run.0].1 != best {
                    run = (start, i);
                }
            } else {
                cur = None;
            }
        }
        // Narrow the gap to each neighbouring step by bisection, so the
        // interval reported is close to the whole run of best values.
        let edge = |mut good: f64, mut bad: f64| {
            for _ in 0..REFINE {
                let mid = 0.5 * (good + bad);
                match count(&f.name, mid) {
                    Some(m) if m == best => good = mid,
                    _ => bad = mid,
                }
            }
            good
        };
        let low = if run.0 > 0 {
            edge(pts[run.0].0, pts[run.0 - 1].0)
        } else {
            pts[run.0].0
        };
        let high = if run.1 + 1 < pts.len() {
            edge(pts[run.1].0, pts[run.1 + 1].0)
        } else {
            pts[run.1].0
        };
        culprits.push(Culprit {
            field: f.name.clone(),
            printed: f.value.clone(),
            low,
            high,
            mismatches: best,
            before,
        });
        // The shortest decimal in that run, if the engine confirms it; else its middle step.
        let short = shortest_in(low, high);
        let (cand, after) = match count(&f.name, short) {
            Some(a) if a < before => (short, a),
            _ => (pts[(run.0 + run.1) / 2].0, best),
        };
        suggestions.push(Suggestion {
            field: f.name.clone(),
            printed: f.value.clone(),
            low,
            high,
            candidate: cand,
            assumption: "only this value differs from its printout; the others are as printed".into(),
            reasoning: format!(
                "{} was printed as {} (±{}); with {cand} {} gives {} of the {total} pasted values instead of {}",
                human(&f.name, channels),
                f.value.text,
                fmt_hw(f.value.half_width),
                engine.name(),
                total - after,
                total - before
            ),
            mismatches_before: Some(before),
            mismatches_after: Some(after),
        });
    }
    // The reader's own estimates (e.g. a weight scale read off a dequantized
    // weight) are offered only if the engine finds them better.
    for s in &paste.suggestions {
        let Some(after) = count(&s.field, s.candidate) else {
            continue;
        };
        if after >= before
            || suggestions
                .iter()
                .any(|o| o.field == s.field && o.mismatches_after <= Some(after))
        {
            continue;
        }
        suggestions.retain(|o| o.field != s.field);
        let mut s = s.clone();
        s.reasoning = format!(
            "{}; with it {} gives {} of the {total} pasted values instead of {}",
            s.reasoning,
            engine.name(),
            total - after,
            total - before
        );
        s.mismatches_before = Some(before);
        s.mismatches_after = Some(after);
        suggestions.push(s);
    }
    let message = if culprits.is_empty() {
        format!("; no rounded printout explains it alone ({} moved across its rounding never does better): the values may be off together, or the output comes from another engine", fields.iter().map(|f| human(&f.name, channels)).collect::<Vec<_>>().join(", "))
    } else {
        let named: Vec<String> = culprits
            .iter()
            .map(|c| {
                let effect = if c.mismatches == 0 {
                    format!("reproduce all {total} pasted values")
                } else {
                    format!("leave {} of {total} values different", c.mismatches)
                };
                format!(
                    "the {} printed as {} (any value in {}..{} makes {} {effect})",
                    human(&c.field, channels),
                    c.printed.text,
                    sig(c.low),
                    sig(c.high),
                    engine.name()
                )
            })
            .collect();
        format!(
            "; printed-rounded values explain it: {}. The printouts rounded them (the true values lie within their rounding and act together); print them exactly and paste them with their prompts (>>> net.quant.scale.item() or >>> qx.q_scale(), >>> net.conv1.weight().q_per_channel_scales().tolist(), >>> net.conv1.bias().tolist())",
            named.join("; ")
        )
    };
    (culprits, suggestions, message)
}
