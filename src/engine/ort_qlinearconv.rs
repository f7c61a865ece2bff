//! ONNX Runtime's QLinearConv (and ConvInteger) on the CPU provider, MLAS:
//! `acc + b` in int32, times the float32 scale `f32(f32(sx·sw) / sy)`, clamped
//! in float to `[lo - zy, hi - zy]`, rounded half to even (`MlasRequantizeOutput`,
//! and the same arithmetic fused into `MlasConvSym` / `MlasConvDepthwise`), `+ zy`.
//! Accumulation is exact on AVX512-VNNI (vpdpbusd), the CPU the goldens ran on;
//! without VNNI the U8S8 kernels saturate in int16 pairs ([`crate::mlas_u8s8`]).
use super::runtime::{self, Formula};
use super::{
    Accumulation, Channel, Computation, ConvQParams, Engine, EngineRow, Evidence, Family, Kernel,
    Platform,
};
use crate::conv::ConvShape;
use crate::error::{Error, Result};
use crate::mlas_u8s8;
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

/// MLAS's kernel for this conv. The requantization is the same on every path;
/// the accumulation saturates in int16 pairs for U8S8 without VNNI
/// ([`crate::mlas_u8s8`]), which no golden vector checks.
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
    let depthwise = mlas_u8s8::is_depthwise(shape);
    let path = if depthwise {
        "MlasConvDepthwise"
    } else if flavor == "U8S8" && p.weight_zero_points.iter().all(|&z| z == 0) {
        "MlasConvSym or MlasGemm (U8S8)"
    } else {
        "MlasGemm + MlasRequantizeOutput"
    };
    let saturates = mlas_u8s8::saturates(shape, flavor == "U8S8", pl);
    let acc = if pl.reports_vnni() {
        "exact int32 accumulation (VNNI)".to_string()
    } else if saturates {
        format!(
            "u8·s8 pairs summed by vpmaddubsw, saturating to int16 ({})",
            mlas_u8s8::LABEL
        )
    } else {
        // Depthwise kernels and U8U8 widen both operands; S8S8 runs portable int32 code.
        format!("exact int32 accumulation ({})", mlas_u8s8::LABEL)
    };
    Kernel {
        name: "mlas",
        path: Some(path),
        why: format!(
            "{prefix}ONNX Runtime MLAS, {flavor}, {path} on {}; {acc}",
            pl.title()
        ),
        accumulation: if saturates {
            Accumulation::MlasU8S8
        } else {
            Accumulation::Exact
        },
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

#[cfg(test)]
mod tests {
    use crate::engine::{Computation, Cpu, Platform};
    use crate::scenario::preset;

    /// The AVX2 preset (2 input channels, 3x3, every tap 211·71 on channel 0 and
    /// 171·107 on channel 1 inside the blob) under ORT: pairs run (channel 0,
    /// channel 1) within each tap, so each of the 9 pairs is 211·71 + 171·107 =
    /// 14981 + 18297 = 33278 -> 32767, and the centre pixel's accumulator is
    /// 9·32767 = 294903 instead of 9·33278 = 299502.
    #[test]
    fn u8s8_without_vnni_saturates_and_says_it_is_modelled() {
        let mut sc = preset("avx2-saturation").unwrap();
        sc.a = Computation::parse(super::ID).unwrap();
        sc.b = Computation::parse(crate::engine::onnx_reference::ID).unwrap();
        sc.platform = Platform {
            cpu: Cpu::Avx2,
            ..Platform::default()
        };
        let run = sc.run().unwrap();
        assert!(run.ra.kernel.why.contains(crate::mlas_u8s8::LABEL));
        let centre = run.index(0, 8, 8).unwrap();
        assert_eq!(run.acc_for(&run.ra)[centre], 9 * 32767);
        assert_eq!(run.acc[centre], 9 * 33278);
        let e = crate::explain::explain(&run, 0, 8, 8).unwrap();
        assert_ne!(e.out_a, e.out_b);
        assert_eq!(e.causes[0].code, "int16_saturation");
        assert_eq!(e.saturated_pairs.len(), 9);
        // On the default AVX512-VNNI platform nothing changes.
        sc.platform = Platform::default();
        let run = sc.run().unwrap();
        assert_eq!(run.acc_for(&run.ra)[centre], 9 * 33278);
        assert!(!run.ra.kernel.why.contains(crate::mlas_u8s8::LABEL));
    }
}
