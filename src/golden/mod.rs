//! Golden vectors from real PyTorch (`../shared/golden/`, schema in its README):
//! reading them and checking the engine against every case, bit for bit.
mod calibration;
mod module2;
pub mod qconv;
pub use calibration::observer_config;
pub use module2::{module2_report, Module2Report};

use crate::conv::{Activations, ConvShape, IntConv};
use crate::engine::{Computation, ConvQParams, Cpu, Os, Platform, Requant};
use crate::error::{Error, Result};
use crate::quant::{quantize_per_tensor, to_qint8, to_quint8, DType, QScheme};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct QTensor {
    pub shape: Vec<usize>,
    pub dtype: String,
    pub scale: f64,
    pub zero_point: i64,
    pub q: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QWeight {
    pub shape: Vec<usize>,
    pub dtype: String,
    pub qscheme: String,
    pub scales: Vec<f64>,
    pub zero_points: Vec<i64>,
    pub axis: Option<usize>,
    pub q: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConvCase {
    pub id: String,
    pub engine: String,
    pub relu: bool,
    #[serde(default)]
    pub note: String,
    pub input: QTensor,
    pub weight: QWeight,
    pub bias: Option<Vec<f64>>,
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub output: QTensor,
    /// What torch ran ("fbgemm", "onednn", "qnnpack"); absent = the engine itself.
    #[serde(default)]
    pub kernel: Option<String>,
    /// The instruction set fbgemm ran with; absent = AVX512-VNNI.
    #[serde(default)]
    pub cpu: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QuantizeCase {
    pub id: String,
    pub dtype: String,
    pub scale: f64,
    pub zero_point: i64,
    pub x: Vec<f64>,
    pub q: Vec<i64>,
    /// Wave 2 tags, e.g. "qint32-large-zp", "subnormal-scale,finite-reciprocal".
    #[serde(default)]
    pub note: String,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub id: String,
    /// `None` when every element matches; otherwise what went wrong.
    pub failure: Option<Mismatch>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// First differing element: flat index, expected, got (and how many differ).
    Element {
        index: usize,
        expected: String,
        got: String,
        count: usize,
    },
    /// The engine refused the case.
    Error(String),
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Element {
                index,
                expected,
                got,
                count,
            } => {
                write!(
                    f,
                    "element {index}: expected {expected}, got {got} ({count} elements differ)"
                )
            }
            Mismatch::Error(e) => write!(f, "engine error: {e}"),
        }
    }
}

pub(crate) fn compare_codes<T: PartialEq + std::fmt::Display>(
    id: &str,
    expected: &[T],
    got: &[T],
) -> Outcome {
    let failure = if expected.len() != got.len() {
        Some(Mismatch::Error(format!(
            "expected {} elements, got {}",
            expected.len(),
            got.len()
        )))
    } else {
        let diffs: Vec<usize> = (0..expected.len())
            .filter(|&i| expected[i] != got[i])
            .collect();
        diffs.first().map(|&i| Mismatch::Element {
            index: i,
            expected: expected[i].to_string(),
            got: got[i].to_string(),
            count: diffs.len(),
        })
    };
    Outcome {
        id: id.to_string(),
        failure,
    }
}

fn outcome_of(id: &str, r: Result<Outcome>) -> Outcome {
    r.unwrap_or_else(|e| Outcome {
        id: id.to_string(),
        failure: Some(Mismatch::Error(e.to_string())),
    })
}

impl ConvCase {
    pub fn shape(&self) -> Result<ConvShape> {
        let (i, w) = (&self.input.shape, &self.weight.shape);
        if i.len() != 4 || w.len() != 4 {
            return Err(Error::BadShape(format!(
                "input shape {i:?} and weight shape {w:?} must be 4-d"
            )));
        }
        if w[1] * self.groups != i[1] {
            return Err(Error::BadShape(format!(
                "weight {w:?} with {} groups does not fit input {i:?}",
                self.groups
            )));
        }
        Ok(ConvShape {
            batch: i[0],
            in_channels: i[1],
            out_channels: w[0],
            height: i[2],
            width: i[3],
            kernel: [w[2], w[3]],
            stride: self.stride,
            padding: self.padding,
            padding_end: None,
            dilation: self.dilation,
            groups: self.groups,
        })
    }

    pub fn qparams(&self) -> Result<ConvQParams> {
        let scheme = QScheme::parse(&self.weight.qscheme)?;
        Ok(ConvQParams {
            input_scale: self.input.scale,
            input_zero_point: self.input.zero_point,
            weight_scales: self.weight.scales.clone(),
            weight_zero_points: self.weight.zero_points.clone(),
            per_channel: scheme.is_per_channel() || self.weight.axis.is_some(),
            bias: self
                .bias
                .as_ref()
                .map(|b| b.iter().map(|&v| v as f32).collect()),
            output_scale: self.output.scale,
            output_zero_point: self.output.zero_point,
            relu: self.relu,
            input_dtype: crate::quant::DType::QUInt8,
            output_dtype: crate::quant::DType::QUInt8,
            bias_i32: None,
            relu6: false,
            weight_dtype: crate::quant::DType::QInt8,
            depthwise_op: false,
        })
    }

    /// The machine the case ran on: Linux (the generator's), and its CPU.
    pub fn platform(&self) -> Result<Platform> {
        let cpu = match &self.cpu {
            None => Cpu::Avx512Vnni,
            Some(c) => Cpu::parse(c).ok_or_else(|| {
                Error::Input(format!("unknown cpu {c:?} (avx2, avx512, avx512_vnni)"))
            })?,
        };
        // AVX2 / AVX512 cases were made with FBGEMM_ENABLE_INSTRUCTIONS on
        // the AVX512-VNNI machine (README "Wave 2 fields").
        Ok(Platform {
            cpu,
            os: Os::Linux,
            emulated: cpu != Cpu::Avx512Vnni,
        })
    }

    /// The engine's output codes for this case.
    pub fn run(&self) -> Result<Vec<i32>> {
        self.run_on(&self.platform()?)
    }

    /// The engine's output codes on a given platform (checking that the engine
    /// picks the kernel torch ran, when the case records it).
    pub fn run_on(&self, platform: &Platform) -> Result<Vec<i32>> {
        let shape = self.shape()?;
        let p = self.qparams()?;
        let comp = Computation::parse(&self.engine)?;
        let input = match DType::parse(&self.input.dtype)? {
            DType::QInt8 => Activations::QInt8(to_qint8("input", &self.input.q)?),
            _ => Activations::QUInt8(to_quint8("input", &self.input.q)?),
        };
        let conv = IntConv {
            shape: &shape,
            input: input.codes(),
            input_zero_point: self.input.zero_point,
            weight: &to_qint8("weight", &self.weight.q)?,
            weight_zero_points: &p.weight_zero_points,
        };
        let rq = Requant::new(comp, &p, &shape, platform)?;
        if let Some(k) = &self.kernel {
            if k != rq.kernel.name {
                return Err(Error::Input(format!(
                    "torch ran kernel {k:?}, the engine chose {:?} ({})",
                    rq.kernel.name, rq.kernel.why
                )));
            }
        }
        let mut acc = vec![];
        rq.kernel
            .accumulation
            .run(&conv, &mut Default::default(), &mut acc)?;
        let mut out = vec![0i32; acc.len()];
        let (oh, ow) = shape.output_hw();
        let plane = oh * ow;
        for (i, (a, o)) in acc.chunks(plane).zip(out.chunks_mut(plane)).enumerate() {
            rq.plane(i % shape.out_channels, a, o);
        }
        Ok(out)
    }

    pub fn verify(&self) -> Outcome {
        let got = self
            .run()
            .map(|got| got.into_iter().map(i64::from).collect::<Vec<_>>());
        outcome_of(
            &self.id,
            got.map(|got| compare_codes(&self.id, &self.output.q, &got)),
        )
    }
}

impl QuantizeCase {
    pub fn verify(&self) -> Outcome {
        let run = || -> Result<Outcome> {
            let x: Vec<f32> = self.x.iter().map(|&v| v as f32).collect();
            let got =
                quantize_per_tensor(&x, self.scale, self.zero_point, DType::parse(&self.dtype)?)?;
            Ok(compare_codes(&self.id, &self.q, &got))
        };
        outcome_of(&self.id, run())
    }
}

/// What a golden file holds, detected from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Conv,
    Quantize,
    Observer,
    Module,
    Module2,
    /// Runtime goldens: one model, one result per engine (RUNTIMES.md).
    QConv,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Conv => "conv",
            Kind::Quantize => "quantize",
            Kind::Observer => "observer",
            Kind::Module => "module",
            Kind::Module2 => "module2",
            Kind::QConv => "qconv",
        }
    }
}

