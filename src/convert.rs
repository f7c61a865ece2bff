//! Across runtimes: a scenario written for one runtime, converted the way the
//! export path converts a model for another (PyTorch -> ONNX via `torch.onnx`,
//! PyTorch -> LiteRT via the TFLite converter, ONNX -> LiteRT), so that A and B
//! run the same model rather than one refusing or ignoring the other's fields.
//! Each change is listed with the rule and the source it follows.
use crate::conv::ConvShape;
use crate::engine::{Computation, ConvQParams, Family, Platform, Requant};
use crate::error::Result;
use crate::quant::DType;
use serde::Serialize;

/// One field changed by the conversion. Numbers, not text: the page formats
/// them. The list is made only where it is shown (the CLI, and the permalink
/// wasm for the page): the page's first-load wasm converts without it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Conversion {
    /// "bias", "input zero point", "weight scale", ...
    pub field: &'static str,
    /// The output channel, for per-channel fields.
    pub channel: Option<usize>,
    pub from: f64,
    pub to: f64,
    /// The exact value before the rounding the rule does (a bias in
    /// accumulator units), when there is one.
    pub exact: Option<f64>,
    /// The rule, in words and symbols.
    pub rule: &'static str,
    /// File and function of the exporter or converter that does this.
    pub source: &'static str,
}

/// The parameters the converted side runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The runtime converted to; engines of that family run on `params`.
    pub family: Family,
    /// What the engine computes with. A uint8 output that the export path
    /// makes int8 (zero point - 128) keeps its uint8 dtype and zero point
    /// here: the int8 model's codes + 128 come out of the same arithmetic
    /// (every step before the zero point is added ignores it, and the clamp
    /// bounds move with it; a fused ReLU6 is refused), and compare with the
    /// other side's uint8 codes.
    pub params: ConvQParams,
    /// The model's output is int8 (its codes are shown + 128).
    pub int8_output: bool,
}

impl Converted {
    /// Whether computation `c` runs on the converted parameters.
    pub fn applies_to(&self, c: Computation) -> bool {
        form(c.row().family) == self.family
    }

    /// The parameters `c` runs on: converted, or the scenario's `p`.
    pub fn params<'a>(
        cv: &'a Option<Converted>,
        p: &'a ConvQParams,
        c: Computation,
    ) -> &'a ConvQParams {
        match cv {
            Some(cv) if cv.applies_to(c) => &cv.params,
            _ => p,
        }
    }

    /// `c` prepared on the parameters it runs on (checked against the model's
    /// own output dtype).
    pub fn requant(
        cv: &Option<Converted>,
        p: &ConvQParams,
        c: Computation,
        shape: &ConvShape,
        platform: &Platform,
    ) -> Result<Requant> {
        let q = Converted::params(cv, p, c);
        let int8 = cv
            .as_ref()
            .is_some_and(|cv| cv.int8_output && cv.applies_to(c));
        // ReLU6's bound is the one step that sees the zero point before
        // rounding (XNNPACK adds it in float32): not shifted exactly.
        if int8 && q.relu6 {
            return Err(crate::error::Error::Input(
                "a fused ReLU6 on an output converted from uint8 to int8 is not modelled".into(),
            ));
        }
        let model = if int8 { DType::QInt8 } else { q.output_dtype };
        Requant::for_model(c, q, shape, platform, model)
    }
}

/// The family whose form an engine takes its parameters in: the hand
/// calculation and the float reference read PyTorch's (quint8, float bias).
fn form(f: Family) -> Family {
    match f {
        Family::Reference => Family::PyTorch,
        f => f,
    }
}

/// Export order: models go PyTorch -> ONNX -> LiteRT, never back.
fn rank(f: Family) -> u8 {
    match f {
        Family::PyTorch | Family::Reference => 0,
        Family::OnnxRuntime => 1,
        Family::LiteRt => 2,
    }
}

/// The runtimes to convert between for A and B: none when they take the same
/// runtime's form; otherwise from the earlier on the export path to the later
/// (so swapping A and B changes nothing).
fn direction(a: Computation, b: Computation) -> Option<(Family, Family)> {
    let (fa, fb) = (form(a.row().family), form(b.row().family));
    if fa == fb {
        None
    } else if rank(fa) < rank(fb) {
        Some((fa, fb))
    } else {
        Some((fb, fa))
    }
}

/// The parameters A's or B's side runs on when they come from different runtimes.
pub fn across(p: &ConvQParams, a: Computation, b: Computation) -> Option<Converted> {
    direction(a, b).map(|(from, to)| convert(p, from, to))
}

