//! What the ONNX Runtime and LiteRT engines share: the int32 bias added to the
//! accumulator, output ranges by dtype, fused-activation bounds, and the
//! requantization formulas of each runtime (each engine file says which it runs).
use super::{Channel, ConvQParams, Dyn, DynRecorder};
use crate::error::{Error, Result};
use crate::quant::{scale_f32, DType};
use crate::trace::{key, Recorder, Value};
use std::sync::Arc;

/// How one runtime turns `acc + bias` into an output code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Formula {
    /// ONNX ConvInteger: the int32 sum is the output.
    Raw,
    /// MLAS `MlasRequantizeOutput` / XNNPACK fp32: `f32(acc + b) * scale` in
    /// float32, clamped to `[lo - zy, hi - zy]` in float, rounded half to even, `+ zy`.
    Float32 { scale: f32 },
    /// onnx ReferenceEvaluator: `(acc + b) * scale` in float64 (numpy promotes
    /// int32 times float32), `+ zy`, `np.round` (half to even), clip.
    Float64 { scale: f32 },
    /// ORT float path (QDQ unfused): the accumulator holds the bits of the
    /// float32 conv output; `QuantizeLinear`: `v / sy` in float32, clamp, half to even, `+ zy`.
    QuantizeLinear { sy: f32 },
    /// TFLite reference: `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << l, m), r)`:
    /// round half up, then half away from zero (double rounding).
    FixedPointDouble { m: i32, shift: i32, scale: f64 },
    /// TFLite optimized (vector path): the same high multiply, then a rounding
    /// shift that rounds half up (`vrshl`-style).
    FixedPointUp { m: i32, shift: i32, scale: f64 },
}

/// Output range of a dtype.
pub(crate) fn range(d: DType) -> (i64, i64) {
    d.range()
}

/// `f32(f32(sx · sw) / sy)`: the float32 requantization scale of ORT and XNNPACK.
pub(crate) fn float_scale(p: &ConvQParams, c: usize) -> Result<f32> {
    let sx = scale_f32("input scale", p.input_scale)?;
    let sy = scale_f32("output scale", p.output_scale)?;
    let sw = scale_f32("weight scale", p.weight_scale(c))?;
    let m = sx * sw / sy;
    if !(m > 0.0 && m.is_finite()) {
        return Err(Error::BadScale {
            what: "input scale x weight scale / output scale (float32)".into(),
            value: m as f64,
        });
    }
    Ok(m)
}

/// TFLite `QuantizeMultiplier`: `d = q · 2^(shift - 31)` with `q` in
/// `[2^30, 2^31)`, `q = round(frac · 2^31)` half away from zero (frexp).
pub fn quantize_multiplier(d: f64) -> (i32, i32) {
    if d == 0.0 || !d.is_finite() {
        return (0, 0);
    }
    let mut e = d.abs().log2().floor() as i32 + 1;
    let mut frac = d / 2f64.powi(e);
    // log2 can be off by one near powers of two: bring frac into [0.5, 1).
    while frac.abs() >= 1.0 {
        frac /= 2.0;
        e += 1;
    }
    while frac.abs() < 0.5 {
        frac *= 2.0;
        e -= 1;
    }
    let mut q = (frac * 2147483648.0).round() as i64;
    if q == 1 << 31 {
        q /= 2;
        e += 1;
    }
    if e < -31 {
        return (0, 0);
    }
    (q as i32, e)
}

/// gemmlowp `SaturatingRoundingDoublingHighMul`.
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp `RoundingDivideByPOT`: half away from zero.
pub fn rdpot(x: i32, e: i32) -> i32 {
    let mask = (1i64 << e) - 1;
    let x64 = x as i64;
    let rem = x64 & mask;
    let th = (mask >> 1) + i64::from(x < 0);
    ((x64 >> e) + i64::from(rem > th)) as i32
}

fn left_shifted(x: i32, shift: i32) -> i32 {
    // `x * (1 << left_shift)` in int32 (wraps where the C++ would overflow).
    (x as i64).wrapping_mul(1i64 << shift.max(0)) as i32
}

/// TFLite reference `MultiplyByQuantizedMultiplier` (double rounding).
pub fn mbqm_double(x: i32, m: i32, shift: i32) -> i32 {
    rdpot(srdhm(left_shifted(x, shift), m), (-shift).max(0))
}

/// The optimized kernels' vector path: high multiply, then round half up.
pub fn mbqm_up(x: i32, m: i32, shift: i32) -> i32 {
    shift_half_up(srdhm(left_shifted(x, shift), m), (-shift).max(0))
}

