//! LiteRT (TFLite) reference kernels (`BUILTIN_REF`), int8: the multiplier
//! `double(sx) · double(sw[c]) / double(sy)` as `QuantizeMultiplier` (frexp,
//! `q = round(frac · 2^31)` half away from zero), `acc + b` in int32, then
//! `MultiplyByQuantizedMultiplier`: `x · 2^left` (int32), the rounding doubling
//! high multiply (half up), a rounding divide by `2^right` (half away from
//! zero): two roundings. `+ zy`, clamp to the fused activation's range (ReLU6's
//! bound `zy + std::round(f32(6 / sy))`, half away from zero).
use super::runtime::{self, Formula};
use super::{
    Accumulation, Channel, Computation, ConvQParams, Engine, EngineRow, Evidence, Family, Kernel,
    Platform,
};
use crate::conv::ConvShape;
use crate::error::{Error, Result};
use crate::quant::DType;
use std::sync::Arc;

pub const ID: &str = "tflite-reference";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "LiteRT reference kernels",
    family: Family::LiteRt,
    activations: &[DType::QInt8],
    weights: &[DType::QInt8],
    uses_platform: false,
    pytorch_engine: None,
    evidence: Evidence::Golden,
    engine: &TfliteReference,
};

pub struct TfliteReference;

/// `std::round` on a float (half away from zero).
pub(crate) fn round_away(v: f32) -> f32 {
    v.round()
}

/// The real scale `double(sx) · double(sw[c]) / double(sy)` of the float32
/// scales the model stores, which `QuantizeMultiplier` approximates.
pub(crate) fn real_scale(p: &ConvQParams, c: usize) -> f64 {
    p.input_scale as f32 as f64 * p.weight_scale(c) as f32 as f64 / p.output_scale as f32 as f64
}

/// The fixed-point multiplier and shift of channel `c`.
pub(crate) fn multiplier(p: &ConvQParams, c: usize) -> Result<(i32, i32)> {
    let d = real_scale(p, c);
    if !(d > 0.0 && d.is_finite()) {
        return Err(Error::BadScale {
            what: "input scale x weight scale / output scale".into(),
            value: d,
        });
    }
    Ok(runtime::quantize_multiplier(d))
}

pub(crate) fn check(p: &ConvQParams) -> Result<()> {
    if p.weight_zero_points.iter().any(|&z| z != 0) {
        return Err(Error::Input(
            "LiteRT's int8 conv kernels take weights with zero point 0 only".into(),
        ));
    }
    Ok(())
}

impl Engine for TfliteReference {
    fn kernel(&self, _: &Computation, _: &ConvShape, _: &ConvQParams, _: &Platform) -> Kernel {
        Kernel {
            name: "tflite-reference",
            path: None,
            why: "LiteRT reference_integer_ops: exact int32 sum, fixed-point requantization with two roundings".into(),
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
        check(p)?;
        runtime::channels(
            p,
            out_channels,
            runtime::Bound6::RoundThenAdd(round_away),
            |c| {
                let (m, shift) = multiplier(p, c)?;
                Ok(Formula::FixedPointDouble {
                    m,
                    shift,
                    scale: real_scale(p, c),
                })
            },
        )
    }
}
