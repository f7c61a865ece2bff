//! Engines: everything one runtime does between the codes and the output code.
//!
//! An engine is `accumulate (exact | a named saturating kernel) -> requantize ->
//! trace steps`. Each engine is one module here and one row of [`ENGINES`]; the
//! page's pickers, the link schema, the CLI's `--a/--b`, `verify` and `explain`
//! take their names from that table, so adding an engine is one new file and
//! one row.
use crate::conv::ConvShape;
use crate::error::{Error, Result};
use crate::quant::DType;
use crate::trace::{Recorder, Text, Value};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::sync::Arc;

mod common;
pub mod fbgemm;
pub mod float;
pub mod hand;
pub mod onednn;
pub mod onnx_reference;
pub mod ort_qdq_float;
pub mod ort_qdq_fused;
pub mod ort_qlinearconv;
mod params;
pub mod platform;
pub mod qnnpack;
pub mod runtime;
pub mod tflite_optimized;
pub mod tflite_reference;
pub mod tflite_xnnpack;
pub mod x86;

pub use hand::{Arithmetic, Assumption, BiasRounding, HandAssumptions, Rounding};
pub use params::ConvQParams;
pub use platform::{Cpu, Os, Platform};

/// The runtime an engine belongs to (the page groups its pickers by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    PyTorch,
    OnnxRuntime,
    LiteRt,
    Reference,
}

impl Family {
    pub fn title(self) -> &'static str {
        match self {
            Family::PyTorch => "PyTorch",
            Family::OnnxRuntime => "ONNX Runtime",
            Family::LiteRt => "LiteRT (TFLite)",
            Family::Reference => "References",
        }
    }
}

/// How an engine's results are known to be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// Bit for bit against golden vectors from the real runtime.
    Golden,
    /// A formula, not a runtime: nothing to verify.
    Formula,
}

/// One row of the engine table.
pub struct EngineRow {
    /// Stable id: links, the CLI and golden files use it.
    pub id: &'static str,
    pub title: &'static str,
    pub family: Family,
    /// Activation and weight dtypes the engine takes.
    pub activations: &'static [DType],
    pub weights: &'static [DType],
    /// Whether the scenario's CPU (and OS) change what it computes.
    pub uses_platform: bool,
    /// `torch.backends.quantized.engine` for PyTorch engines (exports, calibration).
    pub pytorch_engine: Option<&'static str>,
    pub evidence: Evidence,
    pub engine: &'static dyn Engine,
}

/// Every engine, in the order the page lists them.
pub static ENGINES: &[EngineRow] = &[
    x86::ROW,
    fbgemm::ROW,
    onednn::ROW,
    qnnpack::ROW,
    ort_qlinearconv::ROW,
    onnx_reference::ROW,
    ort_qdq_fused::ROW,
    ort_qdq_float::ROW,
    tflite_reference::ROW,
    tflite_optimized::ROW,
    tflite_xnnpack::ROW,
    float::ROW,
    hand::ROW,
];

/// The row of an engine id.
pub fn row(id: &str) -> Option<&'static EngineRow> {
    ENGINES.iter().find(|r| r.id == id)
}

fn engine_ids() -> String {
    ENGINES.iter().map(|r| r.id).collect::<Vec<_>>().join(", ")
}

/// How the accumulators are formed: exactly, or by a named kernel that
/// saturates. Kernels live in the conv layer; engines name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Accumulation {
    /// `sum (qx - zx)(qw - zw)` in exact integers (int32).
    Exact,
    /// `sum qx·qw`: the zero points left out (a hand calculation's mistake).
    RawCodes,
    /// fbgemm with `vpmaddubsw` pairs saturating to int16 where its kernel
    /// for this shape and instruction set does so.
    Fbgemm { isa: crate::fbgemm_gemm::FbgemmIsa },
    /// ONNX Runtime's MLAS U8S8 kernels on a CPU without VNNI: `vpmaddubsw`
    /// pairs saturating to int16, paired like fbgemm's im2col
    /// ([`crate::mlas_u8s8`]; modelled from the source, not verified).
    MlasU8S8,
    /// A float32 conv of dequantized operands (ONNX Runtime's unfused QDQ):
    /// each "accumulator" is the bits of the float32 sum, bias included.
    DequantizedFloat,
}

