//! Requantization: from an exact int32 accumulator to an output code, one
//! function per computation, each able to trace its steps.
//!
//! - `fbgemm`: float bias, fused multiply-add (per-tensor) or division then add
//!   (per-channel), multiplier `f32(aw / sy)`.
//! - `qnnpack`: bias rounded to int32 through a reciprocal, multiplier
//!   `f32(aw * f32(1 / sy))`.
//! - `float`: the real-number answer in float64 (dequantize, convolve, quantize).
//! - `hand`: the formula people write down, with each of their mistakes a switch.
use crate::error::{Error, Result};
use crate::printed::{as_printed, printed};
use crate::quant::{check_zero_point, scale_f32, DType};
use crate::trace::{key, Recorder, Value};
use serde::{Deserialize, Serialize};

/// Quantization parameters of one conv, as the user gave them (float64 scales,
/// as PyTorch stores them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvQParams {
    pub input_scale: f64,
    pub input_zero_point: i64,
    /// One scale (per-tensor) or one per output channel (per-channel, axis 0).
    pub weight_scales: Vec<f64>,
    pub weight_zero_points: Vec<i64>,
    pub per_channel: bool,
    /// Float32 bias per output channel.
    pub bias: Option<Vec<f32>>,
    pub output_scale: f64,
    pub output_zero_point: i64,
    /// Fused ReLU (ConvReLU2d): clamp below at the output zero point.
    pub relu: bool,
}

impl ConvQParams {
    pub fn validate(&self, out_channels: usize) -> Result<()> {
        scale_f32("input scale", self.input_scale)?;
        scale_f32("output scale", self.output_scale)?;
        check_zero_point("input zero point", self.input_zero_point, DType::QUInt8)?;
        check_zero_point("output zero point", self.output_zero_point, DType::QUInt8)?;
        let n = if self.per_channel { out_channels } else { 1 };
        if self.weight_scales.len() != n || self.weight_zero_points.len() != n {
            return Err(Error::BadShape(format!(
                "{} weight scales and {} weight zero points; {} needs {n}",
                self.weight_scales.len(),
                self.weight_zero_points.len(),
                if self.per_channel {
                    "per-channel"
                } else {
                    "per-tensor"
                }
            )));
        }
        for (c, (&s, &z)) in self
            .weight_scales
            .iter()
            .zip(&self.weight_zero_points)
            .enumerate()
        {
            scale_f32(&format!("weight scale of channel {c}"), s)?;
            check_zero_point(
                &format!("weight zero point of channel {c}"),
                z,
                DType::QInt8,
            )?;
        }
        if let Some(b) = &self.bias {
            if b.len() != out_channels {
                return Err(Error::BadShape(format!(
                    "{} bias values for {out_channels} output channels",
                    b.len()
                )));
            }
            if let Some(c) = b.iter().position(|v| !v.is_finite()) {
                return Err(Error::BadValue(format!("bias of channel {c} is {}", b[c])));
            }
        }
        Ok(())
    }
    pub fn weight_scale(&self, c: usize) -> f64 {
        self.weight_scales[if self.per_channel { c } else { 0 }]
    }
    pub fn weight_zero_point(&self, c: usize) -> i64 {
        self.weight_zero_points[if self.per_channel { c } else { 0 }]
    }
    pub fn bias_of(&self, c: usize) -> Option<f32> {
        self.bias.as_ref().map(|b| b[c])
    }
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
            Assumption::ClampIgnored => "the result was not clamped to 0..255",
        }
    }
}

/// A way of computing the conv's output codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Computation {
    Fbgemm,
    Qnnpack,
    Float,
    Hand(HandAssumptions),
}

