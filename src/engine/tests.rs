//! Unit tests of the requantizations and the hand switches.
use super::common::{cvt_i32, tail, Tail};
use super::*;
use crate::trace::{key, NoTrace, Trace, Value};

fn shape1() -> ConvShape {
    shape_n(1)
}
fn shape_n(oc: usize) -> ConvShape {
    ConvShape {
        batch: 1,
        in_channels: 1,
        out_channels: oc,
        height: 1,
        width: 1,
        kernel: [1, 1],
        stride: [1, 1],
        padding: [0, 0],
        padding_end: None,
        dilation: [1, 1],
        groups: 1,
    }
}

fn params(sx: f64, sw: f64, sy: f64, zy: i64, bias: Option<f32>) -> ConvQParams {
    ConvQParams {
        input_scale: sx,
        input_zero_point: 0,
        weight_scales: vec![sw],
        weight_zero_points: vec![0],
        per_channel: false,
        bias: bias.map(|b| vec![b]),
        output_scale: sy,
        output_zero_point: zy,
        relu: false,
        input_dtype: crate::quant::DType::QUInt8,
        output_dtype: crate::quant::DType::QUInt8,
        bias_i32: None,
        relu6: false,
        weight_dtype: crate::quant::DType::QInt8,
        depthwise_op: false,
    }
}

fn code(c: Computation, p: &ConvQParams, acc: i32) -> i64 {
    Requant::new(c, p, &shape1(), &Platform::default())
        .unwrap()
        .pixel(0, acc, &mut NoTrace)
}

#[test]
fn kernels_round_half_to_even() {
    // M = 1/2 exactly: odd accumulators are ties.
    let p = params(0.5, 0.5, 0.5, 0, None);
    for c in [
        Computation::FBGEMM,
        Computation::QNNPACK,
        Computation::FLOAT,
    ] {
        assert_eq!([1, 3, 5].map(|a| code(c, &p, a)), [0, 2, 2], "{c:?}");
    }
    let half_away = Computation::hand(HandAssumptions {
        rounding: Rounding::HalfAway,
        ..HandAssumptions::faithful()
    });
    assert_eq!([1, 3, 5].map(|a| code(half_away, &p, a)), [1, 2, 3]);
}

#[test]
fn zero_point_tails_differ_only_past_int32() {
    // fbgemm adds the zero point as a wrapping int32; qnnpack saturates to int16 first.
    assert_eq!(
        tail(Tail::Fbgemm, i32::MAX as i64 - 10, 200, 0),
        (i32::MIN as i64 + 189, 0)
    );
    assert_eq!(
        tail(Tail::Qnnpack, i32::MAX as i64 - 10, 200, 0),
        (32967, 255)
    );
    assert_eq!(tail(Tail::Plain, 300, 3, 0), (303, 255));
    assert_eq!(tail(Tail::Fbgemm, -5, 3, 3), (-2, 3));
    // Out-of-range floats convert to INT32_MIN (vcvtps2dq), NaN too.
    assert_eq!(cvt_i32(3e9), i32::MIN);
    assert_eq!(cvt_i32(f32::NAN), i32::MIN);
    assert_eq!(cvt_i32(-2.5), -2);
}

#[test]
fn relu_clamps_at_the_zero_point() {
    let mut p = params(0.1, 0.1, 0.01, 10, None);
    p.relu = true;
    assert_eq!(code(Computation::FBGEMM, &p, -50), 10);
    assert_eq!(code(Computation::QNNPACK, &p, -50), 10);
    p.relu = false;
    assert_eq!(code(Computation::FBGEMM, &p, -50), 0);
}

#[test]
fn fbgemm_bias_paths() {
    // Per-tensor: one FMA rounding; per-channel: division then add.
    let p = params(
        0.007839367724955082,
        0.003770669922232628,
        0.004018464591354132,
        0,
        Some(0.0317),
    );
    let mut t = Trace::default();
    let r = Requant::new(Computation::FBGEMM, &p, &shape1(), &Platform::default()).unwrap();
    assert_eq!(r.pixel(0, 3048, &mut t), 30);
    assert!(t.get(key::SUM).unwrap().formula.contains("one rounding"));
    let mut pc = p.clone();
    pc.per_channel = true;
    let mut t = Trace::default();
    Requant::new(Computation::FBGEMM, &pc, &shape1(), &Platform::default())
        .unwrap()
        .pixel(0, 3048, &mut t);
    assert!(t.get(key::SUM).unwrap().formula.contains("two roundings"));
}

