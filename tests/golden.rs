//! Every golden case from real PyTorch, bit for bit: the shared files and the
//! extra seeds committed under tests/golden-extra/.
use qconv_lens::golden::{verify_file, Kind};
use std::path::PathBuf;

fn files(name: &str) -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut v = vec![root.join("../shared/golden").join(name)];
    if let Ok(rd) = std::fs::read_dir(root.join("tests/golden-extra")) {
        let mut extra: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path().join(name))
            .filter(|p| p.exists())
            .collect();
        extra.sort();
        v.extend(extra);
    }
    v
}

fn check(name: &str, kind: Kind, min_cases: usize) {
    let mut total = 0;
    let mut failures = vec![];
    for f in files(name) {
        let (k, outcomes) = verify_file(&f).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k, kind, "{}", f.display());
        total += outcomes.len();
        for o in outcomes {
            if let Some(m) = o.failure {
                failures.push(format!("{} {}: {m}", f.display(), o.id));
            }
        }
    }
    assert!(total >= min_cases, "only {total} {name} cases found");
    assert!(
        failures.is_empty(),
        "{} of {total} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn conv_cases() {
    check("conv.json", Kind::Conv, 350);
}

#[test]
fn quantize_cases() {
    check("quantize.json", Kind::Quantize, 48);
}

#[test]
fn observer_cases() {
    check("observer.json", Kind::Observer, 33);
}

#[test]
fn module_cases() {
    check("module.json", Kind::Module, 10);
}

/// Wave 2 (torch 2.15.0): the x86 engine and oneDNN, fbgemm forced to AVX2 and
/// AVX512 (int16 pair saturation in the GEMM kernels), qnnpack biases past
/// int32, quantize quirks. Exact counts: a file that shrinks is a failure too.
#[test]
fn wave2_x86_and_onednn() {
    check("wave2/x86.json", Kind::Conv, 200);
}

#[test]
fn wave2_fbgemm_avx2() {
    check("wave2/avx2.json", Kind::Conv, 160);
}

#[test]
fn wave2_fbgemm_avx512() {
    check("wave2/avx512.json", Kind::Conv, 60);
}

#[test]
fn wave2_qnnpack_overflow() {
    check("wave2/qnnpack-overflow.json", Kind::Conv, 40);
}

#[test]
fn wave2_quantize_quirks() {
    check("wave2/quantize-quirks.json", Kind::Quantize, 60);
}

/// Wave 2 module2 (torch 2.15.0): the whole eager flow of a general Conv2d under
/// explicit qconfigs, each stage checked on its own (src/golden/module2.rs).
/// Exactly 80 cases in the shared file.
#[test]
fn wave2_module2() {
    let shared =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden/wave2/module2.json");
    let (k, outcomes) = verify_file(&shared).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(k, Kind::Module2);
    assert_eq!(
        outcomes.len(),
        80,
        "module2.json must hold exactly 80 cases"
    );
    let report =
        qconv_lens::golden::module2_report(&std::fs::read_to_string(&shared).unwrap()).unwrap();
    assert_eq!(report.cases, 80);
    for (stage, passed, failed) in &report.stages {
        assert_eq!((*passed, *failed), (80, 0), "stage {stage}:\n{report}");
    }
    check("wave2/module2.json", Kind::Module2, 80);
}

/// Runtime goldens (`qconv` kind, RUNTIMES.md): every result of every case,
/// bit for bit. Outcomes are one per result (case × engine); exact counts.
fn check_exact(name: &str, cases: usize, results: usize) {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/golden")
        .join(name);
    let text = std::fs::read_to_string(&f).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["cases"].as_array().unwrap().len(), cases, "{name} cases");
    let (k, outcomes) = verify_file(&f).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(k, Kind::QConv);
    assert_eq!(outcomes.len(), results, "{name} results");
    let failures: Vec<String> = outcomes
        .into_iter()
        .filter_map(|o| o.failure.map(|m| format!("{}: {m}", o.id)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn runtimes_onnxruntime_qlinearconv() {
    check_exact("runtimes/onnxruntime-qlinearconv.json", 150, 300);
}

#[test]
fn runtimes_onnxruntime_qdq() {
    check_exact("runtimes/onnxruntime-qdq.json", 150, 300);
}

#[test]
fn runtimes_tflite() {
    check_exact("runtimes/tflite.json", 150, 450);
}

/// The onnx package's node tests; ORT's refusal of the per-channel
/// ConvInteger counts as a pass only because the engine refuses it too.
#[test]
fn runtimes_onnx_node_tests() {
    check_exact("runtimes/onnx-node-tests.json", 3, 9);
}
