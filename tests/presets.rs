//! Every preset runs, shows differences, and the explanation names the cause
//! the preset is about. Also fbgemm's depthwise int16 saturation as a cause.
use qconv_lens::conv::ConvShape;
use qconv_lens::engine::{Computation, ConvQParams, Cpu, Os};
use qconv_lens::explain::explain;
use qconv_lens::scenario::{preset, InputSource, Scenario, PRESETS};

/// The causes named at every pixel where A and B differ.
fn causes_of(sc: &Scenario) -> Vec<Vec<&'static str>> {
    let run = sc.run().unwrap();
    let (oh, ow) = run.shape.output_hw();
    let mut all = vec![];
    for c in 0..run.shape.out_channels {
        for y in 0..oh {
            for x in 0..ow {
                let e = explain(&run, c, y, x).unwrap();
                if e.out_a != e.out_b {
                    assert!(
                        !e.causes.is_empty(),
                        "no cause at {c},{y},{x}: {}",
                        e.summary
                    );
                    all.push(e.causes.iter().map(|c| c.code).collect());
                }
            }
        }
    }
    all
}

#[test]
fn each_preset_shows_its_cause() {
    for (id, cause) in [
        ("forum", "printed_scale"),
        ("ties", "rounding_rule"),
        ("per-channel", "printed_scale"),
        ("bias", "bias_rounding"),
        ("clamping", "clamp"),
        ("avx2-saturation", "int16_saturation"),
        ("x86-tie", "zero_point_order"),
    ] {
        let causes = causes_of(&preset(id).unwrap());
        assert!(!causes.is_empty(), "{id}: no differing pixel");
        assert!(
            causes.iter().all(|c| c.contains(&cause)),
            "{id}: {causes:?}"
        );
    }
    assert_eq!(PRESETS.len(), 11);
}

#[test]
fn presets_differ_in_a_fraction_of_pixels() {
    for (id, lo, hi) in [
        ("forum", 10, 10),
        ("ties", 64, 64),
        ("bias", 5, 60),
        ("avx2-saturation", 100, 200),
        // Every odd input code is a tie that oneDNN and fbgemm round apart.
        ("x86-tie", 128, 128),
    ] {
        let run = preset(id).unwrap().run().unwrap();
        let n = run
            .out_a
            .iter()
            .zip(&run.out_b)
            .filter(|(a, b)| a != b)
            .count();
        assert!((lo..=hi).contains(&n), "{id}: {n} pixels differ");
    }
}

#[test]
fn depthwise_saturation_is_named() {
    // 8 channels, 3x3 depthwise, activations 255 and weights 127: every pair of
    // products is 64770, past int16 (fbgemm's depthwise kernel).
    let shape = ConvShape {
        batch: 1,
        in_channels: 8,
        out_channels: 8,
        height: 4,
        width: 4,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        padding_end: None,
        dilation: [1, 1],
        groups: 8,
    };
    let sc = Scenario {
        shape,
        input: InputSource::Codes {
            codes: vec![255; 8 * 16],
        },
        weights: vec![127; 8 * 9],
        params: ConvQParams {
            input_scale: 0.01,
            input_zero_point: 0,
            weight_scales: vec![0.01],
            weight_zero_points: vec![0],
            per_channel: false,
            bias: None,
            output_scale: 15.0,
            output_zero_point: 0,
            relu: false,
            input_dtype: qconv_lens::quant::DType::QUInt8,
            output_dtype: qconv_lens::quant::DType::QUInt8,
            bias_i32: None,
            relu6: false,
            weight_dtype: qconv_lens::quant::DType::QInt8,
            depthwise_op: false,
        },
        a: Computation::FBGEMM,
        b: Computation::FLOAT,
        platform: Default::default(),
        view: Default::default(),
    };
    let run = sc.run().unwrap();
    assert_eq!(run.acc[5], 9 * 255 * 127);
    assert_eq!(run.acc_for(&run.ra)[5], 4 * 32767 + 255 * 127);
    let causes = causes_of(&sc);
    assert!(!causes.is_empty());
    assert!(
        causes.iter().all(|c| c[0] == "int16_saturation"),
        "{causes:?}"
    );
}