#[test]
fn qnnpack_rounds_the_bias_to_int32() {
    let p = params(
        0.007839367724955082,
        0.003770669922232628,
        0.004018464591354132,
        0,
        Some(0.0317),
    );
    let mut t = Trace::default();
    Requant::new(Computation::QNNPACK, &p, &shape1(), &Platform::default())
        .unwrap()
        .pixel(0, 3048, &mut t);
    assert_eq!(t.get(key::BIAS_TERM).unwrap().value, Value::Int(1072));
}

#[test]
fn hand_switches_each_change_what_they_say() {
    let p = params(
        0.007839367724955082,
        0.003770669922232628,
        0.004018464591354132,
        0,
        Some(0.0317),
    );
    let trace = |h: HandAssumptions| {
        let mut t = Trace::default();
        Requant::new(Computation::hand(h), &p, &shape1(), &Platform::default())
            .unwrap()
            .pixel(0, 3048, &mut t);
        t
    };
    let d = trace(HandAssumptions::default());
    assert_eq!(d.get(key::SX).unwrap().value, Value::F64(0.0078));
    assert_eq!(d.get(key::SY).unwrap().value, Value::F64(0.004));
    let exact = trace(HandAssumptions {
        print_input_scale: false,
        ..Default::default()
    });
    assert_eq!(
        exact.get(key::SX).unwrap().value,
        Value::F64(0.007_839_368f32 as f64)
    );
    let keep = trace(HandAssumptions {
        bias_rounding: BiasRounding::Keep,
        ..Default::default()
    });
    assert!(matches!(
        keep.get(key::BIAS_TERM).unwrap().value,
        Value::F64(_)
    ));
    let trunc = trace(HandAssumptions {
        bias_rounding: BiasRounding::Truncate,
        ..Default::default()
    });
    assert_eq!(trunc.get(key::BIAS_TERM).unwrap().value, Value::Int(1069));
    let f32s = trace(HandAssumptions {
        arithmetic: Arithmetic::F32,
        ..Default::default()
    });
    assert!(matches!(
        f32s.get(key::PRE_ROUND).unwrap().value,
        Value::F32(_)
    ));
    let mut hz = p.clone();
    hz.output_zero_point = 250;
    let no_clamp = Computation::hand(HandAssumptions {
        ignore_clamp: true,
        ..Default::default()
    });
    assert_eq!(
        Requant::new(no_clamp, &hz, &shape1(), &Platform::default())
            .unwrap()
            .pixel(0, 3048, &mut NoTrace),
        281
    );
    assert_eq!(
        Requant::new(
            Computation::hand(HandAssumptions::default()),
            &hz,
            &shape1(),
            &Platform::default()
        )
        .unwrap()
        .pixel(0, 3048, &mut NoTrace),
        255
    );
    let no_zp = Computation::hand(HandAssumptions {
        ignore_zero_points: true,
        ..Default::default()
    });
    assert_eq!(
        Requant::new(no_zp, &hz, &shape1(), &Platform::default())
            .unwrap()
            .pixel(0, 3048, &mut NoTrace),
        31
    );
    assert!(no_zp.uses_raw_codes());
}

#[test]
fn printed_weight_scales_follow_the_whole_tensor() {
    // 0.5 and 0.000312345 span more than 1000x: PyTorch prints the whole
    // tensor in scientific notation, so the copy keeps 5 digits.
    let mut p = params(0.01, 0.5, 0.01, 0, Some(0.0317));
    p.per_channel = true;
    p.weight_scales = vec![0.5, 0.000312345];
    p.weight_zero_points = vec![0, 0];
    p.bias = Some(vec![0.0317, 12.5]);
    let r = Requant::new(
        Computation::hand(HandAssumptions::default()),
        &p,
        &shape_n(2),
        &Platform::default(),
    )
    .unwrap();
    let mut t = Trace::default();
    r.pixel(1, 100, &mut t);
    assert_eq!(t.get(key::SW).unwrap().value, Value::F64(3.1235e-4));
    assert_eq!(t.get(key::BIAS).unwrap().value, Value::F64(12.5));
    // Alone, the same value would print as 0.0003.
    assert_eq!(crate::printed::printed(0.000312345), 0.0003);
    assert_eq!(
        crate::printed::as_printed(&[0.5, 0.000312345])[1],
        3.1235e-4
    );
}

