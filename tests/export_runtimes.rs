//! "Reproduce in ONNX Runtime / LiteRT" against the real runtimes: each script
//! is written, run with the Python of `QCONV_PYTHON` (default `python3`), and
//! the codes it prints for each engine (its `codes_prefix` line) are compared
//! with what the engine computes here. Skipped, saying why, when the Python
//! packages are not importable — unless `QCONV_REQUIRE_RUNTIMES=1` (CI,
//! `scripts/test`), where a missing package fails the test.
use qconv_lens::conv::ConvShape;
use qconv_lens::engine::{Computation, ConvQParams, Platform};
use qconv_lens::export::litert::litert_script;
use qconv_lens::export::onnxruntime::onnxruntime_script;
use qconv_lens::export::{codes_prefix, runtime_script, Runtime, RuntimeModel};
use qconv_lens::quant::DType;
use qconv_lens::scenario::{InputSource, Scenario, View};
use std::io::Write;
use std::process::{Command, Stdio};

const ORT: &[&str] = &[
    "onnxruntime-qlinearconv",
    "onnx-reference",
    "onnxruntime-qdq-fused",
    "onnxruntime-qdq-float",
];
const LITERT: &[&str] = &["tflite-reference", "tflite-optimized", "tflite-xnnpack"];

fn python() -> String {
    std::env::var("QCONV_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether the packages import; a missing one skips the test (fails it under
/// QCONV_REQUIRE_RUNTIMES=1).
fn available(test: &str, modules: &str) -> bool {
    let py = python();
    let out = Command::new(&py)
        .args(["-c", &format!("import {modules}")])
        .output();
    let why = match out {
        Ok(o) if o.status.success() => return true,
        Ok(o) => String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string(),
        Err(e) => format!("cannot run {py}: {e}"),
    };
    if std::env::var("QCONV_REQUIRE_RUNTIMES").as_deref() == Ok("1") {
        panic!("{test}: QCONV_REQUIRE_RUNTIMES=1 but `{py} -c 'import {modules}'` fails: {why}");
    }
    eprintln!("SKIPPED {test}: `{py} -c 'import {modules}'` fails ({why}); set QCONV_PYTHON to a Python with them");
    false
}

/// Runs a script; returns its stdout and exit status.
fn run_script(script: &str) -> (String, Option<i32>) {
    let mut child = Command::new(python())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() && !stdout.contains("codes:") {
        panic!(
            "the script failed:\n{}\n--- stderr ---\n{}\n--- script ---\n{script}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (stdout, out.status.code())
}

/// The codes the script printed for `engine`.
fn printed(stdout: &str, engine: &str) -> Vec<i64> {
    let prefix = codes_prefix(engine);
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{stdout}"));
    line[prefix.len()..]
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

fn check(name: &str, stdout: &str, engine: &str, want: &[i64]) {
    let got = printed(stdout, engine);
    assert_eq!(got.len(), want.len(), "{name} {engine}: number of codes");
    let differ: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
    assert!(
        differ.is_empty(),
        "{name} {engine}: the runtime differs from the engine at {} of {} codes, first at {:?}: runtime {:?} engine {:?}",
        differ.len(),
        got.len(),
        &differ[..differ.len().min(5)],
        differ.iter().take(5).map(|&i| got[i]).collect::<Vec<_>>(),
        differ.iter().take(5).map(|&i| want[i]).collect::<Vec<_>>()
    );
}

/// A small deterministic generator (the cases must not depend on a crate).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn scale(&mut self, lo: f64, hi: f64) -> f64 {
        let u = self.next() as f64 / (1u64 << 31) as f64;
        (lo.ln() + u * (hi.ln() - lo.ln())).exp() as f32 as f64
    }
}

/// One case: the geometry and dtypes; codes and scales are drawn.
#[derive(Clone, Copy)]
struct Spec {
    name: &'static str,
    x: DType,
    w: DType,
    per_channel: bool,
    /// (cin, cout, h, w, k, stride, dilation, groups)
    geo: (usize, usize, usize, usize, usize, usize, usize, usize),
    /// (top, left, bottom, right)
    pads: [usize; 4],
    bias: bool,
    relu: bool,
    relu6: bool,
    batch: usize,
    /// Power-of-two scales (exact .5 ties after the requantization).
    pow2: bool,
}

const BASE: Spec = Spec {
    name: "",
    x: DType::QUInt8,
    w: DType::QInt8,
    per_channel: false,
    geo: (3, 4, 7, 6, 3, 1, 1, 1),
    pads: [1, 1, 1, 1],
    bias: true,
    relu: false,
    relu6: false,
    batch: 1,
    pow2: false,
};

/// Exact accumulators `sum (x - zx)(w - zw)` (for choosing an output scale).
fn accumulators(m: &RuntimeModel) -> Vec<i64> {
    let s = &m.shape;
    let p = &m.params;
    let (oh, ow) = s.output_hw();
    let cin_g = s.in_channels / s.groups;
    let cout_g = s.out_channels / s.groups;
    let mut out = vec![];
    for n in 0..s.batch {
        for oc in 0..s.out_channels {
            let g = oc / cout_g;
            let zw = p.weight_zero_point(oc);
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0i64;
                    for ic in 0..cin_g {
                        let c = g * cin_g + ic;
                        for ky in 0..s.kernel[0] {
                            for kx in 0..s.kernel[1] {
                                let y = (oy * s.stride[0] + ky * s.dilation[0]) as i64
                                    - s.padding[0] as i64;
                                let x = (ox * s.stride[1] + kx * s.dilation[1]) as i64
                                    - s.padding[1] as i64;
                                if y < 0 || x < 0 || y >= s.height as i64 || x >= s.width as i64 {
                                    continue;
                                }
                                let xi = ((n * s.in_channels + c) * s.height + y as usize)
                                    * s.width
                                    + x as usize;
                                let wi = ((oc * cin_g + ic) * s.kernel[0] + ky) * s.kernel[1] + kx;
                                acc += (m.input[xi] - p.input_zero_point) * (m.weights[wi] - zw);
                            }
                        }
                    }
                    out.push(acc + p.bias_i32_of(oc) as i64);
                }
            }
        }
    }
    out
}

fn model(spec: &Spec, seed: u64) -> RuntimeModel {
    let mut r = Lcg(seed);
    let (cin, cout, h, w, k, stride, dilation, groups) = spec.geo;
    let [t, l, b, rr] = spec.pads;
    let shape = ConvShape {
        batch: spec.batch,
        in_channels: cin,
        out_channels: cout,
        height: h,
        width: w,
        kernel: [k, k],
        stride: [stride, stride],
        padding: [t, l],
        padding_end: if [b, rr] == [t, l] {
            None
        } else {
            Some([b, rr])
        },
        dilation: [dilation, dilation],
        groups,
    };
    let (xl, xh) = spec.x.range();
    let (wl, wh) = spec.w.range();
    let input: Vec<i64> = (0..shape.input_len()).map(|_| r.int(xl, xh)).collect();
    // Ties need small accumulators: power-of-two cases take weights near the zero point.
    let zw = match (spec.w, spec.x) {
        (DType::QUInt8, _) => r.int(100, 156),
        _ => 0,
    };
    let weights: Vec<i64> = (0..shape.weight_len())
        .map(|_| {
            if spec.pow2 {
                zw + [-3, -2, -1, 1, 2, 3][r.int(0, 5) as usize]
            } else {
                r.int(wl.max(-127), wh)
            }
        })
        .collect();
    let n = if spec.per_channel { cout } else { 1 };
    let (sx, sw): (f64, Vec<f64>) = if spec.pow2 {
        (
            2f64.powi(-(r.int(4, 8) as i32)),
            (0..n).map(|_| 2f64.powi(-(r.int(5, 9) as i32))).collect(),
        )
    } else {
        (
            r.scale(1e-3, 0.05),
            (0..n).map(|_| r.scale(1e-3, 0.02)).collect(),
        )
    };
    let bias = spec
        .bias
        .then(|| (0..cout).map(|_| r.int(-3000, 3000) as i32).collect());
    let mut m = RuntimeModel {
        shape,
        params: ConvQParams {
            input_scale: sx,
            input_zero_point: r.int(xl + 20, xh - 20),
            weight_scales: sw,
            weight_zero_points: vec![zw; n],
            per_channel: spec.per_channel,
            bias: None,
            output_scale: 1.0,
            output_zero_point: 0,
            relu: spec.relu || spec.relu6,
            input_dtype: spec.x,
            output_dtype: spec.x,
            bias_i32: bias,
            relu6: spec.relu6,
            weight_dtype: spec.w,
            depthwise_op: false,
        },
        input,
        weights,
        platform: Platform::default(),
        notes: vec![],
        output_offset: 0,
    };
    // Outputs spread over most of the range: scale from the largest |acc + bias|.
    let peak = accumulators(&m)
        .iter()
        .map(|v| v.abs())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (sx, sw0) = (m.params.input_scale, m.params.weight_scales[0]);
    m.params.output_scale = if spec.pow2 {
        sx * sw0 * 2f64.powi((peak / 100.0).log2().ceil().max(1.0) as i32)
    } else {
        (sx * sw0 * peak / r.int(60, 120) as f64) as f32 as f64
    };
    m.params.output_zero_point = if spec.relu || spec.relu6 {
        xl + r.int(0, 30)
    } else {
        (xl + xh + 1) / 2 + r.int(-20, 20)
    };
    if spec.relu6 {
        // 6 / y_scale exactly k + 1/2 in float32 (k even) with an even zero
        // point: the ReLU6 bound is a tie that XNNPACK rounds otherwise than
        // the TFLite kernels. The input scale moves with the output scale, so
        // the multiplier (and the spread of the outputs) stays.
        let k = 2 * r.int(20, 40);
        let mut sy = (6.0 / (k as f64 + 0.5)) as f32;
        for cand in [
            sy,
            f32::from_bits(sy.to_bits() + 1),
            f32::from_bits(sy.to_bits() - 1),
        ] {
            if 6.0f32 / cand == k as f32 + 0.5 {
                sy = cand;
                break;
            }
        }
        let f = sy as f64 / m.params.output_scale;
        m.params.input_scale = (m.params.input_scale * f) as f32 as f64;
        m.params.output_scale = sy as f64;
        m.params.output_zero_point = xl + 2 * r.int(0, 5);
    }
    m
}

fn comps(ids: &[&str]) -> Vec<Computation> {
    ids.iter()
        .map(|id| Computation::parse(id).unwrap())
        .collect()
}

/// Writes and runs the script of each spec for `engines`; every engine's
/// printed codes must equal the engine's.
fn run_specs(
    specs: &[Spec],
    engines: &[&str],
    write: fn(&RuntimeModel, &[Computation]) -> qconv_lens::error::Result<String>,
) {
    for (i, spec) in specs.iter().enumerate() {
        let m = model(spec, 1000 + i as u64);
        let script =
            write(&m, &comps(engines)).unwrap_or_else(|e| panic!("{}: no script: {e}", spec.name));
        let (stdout, status) = run_script(&script);
        for id in engines {
            let want = m.expected(Computation::parse(id).unwrap()).unwrap();
            check(spec.name, &stdout, id, &want);
            assert!(
                stdout.contains(&format!("{id}: AGREE")),
                "{}: the script's own comparison:\n{stdout}",
                spec.name
            );
        }
        assert_eq!(status, Some(0), "{}: exit status\n{stdout}", spec.name);
    }
}

fn ort_specs() -> Vec<Spec> {
    vec![
        Spec {
            name: "U8S8 per-tensor, padding 1, bias",
            ..BASE
        },
        Spec {
            name: "U8S8 per-channel, stride 2, dilation 2, asymmetric pads, no bias",
            per_channel: true,
            geo: (2, 3, 9, 8, 3, 2, 2, 1),
            pads: [2, 0, 1, 2],
            bias: false,
            ..BASE
        },
        Spec {
            name: "S8S8 per-channel, 2 groups, batch 2",
            x: DType::QInt8,
            per_channel: true,
            geo: (4, 6, 6, 5, 3, 1, 1, 2),
            batch: 2,
            ..BASE
        },
        Spec {
            name: "U8U8 per-tensor, depthwise with multiplier 2",
            w: DType::QUInt8,
            geo: (3, 6, 7, 7, 3, 1, 1, 3),
            ..BASE
        },
        Spec {
            name: "U8U8 per-channel 1x1, stride 2",
            w: DType::QUInt8,
            per_channel: true,
            geo: (5, 4, 6, 6, 1, 2, 1, 1),
            pads: [0; 4],
            ..BASE
        },
        Spec {
            name: "S8S8 depthwise per-tensor, power-of-two scales (ties)",
            x: DType::QInt8,
            geo: (4, 4, 8, 8, 1, 1, 1, 4),
            pads: [0; 4],
            pow2: true,
            ..BASE
        },
        Spec {
            name: "U8S8 per-channel, power-of-two scales (ties)",
            per_channel: true,
            geo: (1, 3, 16, 16, 1, 1, 1, 1),
            pads: [0; 4],
            pow2: true,
            ..BASE
        },
    ]
}

#[test]
fn onnxruntime_scripts_reproduce_the_engines() {
    if !available(
        "onnxruntime_scripts_reproduce_the_engines",
        "numpy, onnx, onnxruntime",
    ) {
        return;
    }
    run_specs(&ort_specs(), ORT, onnxruntime_script);
}

#[test]
fn onnxruntime_convinteger_int32_output() {
    if !available(
        "onnxruntime_convinteger_int32_output",
        "numpy, onnx, onnxruntime",
    ) {
        return;
    }
    // Every pair of dtypes ConvInteger has a kernel for, with zero points.
    for (i, (x, w)) in [
        (DType::QUInt8, DType::QInt8),
        (DType::QInt8, DType::QInt8),
        (DType::QUInt8, DType::QUInt8),
        (DType::QInt8, DType::QUInt8),
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = model(
            &Spec {
                name: "ConvInteger",
                x,
                w,
                bias: false,
                ..BASE
            },
            7 + i as u64,
        );
        m.params.output_dtype = DType::QInt32;
        m.params.output_scale = 1.0;
        m.params.output_zero_point = 0;
        let engines = &["onnxruntime-qlinearconv", "onnx-reference"];
        let script = onnxruntime_script(&m, &comps(engines)).unwrap();
        assert!(script.contains("ConvInteger"));
        let (stdout, status) = run_script(&script);
        for id in engines {
            let want = m.expected(Computation::parse(id).unwrap()).unwrap();
            assert_eq!(
                want,
                accumulators(&m),
                "the engine's int32 output is the sum"
            );
            check("ConvInteger", &stdout, id, &want);
        }
        assert_eq!(status, Some(0), "{stdout}");
    }
}

fn litert_specs() -> Vec<Spec> {
    let int8 = Spec {
        x: DType::QInt8,
        per_channel: true,
        ..BASE
    };
    vec![
        Spec {
            name: "Conv2D per-channel, SAME 3x3, ReLU",
            relu: true,
            ..int8
        },
        Spec {
            name: "Conv2D per-tensor, VALID, stride 2, dilation 2, ReLU6, no bias",
            per_channel: false,
            geo: (3, 5, 11, 10, 3, 2, 2, 1),
            pads: [0; 4],
            relu6: true,
            bias: false,
            ..int8
        },
        Spec {
            name: "Conv2D SAME with stride 2 (asymmetric pads), batch 2",
            geo: (2, 3, 8, 7, 3, 2, 1, 1),
            pads: [0, 1, 1, 1],
            batch: 2,
            ..int8
        },
        Spec {
            name: "DepthwiseConv2D 12 channels (a block of 8 and a tail), SAME, ReLU6",
            geo: (12, 12, 6, 6, 3, 1, 1, 12),
            relu6: true,
            ..int8
        },
        Spec {
            name: "DepthwiseConv2D multiplier 2, stride 2, VALID",
            geo: (3, 6, 9, 9, 3, 2, 1, 3),
            pads: [0; 4],
            ..int8
        },
        Spec {
            name: "Conv2D 1x1, power-of-two scales (ties)",
            geo: (1, 3, 16, 16, 1, 1, 1, 1),
            pads: [0; 4],
            pow2: true,
            ..int8
        },
        Spec {
            name: "DepthwiseConv2D 10 channels, power-of-two scales (ties)",
            per_channel: false,
            geo: (10, 10, 6, 6, 1, 1, 1, 10),
            pads: [0; 4],
            pow2: true,
            ..int8
        },
    ]
}

#[test]
fn litert_scripts_reproduce_the_engines() {
    if !available(
        "litert_scripts_reproduce_the_engines",
        "numpy, flatbuffers, ai_edge_litert.interpreter, ai_edge_litert.schema_py_generated",
    ) {
        return;
    }
    run_specs(&litert_specs(), LITERT, litert_script);
}

/// A scenario as the page holds it: A and B runtime engines, the input a generator.
fn scenario(a: &str, b: &str, x: DType) -> Scenario {
    let m = model(
        &Spec {
            x,
            per_channel: true,
            relu: false,
            ..BASE
        },
        42,
    );
    // The generator's floats are in 0..1: an input scale that spreads them
    // over the codes, the output scale moved with it.
    let mut params = m.params;
    let sx = (1.0f64 / 250.0) as f32 as f64;
    params.output_scale = (params.output_scale * sx / params.input_scale) as f32 as f64;
    params.input_scale = sx;
    Scenario {
        shape: m.shape,
        input: InputSource::Random { seed: 3 },
        weights: m.weights.iter().map(|&v| v as i8).collect(),
        params,
        a: Computation::parse(a).unwrap(),
        b: Computation::parse(b).unwrap(),
        platform: Platform::default(),
        view: View::default(),
    }
}

#[test]
fn scenario_scripts_match_the_page_engines() {
    let cases = [
        (
            "onnxruntime-qdq-fused",
            "onnxruntime-qdq-float",
            DType::QUInt8,
            Runtime::OnnxRuntime,
            "numpy, onnx, onnxruntime",
        ),
        (
            "tflite-reference",
            "tflite-xnnpack",
            DType::QInt8,
            Runtime::LiteRt,
            "numpy, flatbuffers, ai_edge_litert.interpreter",
        ),
        (
            "fbgemm",
            "onnxruntime-qlinearconv",
            DType::QUInt8,
            Runtime::OnnxRuntime,
            "numpy, onnx, onnxruntime",
        ),
        (
            "fbgemm",
            "tflite-reference",
            DType::QUInt8,
            Runtime::LiteRt,
            "numpy, flatbuffers, ai_edge_litert.interpreter",
        ),
    ];
    for (a, b, x, rt, modules) in cases {
        if !available("scenario_scripts_match_the_page_engines", modules) {
            continue;
        }
        let mut sc = scenario(a, b, x);
        if a == "fbgemm" {
            // PyTorch's side keeps a float bias; the runtime's side has none.
            sc.params.bias = Some(vec![0.25; sc.shape.out_channels]);
            sc.params.bias_i32 = None;
        }
        let run = sc.run().unwrap();
        let script = runtime_script(&sc, rt).unwrap();
        let (stdout, status) = run_script(&script);
        let out = |v: &[i32]| v.iter().map(|&c| c as i64).collect::<Vec<_>>();
        // Only the engines of the runtime run; PyTorch's side is not in the script.
        for (id, codes) in [(a, &run.out_a), (b, &run.out_b)] {
            if Runtime::of(Computation::parse(id).unwrap()) == Some(rt) {
                // A uint8 scenario runs in LiteRT as the int8 model: its codes + 128.
                let off = if x == DType::QUInt8 && rt == Runtime::LiteRt {
                    128
                } else {
                    0
                };
                let shown: Vec<i64> = out(codes).iter().map(|v| v - off).collect();
                check(id, &stdout, id, &shown);
            } else {
                assert!(!stdout.contains(&codes_prefix(id)), "{id} is not run");
            }
        }
        assert_eq!(status, Some(0));
    }
}

#[test]
fn a_differing_runtime_is_reported_with_positions() {
    if !available(
        "a_differing_runtime_is_reported_with_positions",
        "numpy, onnx",
    ) {
        return;
    }
    let m = model(&BASE, 5);
    let c = comps(&["onnx-reference"]);
    let want = m.expected(c[0]).unwrap();
    let script = onnxruntime_script(&m, &c).unwrap();
    // Change one expected code: the script must say where and exit 1.
    let line = format!("    \"onnx-reference\": [{}, ", want[0]);
    assert!(script.contains(&line), "expected codes in the script");
    let tampered = script.replacen(
        &line,
        &format!("    \"onnx-reference\": [{}, ", want[0] + 1),
        1,
    );
    let (stdout, status) = run_script(&tampered);
    assert_eq!(status, Some(1), "{stdout}");
    assert!(stdout.contains("onnx-reference: DIFFER - 1 of"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "(0, 0, 0, 0): onnx.reference {}, qconv-lens {}",
            want[0],
            want[0] + 1
        )),
        "{stdout}"
    );
}

