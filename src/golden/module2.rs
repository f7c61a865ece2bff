//! Golden checks of the whole eager flow of a general Conv2d (`module2` cases,
//! `../shared/golden/README.md`): QuantStub -> Conv2d [-> ReLU] -> DeQuantStub
//! under an explicit qconfig, calibrated, converted and run.
//!
//! Each stage is checked on its own, from the values the file records for its
//! inputs, so that an error in one stage cannot be hidden (or caused) by another:
//!
//! - `qconfig`: the observer classes and their `with_args` keywords (`args`)
//!   resolve to the settings the instantiated PyTorch observers had (`resolved`:
//!   dtype, qscheme, reduce_range, quant_min/max, eps, ch_axis,
//!   averaging_constant, bins);
//! - `input observer`: the `calibration` batches, fed in order, give the
//!   recorded `observed.input` min/max and `input_scale` / `input_zero_point`;
//! - `output observer`: the recorded `calibration_output` (what the output
//!   observer saw, after the fused ReLU) gives `observed.output` and
//!   `output_scale` / `output_zero_point`;
//! - `weight`: `float_weight` through the qconfig's weight observer and
//!   `_quantize_weight` (per-tensor: `quantize_per_tensor`, per-channel:
//!   `quantize_per_channel` on ch_axis 0) gives `weight_scales`,
//!   `weight_zero_points`, `weight_q`, the stored qscheme/axis, and the bias
//!   the converted conv holds (`bias`: the float bias, or zeros on qnnpack for a
//!   conv without one);
//! - `input_q`: `input.x` quantized with the recorded input qparams;
//! - `output_q`: the quantized conv on the recorded codes, weights, bias and
//!   scales, run by the case's engine on `Platform::default()` (Linux,
//!   AVX512-VNNI: the generating machine), which must pick the recorded `kernel`.
//!
//! The float conv. The output observer's input is the float model's output,
//! and PyTorch's float CPU conv (oneDNN, blocked and vectorized) sums taps in
//! an order this crate does not reproduce. So the output observer is checked
//! on the recorded `calibration_output`, never on our float conv; our float
//! conv ([`FloatConv::forward`]: bias first, one FMA per tap in OIHW order) is
//! run on the calibration batches only to *report* how often it matches the
//! recorded outputs bit for bit ([`Module2Report`]); a mismatch is not a failure.

use super::{compare_codes, ConvCase, Mismatch, Outcome, QTensor, QWeight};
use crate::conv::ConvShape;
use crate::engine::{Computation, Platform};
use crate::error::{Error, Result};
use crate::flow::FloatConv;
use crate::observe::{Observer, ObserverConfig, ObserverKind};
use crate::quant::{quantize_per_tensor, DType};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Deserialize)]
struct ObserverSpec {
    observer: String,
    args: Map<String, Value>,
    resolved: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
struct QConfig {
    #[allow(dead_code)]
    source: String,
    activation: ObserverSpec,
    weight: ObserverSpec,
}

#[derive(Debug, Clone, Deserialize)]
struct Conv {
    in_channels: usize,
    out_channels: usize,
    kernel_size: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
    bias: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct Batch {
    shape: Vec<usize>,
    x: Vec<f64>,
}

#[derive(Debug, Clone, Deserialize)]
struct OutBatch {
    shape: Vec<usize>,
    y: Vec<f64>,
}

#[derive(Debug, Clone, Deserialize)]
struct MinMax {
    min_val: f64,
    max_val: f64,
}

#[derive(Debug, Clone, Deserialize)]
struct Observed {
    input: MinMax,
    output: MinMax,
}

#[derive(Debug, Clone, Deserialize)]
struct Module2Case {
    id: String,
    engine: String,
    #[serde(default)]
    kernel: Option<String>,
    #[serde(default)]
    cpu: Option<String>,
    conv: Conv,
    relu: bool,
    float_weight: Vec<f64>,
    float_bias: Option<Vec<f64>>,
    qconfig: QConfig,
    calibration: Vec<Batch>,
    calibration_output: Vec<OutBatch>,
    observed: Observed,
    input: Batch,
    input_scale: f64,
    input_zero_point: i64,
    input_q: Vec<i64>,
    weight_qscheme: String,
    weight_scales: Vec<f64>,
    weight_zero_points: Vec<i64>,
    weight_axis: Option<usize>,
    weight_q: Vec<i64>,
    bias: Option<Vec<f64>>,
    output_shape: Vec<usize>,
    output_scale: f64,
    output_zero_point: i64,
    output_q: Vec<i64>,
}

/// The stages, in the order PyTorch runs them.
pub const STAGES: [&str; 6] = [
    "qconfig",
    "input observer",
    "output observer",
    "weight",
    "input_q",
    "output_q",
];

/// One case: each stage's result (`Err` says what differs) and the float-conv comparison.
#[derive(Debug, Clone)]
struct Stages {
    results: Vec<std::result::Result<(), String>>,
    /// Elements of our float conv equal (bit for bit, ±0 equal) to
    /// `calibration_output`, of how many; batches entirely equal, of how many.
    float_equal: (usize, usize, usize, usize),
}

/// Per-stage pass counts of a module2 file and what the float conv showed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Module2Report {
    pub cases: usize,
    /// (stage, passed, failed), in [`STAGES`] order.
    pub stages: Vec<(String, usize, usize)>,
    pub float_elements_equal: usize,
    pub float_elements: usize,
    pub float_batches_equal: usize,
    pub float_batches: usize,
    /// Cases whose float conv matched every calibration output.
    pub float_cases_equal: usize,
}

impl std::fmt::Display for Module2Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "module2: {} cases", self.cases)?;
        for (s, p, n) in &self.stages {
            writeln!(f, "  {s:<16} {p} passed, {n} failed")?;
        }
        write!(
            f,
            "  float conv (reported, not checked): {} of {} outputs bit-identical to calibration_output; {} of {} batches, {} of {} cases entirely",
            self.float_elements_equal,
            self.float_elements,
            self.float_batches_equal,
            self.float_batches,
            self.float_cases_equal,
            self.cases
        )
    }
}

