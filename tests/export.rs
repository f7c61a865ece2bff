//! "Reproduce in PyTorch": the script text for golden scenarios, and — when
//! `python3 -c 'import torch'` works — the scripts run under real PyTorch,
//! their printed integers compared with the engine (presets, conv.json cases of
//! both engines, per-channel and per-tensor, ReLU; the calibration variant for
//! module.json cases). Without torch the run part says so on stderr and only
//! the text checks run.
use qconv_lens::engine::{Computation, HandAssumptions};
use qconv_lens::export::{py_float, pytorch_calibration_script, pytorch_script, CODES_PREFIX};
use qconv_lens::flow::forum_model;
use qconv_lens::golden::ConvCase;
use qconv_lens::scenario::{preset, InputSource, Scenario, View, PRESETS};
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn golden(name: &str) -> serde_json::Value {
    let t = std::fs::read_to_string(root().join("../shared/golden").join(name)).unwrap();
    serde_json::from_str(&t).unwrap()
}

fn conv_cases() -> Vec<ConvCase> {
    golden("conv.json")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| serde_json::from_value(c.clone()).unwrap())
        .collect()
}

fn scenario_of(c: &ConvCase) -> Scenario {
    Scenario {
        shape: c.shape().unwrap(),
        input: InputSource::Codes {
            codes: c.input.q.iter().map(|&v| v as u8).collect(),
        },
        weights: c.weight.q.iter().map(|&v| v as i8).collect(),
        params: c.qparams().unwrap(),
        a: Computation::parse(&c.engine).unwrap(),
        b: Computation::hand(HandAssumptions::default()),
        platform: Default::default(),
        view: View::default(),
    }
}

/// A handful of conv.json cases covering both engines, both weight schemes,
/// ReLU, no bias, batch 2, groups.
fn picked_cases() -> Vec<ConvCase> {
    let all = conv_cases();
    let mut picked: Vec<ConvCase> = vec![];
    let wants: [&dyn Fn(&ConvCase) -> bool; 8] = [
        &|c| c.engine == "fbgemm" && c.weight.axis.is_some() && c.bias.is_some(),
        &|c| c.engine == "fbgemm" && c.weight.axis.is_none() && c.bias.is_some(),
        &|c| c.engine == "qnnpack" && c.weight.axis.is_some(),
        &|c| c.engine == "qnnpack" && c.weight.axis.is_none(),
        &|c| c.relu && c.engine == "fbgemm",
        &|c| c.relu && c.engine == "qnnpack",
        &|c| c.bias.is_none(),
        &|c| c.input.shape[0] > 1 && c.groups > 1,
    ];
    for want in wants {
        if let Some(c) = all
            .iter()
            .find(|c| want(c) && !picked.iter().any(|p| p.id == c.id))
        {
            picked.push(c.clone());
        }
    }
    assert!(picked.len() >= 7, "{}", picked.len());
    picked
}

// ------------------------------------------------------------------ text

#[test]
fn forum_script_text() {
    let s = pytorch_script(&preset("forum").unwrap()).unwrap();
    for line in [
        "torch.backends.quantized.engine = \"fbgemm\"",
        "qx = torch._make_per_tensor_quantized_tensor(x_codes, 0.007839367724955082, 0)",
        "w_scales = torch.tensor([0.003770669922232628], dtype=torch.float64)",
        "qw = torch._make_per_channel_quantized_tensor(w_codes, w_scales, w_zero_points, 0)",
        "bias = torch.tensor([0.031700000166893005], dtype=torch.float32)",
        "conv = nnq.Conv2d(1, 1, (1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, bias=True)",
        "conv.set_weight_bias(qw, bias)",
        "conv.scale = 0.004018464591354132",
        "conv.zero_point = 0",
        "print(y.int_repr())",
        "x_codes = x_codes.reshape(1, 1, 4, 16)",
    ] {
        assert!(s.lines().any(|l| l == line), "missing {line:?} in\n{s}");
    }
    // The ramp generator's codes are written out, and the comment says why.
    assert!(s.contains("the \"ramp\" generator"), "{s}");
    assert!(
        s.contains("x_codes = torch.tensor([0, 1, 1, 2, 2, 3,"),
        "{s}"
    );
    assert!(s.contains(CODES_PREFIX));
}

