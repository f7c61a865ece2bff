//! PyTorch's qnnpack engine (ARM, mobile; also on x86): the bias is rounded
//! to int32 when the weights are packed, multiplier `f32(aw · f32(1/sy))`,
//! round half to even, then the zero point added with int16 saturation.
use super::common::{cvt_i32, finish, map_plane, scales32, tail, Tail};
use super::{
    Accumulation, Channel, Computation, ConvQParams, Dyn, DynRecorder, Engine, EngineRow, Evidence,
    Family, Kernel, Platform,
};
use crate::conv::ConvShape;
use crate::error::{Error, Result};
use crate::quant::{quantize_val_scalar, scale_f32, DType};
use crate::trace::{key, Recorder, Value};
use std::sync::Arc;

pub const ID: &str = "qnnpack";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "PyTorch qnnpack (ARM, mobile)",
    family: Family::PyTorch,
    activations: &[DType::QUInt8],
    weights: &[DType::QInt8],
    uses_platform: false,
    pytorch_engine: Some("qnnpack"),
    evidence: Evidence::Golden,
    engine: &Qnnpack,
};

pub struct Qnnpack;

impl Engine for Qnnpack {
    fn kernel(&self, _: &Computation, s: &ConvShape, _: &ConvQParams, _: &Platform) -> Kernel {
        let k = QnnpackKernel::of(s);
        Kernel {
            name: ID,
            path: Some(k.name()),
            why: format!(
                "qnnpack {} kernel ({}); exact int32 accumulation on every CPU",
                k.name(),
                k.why()
            ),
            accumulation: Accumulation::Exact,
        }
    }
    fn channels(
        &self,
        _: &Computation,
        p: &ConvQParams,
        out_channels: usize,
        kernel: &Kernel,
    ) -> Result<Vec<Arc<dyn Channel>>> {
        let micro = QnnpackKernel::ALL
            .into_iter()
            .find(|k| Some(k.name()) == kernel.path)
            .unwrap_or(QnnpackKernel::Gemm);
        let sx = scale_f32("input scale", p.input_scale)?;
        let sy = scale_f32("output scale", p.output_scale)?;
        (0..out_channels)
            .map(|c| {
                let sw = scale_f32("weight scale", p.weight_scale(c))?;
                let aw = sx * sw;
                let bias = p.bias_of(c);
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
                // PyTorch quantizes the bias when the conv runs
                // (`quant_utils::QuantizeBias`): `quantize_per_tensor` /
                // `quantize_per_channel` to qint32 with scale sx·sw (float64)
                // and zero point 0, i.e. the scalar `fbgemm::Quantize`:
                // `rne(f32(b · f32(1/scale)))`, saturated to int32 in double.
                // A bias past int32 is clamped, not refused.
                let (qb_clamped, bias_rounded) = match bias {
                    Some(b) => {
                        let v = b * inv_bs;
                        (
                            quantize_val_scalar(v, 0, DType::QInt32),
                            v.round_ties_even(),
                        )
                    }
                    None => (0, 0.0),
                };
                Ok(Arc::new(QnnpackChannel {
                    sx,
                    sw,
                    sy,
                    aw,
                    inv_sy,
                    r,
                    bias,
                    bias_scale,
                    inv_bs,
                    qb: micro.packed_bias(qb_clamped),
                    bias_rounded,
                    qb_clamped,
                    kernel: micro,
                    zy: p.output_zero_point,
                    lo: if p.relu { p.output_zero_point } else { 0 },
                }) as Arc<dyn Channel>)
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct QnnpackChannel {
    sx: f32,
    sw: f32,
    sy: f32,
    aw: f32,
    inv_sy: f32,
    r: f32,
    bias: Option<f32>,
    bias_scale: f32,
    inv_bs: f32,
    /// The int32 bias the kernel adds: `bias_rounded` saturated to int32,
    /// then as the kernel's weight packing stores it (`packed_bias`).
    qb: i64,
    /// `rne(f32(b · f32(1/bias scale)))` before saturation (for the trace).
    bias_rounded: f32,
    /// The saturated int32 bias, before packing.
    qb_clamped: i64,
    kernel: QnnpackKernel,
    zy: i64,
    lo: i64,
}

impl QnnpackChannel {
    fn run<R: Recorder>(&self, acc: i32, rec: &mut R) -> i64 {
        let QnnpackChannel {
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
            bias_rounded,
            qb_clamped,
            kernel,
            zy,
            lo,
        } = *self;
        rec.step(key::ACC, Value::Int(acc as i64), || {
            (
                "accumulator".into(),
                "sum over taps of (qx - zx)·(qw - zw), exact int32".into(),
            )
        });
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
                let mut f = if bias_rounded.is_nan() {
                    "rne(f32(b · f32(1/bias scale))) is NaN: INT32_MIN (cvttsd2si)".to_string()
                } else if bias_rounded as f64 != qb_clamped as f64 {
                    format!(
                        "rne(f32(b · f32(1/bias scale))) = {} is past int32: \
                         clamped to {qb_clamped} (quantize to qint32 saturates)",
                        bias_rounded as f64
                    )
                } else {
                    "rne(f32(b · f32(1/bias scale))): an int32".to_string()
                };
                if qb != qb_clamped {
                    f.push_str(&format!(
                        "; the {} kernel's weight packing stores it through float32 \
                         (`b ? b[i] : 0.0f`): {qb}",
                        kernel.name()
                    ));
                }
                ("bias in accumulator units".into(), f.into())
            });
        }
        // The kernels start the int32 accumulator at the bias and add the
        // products with wrapping int32 adds (`_mm_add_epi32`), so the sum is
        // acc + qb modulo 2^32.
        let exact = acc as i64 + qb;
        let sum = exact as i32;
        rec.step(key::SUM, Value::Int(sum as i64), || {
            let f = if sum as i64 != exact {
                format!(
                    "acc + qb = {exact} wraps around int32 ({} 2^32): {sum}",
                    if exact > 0 { "-" } else { "+" }
                )
            } else {
                "acc + qb, int32".to_string()
            };
            ("accumulator + bias".into(), f.into())
        });
        let sumf = sum as f32;
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
}

impl Channel for QnnpackChannel {
    fn pixel(&self, acc: i32, rec: &mut dyn DynRecorder) -> i64 {
        self.run(acc, &mut Dyn(rec))
    }
    fn plane(&self, acc: &[i32], out: &mut [i32]) {
        let (r, qb, zy, lo) = (self.r, self.qb, self.zy, self.lo);
        map_plane(acc, out, move |a| {
            // acc + qb wraps around int32, as in the kernels.
            let v = a.wrapping_add(qb as i32) as f32 * r;
            tail(Tail::Qnnpack, cvt_i32(v) as i64, zy, lo).1 as i32
        })
    }
}

/// Which qnnpack micro-kernel runs a conv, chosen as PyTorch's
/// `PackedConvWeightsQnnp` does (`QnnpackUtils.h`): depthwise when every group
/// has one input and one output channel, there is more than one group and the
/// kernel is 3x3 or 5x5; GEMM for a 1x1 kernel with stride 1 and no padding;
/// the indirect conv kernel otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QnnpackKernel {
    Gemm,
    Conv,
    Depthwise,
}

impl QnnpackKernel {
    pub const ALL: [QnnpackKernel; 3] = [
        QnnpackKernel::Gemm,
        QnnpackKernel::Conv,
        QnnpackKernel::Depthwise,
    ];
    pub fn of(s: &ConvShape) -> QnnpackKernel {
        let g = s.groups.max(1);
        let depthwise_dims = s.kernel == [3, 3] || s.kernel == [5, 5];
        if depthwise_dims && g > 1 && s.in_channels == g && s.out_channels == g {
            QnnpackKernel::Depthwise
        } else if s.kernel == [1, 1] && s.stride == [1, 1] && s.padding == [0, 0] {
            QnnpackKernel::Gemm
        } else {
            QnnpackKernel::Conv
        }
    }

