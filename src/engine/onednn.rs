//! oneDNN's requantization, as PyTorch's `onednn` quantized engine configures it
//! (torch 2.15.0, oneDNN 3.13): engine `"onednn"`, and engine `"x86"` whenever it
//! dispatches to oneDNN.
//!
//! # Where the arithmetic comes from
//!
//! Three layers hand the numbers down; each float32 step below is one of theirs.
//!
//! 1. **PyTorch** (`aten/src/ATen/native/quantized/cpu/qconv.cpp`,
//!    `PackedConvWeightsOnednn::apply_impl`, and `qconv_prepack.cpp`,
//!    `PackedConvWeightsOnednn::prepack`) passes oneDNN's helper library *ideep*:
//!    - the input scale as its reciprocal, `1.0 / input_scale` computed in float64
//!      and stored as float32 (ideep's `scale_t` is a vector of float);
//!    - the weight scales as they are, narrowed to float32 (ideep >= 3.1.0.1);
//!    - the output scale as its reciprocal, `1.0 / output_scale` in float64, then float32;
//!    - the input and output zero points as int32 attributes;
//!    - the bias as the float32 tensor itself, **not** divided by any scale;
//!    - fused ReLU as an eltwise post-op (`attr_t::fuse_relu`).
//! 2. **ideep** (`include/ideep/operators/conv.hpp`, `do_prepare`) turns the two
//!    reciprocals back into oneDNN scales with a float32 division each:
//!    `src_scale = 1.0f / f32(1/sx)`, `dst_scale = 1.0f / f32(1/sy)`. The round trip
//!    usually restores `f32(sx)`, but not always (the `near-tie,rcp` cases). A scale
//!    that comes out as exactly 1 is not set at all, which is the same as multiplying by 1.
//! 3. **oneDNN** (`src/cpu/x64/brgemm/jit_brgemm_kernel.cpp`,
//!    `store_accumulators_apply_post_ops`; `jit_brdgmm_kernel.cpp`;
//!    `jit_avx512_core_x8s8s32x_conv_kernel.cpp`; the conv drivers
//!    `jit_brgemm_conv.cpp`, `jit_brgemm_1x1_conv.cpp`, `jit_brdgmm_dw_conv.cpp`)
//!    computes, per output value, each step one float32 instruction:
//!    ```text
//!    a  = f32(acc)                      vcvtdq2ps
//!    a  = f32(a * src_scale)            vmulps  (src scale)
//!    a  = f32(a * f32(sw))              vmulps  (weight scale of the channel)
//!    a  = f32(a + b)                    vaddps  (float bias, in real units)
//!    a  = max(a, 0)                     ReLU post-op, if fused
//!    a  = f32(a * f32(1 / dst_scale))   vmulps; the driver computes 1.f / dst_scale once
//!    a  = f32(a + f32(zy))              vaddps  (dst zero point, BEFORE rounding)
//!    a  = min(max(a, 0), 255)           saturate in float
//!    y  = rne(a)                        vcvtps2dq, then pack to u8
//!    ```
//!    No fused multiply-add anywhere, and no combined `src_scale * wei_scale`: since
//!    oneDNN 3.10 the brgemm kernels multiply by the two scales one after the other.
//!
//! So the output scale goes through three float32 reciprocals
//! (`f32(1/sy)` by PyTorch, `1/that` by ideep, `1/that` by oneDNN), and the zero point
//! is added before rounding: with sx = sw = 1, sy = 2, zy = 1 the accumulators
//! 1, 3, 5 give 1.5, 2.5, 3.5 and round to 2, 2, 4 (fbgemm rounds 0.5, 1.5, 2.5
//! first and gives 1, 3, 3). A value past 255 saturates in float, so a huge bias
//! gives 255 where fbgemm's int32 conversion wraps to 0.
//!
//! # Accumulation
//!
//! The accumulator is the exact `sum (qx - zx)(qw - zw)` (`IntConv::accumulate`):
//! oneDNN sums `u8 x s8` products with `vpdpbusd` (no int16 pair saturation, unlike
//! fbgemm's `vpmaddubsw`) and adds the source zero-point compensation
//! `-zx * sum qw` in int32 (padded taps included, as if padded with `zx`). That
//! arithmetic is modulo 2^32, so it equals the exact sum whenever the exact sum fits
//! in int32, which `IntConv::accumulate` already requires. No separate accumulation
//! is needed. Weight zero points are always 0 (oneDNN refuses anything else).
//!
//! # Version difference (torch 2.5.1, oneDNN 3.5.3)
//!
//! Up to oneDNN 3.9 the brgemm convs precomputed one scale per channel,
//! `f32(src_scale * f32(sw))` (`precompute_scales` in `src/cpu/scale_utils.cpp`),
//! and multiplied the accumulator once. With that single change this model
//! reproduces torch 2.5.1's four differing near-tie cases as well. 2.5.1's fifth
//! difference (case x86-1-120: groups 2, 3x3, input 12x1, stride (1, 2), padding 1)
//! is not a rounding order: 2.5.1's `brg_conv_fwd:avx512_core_vnni` gets 106 of its
//! 144 outputs wrong, in every channel of both images (2.15.0 runs
//! `brg_conv_fwd:avx2_vnni` for that shape and agrees with the exact accumulation).
//!
//! # Which kernel the `x86` engine runs
//!
//! `onednn_utils::should_use_onednn_quant` (`aten/src/ATen/native/quantized/cpu/OnednnUtils.h`),
//! evaluated when the weights are packed: oneDNN when the OS is Linux, cpuinfo reports
//! AVX512-VNNI, `groups <= 100` (100 itself included), every weight zero point is 0,
//! and every output padding is 0 (transposed convs only). Otherwise fbgemm. See
//! `super::x86::dispatch`. On the golden file `wave2/x86.json` (AVX512-VNNI, Linux) the rule
//! predicts the recorded kernel of all 200 cases (91 x86 to oneDNN, 60 x86 to fbgemm:
//! 55 for weight zero points, 2 for groups > 100, 3 for both).
use super::{
    Accumulation, Channel, Computation, ConvQParams, Dyn, DynRecorder, Engine, EngineRow, Evidence,
    Family, Kernel, Platform,
};
use crate::conv::ConvShape;
use crate::error::{Error, Result};
use crate::quant::{check_zero_point, scale_f32, DType};
use crate::trace::{key, Recorder, Value};
use std::sync::Arc;

