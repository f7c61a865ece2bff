//! The hand calculation: the formula people write down,
//! `(qx·qw + round(b/(sw·sx))) · sx·sw/sy + zy`, with each of their mistakes a
//! named switch (values copied from printouts, a rounded bias, float64,
//! half away from zero, zero points or the clamp left out), and TFLite's
//! fixed-point requantization as people reimplement it on microcontrollers.
use super::common::{code_i32, map_plane};
use super::{
    Accumulation, Channel, Computation, ConvQParams, Dyn, DynRecorder, Engine, EngineRow, Evidence,
    Family, Kernel, Platform,
};
use crate::conv::ConvShape;
use crate::error::{Error, Result};
use crate::printed::{as_printed, printed};
use crate::quant::{scale_f32, DType};
use crate::trace::{key, NoTrace, Recorder, Value};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const ID: &str = "hand";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "hand calculation",
    family: Family::Reference,
    activations: &[DType::QUInt8, DType::QInt8],
    weights: &[DType::QInt8],
    uses_platform: false,
    pytorch_engine: None,
    evidence: Evidence::Formula,
    engine: &Hand,
};

pub struct Hand;

impl Engine for Hand {
    fn kernel(&self, c: &Computation, _: &ConvShape, _: &ConvQParams, _: &Platform) -> Kernel {
        let raw = c.uses_raw_codes();
        Kernel {
            name: ID,
            path: None,
            why: "a formula on paper".into(),
            accumulation: if raw {
                Accumulation::RawCodes
            } else {
                Accumulation::Exact
            },
        }
    }
    fn channels(
        &self,
        c: &Computation,
        p: &ConvQParams,
        out_channels: usize,
        _: &Kernel,
    ) -> Result<Vec<Arc<dyn Channel>>> {
        let h = c.hand.unwrap_or_default();
        let sx = scale_f32("input scale", p.input_scale)?;
        scale_f32("output scale", p.output_scale)?;
        // A printout formats a whole tensor at once (one notation for all its
        // values), so the hand calculation's copies are taken tensor-wide,
        // once per run and only where the hand reads a printout (formatting
        // and parsing each value is most of this function's time).
        let printed_ws = h.print_weight_scale.then(|| as_printed(&p.weight_scales));
        let printed_bias = p
            .bias
            .as_ref()
            .filter(|_| h.print_bias)
            .map(|b| as_printed(&b.iter().map(|&v| v as f64).collect::<Vec<_>>()));
        let sxh = if h.print_input_scale {
            printed(sx as f64)
        } else {
            sx as f64
        };
        let syh = if h.print_output_scale {
            printed(p.output_scale)
        } else {
            p.output_scale
        };
        (0..out_channels)
            .map(|c| {
                let sw = scale_f32("weight scale", p.weight_scale(c))?;
                let wc = if p.per_channel { c } else { 0 };
                let swh = printed_ws.as_ref().map_or(sw as f64, |ws| ws[wc]);
                for (what, v) in [
                    ("printed input scale", sxh),
                    ("printed weight scale", swh),
                    ("printed output scale", syh),
                ] {
                    if !(v > 0.0) {
                        return Err(Error::BadScale {
                            what: what.into(),
                            value: v,
                        });
                    }
                }
                let (lo, hi) = p.output_dtype.range();
                // ReLU6 as TFLite bounds it (its fixed-point kernels are the model).
                let six = p.relu6.then(|| {
                    super::tflite_reference::round_away(6.0f32 / p.output_scale as f32) as i64
                });
                Ok(Arc::new(HandChannel {
                    bias_i32: p.bias_i32.as_ref().map(|b| b[c]),
                    lo,
                    hi,
                    six,
                    sx: sxh,
                    sw: swh,
                    sy: syh,
                    bias: p
                        .bias_of(c)
                        .map(|b| printed_bias.as_ref().map_or(b as f64, |pb| pb[c])),
                    h,
                    zy: p.output_zero_point,
                    relu: p.relu || p.relu6,
                }) as Arc<dyn Channel>)
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct HandChannel {
    /// The model's int32 bias, when the scenario has one (runtime models).
    bias_i32: Option<i32>,
    /// The output dtype's range, and ReLU6's `round(6 / sy)` when fused.
    lo: i64,
    hi: i64,
    six: Option<i64>,
    sx: f64,
    sw: f64,
    sy: f64,
    bias: Option<f64>,
    h: HandAssumptions,
    zy: i64,
    relu: bool,
}

impl Channel for HandChannel {
    fn pixel(&self, acc: i32, rec: &mut dyn DynRecorder) -> i64 {
        hand(&mut Dyn(rec), acc, self)
    }
    fn plane(&self, acc: &[i32], out: &mut [i32]) {
        if self.h.fixed_point || self.h.arithmetic != Arithmetic::F64 {
            return map_plane(acc, out, |a| code_i32(hand(&mut NoTrace, a, self)));
        }
        // The float64 formula with its per-channel terms taken out of the
        // loop (a drag of the output scale requantizes millions of pixels):
        // the same operations in the same order as `hand`, so the same codes.
        let zy = if self.h.ignore_zero_points {
            0
        } else {
            self.zy
        };
        let bt = self.bias.map_or(0.0, |b| {
            bias_term64(b, self.sw, self.sx, self.h.bias_rounding).0
        });
        let (sx, sw, sy, z) = (self.sx, self.sw, self.sy, zy as f64);
        let (lo, hi) = bounds(self, zy);
        let (lo, hi) = (lo as f64, hi as f64);
        let away = self.h.rounding == Rounding::HalfAway;
        map_plane(acc, out, |a| {
            let v = (a as f64 + bt) * sx * sw / sy + z;
            let r = if away { v.round() } else { v.round_ties_even() };
            // `hand` takes 0 for a value out of its range; the clamp (or
            // int32's, when left out) then bounds it: both in float, exactly.
            let r = if r.abs() < 1e15 { r } else { 0.0 };
            r.clamp(lo, hi) as i32
        })
    }
}

/// The bias in accumulator units, float64, as the switch rounds it.
fn bias_term64(b: f64, sw: f64, sx: f64, r: BiasRounding) -> (f64, &'static str) {
    let v = b / (sw * sx);
    match r {
        BiasRounding::Keep => (v, "b / (sw·sx)"),
        BiasRounding::HalfEven => (
            v.round_ties_even(),
            "round(b / (sw·sx)), Python: half to even",
        ),
        BiasRounding::HalfAway => (v.round(), "round(b / (sw·sx)), C: half away from zero"),
        BiasRounding::Truncate => (v.trunc(), "int(b / (sw·sx)): toward zero"),
    }
}

/// The clamp's bounds (ReLU narrows the low one, ReLU6 the high one); int32's
/// when the clamp is left out.
fn bounds(ch: &HandChannel, zy: i64) -> (i64, i64) {
    if ch.h.ignore_clamp {
        return (i32::MIN as i64, i32::MAX as i64);
    }
    let lo = if ch.relu { ch.lo.max(zy) } else { ch.lo };
    (lo, ch.six.map_or(ch.hi, |six| ch.hi.min(zy + six)))
}

/// How the hand calculation rounds the bias to an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BiasRounding {
    /// Kept as a float (what fbgemm does).
    Keep,
    /// Python's `round`: half to even.
    HalfEven,
    /// C's `round`: half away from zero.
    HalfAway,
    /// `int()`: toward zero.
    Truncate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Python / NumPy `round`: half to even.
    HalfEven,
    /// C `round`: half away from zero.
    HalfAway,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arithmetic {
    /// Python floats.
    F64,
    /// float32 at every step.
    F32,
}

/// The assumptions of a hand calculation. Each switch is a mistake people
/// make; `default()` is the forum user's formula
/// `(qx*qw + round(b/(sw*sx))) * sx*sw/sy + zy` with the values copied from printouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct HandAssumptions {
    /// Input scale as printed (`Quantize(scale=tensor([0.0078]))`).
    pub print_input_scale: bool,
    /// Weight scales as printed (`scale=tensor([0.0038], dtype=torch.float64)`).
    pub print_weight_scale: bool,
    /// Output scale shortened to 4 decimals (0.004018464591354132 -> 0.0040).
    pub print_output_scale: bool,
    /// Bias as printed (`tensor([0.0317])`).
    pub print_bias: bool,
    pub bias_rounding: BiasRounding,
    pub arithmetic: Arithmetic,
    pub rounding: Rounding,
    pub ignore_zero_points: bool,
    pub ignore_clamp: bool,
    /// TFLite's fixed-point requantization (int32 multiplier and shift, two
    /// roundings) instead of a float scale.
    pub fixed_point: bool,
}

impl Default for HandAssumptions {
    fn default() -> Self {
        HandAssumptions {
            print_input_scale: true,
            print_weight_scale: true,
            print_output_scale: true,
            print_bias: true,
            bias_rounding: BiasRounding::HalfEven,
            arithmetic: Arithmetic::F64,
            rounding: Rounding::HalfEven,
            ignore_zero_points: false,
            ignore_clamp: false,
            fixed_point: false,
        }
    }
}

impl HandAssumptions {
    /// The hand formula with every mistake switched off.
    pub fn faithful() -> Self {
        HandAssumptions {
            print_input_scale: false,
            print_weight_scale: false,
            print_output_scale: false,
            print_bias: false,
            bias_rounding: BiasRounding::Keep,
            ..Default::default()
        }
    }

    /// Each assumption that deviates from PyTorch's values, with the same
    /// assumptions minus that one mistake (for blame).
    pub fn single_fixes(&self) -> Vec<(Assumption, HandAssumptions)> {
        let mut v = vec![];
        let mut push = |a: Assumption, on: bool, f: &dyn Fn(&mut HandAssumptions)| {
            if on {
                let mut h = *self;
                f(&mut h);
                v.push((a, h));
            }
        };
        push(
            Assumption::PrintedOutputScale,
            self.print_output_scale,
            &|h| h.print_output_scale = false,
        );
        push(
            Assumption::PrintedWeightScale,
            self.print_weight_scale,
            &|h| h.print_weight_scale = false,
        );
        push(
            Assumption::PrintedInputScale,
            self.print_input_scale,
            &|h| h.print_input_scale = false,
        );
        push(Assumption::PrintedBias, self.print_bias, &|h| {
            h.print_bias = false
        });
        push(
            Assumption::BiasRounded,
            self.bias_rounding != BiasRounding::Keep,
            &|h| h.bias_rounding = BiasRounding::Keep,
        );
        push(
            Assumption::Float64,
            self.arithmetic == Arithmetic::F64,
            &|h| h.arithmetic = Arithmetic::F32,
        );
        push(
            Assumption::HalfAway,
            self.rounding == Rounding::HalfAway,
            &|h| h.rounding = Rounding::HalfEven,
        );
        push(
            Assumption::ZeroPointsIgnored,
            self.ignore_zero_points,
            &|h| h.ignore_zero_points = false,
        );
        push(Assumption::ClampIgnored, self.ignore_clamp, &|h| {
            h.ignore_clamp = false
        });
        push(Assumption::FixedPoint, self.fixed_point, &|h| {
            h.fixed_point = false
        });
        v
    }
}

/// One named assumption of the hand calculation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Assumption {
    PrintedOutputScale,
    PrintedWeightScale,
    PrintedInputScale,
    PrintedBias,
    BiasRounded,
    Float64,
    HalfAway,
    ZeroPointsIgnored,
    ClampIgnored,
    FixedPoint,
}

impl Assumption {
    pub fn describe(self) -> &'static str {
        match self {
            Assumption::PrintedOutputScale => "the output scale was shortened to 4 decimals",
            Assumption::PrintedWeightScale => {
                "the weight scale was copied from a printout (4 decimals)"
            }
            Assumption::PrintedInputScale => {
                "the input scale was copied from a printout (4 decimals)"
            }
            Assumption::PrintedBias => "the bias was copied from a printout (4 decimals)",
            Assumption::BiasRounded => {
                "the bias was rounded to an integer, but fbgemm keeps it as a float"
            }
            Assumption::Float64 => "the arithmetic was done in float64, the kernels use float32",
            Assumption::HalfAway => "rounding half away from zero, the kernels round half to even",
            Assumption::ZeroPointsIgnored => "the zero points were left out",
            Assumption::ClampIgnored => "the result was not clamped to the output range (0..255 for uint8)",
            Assumption::FixedPoint => {
                "TFLite's fixed-point multiplier (int32 multiplier and shift, rounded twice) replaced the float scale"
            }
        }
    }
}

/// Round a float64 half to even / half away.
fn round64(v: f64, r: Rounding) -> f64 {
    match r {
        Rounding::HalfEven => v.round_ties_even(),
        Rounding::HalfAway => v.round(),
    }
}
fn round32(v: f32, r: Rounding) -> f32 {
    match r {
        Rounding::HalfEven => v.round_ties_even(),
        Rounding::HalfAway => v.round(),
    }
}

fn hand<R: Recorder>(rec: &mut R, acc: i32, ch: &HandChannel) -> i64 {
    let HandChannel {
        sx,
        sw,
        sy,
        bias,
        h,
        zy,
        ..
    } = *ch;
    rec.step(key::ACC, Value::Int(acc as i64), || {
        (
            "accumulator".into(),
            if h.ignore_zero_points {
                "sum over taps of qx·qw (zero points left out)"
            } else {
                "sum over taps of (qx - zx)·(qw - zw)"
            }
            .into(),
        )
    });
    let zy = if h.ignore_zero_points { 0 } else { zy };
    let printed_note = |on: bool| if on { "as printed" } else { "exact" };
    rec.step(key::SX, Value::F64(sx), || {
        (
            "input scale".into(),
            printed_note(h.print_input_scale).into(),
        )
    });
    rec.step(key::SW, Value::F64(sw), || {
        (
            "weight scale".into(),
            printed_note(h.print_weight_scale).into(),
        )
    });
    rec.step(key::SY, Value::F64(sy), || {
        (
            "output scale".into(),
            printed_note(h.print_output_scale).into(),
        )
    });
    let acc_note = if h.ignore_zero_points {
        "sum of qx·qw (zero points left out)"
    } else {
        "sum of (qx - zx)·(qw - zw)"
    };
    if h.fixed_point {
        return fixed_point(rec, acc, ch, zy, acc_note);
    }
    let pre = match h.arithmetic {
        Arithmetic::F64 => {
            let bt = bias.map(|b| {
                rec.step(key::BIAS, Value::F64(b), || {
                    ("bias".into(), printed_note(h.print_bias).into())
                });
                bias_term64(b, sw, sx, h.bias_rounding)
            });
            if let Some((v, f)) = bt {
                let val = if h.bias_rounding == BiasRounding::Keep {
                    Value::F64(v)
                } else {
                    Value::Int(v as i64)
                };
                rec.step(key::BIAS_TERM, val, || {
                    ("bias in accumulator units".into(), f.into())
                });
            }
            let sum = acc as f64 + bt.map_or(0.0, |b| b.0);
            rec.step(
                key::SUM,
                if bt.is_some_and(|_| h.bias_rounding == BiasRounding::Keep) {
                    Value::F64(sum)
                } else {
                    Value::Int(sum as i64)
                },
                || ("accumulator + bias".into(), acc_note.into()),
            );
            let v = sum * sx * sw / sy + zy as f64;
            rec.step(key::PRE_ROUND, Value::F64(v), || {
                (
                    "value before rounding".into(),
                    format!("(acc + bias) · sx · sw / sy + {zy}, float64, left to right").into(),
                )
            });
            v
        }
        Arithmetic::F32 => {
            let (sx, sw, sy) = (sx as f32, sw as f32, sy as f32);
            let bt = bias.map(|b| {
                let b = b as f32;
                rec.step(key::BIAS, Value::F32(b), || {
                    ("bias".into(), printed_note(h.print_bias).into())
                });
                let v = b / (sw * sx);
                let r = match h.bias_rounding {
                    BiasRounding::Keep => v,
                    BiasRounding::HalfEven => v.round_ties_even(),
                    BiasRounding::HalfAway => v.round(),
                    BiasRounding::Truncate => v.trunc(),
                };
                (
                    r,
                    if h.bias_rounding == BiasRounding::Keep {
                        "f32(b / (sw·sx))"
                    } else {
                        "rounded f32(b / (sw·sx))"
                    },
                )
            });
            if let Some((v, f)) = bt {
                rec.step(key::BIAS_TERM, Value::F32(v), || {
                    ("bias in accumulator units".into(), f.into())
                });
            }
            let sum = acc as f32 + bt.map_or(0.0, |b| b.0);
            rec.step(key::SUM, Value::F32(sum), || {
                ("accumulator + bias".into(), acc_note.into())
            });
            let v = sum * sx * sw / sy + zy as f32;
            rec.step(key::PRE_ROUND, Value::F32(v), || {
                (
                    "value before rounding".into(),
                    format!("(acc + bias) · sx · sw / sy + {zy}, float32 at each step").into(),
                )
            });
            v as f64
        }
    };
    let r = match h.arithmetic {
        Arithmetic::F64 => round64(pre, h.rounding),
        Arithmetic::F32 => round32(pre as f32, h.rounding) as f64,
    };
    let how = match h.rounding {
        Rounding::HalfEven => "round half to even (Python round)",
        Rounding::HalfAway => "round half away from zero (C round)",
    };
    let ri = if r.is_finite() && r.abs() < 1e15 {
        r as i64
    } else {
        0
    };
    rec.step(key::ROUNDED, Value::Int(ri), || {
        ("rounded".into(), how.into())
    });
    clamp(rec, ri, ch, zy)
}

/// The output code: the rounded value clamped to the output range (narrowed
/// by ReLU / ReLU6), unless the clamp is left out.
fn clamp<R: Recorder>(rec: &mut R, v: i64, ch: &HandChannel, zy: i64) -> i64 {
    let lo = if ch.relu { ch.lo.max(zy) } else { ch.lo };
    let hi = match ch.six {
        Some(six) => {
            let b = ch.hi.min(zy + six);
            rec.step(key::BOUND6, Value::Int(b), || {
                (
                    "ReLU6 bound (code of 6.0)".into(),
                    "zy + round(6 / sy), half away from zero".into(),
                )
            });
            b
        }
        None => ch.hi,
    };
    let out = if ch.h.ignore_clamp {
        v
    } else {
        v.clamp(lo, hi)
    };
    rec.step(key::OUTPUT, Value::Int(out), || {
        let f = if ch.h.ignore_clamp {
            "not clamped".to_string()
        } else {
            format!("clamp to {lo}..{hi}")
        };
        ("output code".into(), f.into())
    });
    out
}

/// TFLite's requantization by hand (what microcontroller code reimplements):
/// an int32 bias, `QuantizeMultiplier(double(sx)·double(sw)/double(sy))`, the
/// rounding doubling high multiply (half up), `RoundingDivideByPOT` (half away
/// from zero), `+ zy`. The scales are taken as float32, as a model stores them.
fn fixed_point<R: Recorder>(
    rec: &mut R,
    acc: i32,
    ch: &HandChannel,
    zy: i64,
    acc_note: &'static str,
) -> i64 {
    let h = ch.h;
    let (sx, sw) = (ch.sx as f32 as f64, ch.sw as f32 as f64);
    let sy = ch.sy as f32 as f64;
    // The bias in accumulator units must be an integer here: the model's, or
    // the float bias rounded by the bias switch (half to even if "kept").
    let b = match (ch.bias_i32, ch.bias) {
        (Some(b), _) => b,
        (None, Some(b)) => {
            let v = b / (sw * sx);
            let r = match h.bias_rounding {
                BiasRounding::Keep | BiasRounding::HalfEven => v.round_ties_even(),
                BiasRounding::HalfAway => v.round(),
                BiasRounding::Truncate => v.trunc(),
            };
            r.clamp(i32::MIN as f64, i32::MAX as f64) as i32
        }
        (None, None) => 0,
    };
    rec.step(key::BIAS_TERM, Value::Int(b as i64), || {
        ("bias in accumulator units".into(), "int32".into())
    });
    let t = acc.wrapping_add(b);
    rec.step(key::SUM, Value::Int(t as i64), || {
        ("accumulator + bias".into(), acc_note.into())
    });
    let scale = sx * sw / sy;
    let (m, shift) = super::runtime::quantize_multiplier(scale);
    // The rest is tflite-reference's own requantization.
    let (lo, hi) = if h.ignore_clamp {
        (i32::MIN as i64, i32::MAX as i64)
    } else {
        let lo = if ch.relu { ch.lo.max(zy) } else { ch.lo };
        (lo, ch.six.map_or(ch.hi, |six| ch.hi.min(zy + six)))
    };
    super::runtime::RtChannel {
        formula: super::runtime::Formula::FixedPointDouble { m, shift, scale },
        bias: b,
        zy,
        lo,
        hi,
        six: ch
            .six
            .map(|_| super::runtime::Bound6::RoundThenAdd(super::tflite_reference::round_away)),
    }
    .requantize(t, rec)
}

/// One option of a hand switch: its value in the page's JSON, its link token
/// (`None`: not written, the off state of a yes/no switch), and its label.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Opt {
    pub value: &'static str,
    pub token: Option<&'static str>,
    pub label: &'static str,
}

