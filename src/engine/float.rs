//! The real-number answer in float64: dequantize, convolve, quantize (round
//! half to even). What the quantized conv approximates.
use super::common::{code_i32, finish, map_plane, Tail};
use super::{
    Accumulation, Channel, Computation, ConvQParams, Dyn, DynRecorder, Engine, EngineRow, Evidence,
    Family, Kernel, Platform,
};
use crate::conv::ConvShape;
use crate::error::Result;
use crate::quant::{scale_f32, DType};
use crate::trace::{key, NoTrace, Recorder, Value};
use std::sync::Arc;

pub const ID: &str = "float";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "float reference (float64)",
    family: Family::Reference,
    activations: &[DType::QUInt8],
    weights: &[DType::QInt8],
    uses_platform: false,
    pytorch_engine: None,
    evidence: Evidence::Formula,
    engine: &Float,
};

pub struct Float;

impl Engine for Float {
    fn kernel(&self, _: &Computation, _: &ConvShape, _: &ConvQParams, _: &Platform) -> Kernel {
        Kernel {
            name: ID,
            path: None,
            why: "real numbers: exact accumulation, float64 requantization".into(),
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
        let sx = scale_f32("input scale", p.input_scale)? as f64;
        let sy = scale_f32("output scale", p.output_scale)? as f64;
        (0..out_channels)
            .map(|c| {
                Ok(Arc::new(FloatChannel {
                    sx,
                    sw: scale_f32("weight scale", p.weight_scale(c))? as f64,
                    sy,
                    bias: p.bias_of(c).unwrap_or(0.0) as f64,
                    zy: p.output_zero_point,
                    lo: if p.relu { p.output_zero_point } else { 0 },
                }) as Arc<dyn Channel>)
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct FloatChannel {
    sx: f64,
    sw: f64,
    sy: f64,
    bias: f64,
    zy: i64,
    lo: i64,
}

impl FloatChannel {
    fn run<R: Recorder>(&self, acc: i32, rec: &mut R) -> i64 {
        let FloatChannel {
            sx,
            sw,
            sy,
            bias,
            zy,
            lo,
        } = *self;
        rec.step(key::ACC, Value::Int(acc as i64), || {
            (
                "accumulator".into(),
                "sum over taps of (qx - zx)·(qw - zw), exact".into(),
            )
        });
        for (k, v, l) in [
            (key::SX, sx, "input scale"),
            (key::SW, sw, "weight scale"),
            (key::SY, sy, "output scale"),
        ] {
            rec.step(k, Value::F64(v), || {
                (l.into(), "float32 value, used in float64".into())
            });
        }
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
}

impl Channel for FloatChannel {
    fn pixel(&self, acc: i32, rec: &mut dyn DynRecorder) -> i64 {
        self.run(acc, &mut Dyn(rec))
    }
    fn plane(&self, acc: &[i32], out: &mut [i32]) {
        map_plane(acc, out, |a| code_i32(self.run(a, &mut NoTrace)))
    }
}
