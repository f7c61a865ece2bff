//! "Reproduce in PyTorch": a scenario as a self-contained Python script.
//!
//! [`pytorch_script`] builds the quantized conv directly from codes and
//! parameters (`_make_per_tensor_quantized_tensor`, `nnq.Conv2d` /
//! `nniq.ConvReLU2d`, `set_weight_bias`), runs it and prints the output codes:
//! as PyTorch prints them, and on one line prefixed `PyTorch output codes:` for
//! machine comparison, followed by whether they agree with what this engine
//! computed. [`pytorch_calibration_script`] writes the eager flow instead:
//! float model, qconfig, prepare, calibrate, convert.
//!
//! Floats are written with Rust's shortest round-trip formatting (`{:?}`),
//! which Python's `float()` reads back to the identical float64 (the digits are
//! those of Python's `repr`; only the exponent style may differ, e.g. `1e-5`
//! for `1e-05`). Float32 values (bias, float weights, inputs) are written as the
//! float64 of their exact value, so `torch.tensor(..., dtype=torch.float32)`
//! gets the same bits.
use crate::engine::Computation;
use crate::error::{Error, Result};
use crate::flow::FloatConv;
use crate::observe::{ObserverConfig, ObserverKind};
use crate::scenario::Scenario;
use std::fmt::Write;

pub mod litert;
pub mod onnxruntime;
pub mod runtime_model;

pub use runtime_model::{codes_prefix, RuntimeModel};

/// Prefix of the flat output line the scripts print.
pub const CODES_PREFIX: &str = "PyTorch output codes:";

/// The runtimes a scenario can be reproduced in besides PyTorch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    OnnxRuntime,
    LiteRt,
}

impl Runtime {
    pub const ALL: [Runtime; 2] = [Runtime::OnnxRuntime, Runtime::LiteRt];

    /// `onnxruntime` or `litert` (the CLI's `--runtime`, the page's choice).
    pub fn id(self) -> &'static str {
        match self {
            Runtime::OnnxRuntime => "onnxruntime",
            Runtime::LiteRt => "litert",
        }
    }
    pub fn parse(s: &str) -> Result<Runtime> {
        match s {
            "onnxruntime" | "onnx" | "ort" => Ok(Runtime::OnnxRuntime),
            "litert" | "tflite" => Ok(Runtime::LiteRt),
            _ => Err(Error::Input(format!(
                "unknown runtime {s:?} (pytorch, onnxruntime, litert)"
            ))),
        }
    }
    pub fn family(self) -> crate::engine::Family {
        match self {
            Runtime::OnnxRuntime => crate::engine::Family::OnnxRuntime,
            Runtime::LiteRt => crate::engine::Family::LiteRt,
        }
    }
    /// The runtime an engine belongs to, if it is not PyTorch's or a formula.
    pub fn of(c: Computation) -> Option<Runtime> {
        Runtime::ALL
            .into_iter()
            .find(|r| r.family() == c.row().family)
    }
}

/// "Reproduce in ONNX Runtime / LiteRT": a script that builds the scenario's
/// model for `rt` and runs it as each of A and B that is an engine of `rt`,
/// comparing the runtime's codes with the engine's. Refuses, saying why, when
/// neither is, or when the runtime refuses the model.
pub fn runtime_script(sc: &Scenario, rt: Runtime) -> Result<String> {
    let engines: Vec<Computation> = [sc.a, sc.b]
        .into_iter()
        .filter(|&c| Runtime::of(c) == Some(rt))
        .collect();
    let Some(&first) = engines.first() else {
        return Err(Error::Input(format!(
            "neither A ({}) nor B ({}) is a {} engine: choose one as A or B to reproduce it",
            sc.a.title(),
            sc.b.title(),
            rt.family().title()
        )));
    };
    let model = RuntimeModel::from_scenario(sc, first)?;
    // The script must reproduce what the page shows: the model's codes are
    // the engine's on the scenario as computed (a side whose parameters were
    // changed on the way, e.g. converted from another runtime's, would not be).
    if let Ok(run) = sc.run() {
        for (c, shown) in [(sc.a, &run.out_a), (sc.b, &run.out_b)] {
            if Runtime::of(c) != Some(rt) {
                continue;
            }
            if let Ok(e) = model.expected(c) {
                if !e
                    .iter()
                    .map(|v| v + model.output_offset)
                    .eq(shown.iter().map(|&v| i64::from(v)))
                {
                    return Err(Error::Input(format!(
                        "the {} here runs on parameters the export does not write (converted from the other side's runtime?): no script, rather than one that disagrees with the page",
                        c.title()
                    )));
                }
            }
        }
    }
    match rt {
        Runtime::OnnxRuntime => onnxruntime::onnxruntime_script(&model, &engines),
        Runtime::LiteRt => litert::litert_script(&model, &engines),
    }
}