const TORCH_SCALE: &str =
    "torch/onnx/symbolic_helper.py: dequantize_helper, quantize_helper (Cast scale to FLOAT)";
const TORCH_BIAS: &str = "torch/onnx/symbolic_helper.py: requantize_bias_helper";
const TFLITE_SCALE: &str =
    "tensorflow/compiler/mlir/lite/schema/schema.fbs: QuantizationParameters.scale is [float]";
const TFLITE_BIAS: &str =
    "tensorflow/lite/tools/optimize/quantization_utils.cc: SymmetricPerChannelBiasQuantize -> SymmetricBiasQuantize";
const TFLITE_INT8: &str =
    "tensorflow/lite/tools/optimize/modify_model_interface.cc (a uint8 interface is the int8 model with zero point + 128); TFLite 8-bit spec: int8 activations";

/// The float bias of channel `c` in accumulator units, as the export path
/// computes it: torch.onnx `Div(bias, Mul(w_scale, x_scale))` in float32;
/// the TFLite converter `bias · f32(1.0 / f32(sx·sw))` (the reciprocal in
/// double, rounded to float32).
fn bias_quotient(b: f32, p: &ConvQParams, c: usize, lite: bool) -> f32 {
    let (sx, sw) = (p.input_scale as f32, p.weight_scale(c) as f32);
    if lite {
        let s = sx * sw;
        b * if s == 0.0 {
            0.0
        } else {
            (1.0 / s as f64) as f32
        }
    } else {
        b / (sw * sx)
    }
}

/// Converts parameters in `from`'s form to what `to`'s engines run on.
pub fn convert(p: &ConvQParams, from: Family, to: Family) -> Converted {
    let mut q = p.clone();
    let lite = to == Family::LiteRt;
    // Both ONNX and TFLite store scales as float32 (PyTorch keeps float64):
    // the engines round them themselves, so `params` keeps the float64
    // (`conversions` lists them).
    if from == Family::PyTorch && q.bias_i32.is_none() {
        if let Some(bias) = q.bias.take() {
            let mut b32 = Vec::with_capacity(bias.len());
            for (c, &b) in bias.iter().enumerate() {
                let v = bias_quotient(b, p, c, lite);
                // TFLite rounds half away from zero and saturates (SafeCast,
                // then ±(2^31 - 1)). ONNX's Cast truncates; a float outside
                // int32 has no value in the spec, and ORT's static_cast on
                // x86 (cvttss2si) gives 0x80000000: modelled, not verified.
                b32.push(if lite {
                    (v.round() as i32).max(-i32::MAX)
                } else if v.abs() < 2147483648.0 {
                    v.trunc() as i32
                } else {
                    i32::MIN
                });
            }
            q.bias_i32 = Some(b32);
        }
    }
    // TFLite's int8 model: the same real values, codes and zero points - 128
    // (the output computed as its codes + 128: see `Converted::params`).
    if lite && q.input_dtype == DType::QUInt8 {
        q.input_dtype = DType::QInt8;
        q.input_zero_point -= 128;
    }
    Converted {
        family: to,
        int8_output: lite && q.output_dtype == DType::QUInt8,
        params: q,
    }
}

