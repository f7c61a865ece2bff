//! Every preset runs, shows differences, and the explanation names the cause
//! the preset is about. Also fbgemm's depthwise int16 saturation as a cause.
use qconv_lens::conv::ConvShape;
use qconv_lens::engine::{Computation, ConvQParams};
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
    ] {
        let causes = causes_of(&preset(id).unwrap());
        assert!(!causes.is_empty(), "{id}: no differing pixel");
        assert!(
            causes.iter().all(|c| c.contains(&cause)),
            "{id}: {causes:?}"
        );
    }
    assert_eq!(PRESETS.len(), 5);
}

#[test]
fn presets_differ_in_a_fraction_of_pixels() {
    for (id, lo, hi) in [("forum", 10, 10), ("ties", 64, 64), ("bias", 5, 60)] {
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