/// Trace keys of oneDNN's own steps (the shared ones come from `crate::trace::key`).
pub mod okey {
    /// `f32(1 / sx)`: the input scale as PyTorch hands it to ideep.
    pub const INV_SX: &str = "inv_sx";
    /// `1.0f / f32(1/sx)`: the source scale oneDNN multiplies by.
    pub const SRC_SCALE: &str = "src_scale";
    /// `f32(1 / sy)`: the output scale as PyTorch hands it to ideep.
    pub const INV_SY: &str = "inv_sy";
    /// `1.0f / f32(1/sy)`: the destination scale oneDNN is given.
    pub const DST_SCALE: &str = "dst_scale";
    /// `f32(acc)`.
    pub const ACC_F32: &str = "acc_f32";
    /// `f32(f32(acc) * src_scale)`.
    pub const TIMES_SRC: &str = "times_src_scale";
    /// `f32(... * sw)`: the accumulator in real units.
    pub const DEQUANTIZED: &str = "dequantized";
    /// `f32(dequantized + bias)`.
    pub const WITH_BIAS: &str = "with_bias";
    /// `max(with_bias, 0)`: the fused ReLU post-op.
    pub const RELU: &str = "relu";
    /// `f32(value * multiplier)`: in output units, before the zero point.
    pub const SCALED: &str = "scaled";
}

/// oneDNN's requantization of one output channel (as PyTorch's onednn qconv configures it).
#[derive(Debug, Clone)]
pub struct OnednnChannel {
    /// f32 of the stored scales (for the trace).
    sx: f32,
    sw: f32,
    sy: f32,
    /// `f32(1 / sx)` (float64 division by PyTorch).
    inv_sx: f32,
    /// `1.0f / inv_sx` (float32 division by ideep).
    src_scale: f32,
    /// `f32(1 / sy)` (float64 division by PyTorch).
    inv_sy: f32,
    /// `1.0f / inv_sy` (float32 division by ideep).
    dst_scale: f32,
    /// `1.0f / dst_scale` (float32 division by oneDNN's conv driver).
    multiplier: f32,
    bias: Option<f32>,
    zy: i64,
    relu: bool,
}

