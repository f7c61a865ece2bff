//! Across runtimes: a scenario written for one runtime, converted the way the
//! export path converts a model for another (PyTorch -> ONNX via `torch.onnx`,
//! PyTorch -> LiteRT via the TFLite converter, ONNX -> LiteRT), so that A and B
//! run the same model rather than one refusing or ignoring the other's fields.
//! Each change is listed with the rule and the source it follows.
use crate::engine::{Computation, ConvQParams, Family};
use crate::error::{Error, Result};
use crate::quant::DType;
use serde::Serialize;

/// One field changed by the conversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversion {
    /// "bias[2]", "input zero point", ...
    pub field: String,
    pub from: String,
    pub to: String,
    /// The rule with its numbers.
    pub rule: String,
    /// File and function of the exporter or converter that does this.
    pub source: &'static str,
}

/// The parameters the converted side runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The runtime converted to; engines of that family run on `params`.
    pub family: Family,
    pub params: ConvQParams,
    /// Added to the converted engine's output codes to compare them with the
    /// other side's in the scenario's dtype (128 when uint8 became int8).
    pub output_offset: i64,
    pub conversions: Vec<Conversion>,
}

impl Converted {
    /// Whether computation `c` runs on the converted parameters.
    pub fn applies_to(&self, c: Computation) -> bool {
        form(c.row().family) == self.family
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

/// The conversion A and B need: none when they take the same runtime's form;
/// otherwise the later one on the export path gets the scenario converted
/// from the earlier one's form (so swapping A and B changes nothing).
pub fn across(p: &ConvQParams, a: Computation, b: Computation) -> Result<Option<Converted>> {
    let (fa, fb) = (form(a.row().family), form(b.row().family));
    if fa == fb {
        return Ok(None);
    }
    let (from, to) = if rank(fa) < rank(fb) {
        (fa, fb)
    } else {
        (fb, fa)
    };
    convert(p, from, to).map(Some)
}

const TORCH_SCALE: &str =
    "torch/onnx/symbolic_helper.py: dequantize_helper, quantize_helper (Cast scale to FLOAT)";
const TORCH_BIAS: &str = "torch/onnx/symbolic_helper.py: requantize_bias_helper";
const TFLITE_SCALE: &str =
    "tensorflow/compiler/mlir/lite/schema/schema.fbs: QuantizationParameters.scale is [float]";
const TFLITE_BIAS: &str =
    "tensorflow/lite/tools/optimize/quantization_utils.cc: SymmetricPerChannelBiasQuantize -> SymmetricBiasQuantize";
const TFLITE_INT8: &str =
    "tensorflow/lite/tools/optimize/modify_model_interface.cc (uint8 <-> int8: zero point ± 128); TFLite 8-bit spec: int8 activations";

/// Converts parameters in `from`'s form to what `to`'s engines run on.
pub fn convert(p: &ConvQParams, from: Family, to: Family) -> Result<Converted> {
    let mut q = p.clone();
    let mut out = vec![];
    let scale_source = if to == Family::LiteRt {
        TFLITE_SCALE
    } else {
        TORCH_SCALE
    };
    // Both ONNX and TFLite store scales as float32; PyTorch keeps float64.
    let mut to_f32 = |field: String, v: &mut f64| {
        let f = *v as f32 as f64;
        if f != *v {
            out.push(Conversion {
                field,
                from: v.to_string(),
                to: f.to_string(),
                rule: "float64 -> float32 (round to nearest), shown exactly".into(),
                source: scale_source,
            });
            *v = f;
        }
    };
    to_f32("input scale".into(), &mut q.input_scale);
    let per_channel = q.per_channel;
    for (c, s) in q.weight_scales.iter_mut().enumerate() {
        let field = if per_channel {
            format!("weight scale[{c}]")
        } else {
            "weight scale".into()
        };
        to_f32(field, s);
    }
    to_f32("output scale".into(), &mut q.output_scale);

    if from == Family::PyTorch && q.bias_i32.is_none() {
        if let Some(bias) = q.bias.take() {
            let mut b32 = Vec::with_capacity(bias.len());
            for (c, &b) in bias.iter().enumerate() {
                let (v, rule, source) = if to == Family::LiteRt {
                    tflite_bias(b, p, c)?
                } else {
                    torch_onnx_bias(b, p, c)?
                };
                out.push(Conversion {
                    field: format!("bias[{c}]"),
                    from: format!("{b} (float32)"),
                    to: format!("{v} (int32)"),
                    rule,
                    source,
                });
                b32.push(v);
            }
            q.bias_i32 = Some(b32);
        }
    }

    let mut output_offset = 0;
    if to == Family::LiteRt {
        if q.input_dtype == DType::QUInt8 {
            q.input_dtype = DType::QInt8;
            out.push(Conversion {
                field: "input codes".into(),
                from: "uint8".into(),
                to: "int8".into(),
                rule: "code - 128 (the same real values)".into(),
                source: TFLITE_INT8,
            });
            shift_zero_point(&mut out, "input zero point", &mut q.input_zero_point);
        }
        if q.output_dtype == DType::QUInt8 {
            q.output_dtype = DType::QInt8;
            output_offset = 128;
            out.push(Conversion {
                field: "output codes".into(),
                from: "uint8".into(),
                to: "int8".into(),
                rule: "int8 code + 128 is shown, to compare in uint8".into(),
                source: TFLITE_INT8,
            });
            shift_zero_point(&mut out, "output zero point", &mut q.output_zero_point);
        }
    }
    Ok(Converted {
        family: to,
        params: q,
        output_offset,
        conversions: out,
    })
}

fn shift_zero_point(out: &mut Vec<Conversion>, field: &str, z: &mut i64) {
    out.push(Conversion {
        field: field.into(),
        from: z.to_string(),
        to: (*z - 128).to_string(),
        rule: "zero point - 128".into(),
        source: TFLITE_INT8,
    });
    *z -= 128;
}

fn out_of_range(c: usize, v: f64) -> Error {
    Error::BadValue(format!(
        "bias of channel {c} is {v} in accumulator units, outside int32"
    ))
}

/// `torch.onnx`: `Cast(Div(bias, Mul(w_scale, x_scale)), to=INT32)`, all in
/// float32; the Cast truncates toward zero.
fn torch_onnx_bias(b: f32, p: &ConvQParams, c: usize) -> Result<(i32, String, &'static str)> {
    let (sx, sw) = (p.input_scale as f32, p.weight_scale(c) as f32);
    let scale = sw * sx;
    let v = b / scale;
    if !(v.abs() < 2147483648.0) {
        return Err(out_of_range(c, v as f64));
    }
    let q = v.trunc() as i32;
    let rule = format!(
        "f32(bias / f32(sw·sx)) = {b} / {scale} = {v}, Cast to int32 truncates toward zero: {q}"
    );
    Ok((q, rule, TORCH_BIAS))
}

/// TFLite converter: `inv = f32(1.0 / f32(sx·sw))` (the division in double),
/// `round(f32(bias · inv))` half away from zero, saturated to ±(2^31 - 1).
fn tflite_bias(b: f32, p: &ConvQParams, c: usize) -> Result<(i32, String, &'static str)> {
    let (sx, sw) = (p.input_scale as f32, p.weight_scale(c) as f32);
    let scale = sx * sw;
    let inv = if scale == 0.0 {
        0.0
    } else {
        (1.0 / scale as f64) as f32
    };
    let v = (b * inv).round();
    if v.is_nan() {
        return Err(out_of_range(c, v as f64));
    }
    let q = v.clamp(-(i32::MAX as f32), i32::MAX as f32) as i32;
    let q = q.max(-i32::MAX);
    let rule = format!(
        "round(f32(bias · f32(1 / f32(sx·sw)))) = round({b} · {inv}) = {v}, half away from zero: {q}"
    );
    Ok((q, rule, TFLITE_BIAS))
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
        assert_eq!(across(&p, Computation::FBGEMM, Computation::QNNPACK).unwrap(), None);
        assert_eq!(across(&p, Computation::FBGEMM, Computation::FLOAT).unwrap(), None);
        let x = Computation::parse("onnxruntime-qdq-float").unwrap();
        assert_eq!(across(&p, ort(), x).unwrap(), None);
        let x = Computation::parse("tflite-xnnpack").unwrap();
        assert_eq!(across(&p, tflite(), x).unwrap(), None);
    }

    #[test]
    fn torch_onnx_truncates_the_bias() {
        // 0.3 / (0.25·0.5) = 2.4 -> 2; -0.3 / (0.125·0.5) = -4.8 -> -4 (toward zero).
        let c = across(&pytorch_params(), Computation::FBGEMM, ort())
            .unwrap()
            .unwrap();
        assert_eq!(c.family, Family::OnnxRuntime);
        assert_eq!(c.params.bias_i32, Some(vec![2, -4]));
        assert_eq!(c.params.bias, None);
        // uint8 stays uint8 in ONNX; the scales are float32 already.
        assert_eq!(c.params.input_dtype, DType::QUInt8);
        assert_eq!(c.params.input_zero_point, 3);
        assert_eq!(c.output_offset, 0);
        let fields: Vec<&str> = c.conversions.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["bias[0]", "bias[1]"]);
        assert!(c.conversions[0].source.contains("requantize_bias_helper"));
        // Either order of A and B converts the ONNX side.
        assert_eq!(
            across(&pytorch_params(), ort(), Computation::FBGEMM).unwrap(),
            Some(c)
        );
    }

