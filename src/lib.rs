//! qconv-lens: why a quantized Conv2d produces the integers it produces.
//!
//! A bit-exact model of PyTorch's quantized conv (quantize, observers, integer
//! conv, fbgemm and qnnpack requantization), a float reference, a configurable
//! hand calculation, and step-by-step traces of any output pixel.
// `!(x > 0.0)` is deliberate throughout: it also refuses NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod conv;
pub mod convert;
pub mod depthwise;
/// Engine-pair causes: native, and the lazily loaded link wasm (not the page's first load).
#[cfg(any(not(target_arch = "wasm32"), feature = "link"))]
pub mod diagnose;
pub mod engine;
pub mod error;
pub mod explain;
pub mod export;
pub mod fbgemm_gemm;
pub mod flow;
#[cfg(not(target_arch = "wasm32"))]
pub mod golden;
pub mod kernels;
pub mod link;
pub mod mlas_u8s8;
pub mod observe;
pub mod parts;
pub mod paste;
pub mod printed;
pub mod quant;
pub mod render;
pub mod runtime_presets;
pub mod scenario;
pub mod scenario_file;
pub mod schema;
pub mod session;
#[doc(hidden)]
pub mod testing;
pub mod trace;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