/// `name` of a qconfig recorded as `get_default_qconfig('name')`.
fn default_name(source: &str) -> Option<&str> {
    source
        .strip_prefix("get_default_qconfig('")?
        .strip_suffix("')")
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn same_f32(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a == 0.0 && b == 0.0)
}

/// The observer config from `args`, checked against `resolved`.
fn resolved_config(spec: &ObserverSpec) -> std::result::Result<ObserverConfig, String> {
    let cfg = super::observer_config(&spec.observer, &spec.args).map_err(|e| e.to_string())?;
    let (qmin, qmax) = cfg.qrange().map_err(|e| e.to_string())?;
    for (k, v) in &spec.resolved {
        let ok = match k.as_str() {
            "dtype" => v.as_str() == Some(cfg.dtype.name()),
            "qscheme" => v.as_str() == Some(cfg.qscheme.name()),
            "reduce_range" => v.as_bool() == Some(cfg.reduce_range),
            "quant_min" => v.as_i64() == Some(qmin),
            "quant_max" => v.as_i64() == Some(qmax),
            "eps" => v.as_f64().map(|e| e as f32) == Some(cfg.eps),
            "ch_axis" => cfg.kind.is_per_channel() && v.as_i64() == Some(cfg.ch_axis),
            "averaging_constant" => {
                cfg.kind.is_moving_average()
                    && v.as_f64().map(|c| c as f32) == Some(cfg.averaging_constant)
            }
            "bins" => cfg.kind == ObserverKind::Histogram && v.as_u64() == Some(cfg.bins as u64),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "{} resolved {k} = {v}; from args {:?} this tool has dtype {}, qscheme {}, reduce_range {}, quant range {qmin}..={qmax}, eps {}, ch_axis {}, averaging_constant {}, bins {}",
                spec.observer,
                spec.args,
                cfg.dtype.name(),
                cfg.qscheme.name(),
                cfg.reduce_range,
                cfg.eps,
                cfg.ch_axis,
                cfg.averaging_constant,
                cfg.bins
            ));
        }
    }
    Ok(cfg)
}

