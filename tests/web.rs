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

mod lens {
    use js_sys::{Reflect, Uint8ClampedArray};
    use qconv_lens::web::Lens;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_test::*;

    fn get(v: &JsValue, key: &str) -> JsValue {
        Reflect::get(v, &JsValue::from_str(key)).expect("property")
    }
    fn num(v: &JsValue, key: &str) -> f64 {
        get(v, key).as_f64().expect("number")
    }
    fn set(v: &JsValue, path: &[&str], x: &JsValue) {
        let mut o = v.clone();
        for k in &path[..path.len() - 1] {
            o = get(&o, k);
        }
        Reflect::set(&o, &JsValue::from_str(path[path.len() - 1]), x).expect("set");
    }
    fn message(e: wasm_bindgen::JsError) -> String {
        let v: JsValue = e.into();
        get(&v, "message").as_string().unwrap_or_default()
    }

    #[wasm_bindgen_test]
    fn presets_list_the_forum_first() {
        let p = Lens::presets().unwrap();
        let first = Reflect::get(&p, &JsValue::from(0)).unwrap();
        assert_eq!(get(&first, "id").as_string().unwrap(), "forum");
        assert_eq!(
            get(&first, "title").as_string().unwrap(),
            "PyTorch forum: 24 -> 30, not 31"
        );
        assert!(Lens::preset("nope").is_err());
    }

    #[wasm_bindgen_test]
    fn forum_frame_through_the_boundary() {
        let mut lens = Lens::new();
        let s = Lens::preset("forum").unwrap();
        let f = lens.update(s).unwrap();
        assert_eq!(num(&f, "rows"), 4.0);
        assert_eq!(num(&f, "cols"), 16.0);
        let (w, h) = (num(&f, "width"), num(&f, "height"));
        let rgba: Uint8ClampedArray = get(&f, "rgba").dyn_into().unwrap();
        assert_eq!(rgba.length() as f64, w * h * 4.0);
        let ex = get(&get(&f, "inspect"), "explanation");
        assert_eq!(num(&ex, "out_a"), 30.0);
        assert_eq!(num(&ex, "out_b"), 31.0);
        let a: js_sys::Int32Array = get(&f, "a").dyn_into().unwrap();
        assert_eq!(a.get_index(2 * 16 + 15), 30);
        let fl = get(&get(&f, "floats"), "input_scale");
        assert_eq!(get(&fl, "bits").as_string().unwrap(), "0x3c0070b1");
        let t = Lens::float32(0.0078).unwrap();
        assert_eq!(get(&t, "decimal").as_string().unwrap(), "0.0078");
    }

    #[wasm_bindgen_test]
    fn bad_input_is_an_error_not_a_panic_and_keeps_the_state() {
        let mut lens = Lens::new();
        lens.update(Lens::preset("forum").unwrap()).unwrap();
        let before = lens.scenario_json().unwrap();
        // Not an object at all, a wrong type, a zero scale, NaN, a wrong length.
        let e = lens.update(JsValue::from_str("abc")).unwrap_err();
        assert!(message(e).starts_with("scenario:"));
        let s = Lens::preset("forum").unwrap();
        set(&s, &["params", "output_scale"], &JsValue::from_str("abc"));
        assert!(lens.update(s).is_err());
        let s = Lens::preset("forum").unwrap();
        set(&s, &["params", "output_scale"], &JsValue::from_f64(0.0));
        assert!(message(lens.update(s).unwrap_err()).contains("output scale"));
        let s = Lens::preset("forum").unwrap();
        set(&s, &["params", "input_scale"], &JsValue::from_f64(f64::NAN));
        assert!(lens.update(s).is_err());
        let s = Lens::preset("forum").unwrap();
        set(&s, &["weights"], &js_sys::Array::of2(&1.into(), &2.into()));
        assert!(lens.update(s).is_err());
        let s = Lens::preset("forum").unwrap();
        set(&s, &["shape", "height"], &JsValue::from_f64(100000.0));
        assert!(message(lens.update(s).unwrap_err()).contains("height"));
        assert_eq!(lens.scenario_json().unwrap(), before);
    }
}
