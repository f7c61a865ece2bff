//! The eager flow of `torch.ao.quantization`: a float conv with a qconfig is
//! prepared (observers attached), calibrated, converted (weights quantized,
//! scales fixed) and run quantized — every intermediate identical to PyTorch.
//! (The golden checks of this flow are in `golden::calibration`.)
use crate::conv::ConvShape;
use crate::engine::{Computation, ConvQParams};
use crate::error::{Error, Result};
use crate::observe::{Observer, ObserverConfig, ObserverKind, QParamsDerivation};
use crate::quant::{quantize_per_channel, quantize_per_tensor, to_qint8, DType, QScheme};
use crate::scenario::{InputSource, Scenario};
use serde::{Deserialize, Serialize};

/// A float Conv2d with its qconfig, before `prepare`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatConv {
    pub shape: ConvShape,
    /// float32 weights, OIHW.
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    /// qconfig.activation: observes the input (QuantStub) and the conv output.
    pub activation: ObserverConfig,
    /// qconfig.weight.
    pub weight_observer: ObserverConfig,
    /// `torch.backends.quantized.engine`.
    pub engine: Computation,
    /// A ReLU fused into the conv (`fuse_modules` -> `ConvReLU2d`): the output
    /// observer sees the float output after the ReLU.
    #[serde(default)]
    pub relu: bool,
    /// The qconfig's name when it is one of PyTorch's defaults
    /// (`get_default_qconfig(name)`, [`default_qconfig`]); the observers must
    /// then be that qconfig's. `None`: a custom `QConfig(activation, weight)`.
    #[serde(default)]
    pub qconfig: Option<String>,
}

/// The backends `get_default_qconfig` knows, in the order the page lists them.
pub const DEFAULT_QCONFIGS: &[&str] = &["x86", "fbgemm", "qnnpack", "onednn"];

/// `torch.ao.quantization.get_default_qconfig(backend)` as torch 2.15 defines
/// it: (activation, weight) observers. HistogramObserver activations
/// everywhere, `reduce_range` on the x86 backends (whose AVX2 kernels need the
/// 7-bit range); per-channel symmetric qint8 weights except qnnpack, whose
/// default is the per-tensor symmetric `default_weight_observer`.
/// (`module2.json` records each resolved observer; a test checks them.)
pub fn default_qconfig(backend: &str) -> Result<(ObserverConfig, ObserverConfig)> {
    let act = |reduce| {
        ObserverConfig::new(
            ObserverKind::Histogram,
            DType::QUInt8,
            QScheme::PerTensorAffine,
            reduce,
        )
    };
    let per_channel = ObserverConfig::new(
        ObserverKind::PerChannelMinMax,
        DType::QInt8,
        QScheme::PerChannelSymmetric,
        false,
    );
    Ok(match backend {
        "x86" | "fbgemm" => (act(true), per_channel),
        "onednn" => (act(false), per_channel),
        "qnnpack" => (
            act(false),
            ObserverConfig::new(
                ObserverKind::MinMax,
                DType::QInt8,
                QScheme::PerTensorSymmetric,
                false,
            ),
        ),
        _ => {
            return Err(Error::Input(format!(
                "get_default_qconfig('{backend}'): PyTorch's defaults are {}",
                DEFAULT_QCONFIGS.join(", ")
            )))
        }
    })
}

/// What `convert` produced, with how each number was derived.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Converted {
    pub input: QParamsDerivation,
    pub output: QParamsDerivation,
    pub weight: QParamsDerivation,
    /// qint8 weight codes.
    pub weight_q: Vec<i8>,
    pub params: ConvQParams,
}

