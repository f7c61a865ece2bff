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
    use qconv_lens::web::{Lens, Links};
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
        let p = Links::presets().unwrap();
        let first = Reflect::get(&p, &JsValue::from(0)).unwrap();
        assert_eq!(get(&first, "id").as_string().unwrap(), "forum");
        assert_eq!(
            get(&first, "title").as_string().unwrap(),
            "PyTorch forum: 24 -> 30, not 31"
        );
        assert!(Links::preset("nope").is_err());
        // The page's own landing scenario is the forum preset.
        let json = |v: JsValue| js_sys::JSON::stringify(&v).unwrap().as_string().unwrap();
        assert_eq!(
            json(Lens::landing().unwrap()),
            json(Links::preset("forum").unwrap())
        );
    }

    #[wasm_bindgen_test]
    fn forum_frame_through_the_boundary() {
        let mut lens = Lens::new();
        let s = Links::preset("forum").unwrap();
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

    /// A's code at the forum's inspected pixel.
    fn code_a(f: &JsValue) -> f64 {
        num(&get(&get(f, "inspect"), "explanation"), "out_a")
    }

    #[wasm_bindgen_test]
    fn weights_from_the_same_array_are_not_read_again() {
        let mut lens = Lens::new();
        let s = Links::preset("forum").unwrap();
        assert_eq!(code_a(&lens.update(s.clone()).unwrap()), 30.0);
        // The worker hands back the same array while the weights are the
        // same (www/wire.js): the scenario shown keeps its own. (Changed in
        // place, which the worker never does, it is not read again.)
        let w = get(&s, "weights");
        Reflect::set(&w, &JsValue::from(0), &JsValue::from(64)).unwrap();
        assert_eq!(code_a(&lens.update(s.clone()).unwrap()), 30.0);
        // A new array is read.
        let halved = js_sys::Array::of1(&JsValue::from(64));
        set(&s, &["weights"], &halved);
        let f = lens.update(s.clone()).unwrap();
        assert!(code_a(&f) < 20.0, "{}", code_a(&f));
        // A new array in a scenario that fails, then again in a good one: read.
        let s = Links::preset("forum").unwrap();
        let full = js_sys::Array::of1(&JsValue::from(127));
        set(&s, &["weights"], &full);
        set(&s, &["params", "output_scale"], &JsValue::from_f64(0.0));
        assert!(lens.update(s.clone()).is_err());
        set(
            &s,
            &["params", "output_scale"],
            &get(
                &get(&Links::preset("forum").unwrap(), "params"),
                "output_scale",
            ),
        );
        assert_eq!(code_a(&lens.update(s.clone()).unwrap()), 30.0);
        // and the parts of a split run take the same path
        let r = lens.update_part(s, 0, 2).unwrap();
        assert_eq!(code_a(&get(&r, "whole")), 30.0);
    }

    #[wasm_bindgen_test]
    fn bad_input_is_an_error_not_a_panic_and_keeps_the_state() {
        let mut lens = Lens::new();
        lens.update(Links::preset("forum").unwrap()).unwrap();
        let before = Links::encode_link(lens.scenario().unwrap()).unwrap();
        // Not an object at all, a wrong type, a zero scale, NaN, a wrong length.
        let e = lens.update(JsValue::from_str("abc")).unwrap_err();
        assert!(message(e).starts_with("scenario:"));
        let s = Links::preset("forum").unwrap();
        set(&s, &["params", "output_scale"], &JsValue::from_str("abc"));
        assert!(lens.update(s).is_err());
        let s = Links::preset("forum").unwrap();
        set(&s, &["params", "output_scale"], &JsValue::from_f64(0.0));
        assert!(message(lens.update(s).unwrap_err()).contains("output scale"));
        let s = Links::preset("forum").unwrap();
        set(&s, &["params", "input_scale"], &JsValue::from_f64(f64::NAN));
        assert!(lens.update(s).is_err());
        let s = Links::preset("forum").unwrap();
        set(&s, &["weights"], &js_sys::Array::of2(&1.into(), &2.into()));
        assert!(lens.update(s).is_err());
        let s = Links::preset("forum").unwrap();
        set(&s, &["shape", "height"], &JsValue::from_f64(100000.0));
        assert!(message(lens.update(s).unwrap_err()).contains("height"));
        assert_eq!(
            Links::encode_link(lens.scenario().unwrap()).unwrap(),
            before
        );
    }

    /// The page's calibrate export (the function the worker calls for the
    /// calibrate section) reproduces PyTorch's eager flow on every module
    /// golden case: input/weight/output scales and zero points, weight codes
    /// and output codes, bit for bit (the comparison of `flow::verify_module_case`).
    #[wasm_bindgen_test]
    fn calibrate_export_reproduces_the_module_goldens() {
        use serde_json::{json, Value};
        let golden: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/golden/module.json"
        )))
        .unwrap();
        let cases = golden["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 10);
        let to_js = |v: &Value| {
            v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
                .unwrap()
        };
        use serde::Serialize;
        for c in cases {
            let id = c["id"].as_str().unwrap();
            let shape: Vec<usize> =
                serde_json::from_value(c["calibration"]["shape"].clone()).unwrap();
            let f32s = |v: &Value| -> Vec<f32> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect()
            };
            // What www/calibrate.js sends: the forum model (forum_model's qconfig), the
            // calibration batch and the input as typed floats, B = the hand calculation.
            let config = json!({
                "model": {
                    "shape": {
                        "batch": shape[0], "in_channels": 1, "out_channels": 1,
                        "height": shape[2], "width": shape[3], "kernel": [1, 1],
                        "stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], "groups": 1
                    },
                    "weight": [c["float_weight"].as_f64().unwrap() as f32],
                    "bias": [c["float_bias"].as_f64().unwrap() as f32],
                    "activation": {
                        "kind": "histogram", "dtype": "quint8", "qscheme": "per_tensor_affine",
                        "reduce_range": c["reduce_range"], "averaging_constant": 0.01, "bins": 2048
                    },
                    "weight_observer": {
                        "kind": "per_channel_min_max", "dtype": "qint8",
                        "qscheme": "per_channel_symmetric", "reduce_range": false,
                        "averaging_constant": 0.01, "bins": 2048
                    },
                    "engine": { "kind": c["engine"] }
                },
                "batches": [{ "floats": f32s(&c["calibration"]["x"]) }],
                "input": { "floats": f32s(&c["input"]["x"]) },
                "b": { "kind": "float" }
            });
            let r = qconv_lens::web::PyTorch::calibrate(to_js(&config))
                .unwrap_or_else(|e| panic!("{id}: {}", message(e)));
            let r: Value = serde_wasm_bindgen::from_value(r).unwrap();
            let p = &r["converted"]["params"];
            let bits = |v: &Value| v.as_f64().unwrap().to_bits();
            assert_eq!(
                bits(&p["input_scale"]),
                bits(&c["input_scale"]),
                "{id}: input scale"
            );
            assert_eq!(
                p["input_zero_point"], c["input_zero_point"],
                "{id}: input zero point"
            );
            let ws: Vec<u64> = p["weight_scales"]
                .as_array()
                .unwrap()
                .iter()
                .map(bits)
                .collect();
            let want: Vec<u64> = c["weight_scale"]
                .as_array()
                .unwrap()
                .iter()
                .map(bits)
                .collect();
            assert_eq!(ws, want, "{id}: weight scales");
            assert_eq!(
                r["converted"]["weight_q"], c["weight_q"],
                "{id}: weight codes"
            );
            assert_eq!(
                bits(&p["output_scale"]),
                bits(&c["output_scale"]),
                "{id}: output scale"
            );
            assert_eq!(
                p["output_zero_point"], c["output_zero_point"],
                "{id}: output zero point"
            );
            // The converted scenario: the input quantized as QuantStub does, then the engine.
            let sc = &r["scenario"];
            assert_eq!(sc["input"]["codes"], c["input_q"], "{id}: input codes");
            assert_eq!(sc["a"]["kind"], c["engine"], "{id}: A is the chosen engine");
            let mut lens = Lens::new();
            let frame = lens
                .update(to_js(sc))
                .unwrap_or_else(|e| panic!("{id}: {}", message(e)));
            let a: js_sys::Int32Array = get(&frame, "a").dyn_into().unwrap();
            let got: Vec<i64> = a.to_vec().into_iter().map(i64::from).collect();
            let want: Vec<i64> = serde_json::from_value(c["output_q"].clone()).unwrap();
            assert_eq!(got, want, "{id}: output codes");
        }
    }
}

