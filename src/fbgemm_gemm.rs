//! fbgemm's conv paths and their accumulation per CPU (placeholder: depthwise
//! saturates, other paths exact; the non-VNNI GEMM model lands next).
use crate::conv::{ConvShape, IntConv};
use crate::engine::Cpu;
use crate::error::Result;

/// Which fbgemm kernel runs a conv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FbgemmPath {
    Depthwise,
    Im2col,
}

impl FbgemmPath {
    pub fn name(self) -> &'static str {
        match self {
            FbgemmPath::Depthwise => "depthwise",
            FbgemmPath::Im2col => "im2col GEMM",
        }
    }
    pub fn why(self) -> &'static str {
        match self {
            FbgemmPath::Depthwise => "groups = channels, 3x3/5x5/7x7, same padding",
            FbgemmPath::Im2col => "the general path",
        }
    }
}

pub fn fbgemm_path(shape: &ConvShape, per_channel: bool) -> FbgemmPath {
    if crate::depthwise::fbgemm_uses_depthwise(shape, per_channel) {
        FbgemmPath::Depthwise
    } else {
        FbgemmPath::Im2col
    }
}

pub fn fbgemm_accumulate_on(conv: &IntConv, _cpu: Cpu) -> Result<Vec<i32>> {
    crate::depthwise::fbgemm_accumulate(conv)
}
