//! Permalinks: exact round trips, budgets, old versions, hostile links.
use proptest::prelude::*;
use qconv_lens::conv::ConvShape;
use qconv_lens::engine::{
    Arithmetic, BiasRounding, Computation, ConvQParams, HandAssumptions, Rounding,
};
use qconv_lens::link::{decode, encode};
use qconv_lens::quant::DType;
use qconv_lens::scenario::{preset, InputSource, MapKind, Scenario, View, PRESETS};
use qconv_lens::schema::GROUPS;

#[test]
fn forum_link_is_short_and_exact() {
    let sc = preset("forum").unwrap();
    let link = encode(&sc);
    assert!(link.starts_with("v=1&"), "{link}");
    assert!(link.len() < 300, "{} chars: {link}", link.len());
    assert!(link.contains("sy=0.004018464591354132"), "{link}");
    let d = decode(&link);
    assert_eq!(d.notes, vec![], "{link}");
    assert_eq!(d.scenario, sc);
    assert_eq!(
        d.scenario.params.output_scale.to_bits(),
        0.004018464591354132f64.to_bits()
    );
}

#[test]
fn every_preset_round_trips() {
    for (id, _) in PRESETS {
        let sc = preset(id).unwrap();
        let d = decode(&format!("https://example.org/qconv-lens/#{}", encode(&sc)));
        assert!(d.notes.is_empty(), "{id}: {:?}", d.notes);
        assert_eq!(d.scenario, sc, "{id}");
    }
}

#[test]
fn typed_8x8_3x3_case_fits_the_budget() {
    let mut sc = preset("per-channel").unwrap();
    sc.shape.in_channels = 8;
    sc.shape.out_channels = 8;
    sc.weights = (0..8 * 8 * 9)
        .map(|i| ((i * 7919 + 13) % 255) as i64 as i8)
        .collect();
    sc.params.weight_scales = (0..8).map(|c| 0.001 + c as f64 * 0.00037).collect();
    sc.params.weight_zero_points = vec![0; 8];
    sc.params.bias = Some((0..8).map(|c| c as f32 * 0.013 - 0.05).collect());
    sc.input = InputSource::Random { seed: 3 };
    let link = encode(&sc);
    eprintln!("8 -> 8, 3x3 typed-weights link: {} chars", link.len());
    assert!(link.len() < 2000, "{} chars", link.len());
    assert_eq!(decode(&link).scenario, sc);
}

/// Links written by released versions, with what they must still open as
/// (the current canonical encoding). Add a file per version; never edit old ones.
#[test]
fn fixture_links_of_every_version_still_load() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/links");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (link, expected) = line.split_once('\t').expect("link<TAB>canonical");
            let d = decode(link);
            assert!(d.notes.is_empty(), "{link}: {:?}", d.notes);
            assert_eq!(encode(&d.scenario), expected, "{link}");
            n += 1;
        }
    }
    assert!(n >= 5, "only {n} fixture links");
}

#[test]
fn hostile_links_give_messages_and_a_working_case() {
    let forum = encode(&preset("forum").unwrap());
    let long = format!("v=1&junk={}", "A".repeat(100_000));
    let hostile: Vec<(String, &str)> = vec![
        ("%%%garbage&&==&".into(), "percent"),
        (forum[..forum.len() / 2].to_string(), "missing"),
        ("v=999&sx=0.01".into(), "newer"),
        (
            "v=1&h=1000000000&w=1000000000&ci=16&co=16".into(),
            "outside",
        ),
        ("v=1&sx=NaN".into(), "usable scale"),
        ("v=1&sx=inf".into(), "usable scale"),
        ("v=1&sy=0".into(), "usable scale"),
        ("v=1&sw=-0.5".into(), "usable scale"),
        ("v=1&zy=999".into(), "outside 0..=255"),
        (
            "v=1&a=<script>alert(1)</script>".into(),
            "not a computation",
        ),
        ("v=1&in=javascript:alert(1)".into(), "not an input"),
        (
            "v=1&hide=javascript:alert(1),shape".into(),
            "unknown groups",
        ),
        (long, "not a setting"),
        (format!("v=1&{}", "x".repeat(300_000)), "characters long"),
        ("v=1&wq=z.AAAA".into(), "damaged"),
        ("v=1&in=codes:1,2,3".into(), "ramp input is used"),
        ("v=1&co=16&sw=0.1,0.2".into(), "weight scales"),
        ("v=1&k=7&h=2&w=2".into(), "does not fit"),
        ("v=1&sx=1e-30&sw=1e-30".into(), "cannot be computed"),
        ("v=1&px=99,99".into(), "outside"),
        ("v=1&g=3&ci=4".into(), "groups"),
        ("v=1&bias=0.1,nan".into(), "finite"),
    ];
    for (link, expect) in hostile {
        let d = decode(&link);
        let all: Vec<String> = d
            .notes
            .iter()
            .map(|n| format!("{}: {}", n.key, n.message))
            .collect();
        assert!(
            all.iter().any(|m| m.contains(expect)),
            "{}: {all:?}",
            &link[..link.len().min(80)]
        );
        d.scenario.check_limits().unwrap();
        d.scenario.run().unwrap();
        // Text goes into notes as text; nothing echoes more than a short key.
        assert!(all.iter().all(|m| m.len() < 400), "{all:?}");
    }
}

