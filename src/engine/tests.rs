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