/// One switch of the hand calculation: the vocabulary the page, links and
/// explanations share (key, options with link tokens, label, default, cause).
#[derive(Clone, Copy, Serialize)]
pub struct Switch {
    /// Field name in `HandAssumptions` (serde).
    pub key: &'static str,
    pub label: &'static str,
    /// `true`: a yes/no switch (options are off, on).
    pub boolean: bool,
    pub options: &'static [Opt],
    /// The option index of the forum user's formula.
    pub default: usize,
    /// The cause named when undoing this switch changes the result.
    pub cause: Assumption,
    #[serde(skip)]
    pub get: fn(&HandAssumptions) -> usize,
    #[serde(skip)]
    pub set: fn(&mut HandAssumptions, usize),
}

const fn yes_no(on: &'static str) -> [Opt; 2] {
    [
        Opt {
            value: "false",
            token: None,
            label: "no",
        },
        Opt {
            value: "true",
            token: Some(on),
            label: "yes",
        },
    ]
}
const PX: [Opt; 2] = yes_no("px");
const PW: [Opt; 2] = yes_no("pw");
const PY: [Opt; 2] = yes_no("py");
const PB: [Opt; 2] = yes_no("pb");
const NOZP: [Opt; 2] = yes_no("nozp");
const NOCLAMP: [Opt; 2] = yes_no("noclamp");
const FIXP: [Opt; 2] = yes_no("fixp");

