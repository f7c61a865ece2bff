//! "Reproduce in ONNX Runtime": a runtime model as a self-contained Python
//! script that builds the ONNX model with `onnx.helper` (opset 21) and runs it
//! the way each ONNX engine of this crate models:
//!
//! - `onnxruntime-qlinearconv`: one QLinearConv node (ConvInteger for an int32
//!   output) in onnxruntime, CPU provider, `ORT_ENABLE_ALL`, one thread;
//! - `onnx-reference`: the same model in `onnx.reference.ReferenceEvaluator`;
//! - `onnxruntime-qdq-fused` / `-float`: DequantizeLinear (x, w, int32 bias) ->
//!   float Conv -> QuantizeLinear, with `ORT_ENABLE_ALL` (ORT fuses the group
//!   into QLinearConv where it can) and with `ORT_DISABLE_ALL` (float path).
//!
//! Each engine's output codes are printed on one line labelled with the
//! engine id (`codes_prefix`) and compared with the codes qconv-lens computes
//! for it, which the script holds.
use super::runtime_model::{plan, RuntimeModel, COMPARE_PY};
use super::{py_float, py_ints};
use crate::engine::{Computation, Family};
use crate::error::{Error, Result};
use crate::quant::DType;
use std::fmt::Write;

/// What an ONNX model of this crate's form cannot hold, or ORT cannot run,
/// beyond what the engine refuses.
fn refuse(m: &RuntimeModel, c: Computation) -> Result<()> {
    let p = &m.params;
    let qdq = c.engine.starts_with("onnxruntime-qdq");
    if p.is_raw_int32() {
        if qdq {
            return Err(Error::Input(
                "a QDQ model ends in QuantizeLinear: an int32 output (ConvInteger) is the QLinearConv engines' only".into(),
            ));
        }
        if p.bias_i32.is_some() {
            return Err(Error::Input(
                "ConvInteger (the int32 output) takes no bias".into(),
            ));
        }
    } else if p.output_dtype != p.input_dtype {
        return Err(Error::Input(format!(
            "QLinearConv's output has the input's dtype ({} here, {} output)",
            p.input_dtype.name(),
            p.output_dtype.name()
        )));
    }
    // (ConvInteger has kernels for all four pairs.)
    if c.engine == crate::engine::ort_qlinearconv::ID
        && !p.is_raw_int32()
        && p.input_dtype == DType::QInt8
        && p.weight_dtype == DType::QUInt8
    {
        return Err(Error::Input(
            "ONNX Runtime has no QLinearConv kernel for int8 activations with uint8 weights (U8S8, U8U8 and S8S8 only)".into(),
        ));
    }
    Ok(())
}

fn np_dtype(d: DType) -> &'static str {
    match d {
        DType::QUInt8 => "np.uint8",
        DType::QInt8 => "np.int8",
        DType::QInt32 => "np.int32",
    }
}

fn onnx_type(d: DType) -> &'static str {
    match d {
        DType::QUInt8 => "TensorProto.UINT8",
        DType::QInt8 => "TensorProto.INT8",
        DType::QInt32 => "TensorProto.INT32",
    }
}

/// A float64 scale as the float32 the model stores (written exactly).
fn f32_lit(v: f64) -> Result<String> {
    py_float(v as f32 as f64)
}