#[test]
fn single_fixes_list_each_active_mistake() {
    let names: Vec<Assumption> = HandAssumptions::default()
        .single_fixes()
        .iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(
        names,
        [
            Assumption::PrintedOutputScale,
            Assumption::PrintedWeightScale,
            Assumption::PrintedInputScale,
            Assumption::PrintedBias,
            Assumption::BiasRounded,
            Assumption::Float64
        ]
    );
    assert!(HandAssumptions {
        arithmetic: Arithmetic::F32,
        ..HandAssumptions::faithful()
    }
    .single_fixes()
    .is_empty());
}

#[test]
fn parse_names() {
    for n in ["fbgemm", "qnnpack", "float", "hand"] {
        assert_eq!(Computation::parse(n).unwrap().name(), n);
    }
    assert!(Computation::parse("tflite")
        .unwrap_err()
        .to_string()
        .contains("unknown computation"));
}

#[test]
fn qnnpack_clamps_a_bias_past_int32_and_wraps_the_add() {
    // sx = sw = 1, sy = 2^24: R = 2^-24 exactly. b = 3e9 (a float32) is past
    // int32: quantize to qint32 saturates it to 2147483647 (the old code refused).
    let p = params(1.0, 1.0, 16777216.0, 0, Some(3e9));
    let r = Requant::new(Computation::QNNPACK, &p, &shape1(), &Platform::default()).unwrap();
    let mut t = Trace::default();
    // acc 0: f32(2147483647) = 2^31, times 2^-24 = 128.
    assert_eq!(r.pixel(0, 0, &mut t), 128);
    let bt = t.get(key::BIAS_TERM).unwrap();
    assert_eq!(bt.value, Value::Int(2147483647));
    assert!(
        bt.formula.contains("clamped to 2147483647"),
        "{}",
        bt.formula
    );
    assert!(!t.get(key::SUM).unwrap().formula.contains("wraps"));
    // acc 1: 2147483647 + 1 wraps to -2^31: -128, clamped to 0.
    let mut t = Trace::default();
    assert_eq!(r.pixel(0, 1, &mut t), 0);
    let sum = t.get(key::SUM).unwrap();
    assert_eq!(sum.value, Value::Int(i32::MIN as i64));
    assert!(
        sum.formula.contains("wraps around int32"),
        "{}",
        sum.formula
    );
    // The same through the plane (vectorised) path.
    let mut out = [0i32; 3];
    r.plane(0, &[0, 1, -5], &mut out);
    assert_eq!(out, [128, 0, 128]);
    // Negative: -3e9 saturates to INT32_MIN; acc -1 wraps to INT32_MAX.
    let p = params(1.0, 1.0, 16777216.0, 0, Some(-3e9));
    let r = Requant::new(Computation::QNNPACK, &p, &shape1(), &Platform::default()).unwrap();
    let mut t = Trace::default();
    assert_eq!(r.pixel(0, -1, &mut t), 128);
    assert_eq!(
        t.get(key::BIAS_TERM).unwrap().value,
        Value::Int(i32::MIN as i64)
    );
    // A bias just inside int32 (2^31 - 128, not clamped) still wraps: acc 200
    // makes 2147483720 -> -2147483576, f32 -2147483520, times 2^-24 -> -128 -> 0.
    let p = params(1.0, 1.0, 16777216.0, 0, Some(2147483520.0));
    let r = Requant::new(Computation::QNNPACK, &p, &shape1(), &Platform::default()).unwrap();
    let mut t = Trace::default();
    assert_eq!(r.pixel(0, 200, &mut t), 0);
    assert!(!t.get(key::BIAS_TERM).unwrap().formula.contains("clamped"));
    assert_eq!(t.get(key::SUM).unwrap().value, Value::Int(-2147483576));
}