/// A float64 as Python reads it back exactly.
pub fn py_float(v: f64) -> Result<String> {
    if !v.is_finite() {
        return Err(Error::BadValue(format!(
            "{v} cannot be written as a Python float literal"
        )));
    }
    Ok(format!("{v:?}"))
}

pub(crate) fn py_floats(v: impl IntoIterator<Item = f64>) -> Result<String> {
    let parts: Vec<String> = v.into_iter().map(py_float).collect::<Result<_>>()?;
    Ok(wrap(&parts))
}

pub(crate) fn py_ints<T: std::fmt::Display>(v: &[T]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    wrap(&parts)
}

/// `[a, b, ...]`, wrapped at about 100 columns.
pub(crate) fn wrap(parts: &[String]) -> String {
    let mut s = String::from("[");
    let mut col = 1;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            s.push(',');
            if col + p.len() + 2 > 100 {
                s.push_str("\n    ");
                col = 4;
            } else {
                s.push(' ');
                col += 2;
            }
        }
        s.push_str(p);
        col += p.len();
    }
    s.push(']');
    s
}

pub(crate) fn pair(p: [usize; 2]) -> String {
    format!("({}, {})", p[0], p[1])
}

/// The PyTorch engine that runs computation `c` (its table row says), or
/// fbgemm with a note when `c` is not a PyTorch engine.
fn engine_of(c: Computation) -> (&'static str, Option<String>) {
    match c.row().pytorch_engine {
        Some(e) => (e, None),
        None => (
            "fbgemm",
            Some(format!(
                "computation A is the {}, which PyTorch does not have: fbgemm (x86) is used",
                c.title()
            )),
        ),
    }
}

