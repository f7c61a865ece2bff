//! Why two engines part at one pixel, read from their two traces alone: bias
//! in int32 vs float, last-bit multipliers, ties, double rounding, half away
//! vs half to even, the fixed-point multiplier, float summation (QDQ unfused),
//! the zero point's and ReLU6's bound's order, clamping. Natively it runs
//! inside `explain`; the page's first-load wasm leaves it to the lazily loaded
//! link wasm (`Links::diagnose`, asked by `www/worker.js`).
use crate::explain::Cause;
use crate::trace::{key, ulps_f32, Trace, Value};

fn pre_round(t: &Trace) -> Option<f64> {
    t.get(key::PRE_ROUND).map(|s| s.value.as_f64())
}

fn f32_of(t: &Trace, k: &str) -> Option<f32> {
    match t.get(k)?.value {
        Value::F32(f) => Some(f),
        _ => None,
    }
}

fn int_of(t: &Trace, k: &str) -> Option<i64> {
    match t.get(k)?.value {
        Value::Int(i) => Some(i),
        _ => None,
    }
}

/// A fixed-point requantization read back from its trace: `acc + b`, the
/// multiplier, the shift, the high multiply and the second rounding.
struct Fixed {
    sum: i64,
    m: i64,
    shift: i64,
    high: i64,
    rounded: i64,
}

fn fixed_of(t: &Trace) -> Option<Fixed> {
    Some(Fixed {
        sum: int_of(t, key::SUM)?,
        m: int_of(t, key::MULTIPLIER)?,
        shift: int_of(t, key::SHIFT)?,
        high: int_of(t, key::HIGH_MUL)?,
        rounded: int_of(t, key::ROUNDED)?,
    })
}

/// `n / 2^k` rounded once, half away from zero and half to even (exact integers).
fn round_once(n: i128, k: u32) -> (i128, i128) {
    // Shifts, not division: floor and remainder of n / 2^k.
    let d = 1i128 << k;
    let (q, r) = (n >> k, n & (d - 1));
    let twice = 2 * r;
    let even = if twice > d || (twice == d && q % 2 != 0) {
        q + 1
    } else {
        q
    };
    let away = if twice > d || (twice == d && n >= 0) {
        q + 1
    } else {
        q
    };
    (away, even)
}

/// Causes between two fixed-point traces or a fixed-point and a float trace.
fn fixed_point_causes(a: &Trace, b: &Trace) -> Vec<Cause> {
    let (fa, fb) = (fixed_of(a), fixed_of(b));
    let side = |t: &Trace| if std::ptr::eq(t, a) { "A" } else { "B" };
    if let (Some(x), Some(y)) = (&fa, &fb) {
        if x.m == y.m && x.shift == y.shift && x.high == y.high && x.rounded != y.rounded {
            let r = (-x.shift).max(0);
            let (up, away) = if x.rounded > y.rounded {
                ("B", "A")
            } else {
                ("A", "B")
            };
            return vec![Cause {
                code: "rounding_rule",
                text: format!(
                    "the second rounding: the high multiply gives {} on both sides and {} / 2^{r} is a tie; \
                     {away} divides half away from zero (RoundingDivideByPOT, the reference kernels), \
                     {up} shifts rounding half up (the optimized kernels' vector path), so negative ties differ",
                    x.high, x.high
                ),
            }];
        }
        return vec![];
    }
    let (f, g, ft) = match (&fa, &fb) {
        (Some(x), None) => (x, b, a),
        (None, Some(y)) => (y, a, b),
        _ => return vec![],
    };
    // Only the unclamped values tell about the multiplier and rounding.
    if ft.output() == g.output() || int_of(ft, key::PLUS_ZP) != ft.output() {
        return vec![];
    }
    // The exact real number the fixed-point side stands for: sum · m · 2^(shift - 31).
    let k = 31 - f.shift;
    let n = f.sum as i128 * f.m as i128;
    let (away, even) = if (0..=100).contains(&k) {
        round_once(n, k as u32)
    } else {
        return vec![];
    };
    let exact = crate::trace::exact_pow2_decimal(f.sum * f.m, -(k as i32));
    let fp = crate::trace::exact_pow2_decimal(f.m, f.shift as i32 - 31);
    if f.rounded as i128 != away {
        vec![Cause {
            code: "double_rounding",
            text: format!(
                "{} rounds twice: the high multiply rounds {}·{} / 2^31 to {} (half up), then {} / 2^{} \
                 rounds again to {}; rounded once, ({})·{fp} = {exact} gives {away}, as {} does",
                side(ft), f.sum, f.m, f.high, f.high, (-f.shift).max(0), f.rounded, f.sum, side(g)
            ),
        }]
    } else if away != even {
        vec![Cause {
            code: "rounding_rule",
            text: format!(
                "an exact tie: ({})·{fp} = {exact}; {} rounds half away from zero ({away}), {} half to even ({even})",
                f.sum, side(ft), side(g)
            ),
        }]
    } else {
        vec![Cause {
            code: "fixed_point_multiplier",
            text: format!(
                "{}'s fixed-point multiplier {}·2^({} - 31) stands for exactly {fp} (the float scale is {}); \
                 ({})·{fp} = {exact} rounds to {away}, {}'s float32 arithmetic lands on the other side",
                side(ft), f.m, f.shift,
                ft.get(key::SCALE).map_or("?".to_string(), |s| s.decimal.clone()),
                f.sum, side(g)
            ),
        }]
    }
}