/// The kernel that runs a conv on an engine, and why it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kernel {
    /// "fbgemm", "onednn", "qnnpack", ...: which arithmetic the requantization follows.
    pub name: &'static str,
    /// The path inside it ("depthwise", "im2col GEMM", ...), when it matters.
    pub path: Option<&'static str>,
    /// One line: why this kernel ("oneDNN: Linux, AVX512-VNNI, symmetric weights, groups ≤ 100").
    pub why: String,
    pub accumulation: Accumulation,
}

/// What every engine implements.
pub trait Engine: Sync {
    /// Which kernel runs this conv on this platform.
    fn kernel(&self, c: &Computation, shape: &ConvShape, p: &ConvQParams, pl: &Platform) -> Kernel;
    /// One prepared requantization per output channel, for that kernel.
    fn channels(
        &self,
        c: &Computation,
        p: &ConvQParams,
        out_channels: usize,
        kernel: &Kernel,
    ) -> Result<Vec<Arc<dyn Channel>>>;
}

/// A requantization prepared for one output channel.
pub trait Channel: Debug + Send + Sync {
    /// Output code for accumulator `acc`, recording each step.
    fn pixel(&self, acc: i32, rec: &mut dyn DynRecorder) -> i64;
    /// Output codes of a whole plane (the fast path, no trace).
    fn plane(&self, acc: &[i32], out: &mut [i32]);
    /// The value before rounding as a float64 (tie map), when the engine rounds a float.
    fn pre_round(&self, acc: i32) -> Option<f64> {
        let mut p = crate::trace::Probe {
            key: crate::trace::key::PRE_ROUND,
            value: None,
        };
        self.pixel(acc, &mut p);
        p.value.map(Value::as_f64)
    }
}

/// `Recorder` for trait objects (its text is a closure, so it is generic).
pub trait DynRecorder {
    fn step_dyn(&mut self, key: &'static str, value: Value, text: &mut dyn FnMut() -> Text);
}
impl<R: Recorder> DynRecorder for R {
    fn step_dyn(&mut self, key: &'static str, value: Value, text: &mut dyn FnMut() -> Text) {
        self.step(key, value, text)
    }
}
/// A `Recorder` over a `DynRecorder`, for engines written against `Recorder`.
pub struct Dyn<'a>(pub &'a mut dyn DynRecorder);
impl Recorder for Dyn<'_> {
    fn step(&mut self, key: &'static str, value: Value, text: impl FnOnce() -> Text) {
        let mut text = Some(text);
        self.0.step_dyn(key, value, &mut || match text.take() {
            Some(t) => t(),
            None => (Default::default(), Default::default()),
        })
    }
}

/// A way of computing the conv's output codes: an engine, plus the hand
/// calculation's assumptions when the engine is `hand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Computation {
    pub engine: &'static str,
    pub hand: Option<HandAssumptions>,
}

impl Computation {
    pub const X86: Computation = Computation::of(x86::ID);
    pub const FBGEMM: Computation = Computation::of(fbgemm::ID);
    pub const ONEDNN: Computation = Computation::of(onednn::ID);
    pub const QNNPACK: Computation = Computation::of(qnnpack::ID);
    pub const FLOAT: Computation = Computation::of(float::ID);

    /// An engine that is not the hand calculation (which has assumptions).
    pub(crate) const fn of(engine: &'static str) -> Computation {
        Computation { engine, hand: None }
    }
    pub fn hand(h: HandAssumptions) -> Computation {
        Computation {
            engine: hand::ID,
            hand: Some(h),
        }
    }
    pub fn row(&self) -> &'static EngineRow {
        row(self.engine).expect("a Computation is only built from a table row")
    }
    pub fn name(&self) -> &'static str {
        self.engine
    }
    pub fn title(&self) -> &'static str {
        self.row().title
    }
    /// An engine id (the hand calculation with its default assumptions).
    pub fn parse(s: &str) -> Result<Computation> {
        let r = row(s)
            .ok_or_else(|| Error::Input(format!("unknown computation {s:?} ({})", engine_ids())))?;
        Ok(if r.id == hand::ID {
            Computation::hand(HandAssumptions::default())
        } else {
            Computation::of(r.id)
        })
    }
    /// The hand calculation without zero points sums raw codes.
    pub fn uses_raw_codes(&self) -> bool {
        self.hand.is_some_and(|h| h.ignore_zero_points)
    }
    pub fn is_hand(&self) -> bool {
        self.hand.is_some()
    }
    /// The kernel this computation runs for a conv on a platform.
    pub fn kernel(&self, shape: &ConvShape, p: &ConvQParams, pl: &Platform) -> Kernel {
        self.row().engine.kernel(self, shape, p, pl)
    }
}