impl Computation {
    pub fn name(&self) -> &'static str {
        match self {
            Computation::Fbgemm => "fbgemm",
            Computation::Qnnpack => "qnnpack",
            Computation::Float => "float",
            Computation::Hand(_) => "hand",
        }
    }
    pub fn title(&self) -> &'static str {
        match self {
            Computation::Fbgemm => "PyTorch fbgemm (x86)",
            Computation::Qnnpack => "PyTorch qnnpack (ARM, mobile)",
            Computation::Float => "float reference (float64)",
            Computation::Hand(_) => "hand calculation",
        }
    }
    pub fn parse(s: &str) -> Result<Computation> {
        match s {
            "fbgemm" => Ok(Computation::Fbgemm),
            "qnnpack" => Ok(Computation::Qnnpack),
            "float" => Ok(Computation::Float),
            "hand" => Ok(Computation::Hand(HandAssumptions::default())),
            other => Err(Error::Input(format!(
                "unknown computation {other:?} (fbgemm, qnnpack, float, hand)"
            ))),
        }
    }
    /// The hand calculation without zero points sums raw codes.
    pub fn uses_raw_codes(&self) -> bool {
        matches!(self, Computation::Hand(h) if h.ignore_zero_points)
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

/// `vcvtps2dq`: round half to even; out of range (and NaN) gives INT32_MIN.
#[inline(always)]
fn cvt_i32(v: f32) -> i32 {
    let r = v.round_ties_even();
    if (-2147483648.0..2147483648.0).contains(&r) {
        r as i32
    } else {
        i32::MIN
    }
}

/// How a kernel adds the output zero point to the rounded value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tail {
    /// fbgemm: `_mm256_add_epi32` (wrapping int32), then saturating packs.
    Fbgemm,
    /// qnnpack: saturating pack to int16, `_mm_adds_epi16`, saturating pack to uint8.
    Qnnpack,
    /// Exact integers (the float reference).
    Plain,
}

/// (rounded + zero point as the kernel forms it, clamped output code).
#[inline(always)]
fn tail(kind: Tail, rounded: i64, zy: i64, lo: i64) -> (i64, i64) {
    let plus = match kind {
        Tail::Fbgemm => (rounded as i32).wrapping_add(zy as i32) as i64,
        Tail::Qnnpack => rounded.clamp(-32768, 32767) + zy,
        Tail::Plain => rounded + zy,
    };
    (plus, plus.clamp(lo, 255))
}

/// fbgemm's accumulator plus bias in float32 (ARITHMETIC.md §4).
#[inline(always)]
fn fbgemm_sum(acc: i32, bias: Option<f32>, inv_aw: f32, bias_term: f32, per_channel: bool) -> f32 {
    let accf = acc as f32;
    match bias {
        None => accf,
        // One rounding: GCC contracts the multiply and add into an FMA.
        Some(b) if !per_channel => b.mul_add(inv_aw, accf),
        // Two roundings: f32(b / aw), then the add.
        Some(_) => accf + bias_term,
    }
}

/// Per-output-channel constants, computed once.
#[derive(Debug, Clone)]
enum Channel {
    Fbgemm {
        /// f32(b / aw): the per-channel bias term.
        bias_term: f32,
        sx: f32,
        sw: f32,
        sy: f32,
        aw: f32,
        m: f32,
        bias: Option<f32>,
        inv_aw: f32,
        per_channel: bool,
    },
    Qnnpack {
        sx: f32,
        sw: f32,
        sy: f32,
        aw: f32,
        inv_sy: f32,
        r: f32,
        bias: Option<f32>,
        bias_scale: f32,
        inv_bs: f32,
        qb: i64,
    },
    Float {
        sx: f64,
        sw: f64,
        sy: f64,
        bias: f64,
    },
    Hand {
        sx: f64,
        sw: f64,
        sy: f64,
        bias: Option<f64>,
        h: HandAssumptions,
    },
}

/// A computation prepared for one conv: validated, constants precomputed.
#[derive(Debug, Clone)]
pub struct Requant {
    pub computation: Computation,
    channels: Vec<Channel>,
    zy: i64,
    relu: bool,
}

