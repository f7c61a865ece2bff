//! Tests that run inside a real browser (headless Chromium through
//! chromedriver) via wasm-bindgen-test. Run them with
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test --target wasm32-unknown-unknown --test web`
//! (scripts/test does this); `.cargo/config.toml` sets the runner.
#![cfg(target_arch = "wasm32")]

use qconv_lens::quant::{quantize_per_tensor, DType};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The engine's float32 semantics survive the trip to wasm: PyTorch quantizes
/// with `x * (1.0f32 / scale)` in float32. For 47/255 at scale 2/255 that
/// product is exactly 23.5, which rounds half-to-even to 24; an f64 division
/// would give 23.4999986... and round to 23.
#[wasm_bindgen_test]
fn quantize_uses_float32_reciprocal_multiply_in_wasm() {
    let scale = (2.0f64 / 255.0) as f32 as f64;
    let q = quantize_per_tensor(&[47.0 / 255.0], scale, 0, DType::QUInt8).unwrap();
    assert_eq!(q, vec![24]);
}
