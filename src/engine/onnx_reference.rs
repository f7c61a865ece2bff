//! The onnx package's `ReferenceEvaluator` (QLinearConv in numpy): the int32
//! conv plus bias, times the float32 `x_scale * w_scale / y_scale` promoted to
//! float64 (numpy: int32 times float32), `+ y_zero_point`, `np.round` (half to
//! even), clip to the output dtype. ConvInteger: the int32 sum.
use super::runtime::{self, Formula};
use super::{
    Accumulation, Channel, Computation, ConvQParams, Engine, EngineRow, Evidence, Family, Kernel,
    Platform,
};
use crate::conv::ConvShape;
use crate::error::Result;
use crate::quant::DType;
use std::sync::Arc;

pub const ID: &str = "onnx-reference";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "ONNX reference evaluator",
    family: Family::OnnxRuntime,
    activations: &[DType::QUInt8, DType::QInt8],
    weights: &[DType::QInt8, DType::QUInt8],
    uses_platform: false,
    pytorch_engine: None,
    evidence: Evidence::Golden,
    engine: &OnnxReference,
};

pub struct OnnxReference;

impl Engine for OnnxReference {
    fn kernel(&self, _: &Computation, _: &ConvShape, _: &ConvQParams, _: &Platform) -> Kernel {
        Kernel {
            name: "onnx-reference",
            path: None,
            why: "onnx.reference ReferenceEvaluator: numpy, exact integer conv, float64 requantization".into(),
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
        runtime::no_activation(ROW.title, p)?;
        runtime::channels(
            p,
            out_channels,
            runtime::Bound6::RoundThenAdd(f32::round_ties_even),
            |c| {
                Ok(Formula::Float64 {
                    scale: runtime::float_scale(p, c)?,
                })
            },
        )
    }
}