impl Requant {
    pub fn new(computation: Computation, p: &ConvQParams, out_channels: usize) -> Result<Requant> {
        p.validate(out_channels)?;
        let sx = scale_f32("input scale", p.input_scale)?;
        let sy = scale_f32("output scale", p.output_scale)?;
        // A printout formats a whole tensor at once (one notation for all its
        // values), so the hand calculation's copies are taken tensor-wide.
        let printed_ws = as_printed(&p.weight_scales);
        let printed_bias = p
            .bias
            .as_ref()
            .map(|b| as_printed(&b.iter().map(|&v| v as f64).collect::<Vec<_>>()));
        let mut channels = Vec::with_capacity(out_channels);
        for c in 0..out_channels {
            let sw = scale_f32("weight scale", p.weight_scale(c))?;
            let aw = sx * sw;
            let bias = p.bias_of(c);
            let ch = match computation {
                Computation::Fbgemm => {
                    let m = aw / sy;
                    let inv_aw = (1.0f64 / aw as f64) as f32;
                    if !(m > 0.0 && m.is_finite() && aw > 0.0) {
                        return Err(Error::BadScale {
                            what: "input scale x weight scale / output scale (float32)".into(),
                            value: m as f64,
                        });
                    }
                    Channel::Fbgemm {
                        bias_term: bias.map_or(0.0, |b| b / aw),
                        sx,
                        sw,
                        sy,
                        aw,
                        m,
                        bias,
                        inv_aw,
                        per_channel: p.per_channel,
                    }
                }
                Computation::Qnnpack => {
                    let inv_sy = 1.0f32 / sy;
                    let r = aw * inv_sy;
                    // The bias scale is the float64 product of the stored scales, then float32.
                    let bias_scale = (p.input_scale * p.weight_scale(c)) as f32;
                    let inv_bs = 1.0f32 / bias_scale;
                    if !(r > 0.0 && r.is_finite() && inv_bs.is_finite() && bias_scale > 0.0) {
                        return Err(Error::BadScale {
                            what: "input scale x weight scale (float32)".into(),
                            value: aw as f64,
                        });
                    }
                    let qb = match bias {
                        Some(b) => {
                            let v = (b * inv_bs).round_ties_even();
                            if !(v.abs() < 2147483648.0) {
                                return Err(Error::AccumulatorOverflow {
                                    channel: c,
                                    value: v as i64,
                                });
                            }
                            v as i64
                        }
                        None => 0,
                    };
                    Channel::Qnnpack {
                        sx,
                        sw,
                        sy,
                        aw,
                        inv_sy,
                        r,
                        bias,
                        bias_scale,
                        inv_bs,
                        qb,
                    }
                }
                Computation::Float => Channel::Float {
                    sx: sx as f64,
                    sw: sw as f64,
                    sy: sy as f64,
                    bias: bias.unwrap_or(0.0) as f64,
                },
                Computation::Hand(h) => {
                    let pick = |on: bool, v: f64, shown: f64| if on { shown } else { v };
                    let sxh = pick(h.print_input_scale, sx as f64, printed(sx as f64));
                    let wc = if p.per_channel { c } else { 0 };
                    let swh = pick(h.print_weight_scale, sw as f64, printed_ws[wc]);
                    let syh = pick(
                        h.print_output_scale,
                        p.output_scale,
                        printed(p.output_scale),
                    );
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
                    Channel::Hand {
                        sx: sxh,
                        sw: swh,
                        sy: syh,
                        bias: bias.map(|b| {
                            let shown = printed_bias.as_ref().map_or(b as f64, |pb| pb[c]);
                            pick(h.print_bias, b as f64, shown)
                        }),
                        h,
                    }
                }
            };
            channels.push(ch);
        }
        Ok(Requant {
            computation,
            channels,
            zy: p.output_zero_point,
            relu: p.relu,
        })
    }

    /// Output code of channel `c` for accumulator `acc`, recording steps in `rec`.
    /// `acc` is the zero-point-centred sum (or the raw one when
    /// `computation.uses_raw_codes()`).
    pub fn pixel<R: Recorder>(&self, c: usize, acc: i32, rec: &mut R) -> i64 {
        self.pixel_of(&self.channels[c], acc, rec)
    }

