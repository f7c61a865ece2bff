//! Why two computations give different codes at one pixel: both traces, the
//! step where they part, and the cause in words.
//!
//! Hand calculations are blamed by counterfactuals: each of their mistakes is
//! undone alone, and the ones whose removal gives the other side's code are
//! the causes. Engine pairs are diagnosed from their traces (bias rounding,
//! last-bit multipliers, ties, clamping).
use crate::engine::{Assumption, Computation, HandAssumptions};
use crate::error::Result;
use crate::fbgemm_gemm::SaturatedPair;
use crate::scenario::{Run, Side};
use crate::trace::{first_divergence, Trace};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cause {
    /// Stable code: printed_scale, printed_bias, bias_rounding, float64,
    /// rounding_rule, zero_points, clamp, tie, multiplier_last_bit, bias_arithmetic,
    /// zero_point_order, int16_saturation,
    /// float_precision, other.
    pub code: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub channel: usize,
    pub row: usize,
    pub col: usize,
    pub out_a: i64,
    pub out_b: i64,
    pub a: Trace,
    pub b: Trace,
    /// Key of the first step (in A's order) where the traces hold different values.
    pub parts_at: Option<&'static str>,
    pub causes: Vec<Cause>,
    pub summary: String,
    /// The terms of the exact accumulator, in summation order.
    pub taps: Vec<crate::conv::Tap>,
    /// Which kernel ran A and B, and why.
    pub kernel_a: String,
    pub kernel_b: String,
    /// The int16 pairs that saturated at this pixel (a saturating kernel's side).
    pub saturated_pairs: Vec<SaturatedPair>,
    /// The engine causes are still to be added (the page's worker asks the
    /// lazily loaded diagnosis, appends them and writes the summary's "Why").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub causes_pending: bool,
    /// For a hand calculation: each of its assumptions undone alone, and what
    /// that gives here (the page's one-click undo buttons).
    pub undo: Vec<Undo>,
}

/// One hand assumption undone alone.
#[derive(Debug, Clone, Serialize)]
pub struct Undo {
    /// The hand switch's label (`hand::SWITCHES`), with the option it is
    /// set to when it is a choice.
    pub label: String,
    /// "a" or "b": which computation is the hand calculation.
    pub side: &'static str,
    /// The hand calculation with this one assumption undone.
    pub hand: HandAssumptions,
    /// Its output code at this pixel.
    pub gives: i64,
    /// The assumption undone (the cause named when `gives` matches the other side).
    #[serde(skip)]
    pub cause: Assumption,
}

fn undos(run: &Run, index: usize) -> Result<Vec<Undo>> {
    let mut v = vec![];
    for (side, c) in [("a", &run.ra.computation), ("b", &run.rb.computation)] {
        let Some(h) = c.hand else { continue };
        for (a, fixed) in h.single_fixes() {
            let label = match crate::engine::hand::SWITCHES.iter().find(|s| s.cause == a) {
                Some(s) if s.boolean => s.label.to_string(),
                Some(s) => format!("{}: {}", s.label, s.options[(s.get)(&fixed)].label),
                None => a.describe().to_string(),
            };
            v.push(Undo {
                label,
                side,
                hand: fixed,
                gives: run.output_with(Computation::hand(fixed), index)?,
                cause: a,
            });
        }
    }
    Ok(v)
}

/// One saturated pair in words: "211 · 71 (...) + 171 · 107 (...) = 33278, past int16's 32767: kept as 32767".
pub fn describe_pair(p: &SaturatedPair) -> String {
    let tap = |i: usize| match p.taps[i] {
        Some((c, y, x)) => format!("input channel {c} at kernel ({y}, {x})"),
        None => "K padding".to_string(),
    };
    let [(a0, w0), (a1, w1)] = p.codes;
    format!(
        "{} · {} ({}) + {} · {} ({}) = {}, past int16's {}: kept as {}",
        a0,
        w0,
        tap(0),
        a1,
        w1,
        tap(1),
        p.exact,
        if p.exact > 0 { "32767" } else { "-32768" },
        p.clamped
    )
}

fn assumption_code(a: Assumption) -> &'static str {
    match a {
        Assumption::PrintedOutputScale
        | Assumption::PrintedWeightScale
        | Assumption::PrintedInputScale => "printed_scale",
        Assumption::PrintedBias => "printed_bias",
        Assumption::BiasRounded => "bias_rounding",
        Assumption::Float64 => "float64",
        Assumption::HalfAway => "rounding_rule",
        Assumption::ZeroPointsIgnored => "zero_points",
        Assumption::ClampIgnored => "clamp",
        Assumption::FixedPoint => "fixed_point_multiplier",
    }
}