impl FloatConv {
    pub fn validate(&self) -> Result<()> {
        self.shape.validate()?;
        if self.weight.len() != self.shape.weight_len() {
            return Err(Error::BadShape(format!(
                "{} float weights, the shape needs {}",
                self.weight.len(),
                self.shape.weight_len()
            )));
        }
        if let Some(b) = &self.bias {
            if b.len() != self.shape.out_channels {
                return Err(Error::BadShape(format!(
                    "{} bias values for {} output channels",
                    b.len(),
                    self.shape.out_channels
                )));
            }
        }
        if self.activation.kind.is_per_channel() {
            return Err(Error::Input(
                "activations need a per-tensor observer".into(),
            ));
        }
        if self.activation.dtype != DType::QUInt8 {
            return Err(Error::Input(
                "the quantized conv takes quint8 activations".into(),
            ));
        }
        if self.weight_observer.dtype != DType::QInt8 {
            return Err(Error::Input(
                "the quantized conv takes qint8 weights".into(),
            ));
        }
        if self.weight_observer.kind.is_per_channel() && self.weight_observer.ch_axis != 0 {
            return Err(Error::Input(format!(
                "weight observer ch_axis {}: the quantized conv takes weights per output channel (ch_axis 0)",
                self.weight_observer.ch_axis
            )));
        }
        if self.engine.row().pytorch_engine.is_none() {
            return Err(Error::Input(format!(
                "the engine is {}, not a PyTorch engine (x86, fbgemm, qnnpack or onednn)",
                self.engine.name()
            )));
        }
        if let Some(name) = &self.qconfig {
            let (a, w) = default_qconfig(name)?;
            if a != self.activation || w != self.weight_observer {
                return Err(Error::Input(format!(
                    "the observers are not those of get_default_qconfig('{name}'): choose a custom qconfig"
                )));
            }
        }
        Ok(())
    }

    /// The float forward pass, in float32: starting from the bias, one fused
    /// multiply-add per tap. For the forum model (one tap) that is
    /// `fma(x, w, b)`, which is what the reference machine's PyTorch computed
    /// (all shared module goldens; a machine whose CPU conv rounds `x*w` first
    /// differs in the last bit, see README). Wider convs sum taps in OIHW
    /// order, which may differ from oneDNN's blocking in the last bit.
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>> {
        let s = &self.shape;
        if x.len() != s.input_len() {
            return Err(Error::BadShape(format!(
                "{} input values, the shape needs {}",
                x.len(),
                s.input_len()
            )));
        }
        let (oh, ow) = s.output_hw();
        let cin_g = s.in_channels / s.groups;
        let cout_g = s.out_channels / s.groups;
        let mut out = Vec::with_capacity(s.output_len());
        for n in 0..s.batch {
            for oc in 0..s.out_channels {
                let g = oc / cout_g;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = self.bias.as_ref().map_or(0.0f32, |b| b[oc]);
                        for icg in 0..cin_g {
                            let ic = g * cin_g + icg;
                            for ky in 0..s.kernel[0] {
                                for kx in 0..s.kernel[1] {
                                    let iy = (oy * s.stride[0] + ky * s.dilation[0]) as isize
                                        - s.padding[0] as isize;
                                    let ix = (ox * s.stride[1] + kx * s.dilation[1]) as isize
                                        - s.padding[1] as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy as usize >= s.height
                                        || ix as usize >= s.width
                                    {
                                        continue;
                                    }
                                    let xv = x[((n * s.in_channels + ic) * s.height + iy as usize)
                                        * s.width
                                        + ix as usize];
                                    let wv = self.weight[((oc * cin_g + icg) * s.kernel[0] + ky)
                                        * s.kernel[1]
                                        + kx];
                                    acc = xv.mul_add(wv, acc);
                                }
                            }
                        }
                        // ConvReLU2d's float forward: relu(conv(x)).
                        out.push(if self.relu && !(acc > 0.0) { 0.0 } else { acc });
                    }
                }
            }
        }
        Ok(out)
    }

    /// prepare + calibrate (each batch through the float model) + convert.
    pub fn calibrate(&self, batches: &[Vec<f32>]) -> Result<Converted> {
        self.validate()?;
        // No batches: PyTorch's observers stay empty and calculate_qparams
        // warns and returns scale 1.0, zero point 0; so does this.
        let in_shape = [
            self.shape.batch,
            self.shape.in_channels,
            self.shape.height,
            self.shape.width,
        ];
        let (oh, ow) = self.shape.output_hw();
        let out_shape = [self.shape.batch, self.shape.out_channels, oh, ow];
        let mut obs_in = Observer::new(self.activation)?;
        let mut obs_out = Observer::new(self.activation)?;
        for b in batches {
            obs_in.observe(&in_shape, b)?;
            obs_out.observe(&out_shape, &self.forward(b)?)?;
        }
        // convert: the weight observer sees the float weight once.
        let w_shape = [
            self.shape.out_channels,
            self.shape.in_channels / self.shape.groups,
            self.shape.kernel[0],
            self.shape.kernel[1],
        ];
        let mut obs_w = Observer::new(self.weight_observer)?;
        obs_w.observe(&w_shape, &self.weight)?;
        let (input, output, weight) = (
            obs_in.calculate_qparams()?,
            obs_out.calculate_qparams()?,
            obs_w.calculate_qparams()?,
        );
        let per_channel = self.weight_observer.qscheme.is_per_channel();
        let weight_q = quantize_weight(&self.weight, &w_shape, &self.weight_observer, &weight)?;
        let params = ConvQParams {
            input_scale: input.scales[0],
            input_zero_point: input.zero_points[0],
            weight_scales: weight.scales.clone(),
            weight_zero_points: weight.zero_points.clone(),
            per_channel,
            bias: self.bias.clone(),
            output_scale: output.scales[0],
            output_zero_point: output.zero_points[0],
            relu: self.relu,
            input_dtype: crate::quant::DType::QUInt8,
            output_dtype: crate::quant::DType::QUInt8,
            bias_i32: None,
            relu6: false,
            weight_dtype: crate::quant::DType::QInt8,
            depthwise_op: false,
        };
        let weight_q = to_qint8("weight", &weight_q)?;
        Ok(Converted {
            input,
            output,
            weight,
            weight_q,
            params,
        })
    }
}