    #[inline(always)]
    fn pixel_of<R: Recorder>(&self, ch: &Channel, acc: i32, rec: &mut R) -> i64 {
        let zy = self.zy;
        let lo = if self.relu { zy } else { 0 };
        rec.step(key::ACC, Value::Int(acc as i64), || {
            (
                "accumulator".into(),
                "sum over taps of (qx - zx)·(qw - zw), exact int32".into(),
            )
        });
        match *ch {
            Channel::Fbgemm {
                bias_term,
                sx,
                sw,
                sy,
                aw,
                m,
                bias,
                inv_aw,
                per_channel,
            } => {
                scales32(rec, sx, sw, sy, aw);
                if let Some(b) = bias {
                    rec.step(key::BIAS, Value::F32(b), || {
                        (
                            "bias (float32)".into(),
                            "kept as a float, never rounded".into(),
                        )
                    });
                    if per_channel {
                        rec.step(key::BIAS_TERM, Value::F32(bias_term), || {
                            (
                                "bias in accumulator units".into(),
                                "f32(b / aw), a float32 division".into(),
                            )
                        });
                    } else {
                        rec.step("inv_aw", Value::F32(inv_aw), || {
                            (
                                "1 / (sx·sw)".into(),
                                "reciprocal in float64, then float32".into(),
                            )
                        });
                        rec.step(key::BIAS_TERM, Value::F64(b as f64 * inv_aw as f64), || {
                            (
                                "bias in accumulator units".into(),
                                "b · f32(1/aw) (inside the fused multiply-add)".into(),
                            )
                        });
                    }
                }
                let t = fbgemm_sum(acc, bias, inv_aw, bias_term, per_channel);
                rec.step(key::SUM, Value::F32(t), || {
                    let f = match (bias, per_channel) {
                        (None, _) => "f32(acc), no bias",
                        (Some(_), false) => "fma(b, f32(1/aw), f32(acc)): one rounding",
                        (Some(_), true) => "f32(f32(acc) + f32(b/aw)): two roundings",
                    };
                    ("accumulator + bias".into(), f.into())
                });
                rec.step(key::MULTIPLIER, Value::F32(m), || {
                    (
                        "multiplier M".into(),
                        "f32(aw / sy), a float32 division".into(),
                    )
                });
                let v = t * m;
                rec.step(key::PRE_ROUND, Value::F32(v), || {
                    ("value before rounding".into(), "f32(t · M)".into())
                });
                finish(
                    rec,
                    Tail::Fbgemm,
                    cvt_i32(v) as i64,
                    Value::F32(v.round_ties_even()),
                    zy,
                    lo,
                    "round half to even (vcvtps2dq)",
                )
            }
            Channel::Qnnpack {
                sx,
                sw,
                sy,
                aw,
                inv_sy,
                r,
                bias,
                bias_scale,
                inv_bs,
                qb,
            } => {
                scales32(rec, sx, sw, sy, aw);
                if let Some(b) = bias {
                    rec.step(key::BIAS, Value::F32(b), || {
                        (
                            "bias (float32)".into(),
                            "rounded to int32 when the weights are packed".into(),
                        )
                    });
                    rec.step("bias_scale", Value::F32(bias_scale), || {
                        (
                            "bias scale".into(),
                            "f32(sx · sw) from the float64 scales".into(),
                        )
                    });
                    rec.step("inv_bias_scale", Value::F32(inv_bs), || {
                        ("1 / bias scale".into(), "float32 reciprocal".into())
                    });
                    rec.step(key::BIAS_TERM, Value::Int(qb), || {
                        (
                            "bias in accumulator units".into(),
                            "rne(f32(b · f32(1/bias scale))): an int32".into(),
                        )
                    });
                }
                let sum = acc as i64 + qb;
                rec.step(key::SUM, Value::Int(sum), || {
                    ("accumulator + bias".into(), "acc + qb, int32".into())
                });
                let sumf = sum as i32 as f32;
                rec.step("inv_sy", Value::F32(inv_sy), || {
                    ("1 / sy".into(), "float32 reciprocal".into())
                });
                rec.step(key::MULTIPLIER, Value::F32(r), || {
                    (
                        "multiplier R".into(),
                        "f32(aw · f32(1/sy)): reciprocal, then multiply".into(),
                    )
                });
                let v = sumf * r;
                rec.step(key::PRE_ROUND, Value::F32(v), || {
                    (
                        "value before rounding".into(),
                        "f32(f32(acc + qb) · R)".into(),
                    )
                });
                finish(
                    rec,
                    Tail::Qnnpack,
                    cvt_i32(v) as i64,
                    Value::F32(v.round_ties_even()),
                    zy,
                    lo,
                    "round half to even",
                )
            }
            Channel::Float { sx, sw, sy, bias } => {
                rec.step(key::SX, Value::F64(sx), || {
                    (
                        "input scale".into(),
                        "float32 value, used in float64".into(),
                    )
                });
                rec.step(key::SW, Value::F64(sw), || {
                    (
                        "weight scale".into(),
                        "float32 value, used in float64".into(),
                    )
                });
                rec.step(key::SY, Value::F64(sy), || {
                    (
                        "output scale".into(),
                        "float32 value, used in float64".into(),
                    )
                });
                let y = acc as f64 * (sx * sw) + bias;
                rec.step(key::BIAS, Value::F64(bias), || {
                    ("bias".into(), "float64".into())
                });
                rec.step("real", Value::F64(y), || {
                    ("real output".into(), "acc · sx · sw + b, float64".into())
                });
                let v = y / sy;
                rec.step(key::PRE_ROUND, Value::F64(v), || {
                    ("value before rounding".into(), "y / sy, float64".into())
                });
                let r = v.round_ties_even();
                let ri = if r.abs() < 1e15 {
                    r as i64
                } else {
                    r.signum() as i64 * 1_000_000_000_000_000
                };
                finish(
                    rec,
                    Tail::Plain,
                    ri,
                    Value::F64(r),
                    zy,
                    lo,
                    "round half to even",
                )
            }
            Channel::Hand {
                sx,
                sw,
                sy,
                bias,
                h,
            } => hand(rec, acc, sx, sw, sy, bias, h, zy, self.relu),
        }
    }