#[test]
fn golden_case_script_text() {
    for c in picked_cases() {
        let sc = scenario_of(&c);
        let s = pytorch_script(&sc).unwrap();
        assert!(s.contains(&format!(
            "torch.backends.quantized.engine = \"{}\"",
            c.engine
        )));
        let module = if c.relu {
            "nniq.ConvReLU2d("
        } else {
            "nnq.Conv2d("
        };
        assert!(
            s.contains(&format!("conv = {module}{}, ", c.input.shape[1])),
            "{}",
            c.id
        );
        assert!(s.contains(&format!("groups={}", c.groups)));
        assert!(s.contains(&format!(
            "bias={}",
            if c.bias.is_some() { "True" } else { "False" }
        )));
        assert!(s.contains(&format!("conv.scale = {:?}", c.output.scale)));
        assert!(s.contains(&format!(
            "qx = torch._make_per_tensor_quantized_tensor(x_codes, {:?}, {})",
            c.input.scale, c.input.zero_point
        )));
        if c.weight.axis.is_some() {
            assert!(s.contains("_make_per_channel_quantized_tensor"));
        } else {
            assert!(s.contains(&format!(
                "qw = torch._make_per_tensor_quantized_tensor(w_codes, {:?}, {})",
                c.weight.scales[0], c.weight.zero_points[0]
            )));
        }
        // Codes given as codes: no generator comment.
        assert!(!s.contains("generator"));
    }
    // Computation A that PyTorch does not have: fbgemm, and the script says so.
    let mut sc = preset("forum").unwrap();
    sc.a = Computation::FLOAT;
    let s = pytorch_script(&sc).unwrap();
    assert!(s.contains("engine = \"fbgemm\"") && s.contains("float reference"));
}