/// The ONNX Runtime script for the ONNX engines among `engines`.
pub fn onnxruntime_script(m: &RuntimeModel, engines: &[Computation]) -> Result<String> {
    let plan = plan(m, engines, Family::OnnxRuntime, refuse)?;
    let s = &m.shape;
    let p = &m.params;
    let (oh, ow) = s.output_hw();
    let [pt, pl] = s.padding;
    let [pb, pr] = s.pad_end();
    let cin_g = s.in_channels / s.groups;
    let raw = p.is_raw_int32();

    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(
        w,
        "# Reproduce a qconv-lens scenario in ONNX Runtime (written by qconv-lens)."
    );
    let _ = writeln!(
        w,
        "# Builds the quantized conv as an ONNX model with onnx.helper (opset 21), runs it as"
    );
    let _ = writeln!(
        w,
        "# each engine below, prints the runtime's output codes and compares them with the codes"
    );
    let _ = writeln!(
        w,
        "# qconv-lens computes for that engine (written into this script). Exit status 1 when they differ."
    );
    let _ = writeln!(
        w,
        "# Needs numpy, onnx and onnxruntime (tested with onnx 1.23.2, onnxruntime 1.32.0)."
    );
    for (c, _) in &plan.run {
        let k = c.kernel(s, p, &m.platform);
        let _ = writeln!(w, "#   {}: {}", c.name(), k.why);
        if c.row().uses_platform {
            let _ = writeln!(
                w,
                "#     (qconv-lens modelled it on {}; on another CPU ONNX Runtime may take other kernels)",
                m.platform.title()
            );
        }
    }
    for (c, why) in &plan.refused {
        let _ = writeln!(w, "# Not run: {} refuses this model: {why}.", c.name());
    }
    for n in &m.notes {
        let _ = writeln!(w, "# {n}");
    }
    let _ = writeln!(w, "import os, sys, tempfile");
    let _ = writeln!(w, "try:");
    let _ = writeln!(w, "    import numpy as np");
    let _ = writeln!(w, "    import onnx");
    let _ = writeln!(w, "    from onnx import TensorProto, helper, numpy_helper");
    if plan
        .run
        .iter()
        .any(|(c, _)| c.engine != crate::engine::onnx_reference::ID)
    {
        let _ = writeln!(w, "    import onnxruntime as ort");
    }
    if plan
        .run
        .iter()
        .any(|(c, _)| c.engine == crate::engine::onnx_reference::ID)
    {
        let _ = writeln!(w, "    from onnx.reference import ReferenceEvaluator");
    }
    let _ = writeln!(w, "except ImportError as e:");
    let _ = writeln!(
        w,
        "    sys.exit(f\"this script needs numpy, onnx and onnxruntime (pip install numpy onnx onnxruntime): {{e}}\")"
    );
    let _ = writeln!(w);
    if plan
        .run
        .iter()
        .any(|(c, _)| c.engine != crate::engine::onnx_reference::ID)
    {
        let _ = writeln!(w, "ort.set_default_logger_severity(3)  # errors only");
    }
    let _ = writeln!(w, "OPSET, IR_VERSION = 21, 10");
    let _ = writeln!(
        w,
        "# Input: {} codes, NCHW {}x{}x{}x{}.",
        p.input_dtype.name(),
        s.batch,
        s.in_channels,
        s.height,
        s.width
    );
    let _ = writeln!(
        w,
        "x = np.array({}, dtype={}).reshape({}, {}, {}, {})",
        py_ints(&m.input),
        np_dtype(p.input_dtype),
        s.batch,
        s.in_channels,
        s.height,
        s.width
    );
    let _ = writeln!(
        w,
        "# Weight: {} codes, OIHW {}x{}x{}x{}, {}.",
        p.weight_dtype.name(),
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
        "w = np.array({}, dtype={}).reshape({}, {}, {}, {})",
        py_ints(&m.weights),
        np_dtype(p.weight_dtype),
        s.out_channels,
        cin_g,
        s.kernel[0],
        s.kernel[1]
    );
    let _ = writeln!(
        w,
        "# Scales are float32 in ONNX: each is written as its exact float32 value."
    );
    let _ = writeln!(w, "x_scale = np.float32({})", f32_lit(p.input_scale)?);
    let _ = writeln!(
        w,
        "x_zero_point = {}({})",
        np_dtype(p.input_dtype),
        p.input_zero_point
    );
    if p.per_channel {
        let sw: Vec<String> = p
            .weight_scales
            .iter()
            .map(|&v| f32_lit(v))
            .collect::<Result<_>>()?;
        let _ = writeln!(
            w,
            "w_scale = np.array({}, dtype=np.float32)",
            super::wrap(&sw)
        );
        let _ = writeln!(
            w,
            "w_zero_point = np.array({}, dtype={})",
            py_ints(&p.weight_zero_points),
            np_dtype(p.weight_dtype)
        );
    } else {
        let _ = writeln!(w, "w_scale = np.float32({})", f32_lit(p.weight_scales[0])?);
        let _ = writeln!(
            w,
            "w_zero_point = {}({})",
            np_dtype(p.weight_dtype),
            p.weight_zero_points[0]
        );
    }
    if !raw {
        let _ = writeln!(w, "y_scale = np.float32({})", f32_lit(p.output_scale)?);
        let _ = writeln!(
            w,
            "y_zero_point = {}({})",
            np_dtype(p.output_dtype),
            p.output_zero_point
        );
    }
    match &p.bias_i32 {
        Some(b) => {
            let _ = writeln!(
                w,
                "# Bias: int32 in accumulator units (x_scale * w_scale[c]), added to the integer sum."
            );
            let _ = writeln!(w, "bias = np.array({}, dtype=np.int32)", py_ints(b));
        }
        None => {
            let _ = writeln!(w, "bias = None");
        }
    }
    let _ = writeln!(
        w,
        "CONV = dict(kernel_shape=[{}, {}], strides=[{}, {}], pads=[{pt}, {pl}, {pb}, {pr}], dilations=[{}, {}], group={})",
        s.kernel[0], s.kernel[1], s.stride[0], s.stride[1], s.dilation[0], s.dilation[1], s.groups
    );
    let _ = writeln!(w, "Y_NCHW = ({}, {}, {oh}, {ow})", s.batch, s.out_channels);
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "# What qconv-lens computes for each engine (flat NCHW output codes):"
    );
    let _ = writeln!(w, "EXPECTED = {{");
    for (c, e) in &plan.run {
        let _ = writeln!(w, "    {:?}: {},", c.name(), py_ints(e));
    }
    let _ = writeln!(w, "}}");
    let _ = writeln!(w);
    let _ = writeln!(w, "{COMPARE_PY}");
    let _ = writeln!(w);
    let _ = writeln!(w, "def init(name, value):");
    let _ = writeln!(
        w,
        "    return numpy_helper.from_array(np.asarray(value), name)"
    );
    let _ = writeln!(w);
    let _ = writeln!(w);
    let _ = writeln!(w, "def make(nodes, inits, y_type):");
    let _ = writeln!(
        w,
        "    g = helper.make_graph(nodes, \"qconv_lens\", [helper.make_tensor_value_info(\"x\", {}, list(x.shape))],",
        onnx_type(p.input_dtype)
    );
    let _ = writeln!(
        w,
        "                          [helper.make_tensor_value_info(\"y\", y_type, None)], inits)"
    );
    let _ = writeln!(
        w,
        "    m = helper.make_model(g, opset_imports=[helper.make_opsetid(\"\", OPSET)], producer_name=\"qconv-lens\")"
    );
    let _ = writeln!(w, "    m.ir_version = IR_VERSION");
    let _ = writeln!(w, "    return m");
    let _ = writeln!(w);
    let _ = writeln!(w);
    let needs_qlinear = plan.run.iter().any(|(c, _)| !c.engine.contains("qdq"));
    let needs_qdq = plan.run.iter().any(|(c, _)| c.engine.contains("qdq"));
    if needs_qlinear && raw {
        let _ = writeln!(w, "def conv_model():");
        let _ = writeln!(
            w,
            "    \"\"\"ConvInteger: the int32 sum of (x - x_zero_point) * (w - w_zero_point).\"\"\""
        );
        let _ = writeln!(
            w,
            "    inits = [init(\"w\", w), init(\"x_zero_point\", x_zero_point), init(\"w_zero_point\", w_zero_point)]"
        );
        let _ = writeln!(
            w,
            "    node = helper.make_node(\"ConvInteger\", [\"x\", \"w\", \"x_zero_point\", \"w_zero_point\"], [\"y\"], **CONV)"
        );
        let _ = writeln!(w, "    return make([node], inits, TensorProto.INT32)");
        let _ = writeln!(w);
        let _ = writeln!(w);
    } else if needs_qlinear {
        let _ = writeln!(w, "def conv_model():");
        let _ = writeln!(w, "    \"\"\"One QLinearConv node.\"\"\"");
        let _ = writeln!(
            w,
            "    inits = [init(\"x_scale\", x_scale), init(\"x_zero_point\", x_zero_point), init(\"w\", w),"
        );
        let _ = writeln!(
            w,
            "             init(\"w_scale\", w_scale), init(\"w_zero_point\", w_zero_point),"
        );
        let _ = writeln!(
            w,
            "             init(\"y_scale\", y_scale), init(\"y_zero_point\", y_zero_point)]"
        );
        let _ = writeln!(
            w,
            "    names = [\"x\", \"x_scale\", \"x_zero_point\", \"w\", \"w_scale\", \"w_zero_point\", \"y_scale\", \"y_zero_point\"]"
        );
        let _ = writeln!(w, "    if bias is not None:");
        let _ = writeln!(w, "        inits.append(init(\"B\", bias))");
        let _ = writeln!(w, "        names.append(\"B\")");
        let _ = writeln!(
            w,
            "    return make([helper.make_node(\"QLinearConv\", names, [\"y\"], **CONV)], inits, {})",
            onnx_type(p.output_dtype)
        );
        let _ = writeln!(w);
        let _ = writeln!(w);
    }
    if needs_qdq {
        let axis = if p.per_channel { ", axis=0" } else { "" };
        let _ = writeln!(w, "def qdq_model():");
        let _ = writeln!(
            w,
            "    \"\"\"DequantizeLinear (x, w, int32 bias) -> float Conv -> QuantizeLinear.\"\"\""
        );
        let _ = writeln!(
            w,
            "    inits = [init(\"x_scale\", x_scale), init(\"x_zero_point\", x_zero_point), init(\"w\", w),"
        );
        let _ = writeln!(
            w,
            "             init(\"w_scale\", w_scale), init(\"w_zero_point\", w_zero_point),"
        );
        let _ = writeln!(
            w,
            "             init(\"y_scale\", y_scale), init(\"y_zero_point\", y_zero_point)]"
        );
        let _ = writeln!(
            w,
            "    nodes = [helper.make_node(\"DequantizeLinear\", [\"x\", \"x_scale\", \"x_zero_point\"], [\"xf\"]),"
        );
        let _ = writeln!(
            w,
            "             helper.make_node(\"DequantizeLinear\", [\"w\", \"w_scale\", \"w_zero_point\"], [\"wf\"]{axis})]"
        );
        let _ = writeln!(w, "    conv_in = [\"xf\", \"wf\"]");
        let _ = writeln!(w, "    if bias is not None:");
        let _ = writeln!(
            w,
            "        # The bias scale the exporters write: float32(x_scale * w_scale[c])."
        );
        let _ = writeln!(
            w,
            "        b_scale = (x_scale * w_scale).astype(np.float32)"
        );
        let _ = writeln!(
            w,
            "        b_zero_point = {}",
            if p.per_channel {
                "np.zeros(bias.shape, dtype=np.int32)"
            } else {
                "np.int32(0)"
            }
        );
        let _ = writeln!(
            w,
            "        inits += [init(\"B\", bias), init(\"B_scale\", b_scale), init(\"B_zero_point\", b_zero_point)]"
        );
        let _ = writeln!(
            w,
            "        nodes.append(helper.make_node(\"DequantizeLinear\", [\"B\", \"B_scale\", \"B_zero_point\"], [\"bf\"]{axis}))"
        );
        let _ = writeln!(w, "        conv_in.append(\"bf\")");
        let _ = writeln!(
            w,
            "    nodes.append(helper.make_node(\"Conv\", conv_in, [\"yf\"], **CONV))"
        );
        let _ = writeln!(
            w,
            "    nodes.append(helper.make_node(\"QuantizeLinear\", [\"yf\", \"y_scale\", \"y_zero_point\"], [\"y\"]))"
        );
        let _ = writeln!(
            w,
            "    return make(nodes, inits, {})",
            onnx_type(p.output_dtype)
        );
        let _ = writeln!(w);
        let _ = writeln!(w);
    }
    if plan
        .run
        .iter()
        .any(|(c, _)| c.engine != crate::engine::onnx_reference::ID)
    {
        let _ = writeln!(w, "def run_ort(model, level):");
        let _ = writeln!(
            w,
            "    \"\"\"Run on the CPU provider with one thread; return the output and the op types of\""
        );
        let _ = writeln!(
            w,
            "    the graph ONNX Runtime actually ran (read from the optimized model it saves).\"\"\""
        );
        let _ = writeln!(w, "    so = ort.SessionOptions()");
        let _ = writeln!(
            w,
            "    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1"
        );
        let _ = writeln!(w, "    so.graph_optimization_level = level");
        let _ = writeln!(w, "    with tempfile.TemporaryDirectory() as tmp:");
        let _ = writeln!(
            w,
            "        so.optimized_model_filepath = os.path.join(tmp, \"optimized.onnx\")"
        );
        let _ = writeln!(
            w,
            "        sess = ort.InferenceSession(model.SerializeToString(), so, providers=[\"CPUExecutionProvider\"])"
        );
        let _ = writeln!(w, "        y = sess.run(None, {{\"x\": x}})[0]");
        let _ = writeln!(
            w,
            "        nodes = [n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node]"
        );
        let _ = writeln!(w, "    return y, nodes");
        let _ = writeln!(w);
        let _ = writeln!(w);
    }
    let _ = writeln!(w, "results = []");
    for (c, _) in &plan.run {
        let id = c.name();
        let _ = writeln!(w);
        let _ = writeln!(w, "# {}", c.title());
        match id {
            crate::engine::onnx_reference::ID => {
                let _ = writeln!(
                    w,
                    "y = ReferenceEvaluator(conv_model()).run(None, {{\"x\": x}})[0]"
                );
                let _ = writeln!(
                    w,
                    "print(\"onnx.reference.ReferenceEvaluator (onnx\", onnx.__version__ + \"):\")"
                );
                let _ = writeln!(w, "print(y)");
                let _ = writeln!(
                    w,
                    "results.append(compare({id:?}, \"onnx.reference\", y, EXPECTED[{id:?}], Y_NCHW))"
                );
            }
            _ => {
                let (model, level, what) = match id {
                    crate::engine::ort_qlinearconv::ID => (
                        "conv_model()",
                        "ORT_ENABLE_ALL",
                        if raw { "ConvInteger" } else { "QLinearConv" },
                    ),
                    crate::engine::ort_qdq_fused::ID => {
                        ("qdq_model()", "ORT_ENABLE_ALL", "QDQ, fused where ORT can")
                    }
                    _ => ("qdq_model()", "ORT_DISABLE_ALL", "QDQ, unfused float path"),
                };
                let _ = writeln!(
                    w,
                    "y, nodes = run_ort({model}, ort.GraphOptimizationLevel.{level})"
                );
                let _ = writeln!(
                    w,
                    "print(\"ONNX Runtime\", ort.__version__, \"({what}, {level}) ran:\", \", \".join(nodes))"
                );
                let _ = writeln!(w, "print(y)");
                let _ = writeln!(
                    w,
                    "results.append(compare({id:?}, \"ONNX Runtime\", y, EXPECTED[{id:?}], Y_NCHW))"
                );
            }
        }
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "sys.exit(0 if all(results) else 1)");
    Ok(o)
}