#[derive(Deserialize)]
struct File {
    cases: Vec<serde_json::Value>,
}

fn detect(case: &serde_json::Value) -> Option<Kind> {
    let has = |k: &str| case.get(k).is_some();
    if case.get("kind").and_then(|k| k.as_str()) == Some("module2") {
        Some(Kind::Module2)
    } else if case.get("kind").and_then(|k| k.as_str()) == Some("qconv") && has("results") {
        Some(Kind::QConv)
    } else if has("float_weight") && has("calibration") {
        Some(Kind::Module)
    } else if has("observer") && has("batches") {
        Some(Kind::Observer)
    } else if has("engine") && has("weight") && has("output") {
        Some(Kind::Conv)
    } else if has("x") && has("q") && has("scale") {
        Some(Kind::Quantize)
    } else {
        None
    }
}

fn typed<T: for<'de> Deserialize<'de>>(i: usize, v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::Input(format!("case {i}: {e}")))
}

/// Checks every case of a golden file's text. Errors only when the text is not
/// a golden file; failing cases are outcomes.
pub fn verify_text(text: &str) -> Result<(Kind, Vec<Outcome>)> {
    let file: File =
        serde_json::from_str(text).map_err(|e| Error::Input(format!("not a golden file: {e}")))?;
    let first = file
        .cases
        .first()
        .ok_or_else(|| Error::Input("golden file has no cases".into()))?;
    let kind = detect(first).ok_or_else(|| Error::Input("cannot tell the kind of golden file (conv, quantize, observer, module, module2) from its first case".into()))?;
    let mut out = Vec::with_capacity(file.cases.len());
    for (i, c) in file.cases.into_iter().enumerate() {
        if detect(&c) != Some(kind) {
            return Err(Error::Input(format!(
                "case {i} is not a {} case",
                kind.name()
            )));
        }
        if kind == Kind::QConv {
            out.extend(typed::<qconv::QConvCase>(i, c)?.verify());
            continue;
        }
        let o = match kind {
            Kind::Conv => typed::<ConvCase>(i, c)?.verify(),
            Kind::Quantize => typed::<QuantizeCase>(i, c)?.verify(),
            Kind::Observer => calibration::verify_observer_case(i, c)?,
            Kind::Module => calibration::verify_module_case(i, c)?,
            Kind::Module2 => module2::verify_case(i, c)?,
            Kind::QConv => unreachable!(),
        };
        out.push(o);
    }
    Ok((kind, out))
}