/// A rounding right shift by `r`, half up (toward +inf).
fn shift_half_up(v: i32, r: i32) -> i32 {
    ((v as i64 + ((1i64 << r) >> 1)) >> r) as i32
}

/// The trace of a fixed-point multiply: the real scale, the int32 multiplier
/// and shift with the exact number they stand for, and the first rounding,
/// whose result (`SaturatingRoundingDoublingHighMul(x · 2^left, m)`) it returns.
pub(crate) fn fixed_point_steps<R: Recorder>(
    rec: &mut R,
    x: i32,
    m: i32,
    shift: i32,
    scale: f64,
    double: bool,
) -> i32 {
    rec.step(key::SCALE, Value::F64(scale), || {
        (
            "real scale".into(),
            "double(sx) · double(sw) / double(sy)".into(),
        )
    });
    rec.step(key::MULTIPLIER, Value::Int(m as i64), || {
        (
            "fixed-point multiplier".into(),
            format!(
                "QuantizeMultiplier: {m} · 2^({shift} - 31){}",
                exact(m, shift)
            )
            .into(),
        )
    });
    rec.step(key::SHIFT, Value::Int(shift as i64), || {
        (
            "shift".into(),
            "2^shift: left before, right after the high multiply".into(),
        )
    });
    let left = left_shifted(x, shift);
    let high = srdhm(left, m);
    rec.step(key::HIGH_MUL, Value::Int(high as i64), || {
        (
            "high multiply".into(),
            format!(
                "round({left} · {m} / 2^31) half up (SaturatingRoundingDoublingHighMul){}",
                if double { ", first rounding" } else { "" }
            )
            .into(),
        )
    });
    high
}

/// " = the exact decimal" of a fixed-point multiplier (the page's inspector
/// writes it itself, keeping the decimal code out of the first-load wasm).
#[cfg(any(not(target_arch = "wasm32"), feature = "link"))]
fn exact(m: i32, shift: i32) -> String {
    format!(
        " = {} exactly",
        crate::trace::exact_pow2_decimal(m as i64, shift - 31)
    )
}
#[cfg(not(any(not(target_arch = "wasm32"), feature = "link")))]
fn exact(_: i32, _: i32) -> &'static str {
    ""
}

/// One output channel of a runtime engine.
#[derive(Debug, Clone)]
pub(crate) struct RtChannel {
    pub formula: Formula,
    pub bias: i32,
    pub zy: i64,
    pub lo: i64,
    pub hi: i64,
    /// How ReLU6's bound was made, when there is one (the trace shows it).
    pub six: Option<Bound6>,
}

impl RtChannel {
    pub fn run<R: Recorder>(&self, acc: i32, rec: &mut R) -> i64 {
        let RtChannel { formula, bias, .. } = *self;
        if let Formula::QuantizeLinear { sy } = formula {
            let v = f32::from_bits(acc as u32);
            rec.step(key::SUM, Value::F32(v), || {
                (
                    "float32 conv output".into(),
                    "sum over taps of dq(x)·dq(w) (fused multiply-add, tap order), + dq(bias)"
                        .into(),
                )
            });
            let q = v / sy;
            rec.step(key::PRE_ROUND, Value::F32(q), || {
                (
                    "value before rounding".into(),
                    "f32(v / sy) (QuantizeLinear divides)".into(),
                )
            });
            return self.finish_float(q, rec);
        }
        rec.step(key::ACC, Value::Int(acc as i64), || {
            (
                "accumulator".into(),
                "sum over taps of (qx - zx)·(qw - zw), int32".into(),
            )
        });
        rec.step(key::BIAS_TERM, Value::Int(bias as i64), || {
            (
                "bias in accumulator units".into(),
                "the model's int32 bias (scale sx·sw)".into(),
            )
        });
        let t = acc.wrapping_add(bias);
        rec.step(key::SUM, Value::Int(t as i64), || {
            (
                "accumulator + int32 bias".into(),
                format!("acc + {bias} (int32)").into(),
            )
        });
        self.requantize(t, rec)
    }