/// The SIMD128 pair kernel (`i32x4.dot_i16x8_s` on centred codes) gives the
/// bits of the scalar taps (`IntConv::taps_of` summed in int64) on odd widths,
/// strides, dilations, asymmetric padding, groups, both dtypes and extreme codes.
mod simd128_pairs {
    use qconv_lens::conv::{Codes, ConvShape, IntConv};
    use qconv_lens::kernels::{accumulate, available, Isa, PairBuffers};
    use wasm_bindgen_test::*;

    fn taps(c: &IntConv) -> Vec<i32> {
        let s = c.shape;
        let (oh, ow) = s.output_hw();
        let mut out = vec![];
        for n in 0..s.batch {
            for oc in 0..s.out_channels {
                for y in 0..oh {
                    for x in 0..ow {
                        let v: i64 = c.taps_of(n, oc, y, x).iter().map(|t| t.product).sum();
                        out.push(v as i32);
                    }
                }
            }
        }
        out
    }

    #[wasm_bindgen_test]
    fn simd128_kernel_matches_the_taps() {
        assert!(
            available().contains(&Isa::Simd128),
            "built without +simd128"
        );
        let mut seed = 99u64;
        let mut rnd = |m: i64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as i64) % m
        };
        let mut bufs = PairBuffers::default();
        // (cin, cout, h, w, kernel, stride, padding, padding_end, dilation, groups)
        for &(cin, cout, h, w, k, st, pad, pe, dil, g) in &[
            (8, 8, 6, 13, [3, 3], [1, 1], [1, 1], None, [1, 1], 1),
            (3, 5, 7, 9, [3, 3], [2, 2], [1, 1], None, [1, 1], 1),
            (
                4,
                6,
                10,
                11,
                [3, 2],
                [1, 3],
                [0, 2],
                Some([2, 0]),
                [2, 3],
                2,
            ),
            (6, 6, 8, 17, [3, 3], [2, 1], [2, 2], None, [2, 2], 3),
            (5, 7, 5, 1, [1, 1], [1, 1], [0, 0], None, [1, 1], 1),
            (16, 4, 4, 30, [5, 5], [1, 1], [2, 2], None, [1, 1], 1),
        ] {
            let s = ConvShape {
                batch: 1,
                in_channels: cin,
                out_channels: cout,
                height: h,
                width: w,
                kernel: k,
                stride: st,
                padding: pad,
                padding_end: pe,
                dilation: dil,
                groups: g,
            };
            s.validate().unwrap();
            let x: Vec<u8> = (0..s.input_len()).map(|_| rnd(256) as u8).collect();
            let wq: Vec<i8> = (0..s.weight_len())
                .map(|_| (rnd(256) - 128) as i8)
                .collect();
            let extreme_x: Vec<u8> = (0..s.input_len())
                .map(|i| if i % 5 == 0 { 255 } else { 0 })
                .collect();
            let extreme_w: Vec<i8> = (0..s.weight_len())
                .map(|i| if i % 3 == 0 { 127 } else { -128 })
                .collect();
            let xi: Vec<i8> = x.iter().map(|&q| q as i8).collect();
            let zps: Vec<i64> = (0..cout).map(|_| rnd(21) - 10).collect();
            let cases: Vec<(Codes, i64, &[i8], Vec<i64>)> = vec![
                (Codes::QUInt8(&x), 3, &wq, zps.clone()),
                (Codes::QUInt8(&x), 255, &wq, vec![0]),
                (Codes::QUInt8(&extreme_x), 0, &extreme_w, vec![-128]),
                (Codes::QUInt8(&extreme_x), 255, &extreme_w, vec![127]),
                (Codes::QInt8(&xi), -128, &wq, vec![0]),
                (Codes::QInt8(&xi), 127, &wq, zps.clone()),
            ];
            for (input, zx, weight, wzp) in cases {
                let c = IntConv {
                    shape: &s,
                    input,
                    input_zero_point: zx,
                    weight,
                    weight_zero_points: &wzp,
                };
                let per = s.weight_len() / cout;
                let wz: Vec<i64> = weight
                    .iter()
                    .enumerate()
                    .map(|(i, &q)| q as i64 - wzp[if wzp.len() == 1 { 0 } else { i / per }])
                    .collect();
                let mut out = vec![i32::MIN; s.output_len()];
                accumulate(Isa::Simd128, &s, input, zx as i32, &wz, &mut bufs, &mut out);
                let want = taps(&c);
                assert_eq!(out, want, "{s:?} zx {zx}");
                // The engine's own entry point takes the same kernel here.
                assert_eq!(c.accumulate().unwrap(), want, "{s:?} zx {zx}");
            }
        }
    }
}