fn check_observer(
    cfg: &ObserverConfig,
    batches: &[(&[usize], Vec<f32>)],
    observed: &MinMax,
    scale: f64,
    zero_point: i64,
) -> std::result::Result<(), String> {
    let mut o = Observer::new(*cfg).map_err(|e| e.to_string())?;
    for (shape, x) in batches {
        o.observe(shape, x).map_err(|e| e.to_string())?;
    }
    let (mins, maxs) = o.min_max();
    let (want_min, want_max) = (observed.min_val as f32, observed.max_val as f32);
    if mins.len() != 1 || !same_f32(mins[0], want_min) || !same_f32(maxs[0], want_max) {
        return Err(format!(
            "min/max: expected [{want_min}, {want_max}], got {mins:?} / {maxs:?}"
        ));
    }
    let d = o.calculate_qparams().map_err(|e| e.to_string())?;
    if d.scales.len() != 1
        || d.scales[0].to_bits() != scale.to_bits()
        || d.zero_points[0] != zero_point
    {
        return Err(format!(
            "qparams: expected scale {scale}, zero point {zero_point}; got {:?}, {:?}",
            d.scales, d.zero_points
        ));
    }
    Ok(())
}

impl Module2Case {
    fn weight_shape(&self) -> [usize; 4] {
        let c = &self.conv;
        [
            c.out_channels,
            c.in_channels / c.groups.max(1),
            c.kernel_size[0],
            c.kernel_size[1],
        ]
    }

    fn weight_stage(&self, cfg: &ObserverConfig) -> std::result::Result<(), String> {
        let shape = self.weight_shape();
        let w = f32s(&self.float_weight);
        let mut o = Observer::new(*cfg).map_err(|e| e.to_string())?;
        o.observe(&shape, &w).map_err(|e| e.to_string())?;
        let d = o.calculate_qparams().map_err(|e| e.to_string())?;
        let per_channel = cfg.qscheme.is_per_channel();
        if per_channel && cfg.ch_axis != 0 {
            return Err(format!(
                "weight observer ch_axis {} (conv weights are quantized on axis 0)",
                cfg.ch_axis
            ));
        }
        let (want_scheme, want_axis) = if per_channel {
            ("per_channel_affine", Some(0))
        } else {
            ("per_tensor_affine", None)
        };
        if self.weight_qscheme != want_scheme || self.weight_axis != want_axis {
            return Err(format!(
                "stored weight: expected {} axis {:?}, the tool stores {want_scheme} axis {want_axis:?}",
                self.weight_qscheme, self.weight_axis
            ));
        }
        if d.scales.len() != self.weight_scales.len()
            || d.scales
                .iter()
                .zip(&self.weight_scales)
                .any(|(a, b)| a.to_bits() != b.to_bits())
            || d.zero_points != self.weight_zero_points
        {
            return Err(format!(
                "weight qparams: expected scales {:?}, zero points {:?}; got {:?}, {:?}",
                self.weight_scales, self.weight_zero_points, d.scales, d.zero_points
            ));
        }
        let q = crate::flow::quantize_weight(&w, &shape, cfg, &d).map_err(|e| e.to_string())?;
        if let Some(m) = compare_codes(&self.id, &self.weight_q, &q).failure {
            return Err(format!("weight_q: {m}"));
        }
        // The converted conv's bias: the float bias; qnnpack packs zeros for none.
        let want: Option<Vec<f32>> = match (&self.float_bias, self.engine.as_str()) {
            (Some(b), _) => Some(f32s(b)),
            (None, "qnnpack") => Some(vec![0.0; self.conv.out_channels]),
            (None, _) => None,
        };
        let got = self.bias.as_ref().map(|b| f32s(b));
        let same = match (&want, &got) {
            (Some(a), Some(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_f32(*x, *y))
            }
            (None, None) => true,
            _ => false,
        };
        if !same || self.conv.bias != self.float_bias.is_some() {
            return Err(format!(
                "bias: recorded {got:?}, the converted conv holds {want:?}"
            ));
        }
        Ok(())
    }

    fn conv_case(&self) -> ConvCase {
        let c = &self.conv;
        ConvCase {
            id: self.id.clone(),
            engine: self.engine.clone(),
            relu: self.relu,
            note: String::new(),
            input: QTensor {
                shape: self.input.shape.clone(),
                dtype: "quint8".into(),
                scale: self.input_scale,
                zero_point: self.input_zero_point,
                q: self.input_q.clone(),
            },
            weight: QWeight {
                shape: self.weight_shape().to_vec(),
                dtype: "qint8".into(),
                qscheme: self.weight_qscheme.clone(),
                scales: self.weight_scales.clone(),
                zero_points: self.weight_zero_points.clone(),
                axis: self.weight_axis,
                q: self.weight_q.clone(),
            },
            bias: self.bias.clone(),
            stride: c.stride,
            padding: c.padding,
            dilation: c.dilation,
            groups: c.groups,
            output: QTensor {
                shape: self.output_shape.clone(),
                dtype: "quint8".into(),
                scale: self.output_scale,
                zero_point: self.output_zero_point,
                q: self.output_q.clone(),
            },
            kernel: self.kernel.clone(),
            cpu: self.cpu.clone(),
        }
    }

