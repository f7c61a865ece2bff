//! Permalinks: exact round trips, budgets, old versions, hostile links.
use proptest::prelude::*;
use qconv_lens::conv::ConvShape;
use qconv_lens::engine::{
    Arithmetic, BiasRounding, Computation, ConvQParams, Cpu, HandAssumptions, Os, Platform,
    Rounding, ENGINES,
};
use qconv_lens::link::{decode, encode, VERSION};
use qconv_lens::quant::DType;
use qconv_lens::scenario::{preset, InputSource, MapKind, Scenario, View, PRESETS};
use qconv_lens::schema::GROUPS;

#[test]
fn forum_link_is_short_and_exact() {
    let sc = preset("forum").unwrap();
    let link = encode(&sc);
    assert!(link.starts_with(&format!("v={VERSION}&")), "{link}");
    assert!(link.contains("&cpu=avx512_vnni&os=linux&emu=0&"), "{link}");
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

/// Links written by released versions, with the scenario each must still open
/// as: `vN.json` is `{version, written, links: [{link, scenario}]}`, the
/// scenario as serde_json writes a `Scenario`. A scenario field added later
/// takes its serde default, so a new key never edits these files: add a file
/// per version and never edit old ones.
#[derive(serde::Deserialize)]
struct FixtureFile {
    version: u32,
    links: Vec<Fixture>,
}

#[derive(serde::Deserialize)]
struct Fixture {
    link: String,
    scenario: Scenario,
}

#[test]
fn fixture_links_of_every_version_still_load() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/links");
    let mut n = 0;
    let mut versions = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension() != Some("json".as_ref()) {
            continue;
        }
        let file: FixtureFile =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            path.file_stem().unwrap().to_str().unwrap(),
            format!("v{}", file.version)
        );
        versions.push(file.version);
        for Fixture { link, scenario } in file.links {
            let d = decode(&link);
            assert!(d.notes.is_empty(), "{link}: {:?}", d.notes);
            assert_eq!(d.version, file.version, "{link}");
            assert_eq!(d.scenario, scenario, "{link}");
            let again = decode(&encode(&d.scenario));
            assert!(again.notes.is_empty(), "{link}: {:?}", again.notes);
            assert_eq!(again.scenario, scenario, "{link}");
            n += 1;
        }
    }
    versions.sort();
    assert_eq!(
        versions,
        (1..=VERSION).collect::<Vec<_>>(),
        "a fixture file per version"
    );
    assert!(n >= 12, "only {n} fixture links");
}