/// fbgemm's saturating int16 pairs on AVX2 (`vpmaddubsw`), on the SIMD128 pair
/// tile with each pair clamped (even channel counts per group; odd ones pair
/// across taps and take the scalar model): every element equals its exact
/// centred sum less what each saturated pair lost, on the cases of
/// `testing::saturating_convs` (strides, dilations, uneven padding, groups,
/// batches, per-channel zero points, codes that saturate every pair). A CPU
/// without VNNI: its groupwise kernel saturates too.
mod simd128_saturating_pairs {
    use qconv_lens::conv::IntConv;
    use qconv_lens::engine::Cpu;
    use qconv_lens::fbgemm_gemm::FbgemmIsa;
    use qconv_lens::testing::saturating_convs;
    use wasm_bindgen_test::*;

    /// The exact centred sums less the saturated pairs' losses, modulo 2^32,
    /// and how many elements lost something.
    fn reference(c: &IntConv, isa: FbgemmIsa) -> (Vec<i32>, usize) {
        let s = c.shape;
        let (oh, ow) = s.output_hw();
        let (mut out, mut saturated) = (vec![], 0);
        for n in 0..s.batch {
            for oc in 0..s.out_channels {
                for y in 0..oh {
                    for x in 0..ow {
                        let exact: i64 = c.taps_of(n, oc, y, x).iter().map(|t| t.product).sum();
                        let lost: i64 = isa
                            .saturated_pairs(c, out.len())
                            .iter()
                            .map(|p| p.exact as i64 - p.clamped as i64)
                            .sum();
                        saturated += usize::from(lost != 0);
                        out.push((exact - lost) as i32);
                    }
                }
            }
        }
        (out, saturated)
    }