/// The saturation preset: on an AVX2 CPU fbgemm's im2col kernel saturates the
/// pair of input channels 0 and 1 at each tap (PyTorch issues 44939, 50720);
/// the explanation names the pair; on AVX512-VNNI nothing differs.
#[test]
fn avx2_saturation_names_the_pair_and_vanishes_with_vnni() {
    let sc = preset("avx2-saturation").unwrap();
    let run = sc.run().unwrap();
    let e = explain(&run, 0, 8, 8).unwrap();
    assert_eq!((e.out_a, e.out_b), (144, 146));
    assert_eq!(e.saturated_pairs.len(), 9);
    let p = &e.saturated_pairs[0];
    assert_eq!(p.codes, [(211, 71), (171, 107)]);
    assert_eq!((p.exact, p.clamped), (33278, 32767));
    assert!(
        e.kernel_a.contains("im2col") && e.kernel_a.contains("AVX2"),
        "{}",
        e.kernel_a
    );
    let text = &e.causes[0].text;
    assert!(
        text.contains("211 · 71") && text.contains("171 · 107") && text.contains("33278"),
        "{text}"
    );
    {
        let cpu = Cpu::Avx512Vnni;
        let mut v = sc.clone();
        v.platform.cpu = cpu;
        let r = v.run().unwrap();
        assert_eq!(r.out_a, r.out_b, "{cpu:?}");
    }
    // AVX512 without VNNI saturates like AVX2.
    let mut v = sc.clone();
    v.platform.cpu = Cpu::Avx512;
    let r = v.run().unwrap();
    assert_eq!(r.out_a, run.out_a);
}

/// x86 on a VNNI Linux machine runs oneDNN; elsewhere (or with asymmetric
/// weights, or more than 100 groups) fbgemm, and then A and B agree.
#[test]
fn x86_dispatch_follows_the_platform() {
    let sc = preset("x86-tie").unwrap();
    let run = sc.run().unwrap();
    assert_eq!(run.ra.kernel.name, "onednn");
    for (cpu, os) in [(Cpu::Avx2, Os::Linux), (Cpu::Avx512Vnni, Os::Other)] {
        let mut v = sc.clone();
        v.platform.cpu = cpu;
        v.platform.os = os;
        let r = v.run().unwrap();
        assert_eq!(r.ra.kernel.name, "fbgemm", "{cpu:?} {os:?}");
        assert!(
            r.ra.kernel.why.starts_with("x86 → fbgemm"),
            "{}",
            r.ra.kernel.why
        );
        assert_eq!(r.out_a, r.out_b);
    }
    let mut v = sc.clone();
    v.params.weight_zero_points = vec![1];
    let r = v.run().unwrap();
    assert_eq!(r.ra.kernel.name, "fbgemm");
    assert!(
        r.ra.kernel.why.contains("weight zero points"),
        "{}",
        r.ra.kernel.why
    );
}

/// The runtime presets open on a pixel where A and B differ, and only the
/// cross-runtime ones convert the scenario.
#[test]
fn runtime_presets_differ_at_their_pixel() {
    for (id, converts) in [
        ("pytorch-vs-onnxruntime", true),
        ("ort-qdq-tie", false),
        ("tflite-vs-xnnpack", false),
        ("microcontroller", true),
    ] {
        let sc = preset(id).unwrap();
        let run = sc.run().unwrap();
        let (r, c) = sc.view.pixel.unwrap_or_else(|| panic!("{id}: no pixel"));
        let i = run.index(sc.view.channel, r, c).unwrap();
        assert_ne!(run.out_a[i], run.out_b[i], "{id} at {r},{c}");
        if id == "ort-qdq-tie" {
            // The fused side holds an exact tie there.
            let v = run.pre_round_a(i);
            assert_eq!(v - v.floor(), 0.5, "{id}: {v}");
        }
        if id == "pytorch-vs-onnxruntime" {
            // They part at the bias (the page names the exported bias's
            // rule there: www/inspector.js).
            let e = explain(&run, sc.view.channel, r, c).unwrap();
            assert_eq!(e.parts_at, Some("bias_term"), "{}", e.summary);
        }
        let list = qconv_lens::convert::conversions(&sc.params, sc.a, sc.b);
        assert_eq!(!list.is_empty(), converts, "{id}");
        assert_eq!(run.converted.is_some(), converts, "{id}");
    }
}