impl OnednnChannel {
    /// sx, sw, sy: the float64 scales PyTorch stores; bias: float32 bias or None; zy: output zero point; relu: fused ReLU.
    pub fn new(
        sx: f64,
        sw: f64,
        sy: f64,
        bias: Option<f32>,
        zy: i64,
        relu: bool,
    ) -> Result<OnednnChannel> {
        let sx32 = scale_f32("input scale", sx)?;
        let sw32 = scale_f32("weight scale", sw)?;
        let sy32 = scale_f32("output scale", sy)?;
        check_zero_point("output zero point", zy, DType::QUInt8)?;
        if let Some(b) = bias {
            if !b.is_finite() {
                return Err(Error::BadValue(format!("bias is {b}")));
            }
        }
        // PyTorch: reciprocal in float64, stored as float32.
        let inv_sx = (1.0f64 / sx) as f32;
        let inv_sy = (1.0f64 / sy) as f32;
        // ideep: back to a scale with a float32 division.
        let src_scale = 1.0f32 / inv_sx;
        let dst_scale = 1.0f32 / inv_sy;
        // oneDNN's conv driver: the inverse destination scale, float32.
        let multiplier = 1.0f32 / dst_scale;
        // A scale whose float32 reciprocal overflows or underflows has no
        // meaningful oneDNN result (zero or infinite scales, NaN): refused.
        for (what, v, orig) in [
            ("f32(1 / input scale)", inv_sx, sx),
            ("input scale after the reciprocal round trip", src_scale, sx),
            ("f32(1 / output scale)", inv_sy, sy),
            (
                "output scale after the reciprocal round trip",
                dst_scale,
                sy,
            ),
            ("oneDNN's output multiplier 1 / dst_scale", multiplier, sy),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(Error::BadScale {
                    what: what.into(),
                    value: orig,
                });
            }
        }
        Ok(OnednnChannel {
            sx: sx32,
            sw: sw32,
            sy: sy32,
            inv_sx,
            src_scale,
            inv_sy,
            dst_scale,
            multiplier,
            bias,
            zy,
            relu,
        })
    }

    /// The multiplier oneDNN applies after the bias: `1.0f / (1.0f / f32(1/sy))`.
    pub fn multiplier(&self) -> f32 {
        self.multiplier
    }

    /// The source scale oneDNN applies first: `1.0f / f32(1/sx)`.
    pub fn src_scale(&self) -> f32 {
        self.src_scale
    }

    /// Output code for the exact zero-point-centred accumulator `acc`, recording each step.
    pub fn pixel<R: Recorder>(&self, acc: i32, rec: &mut R) -> i64 {
        let zy = self.zy;
        rec.step(key::ACC, Value::Int(acc as i64), || {
            (
                "accumulator".into(),
                "sum over taps of (qx - zx)·(qw - zw), exact int32 (vpdpbusd + zero-point compensation)".into(),
            )
        });
        rec.step(key::SX, Value::F32(self.sx), || {
            ("input scale".into(), "float32".into())
        });
        rec.step(okey::INV_SX, Value::F32(self.inv_sx), || {
            (
                "1 / sx as PyTorch passes it".into(),
                "f32(1.0 / sx), a float64 division (qconv.cpp)".into(),
            )
        });
        rec.step(okey::SRC_SCALE, Value::F32(self.src_scale), || {
            (
                "source scale oneDNN uses".into(),
                "1.0f / f32(1/sx), a float32 division (ideep)".into(),
            )
        });
        rec.step(key::SW, Value::F32(self.sw), || {
            ("weight scale".into(), "float32, passed as it is".into())
        });
        rec.step(key::SY, Value::F32(self.sy), || {
            ("output scale".into(), "float32".into())
        });
        rec.step(okey::INV_SY, Value::F32(self.inv_sy), || {
            (
                "1 / sy as PyTorch passes it".into(),
                "f32(1.0 / sy), a float64 division (qconv.cpp)".into(),
            )
        });
        rec.step(okey::DST_SCALE, Value::F32(self.dst_scale), || {
            (
                "destination scale oneDNN is given".into(),
                "1.0f / f32(1/sy), a float32 division (ideep)".into(),
            )
        });
        rec.step(key::MULTIPLIER, Value::F32(self.multiplier), || {
            (
                "output multiplier".into(),
                "1.0f / dst_scale, a float32 division (oneDNN's conv driver)".into(),
            )
        });
        let a = acc as f32;
        rec.step(okey::ACC_F32, Value::F32(a), || {
            (
                "accumulator as float32".into(),
                "f32(acc) (vcvtdq2ps)".into(),
            )
        });
        let a = a * self.src_scale;
        rec.step(okey::TIMES_SRC, Value::F32(a), || {
            (
                "times the source scale".into(),
                "f32(f32(acc) · src_scale)".into(),
            )
        });
        let mut v = a * self.sw;
        rec.step(okey::DEQUANTIZED, Value::F32(v), || {
            (
                "times the weight scale".into(),
                "f32(previous · sw): a second rounding, no combined sx·sw".into(),
            )
        });
        if let Some(b) = self.bias {
            rec.step(key::BIAS, Value::F32(b), || {
                (
                    "bias (float32)".into(),
                    "added as it is, in real units (not divided by sx·sw)".into(),
                )
            });
            v += b;
            rec.step(okey::WITH_BIAS, Value::F32(v), || {
                ("plus bias".into(), "f32(dequantized + b)".into())
            });
        }
        if self.relu {
            v = v.max(0.0);
            rec.step(okey::RELU, Value::F32(v), || {
                (
                    "fused ReLU".into(),
                    "max(value, 0), before the output scale and zero point".into(),
                )
            });
        }
        let s = v * self.multiplier;
        rec.step(okey::SCALED, Value::F32(s), || {
            ("in output units".into(), "f32(value · multiplier)".into())
        });
        let p = s + zy as f32;
        rec.step(key::PLUS_ZP, Value::F32(p), || {
            (
                "plus output zero point".into(),
                format!("f32(scaled + {zy}), in float32 before rounding").into(),
            )
        });
        let sat = p.clamp(0.0, 255.0);
        rec.step(key::PRE_ROUND, Value::F32(sat), || {
            (
                "value before rounding".into(),
                "saturated to 0..255 in float32".into(),
            )
        });
        // Within 0..=255 after saturation: the conversion cannot overflow.
        let r = sat.round_ties_even() as i64;
        rec.step(key::ROUNDED, Value::Int(r), || {
            ("rounded".into(), "round half to even (vcvtps2dq)".into())
        });
        rec.step(key::OUTPUT, Value::Int(r), || {
            (
                "output code".into(),
                if self.relu {
                    format!("already in {zy}..255 (ReLU before the zero point)").into()
                } else {
                    "already in 0..255".into()
                },
            )
        });
        r
    }

    /// Output codes of one channel's accumulators, without a trace.
    pub fn plane(&self, acc: &[i32], out: &mut [i32]) {
        super::common::map_plane(acc, out, |a| {
            self.pixel(a, &mut crate::trace::NoTrace) as i32
        })
    }
}