    #[wasm_bindgen_test]
    fn saturating_tile_matches_exact_sums_less_the_clamped_pairs() {
        let isa = FbgemmIsa::native(Cpu::Avx2);
        let mut saturated = 0;
        for t in saturating_convs() {
            let c = t.int_conv();
            assert!(isa.saturates(isa.path(&t.shape, true)), "{:?}", t.shape);
            let (want, sat) = reference(&c, isa);
            saturated += sat;
            assert_eq!(
                isa.accumulate(&c).unwrap(),
                want,
                "{:?} mode {}",
                t.shape,
                t.mode
            );
        }
        // The saturating cases really saturated.
        assert!(saturated >= 1000, "{saturated}");
    }
}

/// fbgemm's per-tensor-bias plane (SIMD128 in wasm, `bias_plane_simd128`)
/// gives each pixel's code as the scalar trace does (libm's `fmaf`), over
/// wide accumulators, tiny and large output scales (codes past int32),
/// ReLU, and plane lengths that leave a remainder.
mod fbgemm_bias_plane {
    use qconv_lens::engine::Computation;
    use qconv_lens::scenario::{preset, InputSource};
    use wasm_bindgen_test::*;

    #[wasm_bindgen_test]
    fn plane_equals_each_pixel() {
        let mut checked = 0;
        for (side, cin, scale, bias, relu) in [
            (31usize, 16usize, 0.05, 0.0317f32, false),
            (17, 8, 1e-7, 1000.0, false),
            (20, 16, 0.5, -3.0, true),
            (9, 32, 0.004, 1e-6, true),
        ] {
            let mut s = preset("forum").unwrap();
            s.shape.in_channels = cin;
            s.shape.out_channels = 3;
            (s.shape.height, s.shape.width) = (side, side + 1);
            (s.shape.kernel, s.shape.padding) = ([3, 3], [1, 1]);
            s.input = InputSource::Random { seed: side as u32 };
            s.weights = (0..s.shape.weight_len())
                .map(|i| (((i * 97) % 255) as i32 - 127) as i8)
                .collect();
            s.params.per_channel = false;
            s.params.weight_scales = vec![0.0037];
            s.params.weight_zero_points = vec![0];
            s.params.bias = Some(vec![bias, -bias, bias * 0.5]);
            s.params.output_scale = scale;
            s.params.output_zero_point = 7;
            s.params.relu = relu;
            s.a = Computation::FBGEMM;
            let run = s.run().unwrap();
            for i in 0..run.out_a.len() {
                let want = run.output_with(Computation::FBGEMM, i).unwrap();
                assert_eq!(
                    run.out_a[i] as i64,
                    want,
                    "pixel {i} of {side}x{} scale {scale}",
                    side + 1
                );
            }
            checked += run.out_a.len();
        }
        assert!(checked > 5000);
    }