/// A v1 link has no platform: it opens on the one v1 pages computed on, and a
/// platform key in it is not read (v1 pages ignored it too).
#[test]
fn v1_links_open_on_the_v1_platform() {
    let v1 = "v=1&ci=1&co=1&h=4&w=16&k=1&s=1&pd=0&dl=1&g=1&in=ramp&sx=0.007839367724955082&zx=0&pc=1&sw=0.003770669922232628&zw=0&wq=127&bias=0.0317&sy=0.004018464591354132&zy=0&relu=0&a=fbgemm&b=hand:px,pw,py,pb,bias-even,f64,even&ch=0&px=2,15&map=diff";
    let d = decode(v1);
    assert_eq!(d.notes, vec![]);
    assert_eq!(d.version, 1);
    assert_eq!(d.scenario, preset("forum").unwrap());
    let v1_platform = Platform {
        cpu: Cpu::Avx512Vnni,
        os: Os::Linux,
        emulated: false,
    };
    assert_eq!(d.scenario.platform, v1_platform);
    let d = decode(&format!("{v1}&cpu=avx2&os=other&emu=1"));
    assert_eq!(d.scenario.platform, v1_platform);
    let keys: Vec<&str> = d.notes.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(keys, ["cpu", "os", "emu"], "{:?}", d.notes);
    assert!(d.notes[0].message.contains("not a setting of version 1"));
    // The same keys in a v2 link are read.
    let v2 = v1.replacen("v=1&", "v=2&", 1) + "&cpu=avx2&os=other&emu=1&dx=quint8&dy=quint8";
    let d = decode(&v2);
    assert_eq!(d.notes, vec![]);
    assert_eq!(
        d.scenario.platform,
        Platform {
            cpu: Cpu::Avx2,
            os: Os::Other,
            emulated: true
        }
    );
    // A v2 link without them says so, and takes the forum case's platform.
    let d = decode(&v1.replacen("v=1&", "v=2&", 1));
    assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
    assert!(d.notes[0].message.contains("cpu, os, emu"), "{:?}", d.notes);
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
        ("v=1&zy=999".into(), "outside -128..=255"),
        (
            "v=2&zx=-5&dx=quint8".into(),
            "outside quint8 (0..=255); 0 used",
        ),
        (
            "v=2&zy=200&dy=qint8".into(),
            "outside qint8 (-128..=127); 127 used",
        ),
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
        (
            "v=2&cpu=pentium".into(),
            "not a CPU (avx2, avx512, avx512_vnni)",
        ),
        ("v=2&os=<b>beos</b>".into(), "not an OS (linux, other)"),
        ("v=2&emu=2".into(), "not 0 or 1"),
        ("v=2&map=heat".into(), "not a map"),
        ("v=1&cpu=avx2".into(), "not a setting of version 1"),
        ("v=0&sx=0.01".into(), "no version 0"),
        ("v=two&sx=0.01".into(), "not a version number"),
        ("sx=0.01".into(), "missing; read as the current version"),
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
    (any::<[bool; 7]>(), 0..4usize, any::<bool>(), any::<bool>()).prop_map(|(f, br, ar, rd)| {
        HandAssumptions {
            print_input_scale: f[0],
            print_weight_scale: f[1],
            print_output_scale: f[2],
            print_bias: f[3],
            ignore_zero_points: f[4],
            ignore_clamp: f[5],
            fixed_point: f[6],
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

/// Every engine of the table; the hand calculation with random assumptions.
fn computation() -> impl Strategy<Value = Computation> {
    (
        proptest::sample::select(ENGINES.iter().map(|r| r.id).collect::<Vec<_>>()),
        hand(),
    )
        .prop_map(|(id, h)| {
            let c = Computation::parse(id).unwrap();
            if c.is_hand() {
                Computation::hand(h)
            } else {
                c
            }
        })
}

fn platform() -> impl Strategy<Value = Platform> {
    (
        proptest::sample::select(Cpu::ALL.to_vec()),
        proptest::sample::select(Os::ALL.to_vec()),
        any::<bool>(),
    )
        .prop_map(|(cpu, os, emulated)| Platform { cpu, os, emulated })
}

fn map_kind() -> impl Strategy<Value = MapKind> {
    proptest::sample::select(vec![MapKind::Diff, MapKind::Tie, MapKind::Saturation])
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
                  a in computation(), b in computation(), platform in platform(), map in map_kind(), hide in proptest::sample::subsequence(GROUPS.iter().map(|g| g.0).collect::<Vec<_>>(), 0..3),
                  g in Just(g), cig in Just(cig), cog in Just(cog), h in Just(h), w in Just(w), k in Just(k), st in Just(st),
                  pd in Just(pd), dl in Just(dl), per_channel in Just(per_channel))
                 -> Scenario {
        let shape = ConvShape { batch: 1, in_channels: g * cig, out_channels: g * cog, height: h + 2 * dl, width: w + 2 * dl,
                                kernel: [k, k], stride: [st, st], padding: [pd, pd], padding_end: None, dilation: [dl, dl], groups: g };
        Scenario {
            shape,
            input: match codes { Some(codes) => InputSource::Codes { codes: codes.iter().copied().chain(std::iter::repeat(7)).take(shape.input_len()).collect() }, None => InputSource::Random { seed } },
            weights: wq,
            params: ConvQParams { input_scale: sx, input_zero_point: zx, weight_scales: ws, weight_zero_points: zw, per_channel, bias, output_scale: sy, output_zero_point: zy, relu, input_dtype: DType::QUInt8, output_dtype: DType::QUInt8, bias_i32: None, relu6: false, weight_dtype: DType::QInt8, depthwise_op: false },
            a, b,
            platform,
            view: View { channel: 0, pixel: Some((0, 0)), map, hide: hide.iter().map(|s| s.to_string()).collect(), ..View::default() },
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

/// A v2 link opens with the clamp marks on (v2 pages always drew them); a
/// v3 link carries the switch both ways, and `clamp` is not read in a v2 link.
#[test]
fn clamp_marks_switch_round_trips_and_v2_links_keep_the_marks() {
    let mut s = preset("clamping").unwrap();
    s.view.clamp_marks = false;
    let link = encode(&s);
    assert!(link.contains("&clamp=0"), "{link}");
    let d = decode(&link);
    assert_eq!(d.notes, vec![]);
    assert!(!d.scenario.view.clamp_marks);
    let v2 = link.replacen(&format!("v={VERSION}&"), "v=2&", 1);
    let v2_without = v2.replace("&clamp=0", "");
    let d = decode(&v2_without);
    assert_eq!(d.notes, vec![]);
    assert!(d.scenario.view.clamp_marks);
    let d = decode(&v2);
    assert!(d.scenario.view.clamp_marks);
    assert_eq!(d.notes.len(), 1);
    assert!(d.notes[0].message.contains("not a setting of version 2"));
}