macro_rules! flag {
    ($key:literal, $field:ident, $label:literal, $opts:expr, $default:literal, $cause:expr) => {
        Switch {
            key: $key,
            label: $label,
            boolean: true,
            options: &$opts,
            default: $default,
            cause: $cause,
            get: |h| h.$field as usize,
            set: |h, i| h.$field = i == 1,
        }
    };
}

/// Every switch, in the order the page shows them.
pub static SWITCHES: &[Switch] = &[
    flag!(
        "print_input_scale",
        print_input_scale,
        "input scale as printed (4 decimals)",
        PX,
        1,
        Assumption::PrintedInputScale
    ),
    flag!(
        "print_weight_scale",
        print_weight_scale,
        "weight scales as printed",
        PW,
        1,
        Assumption::PrintedWeightScale
    ),
    flag!(
        "print_output_scale",
        print_output_scale,
        "output scale as printed (4 decimals)",
        PY,
        1,
        Assumption::PrintedOutputScale
    ),
    flag!(
        "print_bias",
        print_bias,
        "bias as printed",
        PB,
        1,
        Assumption::PrintedBias
    ),
    Switch {
        key: "bias_rounding",
        label: "bias in accumulator units",
        boolean: false,
        options: &[
            Opt {
                value: "keep",
                token: Some("bias-keep"),
                label: "kept as float (like fbgemm)",
            },
            Opt {
                value: "half_even",
                token: Some("bias-even"),
                label: "round(): half to even",
            },
            Opt {
                value: "half_away",
                token: Some("bias-away"),
                label: "C round(): half away",
            },
            Opt {
                value: "truncate",
                token: Some("bias-trunc"),
                label: "int(): toward zero",
            },
        ],
        default: 1,
        cause: Assumption::BiasRounded,
        get: |h| h.bias_rounding as usize,
        set: |h, i| {
            h.bias_rounding = [
                BiasRounding::Keep,
                BiasRounding::HalfEven,
                BiasRounding::HalfAway,
                BiasRounding::Truncate,
            ][i.min(3)]
        },
    },
    Switch {
        key: "arithmetic",
        label: "arithmetic",
        boolean: false,
        options: &[
            Opt {
                value: "f64",
                token: Some("f64"),
                label: "float64 (Python floats)",
            },
            Opt {
                value: "f32",
                token: Some("f32"),
                label: "float32 at every step",
            },
        ],
        default: 0,
        cause: Assumption::Float64,
        get: |h| h.arithmetic as usize,
        set: |h, i| h.arithmetic = [Arithmetic::F64, Arithmetic::F32][i.min(1)],
    },
    Switch {
        key: "rounding",
        label: "rounding",
        boolean: false,
        options: &[
            Opt {
                value: "half_even",
                token: Some("even"),
                label: "half to even (Python round)",
            },
            Opt {
                value: "half_away",
                token: Some("away"),
                label: "half away from zero (C round)",
            },
        ],
        default: 0,
        cause: Assumption::HalfAway,
        get: |h| h.rounding as usize,
        set: |h, i| h.rounding = [Rounding::HalfEven, Rounding::HalfAway][i.min(1)],
    },
    flag!(
        "ignore_zero_points",
        ignore_zero_points,
        "zero points left out",
        NOZP,
        0,
        Assumption::ZeroPointsIgnored
    ),
    flag!(
        "ignore_clamp",
        ignore_clamp,
        "no clamp to the output range",
        NOCLAMP,
        0,
        Assumption::ClampIgnored
    ),
    flag!(
        "fixed_point",
        fixed_point,
        "fixed-point multiplier (TFLite, microcontrollers)",
        FIXP,
        0,
        Assumption::FixedPoint
    ),
];