    /// Output codes for a whole plane of accumulators of channel `c`.
    /// Codes are int32 (a hand calculation without clamping may leave 0..255).
    pub fn plane(&self, c: usize, acc: &[i32], out: &mut [i32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { self.plane_avx2(c, acc, out) };
        }
        self.plane_generic(c, acc, out)
    }

    #[inline(always)]
    fn plane_generic(&self, c: usize, acc: &[i32], out: &mut [i32]) {
        let ch = &self.channels[c];
        let (zy, lo) = (self.zy, if self.relu { self.zy } else { 0 });
        // The engines as straight-line loops (vectorised); the same helpers as
        // the traced path, so the arithmetic exists once.
        let code = |kind: Tail, v: f32| tail(kind, cvt_i32(v) as i64, zy, lo).1 as i32;
        match *ch {
            Channel::Fbgemm {
                m,
                bias,
                inv_aw,
                bias_term,
                per_channel,
                ..
            } => {
                for (o, &a) in out.iter_mut().zip(acc) {
                    *o = code(
                        Tail::Fbgemm,
                        fbgemm_sum(a, bias, inv_aw, bias_term, per_channel) * m,
                    );
                }
                return;
            }
            Channel::Qnnpack { r, qb, .. } => {
                for (o, &a) in out.iter_mut().zip(acc) {
                    *o = code(Tail::Qnnpack, (a as i64 + qb) as i32 as f32 * r);
                }
                return;
            }
            _ => {}
        }
        for (o, &a) in out.iter_mut().zip(acc) {
            *o = self
                .pixel_of(ch, a, &mut crate::trace::NoTrace)
                .clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        }
    }

