//! LiteRT with the XNNPACK delegate (`AUTO`), int8 (qs8 / qc8w): fp32
//! requantization. The scale `f32(f32(sx · sw[c]) / sy)`, `f32(acc + b) · scale`,
//! clamped in float to `[lo - zy, hi - zy]`, rounded half to even (magic-number
//! or `cvtps2dq`), `+ zy`. The fused ReLU6 bound is `lrintf(f32(6 / sy) + zy)`:
//! the zero point added before rounding half to even, unlike the TFLite kernels
//! (`zy + round(6 / sy)`, half away from zero).
use super::runtime::{self, Formula};
use super::tflite_reference::check;
use super::{
    Accumulation, Channel, Computation, ConvQParams, Engine, EngineRow, Evidence, Family, Kernel,
    Platform,
};
use crate::conv::ConvShape;
use crate::error::{Error, Result};
use crate::quant::DType;
use std::sync::Arc;

pub const ID: &str = "tflite-xnnpack";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "LiteRT XNNPACK delegate",
    family: Family::LiteRt,
    activations: &[DType::QInt8],
    weights: &[DType::QInt8],
    uses_platform: false,
    pytorch_engine: None,
    evidence: Evidence::Golden,
    engine: &TfliteXnnpack,
};

pub struct TfliteXnnpack;

impl Engine for TfliteXnnpack {
    fn kernel(&self, _: &Computation, _: &ConvShape, _: &ConvQParams, _: &Platform) -> Kernel {
        Kernel {
            name: "xnnpack",
            path: None,
            why: "XNNPACK qs8 conv: exact int32 sum, fp32 requantization (half to even)".into(),
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
        runtime::channels(p, out_channels, runtime::Bound6::AddThenRound, |c| {
            let scale = runtime::float_scale(p, c)?;
            if scale >= 256.0 {
                return Err(Error::Input(format!(
                    "XNNPACK refuses a requantization scale of {scale} (must be below 256)"
                )));
            }
            Ok(Formula::Float32 { scale })
        })
    }
}
