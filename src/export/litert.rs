//! "Reproduce in LiteRT": a runtime model as a self-contained Python script
//! that writes a one-operator .tflite flatbuffer (CONV_2D or DEPTHWISE_CONV_2D,
//! as the TFLite converter emits a quantized conv: int8 NHWC activations, int8
//! weights with zero point 0, an int32 bias of scale `x_scale * w_scale[c]`)
//! with the schema module `ai-edge-litert` ships, and runs it in the LiteRT
//! interpreter (one thread) with the op resolver of each engine:
//! `tflite-reference` BUILTIN_REF, `tflite-optimized`
//! BUILTIN_WITHOUT_DEFAULT_DELEGATES, `tflite-xnnpack` AUTO (the default
//! XNNPACK delegate). Output codes are printed NCHW on the engine's
//! `codes_prefix` line and compared with qconv-lens's.
use super::runtime_model::{plan, RuntimeModel, COMPARE_PY};
use super::{py_float, py_ints, wrap};
use crate::conv::ConvShape;
use crate::engine::{Computation, ConvQParams, Family};
use crate::error::{Error, Result};
use std::fmt::Write;

/// TFLite's SAME padding along one axis: (before, after).
fn same_pads(n: usize, k: usize, stride: usize, dilation: usize) -> (usize, usize) {
    let span = (k - 1) * dilation + 1;
    let out = n.div_ceil(stride);
    let total = ((out - 1) * stride + span).saturating_sub(n);
    (total / 2, total - total / 2)
}

/// "SAME" or "VALID": the only paddings a TFLite conv has.
fn padding(s: &ConvShape) -> Result<&'static str> {
    let [t, l] = s.padding;
    let [b, r] = s.pad_end();
    if [t, l, b, r] == [0; 4] {
        return Ok("VALID");
    }
    let (st, sb) = same_pads(s.height, s.kernel[0], s.stride[0], s.dilation[0]);
    let (sl, sr) = same_pads(s.width, s.kernel[1], s.stride[1], s.dilation[1]);
    if [t, l, b, r] == [st, sl, sb, sr] {
        return Ok("SAME");
    }
    Err(Error::Input(format!(
        "a LiteRT conv pads SAME or VALID only: pads (top, left, bottom, right) = ({t}, {l}, {b}, {r}) \
         are neither ({st}, {sl}, {sb}, {sr}) nor none"
    )))
}

/// Whether the model's operator is DEPTHWISE_CONV_2D (as the engines decide).
fn is_depthwise(s: &ConvShape, p: &ConvQParams) -> bool {
    p.depthwise_op || (s.groups > 1 && s.groups == s.in_channels)
}

/// What a one-operator .tflite model cannot hold, beyond the engine's refusals.
fn refuse(m: &RuntimeModel, _: Computation) -> Result<()> {
    let s = &m.shape;
    padding(s)?;
    if m.params.depthwise_op && s.groups != s.in_channels {
        return Err(Error::Input(format!(
            "a DEPTHWISE_CONV_2D has one group per input channel ({} groups for {} channels here)",
            s.groups, s.in_channels
        )));
    }
    if s.groups > 1 && s.groups != s.in_channels {
        return Err(Error::Input(format!(
            "qconv-lens writes LiteRT convs with 1 group or depthwise (groups = input channels); this one has {} groups for {} input channels",
            s.groups, s.in_channels
        )));
    }
    Ok(())
}

fn resolver(c: Computation) -> (&'static str, &'static str) {
    match c.engine {
        crate::engine::tflite_reference::ID => ("BUILTIN_REF", "reference kernels"),
        crate::engine::tflite_optimized::ID => (
            "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
            "optimized builtin kernels",
        ),
        _ => ("AUTO", "default XNNPACK delegate"),
    }
}