/// torch's `_quantize_weight`: `quantize_per_tensor` / `quantize_per_channel`
/// (axis 0) to qint8, then `_clamp_weights`: when the observer's quant range is
/// narrower than qint8's, the codes are clamped to it (a symmetric range
/// `-8..=7` scales by `max|w| / 7.5`, so the largest weight rounds to 8 and is
/// clamped to 7).
pub fn quantize_weight(
    w: &[f32],
    shape: &[usize; 4],
    cfg: &ObserverConfig,
    d: &QParamsDerivation,
) -> Result<Vec<i64>> {
    let mut q = if cfg.qscheme.is_per_channel() {
        quantize_per_channel(w, shape, &d.scales, &d.zero_points, DType::QInt8)?
    } else {
        quantize_per_tensor(w, d.scales[0], d.zero_points[0], DType::QInt8)?
    };
    let (lo, hi) = cfg.qrange()?;
    if lo > -128 || hi < 127 {
        for v in &mut q {
            *v = (*v).clamp(lo, hi);
        }
    }
    Ok(q)
}

impl Converted {
    /// The converted model as a scenario: its engine against `b`, on float input `x`.
    pub fn scenario(&self, float: &FloatConv, input: InputSource, b: Computation) -> Scenario {
        Scenario {
            shape: float.shape,
            input,
            weights: self.weight_q.clone(),
            params: self.params.clone(),
            a: float.engine,
            b,
            platform: Default::default(),
            view: Default::default(),
        }
    }
}

/// The forum model: QuantStub -> Conv2d(1, 1, 1) -> DeQuantStub, with the
/// forum's qconfig (HistogramObserver activations, per-channel symmetric weights).
pub fn forum_model(
    shape: &[usize],
    weight: f32,
    bias: f32,
    reduce_range: bool,
    engine: Computation,
) -> Result<FloatConv> {
    if shape.len() != 4 || shape[1] != 1 {
        return Err(Error::BadShape(format!(
            "the forum model takes N x 1 x H x W input, got {shape:?}"
        )));
    }
    Ok(FloatConv {
        shape: ConvShape {
            batch: shape[0],
            in_channels: 1,
            out_channels: 1,
            height: shape[2],
            width: shape[3],
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            padding_end: None,
            dilation: [1, 1],
            groups: 1,
        },
        weight: vec![weight],
        bias: Some(vec![bias]),
        activation: ObserverConfig::new(
            ObserverKind::Histogram,
            DType::QUInt8,
            QScheme::PerTensorAffine,
            reduce_range,
        ),
        weight_observer: ObserverConfig::new(
            ObserverKind::PerChannelMinMax,
            DType::QInt8,
            QScheme::PerChannelSymmetric,
            false,
        ),
        engine,
        relu: false,
        qconfig: None,
    })
}

// ------------------------------------------------------------------ the page's calibration

/// One calibration batch (or the input the converted model runs on): a
/// generator of the page (`InputSource`, not `codes`) or typed float32 values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FloatBatch {
    Generator(InputSource),
    Floats(Vec<f32>),
}