pub const ID: &str = "onednn";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "PyTorch onednn",
    family: Family::PyTorch,
    activations: &[DType::QUInt8],
    weights: &[DType::QInt8],
    uses_platform: false,
    pytorch_engine: Some("onednn"),
    evidence: Evidence::Golden,
    engine: &Onednn,
};

pub struct Onednn;

/// oneDNN's kernel: exact accumulation (`vpdpbusd`, see the module doc).
pub fn kernel(why: String) -> Kernel {
    Kernel {
        name: ID,
        path: None,
        why,
        accumulation: Accumulation::Exact,
    }
}

impl Engine for Onednn {
    fn kernel(&self, _: &Computation, _: &ConvShape, _: &ConvQParams, _: &Platform) -> Kernel {
        kernel("oneDNN (engine set to onednn): exact int32 accumulation".into())
    }
    fn channels(
        &self,
        _: &Computation,
        p: &ConvQParams,
        out_channels: usize,
        _: &Kernel,
    ) -> Result<Vec<Arc<dyn Channel>>> {
        channels(p, out_channels)
    }
}

/// One oneDNN requantization per output channel. oneDNN takes symmetric
/// weights only, as PyTorch's prepack says when it refuses them.
pub fn channels(p: &ConvQParams, out_channels: usize) -> Result<Vec<Arc<dyn Channel>>> {
    if let Some(z) = p.weight_zero_points.iter().find(|&&z| z != 0) {
        return Err(Error::Input(format!(
            "onednn takes symmetric weights only (weight zero point {z}); PyTorch refuses: \
             \"ONEDNN only supports symmetric quantization of weight, whose zero point must be 0\""
        )));
    }
    (0..out_channels)
        .map(|c| {
            Ok(Arc::new(OnednnChannel::new(
                p.input_scale,
                p.weight_scale(c),
                p.output_scale,
                p.bias_of(c),
                p.output_zero_point,
                p.relu,
            )?) as Arc<dyn Channel>)
        })
        .collect()
}

