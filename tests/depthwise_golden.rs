//! fbgemm's depthwise kernel against real PyTorch, bit for bit: every fbgemm case
//! of tests/golden-extra/depthwise/conv.json that runs on the depthwise kernel,
//! through `fbgemm_depthwise_accumulate` and the ordinary fbgemm requantization;
//! the file's other cases (near misses that take the GEMM path) through the
//! ordinary engine. Extra files (e.g. the shared generator's DEPTHWISE=1 output)
//! can be checked too:
//! QCONV_DEPTHWISE_GOLDEN=/path/a/conv.json:/path/b/conv.json cargo test --test depthwise_golden
use qconv_lens::conv::{ConvShape, IntConv};
use qconv_lens::depthwise::{fbgemm_depthwise_accumulate, fbgemm_uses_depthwise};
use qconv_lens::engine::{Computation, Requant};
use qconv_lens::golden::ConvCase;
use std::path::PathBuf;

#[derive(Default, Debug)]
struct Tally {
    depthwise: usize,
    /// Depthwise cases whose exact accumulation gives other output codes.
    saturating: usize,
    /// Cases not on the depthwise kernel (qnnpack, or a GEMM-path shape).
    other: usize,
    failures: Vec<String>,
}

/// Exact `sum (qx - zx) * (qw - zw)`: the engine's own accumulation.
fn exact_depthwise(s: &ConvShape, x: &[i64], zx: i64, w: &[i64], zw: &[i64]) -> Vec<i32> {
    let x: Vec<u8> = x.iter().map(|&v| v as u8).collect();
    let w: Vec<i8> = w.iter().map(|&v| v as i8).collect();
    IntConv {
        shape: s,
        input: qconv_lens::conv::Codes::QUInt8(&x),
        input_zero_point: zx,
        weight: &w,
        weight_zero_points: zw,
    }
    .accumulate()
    .expect("a valid conv")
}

fn requantize(case: &ConvCase, acc: &[i32]) -> qconv_lens::Result<Vec<i64>> {
    let shape = case.shape()?;
    let p = case.qparams()?;
    let rq = Requant::new(Computation::FBGEMM, &p, &shape, &Default::default())?;
    let (oh, ow) = shape.output_hw();
    let mut out = vec![Default::default(); acc.len()];
    for (i, (a, o)) in acc.chunks(oh * ow).zip(out.chunks_mut(oh * ow)).enumerate() {
        rq.plane(i % shape.out_channels, a, o);
    }
    // (Widened so this test does not depend on the code type `plane` writes.)
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    Ok(out.into_iter().map(|v| v as i64).collect())
}

#[allow(clippy::unnecessary_cast)]
fn check_case(case: &ConvCase, t: &mut Tally) -> qconv_lens::Result<()> {
    let shape = case.shape()?;
    let p = case.qparams()?;
    if case.engine != "fbgemm" || !fbgemm_uses_depthwise(&shape, p.per_channel) {
        // Not the depthwise kernel: the ordinary engine must reproduce it.
        t.other += 1;
        if let Some(m) = case.verify().failure {
            t.failures.push(format!("{} (not depthwise): {m}", case.id));
        }
        return Ok(());
    }
    t.depthwise += 1;
    // (The casts keep this test independent of the golden code types.)
    let expected: Vec<i64> = case.output.q.iter().map(|&v| v as i64).collect();
    let x: Vec<i64> = case.input.q.iter().map(|&v| v as i64).collect();
    let w: Vec<i64> = case.weight.q.iter().map(|&v| v as i64).collect();
    let zx = case.input.zero_point as i64;
    let zw: Vec<i64> = p.weight_zero_points.iter().map(|&v| v as i64).collect();
    let acc = fbgemm_depthwise_accumulate(&shape, &x, zx, &w, &zw)?;
    let got = requantize(case, &acc)?;
    if got != expected {
        let bad: Vec<usize> = (0..got.len().min(expected.len()))
            .filter(|&i| got[i] != expected[i])
            .collect();
        t.failures.push(format!(
            "{}: {} of {} codes differ (first at {:?}: expected {:?}, got {:?})",
            case.id,
            bad.len(),
            got.len(),
            bad.first(),
            bad.first().map(|&i| expected[i]),
            bad.first().map(|&i| got[i]),
        ));
    }
    if requantize(case, &exact_depthwise(&shape, &x, zx, &w, &zw))? != expected {
        t.saturating += 1;
    }
    Ok(())
}

fn check_file(path: &PathBuf) -> Tally {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut t = Tally::default();
    for c in file["cases"].as_array().expect("cases") {
        let case: ConvCase = serde_json::from_value(c.clone()).expect("a conv case");
        if let Err(e) = check_case(&case, &mut t) {
            t.failures.push(format!("{}: engine error {e}", case.id));
        }
    }
    t
}

#[test]
fn depthwise_kernel_matches_pytorch() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden-extra/depthwise/conv.json");
    let t = check_file(&path);
    eprintln!(
        "{}: {} depthwise ({} saturating), {} other",
        path.display(),
        t.depthwise,
        t.saturating,
        t.other
    );
    assert!(
        t.failures.is_empty(),
        "{} failures:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
    assert!(t.depthwise >= 200, "only {} depthwise cases", t.depthwise);
    // The file must tell the saturating kernel from the exact sum.
    assert!(t.saturating >= 100, "only {} cases saturate", t.saturating);
    assert!(t.other >= 40, "only {} GEMM-path near misses", t.other);
}

#[test]
fn extra_files_from_the_environment() {
    let Ok(list) = std::env::var("QCONV_DEPTHWISE_GOLDEN") else {
        return;
    };
    for f in list.split(':').filter(|s| !s.is_empty()) {
        let t = check_file(&PathBuf::from(f));
        eprintln!(
            "{f}: {} depthwise ({} saturating), {} other",
            t.depthwise, t.saturating, t.other
        );
        assert!(
            t.failures.is_empty(),
            "{f}: {} failures:\n{}",
            t.failures.len(),
            t.failures.join("\n")
        );
    }
}
