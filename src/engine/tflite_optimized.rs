//! LiteRT optimized kernels (`BUILTIN_WITHOUT_DEFAULT_DELEGATES`) on x86, int8.
//! The multiplier is the reference one (`QuantizeMultiplier`); the rounding is
//! not. Conv2D (im2col + GEMM): the rounding doubling high multiply, then a
//! rounding shift that rounds half up, for every channel. DepthwiseConv2D
//! (`optimized_ops::Quantize` over the accumulator buffer): the first
//! `8 · floor(O / 8)` channels of each pixel take that vector path; the leftover
//! channels take the scalar reference `MultiplyByQuantizedMultiplier` (half away
//! from zero). Clamps as the reference (ReLU6 bound half away from zero).
use super::runtime::{self, Formula};
use super::tflite_reference::{check, multiplier, round_away};
use super::{
    Accumulation, Channel, Computation, ConvQParams, Engine, EngineRow, Evidence, Family, Kernel,
    Platform,
};
use crate::conv::ConvShape;
use crate::error::Result;
use crate::quant::DType;
use std::sync::Arc;

pub const ID: &str = "tflite-optimized";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "LiteRT optimized kernels",
    family: Family::LiteRt,
    activations: &[DType::QInt8],
    weights: &[DType::QInt8],
    uses_platform: false,
    pytorch_engine: None,
    evidence: Evidence::Golden,
    engine: &TfliteOptimized,
};

pub struct TfliteOptimized;

const DEPTHWISE: &str = "depthwise";

/// A DepthwiseConv2D (the operator, not the shape: one input channel is both).
fn is_depthwise(shape: &ConvShape, p: &ConvQParams) -> bool {
    p.depthwise_op || (shape.groups > 1 && shape.groups == shape.in_channels)
}

impl Engine for TfliteOptimized {
    fn kernel(&self, _: &Computation, shape: &ConvShape, p: &ConvQParams, _: &Platform) -> Kernel {
        let (path, why) = if is_depthwise(shape, p) {
            (DEPTHWISE, "optimized_integer_ops DepthwiseConv: channels in blocks of 8 round half up after the high multiply, leftover channels round as the reference")
        } else {
            ("im2col GEMM", "optimized_integer_ops Conv (im2col + GEMM): the high multiply, then a rounding shift half up")
        };
        Kernel {
            name: "tflite-optimized",
            path: Some(path),
            why: why.into(),
            accumulation: Accumulation::Exact,
        }
    }
    fn channels(
        &self,
        _: &Computation,
        p: &ConvQParams,
        out_channels: usize,
        k: &Kernel,
    ) -> Result<Vec<Arc<dyn Channel>>> {
        check(p)?;
        let vector = if k.path == Some(DEPTHWISE) {
            out_channels / 8 * 8
        } else {
            out_channels
        };
        runtime::channels(
            p,
            out_channels,
            runtime::Bound6::RoundThenAdd(round_away),
            |c| {
                let (m, shift) = multiplier(p, c)?;
                Ok(if c < vector {
                    Formula::FixedPointUp {
                        m,
                        shift,
                        scale: super::tflite_reference::real_scale(p, c),
                    }
                } else {
                    Formula::FixedPointDouble {
                        m,
                        shift,
                        scale: super::tflite_reference::real_scale(p, c),
                    }
                })
            },
        )
    }
}