impl Serialize for Computation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            kind: &'a str,
            #[serde(flatten)]
            hand: Option<HandAssumptions>,
        }
        Out {
            kind: self.engine,
            hand: self.hand,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Computation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct In {
            kind: String,
            #[serde(flatten)]
            hand: HandAssumptions,
        }
        let i = In::deserialize(d)?;
        let c = Computation::parse(&i.kind).map_err(serde::de::Error::custom)?;
        Ok(if c.is_hand() {
            Computation::hand(i.hand)
        } else {
            c
        })
    }
}

/// A computation prepared for one conv: its kernel, and one requantization per channel.
#[derive(Debug, Clone)]
pub struct Requant {
    pub computation: Computation,
    pub kernel: Kernel,
    channels: Vec<Arc<dyn Channel>>,
}

impl Requant {
    pub fn new(
        computation: Computation,
        p: &ConvQParams,
        shape: &ConvShape,
        platform: &Platform,
    ) -> Result<Requant> {
        Requant::for_model(computation, p, shape, platform, p.output_dtype)
    }

    /// `new` for a model whose output dtype is `model_output` (what the
    /// engine is checked against) while `p`'s is the one computed in: an int8
    /// model converted from uint8 runs as its codes + 128 (`crate::convert`).
    pub fn for_model(
        computation: Computation,
        p: &ConvQParams,
        shape: &ConvShape,
        platform: &Platform,
        model_output: DType,
    ) -> Result<Requant> {
        p.validate(shape.out_channels)?;
        let row = computation.row();
        for (what, d) in [("input", p.input_dtype), ("output", model_output)] {
            // ONNX ConvInteger: the raw int32 sum.
            if what == "output" && p.is_raw_int32() && row.family == Family::OnnxRuntime {
                continue;
            }
            if !row.activations.contains(&d) {
                let takes: Vec<&str> = row.activations.iter().map(|d| d.name()).collect();
                return Err(Error::Input(format!(
                    "{} takes {} activations, not {} ({what})",
                    row.title,
                    takes.join(" or "),
                    d.name()
                )));
            }
        }
        let kernel = computation.kernel(shape, p, platform);
        let channels =
            computation
                .row()
                .engine
                .channels(&computation, p, shape.out_channels, &kernel)?;
        Ok(Requant {
            computation,
            kernel,
            channels,
        })
    }

    /// Output code of channel `c` for accumulator `acc`, recording steps in `rec`.
    /// `acc` is what `kernel.accumulation` forms.
    pub fn pixel<R: Recorder>(&self, c: usize, acc: i32, rec: &mut R) -> i64 {
        self.channels[c].pixel(acc, rec)
    }

    /// Output codes for a whole plane of accumulators of channel `c`.
    /// Codes are int32 (a hand calculation without clamping may leave 0..255).
    pub fn plane(&self, c: usize, acc: &[i32], out: &mut [i32]) {
        self.channels[c].plane(acc, out)
    }

    pub fn pre_round(&self, c: usize, acc: i32) -> Option<f64> {
        self.channels[c].pre_round(acc)
    }
}
#[cfg(test)]
mod tests;

impl Accumulation {
    /// The accumulators this kernel forms for a conv, into `out`.
    pub fn run(
        &self,
        conv: &crate::conv::IntConv,
        scratch: &mut crate::conv::Scratch,
        out: &mut Vec<i32>,
    ) -> Result<()> {
        match *self {
            Accumulation::Exact => conv.accumulate_into(scratch, out),
            Accumulation::RawCodes => {
                let zero = vec![0i64; conv.shape.out_channels];
                crate::conv::IntConv {
                    input_zero_point: 0,
                    weight_zero_points: &zero,
                    ..*conv
                }
                .accumulate_into(scratch, out)
            }
            Accumulation::Fbgemm { isa } => {
                if conv.shape.is_asymmetric() {
                    return Err(Error::Input(
                        "fbgemm's kernels take symmetric padding only".into(),
                    ));
                }
                isa.accumulate_into(conv, scratch, out)
            }
            Accumulation::MlasU8S8 => {
                *out = crate::mlas_u8s8::accumulate(conv)?;
                Ok(())
            }
            Accumulation::DequantizedFloat => Err(Error::Input(
                "a dequantized float conv needs the scales (Accumulation::run_with)".into(),
            )),
        }
    }