#[test]
fn qnnpack_conv_and_depthwise_kernels_pack_the_bias_through_float32() {
    let shape = |k: usize, pad: usize, c: usize, groups: usize| ConvShape {
        batch: 1,
        in_channels: c,
        out_channels: c,
        height: 3,
        width: 3,
        kernel: [k, k],
        stride: [1, 1],
        padding: [pad, pad],
        padding_end: None,
        dilation: [1, 1],
        groups,
    };
    assert_eq!(
        qnnpack::QnnpackKernel::of(&shape(1, 0, 1, 1)),
        qnnpack::QnnpackKernel::Gemm
    );
    assert_eq!(
        qnnpack::QnnpackKernel::of(&shape(1, 1, 1, 1)),
        qnnpack::QnnpackKernel::Conv
    );
    assert_eq!(
        qnnpack::QnnpackKernel::of(&shape(3, 1, 1, 1)),
        qnnpack::QnnpackKernel::Conv
    );
    assert_eq!(
        qnnpack::QnnpackKernel::of(&shape(3, 1, 4, 4)),
        qnnpack::QnnpackKernel::Depthwise
    );
    assert_eq!(
        qnnpack::QnnpackKernel::of(&shape(5, 2, 4, 4)),
        qnnpack::QnnpackKernel::Depthwise
    );
    // f32(2147483647) = 2^31 converts to INT32_MIN; below, float32 rounding.
    assert_eq!(
        qnnpack::QnnpackKernel::Conv.packed_bias(2147483647),
        i32::MIN as i64
    );
    assert_eq!(
        qnnpack::QnnpackKernel::Depthwise.packed_bias(16777217),
        16777216
    );
    assert_eq!(
        qnnpack::QnnpackKernel::Conv.packed_bias(-2147483648),
        i32::MIN as i64
    );
    assert_eq!(
        qnnpack::QnnpackKernel::Gemm.packed_bias(2147483647),
        2147483647
    );
    // The clamped bias 3e9 -> 2147483647: GEMM keeps it (acc 0 -> 128), the
    // conv kernel stores INT32_MIN (acc 0 -> -128 -> 0), as in qnnov-1-known0/1.
    let p = params(1.0, 1.0, 16777216.0, 0, Some(3e9));
    let gemm = Requant::new(
        Computation::QNNPACK,
        &p,
        &shape(1, 0, 1, 1),
        &Platform::default(),
    )
    .unwrap();
    assert_eq!(gemm.pixel(0, 0, &mut NoTrace), 128);
    let conv = Requant::new(
        Computation::QNNPACK,
        &p,
        &shape(1, 1, 1, 1),
        &Platform::default(),
    )
    .unwrap();
    let mut t = Trace::default();
    assert_eq!(conv.pixel(0, 0, &mut t), 0);
    let bt = t.get(key::BIAS_TERM).unwrap();
    assert_eq!(bt.value, Value::Int(i32::MIN as i64));
    assert!(
        bt.formula.contains("clamped to 2147483647"),
        "{}",
        bt.formula
    );
    assert!(bt.formula.contains("through float32"), "{}", bt.formula);
}

#[test]
fn engines_refuse_activation_dtypes_they_do_not_take() {
    let mut p = params(0.5, 0.5, 0.5, 0, None);
    p.input_dtype = crate::quant::DType::QInt8;
    for c in [Computation::FBGEMM, Computation::X86, Computation::QNNPACK] {
        let e = Requant::new(c, &p, &shape1(), &Platform::default()).unwrap_err();
        assert!(
            e.to_string().contains("quint8 activations, not qint8"),
            "{e}"
        );
    }
    // A qint8 zero point outside -128..127 is refused by the params themselves.
    p.input_zero_point = 200;
    assert!(p.validate(1).is_err());
}

#[test]
fn qint8_activations_accumulate_centred() {
    // (qx - zx)·(qw - zw) with signed codes: (-100 - (-3))·5 + (27 - (-3))·(-2) = -545.
    let s = ConvShape {
        in_channels: 2,
        ..shape1()
    };
    let x = [-100i8, 27];
    let w = [5i8, -2];
    let acc = crate::conv::IntConv {
        shape: &s,
        input: crate::conv::Codes::QInt8(&x),
        input_zero_point: -3,
        weight: &w,
        weight_zero_points: &[0],
    }
    .accumulate()
    .unwrap();
    assert_eq!(acc, [-545]);
}