/// A self-contained PyTorch script that builds the scenario's conv from its
/// codes and parameters, runs it, and prints the output codes.
pub fn pytorch_script(sc: &Scenario) -> Result<String> {
    sc.validate()?;
    let s = &sc.shape;
    let p = &sc.params;
    let (engine, why) = engine_of(sc.a);
    let codes = sc.input.codes(s, p.input_scale, p.input_zero_point)?;
    // What this engine computes, for the script's own check.
    let mut model = sc.clone();
    model.a = Computation::parse(engine)?;
    model.input = crate::scenario::InputSource::Codes {
        codes: codes.clone(),
    };
    let expected = model.run()?.out_a;
    let (oh, ow) = s.output_hw();

    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(
        w,
        "# Reproduce a qconv-lens scenario in PyTorch (written by qconv-lens)."
    );
    let _ = writeln!(
        w,
        "# Runs on CPU with torch >= 1.13 (tested with 2.5.1 and 2.15.0). Prints the conv's output codes"
    );
    let _ = writeln!(
        w,
        "# as PyTorch prints them, then on one line for comparison, then whether they"
    );
    let _ = writeln!(
        w,
        "# agree with qconv-lens's bit-exact model of the {engine} engine."
    );
    let cpu = sc.platform.cpu;
    if cpu != crate::engine::Cpu::Avx512Vnni && matches!(engine, "fbgemm" | "x86") {
        // fbgemm reads this when its kernels are first chosen, after import.
        let isa = if cpu == crate::engine::Cpu::Avx2 {
            "AVX2"
        } else {
            "AVX512"
        };
        let _ = writeln!(
            w,
            "# The scenario's CPU is {}: on a newer CPU fbgemm takes those kernels only when told.",
            cpu.title()
        );
        let _ = writeln!(w, "import os");
        let _ = writeln!(
            w,
            "os.environ.setdefault(\"FBGEMM_ENABLE_INSTRUCTIONS\", \"{isa}\")"
        );
    }
    let _ = writeln!(w, "import torch");
    let _ = writeln!(w, "import torch.ao.nn.quantized as nnq");
    let _ = writeln!(w, "import torch.ao.nn.intrinsic.quantized as nniq");
    let _ = writeln!(w);
    if let Some(why) = why {
        let _ = writeln!(w, "# {why}.");
    }
    let _ = writeln!(w, "torch.backends.quantized.engine = {engine:?}");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "# Input: quint8 codes, NCHW {}x{}x{}x{}, scale {}, zero point {}.",
        s.batch,
        s.in_channels,
        s.height,
        s.width,
        py_float(p.input_scale)?,
        p.input_zero_point
    );
    if let Some(floats) = sc.input.floats(s) {
        let _ = writeln!(
            w,
            "# The scenario's input is the {:?} generator: qconv-lens quantized its {} float32 values",
            sc.input.name(),
            floats.len()
        );
        let _ = writeln!(
            w,
            "# with the input scale and zero point (as QuantStub would). The codes are what the conv"
        );
        let _ = writeln!(w, "# sees, so they are written out here.");
    }
    let _ = writeln!(
        w,
        "x_codes = torch.tensor({}, dtype=torch.uint8)",
        py_ints(&codes)
    );
    let _ = writeln!(
        w,
        "x_codes = x_codes.reshape({}, {}, {}, {})",
        s.batch, s.in_channels, s.height, s.width
    );
    let _ = writeln!(
        w,
        "qx = torch._make_per_tensor_quantized_tensor(x_codes, {}, {})",
        py_float(p.input_scale)?,
        p.input_zero_point
    );
    let _ = writeln!(w);
    let cin_g = s.in_channels / s.groups;
    let _ = writeln!(
        w,
        "# Weight: qint8 codes, OIHW {}x{}x{}x{}, {}.",
        s.out_channels,
        cin_g,
        s.kernel[0],
        s.kernel[1],
        if p.per_channel {
            "per-channel (axis 0)"
        } else {
            "per-tensor"
        }
    );
    let _ = writeln!(
        w,
        "w_codes = torch.tensor({}, dtype=torch.int8)",
        py_ints(&sc.weights)
    );
    let _ = writeln!(
        w,
        "w_codes = w_codes.reshape({}, {}, {}, {})",
        s.out_channels, cin_g, s.kernel[0], s.kernel[1]
    );
    if p.per_channel {
        let _ = writeln!(
            w,
            "w_scales = torch.tensor({}, dtype=torch.float64)",
            py_floats(p.weight_scales.iter().copied())?
        );
        let _ = writeln!(
            w,
            "w_zero_points = torch.tensor({}, dtype=torch.int64)",
            py_ints(&p.weight_zero_points)
        );
        let _ = writeln!(
            w,
            "qw = torch._make_per_channel_quantized_tensor(w_codes, w_scales, w_zero_points, 0)"
        );
    } else {
        let _ = writeln!(
            w,
            "qw = torch._make_per_tensor_quantized_tensor(w_codes, {}, {})",
            py_float(p.weight_scales[0])?,
            p.weight_zero_points[0]
        );
    }
    match &p.bias {
        Some(b) => {
            let _ = writeln!(w, "# Bias: float32 (each value written exactly).");
            let _ = writeln!(
                w,
                "bias = torch.tensor({}, dtype=torch.float32)",
                py_floats(b.iter().map(|&v| v as f64))?
            );
        }
        None => {
            let _ = writeln!(w, "bias = None");
        }
    }
    let _ = writeln!(w);
    let module = if p.relu {
        "nniq.ConvReLU2d"
    } else {
        "nnq.Conv2d"
    };
    let _ = writeln!(
        w,
        "conv = {module}({}, {}, {}, stride={}, padding={}, dilation={}, groups={}, bias={})",
        s.in_channels,
        s.out_channels,
        pair(s.kernel),
        pair(s.stride),
        pair(s.padding),
        pair(s.dilation),
        s.groups,
        if p.bias.is_some() { "True" } else { "False" }
    );
    let _ = writeln!(w, "conv.set_weight_bias(qw, bias)");
    let _ = writeln!(w, "conv.scale = {}", py_float(p.output_scale)?);
    let _ = writeln!(w, "conv.zero_point = {}", p.output_zero_point);
    let _ = writeln!(w);
    let _ = writeln!(w, "y = conv(qx)");
    let _ = writeln!(w, "print(y.int_repr())");
    let _ = writeln!(w, "codes = y.int_repr().flatten().tolist()");
    let _ = writeln!(w, "print({CODES_PREFIX:?}, *codes)");
    let _ = writeln!(
        w,
        "# qconv-lens's {engine} output, NCHW {}x{}x{oh}x{ow}:",
        s.batch, s.out_channels
    );
    let _ = writeln!(w, "expected = {}", py_ints(&expected));
    let _ = writeln!(
        w,
        "differ = [i for i, (a, b) in enumerate(zip(codes, expected)) if a != b]"
    );
    let _ = writeln!(
        w,
        "print(\"qconv-lens agrees:\", not differ and len(codes) == len(expected), f\"({{len(differ)}} of {{len(expected)}} differ)\")"
    );
    Ok(o)
}