/// The LiteRT script for the LiteRT engines among `engines`.
pub fn litert_script(m: &RuntimeModel, engines: &[Computation]) -> Result<String> {
    let plan = plan(m, engines, Family::LiteRt, refuse)?;
    let s = &m.shape;
    let p = &m.params;
    let (oh, ow) = s.output_hw();
    let pad = padding(s)?;
    let depthwise = is_depthwise(s, p);
    let cin_g = s.in_channels / s.groups;
    let act = if p.relu6 {
        "RELU6"
    } else if p.relu {
        "RELU"
    } else {
        "NONE"
    };
    let f32_lit = |v: f64| py_float(v as f32 as f64);
    let scales: Vec<String> = p
        .weight_scales
        .iter()
        .map(|&v| f32_lit(v))
        .collect::<Result<_>>()?;

    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(
        w,
        "# Reproduce a qconv-lens scenario in LiteRT (TFLite) (written by qconv-lens)."
    );
    let _ = writeln!(
        w,
        "# Writes a one-operator .tflite model ({}) with the flatbuffer schema ai-edge-litert ships,",
        if depthwise {
            "DEPTHWISE_CONV_2D"
        } else {
            "CONV_2D"
        }
    );
    let _ = writeln!(
        w,
        "# runs it in the LiteRT interpreter with each engine's op resolver, prints the runtime's output"
    );
    let _ = writeln!(
        w,
        "# codes (NCHW) and compares them with the codes qconv-lens computes for that engine (written"
    );
    let _ = writeln!(w, "# into this script). Exit status 1 when they differ.");
    let _ = writeln!(
        w,
        "# Needs numpy, flatbuffers and ai-edge-litert (tested with ai-edge-litert 2.3.0)."
    );
    for (c, _) in &plan.run {
        let (r, what) = resolver(*c);
        let _ = writeln!(
            w,
            "#   {}: OpResolverType.{r} ({what}); {}",
            c.name(),
            c.kernel(s, p, &m.platform).why
        );
    }
    for (c, why) in &plan.refused {
        let _ = writeln!(w, "# Not run: {} refuses this model: {why}.", c.name());
    }
    for n in &m.notes {
        let _ = writeln!(w, "# {n}");
    }
    let _ = writeln!(w, "import sys");
    let _ = writeln!(w, "try:");
    let _ = writeln!(w, "    import numpy as np");
    let _ = writeln!(w, "    import flatbuffers");
    let _ = writeln!(w, "    from ai_edge_litert import schema_py_generated as S");
    let _ = writeln!(
        w,
        "    from ai_edge_litert.interpreter import Interpreter, OpResolverType"
    );
    let _ = writeln!(w, "except ImportError as e:");
    let _ = writeln!(
        w,
        "    sys.exit(f\"this script needs numpy, flatbuffers and ai-edge-litert (pip install numpy flatbuffers ai-edge-litert): {{e}}\")"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "# Input: int8 codes, NCHW {}x{}x{}x{} (the model takes NHWC).",
        s.batch, s.in_channels, s.height, s.width
    );
    let _ = writeln!(
        w,
        "x = np.array({}, dtype=np.int8).reshape({}, {}, {}, {})",
        py_ints(&m.input),
        s.batch,
        s.in_channels,
        s.height,
        s.width
    );
    let _ = writeln!(
        w,
        "# Weight: int8 codes, OIHW {}x{}x{}x{}, zero point 0, {} (the model holds {}).",
        s.out_channels,
        cin_g,
        s.kernel[0],
        s.kernel[1],
        if p.per_channel {
            "one scale per output channel"
        } else {
            "one scale"
        },
        if depthwise { "1HWO" } else { "OHWI" }
    );
    let _ = writeln!(
        w,
        "w = np.array({}, dtype=np.int8).reshape({}, {}, {}, {})",
        py_ints(&m.weights),
        s.out_channels,
        cin_g,
        s.kernel[0],
        s.kernel[1]
    );
    let _ = writeln!(
        w,
        "# Scales are float32 in the flatbuffer: each is written as its exact float32 value."
    );
    let _ = writeln!(
        w,
        "x_scale, x_zero_point = {}, {}",
        f32_lit(p.input_scale)?,
        p.input_zero_point
    );
    let _ = writeln!(w, "w_scales = {}", wrap(&scales));
    let _ = writeln!(
        w,
        "y_scale, y_zero_point = {}, {}",
        f32_lit(p.output_scale)?,
        p.output_zero_point
    );
    match &p.bias_i32 {
        Some(b) => {
            let _ = writeln!(
                w,
                "# Bias: int32 in accumulator units (x_scale * w_scale[c]), added to the integer sum."
            );
            let _ = writeln!(w, "bias = {}", py_ints(b));
        }
        None => {
            let _ = writeln!(
                w,
                "# No bias: the int8 kernels take a bias tensor, so zeros (as converters write)."
            );
            let _ = writeln!(w, "bias = [0] * {}", s.out_channels);
        }
    }
    let _ = writeln!(
        w,
        "STRIDE, DILATION, PADDING, ACTIVATION = ({}, {}), ({}, {}), {pad:?}, {act:?}",
        s.stride[0], s.stride[1], s.dilation[0], s.dilation[1]
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
    let _ = writeln!(w, "def qparams(scales, zero_points, dim=0):");
    let _ = writeln!(w, "    q = S.QuantizationParametersT()");
    let _ = writeln!(
        w,
        "    q.scale, q.zeroPoint, q.quantizedDimension = [float(v) for v in scales], [int(v) for v in zero_points], dim"
    );
    let _ = writeln!(w, "    return q");
    let _ = writeln!(w);
    let _ = writeln!(w);
    let _ = writeln!(w, "def tensor(name, shape, ttype, buffer, q):");
    let _ = writeln!(w, "    t = S.TensorT()");
    let _ = writeln!(
        w,
        "    t.name, t.shape, t.type, t.buffer, t.quantization = name.encode(), [int(v) for v in shape], ttype, buffer, q"
    );
    let _ = writeln!(w, "    return t");
    let _ = writeln!(w);
    let _ = writeln!(w);
    let _ = writeln!(w, "def tflite_model():");
    let _ = writeln!(w, "    \"\"\"The flatbuffer of one conv operator.\"\"\"");
    let _ = writeln!(w, "    m = S.ModelT()");
    let _ = writeln!(w, "    m.version = 3");
    let (code, options) = if depthwise {
        ("DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions")
    } else {
        ("CONV_2D", "Conv2DOptions")
    };
    let _ = writeln!(w, "    oc = S.OperatorCodeT()");
    let _ = writeln!(
        w,
        "    oc.builtinCode = oc.deprecatedBuiltinCode = S.BuiltinOperator.{code}"
    );
    let _ = writeln!(w, "    oc.version = 3");
    let _ = writeln!(w, "    m.operatorCodes = [oc]");
    if depthwise {
        let _ = writeln!(
            w,
            "    w_native, w_dim = w[:, 0].transpose(1, 2, 0)[None], 3  # OIHW (I = 1) -> 1HWO"
        );
    } else {
        let _ = writeln!(
            w,
            "    w_native, w_dim = w.transpose(0, 2, 3, 1), 0  # OIHW -> OHWI"
        );
    }
    let _ = writeln!(
        w,
        "    b_scales = [float(np.float32(x_scale) * np.float32(s)) for s in w_scales]  # float32(x_scale * w_scale[c])"
    );
    let _ = writeln!(
        w,
        "    buffers = [S.BufferT() for _ in range(5)]  # 0: empty, 1: input, 2: filter, 3: bias, 4: output"
    );
    let _ = writeln!(
        w,
        "    buffers[2].data = np.ascontiguousarray(w_native, dtype=np.int8).tobytes()"
    );
    let _ = writeln!(
        w,
        "    buffers[3].data = np.asarray(bias, dtype=\"<i4\").tobytes()"
    );
    let _ = writeln!(w, "    sg = S.SubGraphT()");
    let _ = writeln!(
        w,
        "    sg.tensors = [tensor(\"input\", x.transpose(0, 2, 3, 1).shape, S.TensorType.INT8, 1, qparams([x_scale], [x_zero_point])),"
    );
    let _ = writeln!(
        w,
        "                  tensor(\"filter\", w_native.shape, S.TensorType.INT8, 2, qparams(w_scales, [0] * len(w_scales), w_dim)),"
    );
    let _ = writeln!(
        w,
        "                  tensor(\"bias\", [len(bias)], S.TensorType.INT32, 3, qparams(b_scales, [0] * len(b_scales))),"
    );
    let _ = writeln!(
        w,
        "                  tensor(\"output\", (Y_NCHW[0], Y_NCHW[2], Y_NCHW[3], Y_NCHW[1]), S.TensorType.INT8, 4,"
    );
    let _ = writeln!(
        w,
        "                         qparams([y_scale], [y_zero_point]))]"
    );
    let _ = writeln!(w, "    sg.inputs, sg.outputs = [0], [3]");
    let _ = writeln!(w, "    op = S.OperatorT()");
    let _ = writeln!(
        w,
        "    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]"
    );
    let _ = writeln!(w, "    o = S.{options}T()");
    if depthwise {
        let _ = writeln!(
            w,
            "    o.depthMultiplier = {}",
            s.out_channels / s.in_channels
        );
    }
    let _ = writeln!(
        w,
        "    o.padding = S.Padding.SAME if PADDING == \"SAME\" else S.Padding.VALID"
    );
    let _ = writeln!(w, "    o.strideH, o.strideW = STRIDE");
    let _ = writeln!(w, "    o.dilationHFactor, o.dilationWFactor = DILATION");
    let _ = writeln!(
        w,
        "    o.fusedActivationFunction = getattr(S.ActivationFunctionType, ACTIVATION)"
    );
    let _ = writeln!(
        w,
        "    op.builtinOptionsType, op.builtinOptions = S.BuiltinOptions.{options}, o"
    );
    let _ = writeln!(w, "    sg.operators = [op]");
    let _ = writeln!(w, "    m.subgraphs, m.buffers = [sg], buffers");
    let _ = writeln!(w, "    fb = flatbuffers.Builder(1024)");
    let _ = writeln!(w, "    fb.Finish(m.Pack(fb), file_identifier=b\"TFL3\")");
    let _ = writeln!(w, "    return bytes(fb.Output())");
    let _ = writeln!(w);
    let _ = writeln!(w);
    let _ = writeln!(w, "def run(model, resolver):");
    let _ = writeln!(
        w,
        "    \"\"\"Run with one thread; return the output (NCHW) and whether a delegate took the op.\"\"\""
    );
    let _ = writeln!(
        w,
        "    it = Interpreter(model_content=model, experimental_op_resolver_type=resolver, num_threads=1)"
    );
    let _ = writeln!(w, "    it.allocate_tensors()");
    let _ = writeln!(
        w,
        "    it.set_tensor(it.get_input_details()[0][\"index\"], np.ascontiguousarray(x.transpose(0, 2, 3, 1)))"
    );
    let _ = writeln!(w, "    it.invoke()");
    let _ = writeln!(
        w,
        "    y = it.get_tensor(it.get_output_details()[0][\"index\"]).transpose(0, 3, 1, 2)"
    );
    let _ = writeln!(w, "    try:");
    let _ = writeln!(
        w,
        "        delegated = any(o[\"op_name\"] == \"DELEGATE\" for o in it._get_ops_details())"
    );
    let _ = writeln!(w, "    except Exception:");
    let _ = writeln!(w, "        delegated = None");
    let _ = writeln!(w, "    return y, delegated");
    let _ = writeln!(w);
    let _ = writeln!(w);
    let _ = writeln!(w, "model = tflite_model()");
    let _ = writeln!(w, "results = []");
    for (c, _) in &plan.run {
        let id = c.name();
        let (r, what) = resolver(*c);
        let _ = writeln!(w);
        let _ = writeln!(w, "# {}", c.title());
        let _ = writeln!(w, "y, delegated = run(model, OpResolverType.{r})");
        let _ = writeln!(
            w,
            "print(\"LiteRT, OpResolverType.{r} ({what}); a delegate took the conv:\", delegated)"
        );
        let _ = writeln!(w, "print(y)");
        let _ = writeln!(
            w,
            "results.append(compare({id:?}, \"LiteRT\", y, EXPECTED[{id:?}], Y_NCHW))"
        );
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "sys.exit(0 if all(results) else 1)");
    Ok(o)
}
