//! Fuzzing the link decoder: arbitrary text, and links built from real keys
//! with arbitrary values. The decoder must never panic, must always return a
//! case the engine computes within the page's bounds, and its encoding must be
//! a fixed point. `cargo test` runs a few hundred cases; `scripts/test fuzz`
//! runs a bounded long run (`PROPTEST_CASES`).
use proptest::prelude::*;
use qconv_lens::engine::{Cpu, Os, ENGINES};
use qconv_lens::link::{decode, encode, keys};

/// The keys of the link schema, `v`, and one no version has.
fn all_keys() -> Vec<&'static str> {
    std::iter::once("v")
        .chain(keys())
        .chain(std::iter::once("zz"))
        .collect()
}

/// The names the link's enumerations take, from their tables.
fn names() -> Vec<String> {
    let mut v: Vec<String> = ENGINES.iter().map(|r| r.id.to_string()).collect();
    v.extend(Cpu::ALL.iter().map(|c| c.id().to_string()));
    v.extend(Os::ALL.iter().map(|o| o.id().to_string()));
    v.extend(qconv_lens::schema::MAPS.iter().map(|m| m.0.to_string()));
    v.extend(qconv_lens::schema::GROUPS.iter().map(|g| g.0.to_string()));
    v.extend((0..=3).map(|n| n.to_string()));
    v
}

fn check(link: &str) -> Result<(), TestCaseError> {
    let d = decode(link);
    prop_assert!(d.scenario.check_limits().is_ok());
    prop_assert!(d.scenario.run().is_ok());
    let again = encode(&d.scenario);
    let d2 = decode(&again);
    prop_assert!(d2.notes.is_empty(), "{:?}", d2.notes);
    prop_assert_eq!(encode(&d2.scenario), again);
    Ok(())
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,12}",
        "-?[0-9]{0,3}\\.[0-9]{0,20}(e-?[0-9]{1,3})?",
        "0x[0-9a-f]{8,16}",
        "(NaN|inf|-inf|none|1|0|true|ramp|random:[0-9]{1,10}|gradient|constant:[0-9.e-]{1,8})",
        proptest::sample::select(names()),
        "hand:[a-z0-9,-]{0,40}",
        "(b|z)\\.[A-Za-z0-9_-]{0,200}",
        "codes:(b\\.|z\\.)?[A-Za-z0-9_,-]{0,300}",
        "[0-9x,]{0,30}",
        ".{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text(s in ".{0,400}") {
        check(&s)?;
    }

    #[test]
    fn arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&String::from_utf8_lossy(&b))?;
    }

    #[test]
    fn real_keys_with_arbitrary_values(pairs in proptest::collection::vec((proptest::sample::select(all_keys()), value()), 0..30)) {
        let link: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        check(&link.join("&"))?;
    }

    #[test]
    fn mutated_valid_links(cut in 0usize..300, byte in any::<u8>(), pos in 0usize..300) {
        let mut link = encode(&qconv_lens::scenario::preset("per-channel").unwrap()).into_bytes();
        let p = pos % link.len();
        link[p] = byte;
        link.truncate(link.len() - cut % link.len());
        check(&String::from_utf8_lossy(&link))?;
    }
}