    #[test]
    fn tflite_rounds_the_bias_half_away_and_shifts_to_int8() {
        let mut p = pytorch_params();
        // 0.3125 / 0.125 = 2.5 exactly: half away from zero gives 3 (torch.onnx: 2).
        // -0.15625 / 0.0625 = -2.5 -> -3.
        p.bias = Some(vec![0.3125, -0.15625]);
        let c = across(&p, Computation::FBGEMM, tflite()).unwrap().unwrap();
        assert_eq!(c.params.bias_i32, Some(vec![3, -3]));
        assert_eq!(c.params.input_dtype, DType::QInt8);
        assert_eq!(c.params.input_zero_point, 3 - 128);
        assert_eq!(c.params.output_dtype, DType::QInt8);
        assert_eq!(c.params.output_zero_point, 2);
        assert_eq!(c.output_offset, 128);
        let o = across(&p, Computation::FBGEMM, ort()).unwrap().unwrap();
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
        let c = across(&p, Computation::FLOAT, tflite()).unwrap().unwrap();
        assert_eq!(c.params.bias_i32.as_ref().unwrap()[0], want);
        assert_eq!(c.params.bias_i32.as_ref().unwrap()[1], 0);
        // 1 / 0.03 = 33.33...: 33 either way.
        assert_eq!(want, 33);
    }

