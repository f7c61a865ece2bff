//! `qconv` golden cases (`../shared/golden/RUNTIMES.md`): one model on one
//! input, one result per runtime engine.
use super::{compare_codes, Mismatch, Outcome};
use crate::conv::{Activations, ConvShape, IntConv};
use crate::engine::{Computation, ConvQParams, Cpu, Os, Platform, Requant};
use crate::error::{Error, Result};
use crate::quant::{to_qint8, to_quint8, DType};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct QcTensor {
    pub shape: Vec<usize>,
    pub dtype: String,
    pub scale: Option<f64>,
    pub zero_point: Option<i64>,
    #[serde(default)]
    pub q: Option<Vec<i64>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QcWeight {
    pub shape: Vec<usize>,
    pub dtype: String,
    pub qscheme: String,
    pub scales: Option<Vec<f64>>,
    pub zero_points: Vec<i64>,
    pub q: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QcBias {
    pub q: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QcResult {
    pub engine: String,
    pub q: Option<Vec<i64>>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QConvCase {
    pub id: String,
    pub op: String,
    pub activation: String,
    pub input: QcTensor,
    pub weight: QcWeight,
    pub bias: Option<QcBias>,
    pub stride: [usize; 2],
    pub pads: [usize; 4],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub output: QcTensor,
    pub results: Vec<QcResult>,
}

/// The engine that computes a result: the peer suite's stored expectation is
/// the ONNX specification's arithmetic (the reference evaluator's), and ORT's
/// ConvInteger runs in the same MLAS engine as its QLinearConv.
pub fn engine_of(result_engine: &str) -> &str {
    match result_engine {
        "onnx-node-test" => "onnx-reference",
        "onnxruntime-convinteger" => "onnxruntime-qlinearconv",
        e => e,
    }
}

fn dtype(s: &str) -> Result<DType> {
    match s {
        "uint8" => Ok(DType::QUInt8),
        "int8" => Ok(DType::QInt8),
        "int32" => Ok(DType::QInt32),
        _ => Err(Error::Input(format!("unknown dtype {s:?}"))),
    }
}

impl QConvCase {
    pub fn shape(&self) -> Result<ConvShape> {
        let (i, w) = (&self.input.shape, &self.weight.shape);
        if i.len() != 4 || w.len() != 4 || w[1] * self.groups != i[1] {
            return Err(Error::BadShape(format!(
                "input {i:?}, weight {w:?}, groups {}",
                self.groups
            )));
        }
        let [t, l, b, r] = self.pads;
        Ok(ConvShape {
            batch: i[0],
            in_channels: i[1],
            out_channels: w[0],
            height: i[2],
            width: i[3],
            kernel: [w[2], w[3]],
            stride: self.stride,
            padding: [t, l],
            padding_end: if [b, r] == [t, l] { None } else { Some([b, r]) },
            dilation: self.dilation,
            groups: self.groups,
        })
    }

    pub fn qparams(&self) -> Result<ConvQParams> {
        let raw = self.op == "ConvInteger";
        let zw = &self.weight.zero_points;
        let per_channel = self.weight.qscheme == "per_channel" || zw.len() > 1;
        let n = if per_channel { self.weight.shape[0] } else { 1 };
        let scales = match &self.weight.scales {
            Some(s) if s.len() == n => s.clone(),
            Some(s) if s.len() == 1 => vec![s[0]; n],
            Some(s) => return Err(Error::BadShape(format!("{} weight scales", s.len()))),
            None => vec![1.0; n],
        };
        let zps = if zw.len() == n {
            zw.clone()
        } else {
            vec![zw[0]; n]
        };
        let bias_i32 = match &self.bias {
            None => None,
            Some(b) => Some(
                b.q.iter()
                    .map(|&v| {
                        i32::try_from(v)
                            .map_err(|_| Error::Input(format!("bias {v} is not an int32")))
                    })
                    .collect::<Result<Vec<i32>>>()?,
            ),
        };
        Ok(ConvQParams {
            input_scale: self.input.scale.unwrap_or(1.0),
            input_zero_point: self.input.zero_point.unwrap_or(0),
            weight_scales: scales,
            weight_zero_points: zps,
            per_channel,
            bias: None,
            output_scale: if raw {
                1.0
            } else {
                self.output.scale.unwrap_or(1.0)
            },
            output_zero_point: if raw {
                0
            } else {
                self.output.zero_point.unwrap_or(0)
            },
            relu: self.activation == "relu" || self.activation == "relu6",
            input_dtype: dtype(&self.input.dtype)?,
            output_dtype: dtype(&self.output.dtype)?,
            bias_i32,
            relu6: self.activation == "relu6",
            weight_dtype: dtype(&self.weight.dtype)?,
            depthwise_op: self.op == "DepthwiseConv2D",
        })
    }

    /// One engine's output for this case.
    pub fn run(&self, engine: &str) -> Result<Vec<i64>> {
        self.run_computation(Computation::parse(engine_of(engine))?)
    }

    /// Any computation's output for this case (a hand calculation's too).
    pub fn run_computation(&self, comp: Computation) -> Result<Vec<i64>> {
        let shape = self.shape()?;
        let p = self.qparams()?;
        let row = comp.row();
        if !row.weights.contains(&p.weight_dtype) {
            return Err(Error::Input(format!(
                "{} takes no {} weights",
                row.title,
                p.weight_dtype.name()
            )));
        }
        let xq = self
            .input
            .q
            .as_ref()
            .ok_or_else(|| Error::Input("input has no codes".into()))?;
        let input = match p.input_dtype {
            DType::QInt8 => Activations::QInt8(to_qint8("input", xq)?),
            _ => Activations::QUInt8(to_quint8("input", xq)?),
        };
        // uint8 weights: codes and zero points both shifted by 128 give the
        // same sum of (qw - zw), in the int8 codes the accumulation takes.
        let shift = if p.weight_dtype == DType::QUInt8 {
            128
        } else {
            0
        };
        let wq: Vec<i64> = self.weight.q.iter().map(|&v| v - shift).collect();
        let wz: Vec<i64> = p.weight_zero_points.iter().map(|&v| v - shift).collect();
        let weight = to_qint8("weight", &wq)?;
        let conv = IntConv {
            shape: &shape,
            input: input.codes(),
            input_zero_point: p.input_zero_point,
            weight: &weight,
            weight_zero_points: &wz,
        };
        let platform = Platform {
            cpu: Cpu::Avx512Vnni,
            os: Os::Linux,
            emulated: false,
        };
        let rq = Requant::new(comp, &p, &shape, &platform)?;
        let mut acc = vec![];
        rq.kernel
            .accumulation
            .run_with(&conv, &p, 0, &mut Default::default(), &mut acc)?;
        let mut out = vec![0i32; acc.len()];
        let (oh, ow) = shape.output_hw();
        let plane = oh * ow;
        for (i, (a, o)) in acc.chunks(plane).zip(out.chunks_mut(plane)).enumerate() {
            rq.plane(i % shape.out_channels, a, o);
        }
        Ok(out.into_iter().map(i64::from).collect())
    }

    /// One outcome per result.
    pub fn verify(&self) -> Vec<Outcome> {
        self.results
            .iter()
            .map(|r| {
                let id = format!("{} {}", self.id, r.engine);
                let got = self.run(&r.engine);
                match (&r.q, got) {
                    (Some(q), Ok(got)) => compare_codes(&id, q, &got),
                    (Some(_), Err(e)) => Outcome {
                        id,
                        failure: Some(Mismatch::Error(e.to_string())),
                    },
                    (None, Err(_)) => Outcome { id, failure: None },
                    (None, Ok(_)) => Outcome {
                        id,
                        failure: Some(Mismatch::Error(format!(
                            "the runtime refused this model ({}), the engine computed it",
                            r.error.as_deref().unwrap_or("no reason given")
                        ))),
                    },
                }
            })
            .collect()
    }
}