    /// From `acc + bias` (int32) to the output code.
    pub fn requantize<R: Recorder>(&self, t: i32, rec: &mut R) -> i64 {
        let RtChannel {
            formula,
            zy,
            lo,
            hi,
            ..
        } = *self;
        match formula {
            Formula::Raw => {
                rec.step(key::OUTPUT, Value::Int(t as i64), || {
                    (
                        "output (int32)".into(),
                        "ConvInteger: no requantization".into(),
                    )
                });
                t as i64
            }
            Formula::Float32 { scale } => {
                rec.step(key::MULTIPLIER, Value::F32(scale), || {
                    ("multiplier M".into(), "f32(f32(sx·sw) / sy)".into())
                });
                let v = t as f32 * scale;
                rec.step(key::PRE_ROUND, Value::F32(v), || {
                    (
                        "value before rounding".into(),
                        "f32(f32(acc + b) · M)".into(),
                    )
                });
                self.finish_float(v, rec)
            }
            Formula::Float64 { scale } => {
                rec.step(key::MULTIPLIER, Value::F32(scale), || {
                    ("multiplier M".into(), "f32(f32(sx·sw) / sy)".into())
                });
                let v = t as f64 * scale as f64 + zy as f64;
                rec.step(key::PRE_ROUND, Value::F64(v), || {
                    (
                        "value before rounding".into(),
                        "(acc + b) · M + zy in float64".into(),
                    )
                });
                let r = v.round_ties_even();
                rec.step(key::ROUNDED, Value::F64(r), || {
                    ("rounded".into(), "np.round: half to even".into())
                });
                self.record_bound(rec);
                let out = (r.clamp(lo as f64, hi as f64)) as i64;
                rec.step(key::OUTPUT, Value::Int(out), || {
                    ("output code".into(), format!("clip to {lo}..{hi}").into())
                });
                out
            }
            Formula::FixedPointDouble { m, shift, scale }
            | Formula::FixedPointUp { m, shift, scale } => {
                let double = matches!(formula, Formula::FixedPointDouble { .. });
                let high = fixed_point_steps(rec, t, m, shift, scale, double);
                // The second rounding of mbqm_double / mbqm_up, from the high multiply.
                let r = if double {
                    rdpot(high, (-shift).max(0))
                } else {
                    shift_half_up(high, (-shift).max(0))
                };
                rec.step(key::ROUNDED, Value::Int(r as i64), || {
                    let r = (-shift).max(0);
                    let how = if double {
                        format!("RoundingDivideByPOT: / 2^{r}, half away from zero")
                    } else {
                        format!("rounding shift: / 2^{r}, half up")
                    };
                    ("rounded".into(), how.into())
                });
                let plus = r as i64 + zy;
                rec.step(key::PLUS_ZP, Value::Int(plus), || {
                    (
                        "plus output zero point".into(),
                        format!("rounded + {zy}").into(),
                    )
                });
                self.record_bound(rec);
                let out = plus.clamp(lo, hi);
                rec.step(key::OUTPUT, Value::Int(out), || {
                    ("output code".into(), format!("clamp to {lo}..{hi}").into())
                });
                out
            }
            Formula::QuantizeLinear { .. } => unreachable!(),
        }
    }

    /// ReLU6's upper clamp and the order it was made in.
    fn record_bound<R: Recorder>(&self, rec: &mut R) {
        if let Some(b) = self.six {
            rec.step(key::BOUND6, Value::Int(self.hi), || {
                ("ReLU6 bound (code of 6.0)".into(), b.describe().into())
            });
        }
    }

    fn finish_float<R: Recorder>(&self, v: f32, rec: &mut R) -> i64 {
        let (zy, lo, hi) = (self.zy, self.lo, self.hi);
        let c = v.max((lo - zy) as f32).min((hi - zy) as f32);
        let r = c.round_ties_even();
        rec.step(key::ROUNDED, Value::F32(r), || {
            (
                "rounded".into(),
                format!(
                    "clamped to {}..{} in float, then half to even",
                    lo - zy,
                    hi - zy
                )
                .into(),
            )
        });
        self.record_bound(rec);
        let out = r as i64 + zy;
        rec.step(key::OUTPUT, Value::Int(out), || {
            ("output code".into(), format!("rounded + {zy}").into())
        });
        out
    }
}

impl Channel for RtChannel {
    fn pixel(&self, acc: i32, rec: &mut dyn DynRecorder) -> i64 {
        self.run(acc, &mut Dyn(rec))
    }
    fn plane(&self, acc: &[i32], out: &mut [i32]) {
        for (o, &a) in out.iter_mut().zip(acc) {
            *o = self.run(a, &mut crate::trace::NoTrace) as i32;
        }
    }
}

/// How a runtime turns ReLU6's bound of 6.0 into an output code: the order of
/// rounding and adding the zero point matters when `6 / sy` is a tie.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound6 {
    /// TFLite kernels (`CalculateActivationRangeQuantized`): `zy + round(f32(6 / sy))`.
    RoundThenAdd(fn(f32) -> f32),
    /// XNNPACK (`xnn_qs8_quantize`): `lrintf(f32(6 / sy) + f32(zy))`, half to
    /// even after the zero point is added.
    AddThenRound,
}

