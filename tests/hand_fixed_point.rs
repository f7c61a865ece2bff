//! The hand calculation with the fixed-point switch on is TFLite's reference
//! requantization: it reproduces every `tflite-reference` result of the LiteRT
//! golden file, and with the switch off it does not.
use qconv_lens::engine::{Computation, HandAssumptions};
use qconv_lens::golden::qconv::QConvCase;

fn cases() -> Vec<QConvCase> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/golden/runtimes/tflite.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::from_value(v["cases"].clone()).unwrap()
}

#[test]
fn hand_fixed_point_equals_tflite_reference_on_the_golden_cases() {
    let fixed = Computation::hand(HandAssumptions {
        fixed_point: true,
        ..HandAssumptions::faithful()
    });
    let float = Computation::hand(HandAssumptions::faithful());
    let (mut checked, mut float_differs) = (0, 0);
    for case in cases() {
        let Some(want) = case
            .results
            .iter()
            .find(|r| r.engine == "tflite-reference")
            .and_then(|r| r.q.clone())
        else {
            continue;
        };
        let got = case.run_computation(fixed).unwrap();
        assert_eq!(got, want, "{}", case.id);
        if case.run_computation(float).unwrap() != want {
            float_differs += 1;
        }
        checked += 1;
    }
    assert!(checked >= 100, "{checked} cases");
    // The switch matters: the float formula misses some of them.
    assert!(float_differs > 0, "the float formula matched all {checked}");
}