/// fbgemm vs ONNX Runtime: B equals ONNX Runtime run on parameters written
/// the ONNX way by hand (the int32 bias torch.onnx gives: trunc(1072.9) = 1072).
#[test]
fn pytorch_vs_onnxruntime_runs_the_exported_bias() {
    let sc = preset("pytorch-vs-onnxruntime").unwrap();
    let run = sc.run().unwrap();
    let b = run.params.bias.as_ref().unwrap()[0];
    let aw = sc.params.weight_scales[0] as f32 * sc.params.input_scale as f32;
    let want = (b / aw).trunc() as i32;
    assert_eq!(want, 1072);
    let mut onnx = sc.clone();
    onnx.params.bias = None;
    onnx.params.bias_i32 = Some(vec![want]);
    onnx.a = sc.b;
    let by_hand = onnx.run().unwrap();
    assert!(by_hand.converted.is_none());
    assert_eq!(by_hand.out_a, run.out_b);
    let list = qconv_lens::convert::conversions(&sc.params, sc.a, sc.b);
    let field = list.iter().find(|c| c.field == "bias").unwrap();
    assert_eq!((field.channel, field.to), (Some(0), 1072.0));
    assert_eq!(field.exact, Some((b / aw) as f64));
}

/// Microcontroller vs TFLite: B's codes are TFLite's, run directly on the
/// int8 model (codes and both zero points - 128), + 128; also where the
/// model's output clamps at -128 and 127.
#[test]
fn microcontroller_compares_tflite_in_uint8_codes() {
    let mut clamped = [false; 2];
    for (bias, zy) in [(0.0317f32, 0i64), (-0.0317, 100), (0.0317, 100)] {
        let mut sc = preset("microcontroller").unwrap();
        sc.params.bias = Some(vec![bias]);
        sc.params.output_zero_point = zy;
        let run = sc.run().unwrap();
        let conv = run.converted.clone().unwrap();
        assert!(conv.int8_output);
        let mut model = conv.params.clone();
        model.output_dtype = qconv_lens::quant::DType::QInt8;
        model.output_zero_point -= 128;
        assert_eq!(model.input_zero_point, sc.params.input_zero_point - 128);
        let direct =
            qconv_lens::engine::Requant::new(sc.b, &model, &sc.shape, &sc.platform).unwrap();
        for (i, &acc) in run.acc.iter().enumerate() {
            let code = direct.pixel(0, acc, &mut qconv_lens::trace::NoTrace);
            assert_eq!(code + 128, run.out_b[i] as i64, "zy {zy}, pixel {i}");
            clamped[0] |= code == -128;
            clamped[1] |= code == 127;
        }
    }
    assert_eq!(clamped, [true, true]);
    // ReLU6 is the one step that does not shift exactly: refused.
    let mut sc = preset("microcontroller").unwrap();
    sc.params.relu6 = true;
    let e = sc.run().unwrap_err().to_string();
    assert!(e.contains("ReLU6"), "{e}");
}

/// The microcontroller preset differs only by the float formula: the hand
/// calculation's fixed-point switch (TFLite's multiplier and two roundings)
/// gives TFLite's codes at every pixel.
#[test]
fn microcontroller_with_the_fixed_point_switch_is_tflite() {
    let mut sc = preset("microcontroller").unwrap();
    let before = sc.run().unwrap();
    assert!(before.out_a != before.out_b);
    let mut h = sc.a.hand.unwrap();
    h.fixed_point = true;
    sc.a = Computation::hand(h);
    let run = sc.run().unwrap();
    assert_eq!(run.out_a, run.out_b);
}