#[test]
fn refusals_say_why_instead_of_writing_a_script() {
    // Neither A nor B is an engine of the runtime.
    let sc = scenario("tflite-reference", "tflite-xnnpack", DType::QInt8);
    let e = runtime_script(&sc, Runtime::OnnxRuntime)
        .unwrap_err()
        .to_string();
    assert!(e.contains("neither A") && e.contains("ONNX Runtime"), "{e}");
    // ONNX has no fused activation: every ONNX engine refuses.
    let mut m = model(&BASE, 9);
    m.params.relu = true;
    let e = onnxruntime_script(&m, &comps(ORT)).unwrap_err().to_string();
    assert!(e.contains("no fused activation"), "{e}");
    // LiteRT pads SAME or VALID only.
    let m = model(
        &Spec {
            x: DType::QInt8,
            pads: [2, 0, 0, 1],
            ..BASE
        },
        9,
    );
    let e = litert_script(&m, &comps(LITERT)).unwrap_err().to_string();
    assert!(e.contains("SAME or VALID"), "{e}");
    // Weights with a zero point: LiteRT's int8 kernels refuse them.
    let mut m = model(
        &Spec {
            x: DType::QInt8,
            ..BASE
        },
        9,
    );
    m.params.weight_zero_points = vec![3];
    let e = litert_script(&m, &comps(LITERT)).unwrap_err().to_string();
    assert!(e.contains("zero point 0"), "{e}");
    // ONNX Runtime has no QLinearConv for int8 activations with uint8 weights
    // (its session fails with NOT_IMPLEMENTED); the reference evaluator computes it.
    let m = model(
        &Spec {
            x: DType::QInt8,
            w: DType::QUInt8,
            ..BASE
        },
        9,
    );
    let e = onnxruntime_script(&m, &comps(&["onnxruntime-qlinearconv"]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no QLinearConv kernel for int8 activations with uint8 weights"),
        "{e}"
    );
    assert!(onnxruntime_script(&m, &comps(&["onnx-reference"])).is_ok());
    // One engine refuses, the other runs: the script says which and why.
    let mut m = model(&BASE, 9);
    m.params.output_dtype = DType::QInt32;
    m.params.bias_i32 = None;
    let s = onnxruntime_script(
        &m,
        &comps(&["onnxruntime-qlinearconv", "onnxruntime-qdq-float"]),
    )
    .unwrap();
    assert!(
        s.contains("# Not run: onnxruntime-qdq-float refuses this model"),
        "{s}"
    );
    assert!(!s.contains("\"onnxruntime-qdq-float\":"));
}

#[test]
fn cli_export_picks_the_runtime_of_a_or_b() {
    let bin = env!("CARGO_BIN_EXE_qconv-lens");
    let run = |args: &[&str]| {
        let o = Command::new(bin).arg("export").args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    // B is an ONNX Runtime engine: its script by default.
    let (code, out, _) = run(&["--preset", "per-channel", "--b", "onnxruntime-qdq-float"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("helper.make_node(\"QuantizeLinear\"")
            && out.contains("\"onnxruntime-qdq-float\": ["),
        "{out}"
    );
    // Asked for explicitly, PyTorch's script.
    let (code, out, _) = run(&[
        "--preset",
        "per-channel",
        "--b",
        "onnxruntime-qdq-float",
        "--runtime",
        "pytorch",
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("import torch"), "{out}");
    // A runtime neither A nor B belongs to: the reason, exit 2.
    let (code, out, err) = run(&["--preset", "forum", "--runtime", "litert"]);
    assert_eq!(code, Some(2));
    assert!(
        out.is_empty() && err.contains("neither A") && err.contains("LiteRT"),
        "{err}"
    );
    let (code, _, err) = run(&["--runtime", "caffe"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown runtime"), "{err}");
}