    /// How the kernel's weight packing stores the int32 bias. qnnpack's
    /// `pack.h` writes `b ? b[i] : 0.0f` in `pytorch_pack_q8conv_wrq` and
    /// `pytorch_pack_q8dw_wrq` / `..._dw_w_dilation`: the conditional expression
    /// is a float, so the int32 bias is rounded to float32 and converted back
    /// (`cvttss2si`), and a bias that rounds to 2^31 (INT32_MAX, the clamp
    /// value, included) becomes INT32_MIN. `pytorch_pack_q8gemm_wrq` writes
    /// `: 0` and keeps the int32 exactly. The golden case `qnnov-1-known1` (a 1x1
    /// conv with padding, so the conv kernel) shows the flip; `known0` (GEMM) not.
    /// Depthwise follows the source (no golden case separates it).
    pub fn packed_bias(self, qb: i64) -> i64 {
        match self {
            QnnpackKernel::Gemm => qb,
            QnnpackKernel::Conv | QnnpackKernel::Depthwise => {
                let f = qb as i32 as f32;
                if f >= 2147483648.0 {
                    i32::MIN as i64
                } else {
                    f as i64
                }
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            QnnpackKernel::Gemm => "GEMM",
            QnnpackKernel::Conv => "conv",
            QnnpackKernel::Depthwise => "depthwise",
        }
    }
    pub fn why(self) -> &'static str {
        match self {
            QnnpackKernel::Gemm => "1x1 kernel, stride 1, no padding",
            QnnpackKernel::Conv => "the indirect conv kernel: any other shape",
            QnnpackKernel::Depthwise => "one channel per group, 3x3 or 5x5",
        }
    }
}