/// What the conversion for A and B changes, field by field, with the rule and
/// its source (empty within one runtime): the converted parameters compared
/// with the scenario's.
pub fn conversions(p: &ConvQParams, a: Computation, b: Computation) -> Vec<Conversion> {
    let Some((from, to)) = direction(a, b) else {
        return vec![];
    };
    let q = convert(p, from, to).params;
    let lite = to == Family::LiteRt;
    let mut out = vec![];
    let mut row = |field, channel, from: f64, to: f64, exact, rule, source| {
        if from != to {
            out.push(Conversion {
                field,
                channel,
                from,
                to,
                exact,
                rule,
                source,
            })
        }
    };
    let (scale, rule) = (
        if lite { TFLITE_SCALE } else { TORCH_SCALE },
        "float64 -> float32, round to nearest",
    );
    let f = |v: f64| v as f32 as f64;
    let (x, y) = (p.input_scale, p.output_scale);
    row("input scale", None, x, f(x), None, rule, scale);
    for (c, &x) in p.weight_scales.iter().enumerate() {
        let channel = p.per_channel.then_some(c);
        row("weight scale", channel, x, f(x), None, rule, scale);
    }
    row("output scale", None, y, f(y), None, rule, scale);
    if let (Some(fb), Some(ib), None) = (&p.bias, &q.bias_i32, &p.bias_i32) {
        let (rule, source) = if lite {
            (
                "round(f32(bias · f32(1 / f32(sx·sw)))) half away from zero, within ±(2^31 - 1)",
                TFLITE_BIAS,
            )
        } else {
            (
                "f32(bias / f32(sw·sx)), Cast to int32: truncated toward zero",
                TORCH_BIAS,
            )
        };
        for (c, (&x, &y)) in fb.iter().zip(ib).enumerate() {
            let exact = bias_quotient(x, p, c, lite) as f64;
            // Listed even when unchanged in value: float32 became int32.
            out.push(Conversion {
                field: "bias",
                channel: Some(c),
                from: x as f64,
                to: y as f64,
                exact: Some(exact),
                rule,
                source,
            });
        }
    }
    let mut row = |field, from: i64, to: i64, rule| {
        if from != to {
            out.push(Conversion {
                field,
                channel: None,
                from: from as f64,
                to: to as f64,
                exact: None,
                rule,
                source: TFLITE_INT8,
            })
        }
    };
    row(
        "input zero point",
        p.input_zero_point,
        q.input_zero_point,
        "uint8 -> int8: codes and zero point - 128 (the same real values)",
    );
    if lite && p.output_dtype == DType::QUInt8 {
        row(
            "output zero point",
            p.output_zero_point,
            p.output_zero_point - 128,
            "uint8 -> int8: zero point - 128; computed as the int8 codes + 128 (the same arithmetic with the zero point + 128), to compare in uint8",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ort_qlinearconv, tflite_reference, Computation};

    fn pytorch_params() -> ConvQParams {
        ConvQParams {
            input_scale: 0.5,
            input_zero_point: 3,
            weight_scales: vec![0.25, 0.125],
            weight_zero_points: vec![0, 0],
            per_channel: true,
            bias: Some(vec![0.3, -0.3]),
            output_scale: 1.0,
            output_zero_point: 130,
            relu: false,
            input_dtype: DType::QUInt8,
            output_dtype: DType::QUInt8,
            bias_i32: None,
            relu6: false,
            weight_dtype: DType::QInt8,
            depthwise_op: false,
        }
    }

    fn ort() -> Computation {
        Computation::parse(ort_qlinearconv::ID).unwrap()
    }
    fn tflite() -> Computation {
        Computation::parse(tflite_reference::ID).unwrap()
    }

    #[test]
    fn same_family_converts_nothing() {
        let p = pytorch_params();
        assert_eq!(
            conversions(&p, Computation::FBGEMM, Computation::QNNPACK),
            []
        );
        assert_eq!(across(&p, Computation::FBGEMM, Computation::QNNPACK), None);
        assert_eq!(across(&p, Computation::FBGEMM, Computation::FLOAT), None);
        let x = Computation::parse("onnxruntime-qdq-float").unwrap();
        assert_eq!(across(&p, ort(), x), None);
        let x = Computation::parse("tflite-xnnpack").unwrap();
        assert_eq!(across(&p, tflite(), x), None);
    }

    #[test]
    fn torch_onnx_truncates_the_bias() {
        // 0.3 / (0.25·0.5) = 2.4 -> 2; -0.3 / (0.125·0.5) = -4.8 -> -4 (toward zero).
        let c = across(&pytorch_params(), Computation::FBGEMM, ort()).unwrap();
        assert_eq!(c.family, Family::OnnxRuntime);
        assert_eq!(c.params.bias_i32, Some(vec![2, -4]));
        assert_eq!(c.params.bias, None);
        // uint8 stays uint8 in ONNX; the scales are float32 already.
        assert_eq!(c.params.input_dtype, DType::QUInt8);
        assert_eq!(c.params.input_zero_point, 3);
        assert!(!c.int8_output);
        let list = conversions(&pytorch_params(), Computation::FBGEMM, ort());
        let fields: Vec<_> = list.iter().map(|c| (c.field, c.channel, c.to)).collect();
        assert_eq!(fields, [("bias", Some(0), 2.0), ("bias", Some(1), -4.0)]);
        assert_eq!(list[0].exact, Some((0.3f32 / 0.125f32) as f64));
        assert!(list[0].source.contains("requantize_bias_helper"));
        // Either order of A and B converts the ONNX side.
        assert_eq!(
            across(&pytorch_params(), ort(), Computation::FBGEMM),
            Some(c)
        );
    }

    #[test]
    fn tflite_rounds_the_bias_half_away_and_shifts_to_int8() {
        let mut p = pytorch_params();
        // 0.3125 / 0.125 = 2.5 exactly: half away from zero gives 3 (torch.onnx: 2).
        // -0.15625 / 0.0625 = -2.5 -> -3.
        p.bias = Some(vec![0.3125, -0.15625]);
        let c = across(&p, Computation::FBGEMM, tflite()).unwrap();
        assert_eq!(c.params.bias_i32, Some(vec![3, -3]));
        assert_eq!(c.params.input_dtype, DType::QInt8);
        assert_eq!(c.params.input_zero_point, 3 - 128);
        // The int8 output runs as its codes + 128: uint8, the same zero point.
        assert!(c.int8_output);
        assert_eq!(c.params.output_dtype, DType::QUInt8);
        assert_eq!(c.params.output_zero_point, 130);
        let o = across(&p, Computation::FBGEMM, ort()).unwrap();
        assert_eq!(o.params.bias_i32, Some(vec![2, -2]));
    }

    #[test]
    fn tflite_bias_multiplies_by_a_float32_reciprocal() {
        // sx·sw = f32(0.1·0.3): its reciprocal rounded to float32, times the
        // bias in float32, differs from the plain quotient when it lands on
        // the other side of .5; compute both by hand from the definitions.
        let mut p = pytorch_params();
        p.input_scale = 0.1;
        p.weight_scales = vec![0.3, 0.3];
        p.bias = Some(vec![1.0, 0.0]);
        let s = 0.1f32 * 0.3f32;
        let inv = (1.0f64 / s as f64) as f32;
        let want = (1.0f32 * inv).round() as i32;
        let c = across(&p, Computation::FLOAT, tflite()).unwrap();
        assert_eq!(c.params.bias_i32.as_ref().unwrap()[0], want);
        assert_eq!(c.params.bias_i32.as_ref().unwrap()[1], 0);
        // 1 / 0.03 = 33.33...: 33 either way.
        assert_eq!(want, 33);
    }

    #[test]
    fn scales_become_float32_and_are_listed() {
        let mut p = pytorch_params();
        p.input_scale = 0.1;
        // The engines round scales to float32 themselves: params keep them.
        let c = across(&p, Computation::FBGEMM, ort()).unwrap();
        assert_eq!(c.params.input_scale, 0.1);
        let list = conversions(&p, Computation::FBGEMM, ort());
        let row = list.iter().find(|c| c.field == "input scale").unwrap();
        assert_eq!((row.from, row.to), (0.1, 0.10000000149011612));
        assert!(row.rule.contains("float32"));
        // A scale float32 holds exactly is not listed.
        p.input_scale = 0.007839367724955082;
        assert_eq!(0.007839367724955082f64 as f32 as f64, 0.007839367724955082);
        let list = conversions(&p, Computation::FBGEMM, ort());
        assert!(list.iter().all(|c| c.field != "input scale"));
    }

    #[test]
    fn onnx_to_litert_keeps_the_int32_bias() {
        let mut p = pytorch_params();
        p.bias = None;
        p.bias_i32 = Some(vec![7, -7]);
        let c = across(&p, ort(), tflite()).unwrap();
        assert_eq!(c.family, Family::LiteRt);
        assert_eq!(c.params.bias_i32, Some(vec![7, -7]));
        assert_eq!(c.params.input_zero_point, -125);
        let list = conversions(&p, ort(), tflite());
        assert!(list.iter().all(|c| c.field != "bias"));
        let zps: Vec<_> = list.iter().map(|c| (c.field, c.from, c.to)).collect();
        assert_eq!(
            zps,
            [
                ("input zero point", 3.0, -125.0),
                ("output zero point", 130.0, 2.0)
            ]
        );
    }

    #[test]
    fn a_bias_past_int32() {
        // 1e9 / 0.125 = 8e9: x86's cvttss2si gives 0x80000000 (ONNX);
        // TFLite saturates to 2^31 - 1, and -2^31 to -(2^31 - 1).
        let mut p = pytorch_params();
        p.bias = Some(vec![1e9, -1e9]);
        let c = across(&p, Computation::FBGEMM, ort()).unwrap();
        assert_eq!(c.params.bias_i32, Some(vec![i32::MIN, i32::MIN]));
        let c = across(&p, Computation::FBGEMM, tflite()).unwrap();
        assert_eq!(c.params.bias_i32, Some(vec![i32::MAX, -i32::MAX]));
    }
}
