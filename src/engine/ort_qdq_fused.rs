//! ONNX Runtime running a QDQ conv with its graph optimizations (`ORT_ENABLE_ALL`):
//! on x86 it fuses `DQ -> Conv -> Q` into QLinearConv for uint8 activations
//! (U8S8, U8U8: the MLAS requantization of `onnxruntime-qlinearconv`, the int32
//! bias taken as is), never for int8 activations (S8S8: the float path of
//! `onnxruntime-qdq-float`).
use super::{ort_qdq_float, ort_qlinearconv};
use super::{
    Channel, Computation, ConvQParams, Engine, EngineRow, Evidence, Family, Kernel, Platform,
};
use crate::conv::ConvShape;
use crate::error::Result;
use crate::quant::DType;
use std::sync::Arc;

pub const ID: &str = "onnxruntime-qdq-fused";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "ONNX Runtime QDQ, fused",
    family: Family::OnnxRuntime,
    activations: &[DType::QUInt8, DType::QInt8],
    weights: &[DType::QInt8, DType::QUInt8],
    uses_platform: true,
    pytorch_engine: None,
    evidence: Evidence::Golden,
    engine: &OrtQdqFused,
};

pub struct OrtQdqFused;

fn fused(p: &ConvQParams) -> bool {
    p.input_dtype == DType::QUInt8
}

impl Engine for OrtQdqFused {
    fn kernel(&self, _: &Computation, shape: &ConvShape, p: &ConvQParams, pl: &Platform) -> Kernel {
        if fused(p) {
            ort_qlinearconv::mlas_kernel(shape, p, pl, "QDQ fused into QLinearConv: ")
        } else {
            ort_qdq_float::float_kernel(
                "not fused (ORT fuses no QDQ conv with int8 activations on x86): ",
            )
        }
    }
    fn channels(
        &self,
        _: &Computation,
        p: &ConvQParams,
        out_channels: usize,
        _: &Kernel,
    ) -> Result<Vec<Arc<dyn Channel>>> {
        if fused(p) {
            ort_qlinearconv::check(p)?;
            ort_qlinearconv::mlas_channels(p, out_channels)
        } else {
            ort_qdq_float::float_channels(p, out_channels)
        }
    }
}