    /// The same code compiled with hardware rounding and FMA: IEEE results are
    /// identical, baseline x86-64 only lacks the instructions (libm calls instead).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn plane_avx2(&self, c: usize, acc: &[i32], out: &mut [i32]) {
        self.plane_generic(c, acc, out)
    }
}

fn scales32<R: Recorder>(rec: &mut R, sx: f32, sw: f32, sy: f32, aw: f32) {
    rec.step(key::SX, Value::F32(sx), || {
        ("input scale".into(), "float32".into())
    });
    rec.step(key::SW, Value::F32(sw), || {
        ("weight scale".into(), "float32".into())
    });
    rec.step(key::SY, Value::F32(sy), || {
        ("output scale".into(), "float32".into())
    });
    rec.step(key::SCALE_PRODUCT, Value::F32(aw), || {
        ("sx · sw".into(), "float32 product".into())
    });
}

/// Rounded value -> plus zero point -> clamped, as the kernels do it.
#[allow(clippy::too_many_arguments)]
fn finish<R: Recorder>(
    rec: &mut R,
    kind: Tail,
    rounded: i64,
    shown: Value,
    zy: i64,
    lo: i64,
    how: &'static str,
) -> i64 {
    rec.step(key::ROUNDED, shown, || ("rounded".into(), how.into()));
    let (plus, out) = tail(kind, rounded, zy, lo);
    rec.step(key::PLUS_ZP, Value::Int(plus), || {
        let f = match kind {
            Tail::Fbgemm => format!("rounded + {zy} (int32, wrapping)"),
            Tail::Qnnpack => format!("rounded (saturated to int16) + {zy}"),
            Tail::Plain => format!("rounded + {zy}"),
        };
        ("plus output zero point".into(), f.into())
    });
    rec.step(key::OUTPUT, Value::Int(out), || {
        ("output code".into(), format!("clamp to {lo}..255").into())
    });
    out
}

