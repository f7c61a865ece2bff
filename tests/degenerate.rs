//! Degenerate input: every case is a typed error with a clear message, never a panic.
use qconv_lens::engine::{Computation, HandAssumptions};
use qconv_lens::error::Error;
use qconv_lens::scenario::{preset, InputSource, Scenario};

fn err(sc: &Scenario) -> Error {
    match std::panic::catch_unwind(|| sc.run()) {
        Ok(Ok(_)) => panic!("accepted: {sc:?}"),
        Ok(Err(e)) => e,
        Err(_) => panic!("panicked on {sc:?}"),
    }
}

#[test]
fn bad_scales_are_refused_with_their_name() {
    for v in [
        0.0,
        -0.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e-300,
        1e300,
    ] {
        let mut sc = preset("forum").unwrap();
        sc.params.input_scale = v;
        let e = err(&sc);
        assert!(matches!(e, Error::BadScale { .. }), "{e:?}");
        assert!(e.to_string().contains("input scale"), "{e}");

        let mut sc = preset("per-channel").unwrap();
        sc.params.weight_scales[2] = v;
        assert!(
            err(&sc).to_string().contains("weight scale of channel 2"),
            "{}",
            err(&sc)
        );

        let mut sc = preset("forum").unwrap();
        sc.params.output_scale = v;
        assert!(err(&sc).to_string().contains("output scale"));
    }
}

#[test]
fn scales_whose_product_leaves_float32_are_refused() {
    // Each scale is a valid float32, but sx * sw underflows to 0 in float32.
    let mut sc = preset("forum").unwrap();
    sc.params.input_scale = 1e-30;
    sc.params.weight_scales = vec![1e-30];
    assert!(matches!(err(&sc), Error::BadScale { .. }));
    for c in [
        Computation::QNNPACK,
        Computation::FLOAT,
        Computation::hand(HandAssumptions::faithful()),
    ] {
        sc.a = c;
        sc.b = c;
        let _ = std::panic::catch_unwind(|| sc.run()).expect("no panic");
    }
}

#[test]
fn zero_points_out_of_range() {
    for (field, v) in [
        ("input", 256),
        ("input", -1),
        ("output", 999),
        ("weight", 128),
        ("weight", -129),
    ] {
        let mut sc = preset("forum").unwrap();
        match field {
            "input" => sc.params.input_zero_point = v,
            "output" => sc.params.output_zero_point = v,
            _ => sc.params.weight_zero_points = vec![v],
        }
        let e = err(&sc);
        assert!(
            matches!(e, Error::BadZeroPoint { .. }),
            "{field} {v}: {e:?}"
        );
        assert!(e.to_string().contains(&v.to_string()), "{e}");
    }
}

#[test]
fn inconsistent_or_empty_shapes() {
    let base = preset("per-channel").unwrap();
    type Break = Box<dyn Fn(&mut Scenario)>;
    let cases: Vec<(&str, Break)> = vec![
        ("height", Box::new(|s| s.shape.height = 0)),
        ("output channels", Box::new(|s| s.shape.out_channels = 0)),
        (
            "weights",
            Box::new(|s| s.weights.pop().map(|_| ()).unwrap_or(())),
        ),
        ("groups", Box::new(|s| s.shape.groups = 2)),
        ("kernel", Box::new(|s| s.shape.kernel = [40, 40])),
        (
            "weight scales",
            Box::new(|s| s.params.weight_scales.push(0.1)),
        ),
        ("bias", Box::new(|s| s.params.bias = Some(vec![0.0; 3]))),
        (
            "input codes",
            Box::new(|s| {
                s.input = InputSource::Codes {
                    codes: vec![1, 2, 3],
                }
            }),
        ),
        ("elements", Box::new(|s| s.shape.height = usize::MAX / 4)),
    ];
    for (what, f) in cases {
        let mut sc = base.clone();
        f(&mut sc);
        let e = err(&sc);
        assert!(matches!(e, Error::BadShape(_)), "{what}: {e:?}");
    }
}

#[test]
fn nan_bias_is_refused() {
    let mut sc = preset("forum").unwrap();
    sc.params.bias = Some(vec![f32::NAN]);
    assert!(err(&sc).to_string().contains("bias of channel 0"));
}

#[test]
fn page_limits_refuse_huge_shapes_before_allocating() {
    let mut sc = preset("forum").unwrap();
    sc.shape.height = 1_000_000_000;
    sc.shape.width = 1_000_000_000;
    assert!(sc
        .check_limits()
        .unwrap_err()
        .to_string()
        .contains("height"));
    let mut sc = preset("forum").unwrap();
    sc.shape.in_channels = 5000;
    assert!(sc
        .check_limits()
        .unwrap_err()
        .to_string()
        .contains("input channels"));
    // Channels are bounded by the work and memory they need, not a constant:
    // 64 -> 64 at 56x56 fits; 4096 -> 4096 at 512x512 is refused by its output.
    let mut sc = preset("forum").unwrap();
    sc.shape.in_channels = 64;
    sc.shape.out_channels = 64;
    sc.shape.height = 56;
    sc.shape.width = 56;
    assert!(sc.check_limits().is_ok());
    sc.shape.in_channels = 4096;
    sc.shape.out_channels = 4096;
    sc.shape.height = 512;
    sc.shape.width = 512;
    let e = sc.check_limits().unwrap_err().to_string();
    assert!(
        e.contains("the output (4096 x 512 x 512 values)") && e.contains("256.0x too many"),
        "{e}"
    );
    assert!(preset("per-channel").unwrap().check_limits().is_ok());
}