impl FloatBatch {
    /// The float32 values, NCHW, checked against the shape.
    pub fn floats(&self, s: &ConvShape) -> Result<Vec<f32>> {
        let v = match self {
            FloatBatch::Generator(g) => g.floats(s).ok_or_else(|| {
                Error::Input(
                    "typed codes are not float data: pick a generator or type floats".into(),
                )
            })?,
            FloatBatch::Floats(v) => v.clone(),
        };
        if v.len() != s.input_len() {
            return Err(Error::BadShape(format!(
                "{} float values, the model's {}x{}x{}x{} input needs {}",
                v.len(),
                s.batch,
                s.in_channels,
                s.height,
                s.width,
                s.input_len()
            )));
        }
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            return Err(Error::BadValue(format!("{x} is not a finite float")));
        }
        Ok(v)
    }
}

/// What the page's calibrate section sends: the float model with its qconfig,
/// the calibration batches, the input the converted model runs on, and B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub model: FloatConv,
    pub batches: Vec<FloatBatch>,
    pub input: FloatBatch,
    pub b: Computation,
}

/// One float weight through `convert`: `w * (1/scale)` in float32, rounded
/// half to even, plus the zero point, clamped to qint8.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightStep {
    pub channel: usize,
    pub float: f32,
    pub scaled: f32,
    pub rounded: f64,
    pub code: i8,
}

/// The page's calibration result: the derivations, each weight's conversion
/// and the converted model as a scenario (A = the model's engine).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibrated {
    pub converted: Converted,
    pub weights: Vec<WeightStep>,
    pub scenario: Scenario,
}