    fn output_stage(&self) -> std::result::Result<(), String> {
        let case = self.conv_case();
        let platform = Platform::default();
        let recorded = case.platform().map_err(|e| e.to_string())?;
        if recorded != platform {
            return Err(format!(
                "the case ran on {recorded:?}, not the default platform {platform:?}"
            ));
        }
        let got = case.run_on(&platform).map_err(|e| e.to_string())?;
        let got: Vec<i64> = got.into_iter().map(i64::from).collect();
        match compare_codes(&self.id, &self.output_q, &got).failure {
            None => Ok(()),
            Some(m) => Err(format!("output_q: {m}")),
        }
    }

    /// Our float conv on each calibration batch against `calibration_output`.
    fn float_conv(
        &self,
        act: &ObserverConfig,
        wcfg: &ObserverConfig,
    ) -> (usize, usize, usize, usize) {
        let (mut eq, mut total, mut beq) = (0, 0, 0);
        for (b, out) in self.calibration.iter().zip(&self.calibration_output) {
            let shape = match self.float_model(&b.shape, act, wcfg) {
                Some(m) => m,
                None => continue,
            };
            let Ok(y) = shape.forward(&f32s(&b.x)) else {
                continue;
            };
            let want = f32s(&out.y);
            let n = want
                .iter()
                .zip(&y)
                .filter(|(a, b)| same_f32(**a, **b))
                .count();
            let all = n == want.len()
                && y.len() == want.len()
                && out.shape.iter().product::<usize>() == want.len();
            eq += n;
            total += want.len();
            beq += all as usize;
        }
        (eq, total, beq, self.calibration.len())
    }

    fn float_model(
        &self,
        shape: &[usize],
        act: &ObserverConfig,
        wcfg: &ObserverConfig,
    ) -> Option<FloatConv> {
        if shape.len() != 4 {
            return None;
        }
        let c = &self.conv;
        Some(FloatConv {
            shape: ConvShape {
                batch: shape[0],
                in_channels: c.in_channels,
                out_channels: c.out_channels,
                height: shape[2],
                width: shape[3],
                kernel: c.kernel_size,
                stride: c.stride,
                padding: c.padding,
                padding_end: None,
                dilation: c.dilation,
                groups: c.groups,
            },
            weight: f32s(&self.float_weight),
            bias: self.float_bias.as_ref().map(|b| f32s(b)),
            activation: *act,
            weight_observer: *wcfg,
            engine: Computation::parse(&self.engine).ok()?,
            relu: self.relu,
            qconfig: None,
        })
    }

