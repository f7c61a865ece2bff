//! The forum case (../shared/forum-post.txt, ARITHMETIC.md §5): fbgemm gives 30
//! where the forum user's hand calculation gives 31, and why.
use qconv_lens::conv::Activations;
use qconv_lens::engine::{Computation, HandAssumptions};
use qconv_lens::explain::explain;
use qconv_lens::scenario::{preset, Side};
use qconv_lens::trace::{key, Value};

/// The forum post's printouts of the conv's input and output `int_repr()`.
const FORUM_INPUT: [u8; 64] = [
    0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14,
    14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22, 22, 23, 23, 24, 24, 25, 25, 26,
    26, 27, 27, 28, 28, 29, 29, 30, 30, 31, 31, 32,
];
const FORUM_OUTPUT: [i32; 64] = [
    8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19,
    19, 20, 20, 21, 21, 22, 22, 23, 23, 24, 24, 25, 25, 26, 26, 27, 27, 28, 28, 28, 28, 29, 29, 30,
    30, 31, 31, 32, 32, 33, 33, 34, 34, 35, 35, 36, 36, 37, 37, 38,
];

#[test]
fn fbgemm_reproduces_the_forum_printout() {
    let run = preset("forum").unwrap().run().unwrap();
    assert_eq!(*run.input, Activations::QUInt8(FORUM_INPUT.to_vec()));
    assert_eq!(run.out_a, FORUM_OUTPUT);
}

#[test]
fn both_pixels_with_input_24_give_30_and_31() {
    let run = preset("forum").unwrap().run().unwrap();
    let pixels: Vec<usize> = (0..64)
        .filter(|&i| run.input.codes().get(i) == 24)
        .collect();
    assert_eq!(pixels, vec![2 * 16 + 15, 3 * 16]);
    for &i in &pixels {
        assert_eq!(run.out_a[i], 30, "fbgemm at {i}");
        assert_eq!(run.out_b[i], 31, "hand at {i}");
        let hand = run.trace(Side::B, i);
        // The forum post's own number, Python float arithmetic to the last digit.
        assert_eq!(
            hand.get(key::PRE_ROUND).unwrap().value,
            Value::F64(30.514379999999996)
        );
        assert_eq!(hand.get(key::BIAS_TERM).unwrap().value, Value::Int(1070));
        // fbgemm: (3048 + 1072.407) * 0.00735596 = 30.31.
        let fb = run.trace(Side::A, i);
        let pre = fb.get(key::PRE_ROUND).unwrap().value.as_f64();
        assert!((30.30..30.32).contains(&pre), "{pre}");
    }
}

#[test]
fn the_comparison_blames_the_printed_scales() {
    let run = preset("forum").unwrap().run().unwrap();
    for (r, c) in [(2, 15), (3, 0)] {
        let e = explain(&run, 0, r, c).unwrap();
        assert_eq!((e.out_a, e.out_b), (30, 31));
        assert!(!e.causes.is_empty());
        assert!(
            e.causes.iter().all(|c| c.code == "printed_scale"),
            "{:?}",
            e.causes
        );
        assert!(
            e.causes.iter().any(|c| c.text.contains("output scale")),
            "{:?}",
            e.causes
        );
        assert!(
            e.summary.contains("fbgemm gives 30, hand gives 31"),
            "{}",
            e.summary
        );
    }
}

#[test]
fn exact_output_scale_alone_makes_the_hand_result_30() {
    let mut sc = preset("forum").unwrap();
    sc.b = Computation::hand(HandAssumptions {
        print_output_scale: false,
        ..HandAssumptions::default()
    });
    let run = sc.run().unwrap();
    assert_eq!(run.out_b[2 * 16 + 15], 30);
    assert_eq!(run.out_b[3 * 16], 30);
}

#[test]
fn faithful_hand_calculation_matches_fbgemm_everywhere() {
    // With exact scales and the bias kept as a float, float64 hand arithmetic
    // agrees with fbgemm on the forum input (no pixel is near a .5 boundary).
    let mut sc = preset("forum").unwrap();
    sc.b = Computation::hand(HandAssumptions::faithful());
    let run = sc.run().unwrap();
    assert_eq!(run.out_a, run.out_b);
}
