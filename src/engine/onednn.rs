//! oneDNN as PyTorch's onednn engine runs it (placeholder until the model lands).
use super::{
    Accumulation, Channel, Computation, ConvQParams, Engine, EngineRow, Evidence, Family, Kernel,
    Platform,
};
use crate::conv::ConvShape;
use crate::error::Result;
use crate::quant::DType;
use std::sync::Arc;

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

pub fn kernel(prefix: &str) -> Kernel {
    Kernel {
        name: ID,
        path: None,
        why: format!("{prefix}oneDNN: exact int32 accumulation"),
        accumulation: Accumulation::Exact,
    }
}

impl Engine for Onednn {
    fn kernel(&self, _: &Computation, _: &ConvShape, _: &ConvQParams, _: &Platform) -> Kernel {
        kernel("")
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

pub fn channels(p: &ConvQParams, out_channels: usize) -> Result<Vec<Arc<dyn Channel>>> {
    super::fbgemm::channels(p, out_channels)
}