    /// Where the float64 sum lands on a float32 midpoint: a bias and scales
    /// that make `b · (1/(sx·sw))` half an ulp of odd accumulators near 2^23
    /// minus 2^-47, so a plain float64 sum would round up twice; the output
    /// scale puts a code boundary in reach of that one-unit difference.
    #[wasm_bindgen_test]
    fn plane_rounds_the_sum_once_at_midpoints() {
        use qconv_lens::conv::ConvShape;
        use qconv_lens::engine::{Platform, Requant};
        let mut s = preset("forum").unwrap();
        s.params.per_channel = false;
        s.params.input_scale = 1.0 + f32::EPSILON as f64; // 1/(sx·sw) = 1 - 2^-23
        s.params.weight_scales = vec![1.0];
        s.params.bias = Some(vec![0.5 * (1.0 + f32::EPSILON)]);
        s.params.output_scale = 65536.0;
        s.params.output_zero_point = 0;
        let shape: ConvShape = s.shape;
        let r = Requant::new(Computation::FBGEMM, &s.params, &shape, &Platform::default()).unwrap();
        let acc: Vec<i32> = (0..1 << 20).map(|i| (1 << 23) + 2 * i + 1).collect();
        let mut out = vec![0; acc.len()];
        r.plane(0, &acc, &mut out);
        let mut codes = std::collections::BTreeSet::new();
        for (&a, &o) in acc.iter().zip(&out) {
            let want = r.pixel(0, a, &mut qconv_lens::trace::NoTrace);
            assert_eq!(o as i64, want, "accumulator {a}");
            codes.insert(o);
        }
        assert!(codes.len() > 10, "{codes:?}");
    }
}
