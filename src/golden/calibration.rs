//! Golden checks of the calibration flow (observer.json, module.json): the
//! observers and the eager prepare/calibrate/convert flow against PyTorch.
//! Here rather than in `flow`, so that calibration does not depend on golden
//! files (and serde_json stays out of the wasm build).

use super::{Mismatch, Outcome};
use crate::engine::Computation;
use crate::error::{Error, Result};
use crate::flow::*;
use crate::observe::{Observer, ObserverConfig, ObserverKind};
use crate::quant::{quantize_per_tensor, DType, QScheme};
use crate::scenario::{InputSource, Scenario};
use serde::Deserialize;

#[derive(Deserialize)]
struct Batch {
    shape: Vec<usize>,
    x: Vec<f64>,
}

#[derive(Deserialize)]
struct ObserverCase {
    id: String,
    observer: String,
    args: serde_json::Map<String, serde_json::Value>,
    batches: Vec<Batch>,
    scale: Vec<f64>,
    zero_point: Vec<i64>,
}

/// An observer config from a class name and its `with_args` keywords (as a
/// golden case's `args` holds them). Every keyword PyTorch's constructor takes
/// is honoured or refused by name; unknown keywords are refused (PyTorch raises
/// TypeError).
pub fn observer_config(
    class_name: &str,
    args: &serde_json::Map<String, serde_json::Value>,
) -> Result<ObserverConfig> {
    let kind = ObserverKind::parse(class_name)?;
    let name = kind.class_name();
    let bad = |k: &str, v: &serde_json::Value, want: &str| {
        Error::Input(format!("{name}: argument {k} = {v} is not {want}"))
    };
    let mut dtype = DType::QUInt8;
    let mut qscheme = if kind.is_per_channel() {
        QScheme::PerChannelAffine
    } else {
        QScheme::PerTensorAffine
    };
    let mut reduce_range = false;
    let mut cfg = ObserverConfig::new(kind, dtype, qscheme, reduce_range);
    for (k, v) in args {
        match k.as_str() {
            "dtype" => {
                dtype = DType::parse(v.as_str().ok_or_else(|| bad(k, v, "a dtype name"))?)
                    .map_err(|e| Error::Input(format!("{name}: argument dtype: {e}")))?
            }
            "qscheme" => {
                qscheme = QScheme::parse(v.as_str().ok_or_else(|| bad(k, v, "a qscheme name"))?)
                    .map_err(|e| Error::Input(format!("{name}: argument qscheme: {e}")))?
            }
            "reduce_range" => reduce_range = v.as_bool().ok_or_else(|| bad(k, v, "a bool"))?,
            "quant_min" | "quant_max" => {
                let q = if v.is_null() {
                    None
                } else {
                    Some(v.as_i64().ok_or_else(|| bad(k, v, "an integer"))?)
                };
                if k == "quant_min" {
                    cfg.quant_min = q
                } else {
                    cfg.quant_max = q
                }
            }
            "eps" => cfg.eps = v.as_f64().ok_or_else(|| bad(k, v, "a float"))? as f32,
            "ch_axis" if kind.is_per_channel() => {
                cfg.ch_axis = v.as_i64().ok_or_else(|| bad(k, v, "an integer"))?
            }
            "averaging_constant" if kind.is_moving_average() => {
                cfg.averaging_constant = v.as_f64().ok_or_else(|| bad(k, v, "a float"))? as f32
            }
            "bins" if kind == ObserverKind::Histogram => {
                cfg.bins = v.as_u64().ok_or_else(|| bad(k, v, "a positive integer"))? as usize
            }
            "is_dynamic" if v.as_bool() == Some(false) => {}
            "is_dynamic" => {
                return Err(Error::Input(format!(
                    "{name}: is_dynamic = {v} is not supported (dynamic quantization has no calibration)"
                )))
            }
            "factory_kwargs" if v.is_null() => {}
            other => {
                return Err(Error::Input(format!(
                    "{name}: argument {other} = {v} is not taken (PyTorch's {name} has no such keyword, or this tool does not model it)"
                )))
            }
        }
    }
    cfg.dtype = dtype;
    cfg.qscheme = qscheme;
    cfg.reduce_range = reduce_range;
    cfg.validate()?;
    Ok(cfg)
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn mismatch_scales(
    id: &str,
    want_s: &[f64],
    got_s: &[f64],
    want_z: &[i64],
    got_z: &[i64],
) -> Outcome {
    let failure = if want_s.len() != got_s.len() || want_z.len() != got_z.len() {
        Some(Mismatch::Error(format!(
            "expected {} scales, got {}",
            want_s.len(),
            got_s.len()
        )))
    } else if let Some(i) = (0..want_s.len()).find(|&i| want_s[i].to_bits() != got_s[i].to_bits()) {
        Some(Mismatch::Element {
            index: i,
            expected: format!("scale {}", want_s[i]),
            got: format!("scale {}", got_s[i]),
            count: 1,
        })
    } else {
        (0..want_z.len())
            .find(|&i| want_z[i] != got_z[i])
            .map(|i| Mismatch::Element {
                index: i,
                expected: format!("zero_point {}", want_z[i]),
                got: format!("zero_point {}", got_z[i]),
                count: 1,
            })
    };
    Outcome {
        id: id.to_string(),
        failure,
    }
}

fn outcome(id: &str, r: Result<Outcome>) -> Outcome {
    r.unwrap_or_else(|e| Outcome {
        id: id.to_string(),
        failure: Some(Mismatch::Error(e.to_string())),
    })
}

pub fn verify_observer_case(i: usize, c: serde_json::Value) -> Result<Outcome> {
    let c: ObserverCase =
        serde_json::from_value(c).map_err(|e| Error::Input(format!("case {i}: {e}")))?;
    let run = || -> Result<Outcome> {
        let mut o = Observer::new(observer_config(&c.observer, &c.args)?)?;
        for b in &c.batches {
            o.observe(&b.shape, &f32s(&b.x))?;
        }
        let d = o.calculate_qparams()?;
        Ok(mismatch_scales(
            &c.id,
            &c.scale,
            &d.scales,
            &c.zero_point,
            &d.zero_points,
        ))
    };
    Ok(outcome(&c.id, run()))
}

#[derive(Deserialize)]
struct Tensor {
    shape: Vec<usize>,
    x: Vec<f64>,
}

#[derive(Deserialize)]
struct ModuleCase {
    id: String,
    engine: String,
    reduce_range: bool,
    float_weight: f64,
    float_bias: f64,
    calibration: Tensor,
    input: Tensor,
    input_scale: f64,
    input_zero_point: i64,
    weight_scale: Vec<f64>,
    weight_q: Vec<i64>,
    output_scale: f64,
    output_zero_point: i64,
    input_q: Vec<i64>,
    output_q: Vec<i64>,
}

pub fn verify_module_case(i: usize, c: serde_json::Value) -> Result<Outcome> {
    let c: ModuleCase =
        serde_json::from_value(c).map_err(|e| Error::Input(format!("case {i}: {e}")))?;
    let run = || -> Result<Outcome> {
        let engine = Computation::parse(&c.engine)?;
        let model = forum_model(
            &c.calibration.shape,
            c.float_weight as f32,
            c.float_bias as f32,
            c.reduce_range,
            engine,
        )?;
        let conv = model.calibrate(&[f32s(&c.calibration.x)])?;
        let p = &conv.params;
        // Each intermediate in PyTorch's order; the first that differs is reported.
        let checks: [(&str, Vec<f64>, Vec<f64>); 5] = [
            (
                "input_scale/zero_point",
                vec![c.input_scale, c.input_zero_point as f64],
                vec![p.input_scale, p.input_zero_point as f64],
            ),
            (
                "weight_scale",
                c.weight_scale.clone(),
                p.weight_scales.clone(),
            ),
            (
                "weight_q",
                c.weight_q.iter().map(|&v| v as f64).collect(),
                conv.weight_q.iter().map(|&v| v as f64).collect(),
            ),
            (
                "output_scale/zero_point",
                vec![c.output_scale, c.output_zero_point as f64],
                vec![p.output_scale, p.output_zero_point as f64],
            ),
            (
                "input_q",
                c.input_q.iter().map(|&v| v as f64).collect(),
                vec![],
            ),
        ];
        for (what, want, got) in &checks[..4] {
            if want.len() != got.len()
                || want
                    .iter()
                    .zip(got)
                    .any(|(a, b)| a.to_bits() != b.to_bits())
            {
                return Ok(Outcome {
                    id: c.id.clone(),
                    failure: Some(Mismatch::Element {
                        index: 0,
                        expected: format!("{what} {want:?}"),
                        got: format!("{what} {got:?}"),
                        count: 1,
                    }),
                });
            }
        }
        if c.input.shape != c.calibration.shape {
            return Err(Error::BadShape(
                "input and calibration shapes differ".into(),
            ));
        }
        let sc = conv.scenario(&model, InputSource::Codes { codes: vec![] }, engine);
        let input_q = quantize_per_tensor(
            &f32s(&c.input.x),
            p.input_scale,
            p.input_zero_point,
            DType::QUInt8,
        )?;
        let o = crate::golden::compare_codes(&c.id, &c.input_q, &input_q);
        if o.failure.is_some() {
            return Ok(o);
        }
        let sc = Scenario {
            input: InputSource::Codes {
                codes: input_q.iter().map(|&v| v as u8).collect(),
            },
            ..sc
        };
        let run = sc.run()?;
        let out: Vec<i64> = run.out_a.iter().map(|&v| v as i64).collect();
        Ok(crate::golden::compare_codes(&c.id, &c.output_q, &out))
    };
    Ok(outcome(&c.id, run()))
}