fn observer_py(c: &ObserverConfig) -> String {
    let mut args = format!(
        "dtype=torch.{}, qscheme=torch.{}, reduce_range={}",
        c.dtype.name(),
        c.qscheme.name(),
        if c.reduce_range { "True" } else { "False" }
    );
    match c.kind {
        ObserverKind::MovingAverageMinMax | ObserverKind::MovingAveragePerChannelMinMax => {
            let _ = write!(
                args,
                ", averaging_constant={:?}",
                c.averaging_constant as f64
            );
        }
        ObserverKind::Histogram if c.bins != 2048 => {
            let _ = write!(args, ", bins={}", c.bins);
        }
        _ => {}
    }
    if c.kind.is_per_channel() && c.ch_axis != 0 {
        let _ = write!(args, ", ch_axis={}", c.ch_axis);
    }
    if let (Some(lo), Some(hi)) = (c.quant_min, c.quant_max) {
        let _ = write!(args, ", quant_min={lo}, quant_max={hi}");
    }
    if c.eps != crate::observe::eps() {
        let _ = write!(args, ", eps={:?}", c.eps as f64);
    }
    format!("obs.{}.with_args({args})", c.kind.class_name())
}

/// The eager flow as a script: the float model with its qconfig (by name when
/// it is a PyTorch default), prepared (a fused ReLU through `fuse_modules`),
/// calibrated on `calibration` (each a float32 input of the model's input
/// shape; none is allowed, as in PyTorch), converted, printed, and run on
/// `input`. PyTorch's numbers are printed as PyTorch's, then compared with
/// what this engine computed for the same flow, written into the script.
pub fn pytorch_calibration_script(
    model: &FloatConv,
    calibration: &[Vec<f32>],
    input: &[f32],
) -> Result<String> {
    model.validate()?;
    let s = &model.shape;
    let n = s.input_len();
    if let Some(b) = calibration.iter().find(|b| b.len() != n) {
        return Err(Error::BadShape(format!(
            "a calibration batch has {} values, the model's input needs {n}",
            b.len()
        )));
    }
    if input.len() != n {
        return Err(Error::BadShape(format!(
            "the input has {} values, the model's input needs {n}",
            input.len()
        )));
    }
    // What this engine expects PyTorch to print.
    let conv = model.calibrate(calibration)?;
    let p = &conv.params;
    let xq = crate::quant::quantize_per_tensor(
        input,
        p.input_scale,
        p.input_zero_point,
        crate::quant::DType::QUInt8,
    )?;
    let mut sc = conv.scenario(
        model,
        crate::scenario::InputSource::Codes {
            codes: crate::quant::to_quint8("input", &xq)?,
        },
        model.engine,
    );
    sc.platform = Default::default();
    let out = sc.run()?.out_a;

    let engine = model.engine.row().pytorch_engine.unwrap_or("fbgemm");
    let shape = format!(
        "({}, {}, {}, {})",
        s.batch, s.in_channels, s.height, s.width
    );
    let cin_g = s.in_channels / s.groups;
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(
        w,
        "# The eager quantization flow of a qconv-lens model (written by qconv-lens):"
    );
    let _ = writeln!(
        w,
        "# float conv + qconfig, prepare, calibrate, convert, run; then PyTorch's numbers"
    );
    let _ = writeln!(
        w,
        "# against qconv-lens's. Observers follow torch 2.15 (torch 2.5 differs only when"
    );
    let _ = writeln!(
        w,
        "# HistogramObserver merges a single-valued histogram into a wider one)."
    );
    let _ = writeln!(w, "import warnings");
    let _ = writeln!(w, "warnings.filterwarnings(\"ignore\")");
    let _ = writeln!(w, "import torch");
    let _ = writeln!(w, "from torch.ao.quantization import observer as obs");
    let _ = writeln!(w);
    let _ = writeln!(w, "torch.backends.quantized.engine = {engine:?}");
    let _ = writeln!(w);
    let _ = writeln!(w, "class M(torch.nn.Module):");
    let _ = writeln!(w, "    def __init__(self):");
    let _ = writeln!(w, "        super().__init__()");
    let _ = writeln!(w, "        self.quant = torch.ao.quantization.QuantStub()");
    let _ = writeln!(
        w,
        "        self.conv1 = torch.nn.Conv2d({}, {}, {}, stride={}, padding={}, dilation={}, groups={}, bias={})",
        s.in_channels,
        s.out_channels,
        pair(s.kernel),
        pair(s.stride),
        pair(s.padding),
        pair(s.dilation),
        s.groups,
        if model.bias.is_some() { "True" } else { "False" }
    );
    if model.relu {
        let _ = writeln!(w, "        self.relu = torch.nn.ReLU()");
    }
    let _ = writeln!(
        w,
        "        self.dequant = torch.ao.quantization.DeQuantStub()"
    );
    let _ = writeln!(w);
    let _ = writeln!(w, "    def forward(self, x):");
    if model.relu {
        let _ = writeln!(
            w,
            "        return self.dequant(self.relu(self.conv1(self.quant(x))))"
        );
    } else {
        let _ = writeln!(w, "        return self.dequant(self.conv1(self.quant(x)))");
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "m = M().eval()");
    let _ = writeln!(w, "with torch.no_grad():");
    let _ = writeln!(
        w,
        "    m.conv1.weight.copy_(torch.tensor({}, dtype=torch.float32).reshape({}, {}, {}, {}))",
        py_floats(model.weight.iter().map(|&v| v as f64))?,
        s.out_channels,
        cin_g,
        s.kernel[0],
        s.kernel[1]
    );
    if let Some(b) = &model.bias {
        let _ = writeln!(
            w,
            "    m.conv1.bias.copy_(torch.tensor({}, dtype=torch.float32))",
            py_floats(b.iter().map(|&v| v as f64))?
        );
    }
    if model.relu {
        let _ = writeln!(
            w,
            "torch.ao.quantization.fuse_modules(m, [[\"conv1\", \"relu\"]], inplace=True)"
        );
    }
    match &model.qconfig {
        Some(name) => {
            let _ = writeln!(
                w,
                "m.qconfig = torch.ao.quantization.get_default_qconfig({name:?})"
            );
        }
        None => {
            let _ = writeln!(w, "m.qconfig = torch.ao.quantization.QConfig(");
            let _ = writeln!(w, "    activation={},", observer_py(&model.activation));
            let _ = writeln!(w, "    weight={})", observer_py(&model.weight_observer));
        }
    }
    let _ = writeln!(w, "torch.ao.quantization.prepare(m, inplace=True)");
    let _ = writeln!(w, "calibration = [");
    for b in calibration {
        let _ = writeln!(w, "    {},", py_floats(b.iter().map(|&v| v as f64))?);
    }
    let _ = writeln!(w, "]");
    let _ = writeln!(w, "for batch in calibration:");
    let _ = writeln!(
        w,
        "    m(torch.tensor(batch, dtype=torch.float32).reshape{shape})"
    );
    let _ = writeln!(w, "torch.ao.quantization.convert(m, inplace=True)");
    let _ = writeln!(w, "print(m)");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "x = torch.tensor({}, dtype=torch.float32).reshape{shape}",
        py_floats(input.iter().map(|&v| v as f64))?
    );
    let _ = writeln!(w, "qx = m.quant(x)");
    let _ = writeln!(w, "y = m.conv1(qx)");
    let _ = writeln!(w, "print(y.int_repr())");
    let _ = writeln!(w, "qw = m.conv1.weight()");
    let _ = writeln!(
        w,
        "if qw.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):"
    );
    let _ = writeln!(w, "    w_scales = qw.q_per_channel_scales().tolist()");
    let _ = writeln!(w, "    w_zps = qw.q_per_channel_zero_points().tolist()");
    let _ = writeln!(w, "else:");
    let _ = writeln!(
        w,
        "    w_scales, w_zps = [qw.q_scale()], [qw.q_zero_point()]"
    );
    let _ = writeln!(w, "pytorch = {{");
    let _ = writeln!(
        w,
        "    \"input qparams\": [float(m.quant.scale), int(m.quant.zero_point)],"
    );
    let _ = writeln!(w, "    \"weight scales\": [float(v) for v in w_scales],");
    let _ = writeln!(w, "    \"weight zero points\": [int(v) for v in w_zps],");
    let _ = writeln!(w, "    \"weight codes\": qw.int_repr().flatten().tolist(),");
    let _ = writeln!(
        w,
        "    \"output qparams\": [float(m.conv1.scale), int(m.conv1.zero_point)],"
    );
    let _ = writeln!(w, "    \"input codes\": qx.int_repr().flatten().tolist(),");
    let _ = writeln!(w, "    \"output codes\": y.int_repr().flatten().tolist(),");
    let _ = writeln!(w, "}}");
    let _ = writeln!(w, "# What qconv-lens computed for the same flow:");
    let _ = writeln!(w, "qconv_lens = {{");
    let _ = writeln!(
        w,
        "    \"input qparams\": [{}, {}],",
        py_float(p.input_scale)?,
        p.input_zero_point
    );
    let _ = writeln!(
        w,
        "    \"weight scales\": {},",
        py_floats(p.weight_scales.iter().copied())?
    );
    let _ = writeln!(
        w,
        "    \"weight zero points\": {},",
        py_ints(&p.weight_zero_points)
    );
    let _ = writeln!(w, "    \"weight codes\": {},", py_ints(&conv.weight_q));
    let _ = writeln!(
        w,
        "    \"output qparams\": [{}, {}],",
        py_float(p.output_scale)?,
        p.output_zero_point
    );
    let _ = writeln!(w, "    \"input codes\": {},", py_ints(&xq));
    let _ = writeln!(w, "    \"output codes\": {},", py_ints(&out));
    let _ = writeln!(w, "}}");
    let _ = writeln!(w, "for k, v in pytorch.items():");
    let _ = writeln!(
        w,
        "    print(\"PyTorch \" + k + \":\", *[repr(e) if isinstance(e, float) else e for e in v])"
    );
    let _ = writeln!(w, "for k in pytorch:");
    let _ = writeln!(w, "    a, b = pytorch[k], qconv_lens[k]");
    let _ = writeln!(
        w,
        "    differ = [i for i, (u, v) in enumerate(zip(a, b)) if u != v] + list(range(min(len(a), len(b)), max(len(a), len(b))))"
    );
    let _ = writeln!(
        w,
        "    print(\"qconv-lens \" + k + \":\", \"agree\" if not differ else f\"{{len(differ)}} of {{len(b)}} differ, first at index {{differ[0]}}: PyTorch {{a[differ[0]] if differ[0] < len(a) else None}}, qconv-lens {{b[differ[0]] if differ[0] < len(b) else None}}\")"
    );
    let _ = writeln!(
        w,
        "# The output observer saw PyTorch's float conv, whose summation order (oneDNN's"
    );
    let _ = writeln!(
        w,
        "# blocking) qconv-lens does not reproduce: in rare cases the output qparams differ"
    );
    let _ = writeln!(
        w,
        "# in the last bit; every other number follows from the ones before it exactly."
    );
    Ok(o)
}

impl crate::flow::Calibration {
    /// The eager flow as a PyTorch script .
    pub fn script(&self) -> Result<String> {
        let s = &self.model.shape;
        let batches: Vec<Vec<f32>> = self
            .batches
            .iter()
            .map(|b| b.floats(s))
            .collect::<Result<_>>()?;
        pytorch_calibration_script(&self.model, &batches, &self.input.floats(s)?)
    }
}
