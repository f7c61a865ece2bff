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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Cpu, Os};
    use crate::quant::DType;

    fn shape(groups: usize) -> ConvShape {
        ConvShape {
            batch: 1,
            in_channels: 2 * groups,
            out_channels: 2 * groups,
            height: 4,
            width: 4,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            padding_end: None,
            dilation: [1, 1],
            groups,
        }
    }

    fn params(zw: i64) -> ConvQParams {
        ConvQParams {
            input_scale: 0.1,
            input_zero_point: 3,
            weight_scales: vec![0.01],
            weight_zero_points: vec![zw],
            per_channel: false,
            bias: None,
            output_scale: 0.2,
            output_zero_point: 5,
            relu: false,
            input_dtype: DType::QUInt8,
            output_dtype: DType::QUInt8,
            bias_i32: None,
            relu6: false,
            weight_dtype: DType::QInt8,
            depthwise_op: false,
        }
    }

    fn platform(cpu: Cpu, os: Os) -> Platform {
        Platform {
            cpu,
            os,
            emulated: false,
        }
    }

    #[test]
    fn onednn_only_on_linux_vnni_symmetric_and_few_groups() {
        let vnni = platform(Cpu::Avx512Vnni, Os::Linux);
        assert_eq!(
            dispatch(&shape(100), &params(0), &vnni),
            Ok("oneDNN: Linux, AVX512-VNNI, symmetric weights, groups 100 ≤ 100".into())
        );
        let no = |s: &ConvShape, p: &ConvQParams, pl: &Platform| dispatch(s, p, pl).unwrap_err();
        assert!(no(&shape(101), &params(0), &vnni).contains("groups 101 > 100"));
        assert!(no(&shape(1), &params(2), &vnni).contains("weight zero points are not all 0"));
        assert!(no(&shape(1), &params(0), &platform(Cpu::Avx2, Os::Linux)).contains("has no VNNI"));
        assert!(
            no(&shape(1), &params(0), &platform(Cpu::Avx512, Os::Linux)).contains("has no VNNI")
        );
        assert!(
            no(&shape(1), &params(0), &platform(Cpu::Avx512Vnni, Os::Other))
                .contains("is not Linux")
        );
        // fbgemm forced to AVX2 by its environment variable on a VNNI host:
        // cpuinfo still reports VNNI, so PyTorch still picks oneDNN.
        let forced = Platform {
            emulated: true,
            ..platform(Cpu::Avx2, Os::Linux)
        };
        assert!(dispatch(&shape(1), &params(0), &forced).is_ok());
    }

    #[test]
    fn the_kernel_says_which_and_why() {
        let c = Computation::X86;
        let k = c.kernel(&shape(1), &params(0), &Platform::default());
        assert_eq!(k.name, "onednn");
        let k = c.kernel(&shape(1), &params(0), &platform(Cpu::Avx2, Os::Linux));
        assert_eq!(k.name, "fbgemm");
        assert_eq!(k.path, Some("im2col"));
        assert!(
            k.why.starts_with("x86 → fbgemm: AVX2 has no VNNI"),
            "{}",
            k.why
        );
        assert!(k.accumulation.saturates());
    }
}
