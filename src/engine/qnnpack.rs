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
use crate::quant::{scale_f32, DType};
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
    fn kernel(&self, _: &Computation, _: &ConvShape, _: &ConvQParams, _: &Platform) -> Kernel {
        Kernel {
            name: ID,
            path: None,
            why: "qnnpack: exact int32 accumulation on every CPU".into(),
            accumulation: Accumulation::Exact,
        }
    }
    fn channels(
        &self,
        _: &Computation,
        p: &ConvQParams,
        out_channels: usize,
        _: &Kernel,
    ) -> Result<Vec<Arc<dyn Channel>>> {
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
                    qb,
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
    qb: i64,
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
}

impl Channel for QnnpackChannel {
    fn pixel(&self, acc: i32, rec: &mut dyn DynRecorder) -> i64 {
        self.run(acc, &mut Dyn(rec))
    }
    fn plane(&self, acc: &[i32], out: &mut [i32]) {
        let (r, qb, zy, lo) = (self.r, self.qb, self.zy, self.lo);
        map_plane(acc, out, move |a| {
            let v = (a as i64 + qb) as i32 as f32 * r;
            tail(Tail::Qnnpack, cvt_i32(v) as i64, zy, lo).1 as i32
        })
    }
}