    #[test]
    fn scales_become_float32_and_are_listed() {
        let mut p = pytorch_params();
        p.input_scale = 0.1;
        let c = across(&p, Computation::FBGEMM, ort()).unwrap().unwrap();
        assert_eq!(c.params.input_scale, 0.1f32 as f64);
        let row = c.conversions.iter().find(|c| c.field == "input scale").unwrap();
        assert_eq!((row.from.as_str(), row.to.as_str()), ("0.1", "0.10000000149011612"));
        assert!(row.rule.contains("float32"));
        // A scale float32 holds exactly is not listed.
        p.input_scale = 0.007839367724955082;
        assert_eq!(0.007839367724955082f64 as f32 as f64, 0.007839367724955082);
        let c = across(&p, Computation::FBGEMM, ort()).unwrap().unwrap();
        assert!(c.conversions.iter().all(|c| c.field != "input scale"));
    }

    #[test]
    fn onnx_to_litert_keeps_the_int32_bias() {
        let mut p = pytorch_params();
        p.bias = None;
        p.bias_i32 = Some(vec![7, -7]);
        let c = across(&p, ort(), tflite()).unwrap().unwrap();
        assert_eq!(c.family, Family::LiteRt);
        assert_eq!(c.params.bias_i32, Some(vec![7, -7]));
        assert_eq!(c.params.input_zero_point, -125);
        assert!(c.conversions.iter().all(|c| !c.field.starts_with("bias")));
    }

    #[test]
    fn a_bias_past_int32_is_refused() {
        let mut p = pytorch_params();
        p.bias = Some(vec![1e9, 0.0]);
        let e = across(&p, Computation::FBGEMM, ort()).unwrap_err();
        assert!(e.to_string().contains("outside int32"), "{e}");
    }
}