    /// Like `run`, with the quantization parameters (the float path needs
    /// them); `first`: the channel of `p` that `conv`'s channel 0 is (a part's
    /// first channel, or 0).
    pub fn run_with(
        &self,
        conv: &crate::conv::IntConv,
        p: &ConvQParams,
        first: usize,
        scratch: &mut crate::conv::Scratch,
        out: &mut Vec<i32>,
    ) -> Result<()> {
        match self {
            Accumulation::DequantizedFloat => {
                *out = dequantized_float_conv(conv, p, first)?;
                Ok(())
            }
            _ => self.run(conv, scratch, out),
        }
    }
    /// Whether it can differ from the exact sum.
    pub fn saturates(&self) -> bool {
        matches!(
            self,
            Accumulation::Fbgemm { .. } | Accumulation::MlasU8S8 | Accumulation::DequantizedFloat
        )
    }
}

/// ONNX Runtime's float path: `DequantizeLinear` of x, w (per channel) and the
/// int32 bias (scale `f32(sx · sw[c])`), a float32 conv summing the taps in
/// order (input channel, ky, kx) with fused multiply-adds, the bias added last.
/// Returns the float32 sums as bits. `conv`'s channel `oc` takes the scales
/// and bias of `p`'s channel `first + oc`.
///
/// Loops run a tap over a row of outputs (each output still takes its taps in
/// order); padding dequantizes to 0.0, whose fused multiply-add leaves the sum
/// as it is. The fused step is [`common::fma32`] everywhere: wasm has no FMA
/// instruction (its `mul_add` is a software routine), and natively the golden
/// cases then check the code the page runs.
fn dequantized_float_conv(
    conv: &crate::conv::IntConv,
    p: &ConvQParams,
    first: usize,
) -> Result<Vec<i32>> {
    use crate::quant::scale_f32;
    let s = conv.shape;
    let sx = scale_f32("input scale", p.input_scale)?;
    let (oh, ow) = s.output_hw();
    let (hp, wp) = s.padded_hw();
    let (cin_g, cout_g) = (s.in_channels / s.groups, s.out_channels / s.groups);
    let (kh, kw) = (s.kernel[0], s.kernel[1]);
    let zx = conv.input_zero_point;
    let mut xp = vec![0f32; s.batch * s.in_channels * hp * wp];
    for (plane, i0) in xp
        .chunks_mut(hp * wp)
        .zip((0..).step_by(s.height * s.width))
    {
        for y in 0..s.height {
            let row = &mut plane[(y + s.padding[0]) * wp + s.padding[1]..][..s.width];
            for (x, d) in row.iter_mut().enumerate() {
                *d = (conv.input.get(i0 + y * s.width + x) - zx) as f32 * sx;
            }
        }
    }
    let mut out = vec![0i32; s.output_len()];
    let mut acc = vec![0f32; ow];
    for n in 0..s.batch {
        for oc in 0..s.out_channels {
            let sw = scale_f32("weight scale", p.weight_scale(first + oc))?;
            let zw = conv.wzp(oc);
            let bias = p
                .bias_i32
                .as_ref()
                .map(|b| b[first + oc] as f32 * (sx * sw));
            let plane0 = (n * s.in_channels + oc / cout_g * cin_g) * hp * wp;
            for oy in 0..oh {
                acc.fill(0.0);
                for icg in 0..cin_g {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let q = conv.weight[((oc * cin_g + icg) * kh + ky) * kw + kx] as i64;
                            let dw = (q - zw) as f32 * sw;
                            let at = plane0
                                + icg * hp * wp
                                + (oy * s.stride[0] + ky * s.dilation[0]) * wp
                                + kx * s.dilation[1];
                            if s.stride[1] == 1 {
                                for (a, &x) in acc.iter_mut().zip(&xp[at..at + ow]) {
                                    *a = common::fma32(x, dw, *a);
                                }
                            } else {
                                for (j, a) in acc.iter_mut().enumerate() {
                                    *a = common::fma32(xp[at + j * s.stride[1]], dw, *a);
                                }
                            }
                        }
                    }
                }
                let row = &mut out[((n * s.out_channels + oc) * oh + oy) * ow..][..ow];
                for (o, &a) in row.iter_mut().zip(&acc) {
                    *o = bias.map_or(a, |b| a + b).to_bits() as i32;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod dequantized_float_tests {
    use super::*;
    use crate::conv::{Codes, IntConv};
    use crate::testing::{shape, Case, Lcg};

    /// The float path one output at a time, each tap as `IntConv::taps_of`
    /// lists it, with `f32::mul_add`.
    fn by_taps(conv: &IntConv, p: &ConvQParams) -> Vec<i32> {
        let s = conv.shape;
        let sx = p.input_scale as f32;
        let (oh, ow) = s.output_hw();
        let mut out = vec![];
        for n in 0..s.batch {
            for oc in 0..s.out_channels {
                let sw = p.weight_scale(oc) as f32;
                let bias = p.bias_i32.as_ref().map(|b| b[oc] as f32 * (sx * sw));
                for y in 0..oh {
                    for x in 0..ow {
                        let mut acc = 0f32;
                        for t in conv.taps_of(n, oc, y, x) {
                            let dx = (t.qx - conv.input_zero_point) as f32 * sx;
                            let dw = (t.qw - conv.wzp(oc)) as f32 * sw;
                            acc = dx.mul_add(dw, acc);
                        }
                        out.push(bias.map_or(acc, |b| acc + b).to_bits() as i32);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn rows_of_outputs_give_each_outputs_taps_in_order() {
        let mut r = Lcg(5);
        let mut rnd = |m: u64| r.below(m);
        let cases: [Case; 5] = [
            (3, 4, 1, 9, 11, [3, 3], [1, 1], [1, 1], None, [1, 1], 1),
            (
                4,
                6,
                2,
                10,
                13,
                [3, 2],
                [2, 3],
                [2, 1],
                Some([0, 2]),
                [1, 2],
                2,
            ),
            (6, 6, 6, 7, 7, [3, 3], [1, 1], [1, 1], None, [2, 2], 1),
            (5, 3, 1, 6, 17, [1, 1], [1, 1], [0, 0], None, [1, 1], 1),
            (
                2,
                2,
                1,
                12,
                5,
                [5, 5],
                [2, 2],
                [3, 2],
                Some([1, 4]),
                [1, 1],
                1,
            ),
        ];
        for case in cases {
            let s = shape(case);
            let cout = s.out_channels;
            for dtype in 0..2 {
                let u: Vec<u8> = (0..s.input_len()).map(|_| rnd(256) as u8).collect();
                let i: Vec<i8> = u.iter().map(|&v| v as i8).collect();
                let input = if dtype == 0 {
                    Codes::QUInt8(&u)
                } else {
                    Codes::QInt8(&i)
                };
                let wq: Vec<i8> = (0..s.weight_len())
                    .map(|_| (rnd(256) as i64 - 128) as i8)
                    .collect();
                let zw: Vec<i64> = (0..cout).map(|_| rnd(9) as i64 - 4).collect();
                let mut p = crate::scenario::preset("forum").unwrap().params;
                // Scales whose products round (not powers of two).
                p.input_scale = 0.0078431 + rnd(100) as f64 * 1e-6;
                p.per_channel = true;
                p.weight_scales = (0..cout)
                    .map(|_| 0.00371 + rnd(100) as f64 * 1e-6)
                    .collect();
                p.weight_zero_points = zw.clone();
                p.bias_i32 = Some((0..cout).map(|_| rnd(20001) as i32 - 10000).collect());
                let conv = IntConv {
                    shape: &s,
                    input,
                    input_zero_point: [3i64, -5][dtype],
                    weight: &wq,
                    weight_zero_points: &zw,
                };
                let whole = dequantized_float_conv(&conv, &p, 0).unwrap();
                assert_eq!(whole, by_taps(&conv, &p), "{s:?}");
                // Channels 1.. alone (a worker's part) read their own scales and bias.
                if s.groups == 1 && s.batch == 1 && cout > 1 {
                    let part = crate::conv::ConvShape {
                        out_channels: cout - 1,
                        ..s
                    };
                    let per = s.weight_len() / cout;
                    let conv = IntConv {
                        shape: &part,
                        weight: &wq[per..],
                        weight_zero_points: &zw[1..],
                        ..conv
                    };
                    let plane = whole.len() / cout;
                    assert_eq!(
                        dequantized_float_conv(&conv, &p, 1).unwrap(),
                        whole[plane..]
                    );
                }
            }
        }
    }
}