/// Blame for a hand calculation (on `side`) whose result differs from
/// `target`, from its assumptions undone one at a time (`undo`).
fn blame_hand(
    run: &Run,
    h: HandAssumptions,
    undo: &[Undo],
    side: &str,
    index: usize,
    target: i64,
) -> Result<Vec<Cause>> {
    let mut causes = vec![];
    for u in undo.iter().filter(|u| u.side == side && u.gives == target) {
        causes.push(Cause {
            code: assumption_code(u.cause),
            text: format!(
                "{} (undoing only this gives {})",
                u.cause.describe(),
                u.gives
            ),
        });
    }
    if causes.is_empty() {
        // No single mistake explains it: try the printouts together, then everything.
        let printed_off = HandAssumptions {
            print_input_scale: false,
            print_weight_scale: false,
            print_output_scale: false,
            print_bias: false,
            ..h
        };
        let any_printed =
            h.print_input_scale || h.print_output_scale || h.print_weight_scale || h.print_bias;
        if any_printed && run.output_with(Computation::hand(printed_off), index)? == target {
            causes.push(Cause {
                code: "printed_scale",
                text: "the values copied from printouts (4 decimals) together; no single one alone"
                    .into(),
            });
        } else {
            let mut rest: Vec<String> = h
                .single_fixes()
                .iter()
                .map(|(a, _)| a.describe().to_string())
                .collect();
            if rest.is_empty() {
                rest.push("the hand formula works in float64 where the kernel rounds to float32 at each step".into());
            }
            causes.push(Cause {
                code: "other",
                text: format!("several assumptions at once: {}", rest.join("; ")),
            });
        }
    }
    Ok(causes)
}

pub fn explain(run: &Run, channel: usize, row: usize, col: usize) -> Result<Explanation> {
    let index = run.index(channel, row, col)?;
    let a = run.trace(Side::A, index);
    let b = run.trace(Side::B, index);
    let (out_a, out_b) = (
        run.out_a[run.at(index)] as i64,
        run.out_b[run.at(index)] as i64,
    );
    let parts_at = first_divergence(&a, &b).map(|s| s.key);
    let mut pending = false;
    // Each hand assumption undone alone: the page's buttons and the blame.
    let undo = undos(run, index)?;
    let mut causes = if out_a == out_b {
        vec![]
    } else if let Some(h) = run.rb.computation.hand {
        blame_hand(run, h, &undo, "b", index, out_a)?
    } else if let Some(h) = run.ra.computation.hand {
        blame_hand(run, h, &undo, "a", index, out_b)?
    } else {
        let (c, later) = engine_causes(&a, &b);
        pending = later;
        c
    };
    let exact = run.acc[run.at(index)];
    let saturated = [&run.ra, &run.rb].into_iter().find(|r| {
        matches!(
            r.kernel.accumulation,
            crate::engine::Accumulation::Fbgemm { .. } | crate::engine::Accumulation::MlasU8S8
        ) && run.acc_for(r)[run.at(index)] != exact
    });
    let mut pairs = vec![];
    if let Some(r) = saturated {
        let fb = run.acc_for(r)[run.at(index)];
        pairs = run.saturated_pairs(r, index);
        let named = match pairs.first() {
            Some(p) => format!(
                "; {} pair{} saturated, the first {}",
                pairs.len(),
                if pairs.len() == 1 { "" } else { "s" },
                describe_pair(p)
            ),
            None => String::new(),
        };
        if out_a != out_b {
            causes.retain(|c| c.code != "other");
            causes.insert(
                0,
                Cause {
                    code: "int16_saturation",
                    text: format!(
                        "{}'s {} kernel adds pairs of u8·s8 products with int16 saturation \
                         (vpmaddubsw): its accumulator is {fb} where the exact sum is {exact}{named}; \
                         activation codes at or below 127 (reduce_range=True) avoid it{}",
                        r.computation.name(),
                        r.kernel.path.unwrap_or("GEMM"),
                        if r.kernel.accumulation == crate::engine::Accumulation::MlasU8S8 {
                            format!(" ({})", crate::mlas_u8s8::LABEL)
                        } else {
                            String::new()
                        }
                    ),
                },
            );
        }
    }
    // With causes still to come, the worker writes the "Why" once it has them all.
    let summary = summarize(
        run,
        &a,
        &b,
        out_a,
        out_b,
        parts_at,
        if pending { &[] } else { &causes },
    );
    Ok(Explanation {
        channel,
        row,
        col,
        out_a,
        out_b,
        a,
        b,
        parts_at,
        causes,
        summary,
        taps: run.taps(index),
        kernel_a: run.ra.kernel.why.clone(),
        kernel_b: run.rb.kernel.why.clone(),
        saturated_pairs: pairs,
        causes_pending: pending,
        undo,
    })
}