// ------------------------------------------------------------------ properties

fn hand() -> impl Strategy<Value = HandAssumptions> {
    (any::<[bool; 6]>(), 0..4usize, any::<bool>(), any::<bool>()).prop_map(|(f, br, ar, rd)| {
        HandAssumptions {
            print_input_scale: f[0],
            print_weight_scale: f[1],
            print_output_scale: f[2],
            print_bias: f[3],
            ignore_zero_points: f[4],
            ignore_clamp: f[5],
            bias_rounding: [
                BiasRounding::Keep,
                BiasRounding::HalfEven,
                BiasRounding::HalfAway,
                BiasRounding::Truncate,
            ][br],
            arithmetic: if ar { Arithmetic::F64 } else { Arithmetic::F32 },
            rounding: if rd {
                Rounding::HalfEven
            } else {
                Rounding::HalfAway
            },
        }
    })
}

fn computation() -> impl Strategy<Value = Computation> {
    prop_oneof![
        Just(Computation::FBGEMM),
        Just(Computation::QNNPACK),
        Just(Computation::FLOAT),
        hand().prop_map(Computation::hand)
    ]
}

fn scale() -> impl Strategy<Value = f64> {
    (1e-5f64..1.0).prop_map(|v| v)
}

prop_compose! {
    fn scenario()(g in 1usize..=3, cig in 1usize..=2, cog in 1usize..=2, h in 3usize..12, w in 3usize..12,
                  k in 1usize..=3, st in 1usize..=2, pd in 0usize..=1, dl in 1usize..=2, per_channel in any::<bool>())
                 (wq in proptest::collection::vec(any::<i8>(), g * cog * cig * k * k),
                  ws in proptest::collection::vec(scale(), if per_channel { g * cog } else { 1 }),
                  zw in proptest::collection::vec(-128i64..=127, if per_channel { g * cog } else { 1 }),
                  bias in proptest::option::of(proptest::collection::vec(-10.0f32..10.0, g * cog)),
                  codes in proptest::option::of(proptest::collection::vec(any::<u8>(), g * cig * h * w)),
                  seed in any::<u32>(), sx in scale(), sy in scale(), zx in 0i64..=255, zy in 0i64..=255, relu in any::<bool>(),
                  a in computation(), b in computation(), map in any::<bool>(), hide in proptest::sample::subsequence(GROUPS.iter().map(|g| g.0).collect::<Vec<_>>(), 0..3),
                  g in Just(g), cig in Just(cig), cog in Just(cog), h in Just(h), w in Just(w), k in Just(k), st in Just(st),
                  pd in Just(pd), dl in Just(dl), per_channel in Just(per_channel))
                 -> Scenario {
        let shape = ConvShape { batch: 1, in_channels: g * cig, out_channels: g * cog, height: h + 2 * dl, width: w + 2 * dl,
                                kernel: [k, k], stride: [st, st], padding: [pd, pd], dilation: [dl, dl], groups: g };
        Scenario {
            shape,
            input: match codes { Some(codes) => InputSource::Codes { codes: codes.iter().copied().chain(std::iter::repeat(7)).take(shape.input_len()).collect() }, None => InputSource::Random { seed } },
            weights: wq,
            params: ConvQParams { input_scale: sx, input_zero_point: zx, weight_scales: ws, weight_zero_points: zw, per_channel, bias, output_scale: sy, output_zero_point: zy, relu, input_dtype: DType::QUInt8, output_dtype: DType::QUInt8 },
            a, b,
            platform: Default::default(),
            view: View { channel: 0, pixel: Some((0, 0)), map: if map { MapKind::Tie } else { MapKind::Diff }, hide: hide.iter().map(|s| s.to_string()).collect() },
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_scenarios_round_trip(sc in scenario()) {
        prop_assume!(sc.check_limits().is_ok() && sc.run().is_ok());
        let link = encode(&sc);
        let d = decode(&link);
        prop_assert!(d.notes.is_empty(), "{:?}", d.notes);
        prop_assert_eq!(&d.scenario, &sc);
        prop_assert_eq!(encode(&d.scenario), link);
    }
}