/// Blame between two traces (engines, or an engine and the float reference).
pub fn diagnose(a: &Trace, b: &Trace) -> Vec<Cause> {
    let mut causes = fixed_point_causes(a, b);
    // QDQ unfused: a float32 sum of dequantized products against an integer sum.
    let float_sum = |t: &Trace| matches!(t.get(key::SUM).map(|s| s.value), Some(Value::F32(_)));
    let int_sum = |t: &Trace| matches!(t.get(key::SUM).map(|s| s.value), Some(Value::Int(_)));
    if a.output() != b.output()
        && ((float_sum(a) && int_sum(b)) || (float_sum(b) && int_sum(a)))
        && (a.get(key::ACC).is_none() || b.get(key::ACC).is_none())
    {
        let (fl, it) = if float_sum(a) { ("A", "B") } else { ("B", "A") };
        causes.push(Cause {
            code: "float_summation",
            text: format!(
                "{fl} runs the conv in float32 (QDQ unfused): dequantized products summed with fused \
                 multiply-adds in tap order, the dequantized bias added as a float, then divided by sy; \
                 {it} sums the integers exactly, adds the int32 bias and multiplies once by a float32 scale, \
                 so the two values before rounding differ in the last bits"
            ),
        });
    }
    // ReLU6's bound: rounded before or after adding the zero point.
    if let (Some(x), Some(y)) = (a.get(key::BOUND6), b.get(key::BOUND6)) {
        if x.value != y.value && a.output() != b.output() {
            causes.push(Cause {
                code: "clamp_order",
                text: format!(
                    "ReLU6's upper bound (the code of 6.0) differs: A makes it as {} = {}, B as {} = {}",
                    x.formula, x.decimal, y.formula, y.decimal
                ),
            });
        }
    }
    let ordered = !causes.is_empty();
    // Clamped when the value with the zero point is further from the output
    // than rounding moves it (oneDNN adds the zero point to a float before
    // rounding, so 1.5 -> 2 is rounding, not clamping).
    let clamped = |t: &Trace| match (t.get(key::PLUS_ZP), t.get(key::OUTPUT)) {
        (Some(p), Some(o)) => (p.value.as_f64() - o.value.as_f64()).abs() > 0.5,
        _ => false,
    };
    let zp_in_float = |t: &Trace| {
        matches!(
            t.get(key::PLUS_ZP).map(|s| s.value),
            Some(Value::F32(_) | Value::F64(_))
        )
    };
    if let (Some(pa), Some(pb)) = (a.get(key::PLUS_ZP), b.get(key::PLUS_ZP)) {
        if zp_in_float(a) != zp_in_float(b) && a.output() != b.output() {
            let (f, i) = if zp_in_float(a) { (pa, pb) } else { (pb, pa) };
            causes.push(Cause {
                code: "zero_point_order",
                text: format!(
                    "{} adds the output zero point before rounding ({} rounds to its code), \
                     {} after (rounded, then + zero point = {}): at a .5 tie with an odd \
                     zero point the two orders land on different codes",
                    if zp_in_float(a) { "A" } else { "B" },
                    f.decimal,
                    if zp_in_float(a) { "B" } else { "A" },
                    i.decimal
                ),
            });
        }
    }
    if clamped(a) != clamped(b) && !causes.iter().any(|c| c.code == "clamp_order") {
        causes.push(Cause {
            code: "clamp",
            text: format!(
                "{} is clamped, the other is not",
                if clamped(a) { "A" } else { "B" }
            ),
        });
    }
    let int_bias =
        |t: &Trace| matches!(t.get(key::BIAS_TERM).map(|s| s.value), Some(Value::Int(_)));
    if let (Some(x), Some(y)) = (a.get(key::BIAS_TERM), b.get(key::BIAS_TERM)) {
        if x.value.as_f64() != y.value.as_f64() {
            if int_bias(a) != int_bias(b) {
                causes.push(Cause {
                    code: "bias_rounding",
                    text: format!(
                        "bias in int32 vs float: one side adds an int32 bias ({}), the other keeps it as a float in accumulator units ({})",
                        if int_bias(a) { &x.decimal } else { &y.decimal },
                        if int_bias(a) { &y.decimal } else { &x.decimal }
                    ),
                });
            } else {
                causes.push(Cause {
                    code: "bias_arithmetic",
                    text: format!(
                        "the bias term is computed differently: {} vs {}",
                        x.decimal, y.decimal
                    ),
                });
            }
        }
    }
    if let (Some(x), Some(y)) = (f32_of(a, key::MULTIPLIER), f32_of(b, key::MULTIPLIER)) {
        let u = ulps_f32(x, y);
        if u > 0 && u <= 4 {
            causes.push(Cause {
                code: "multiplier_last_bit",
                text: format!(
                    "the multipliers differ in the last bit{} ({u} ulp): {x} vs {y}",
                    if u > 1 { "s" } else { "" }
                ),
            });
        }
    }
    if let (Some(x), Some(y)) = (pre_round(a), pre_round(b).filter(|_| !ordered)) {
        let boundary = x.min(y).floor() + 0.5;
        let straddle = (x - boundary) * (y - boundary) <= 0.0 && (x - y).abs() < 0.1;
        if straddle && (x - boundary).abs() < 0.05 && (y - boundary).abs() < 0.05 {
            let exact = x == boundary || y == boundary;
            causes.push(Cause {
                code: "tie",
                text: if exact {
                    format!("an exact tie at {boundary}: the rounding rule decides")
                } else {
                    format!("both values lie within 0.05 of {boundary}, so a tiny difference upstream flips the rounding")
                },
            });
        }
    }
    let float_side =
        |t: &Trace| matches!(t.get(key::PRE_ROUND).map(|s| s.value), Some(Value::F64(_)));
    if causes.is_empty() && float_side(a) != float_side(b) {
        causes.push(Cause {
            code: "float_precision",
            text: "the float reference keeps every value exact in float64; the kernel rounds to float32 at each step".into(),
        });
    }
    causes
}
