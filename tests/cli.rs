//! The native binary: verify's report and exit codes, explain's output.
use std::process::Command;

fn qconv(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qconv-lens"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn golden(name: &str) -> String {
    format!("{}/../shared/golden/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("qconv-lens-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn verify_passes_the_shared_golden_files() {
    let files: Vec<String> = ["conv.json", "quantize.json", "observer.json", "module.json"]
        .iter()
        .map(|f| golden(f))
        .collect();
    let args: Vec<&str> = std::iter::once("verify")
        .chain(files.iter().map(String::as_str))
        .collect();
    let (code, out, err) = qconv(&args);
    assert_eq!(
        out.lines().last(),
        Some("441 passed, 0 failed"),
        "{out}{err}"
    );
    assert_eq!(code, 0);
}

#[test]
fn verify_reports_a_failing_case_and_exits_1() {
    // The forum-like tie case with one output code changed.
    let text = std::fs::read_to_string(golden("conv.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = v["cases"].as_array_mut().unwrap();
    cases.truncate(2);
    let q = cases[1]["output"]["q"].as_array_mut().unwrap();
    let old = q[3].as_i64().unwrap();
    q[3] = serde_json::json!(if old == 255 { 254 } else { old + 1 });
    let id = cases[1]["id"].as_str().unwrap().to_string();
    let f = tmp("broken.json", &v.to_string());
    let (code, out, _) = qconv(&["verify", &f]);
    assert_eq!(code, 1, "{out}");
    let line = out.lines().find(|l| l.starts_with("FAIL")).unwrap();
    assert!(line.contains(&id) && line.contains("element 3"), "{line}");
    assert!(line.contains(&format!("got {old}")), "{line}");
    assert_eq!(out.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn verify_missing_or_malformed_files_exit_2() {
    let (code, _, err) = qconv(&["verify", "/nonexistent/golden.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/golden.json"), "{err}");
    for (name, text) in [
        ("garbage.json", "not json {"),
        ("empty.json", r#"{"cases": []}"#),
        ("odd.json", r#"{"cases": [{"hello": 1}]}"#),
    ] {
        let (code, _, err) = qconv(&["verify", &tmp(name, text)]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, _, _) = qconv(&["verify"]);
    assert_eq!(code, 2);
}

#[test]
fn explain_forum_pixel() {
    let (code, out, err) = qconv(&["explain", "--preset", "forum", "--pixel", "2,15"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("fbgemm gives 30, hand gives 31"), "{out}");
    assert!(out.contains("30.514379999999996"), "{out}");
    assert!(
        out.contains("cause [printed_scale]: the output scale was shortened"),
        "{out}"
    );
    assert!(out.contains("> they part at"), "{out}");
}

#[test]
fn explain_bad_arguments_are_clear() {
    let (code, _, err) = qconv(&["explain", "--pixel", "9,99"]);
    assert_eq!(code, 2);
    assert!(err.contains("outside"), "{err}");
    let (code, _, err) = qconv(&["explain", "--preset", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown preset"), "{err}");
    let (code, _, err) = qconv(&["explain", "--a", "tflite"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown computation"), "{err}");
}

#[test]
fn links_drive_explain_and_compare() {
    let (code, link, _) = qconv(&["link", "--preset", "bias"]);
    assert_eq!(code, 0);
    let link = link.trim();
    let current = format!("#v={}&", qconv_lens::link::VERSION);
    assert!(link.starts_with(&current), "{link}");
    let url = format!("https://example.org/qconv-lens/{link}");
    let (code, a, _) = qconv(&["compare", "--link", &url]);
    let (_, b, _) = qconv(&["compare", "--preset", "bias"]);
    assert_eq!(code, 0);
    assert_eq!(a, b);
    // The forum link carries its selected pixel (2,15).
    let (_, forum, _) = qconv(&["link", "--preset", "forum"]);
    let (code, out, _) = qconv(&["explain", "--link", forum.trim()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("pixel channel 0, row 2, col 15")
            && out.contains("fbgemm gives 30, hand gives 31"),
        "{out}"
    );
    let (code, out, err) = qconv(&["explain", "--link", "#v=1&sy=NaN&zz=1", "--pixel", "2,15"]);
    assert_eq!(code, 0);
    assert!(
        err.contains("link: sy:") && err.contains("link: zz: is not a setting"),
        "{err}"
    );
    assert!(out.contains("fbgemm gives 30"), "{out}");
}

#[test]
fn verify_passes_the_wave2_files() {
    let files: Vec<String> = [
        "wave2/x86.json",
        "wave2/avx2.json",
        "wave2/avx512.json",
        "wave2/qnnpack-overflow.json",
        "wave2/quantize-quirks.json",
    ]
    .iter()
    .map(|f| golden(f))
    .collect();
    let args: Vec<&str> = std::iter::once("verify")
        .chain(files.iter().map(String::as_str))
        .collect();
    let (code, out, err) = qconv(&args);
    assert_eq!(
        out.lines().last(),
        Some("520 passed, 0 failed"),
        "{out}{err}"
    );
    assert_eq!(code, 0);
}

#[test]
fn explain_names_the_saturating_pair() {
    let (code, out, err) = qconv(&["explain", "--preset", "avx2-saturation"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("kernel A: fbgemm im2col kernel on AVX2"),
        "{out}"
    );
    assert!(
        out.contains("211 · 71 (input channel 0 at kernel (0, 0)) + 171 · 107 (input channel 1 at kernel (0, 0)) = 33278, past int16's 32767: kept as 32767"),
        "{out}"
    );
    assert!(out.contains("cause [int16_saturation]"), "{out}");
    // On a VNNI CPU the same case has nothing to explain.
    let (_, out, _) = qconv(&[
        "explain",
        "--preset",
        "avx2-saturation",
        "--cpu",
        "avx512_vnni",
    ]);
    assert!(!out.contains("int16_saturation"), "{out}");
    let (code, _, err) = qconv(&["explain", "--cpu", "sse2"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown cpu \"sse2\" (avx2, avx512, avx512_vnni)"),
        "{err}"
    );
}

#[test]
fn ort_u8s8_saturation_on_avx2_is_labelled_modelled() {
    let args = [
        "--preset",
        "avx2-saturation",
        "--a",
        "onnxruntime-qlinearconv",
        "--b",
        "onnx-reference",
        "--cpu",
        "avx2",
    ];
    let explain: Vec<&str> = ["explain"].iter().chain(&args).copied().collect();
    let (code, out, err) = qconv(&explain);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cause [int16_saturation]"), "{out}");
    assert!(out.contains("modelled, not verified on this CPU"), "{out}");
    let compare: Vec<&str> = ["compare"].iter().chain(&args).copied().collect();
    let (code, out, err) = qconv(&compare);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("kernel A: ONNX Runtime MLAS, U8S8"), "{out}");
    assert!(out.contains("modelled, not verified on this CPU"), "{out}");
    assert!(!out.contains(" 0 of "), "{out}");
}

#[test]
fn export_takes_a_link_and_labels_pytorchs_numbers() {
    // The ties preset as a link, with A switched to qnnpack in the link itself.
    let (code, link, _) = qconv(&["link", "--preset", "ties", "--a", "qnnpack"]);
    assert_eq!(code, 0);
    let (code, from_link, err) = qconv(&["export", "--link", link.trim()]);
    assert_eq!(code, 0, "{err}");
    let (_, from_preset, _) = qconv(&["export", "--preset", "ties", "--a", "qnnpack"]);
    assert_eq!(from_link, from_preset);
    assert!(from_link.contains("torch.backends.quantized.engine = \"qnnpack\""));
    // PyTorch's numbers are labelled as PyTorch's; qconv-lens's are the expected ones.
    assert!(
        from_link.contains("print(\"PyTorch output codes:\", *codes)"),
        "{from_link}"
    );
    assert!(from_link.contains("expected = ["));
    assert!(!from_link.contains("\"qconv-lens codes:\""));
    let (code, _, err) = qconv(&["export", "--link", "#v=2&bogus"]);
    assert_eq!(
        code, 0,
        "a broken link still opens, saying what it used: {err}"
    );
    assert!(err.contains("link"), "{err}");
    let (code, _, err) = qconv(&["export", "--nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown option"), "{err}");
}

#[test]
fn import_help_prints_its_usage() {
    for flag in ["--help", "-h"] {
        let (code, out, _) = qconv(&["import", flag]);
        assert_eq!(code, 0);
        assert!(out.starts_with("usage: qconv-lens import FILE|-"), "{out}");
        assert!(out.contains("--json"));
    }
}

/// Across runtimes the CLI lists what the export path changed; within one
/// runtime it lists nothing.
#[test]
fn explain_lists_the_conversions_across_runtimes() {
    let (code, out, err) = qconv(&["explain", "--preset", "pytorch-vs-onnxruntime"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Across runtimes"), "{out}");
    assert!(out.contains("bias[0]: "), "{out}");
    assert!(out.contains("-> 1072 (from 1072.9"), "{out}");
    assert!(out.contains("requantize_bias_helper"), "{out}");
    let (code, out, err) = qconv(&["compare", "--preset", "microcontroller"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("input zero point: 0 -> -128"), "{out}");
    assert!(out.contains("SymmetricBiasQuantize"), "{out}");
    let (_, out, _) = qconv(&["explain", "--preset", "forum"]);
    assert!(!out.contains("Across runtimes"), "{out}");
}