impl Channel for OnednnChannel {
    fn pixel(&self, acc: i32, rec: &mut dyn DynRecorder) -> i64 {
        OnednnChannel::pixel(self, acc, &mut Dyn(rec))
    }
    fn plane(&self, acc: &[i32], out: &mut [i32]) {
        OnednnChannel::plane(self, acc, out)
    }
}

#[cfg(test)]
// Biases as the golden file writes them: float64 decimals of float32 values.
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;
    use crate::trace::{NoTrace, Trace};

    fn code(sx: f64, sw: f64, sy: f64, b: Option<f32>, zy: i64, relu: bool, acc: i32) -> i64 {
        OnednnChannel::new(sx, sw, sy, b, zy, relu)
            .unwrap()
            .pixel(acc, &mut NoTrace)
    }

    #[test]
    fn zero_point_is_added_before_rounding() {
        // 0.5 + 1, 1.5 + 1, 2.5 + 1 = 1.5, 2.5, 3.5 -> 2, 2, 4.
        // fbgemm rounds first: rne(0.5, 1.5, 2.5) + 1 = 1, 3, 3.
        let got = [1, 3, 5].map(|a| code(1.0, 1.0, 2.0, None, 1, false, a));
        assert_eq!(got, [2, 2, 4]);
        // With an even zero point the ties land where fbgemm's do.
        let got = [1, 3, 5].map(|a| code(1.0, 1.0, 2.0, None, 2, false, a));
        assert_eq!(got, [2, 4, 4]);
    }

    #[test]
    fn huge_bias_saturates_in_float() {
        // 0 · 1 · 1 + 1e10 = 1e10 -> saturates to 255 before the conversion.
        // fbgemm: vcvtps2dq(1e10) = INT32_MIN, + 3 wraps to -2147483645, clamps to 0.
        assert_eq!(code(1.0, 1.0, 1.0, Some(1e10), 3, false, 0), 255);
        assert_eq!(code(1.0, 1.0, 1.0, Some(-1e10), 3, false, 0), 0);
        // Bias in real units: 4 · 0.5 · 0.25 + 1e9 = 1e9 (not 1e9 / 0.125 accumulator units).
        let mut t = Trace::default();
        OnednnChannel::new(0.5, 0.25, 1.0, Some(1e9), 0, false)
            .unwrap()
            .pixel(4, &mut t);
        assert_eq!(t.get(okey::WITH_BIAS).unwrap().value, Value::F32(1e9));
        assert_eq!(t.output(), Some(255));
    }

    #[test]
    fn relu_comes_before_scale_and_zero_point() {
        // acc -1, sy 2, zy 1: without ReLU -0.5 + 1 = 0.5 -> 0 (fbgemm: rne(-0.5) + 1 = 1).
        assert_eq!(code(1.0, 1.0, 2.0, None, 1, false, -1), 0);
        // With ReLU: max(-1, 0) = 0, 0 · 0.5 + 1 = 1.
        assert_eq!(code(1.0, 1.0, 2.0, None, 1, true, -1), 1);
        // Positive values are untouched by ReLU: 2.5 + 1 = 3.5 -> 4 (fbgemm: 2 + 1 = 3).
        assert_eq!(code(1.0, 1.0, 2.0, None, 1, true, 5), 4);
        let mut t = Trace::default();
        OnednnChannel::new(1.0, 1.0, 2.0, None, 7, true)
            .unwrap()
            .pixel(-100, &mut t);
        assert_eq!(t.get(okey::RELU).unwrap().value, Value::F32(0.0));
        assert_eq!(t.output(), Some(7));
    }

    // Pixels of real PyTorch 2.15.0 output (golden wave2/x86.json), each where
    // one plausible alternative order gives a different code.

    #[test]
    fn scales_multiply_one_after_the_other() {
        // x86tie-1-25: a combined f32(src_scale · sw) (oneDNN <= 3.9, torch 2.5.1) gives 114.
        let c = code(
            0.02571400714610036,
            0.0007059767424058208,
            0.003296546814016473,
            Some(-0.29590940475463867),
            169,
            false,
            6222,
        );
        assert_eq!(c, 113);
    }

    #[test]
    fn input_scale_takes_the_reciprocal_round_trip() {
        // x86tie-1-43: with f32(sx) instead of 1.0f / f32(1/sx) the code is 2.
        let sx = 0.003385553612324879;
        let ch = OnednnChannel::new(
            sx,
            0.016641602546421427,
            0.009434263098080452,
            Some(-0.8355458974838257),
            231,
            false,
        )
        .unwrap();
        assert_ne!(ch.src_scale(), sx as f32);
        assert_eq!(ch.pixel(-23432, &mut NoTrace), 3);
    }

    #[test]
    fn output_scale_is_a_multiplier_of_three_reciprocals() {
        // x86tie-1-19: dividing by f32(sy) gives 153.
        let c = code(
            0.021194467090201872,
            0.013307525737760232,
            0.004231064392070143,
            Some(-0.3033788204193115),
            255,
            false,
            -462,
        );
        assert_eq!(c, 152);
    }

    #[test]
    fn zero_point_before_rounding_on_real_scales() {
        // x86tie-1-13: rounding first, then + zy, gives 53.
        let c = code(
            0.012670300883896118,
            0.0027247526419574347,
            0.006430451355517604,
            Some(-0.8477120995521545),
            189,
            false,
            -684,
        );
        assert_eq!(c, 54);
    }

    #[test]
    fn trace_records_each_step() {
        let mut t = Trace::default();
        let ch = OnednnChannel::new(1.0, 1.0, 2.0, Some(0.25), 1, false).unwrap();
        assert_eq!(ch.pixel(3, &mut t), 3); // 3 + 0.25 = 3.25, · 0.5 = 1.625, + 1 = 2.625 -> 3
        for k in [
            key::ACC,
            key::SX,
            okey::INV_SX,
            okey::SRC_SCALE,
            key::SW,
            key::SY,
            okey::INV_SY,
            okey::DST_SCALE,
            key::MULTIPLIER,
            okey::ACC_F32,
            okey::TIMES_SRC,
            okey::DEQUANTIZED,
            key::BIAS,
            okey::WITH_BIAS,
            okey::SCALED,
            key::PLUS_ZP,
            key::PRE_ROUND,
            key::ROUNDED,
            key::OUTPUT,
        ] {
            assert!(t.get(k).is_some(), "missing step {k}");
        }
        assert_eq!(t.get(key::PLUS_ZP).unwrap().value, Value::F32(2.625));
        assert!(t.get(okey::RELU).is_none());
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(OnednnChannel::new(0.0, 1.0, 1.0, None, 0, false).is_err());
        assert!(OnednnChannel::new(1.0, f64::NAN, 1.0, None, 0, false).is_err());
        assert!(OnednnChannel::new(1.0, 1.0, 1.0, None, 256, false).is_err());
        assert!(OnednnChannel::new(1.0, 1.0, 1.0, Some(f32::INFINITY), 0, false).is_err());
        // float32-subnormal input scale: f32(1/sx) overflows to infinity.
        assert!(OnednnChannel::new(1e-45, 1.0, 1.0, None, 0, false).is_err());
    }
}