impl HandAssumptions {
    /// The link text of these assumptions: each switch's token, comma-separated.
    /// Yes/no switches come first (the order links have always had).
    pub fn tokens(&self) -> String {
        let (flags, choices): (Vec<&Switch>, Vec<&Switch>) =
            SWITCHES.iter().partition(|s| s.boolean);
        flags
            .into_iter()
            .chain(choices)
            .filter_map(|s| s.options[(s.get)(self)].token)
            .collect::<Vec<_>>()
            .join(",")
    }
    /// Reads link tokens; a yes/no switch not written is off.
    pub fn from_tokens(text: &str) -> std::result::Result<HandAssumptions, String> {
        let mut h = HandAssumptions::default();
        for s in SWITCHES.iter().filter(|s| s.boolean) {
            (s.set)(&mut h, 0);
        }
        for t in text.split(',').take(16) {
            let hit = SWITCHES.iter().find_map(|s| {
                s.options
                    .iter()
                    .position(|o| o.token == Some(t))
                    .map(|i| (s, i))
            });
            match hit {
                Some((s, i)) => (s.set)(&mut h, i),
                None => {
                    let t: String = t.chars().take(24).collect();
                    return Err(format!("{t:?} is not a hand-calculation option"));
                }
            }
        }
        Ok(h)
    }
}