    fn stages(&self) -> Stages {
        let mut results = Vec::with_capacity(STAGES.len());
        let act = resolved_config(&self.qconfig.activation);
        let wcfg = resolved_config(&self.qconfig.weight);
        results.push(match (&act, &wcfg) {
            // A named default must be the table's (`flow::default_qconfig`),
            // which the page and its scripts use by name.
            (Ok(a), Ok(w)) => match default_name(&self.qconfig.source) {
                Some(name) => match crate::flow::default_qconfig(name) {
                    Ok((da, dw)) if (da, dw) == (*a, *w) => Ok(()),
                    Ok(_) => Err(format!(
                        "{}: resolves to other observers than flow::default_qconfig({name:?})",
                        self.qconfig.source
                    )),
                    Err(e) => Err(e.to_string()),
                },
                None => Ok(()),
            },
            (Err(e), _) => Err(format!("activation: {e}")),
            (_, Err(e)) => Err(format!("weight: {e}")),
        });
        let skipped = || Err::<(), String>("qconfig refused".into());
        // (a) observers, each from its own recorded input.
        let inputs: Vec<(&[usize], Vec<f32>)> = self
            .calibration
            .iter()
            .map(|b| (&b.shape[..], f32s(&b.x)))
            .collect();
        let outputs: Vec<(&[usize], Vec<f32>)> = self
            .calibration_output
            .iter()
            .map(|b| (&b.shape[..], f32s(&b.y)))
            .collect();
        match &act {
            Ok(a) => {
                results.push(check_observer(
                    a,
                    &inputs,
                    &self.observed.input,
                    self.input_scale,
                    self.input_zero_point,
                ));
                results.push(check_observer(
                    a,
                    &outputs,
                    &self.observed.output,
                    self.output_scale,
                    self.output_zero_point,
                ));
            }
            Err(_) => {
                results.push(skipped());
                results.push(skipped());
            }
        }
        // (b) weights.
        results.push(match &wcfg {
            Ok(w) => self.weight_stage(w),
            Err(_) => skipped(),
        });
        // (c) input codes from the recorded input qparams.
        results.push(
            quantize_per_tensor(
                &f32s(&self.input.x),
                self.input_scale,
                self.input_zero_point,
                DType::QUInt8,
            )
            .map_err(|e| e.to_string())
            .and_then(
                |q| match compare_codes(&self.id, &self.input_q, &q).failure {
                    None => Ok(()),
                    Some(m) => Err(format!("input_q: {m}")),
                },
            ),
        );
        // (d) the quantized conv.
        results.push(self.output_stage());
        // (e) the float conv, reported only.
        let float_equal = match (&act, &wcfg) {
            (Ok(a), Ok(w)) => self.float_conv(a, w),
            _ => (0, 0, 0, self.calibration.len()),
        };
        Stages {
            results,
            float_equal,
        }
    }
}

fn parse(i: usize, c: Value) -> Result<Module2Case> {
    serde_json::from_value(c).map_err(|e| Error::Input(format!("case {i}: {e}")))
}

pub fn verify_case(i: usize, c: Value) -> Result<Outcome> {
    let case = parse(i, c)?;
    let st = case.stages();
    let failure = st.results.iter().zip(STAGES).find_map(|(r, s)| {
        r.as_ref()
            .err()
            .map(|e| Mismatch::Error(format!("{s}: {e}")))
    });
    Ok(Outcome {
        id: case.id,
        failure,
    })
}

/// Per-stage pass counts of a module2 golden file's text, and the float-conv comparison.
pub fn module2_report(text: &str) -> Result<Module2Report> {
    #[derive(Deserialize)]
    struct File {
        cases: Vec<Value>,
    }
    let file: File =
        serde_json::from_str(text).map_err(|e| Error::Input(format!("not a golden file: {e}")))?;
    let mut r = Module2Report {
        stages: STAGES.iter().map(|s| (s.to_string(), 0, 0)).collect(),
        ..Default::default()
    };
    for (i, c) in file.cases.into_iter().enumerate() {
        let case = parse(i, c)?;
        let st = case.stages();
        r.cases += 1;
        for (k, res) in st.results.iter().enumerate() {
            if res.is_ok() {
                r.stages[k].1 += 1;
            } else {
                r.stages[k].2 += 1;
            }
        }
        let (eq, tot, beq, bt) = st.float_equal;
        r.float_elements_equal += eq;
        r.float_elements += tot;
        r.float_batches_equal += beq;
        r.float_batches += bt;
        r.float_cases_equal += (beq == bt) as usize;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_args_name_themselves() {
        let spec = |obs: &str, args: &str| ObserverSpec {
            observer: obs.into(),
            args: serde_json::from_str(args).unwrap(),
            resolved: Map::new(),
        };
        let e = resolved_config(&spec("MinMaxObserver", r#"{"ch_axis": 1}"#)).unwrap_err();
        assert!(e.contains("ch_axis"), "{e}");
        let e = resolved_config(&spec("HistogramObserver", r#"{"upsample_rate": 8}"#)).unwrap_err();
        assert!(e.contains("upsample_rate"), "{e}");
        let e = resolved_config(&spec("MinMaxObserver", r#"{"quant_min": -8}"#)).unwrap_err();
        assert!(e.contains("quant_min"), "{e}");
        let e = resolved_config(&spec("MinMaxObserver", r#"{"eps": 0.0}"#)).unwrap_err();
        assert!(e.contains("eps"), "{e}");
        assert!(resolved_config(&spec(
            "MovingAveragePerChannelMinMaxObserver",
            r#"{"ch_axis": 1, "averaging_constant": 0.5, "dtype": "qint8"}"#
        ))
        .is_ok());
    }
}