/// Causes between two engines, and whether they are left to the lazily loaded
/// diagnosis (the page's first-load wasm does not carry it).
#[cfg(any(not(target_arch = "wasm32"), feature = "link"))]
fn engine_causes(a: &Trace, b: &Trace) -> (Vec<Cause>, bool) {
    (crate::diagnose::diagnose(a, b), false)
}
#[cfg(not(any(not(target_arch = "wasm32"), feature = "link")))]
fn engine_causes(_: &Trace, _: &Trace) -> (Vec<Cause>, bool) {
    (vec![], true)
}

fn summarize(
    run: &Run,
    a: &Trace,
    b: &Trace,
    out_a: i64,
    out_b: i64,
    parts_at: Option<&str>,
    causes: &[Cause],
) -> String {
    let (na, nb) = (run.ra.computation.name(), run.rb.computation.name());
    if out_a == out_b {
        return match parts_at {
            None => format!("{na} and {nb} both give {out_a}, with the same intermediate values."),
            Some(k) => format!(
                "{na} and {nb} both give {out_a}; their {} differ but round to the same code.",
                a.get(k).map_or(k, |s| &s.label)
            ),
        };
    }
    let mut s = format!("{na} gives {out_a}, {nb} gives {out_b}.");
    if let Some(k) = parts_at {
        if let (Some(x), Some(y)) = (a.get(k), b.get(k)) {
            s.push_str(&format!(
                " The first step that differs: the {} ({} vs {}).",
                x.label, x.decimal, y.decimal
            ));
        }
    }
    if !causes.is_empty() {
        let texts: Vec<&str> = causes.iter().map(|c| c.text.as_str()).collect();
        // For a hand calculation the causes are the assumptions whose undoing
        // changes the result, which need not be the first step that differs.
        let hand = run.ra.computation.is_hand() || run.rb.computation.is_hand();
        let lead = if hand {
            "What changes the result"
        } else {
            "Why"
        };
        s.push_str(&format!(" {lead}: {}.", texts.join("; ")));
    }
    s
}

/// Both traces side by side as text, marking the step where they part.
pub fn render_text(e: &Explanation, title_a: &str, title_b: &str) -> String {
    let mut keys: Vec<&str> = e.a.steps.iter().map(|s| s.key).collect();
    for s in &e.b.steps {
        if !keys.contains(&s.key) {
            keys.push(s.key);
        }
    }
    let cell = |t: &Trace, k: &str| {
        t.get(k).map_or(String::new(), |s| match &s.bits {
            Some(b) => format!("{} [{}]", s.decimal, b),
            None => s.decimal.clone(),
        })
    };
    let label = |k: &str| {
        e.a.get(k)
            .or(e.b.get(k))
            .map_or(k.to_string(), |s| s.label.clone())
    };
    let w0 = keys
        .iter()
        .map(|k| label(k).len())
        .max()
        .unwrap_or(4)
        .max(4);
    let w1 = keys
        .iter()
        .map(|k| cell(&e.a, k).len())
        .max()
        .unwrap_or(0)
        .max(title_a.len());
    let mut out = format!(
        "pixel channel {}, row {}, col {}\nkernel A: {}\nkernel B: {}\n  {:w0$}  {:w1$}  {}\n",
        e.channel, e.row, e.col, e.kernel_a, e.kernel_b, "step", title_a, title_b
    );
    for k in &keys {
        let mark = if Some(*k) == e.parts_at { ">" } else { " " };
        out.push_str(&format!(
            "{mark} {:w0$}  {:w1$}  {}\n",
            label(k),
            cell(&e.a, k),
            cell(&e.b, k)
        ));
    }
    if let Some(k) = e.parts_at {
        out.push_str(&format!("> they part at: {}\n", label(k)));
    }
    for c in &e.causes {
        out.push_str(&format!("cause [{}]: {}\n", c.code, c.text));
    }
    for p in &e.saturated_pairs {
        out.push_str(&format!("saturated pair: {}\n", describe_pair(p)));
    }
    out.push_str(&taps_text(e));
    out.push_str(&e.summary);
    out.push('\n');
    out
}