#[allow(clippy::too_many_arguments)]
fn hand<R: Recorder>(
    rec: &mut R,
    acc: i32,
    sx: f64,
    sw: f64,
    sy: f64,
    bias: Option<f64>,
    h: HandAssumptions,
    zy: i64,
    relu: bool,
) -> i64 {
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
    let pre = match h.arithmetic {
        Arithmetic::F64 => {
            let bt = bias.map(|b| {
                rec.step(key::BIAS, Value::F64(b), || {
                    ("bias".into(), printed_note(h.print_bias).into())
                });
                let v = b / (sw * sx);
                match h.bias_rounding {
                    BiasRounding::Keep => (v, "b / (sw·sx)"),
                    BiasRounding::HalfEven => (
                        v.round_ties_even(),
                        "round(b / (sw·sx)), Python: half to even",
                    ),
                    BiasRounding::HalfAway => {
                        (v.round(), "round(b / (sw·sx)), C: half away from zero")
                    }
                    BiasRounding::Truncate => (v.trunc(), "int(b / (sw·sx)): toward zero"),
                }
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
    let out = if h.ignore_clamp {
        ri
    } else {
        ri.clamp(if relu { zy } else { 0 }, 255)
    };
    rec.step(key::OUTPUT, Value::Int(out), || {
        let f = if h.ignore_clamp {
            "not clamped".to_string()
        } else {
            format!("clamp to {}..255", if relu { zy } else { 0 })
        };
        ("output code".into(), f.into())
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{NoTrace, Trace};

    fn params(sx: f64, sw: f64, sy: f64, zy: i64, bias: Option<f32>) -> ConvQParams {
        ConvQParams {
            input_scale: sx,
            input_zero_point: 0,
            weight_scales: vec![sw],
            weight_zero_points: vec![0],
            per_channel: false,
            bias: bias.map(|b| vec![b]),
            output_scale: sy,
            output_zero_point: zy,
            relu: false,
        }
    }

    fn code(c: Computation, p: &ConvQParams, acc: i32) -> i64 {
        Requant::new(c, p, 1).unwrap().pixel(0, acc, &mut NoTrace)
    }

    #[test]
    fn kernels_round_half_to_even() {
        // M = 1/2 exactly: odd accumulators are ties.
        let p = params(0.5, 0.5, 0.5, 0, None);
        for c in [
            Computation::Fbgemm,
            Computation::Qnnpack,
            Computation::Float,
        ] {
            assert_eq!([1, 3, 5].map(|a| code(c, &p, a)), [0, 2, 2], "{c:?}");
        }
        let half_away = Computation::Hand(HandAssumptions {
            rounding: Rounding::HalfAway,
            ..HandAssumptions::faithful()
        });
        assert_eq!([1, 3, 5].map(|a| code(half_away, &p, a)), [1, 2, 3]);
    }

    #[test]
    fn zero_point_tails_differ_only_past_int32() {
        // fbgemm adds the zero point as a wrapping int32; qnnpack saturates to int16 first.
        assert_eq!(
            tail(Tail::Fbgemm, i32::MAX as i64 - 10, 200, 0),
            (i32::MIN as i64 + 189, 0)
        );
        assert_eq!(
            tail(Tail::Qnnpack, i32::MAX as i64 - 10, 200, 0),
            (32967, 255)
        );
        assert_eq!(tail(Tail::Plain, 300, 3, 0), (303, 255));
        assert_eq!(tail(Tail::Fbgemm, -5, 3, 3), (-2, 3));
        // Out-of-range floats convert to INT32_MIN (vcvtps2dq), NaN too.
        assert_eq!(cvt_i32(3e9), i32::MIN);
        assert_eq!(cvt_i32(f32::NAN), i32::MIN);
        assert_eq!(cvt_i32(-2.5), -2);
    }

    #[test]
    fn relu_clamps_at_the_zero_point() {
        let mut p = params(0.1, 0.1, 0.01, 10, None);
        p.relu = true;
        assert_eq!(code(Computation::Fbgemm, &p, -50), 10);
        assert_eq!(code(Computation::Qnnpack, &p, -50), 10);
        p.relu = false;
        assert_eq!(code(Computation::Fbgemm, &p, -50), 0);
    }

    #[test]
    fn fbgemm_bias_paths() {
        // Per-tensor: one FMA rounding; per-channel: division then add.
        let p = params(
            0.007839367724955082,
            0.003770669922232628,
            0.004018464591354132,
            0,
            Some(0.0317),
        );
        let mut t = Trace::default();
        let r = Requant::new(Computation::Fbgemm, &p, 1).unwrap();
        assert_eq!(r.pixel(0, 3048, &mut t), 30);
        assert!(t.get(key::SUM).unwrap().formula.contains("one rounding"));
        let mut pc = p.clone();
        pc.per_channel = true;
        let mut t = Trace::default();
        Requant::new(Computation::Fbgemm, &pc, 1)
            .unwrap()
            .pixel(0, 3048, &mut t);
        assert!(t.get(key::SUM).unwrap().formula.contains("two roundings"));
    }

    #[test]
    fn qnnpack_rounds_the_bias_to_int32() {
        let p = params(
            0.007839367724955082,
            0.003770669922232628,
            0.004018464591354132,
            0,
            Some(0.0317),
        );
        let mut t = Trace::default();
        Requant::new(Computation::Qnnpack, &p, 1)
            .unwrap()
            .pixel(0, 3048, &mut t);
        assert_eq!(t.get(key::BIAS_TERM).unwrap().value, Value::Int(1072));
    }

    #[test]
    fn hand_switches_each_change_what_they_say() {
        let p = params(
            0.007839367724955082,
            0.003770669922232628,
            0.004018464591354132,
            0,
            Some(0.0317),
        );
        let trace = |h: HandAssumptions| {
            let mut t = Trace::default();
            Requant::new(Computation::Hand(h), &p, 1)
                .unwrap()
                .pixel(0, 3048, &mut t);
            t
        };
        let d = trace(HandAssumptions::default());
        assert_eq!(d.get(key::SX).unwrap().value, Value::F64(0.0078));
        assert_eq!(d.get(key::SY).unwrap().value, Value::F64(0.004));
        let exact = trace(HandAssumptions {
            print_input_scale: false,
            ..Default::default()
        });
        assert_eq!(
            exact.get(key::SX).unwrap().value,
            Value::F64(0.007_839_368f32 as f64)
        );
        let keep = trace(HandAssumptions {
            bias_rounding: BiasRounding::Keep,
            ..Default::default()
        });
        assert!(matches!(
            keep.get(key::BIAS_TERM).unwrap().value,
            Value::F64(_)
        ));
        let trunc = trace(HandAssumptions {
            bias_rounding: BiasRounding::Truncate,
            ..Default::default()
        });
        assert_eq!(trunc.get(key::BIAS_TERM).unwrap().value, Value::Int(1069));
        let f32s = trace(HandAssumptions {
            arithmetic: Arithmetic::F32,
            ..Default::default()
        });
        assert!(matches!(
            f32s.get(key::PRE_ROUND).unwrap().value,
            Value::F32(_)
        ));
        let mut hz = p.clone();
        hz.output_zero_point = 250;
        let no_clamp = Computation::Hand(HandAssumptions {
            ignore_clamp: true,
            ..Default::default()
        });
        assert_eq!(
            Requant::new(no_clamp, &hz, 1)
                .unwrap()
                .pixel(0, 3048, &mut NoTrace),
            281
        );
        assert_eq!(
            Requant::new(Computation::Hand(HandAssumptions::default()), &hz, 1)
                .unwrap()
                .pixel(0, 3048, &mut NoTrace),
            255
        );
        let no_zp = Computation::Hand(HandAssumptions {
            ignore_zero_points: true,
            ..Default::default()
        });
        assert_eq!(
            Requant::new(no_zp, &hz, 1)
                .unwrap()
                .pixel(0, 3048, &mut NoTrace),
            31
        );
        assert!(no_zp.uses_raw_codes());
    }

    #[test]
    fn printed_weight_scales_follow_the_whole_tensor() {
        // 0.5 and 0.000312345 span more than 1000x: PyTorch prints the whole
        // tensor in scientific notation, so the copy keeps 5 digits.
        let mut p = params(0.01, 0.5, 0.01, 0, Some(0.0317));
        p.per_channel = true;
        p.weight_scales = vec![0.5, 0.000312345];
        p.weight_zero_points = vec![0, 0];
        p.bias = Some(vec![0.0317, 12.5]);
        let r = Requant::new(Computation::Hand(HandAssumptions::default()), &p, 2).unwrap();
        let mut t = Trace::default();
        r.pixel(1, 100, &mut t);
        assert_eq!(t.get(key::SW).unwrap().value, Value::F64(3.1235e-4));
        assert_eq!(t.get(key::BIAS).unwrap().value, Value::F64(12.5));
        // Alone, the same value would print as 0.0003.
        assert_eq!(crate::printed::printed(0.000312345), 0.0003);
        assert_eq!(
            crate::printed::as_printed(&[0.5, 0.000312345])[1],
            3.1235e-4
        );
    }

    #[test]
    fn single_fixes_list_each_active_mistake() {
        let names: Vec<Assumption> = HandAssumptions::default()
            .single_fixes()
            .iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(
            names,
            [
                Assumption::PrintedOutputScale,
                Assumption::PrintedWeightScale,
                Assumption::PrintedInputScale,
                Assumption::PrintedBias,
                Assumption::BiasRounded,
                Assumption::Float64
            ]
        );
        assert!(HandAssumptions {
            arithmetic: Arithmetic::F32,
            ..HandAssumptions::faithful()
        }
        .single_fixes()
        .is_empty());
    }

    #[test]
    fn parse_names() {
        for n in ["fbgemm", "qnnpack", "float", "hand"] {
            assert_eq!(Computation::parse(n).unwrap().name(), n);
        }
        assert!(Computation::parse("tflite")
            .unwrap_err()
            .to_string()
            .contains("unknown computation"));
    }
}