#[test]
fn hand_fixed_point_switch_by_hand() {
    let fixed = Computation::hand(HandAssumptions {
        fixed_point: true,
        ..HandAssumptions::faithful()
    });
    let float = Computation::hand(HandAssumptions::faithful());
    // M = 1/256: QuantizeMultiplier gives m = 2^30, shift = -7.
    // acc 1151: high multiply 1151 · 2^30 / 2^31 = 575.5 -> 576, then 576 / 128 = 4.5 -> 5.
    // The float formula rounds 1151 / 256 = 4.496 once: 4.
    let p = params(1.0, 1.0, 256.0, 0, None);
    assert_eq!(code(fixed, &p, 1151), 5);
    assert_eq!(code(float, &p, 1151), 4);
    // A float bias is rounded to an int32 first (half to even): 0.5 -> 0, so
    // acc 1151 stays 1151 and gives 5.
    let p = params(1.0, 1.0, 256.0, 0, Some(0.5));
    assert_eq!(code(fixed, &p, 1151), 5);
    // The trace names the multiplier, its shift and the exact number.
    let mut t = Trace::default();
    Requant::new(fixed, &p, &shape1(), &Platform::default())
        .unwrap()
        .pixel(0, 1151, &mut t);
    assert_eq!(t.get(key::MULTIPLIER).unwrap().value, Value::Int(1 << 30));
    assert_eq!(t.get(key::SHIFT).unwrap().value, Value::Int(-7));
    assert_eq!(t.get(key::HIGH_MUL).unwrap().value, Value::Int(576));
    assert!(t
        .get(key::MULTIPLIER)
        .unwrap()
        .formula
        .contains("= 0.00390625 exactly"));
    // The link token round-trips.
    let h = fixed.hand.unwrap();
    assert!(h.tokens().contains("fixp"));
    assert_eq!(HandAssumptions::from_tokens(&h.tokens()).unwrap(), h);
}

/// The hand calculation's plane loop (its float64 terms taken out of the
/// loop) gives each pixel's traced code, under every switch that it reads.
#[test]
fn hand_plane_equals_its_pixels() {
    // Accumulators around ties, limits and int32's ends.
    let acc: Vec<i32> = (-3000..3000)
        .map(|i| i * 7)
        .chain([i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX])
        .collect();
    let roundings = [Rounding::HalfEven, Rounding::HalfAway];
    let biases = [
        BiasRounding::Keep,
        BiasRounding::HalfEven,
        BiasRounding::HalfAway,
        BiasRounding::Truncate,
    ];
    let mut checked = 0;
    for (sy, zy, bias) in [
        (0.05, 0, Some(0.01f32)),
        (0.0123, 128, Some(-0.37)),
        (1e-9, 3, None),
    ] {
        for (relu, relu6, print, ignore_zp, ignore_clamp) in [
            (false, false, true, false, false),
            (true, false, false, true, false),
            (false, true, true, false, false),
            (true, true, false, false, true),
        ] {
            for (&rounding, &bias_rounding) in roundings
                .iter()
                .zip(biases.iter().cycle())
                .chain(biases.iter().map(|b| (&Rounding::HalfEven, b)))
            {
                let mut p = params(0.0078, 0.0037, sy, zy, bias);
                (p.relu, p.relu6) = (relu, relu6);
                let h = HandAssumptions {
                    print_input_scale: print,
                    print_weight_scale: print,
                    print_output_scale: print,
                    print_bias: print,
                    bias_rounding,
                    rounding,
                    ignore_zero_points: ignore_zp,
                    ignore_clamp,
                    ..HandAssumptions::default()
                };
                let r = Requant::new(Computation::hand(h), &p, &shape1(), &Platform::default())
                    .unwrap();
                let mut out = vec![0; acc.len()];
                r.plane(0, &acc, &mut out);
                for (&a, &o) in acc.iter().zip(&out) {
                    let one = r.pixel(0, a, &mut NoTrace);
                    assert_eq!(
                        o as i64,
                        one.clamp(i32::MIN as i64, i32::MAX as i64),
                        "acc {a}, {h:?}, {p:?}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100_000);
}