/// The accumulator's terms: all of them for small kernels, the first few otherwise.
fn taps_text(e: &Explanation) -> String {
    const SHOWN: usize = 12;
    let live: Vec<_> = e.taps.iter().filter(|t| t.input_yx.is_some()).collect();
    let mut out = format!(
        "accumulator = sum of {} term{} (qx - zx)·(qw - zw), {} in the padding (0):\n",
        e.taps.len(),
        if e.taps.len() == 1 { "" } else { "s" },
        e.taps.len() - live.len()
    );
    for t in live.iter().take(SHOWN) {
        let (y, x) = t.input_yx.unwrap_or_default();
        out.push_str(&format!(
            "  qx = input[c{} y{} x{}] = {}, qw = weight[c{} {},{}] = {}: term {}\n",
            t.in_channel, y, x, t.qx, t.in_channel, t.ky, t.kx, t.qw, t.product
        ));
    }
    if live.len() > SHOWN {
        out.push_str(&format!("  … {} more\n", live.len() - SHOWN));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::diagnose;
    use crate::engine::HandAssumptions;
    use crate::scenario::preset;
    use crate::trace::Recorder;
    use crate::trace::{key, Value};

    fn trace(steps: &[(&'static str, Value)]) -> Trace {
        let mut t = Trace::default();
        for &(k, v) in steps {
            t.step(k, v, || ("".into(), "".into()));
        }
        t
    }

    #[test]
    fn last_bit_multipliers_and_ties_are_named() {
        let m = 0.0073559606f32;
        let m2 = f32::from_bits(m.to_bits() + 1);
        let a = trace(&[
            (key::MULTIPLIER, Value::F32(m)),
            (key::PRE_ROUND, Value::F32(30.499998)),
            (key::PLUS_ZP, Value::Int(30)),
            (key::OUTPUT, Value::Int(30)),
        ]);
        let b = trace(&[
            (key::MULTIPLIER, Value::F32(m2)),
            (key::PRE_ROUND, Value::F32(30.500002)),
            (key::PLUS_ZP, Value::Int(31)),
            (key::OUTPUT, Value::Int(31)),
        ]);
        let codes: Vec<&str> = diagnose(&a, &b).iter().map(|c| c.code).collect();
        assert_eq!(codes, ["multiplier_last_bit", "tie"]);
        assert!(diagnose(&a, &b)[0].text.contains("1 ulp"));
    }

    #[test]
    fn bias_rounding_clamp_and_float_precision() {
        let a = trace(&[
            (key::BIAS_TERM, Value::F32(1072.4072)),
            (key::PRE_ROUND, Value::F32(300.2)),
            (key::PLUS_ZP, Value::Int(300)),
            (key::OUTPUT, Value::Int(255)),
        ]);
        let b = trace(&[
            (key::BIAS_TERM, Value::Int(1072)),
            (key::PRE_ROUND, Value::F32(254.1)),
            (key::PLUS_ZP, Value::Int(254)),
            (key::OUTPUT, Value::Int(254)),
        ]);
        let codes: Vec<&str> = diagnose(&a, &b).iter().map(|c| c.code).collect();
        assert_eq!(codes, ["clamp", "bias_rounding"]);
        let f = trace(&[(key::PRE_ROUND, Value::F32(2.5000002))]);
        let g = trace(&[(key::PRE_ROUND, Value::F64(2.3))]);
        assert_eq!(diagnose(&f, &g)[0].code, "float_precision");
    }

    #[test]
    fn hand_without_zero_points_is_blamed_on_them() {
        let mut sc = preset("per-channel").unwrap();
        sc.b = Computation::hand(HandAssumptions {
            ignore_zero_points: true,
            ..HandAssumptions::faithful()
        });
        let run = sc.run().unwrap();
        let i = (0..run.out_a.len())
            .find(|&i| run.out_a[i] != run.out_b[i])
            .expect("a differing pixel");
        let (_, c, y, x) = run.position(i);
        let e = explain(&run, c, y, x).unwrap();
        assert!(
            e.causes.iter().any(|c| c.code == "zero_points"),
            "{:?}",
            e.causes
        );
        assert!(e.summary.starts_with("fbgemm gives"), "{}", e.summary);
    }

    /// A 1x1 conv of one pixel: input `x` (a constant, scale sx, zero point 0),
    /// weight code 1 (scale 1), int32 bias `b`, output scale `sy`.
    fn one_pixel(
        a: &str,
        b: &str,
        dtype: crate::quant::DType,
        x: f32,
        sx: f64,
        bias: i32,
        sy: f64,
    ) -> crate::scenario::Scenario {
        let mut sc = preset("forum").unwrap();
        sc.shape.width = 1;
        sc.shape.height = 1;
        sc.input = crate::scenario::InputSource::Constant { value: x };
        sc.weights = vec![1];
        let p = &mut sc.params;
        p.input_scale = sx;
        p.input_zero_point = 0;
        p.weight_scales = vec![1.0];
        p.weight_zero_points = vec![0];
        p.bias = None;
        p.bias_i32 = Some(vec![bias]);
        p.output_scale = sy;
        p.output_zero_point = 0;
        p.input_dtype = dtype;
        p.output_dtype = dtype;
        sc.a = Computation::parse(a).unwrap();
        sc.b = Computation::parse(b).unwrap();
        sc.view = Default::default();
        sc
    }

    fn causes_of(sc: &crate::scenario::Scenario) -> (Explanation, Vec<&'static str>) {
        let run = sc.run().unwrap();
        let e = explain(&run, 0, 0, 0).unwrap();
        let codes = e.causes.iter().map(|c| c.code).collect();
        (e, codes)
    }

    #[test]
    fn double_rounding_separates_tflite_reference_from_xnnpack() {
        use crate::quant::DType::QInt8;
        // acc + b = 1 + 1150 = 1151, M = 1/256: QuantizeMultiplier gives 2^30, shift -7.
        // High multiply: 1151 · 2^30 / 2^31 = 575.5 -> 576 (half up); 576 / 2^7 = 4.5 -> 5
        // (half away). Once: 1151 / 256 = 4.496 -> 4, what XNNPACK's float32 gives.
        let sc = one_pixel(
            "tflite-reference",
            "tflite-xnnpack",
            QInt8,
            1.0,
            1.0,
            1150,
            256.0,
        );
        let (e, codes) = causes_of(&sc);
        assert_eq!((e.out_a, e.out_b), (5, 4));
        assert_eq!(codes, ["double_rounding"], "{:?}", e.causes);
        assert!(
            e.causes[0].text.contains("0.00390625"),
            "{}",
            e.causes[0].text
        );
        // The trace shows the multiplier, the shift and the exact real number.
        let m = e.a.get(key::MULTIPLIER).unwrap();
        assert_eq!(m.value, Value::Int(1 << 30));
        assert!(
            m.formula
                .contains("1073741824 · 2^(-7 - 31) = 0.00390625 exactly"),
            "{}",
            m.formula
        );
        assert_eq!(e.a.get(key::HIGH_MUL).unwrap().value, Value::Int(576));
    }

    #[test]
    fn half_away_vs_half_even_at_a_tie_in_tflite() {
        use crate::quant::DType::QInt8;
        // 1152 / 256 = 4.5 exactly: the high multiply is exact (576), the reference
        // rounds 4.5 away from zero to 5, XNNPACK half to even to 4.
        let sc = one_pixel(
            "tflite-reference",
            "tflite-xnnpack",
            QInt8,
            1.0,
            1.0,
            1151,
            256.0,
        );
        let (e, codes) = causes_of(&sc);
        assert_eq!((e.out_a, e.out_b), (5, 4));
        assert_eq!(codes, ["rounding_rule"], "{:?}", e.causes);
        assert!(
            e.causes[0].text.contains("exact tie"),
            "{}",
            e.causes[0].text
        );
    }

    #[test]
    fn reference_vs_optimized_differ_in_the_second_rounding() {
        use crate::quant::DType::QInt8;
        // acc + b = 1 - 4610 = -4609, M = 2^-10 (2^30, shift -9): high multiply
        // -2304.5 -> -2304 (half up) on both; -2304 / 2^9 = -4.5: the reference
        // rounds away to -5, the optimized vector path up to -4.
        let sc = one_pixel(
            "tflite-reference",
            "tflite-optimized",
            QInt8,
            1.0,
            1.0,
            -4610,
            1024.0,
        );
        let (e, codes) = causes_of(&sc);
        assert_eq!((e.out_a, e.out_b), (-5, -4));
        assert_eq!(codes, ["rounding_rule"], "{:?}", e.causes);
        assert!(
            e.causes[0].text.contains("second rounding"),
            "{}",
            e.causes[0].text
        );
    }

    #[test]
    fn qdq_fused_vs_float_part_at_the_float_sum() {
        use crate::quant::DType::QUInt8;
        // x = 13 (sx = 0.1), w = 1 (sw = 1), no bias, sy = 0.2. Fused: 13 · f32(0.1 / 0.2)
        // = 6.5 exactly -> 6 (half to even). Float: f32(13 · 0.1) / 0.2 = 6.5000005 -> 7.
        let mut sc = one_pixel(
            "onnxruntime-qdq-fused",
            "onnxruntime-qdq-float",
            QUInt8,
            1.3,
            0.1,
            0,
            0.2,
        );
        sc.params.bias_i32 = None;
        let (e, codes) = causes_of(&sc);
        assert_eq!((e.out_a, e.out_b), (6, 7));
        assert_eq!(codes, ["float_summation"], "{:?}", e.causes);
    }

    #[test]
    fn fbgemm_vs_ort_bias_in_float_vs_int32() {
        use crate::quant::DType::QUInt8;
        // acc = 1, M = 1/2. fbgemm keeps the bias 0.4 as a float: 1.4 / 2 = 0.7 -> 1.
        // ORT adds the int32 bias round(0.4) = 0: 1 / 2 = 0.5 -> 0 (half to even).
        let mut sc = one_pixel(
            "fbgemm",
            "onnxruntime-qlinearconv",
            QUInt8,
            1.0,
            1.0,
            0,
            2.0,
        );
        sc.params.bias = Some(vec![0.4]);
        sc.params.per_channel = false;
        let (e, codes) = causes_of(&sc);
        assert_eq!((e.out_a, e.out_b), (1, 0));
        assert_eq!(codes, ["bias_rounding"], "{:?}", e.causes);
        assert!(
            e.causes[0].text.contains("int32 vs float"),
            "{}",
            e.causes[0].text
        );
    }

    #[test]
    fn relu6_bound_order_separates_tflite_reference_from_xnnpack() {
        use crate::quant::DType::QInt8;
        // sy = 6 / 162.5, zy = -82: the reference bounds at -82 + round(162.5) = 81
        // (half away), XNNPACK at round(162.5 - 82) = round(80.5) = 80 (half to even).
        // x = 10: 10 · 27.08 - 82 = 188.8, clamped by both bounds.
        let mut sc = one_pixel(
            "tflite-reference",
            "tflite-xnnpack",
            QInt8,
            10.0,
            1.0,
            0,
            0.03692307695746422,
        );
        sc.params.output_zero_point = -82;
        sc.params.relu = true;
        sc.params.relu6 = true;
        let (e, codes) = causes_of(&sc);
        assert_eq!((e.out_a, e.out_b), (81, 80));
        assert_eq!(codes, ["clamp_order"], "{:?}", e.causes);
    }

    #[test]
    fn fixed_point_multiplier_named_from_traces() {
        // Fixed point: 3 · 2^30 · 2^(-1 - 31) = 0.75 -> 1 with no tie or double rounding
        // against a float side that (say) lands on 0.
        let a = trace(&[
            (key::SUM, Value::Int(3)),
            (key::MULTIPLIER, Value::Int(1 << 30)),
            (key::SHIFT, Value::Int(-1)),
            (key::HIGH_MUL, Value::Int(2)),
            (key::ROUNDED, Value::Int(1)),
            (key::PLUS_ZP, Value::Int(1)),
            (key::OUTPUT, Value::Int(1)),
        ]);
        let b = trace(&[
            (key::SUM, Value::Int(3)),
            (key::MULTIPLIER, Value::F32(0.16)),
            (key::PRE_ROUND, Value::F32(0.48)),
            (key::ROUNDED, Value::F32(0.0)),
            (key::OUTPUT, Value::Int(0)),
        ]);
        let c = diagnose(&a, &b);
        assert_eq!(c[0].code, "fixed_point_multiplier", "{c:?}");
        assert!(c[0].text.contains("0.25"), "{}", c[0].text);
        assert!(c[0].text.contains("0.75"), "{}", c[0].text);
    }

    #[test]
    fn agreeing_pixels_say_so() {
        let run = preset("forum").unwrap().run().unwrap();
        let e = explain(&run, 0, 0, 0).unwrap();
        assert_eq!(e.out_a, e.out_b);
        assert!(e.causes.is_empty());
        assert!(e.summary.contains("both give"), "{}", e.summary);
        let text = render_text(&e, "A", "B");
        assert!(text.contains("accumulator = sum of 1 term"), "{text}");
    }
}
