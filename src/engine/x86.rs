//! PyTorch's default quantized engine on x86 (`torch.backends.quantized.engine
//! = 'x86'`, since PyTorch 2.0). It is a dispatcher: a conv goes to oneDNN
//! when the OS is Linux, the CPU has AVX512-VNNI, groups ≤ 100, every weight
//! zero point is 0 and there is no output padding (`qconv_prepack.cpp`,
//! `PackedConvWeight` for `QEngine::X86`, and `should_use_onednn_quant`), and to
//! fbgemm otherwise. Checked against the recorded kernel of every x86 golden case.
use super::{
    Channel, Computation, ConvQParams, Engine, EngineRow, Evidence, Family, Kernel, Platform,
};
use crate::conv::ConvShape;
use crate::error::Result;
use crate::quant::DType;
use std::sync::Arc;

pub const ID: &str = "x86";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "PyTorch default (x86)",
    family: Family::PyTorch,
    activations: &[DType::QUInt8],
    weights: &[DType::QInt8],
    uses_platform: true,
    pytorch_engine: Some("x86"),
    evidence: Evidence::Golden,
    engine: &X86,
};

pub struct X86;

/// Groups above this go to fbgemm.
pub const MAX_ONEDNN_GROUPS: usize = 100;

/// PyTorch's rule: `Ok(reason)` for oneDNN, `Err(reason)` for fbgemm.
pub fn dispatch(
    shape: &ConvShape,
    p: &ConvQParams,
    pl: &Platform,
) -> std::result::Result<String, String> {
    use super::Os;
    let mut no = vec![];
    if pl.os != Os::Linux {
        no.push(format!("{} is not Linux", pl.os.title()));
    }
    if !pl.reports_vnni() {
        no.push(format!("{} has no VNNI", pl.cpu.title()));
    }
    if shape.groups > MAX_ONEDNN_GROUPS {
        no.push(format!("groups {} > {MAX_ONEDNN_GROUPS}", shape.groups));
    }
    if p.weight_zero_points.iter().any(|&z| z != 0) {
        no.push("weight zero points are not all 0".into());
    }
    if no.is_empty() {
        Ok(format!(
            "oneDNN: Linux, AVX512-VNNI, symmetric weights, groups {} ≤ {MAX_ONEDNN_GROUPS}",
            shape.groups
        ))
    } else {
        Err(format!("fbgemm: {}", no.join(", ")))
    }
}

impl Engine for X86 {
    fn kernel(&self, _: &Computation, shape: &ConvShape, p: &ConvQParams, pl: &Platform) -> Kernel {
        match dispatch(shape, p, pl) {
            Ok(why) => super::onednn::kernel(why),
            Err(why) => super::fbgemm::kernel(shape, p, pl, &format!("x86 → {why}; ")),
        }
    }
    fn channels(
        &self,
        _: &Computation,
        p: &ConvQParams,
        out_channels: usize,
        kernel: &Kernel,
    ) -> Result<Vec<Arc<dyn Channel>>> {
        if kernel.name == super::onednn::ID {
            super::onednn::channels(p, out_channels)
        } else {
            super::fbgemm::channels(p, out_channels)
        }
    }
}