#[test]
fn float_literals_round_trip() {
    let vals = [
        0.007839367724955082,
        0.003770669922232628,
        1e-5,
        1.2345678901234567e-10,
        0.1,
        1.0,
        2f64.powi(-20),
        123456789.125,
        0.0317f32 as f64,
        f64::MIN_POSITIVE,
        5e-324,
        1.7976931348623157e308,
    ];
    for v in vals {
        let s = py_float(v).unwrap();
        assert_eq!(s.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{s}");
    }
    assert!(py_float(f64::NAN).is_err());
    if !python_ok("") {
        eprintln!("python3 not found: Python's float() reading of the literals is not checked");
        return;
    }
    // Python reads each literal back to the same float64, and its repr has the
    // same shortest digits.
    let lits: Vec<String> = vals.iter().map(|&v| py_float(v).unwrap()).collect();
    let code = format!(
        "import struct\nfor s in {:?}:\n    print(struct.unpack('<Q', struct.pack('<d', float(s)))[0], repr(float(s)))",
        lits
    );
    let out = run_python(&code).unwrap();
    for (line, v) in out.lines().zip(vals) {
        let (bits, repr) = line.split_once(' ').unwrap();
        assert_eq!(bits.parse::<u64>().unwrap(), v.to_bits(), "{line}");
        assert_eq!(repr.parse::<f64>().unwrap().to_bits(), v.to_bits());
    }
}

// ------------------------------------------------------------------ torch runs

fn python_ok(module: &str) -> bool {
    let code = if module.is_empty() {
        "pass".to_string()
    } else {
        format!("import {module}")
    };
    Command::new("python3")
        .args(["-c", &code])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn have_torch() -> bool {
    let ok = python_ok("torch");
    if !ok {
        eprintln!("torch is not importable (python3 -c 'import torch' failed): only the script text is checked, the PyTorch runs are SKIPPED");
    }
    ok
}

fn run_python(code: &str) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("qconv-lens-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let f = dir.join(format!("s{n}.py"));
    std::fs::write(&f, code).unwrap();
    let out = Command::new("python3")
        .arg(&f)
        .output()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&f);
    if !out.status.success() {
        return Err(format!(
            "python failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            code.lines().take(40).collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn printed_list<T: std::str::FromStr>(out: &str, prefix: &str) -> Vec<T>
where
    T::Err: std::fmt::Debug,
{
    let line = out
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in\n{out}"));
    line[prefix.len()..]
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

/// Run several scripts at once (each imports torch: seconds).
fn run_all(scripts: Vec<(String, String)>) -> Vec<(String, Result<String, String>)> {
    let handles: Vec<_> = scripts
        .into_iter()
        .map(|(id, s)| std::thread::spawn(move || (id, run_python(&s))))
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn scripts_run_in_pytorch_and_agree_with_the_engine() {
    if !have_torch() {
        return;
    }
    let mut jobs = vec![];
    let mut want = std::collections::HashMap::new();
    for (id, _) in PRESETS {
        let sc = preset(id).unwrap();
        let mut m = sc.clone();
        // The script runs A's PyTorch engine, or fbgemm for other computations.
        if m.a.row().pytorch_engine.is_none() {
            m.a = Computation::FBGEMM;
        }
        want.insert(format!("preset {id}"), m.run().unwrap().out_a);
        jobs.push((format!("preset {id}"), pytorch_script(&sc).unwrap()));
    }
    for c in picked_cases() {
        let sc = scenario_of(&c);
        let engine = sc.run().unwrap().out_a;
        let golden: Vec<i32> = c.output.q.iter().map(|&v| v as i32).collect();
        assert_eq!(engine, golden, "{}: engine vs golden", c.id);
        want.insert(format!("case {}", c.id), golden);
        jobs.push((format!("case {}", c.id), pytorch_script(&sc).unwrap()));
    }
    let n = jobs.len();
    let mut failures = vec![];
    for (id, r) in run_all(jobs) {
        match r {
            Err(e) => failures.push(format!("{id}: {e}")),
            Ok(out) => {
                let got: Vec<i32> = printed_list(&out, CODES_PREFIX);
                if got != want[&id] {
                    failures.push(format!("{id}: PyTorch printed different codes"));
                }
                if !out.contains("qconv-lens agrees: True (0 of") {
                    failures.push(format!("{id}: the script's own check failed:\n{out}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("ran {n} scripts under PyTorch: all agree with the engine");
}

#[test]
fn forum_script_prints_the_forum_output_tensor() {
    if !have_torch() {
        return;
    }
    let out = run_python(&pytorch_script(&preset("forum").unwrap()).unwrap()).unwrap();
    // The forum post's printout, modulo PyTorch's column alignment.
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let forum = "tensor([[[[ 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 13, 13, 14, 14, 15],
[15, 16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22, 22, 23],
[23, 24, 24, 25, 25, 26, 26, 27, 27, 28, 28, 28, 28, 29, 29, 30],
[30, 31, 31, 32, 32, 33, 33, 34, 34, 35, 35, 36, 36, 37, 37, 38]]]],
dtype=torch.uint8)";
    assert!(squash(&out).contains(&squash(forum)), "{out}");
}

#[test]
fn calibration_scripts_match_the_eager_flow() {
    let cases = golden("module.json")["cases"].as_array().unwrap().clone();
    let f32s = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let mut jobs = vec![];
    let mut want = vec![];
    for c in cases.iter().take(4) {
        let shape: Vec<usize> = c["calibration"]["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let engine = Computation::parse(c["engine"].as_str().unwrap()).unwrap();
        let model = forum_model(
            &shape,
            c["float_weight"].as_f64().unwrap() as f32,
            c["float_bias"].as_f64().unwrap() as f32,
            c["reduce_range"].as_bool().unwrap(),
            engine,
        )
        .unwrap();
        let cal = f32s(&c["calibration"]["x"]);
        let x = f32s(&c["input"]["x"]);
        let s = pytorch_calibration_script(&model, std::slice::from_ref(&cal), &x).unwrap();
        // Text: the qconfig of the forum post and the flow's steps.
        assert!(s.contains("activation=obs.HistogramObserver.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_affine"));
        assert!(s.contains("weight=obs.PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric, reduce_range=False)"));
        assert!(s.contains("torch.ao.quantization.prepare(m, inplace=True)"));
        assert!(s.contains("torch.ao.quantization.convert(m, inplace=True)"));
        assert!(s.contains("print(m)"));
        assert!(s.contains(&format!("engine = {:?}", c["engine"].as_str().unwrap())));
        let conv = model.calibrate(&[cal]).unwrap();
        let mut sc = conv.scenario(&model, InputSource::Codes { codes: vec![] }, engine);
        let xq = qconv_lens::quant::quantize_per_tensor(
            &x,
            conv.params.input_scale,
            conv.params.input_zero_point,
            qconv_lens::quant::DType::QUInt8,
        )
        .unwrap();
        sc.input = InputSource::Codes {
            codes: xq.iter().map(|&v| v as u8).collect(),
        };
        let out = sc.run().unwrap().out_a;
        // The engine agrees with the golden file first.
        let golden_out: Vec<i32> = c["output_q"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() as i32)
            .collect();
        assert_eq!(out, golden_out, "{}", c["id"]);
        want.push((
            c["id"].as_str().unwrap().to_string(),
            conv,
            sc,
            out,
            c["printed"].as_str().unwrap().to_string(),
        ));
        jobs.push((c["id"].as_str().unwrap().to_string(), s));
    }
    if !have_torch() {
        return;
    }
    let results = run_all(jobs);
    for ((id, r), (_, conv, sc, out, printed)) in results.into_iter().zip(want) {
        let text = r.unwrap_or_else(|e| panic!("{id}: {e}"));
        let iq: Vec<String> = printed_list(&text, "PyTorch input qparams:");
        assert_eq!(
            iq[0].parse::<f64>().unwrap(),
            conv.params.input_scale,
            "{id}"
        );
        assert_eq!(iq[1].parse::<i64>().unwrap(), conv.params.input_zero_point);
        let xq: Vec<u8> = printed_list(&text, "PyTorch input codes:");
        assert_eq!(InputSource::Codes { codes: xq }, sc.input, "{id}");
        let ws: Vec<f64> = printed_list(&text, "PyTorch weight scales:");
        assert_eq!(ws, conv.params.weight_scales, "{id}");
        let wq: Vec<i8> = printed_list(&text, "PyTorch weight codes:");
        assert_eq!(wq, conv.weight_q, "{id}");
        let oq: Vec<String> = printed_list(&text, "PyTorch output qparams:");
        let sy = oq[0].parse::<f64>().unwrap();
        assert_eq!(oq[1].parse::<i64>().unwrap(), conv.params.output_zero_point);
        let codes: Vec<i32> = printed_list(&text, "PyTorch output codes:");
        for k in [
            "input qparams",
            "weight scales",
            "weight zero points",
            "weight codes",
            "input codes",
        ] {
            assert!(
                text.contains(&format!("qconv-lens {k}: agree")),
                "{id}: {k}\n{text}"
            );
        }
        let conv_line = printed
            .lines()
            .find(|l| l.contains("QuantizedConv2d"))
            .unwrap()
            .trim();
        if sy == conv.params.output_scale {
            assert_eq!(codes, out, "{id}: output codes");
            // print(m) shows the module repr; the conv line is the golden one.
            assert!(text.contains(conv_line), "{id}: {conv_line}\n{text}");
        } else {
            // Known machine difference (tests/golden-extra/README.md): this
            // machine's float CPU conv rounds x*w + b twice where the reference
            // machine fused it, which can move the HistogramObserver's output
            // scale by one float32 ulp. Then the codes must still be the
            // engine's for PyTorch's scale.
            let (a, b) = (sy as f32, conv.params.output_scale as f32);
            assert_eq!(
                (a.to_bits() as i64 - b.to_bits() as i64).abs(),
                1,
                "{id}: output scale {sy} vs {}",
                conv.params.output_scale
            );
            eprintln!("{id}: PyTorch on this machine gives output scale {sy}, the reference machine {} (one float32 ulp; known float-conv FMA difference)", conv.params.output_scale);
            let mut sc2 = sc.clone();
            sc2.params.output_scale = sy;
            assert_eq!(
                codes,
                sc2.run().unwrap().out_a,
                "{id}: output codes with PyTorch's scale"
            );
            let prefix = &conv_line[..conv_line.find("scale=").unwrap()];
            assert!(text.contains(prefix), "{id}");
        }
    }
    eprintln!("ran the calibration scripts under PyTorch: codes, scales and reprs agree");
}

#[test]
fn cli_export() {
    let out = Command::new(env!("CARGO_BIN_EXE_qconv-lens"))
        .args(["export", "--preset", "per-channel"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert_eq!(s, pytorch_script(&preset("per-channel").unwrap()).unwrap());
    assert!(s.contains("_make_per_channel_quantized_tensor"));
    let out = Command::new(env!("CARGO_BIN_EXE_qconv-lens"))
        .args(["export", "--preset", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown preset"));
}

// ------------------------------------------------------------------ x86 default qconfig

/// A multi-channel 3x3 float conv under `get_default_qconfig('x86')`.
fn x86_model(relu: bool, seed: u32) -> qconv_lens::flow::FloatConv {
    use qconv_lens::conv::ConvShape;
    let shape = ConvShape {
        batch: 1,
        in_channels: 3,
        out_channels: 4,
        height: 8,
        width: 8,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        padding_end: None,
        dilation: [1, 1],
        groups: 1,
    };
    let (activation, weight_observer) = qconv_lens::flow::default_qconfig("x86").unwrap();
    // Weights of a few sizes per channel, centred on zero.
    let noise = InputSource::Random { seed }
        .floats(&ConvShape {
            in_channels: 1,
            height: 1,
            width: shape.weight_len(),
            ..shape
        })
        .unwrap();
    let weight = noise
        .iter()
        .enumerate()
        .map(|(i, v)| (v - 0.5) * (0.2 + 0.15 * (i / 27) as f32))
        .collect();
    qconv_lens::flow::FloatConv {
        shape,
        weight,
        bias: Some(vec![0.05, -0.02, 0.0, 0.1]),
        activation,
        weight_observer,
        engine: Computation::X86,
        relu,
        qconfig: Some("x86".into()),
    }
}

#[test]
fn x86_default_qconfig_flow_follows_the_golden_stages() {
    // module2-1-39 (x86 default qconfig, 7 channels, 4x4, groups 7, three
    // batches of the input's shape): every stage through FloatConv::calibrate.
    let cases = golden("wave2/module2.json")["cases"]
        .as_array()
        .unwrap()
        .clone();
    let c = cases.iter().find(|c| c["id"] == "module2-1-39").unwrap();
    let f64s = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let f32s = |v: &serde_json::Value| -> Vec<f32> { f64s(v).iter().map(|&x| x as f32).collect() };
    let cv = &c["conv"];
    let u = |v: &serde_json::Value| v.as_u64().unwrap() as usize;
    let pair = |v: &serde_json::Value| [u(&v[0]), u(&v[1])];
    let ishape: Vec<usize> = c["input"]["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(u)
        .collect();
    let (activation, weight_observer) = qconv_lens::flow::default_qconfig("x86").unwrap();
    let model = qconv_lens::flow::FloatConv {
        shape: qconv_lens::conv::ConvShape {
            batch: ishape[0],
            in_channels: u(&cv["in_channels"]),
            out_channels: u(&cv["out_channels"]),
            height: ishape[2],
            width: ishape[3],
            kernel: pair(&cv["kernel_size"]),
            stride: pair(&cv["stride"]),
            padding: pair(&cv["padding"]),
            padding_end: None,
            dilation: pair(&cv["dilation"]),
            groups: u(&cv["groups"]),
        },
        weight: f32s(&c["float_weight"]),
        bias: c["float_bias"].as_array().map(|_| f32s(&c["float_bias"])),
        activation,
        weight_observer,
        engine: Computation::X86,
        relu: c["relu"].as_bool().unwrap(),
        qconfig: Some("x86".into()),
    };
    let batches: Vec<Vec<f32>> = c["calibration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| f32s(&b["x"]))
        .collect();
    let conv = model.calibrate(&batches).unwrap();
    assert_eq!(conv.params.input_scale, c["input_scale"].as_f64().unwrap());
    assert_eq!(
        conv.params.input_zero_point,
        c["input_zero_point"].as_i64().unwrap()
    );
    assert_eq!(conv.params.weight_scales, f64s(&c["weight_scales"]));
    let wq: Vec<i8> = c["weight_q"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i8)
        .collect();
    assert_eq!(conv.weight_q, wq);
    assert_eq!(conv.weight.scales.len(), 7);
    // The output observer saw our float conv, not PyTorch's: equal here
    // when the float outputs are (the module2 report counts how often).
    let script = pytorch_calibration_script(&model, &batches, &f32s(&c["input"]["x"])).unwrap();
    assert!(
        script.contains("m.qconfig = torch.ao.quantization.get_default_qconfig(\"x86\")"),
        "{script}"
    );
    assert!(script.contains("torch.backends.quantized.engine = \"x86\""));
}

#[test]
fn x86_calibration_scripts_run_in_pytorch() {
    let mut jobs = vec![];
    for (i, relu) in [false, true].into_iter().enumerate() {
        let model = x86_model(relu, 3 + i as u32);
        let s = model.shape;
        let batches: Vec<Vec<f32>> = (0..3)
            .map(|k| InputSource::Random { seed: 10 + k }.floats(&s).unwrap())
            .collect();
        let x = InputSource::Gradient.floats(&s).unwrap();
        let script = pytorch_calibration_script(&model, &batches, &x).unwrap();
        assert_eq!(
            script.contains("fuse_modules(m, [[\"conv1\", \"relu\"]]"),
            relu
        );
        assert!(script.contains("get_default_qconfig(\"x86\")"));
        // The flow itself: per-channel symmetric weights, 7-bit activations.
        let conv = model.calibrate(&batches).unwrap();
        assert_eq!(conv.weight.scales.len(), 4);
        assert!(conv.params.weight_zero_points.iter().all(|&z| z == 0));
        assert_eq!(conv.input.qmax, 127);
        assert_eq!(conv.params.relu, relu);
        jobs.push((format!("x86 relu={relu}"), script));
    }
    // A custom qconfig with every argument spelled out is written as QConfig(...).
    let mut m = x86_model(false, 9);
    m.qconfig = None;
    m.activation.quant_min = Some(0);
    m.activation.quant_max = Some(100);
    let s = m.shape;
    let batches = vec![InputSource::Random { seed: 5 }.floats(&s).unwrap()];
    let script = pytorch_calibration_script(&m, &batches, &batches[0]).unwrap();
    assert!(script.contains("quant_min=0, quant_max=100"), "{script}");
    jobs.push(("custom quant range".into(), script));
    if !have_torch() {
        return;
    }
    for (id, r) in run_all(jobs) {
        let text = r.unwrap_or_else(|e| panic!("{id}: {e}"));
        for k in [
            "input qparams",
            "weight scales",
            "weight zero points",
            "weight codes",
            "input codes",
        ] {
            assert!(
                text.contains(&format!("qconv-lens {k}: agree")),
                "{id}: {k}\n{text}"
            );
        }
        if text.contains("qconv-lens output qparams: agree") {
            assert!(
                text.contains("qconv-lens output codes: agree"),
                "{id}\n{text}"
            );
        } else {
            eprintln!("{id}: output qparams differ (PyTorch's float conv summation order)");
        }
    }
}