impl Calibration {
    pub fn run(&self) -> Result<Calibrated> {
        let s = &self.model.shape;
        self.model.validate()?;
        let batches: Vec<Vec<f32>> = self
            .batches
            .iter()
            .map(|b| b.floats(s))
            .collect::<Result<_>>()?;
        let converted = self.model.calibrate(&batches)?;
        let p = &converted.params;
        // A generator stays a generator (QuantStub quantizes it with the new
        // input scale); typed floats are quantized here the same way.
        let input = match &self.input {
            FloatBatch::Generator(g) if g.floats(s).is_some() => g.clone(),
            b => {
                let q = quantize_per_tensor(
                    &b.floats(s)?,
                    p.input_scale,
                    p.input_zero_point,
                    DType::QUInt8,
                )?;
                InputSource::Codes {
                    codes: crate::quant::to_quint8("input", &q)?,
                }
            }
        };
        let scenario = converted.scenario(&self.model, input, self.b);
        scenario.validate()?;
        let channels = p.weight_scales.len();
        let per = self.model.weight.len() / channels.max(1);
        let mut weights = Vec::with_capacity(self.model.weight.len());
        for (i, (&w, &code)) in self
            .model
            .weight
            .iter()
            .zip(&converted.weight_q)
            .enumerate()
        {
            let c = (i / per.max(1)).min(channels - 1);
            let scale = crate::quant::scale_f32("weight scale", p.weight_scales[c])?;
            let scaled = w * (1.0f32 / scale);
            weights.push(WeightStep {
                channel: c,
                float: w,
                scaled,
                rounded: crate::quant::rne32(scaled) as f64 + p.weight_zero_points[c] as f64,
                code,
            });
        }
        Ok(Calibrated {
            converted,
            weights,
            scenario,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_fuses_each_tap() {
        let m = forum_model(&[1, 1, 1, 2], 0.4808, 0.0317, true, Computation::FBGEMM).unwrap();
        let x = [0.3f32, 1.0];
        let y = m.forward(&x).unwrap();
        assert_eq!(
            y,
            vec![
                0.3f32.mul_add(0.4808, 0.0317),
                1.0f32.mul_add(0.4808, 0.0317)
            ]
        );
        assert!(m.forward(&[1.0]).is_err());
    }

    #[test]
    fn convert_quantizes_the_largest_weight_to_127() {
        let m = forum_model(&[1, 1, 4, 16], 0.4808, 0.0317, true, Computation::FBGEMM).unwrap();
        let cal: Vec<f32> = (0..64).map(|i| (i * 4 % 255) as f32 / 255.0).collect();
        let c = m.calibrate(&[cal]).unwrap();
        assert_eq!(c.weight_q, vec![127]);
        assert_eq!(c.weight.scales[0], (0.4808f32 / 127.5) as f64);
        assert!(c.input.histogram.is_some());
        assert_eq!(c.params.input_zero_point, 0);
    }

    #[test]
    fn weights_are_clamped_to_a_narrow_quant_range() {
        // torch 2.15: MinMaxObserver(qint8, per_tensor_symmetric, quant_min=-8,
        // quant_max=7) on [-m, 0.1, m]: quantize_per_tensor gives [-8, 1, 8]
        // for m = 0.7, 0.9, 1.3 (m·(1/scale) lands on 7.5 or above) and
        // _quantize_weight clamps to [-8, 1, 7]; m = 0.3, 2.1 round to ±7.
        let mut cfg = ObserverConfig::new(
            ObserverKind::MinMax,
            DType::QInt8,
            QScheme::PerTensorSymmetric,
            false,
        );
        cfg.quant_min = Some(-8);
        cfg.quant_max = Some(7);
        for (m, want) in [
            (0.7f32, [-8, 1, 7]),
            (0.9, [-8, 1, 7]),
            (1.3, [-8, 1, 7]),
            (0.3, [-7, 2, 7]),
            (2.1, [-7, 0, 7]),
        ] {
            let w = [-m, 0.1, m];
            let mut o = Observer::new(cfg).unwrap();
            o.observe(&[3, 1, 1, 1], &w).unwrap();
            let d = o.calculate_qparams().unwrap();
            assert_eq!(
                quantize_weight(&w, &[3, 1, 1, 1], &cfg, &d).unwrap(),
                want,
                "{m}"
            );
        }
        // The full qint8 range is not clamped (0.7 at max|w|/127.5 rounds to 128 -> 127 by the dtype).
        let full = ObserverConfig::new(
            ObserverKind::MinMax,
            DType::QInt8,
            QScheme::PerTensorSymmetric,
            false,
        );
        let mut o = Observer::new(full).unwrap();
        o.observe(&[3, 1, 1, 1], &[-0.7, 0.1, 0.7]).unwrap();
        let d = o.calculate_qparams().unwrap();
        assert_eq!(
            quantize_weight(&[-0.7, 0.1, 0.7], &[3, 1, 1, 1], &full, &d).unwrap()[2],
            127
        );
    }

    #[test]
    fn default_qconfigs_by_name() {
        for n in DEFAULT_QCONFIGS {
            let (a, w) = default_qconfig(n).unwrap();
            assert_eq!(a.kind, ObserverKind::Histogram);
            assert_eq!(a.reduce_range, matches!(*n, "x86" | "fbgemm"), "{n}");
            assert_eq!(w.qscheme.is_per_channel(), *n != "qnnpack", "{n}");
        }
        assert!(default_qconfig("cuda")
            .unwrap_err()
            .to_string()
            .contains("x86, fbgemm"));
        // A named qconfig must have its own observers.
        let mut m = forum_model(&[1, 1, 2, 2], 0.5, 0.0, true, Computation::X86).unwrap();
        m.qconfig = Some("x86".into());
        assert!(m.validate().is_ok());
        m.qconfig = Some("qnnpack".into());
        assert!(m
            .validate()
            .unwrap_err()
            .to_string()
            .contains("custom qconfig"));
    }

    #[test]
    fn bad_models_are_errors() {
        assert!(forum_model(&[1, 2, 4, 4], 0.5, 0.0, false, Computation::FBGEMM).is_err());
        let mut m = forum_model(&[1, 1, 4, 4], 0.5, 0.0, false, Computation::FLOAT).unwrap();
        assert!(m
            .calibrate(&[vec![0.0; 16]])
            .unwrap_err()
            .to_string()
            .contains("engine"));
        m.engine = Computation::FBGEMM;
        // no calibration batch: PyTorch's default qparams (scale 1.0, zero point 0)
        let c = m.calibrate(&[]).unwrap();
        assert_eq!((c.params.input_scale, c.params.input_zero_point), (1.0, 0));
        assert_eq!(
            (c.params.output_scale, c.params.output_zero_point),
            (1.0, 0)
        );
        m.weight = vec![];
        assert!(m.calibrate(&[vec![0.0; 16]]).is_err());
    }
}
