//! ONNX Runtime's QLinearConv (and ConvInteger) on the CPU provider, MLAS:
//! `acc + b` in int32, times the float32 scale `f32(f32(sx·sw) / sy)`, clamped
//! in float to `[lo - zy, hi - zy]`, rounded half to even (`MlasRequantizeOutput`,
//! and the same arithmetic fused into `MlasConvSym` / `MlasConvDepthwise`), `+ zy`.
//! Accumulation is exact on AVX512-VNNI (vpdpbusd), the CPU the goldens ran on.
use super::runtime::{self, Formula};
use super::{
    Accumulation, Channel, Computation, ConvQParams, Engine, EngineRow, Evidence, Family, Kernel,
    Platform,
};
use crate::conv::ConvShape;
use crate::error::{Error, Result};
use crate::quant::DType;
use std::sync::Arc;

pub const ID: &str = "onnxruntime-qlinearconv";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "ONNX Runtime QLinearConv (MLAS)",
    family: Family::OnnxRuntime,
    activations: &[DType::QUInt8, DType::QInt8],
    weights: &[DType::QInt8, DType::QUInt8],
    uses_platform: true,
    pytorch_engine: None,
    evidence: Evidence::Golden,
    engine: &OrtQLinearConv,
};

pub struct OrtQLinearConv;

/// MLAS's kernel for this conv (the arithmetic is the same on every path).
pub(crate) fn mlas_kernel(
    shape: &ConvShape,
    p: &ConvQParams,
    pl: &Platform,
    prefix: &str,
) -> Kernel {
    let flavor = match (p.input_dtype, p.weight_dtype) {
        (DType::QInt8, _) => "S8S8",
        (_, DType::QUInt8) => "U8U8",
        _ => "U8S8",
    };
    let depthwise =
        shape.groups > 1 && shape.in_channels == shape.groups && shape.out_channels == shape.groups;
    let path = if depthwise {
        "MlasConvDepthwise"
    } else if flavor == "U8S8" && p.weight_zero_points.iter().all(|&z| z == 0) {
        "MlasConvSym or MlasGemm (U8S8)"
    } else {
        "MlasGemm + MlasRequantizeOutput"
    };
    let acc = match pl.cpu {
        crate::engine::Cpu::Avx512Vnni => "exact int32 accumulation (VNNI)".to_string(),
        _ => format!(
            "exact int32 accumulation assumed: on {} ORT's U8S8 kernels sum u8·s8 pairs with vpmaddubsw, which can saturate; not modelled, not verified on this CPU",
            pl.title()
        ),
    };
    Kernel {
        name: "mlas",
        path: Some(path),
        why: format!("{prefix}ONNX Runtime MLAS, {flavor}, {path}; {acc}"),
        accumulation: Accumulation::Exact,
    }
}

/// ORT's own refusals.
pub(crate) fn check(p: &ConvQParams) -> Result<()> {
    runtime::no_activation(ROW.title, p)?;
    let z = &p.weight_zero_points;
    if p.is_raw_int32() && z.len() > 1 {
        return Err(Error::Input(
            "ONNX Runtime's ConvInteger refuses per-channel weight zero points (\"Non per-tensor quantization is not supported now\")".into(),
        ));
    }
    if z.iter().any(|&v| v != z[0]) {
        return Err(Error::Input(
            "ONNX Runtime's QLinearConv requires all per-channel weight zero points to be equal"
                .into(),
        ));
    }
    Ok(())
}

pub(crate) fn mlas_channels(p: &ConvQParams, out_channels: usize) -> Result<Vec<Arc<dyn Channel>>> {
    runtime::channels(
        p,
        out_channels,
        runtime::Bound6::RoundThenAdd(f32::round_ties_even),
        |c| {
            Ok(Formula::Float32 {
                scale: runtime::float_scale(p, c)?,
            })
        },
    )
}

impl Engine for OrtQLinearConv {
    fn kernel(&self, _: &Computation, shape: &ConvShape, p: &ConvQParams, pl: &Platform) -> Kernel {
        mlas_kernel(shape, p, pl, "")
    }
    fn channels(
        &self,
        _: &Computation,
        p: &ConvQParams,
        out_channels: usize,
        _: &Kernel,
    ) -> Result<Vec<Arc<dyn Channel>>> {
        check(p)?;
        mlas_channels(p, out_channels)
    }
}