impl Bound6 {
    /// The order, in words (the trace's formula for the bound).
    pub fn describe(self) -> &'static str {
        match self {
            Bound6::RoundThenAdd(round) if round(0.5) == 1.0 => {
                "zy + round(6 / sy), half away from zero"
            }
            Bound6::RoundThenAdd(_) => "zy + round(6 / sy), half to even",
            Bound6::AddThenRound => "round(6 / sy + zy), half to even",
        }
    }
    fn code(self, six_over_sy: f32, zy: i64) -> i64 {
        match self {
            Bound6::RoundThenAdd(round) => zy + round(six_over_sy) as i64,
            Bound6::AddThenRound => (six_over_sy + zy as f32).round_ties_even() as i64,
        }
    }
}

/// Output clamps: the dtype's range, narrowed by a fused ReLU / ReLU6.
pub(crate) fn clamps(p: &ConvQParams, bound6: Bound6) -> Result<(i64, i64)> {
    let (mut lo, mut hi) = range(p.output_dtype);
    let zy = p.output_zero_point;
    if p.relu || p.relu6 {
        lo = lo.max(zy);
    }
    if p.relu6 {
        let sy = scale_f32("output scale", p.output_scale)?;
        hi = hi.min(bound6.code(6.0f32 / sy, zy));
    }
    Ok((lo, hi))
}

/// Channels from a formula per channel.
pub(crate) fn channels(
    p: &ConvQParams,
    out_channels: usize,
    bound6: Bound6,
    mut formula: impl FnMut(usize) -> Result<Formula>,
) -> Result<Vec<Arc<dyn Channel>>> {
    let (lo, hi) = if p.is_raw_int32() {
        range(DType::QInt32)
    } else {
        clamps(p, bound6)?
    };
    (0..out_channels)
        .map(|c| {
            Ok(Arc::new(RtChannel {
                formula: if p.is_raw_int32() {
                    Formula::Raw
                } else {
                    formula(c)?
                },
                bias: p.bias_i32_of(c),
                zy: if p.is_raw_int32() {
                    0
                } else {
                    p.output_zero_point
                },
                lo,
                hi,
                six: (p.relu6 && !p.is_raw_int32()).then_some(bound6),
            }) as Arc<dyn Channel>)
        })
        .collect()
}

/// Refuses a fused ReLU6 where the runtime has none (ONNX fuses no activation).
pub(crate) fn no_activation(title: &str, p: &ConvQParams) -> Result<()> {
    if p.relu || p.relu6 {
        return Err(Error::Input(format!(
            "{title} has no fused activation (QLinearConv/Conv carry none)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_by_hand() {
        // 0.5 = 2^30 · 2^(0 - 31)
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        // -4609 · 2^-10 = -4.5009...: reference rounds the high half -2304.5 up
        // to -2304, then -4.5 away from zero to -5; the vector path rounds it up to -4.
        assert_eq!(mbqm_double(-4609, 1 << 30, -9), -5);
        assert_eq!(mbqm_up(-4609, 1 << 30, -9), -4);
        // 1151 / 256 = 4.496: both round twice, up to 5 (single rounding would give 4).
        assert_eq!(mbqm_double(1151, 1 << 30, -7), 5);
        assert_eq!(mbqm_up(1151, 1 << 30, -7), 5);
        assert_eq!(rdpot(-3, 1), -2);
        assert_eq!(rdpot(3, 1), 2);
    }

    #[test]
    fn relu6_bound_order_by_hand() {
        // sy = 6 / 162.5: f32(6 / sy) is the tie 162.5 exactly. With zy = -83,
        // rounding first gives -83 + 162 = 79 (to even) or -83 + 163 = 80 (away);
        // XNNPACK adds first: 79.5 rounds to even, 80.
        let sy = 0.03692307695746422f64 as f32;
        assert_eq!(6.0f32 / sy, 162.5);
        assert_eq!(
            Bound6::RoundThenAdd(f32::round_ties_even).code(6.0 / sy, -83),
            79
        );
        assert_eq!(Bound6::RoundThenAdd(f32::round).code(6.0 / sy, -83), 80);
        assert_eq!(Bound6::AddThenRound.code(6.0 / sy, -83), 80);
        // zy = -82: 80.5 goes to 80 when added first, 81 or 80 when rounded first.
        assert_eq!(Bound6::AddThenRound.code(6.0 / sy, -82), 80);
        assert_eq!(Bound6::RoundThenAdd(f32::round).code(6.0 / sy, -82), 81);
    }
}