pub fn verify_file(path: &std::path::Path) -> Result<(Kind, Vec<Outcome>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    verify_text(&text).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_told_apart_by_content() {
        let conv = r#"{"engine":"fbgemm","weight":{},"output":{}}"#;
        let v: serde_json::Value = serde_json::from_str(conv).unwrap();
        assert_eq!(detect(&v), Some(Kind::Conv));
        for (text, kind) in [
            (r#"{"x":[],"q":[],"scale":1}"#, Kind::Quantize),
            (
                r#"{"observer":"MinMaxObserver","batches":[]}"#,
                Kind::Observer,
            ),
            (r#"{"float_weight":1,"calibration":{}}"#, Kind::Module),
        ] {
            assert_eq!(detect(&serde_json::from_str(text).unwrap()), Some(kind));
        }
        assert_eq!(
            detect(&serde_json::from_str(r#"{"hello":1}"#).unwrap()),
            None
        );
    }

    #[test]
    fn not_a_golden_file_is_an_error_with_a_reason() {
        assert!(verify_text("[1,2]")
            .unwrap_err()
            .to_string()
            .contains("not a golden file"));
        assert!(verify_text(r#"{"cases":[]}"#)
            .unwrap_err()
            .to_string()
            .contains("no cases"));
        let mixed = r#"{"cases":[{"x":[1.0],"q":[1],"scale":1.0,"id":"a","dtype":"quint8","zero_point":0},{"observer":"x","batches":[]}]}"#;
        assert!(verify_text(mixed)
            .unwrap_err()
            .to_string()
            .contains("case 1 is not a quantize case"));
    }

    #[test]
    fn a_wrong_code_is_reported_with_its_place() {
        let text = r#"{"cases":[{"id":"q","dtype":"quint8","scale":0.5,"zero_point":0,"x":[1.0,2.0,3.0],"q":[2,4,7]}]}"#;
        let (kind, out) = verify_text(text).unwrap();
        assert_eq!(kind, Kind::Quantize);
        assert_eq!(
            out[0].failure,
            Some(Mismatch::Element {
                index: 2,
                expected: "7".into(),
                got: "6".into(),
                count: 1
            })
        );
    }
}
