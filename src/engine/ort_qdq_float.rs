//! ONNX Runtime running a QDQ conv unfused (`ORT_DISABLE_ALL`): float32
//! `DequantizeLinear` of x (`f32(x - zx) · sx`), of w per channel, and of the
//! int32 bias (`f32(b) · f32(sx · sw[c])`), a float32 conv summing the taps in
//! order (c, ky, kx) with fused multiply-adds then adding the bias, and
//! `QuantizeLinear` (`f32(v / sy)`, clamp, half to even, `+ zy`). The
//! accumulation [`Accumulation::DequantizedFloat`] hands the float32 sum
//! (its bits) to the requantization.
use super::runtime::{self, Formula};
use super::{
    Accumulation, Channel, Computation, ConvQParams, Engine, EngineRow, Evidence, Family, Kernel,
    Platform,
};
use crate::conv::ConvShape;
use crate::error::Result;
use crate::quant::{scale_f32, DType};
use std::sync::Arc;

pub const ID: &str = "onnxruntime-qdq-float";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "ONNX Runtime QDQ, float conv (unfused)",
    family: Family::OnnxRuntime,
    activations: &[DType::QUInt8, DType::QInt8],
    weights: &[DType::QInt8, DType::QUInt8],
    uses_platform: false,
    pytorch_engine: None,
    evidence: Evidence::Golden,
    engine: &OrtQdqFloat,
};

pub struct OrtQdqFloat;

pub(crate) fn float_kernel(prefix: &str) -> Kernel {
    Kernel {
        name: "mlas-float",
        path: Some("DequantizeLinear -> float Conv -> QuantizeLinear"),
        why: format!("{prefix}float32 conv between DequantizeLinear and QuantizeLinear (taps summed in order with FMA, then the bias)"),
        accumulation: Accumulation::DequantizedFloat,
    }
}

pub(crate) fn float_channels(
    p: &ConvQParams,
    out_channels: usize,
) -> Result<Vec<Arc<dyn Channel>>> {
    runtime::no_activation(ROW.title, p)?;
    let sy = scale_f32("output scale", p.output_scale)?;
    let mut ch = runtime::channels(
        p,
        out_channels,
        runtime::Bound6::RoundThenAdd(f32::round_ties_even),
        |_| Ok(Formula::QuantizeLinear { sy }),
    )?;
    // The bias is inside the float sum already.
    if p.bias_i32.is_some() {
        let (lo, hi) = runtime::clamps(p, runtime::Bound6::RoundThenAdd(f32::round_ties_even))?;
        ch = (0..out_channels)
            .map(|_| {
                Arc::new(runtime::RtChannel {
                    formula: Formula::QuantizeLinear { sy },
                    bias: 0,
                    zy: p.output_zero_point,
                    lo,
                    hi,
                    six: None,
                }) as Arc<dyn Channel>
            })
            .collect();
    }
    Ok(ch)
}

impl Engine for OrtQdqFloat {
    fn kernel(&self, _: &Computation, _: &ConvShape, _: &ConvQParams, _: &Platform) -> Kernel {
        float_kernel("")
    }
    fn channels(
        &self,
        _: &Computation,
        p: &ConvQParams,
        out_channels: usize,
        _: &Kernel,
    ) -> Result<Vec<Arc<dyn Channel>>> {
        float_channels(p, out_channels)
    }
}
