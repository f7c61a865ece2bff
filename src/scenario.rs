//! The Scenario: one quantized conv and the two computations being compared.
//! It flows URL -> engine -> heatmap -> trace; the page, the CLI, presets and
//! (later) paste import all produce one.
use crate::conv::{Activations, ConvShape, IntConv, Scratch};
use crate::convert::Converted;
use crate::engine::{
    Accumulation, Computation, ConvQParams, HandAssumptions, Platform, Requant, Rounding,
};
use crate::error::{Error, Result};
use crate::quant::{quantize_per_tensor, to_qint8, to_quint8, DType};
use crate::trace::Trace;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;

/// Where the input activations come from. Generators make float32 values
/// that are quantized with the input scale and zero point, as `QuantStub` does;
/// `Codes` are quint8 codes typed in directly.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputSource {
    /// `torch.arange(n).to(torch.uint8) / 255`: the forum's input.
    Ramp,
    /// `torch.randint(0, 255, ...) / 255` from a seeded generator.
    Random {
        seed: u32,
    },
    /// Alternating 0 and 1 per pixel.
    Checkerboard,
    /// A diagonal ramp from 0 to 1 across each plane.
    Gradient,
    Constant {
        value: f32,
    },
    Codes {
        codes: Vec<u8>,
    },
}

// Read through one flat record instead of serde's internally tagged enum:
// the same JSON, without serde's buffering of every field (several KB of
// the page's wasm, which has a size limit).
impl<'de> Deserialize<'de> for InputSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        struct Flat {
            kind: String,
            seed: Option<u32>,
            value: Option<f32>,
            codes: Option<Vec<u8>>,
        }
        let f = Flat::deserialize(d)?;
        let need = |field| D::Error::missing_field(field);
        Ok(match f.kind.as_str() {
            "ramp" => InputSource::Ramp,
            "random" => InputSource::Random {
                seed: f.seed.ok_or_else(|| need("seed"))?,
            },
            "checkerboard" => InputSource::Checkerboard,
            "gradient" => InputSource::Gradient,
            "constant" => InputSource::Constant {
                value: f.value.ok_or_else(|| need("value"))?,
            },
            "codes" => InputSource::Codes {
                codes: f.codes.ok_or_else(|| need("codes"))?,
            },
            other => {
                const KINDS: &[&str] = &[
                    "ramp",
                    "random",
                    "checkerboard",
                    "gradient",
                    "constant",
                    "codes",
                ];
                return Err(D::Error::unknown_variant(other, KINDS));
            }
        })
    }
}

impl InputSource {
    pub fn name(&self) -> &'static str {
        match self {
            InputSource::Ramp => "ramp",
            InputSource::Random { .. } => "random",
            InputSource::Checkerboard => "checkerboard",
            InputSource::Gradient => "gradient",
            InputSource::Constant { .. } => "constant",
            InputSource::Codes { .. } => "codes",
        }
    }

    /// The float32 input (for generators), NCHW.
    pub fn floats(&self, s: &ConvShape) -> Option<Vec<f32>> {
        self.generated(s, |levels| Ok(levels.to_vec())).ok()?
    }

    /// A generator's input, each element mapped through `table`: a generator
    /// takes few distinct values (its levels), so each level is converted
    /// once (`table(levels)`, e.g. quantized) and the elements index the
    /// result. `None` for typed codes.
    fn generated<T: Copy>(
        &self,
        s: &ConvShape,
        table: impl Fn(&[f32]) -> Result<Vec<T>>,
    ) -> Result<Option<Vec<T>>> {
        let n = s.input_len();
        let (h, w) = (s.height, s.width);
        // Level j is `j / d` in float32, exactly as each element's value.
        let levels =
            |count: usize, d: f32| -> Vec<f32> { (0..count).map(|j| j as f32 / d).collect() };
        fn map<T: Copy>(t: &[T], n: usize, mut level: impl FnMut(usize) -> usize) -> Vec<T> {
            (0..n).map(|i| t[level(i)]).collect()
        }
        Ok(Some(match self {
            InputSource::Ramp => map(&table(&levels(256, 255.0))?, n, |i| i % 256),
            InputSource::Random { seed } => {
                let t = table(&levels(255, 255.0))?;
                let mut st = *seed as u64 ^ 0x9E37_79B9_7F4A_7C15;
                map(&t, n, |_| {
                    st = st.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut z = st;
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    z ^= z >> 31;
                    (z % 255) as usize
                })
            }
            InputSource::Checkerboard => {
                map(&table(&[0.0, 1.0])?, n, |i| ((i % w) + (i / w) % h) % 2)
            }
            InputSource::Gradient => {
                let d = (h + w).saturating_sub(2).max(1) as f32;
                map(&table(&levels((h + w).saturating_sub(1), d))?, n, |i| {
                    (i % w) + (i / w) % h
                })
            }
            InputSource::Constant { value } => map(&table(&[*value])?, n, |_| 0),
            InputSource::Codes { .. } => return Ok(None),
        }))
    }

    /// The activation codes in `dtype`: generators quantize to it; typed
    /// codes are quint8 (0..255).
    pub fn activations(
        &self,
        s: &ConvShape,
        scale: f64,
        zero_point: i64,
        dtype: DType,
    ) -> Result<Activations> {
        match (self, dtype) {
            (_, DType::QUInt8) => Ok(Activations::QUInt8(self.codes(s, scale, zero_point)?)),
            (InputSource::Codes { .. }, _) => Err(Error::Input(format!(
                "typed input codes are quint8 (0..255); {} activations take a generated input",
                dtype.name()
            ))),
            (_, DType::QInt8) => Ok(Activations::QInt8(
                self.generated(s, |x| {
                    to_qint8(
                        "input",
                        &quantize_per_tensor(x, scale, zero_point, DType::QInt8)?,
                    )
                })?
                .unwrap_or_default(),
            )),
            (_, d) => Err(Error::Input(format!(
                "{} is not an activation dtype",
                d.name()
            ))),
        }
    }

    /// The quint8 input codes.
    pub fn codes(&self, s: &ConvShape, scale: f64, zero_point: i64) -> Result<Vec<u8>> {
        match self {
            InputSource::Codes { codes } => {
                if codes.len() != s.input_len() {
                    return Err(Error::BadShape(format!(
                        "{} input codes typed, the shape needs {}",
                        codes.len(),
                        s.input_len()
                    )));
                }
                Ok(codes.clone())
            }
            _ => Ok(self
                .generated(s, |x| {
                    to_quint8(
                        "input",
                        &quantize_per_tensor(x, scale, zero_point, DType::QUInt8)?,
                    )
                })?
                .unwrap_or_default()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub shape: ConvShape,
    pub input: InputSource,
    /// qint8 weight codes, OIHW.
    pub weights: Vec<i8>,
    pub params: ConvQParams,
    pub a: Computation,
    pub b: Computation,
    /// The CPU and OS the engines run on (PyTorch's dispatch and fbgemm's kernels depend on it).
    #[serde(default)]
    pub platform: Platform,
    #[serde(default)]
    pub view: View,
}

/// What is looked at: part of the scenario so that a link reopens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct View {
    /// Output channel shown in the heatmap.
    pub channel: usize,
    /// Selected output pixel (row, column).
    pub pixel: Option<(usize, usize)>,
    pub map: MapKind,
    /// Control groups hidden (classroom links), by stable name.
    pub hide: Vec<String>,
    /// Whether the map marks pixels where A is clamped (an overlay that never
    /// hides the difference colours).
    pub clamp_marks: bool,
    /// A request, never stored or written: the scenario is new (a link
    /// without a pixel, a paste, a reshape), so show the channel where most
    /// pixels differ and its first differing pixel.
    #[serde(skip_serializing)]
    pub fresh: bool,
}

impl Default for View {
    fn default() -> View {
        View {
            channel: 0,
            pixel: None,
            map: MapKind::Diff,
            hide: vec![],
            clamp_marks: true,
            fresh: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapKind {
    /// A - B per output pixel.
    #[default]
    Diff,
    /// How close A's value before rounding is to a .5 boundary.
    Tie,
    /// Where A's or B's kernel saturated an int16 pair (its accumulator is not the exact sum).
    Saturation,
}

/// Bounds the page and links allow: enough for 512x512 with 16 channels,
/// small enough that a scenario never needs more than a few tens of MB.
/// What the page and links accept. Real layers are bounded by the work and
/// memory they need, not by any one dimension: every conv of ResNet-50,
/// MobileNetV2 and EfficientNet-B0 at 224x224 fits, and so do 512x512 inputs
/// with 16 channels. The per-dimension caps only keep fields sane.
pub mod limits {
    pub const CHANNELS: usize = 4096;
    pub const SIDE: usize = 1024;
    pub const KERNEL: usize = 11;
    pub const STRIDE: usize = 8;
    pub const PADDING: usize = 10;
    pub const DILATION: usize = 8;
    pub const BATCH: usize = 1;
    /// Output values (one int32 accumulator and two codes each).
    pub const OUTPUT: usize = 16 * 512 * 512;
    /// Input codes.
    pub const INPUT: usize = 16 * 512 * 512;
    /// Weight codes (512 -> 2048 1x1 is 1M, 512 -> 512 3x3 is 2.4M).
    pub const WEIGHTS: usize = 4 << 20;
    /// Multiply-adds of one run (512x512, 16 -> 16, 3x3 is 604M).
    pub const MACS: u64 = 1 << 30;
}

/// Checks the work and memory a shape needs against [`limits`], before
/// anything of that size is allocated. Counts in u64: on wasm32 a usize
/// product of capped dimensions can overflow. The error names the quantity,
/// its value and how far over the bound it is.
pub fn check_work(s: &ConvShape) -> Result<()> {
    let u = |v: usize| v as u64;
    let out = |a: usize| -> u64 {
        let span = u(s.dilation[a]) * u(s.kernel[a].saturating_sub(1)) + 1;
        let padded = u([s.height, s.width][a])
            + u(s.padding[a])
            + u(s.padding_end.map_or(s.padding[a], |e| e[a]));
        if s.stride[a] == 0 || padded < span {
            0
        } else {
            (padded - span) / u(s.stride[a]) + 1
        }
    };
    let (oh, ow) = (out(0), out(1));
    let groups = u(s.groups.max(1));
    let outputs = u(s.batch) * u(s.out_channels) * oh * ow;
    let inputs = u(s.batch) * u(s.in_channels) * u(s.height) * u(s.width);
    let taps = u(s.in_channels) / groups * u(s.kernel[0]) * u(s.kernel[1]);
    let weights = u(s.out_channels) * taps;
    let macs = outputs.saturating_mul(taps);
    let over = |what: String, v: u64, max: u64| -> Result<()> {
        if v > max {
            Err(Error::BadShape(format!(
                "{what} is {v}; at most {max} ({:.1}x too many)",
                v as f64 / max as f64
            )))
        } else {
            Ok(())
        }
    };
    over(
        format!("the output ({} x {oh} x {ow} values)", s.out_channels),
        outputs,
        limits::OUTPUT as u64,
    )?;
    over(
        format!(
            "the input ({} x {} x {} codes)",
            s.in_channels, s.height, s.width
        ),
        inputs,
        limits::INPUT as u64,
    )?;
    over(
        format!(
            "the weights ({} x {} x {} x {} codes)",
            s.out_channels,
            u(s.in_channels) / groups,
            s.kernel[0],
            s.kernel[1]
        ),
        weights,
        limits::WEIGHTS as u64,
    )?;
    over(
        format!("the work ({outputs} outputs x {taps} multiply-adds each)"),
        macs,
        limits::MACS,
    )
}

impl Scenario {
    /// The one place that reconciles a changed shape (links, paste and the page
    /// call it): shape within the page's bounds, one scale/zero point per
    /// channel, weights and input codes of the right length, view inside the
    /// output. With `from` (the shape before an edit), weights and typed codes
    /// keep their positions, new channels and kernel taps get small weights
    /// centred on the zero point (`new_weight`) and per-channel parameters repeat;
    /// without it (a link read part by part) lengths are padded or cut.
    /// Returns (link key, note) for each thing changed.
    pub fn fit(&mut self, from: Option<&ConvShape>) -> Vec<(&'static str, String)> {
        let sc = self;
        let mut notes = vec![];
        // Bound the work before anything of the new shape is allocated.
        if let Err(e) = check_work(&sc.shape) {
            notes.push(("", format!("{e}; showing the forum case")));
            *sc = landing();
            return notes;
        }
        if let Some(old) = from {
            remap(sc, old);
        }
        let s = &mut sc.shape;
        if !s.in_channels.is_multiple_of(s.groups) || !s.out_channels.is_multiple_of(s.groups) {
            notes.push((
                "g",
                format!(
                    "{} groups do not divide {} -> {} channels; 1 group used",
                    s.groups, s.in_channels, s.out_channels
                ),
            ));
            s.groups = 1;
        }
        for a in 0..2 {
            let side = [s.height, s.width][a];
            let span = |k: usize, d: usize| (k - 1) * d + 1;
            if span(s.kernel[a], s.dilation[a]) > side + 2 * s.padding[a] {
                notes.push(("k", format!("the kernel does not fit the padded input along {}; kernel and dilation set to 1 there", ["height", "width"][a])));
                s.kernel[a] = 1;
                s.dilation[a] = 1;
            }
        }
        let shape: ConvShape = *s;
        let p = &mut sc.params;
        let n = if p.per_channel { shape.out_channels } else { 1 };
        if p.weight_scales.len() != n {
            notes.push((
                "sw",
                format!(
                    "{} weight scales for {n} needed; the last one is repeated or extra ones dropped",
                    p.weight_scales.len()
                ),
            ));
            let last = *p.weight_scales.last().unwrap_or(&0.0037);
            p.weight_scales.resize(n, last);
        }
        if p.weight_zero_points.len() != n {
            notes.push(("zw", format!("{} weight zero points for {n} needed; the last one is repeated or extra ones dropped", p.weight_zero_points.len())));
            let last = *p.weight_zero_points.last().unwrap_or(&0);
            p.weight_zero_points.resize(n, last);
        }
        if let Some(b) = &mut p.bias {
            if b.len() != shape.out_channels {
                notes.push((
                    "bias",
                    format!(
                        "{} bias values for {} channels; padded with 0 or cut",
                        b.len(),
                        shape.out_channels
                    ),
                ));
                b.resize(shape.out_channels, 0.0);
            }
        }
        if sc.weights.len() != shape.weight_len() {
            notes.push((
                "wq",
                format!(
                    "{} weights for {} needed; padded with 0 or cut",
                    sc.weights.len(),
                    shape.weight_len()
                ),
            ));
            sc.weights.resize(shape.weight_len(), 0);
        }
        if let InputSource::Codes { codes } = &sc.input {
            if codes.len() != shape.input_len() {
                notes.push((
                    "in",
                    format!(
                        "{} input codes for {} needed; the ramp input is used",
                        codes.len(),
                        shape.input_len()
                    ),
                ));
                sc.input = InputSource::Ramp;
            }
        }
        let v = &mut sc.view;
        if v.channel >= shape.out_channels {
            notes.push((
                "ch",
                format!("channel {} does not exist; channel 0 shown", v.channel),
            ));
            v.channel = 0;
        }
        let (oh, ow) = shape.output_hw();
        if let Some((r, c)) = v.pixel {
            if r >= oh || c >= ow {
                notes.push((
                    "px",
                    format!("pixel {r},{c} is outside the {oh}x{ow} output; none selected"),
                ));
                v.pixel = None;
            }
        }
        // Anything the engine still refuses (e.g. scales whose product leaves
        // float32) falls back to the forum case as a whole.
        if let Err(e) = sc.check_limits().and_then(|_| sc.check_runs()) {
            notes.push((
                "",
                format!("the case cannot be computed ({e}); showing the forum case"),
            ));
            *sc = preset("forum").unwrap_or_else(|_| unreachable!("the forum preset exists"));
        }
        notes
    }

    /// The page's bounds on top of the engine's own validation.
    /// Whether `run` will succeed, without a full run where that can be
    /// known: the input codes are checked as a whole, and the engines on the
    /// same channels, kernel and parameters over a one-pixel output. A full
    /// run only when the accumulator could pass int32 (more than 33,025 taps
    /// of 255 · 255), the one failure that depends on the data.
    pub fn check_runs(&self) -> Result<()> {
        let s = &self.shape;
        let taps = (s.in_channels / s.groups.max(1)) as u64 * (s.kernel[0] * s.kernel[1]) as u64;
        if taps * 255 * 255 > i32::MAX as u64 || s.output_len() <= 4096 {
            return self.run().map(|_| ());
        }
        let p = &self.params;
        self.input
            .activations(s, p.input_scale, p.input_zero_point, p.input_dtype)?;
        let mut probe = self.clone();
        let span = |a: usize| (s.kernel[a] - 1) * s.dilation[a] + 1;
        let pads = |a: usize| s.padding[a] + s.padding_end.map_or(s.padding[a], |e| e[a]);
        probe.shape.height = span(0).saturating_sub(pads(0)).max(1);
        probe.shape.width = span(1).saturating_sub(pads(1)).max(1);
        probe.input = InputSource::Ramp;
        probe.view = View::default();
        probe.run().map(|_| ())
    }

    pub fn check_limits(&self) -> Result<()> {
        check_shape(&self.shape)
    }
}

/// A shape against the page's bounds: each field, then the work and memory
/// ([`check_work`]), then the engine's own validation. Needs only the shape,
/// so a file or link is bounded before its tensors are read.
pub fn check_shape(s: &ConvShape) -> Result<()> {
    let over = |what: &str, v: usize, max: usize| -> Result<()> {
        if v > max {
            Err(Error::BadShape(format!("{what} is {v}; at most {max}")))
        } else {
            Ok(())
        }
    };
    over("batch", s.batch, limits::BATCH)?;
    over("input channels", s.in_channels, limits::CHANNELS)?;
    over("output channels", s.out_channels, limits::CHANNELS)?;
    over("height", s.height, limits::SIDE)?;
    over("width", s.width, limits::SIDE)?;
    over("kernel", s.kernel[0].max(s.kernel[1]), limits::KERNEL)?;
    over("stride", s.stride[0].max(s.stride[1]), limits::STRIDE)?;
    over("padding", s.padding[0].max(s.padding[1]), limits::PADDING)?;
    over(
        "dilation",
        s.dilation[0].max(s.dilation[1]),
        limits::DILATION,
    )?;
    check_work(s)?;
    s.validate()
}

/// Buffers kept between runs: the page recomputes on every slider step, and
/// reuse keeps wasm memory flat and skips fresh allocations.
#[derive(Debug, Default)]
pub struct Workspace {
    scratch: Scratch,
    spare: Vec<Vec<i32>>,
}

impl Workspace {
    /// Takes back the output buffers of a run that is no longer needed (its
    /// accumulators may live on in the next run; freed ones go back to the
    /// allocator).
    pub fn recycle(&mut self, run: Run) {
        self.spare.extend([run.out_a, run.out_b]);
        // Keep at most what one run needs.
        self.spare.truncate(5);
    }

    fn take(&mut self) -> Vec<i32> {
        self.spare.pop().unwrap_or_default()
    }
}

/// A scenario computed: input codes, accumulators, both outputs.
#[derive(Debug, Clone)]
pub struct Run {
    pub shape: ConvShape,
    /// Shared with the next run when it is the same generated input.
    pub input: Arc<Activations>,
    /// The generator, scale, zero point and dtype of a generated input.
    input_from: Option<(InputSource, f64, i64, DType)>,
    pub weights: Vec<i8>,
    /// Exact accumulators `sum (qx - zx)(qw - zw)` (shared with the next run
    /// when only the requantization changes).
    pub acc: Arc<Vec<i32>>,
    /// The other accumulations A and B need (raw codes, saturating kernels),
    /// each formed once.
    accs: Vec<(Accumulation, Arc<Vec<i32>>)>,
    /// How many accumulations this run formed (0 when all came from the run before).
    pub accumulated: usize,
    /// The output channels the buffers (`acc`, `out_a`, ...) hold: all of
    /// them, or one worker's part ([`Scenario::parts`]). Flat output indexes
    /// stay those of the whole output; [`Run::at`] maps one into the buffers.
    pub channels: Range<usize>,
    pub out_a: Vec<i32>,
    pub out_b: Vec<i32>,
    pub ra: Requant,
    pub rb: Requant,
    pub params: ConvQParams,
    pub platform: Platform,
    /// The parameters converted for the side of another runtime, if any.
    pub converted: Option<Converted>,
}

/// The accumulation `k` really forms on this conv: a fbgemm kernel that does
/// not saturate here (VNNI) forms the exact sum, so it shares the exact buffer
/// instead of summing the same products twice.
fn effective(k: Accumulation, conv: &IntConv) -> Accumulation {
    match k {
        Accumulation::Fbgemm { isa }
            if !conv.shape.is_asymmetric()
                && !isa.saturates(isa.path(conv.shape, conv.weight_zero_points.len() > 1)) =>
        {
            Accumulation::Exact
        }
        k => k,
    }
}

impl Scenario {
    pub fn validate(&self) -> Result<()> {
        self.shape.validate()?;
        if self.weights.len() != self.shape.weight_len() {
            return Err(Error::BadShape(format!(
                "{} weights given, the shape needs {}",
                self.weights.len(),
                self.shape.weight_len()
            )));
        }
        self.params.validate(self.shape.out_channels)
    }

    pub fn run(&self) -> Result<Run> {
        self.run_in(&mut Workspace::default())
    }

    /// `run`, reusing the buffers of earlier runs given back to `ws`.
    pub fn run_in(&self, ws: &mut Workspace) -> Result<Run> {
        self.run_after(ws, None)
    }

    /// `run_in`, taking the accumulators from `prev` when they depend on
    /// nothing that changed (the same shape, input codes and zero point,
    /// weight codes and zero points; never for the float path, whose sums
    /// hold the scales and bias): a change of output scale, zero point, bias, ReLU, engine or hand
    /// switch only requantizes.
    pub fn run_after(&self, ws: &mut Workspace, prev: Option<&Run>) -> Result<Run> {
        self.run_part(ws, prev, 0..self.shape.out_channels)
    }

    /// `run_after` for the output channels `channels` only: one of the parts
    /// [`Scenario::parts`] gives, so that several workers share a run. Every
    /// choice (kernels, printed scales, conversions) is made on the whole
    /// scenario; only the accumulation and requantization are limited.
    pub fn run_part(
        &self,
        ws: &mut Workspace,
        prev: Option<&Run>,
        channels: Range<usize>,
    ) -> Result<Run> {
        self.validate()?;
        let s = &self.shape;
        let p = &self.params;
        let whole = channels == (0..s.out_channels);
        if !whole && !self.part_fits(&channels) {
            return Err(Error::Input(format!(
                "channels {}..{} cannot be computed apart from the others",
                channels.start, channels.end
            )));
        }
        // A generated input is made again only when its generator, scale,
        // zero point, dtype or shape changed (a large one takes longer than
        // requantizing it).
        let input_from = (!matches!(self.input, InputSource::Codes { .. })).then(|| {
            (
                self.input.clone(),
                p.input_scale,
                p.input_zero_point,
                p.input_dtype,
            )
        });
        let input = match prev {
            Some(r) if input_from.is_some() && r.input_from == input_from && r.shape == *s => {
                r.input.clone()
            }
            _ => Arc::new(self.input.activations(
                s,
                p.input_scale,
                p.input_zero_point,
                p.input_dtype,
            )?),
        };
        // A and B of different runtimes: the later one on the export path
        // runs on the converted parameters. The exact accumulator is the same
        // for both (codes and zero point shift together), and only PyTorch's
        // engines, never converted, accumulate raw codes.
        let converted = crate::convert::across(p, self.a, self.b);
        let ra = Converted::requant(&converted, p, self.a, s, &self.platform)?;
        let rb = Converted::requant(&converted, p, self.b, s, &self.platform)?;
        // One zero point (per-tensor) or one per channel: IntConv takes either.
        let full = IntConv {
            shape: s,
            input: input.codes(),
            input_zero_point: p.input_zero_point,
            weight: &self.weights,
            weight_zero_points: &p.weight_zero_points,
        };
        // A part accumulates the conv of its channels alone (groups 1, batch
        // 1: the same sums in the same order; `splits` checked the kernels).
        let part_shape = ConvShape {
            out_channels: channels.len(),
            ..*s
        };
        let per_out = s.weight_len() / s.out_channels.max(1);
        let conv = if whole {
            full
        } else {
            IntConv {
                shape: &part_shape,
                weight: &self.weights[channels.start * per_out..channels.end * per_out],
                weight_zero_points: if p.weight_zero_points.len() > 1 {
                    &p.weight_zero_points[channels.clone()]
                } else {
                    &p.weight_zero_points
                },
                ..full
            }
        };
        let prev = prev.filter(|r| {
            r.channels == channels
                && r.shape == *s
                && r.params.input_zero_point == p.input_zero_point
                && r.params.weight_zero_points == p.weight_zero_points
                && r.weights == self.weights
                && (Arc::ptr_eq(&r.input, &input) || r.input == input)
        });
        let mut accumulated = 0;
        let acc = match prev {
            Some(r) => r.acc.clone(),
            None => {
                let mut acc = ws.take();
                Accumulation::Exact.run(&conv, &mut ws.scratch, &mut acc)?;
                accumulated += 1;
                Arc::new(acc)
            }
        };
        let mut accs: Vec<(Accumulation, Arc<Vec<i32>>)> = vec![];
        for r in [&ra, &rb] {
            let k = effective(r.kernel.accumulation, &full);
            if k == Accumulation::Exact || accs.iter().any(|(a, _)| *a == k) {
                continue;
            }
            let q = Converted::params(&converted, p, r.computation);
            // The float path's "accumulators" hold the scales and bias too:
            // formed again each time (ONNX Runtime's unfused QDQ only).
            let kept = prev
                .filter(|_| k != Accumulation::DequantizedFloat)
                .and_then(|old| old.accs.iter().find(|(a, _)| *a == k));
            let v = match kept {
                Some((_, v)) => v.clone(),
                None => {
                    let mut v = ws.take();
                    k.run_with(&conv, q, channels.start, &mut ws.scratch, &mut v)?;
                    accumulated += 1;
                    Arc::new(v)
                }
            };
            accs.push((k, v));
        }
        let mut run = Run {
            shape: *s,
            input,
            input_from,
            weights: self.weights.clone(),
            acc,
            accs,
            accumulated,
            channels,
            out_a: vec![],
            out_b: vec![],
            ra,
            rb,
            params: p.clone(),
            platform: self.platform,
            converted,
        };
        let (mut out_a, mut out_b) = (ws.take(), ws.take());
        run.outputs_into(&run.ra, &mut out_a);
        run.outputs_into(&run.rb, &mut out_b);
        (run.out_a, run.out_b) = (out_a, out_b);
        Ok(run)
    }
}

impl Run {
    /// The parameters computation `c` runs on (converted for another runtime's side).
    pub fn params_of(&self, c: Computation) -> &ConvQParams {
        Converted::params(&self.converted, &self.params, c)
    }

    /// The accumulators a prepared computation starts from.
    pub fn acc_for(&self, r: &Requant) -> &[i32] {
        self.acc_of(r.kernel.accumulation)
    }

    /// The accumulators of one accumulation (exact when it was not needed).
    pub fn acc_of(&self, k: Accumulation) -> &[i32] {
        self.accs
            .iter()
            .find(|(a, _)| *a == k)
            .map_or(&self.acc, |(_, v)| v)
    }

    /// The int16 pairs that saturated at `index` under `r`'s kernel.
    pub fn saturated_pairs(
        &self,
        r: &Requant,
        index: usize,
    ) -> Vec<crate::fbgemm_gemm::SaturatedPair> {
        let conv = IntConv {
            shape: &self.shape,
            input: self.input.codes(),
            input_zero_point: self.params.input_zero_point,
            weight: &self.weights,
            weight_zero_points: &self.params.weight_zero_points,
        };
        match r.kernel.accumulation {
            Accumulation::Fbgemm { isa } => isa.saturated_pairs(&conv, index),
            Accumulation::MlasU8S8 => crate::mlas_u8s8::saturated_pairs(&conv, index),
            _ => vec![],
        }
    }

    pub fn requant(&self, which: Side) -> &Requant {
        match which {
            Side::A => &self.ra,
            Side::B => &self.rb,
        }
    }

    /// All output codes of one computation, flat NCHW.
    pub fn outputs(&self, r: &Requant) -> Vec<i32> {
        let mut out = vec![];
        self.outputs_into(r, &mut out);
        out
    }

    fn outputs_into(&self, r: &Requant, out: &mut Vec<i32>) {
        let acc = self.acc_for(r);
        let (oh, ow) = self.shape.output_hw();
        let plane = oh * ow;
        // Every element is written below: a reused buffer is not zeroed first.
        out.resize(acc.len(), 0);
        for (i, (a, o)) in acc.chunks(plane).zip(out.chunks_mut(plane)).enumerate() {
            r.plane((self.channels.start + i) % self.shape.out_channels, a, o);
        }
    }

    /// Where the flat output index `index` is in this run's buffers (which
    /// may hold a part of the channels).
    pub fn at(&self, index: usize) -> usize {
        let (oh, ow) = self.shape.output_hw();
        index - self.channels.start * oh * ow
    }

    pub fn channel_of(&self, index: usize) -> usize {
        let (oh, ow) = self.shape.output_hw();
        (index / (oh * ow)) % self.shape.out_channels
    }

    /// The value computation A held just before rounding, at one output element.
    pub fn pre_round_a(&self, index: usize) -> f64 {
        self.ra
            .pre_round(
                self.channel_of(index),
                self.acc_for(&self.ra)[self.at(index)],
            )
            .unwrap_or(f64::NAN)
    }

    /// Full trace of one computation at one output element.
    pub fn trace(&self, which: Side, index: usize) -> Trace {
        let r = self.requant(which);
        let mut t = Trace {
            computation: r.computation.title().to_string(),
            kernel: r.kernel.why.clone(),
            steps: vec![],
        };
        r.pixel(
            self.channel_of(index),
            self.acc_for(r)[self.at(index)],
            &mut t,
        );
        t
    }

    /// The output code a different computation gives at one element (for blame).
    pub fn output_with(&self, c: Computation, index: usize) -> Result<i64> {
        let r = Converted::requant(
            &self.converted,
            &self.params,
            c,
            &self.shape,
            &self.platform,
        )?;
        let acc = if c.uses_raw_codes() {
            let zero = vec![0i64; self.shape.out_channels];
            let conv = IntConv {
                shape: &self.shape,
                input: self.input.codes(),
                input_zero_point: 0,
                weight: &self.weights,
                weight_zero_points: &zero,
            };
            let (n, oc, y, x) = self.position(index);
            conv.taps_of(n, oc, y, x)
                .iter()
                .map(|t| t.product)
                .sum::<i64>() as i32
        } else if let Some((_, v)) = self.accs.iter().find(|(a, _)| *a == r.kernel.accumulation) {
            v[self.at(index)]
        } else if r.kernel.accumulation.saturates() {
            let conv = IntConv {
                shape: &self.shape,
                input: self.input.codes(),
                input_zero_point: self.params.input_zero_point,
                weight: &self.weights,
                weight_zero_points: &self.params.weight_zero_points,
            };
            let mut v = vec![];
            r.kernel.accumulation.run_with(
                &conv,
                self.params_of(c),
                0,
                &mut Scratch::default(),
                &mut v,
            )?;
            v[index]
        } else {
            self.acc[self.at(index)]
        };
        Ok(r.pixel(self.channel_of(index), acc, &mut crate::trace::NoTrace))
    }

    /// (batch, channel, row, col) of a flat output index.
    pub fn position(&self, index: usize) -> (usize, usize, usize, usize) {
        let (oh, ow) = self.shape.output_hw();
        let x = index % ow;
        let y = (index / ow) % oh;
        let c = (index / (oh * ow)) % self.shape.out_channels;
        let n = index / (oh * ow * self.shape.out_channels);
        (n, c, y, x)
    }

    pub fn index(&self, channel: usize, row: usize, col: usize) -> Result<usize> {
        let (oh, ow) = self.shape.output_hw();
        if channel >= self.shape.out_channels || row >= oh || col >= ow {
            return Err(Error::Input(format!(
                "pixel (channel {channel}, row {row}, col {col}) is outside the {}x{oh}x{ow} output",
                self.shape.out_channels
            )));
        }
        Ok(self.shape.output_index(0, channel, row, col))
    }

    pub fn taps(&self, index: usize) -> Vec<crate::conv::Tap> {
        let conv = IntConv {
            shape: &self.shape,
            input: self.input.codes(),
            input_zero_point: self.params.input_zero_point,
            weight: &self.weights,
            weight_zero_points: &self.params.weight_zero_points,
        };
        let (n, c, y, x) = self.position(index);
        conv.taps_of(n, c, y, x)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// Keeps weights, per-channel parameters, bias and typed input codes at their
/// positions when the shape changes from `old`: a new output channel repeats
/// the weights of an existing one (a new layer of the same kind, rather than
/// arbitrary codes), a new tap or input channel starts at 0.
/// Largest |code - zero point| of the weights `fit` creates for new channels
/// and kernel taps: small (at most 8) and scaled so that, with a typical
/// |input code - zero point| of 64 over `taps` taps and `multiplier` =
/// input scale x weight scale / output scale, three standard deviations of the
/// new part of an output stay within 64 codes: a grown layer is not a map of
/// clamped pixels.
fn new_weight_amplitude(multiplier: f64, taps: usize) -> i32 {
    let sd = 64.0 / (3.0 * multiplier.abs() * 64.0 * (taps.max(1) as f64).sqrt());
    // A uniform spread over -a..=a has a standard deviation of about a/sqrt(3).
    let a = sd * 3f64.sqrt();
    if a.is_nan() {
        return 1;
    }
    a.clamp(1.0, 8.0) as i32
}

/// A deterministic spread of codes over zw-amp..=zw+amp (mean zw), by position.
fn new_weight(index: usize, amp: i32, zw: i64) -> i8 {
    let h = (index as u64 ^ 0x9e37_79b9).wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
    let v = (h % (2 * amp as u64 + 1)) as i64 - amp as i64;
    (zw + v).clamp(-128, 127) as i8
}

fn remap(sc: &mut Scenario, old: &ConvShape) {
    let s = sc.shape;
    if s.groups == 0 || old.groups == 0 || !s.in_channels.is_multiple_of(s.groups) {
        return;
    }
    let (cin_g, ocin_g) = (
        s.in_channels / s.groups,
        old.in_channels / old.groups.max(1),
    );
    let [kh, kw] = s.kernel;
    let [okh, okw] = old.kernel;
    if sc.weights.len() == old.weight_len() && old.out_channels > 0 {
        let p = &sc.params;
        let taps = cin_g * kh * kw;
        let mut w = Vec::with_capacity(s.weight_len());
        for oc in 0..s.out_channels {
            // Per-channel quantization repeats the old channels' parameters
            // (below): the new weights are sized for those.
            let c = oc % old.out_channels;
            let at = |v: &[f64]| v.get(if p.per_channel { c } else { 0 }).copied();
            let zw = p
                .weight_zero_points
                .get(if p.per_channel { c } else { 0 })
                .copied()
                .unwrap_or(0);
            let amp = new_weight_amplitude(
                p.input_scale * at(&p.weight_scales).unwrap_or(0.0) / p.output_scale,
                taps,
            );
            for ic in 0..cin_g {
                for y in 0..kh {
                    for x in 0..kw {
                        let kept = oc < old.out_channels && ic < ocin_g && y < okh && x < okw;
                        w.push(if kept {
                            sc.weights[((oc * ocin_g + ic) * okh + y) * okw + x]
                        } else {
                            new_weight(w.len(), amp, zw)
                        });
                    }
                }
            }
        }
        sc.weights = w;
    }
    let p = &mut sc.params;
    fn repeat<T: Copy>(v: &mut Vec<T>, old: usize, new: usize) {
        if v.len() == old && !v.is_empty() {
            *v = (0..new).map(|c| v[c % v.len()]).collect();
        }
    }
    let (o, n) = (old.out_channels, s.out_channels);
    if p.per_channel {
        repeat(&mut p.weight_scales, o, n);
        repeat(&mut p.weight_zero_points, o, n);
    }
    if let Some(b) = &mut p.bias {
        repeat(b, o, n);
    }
    if let InputSource::Codes { codes } = &mut sc.input {
        if codes.len() == old.input_len() {
            let zx = p.input_zero_point.clamp(0, 255) as u8;
            let mut out = vec![zx; s.input_len()];
            for ch in 0..s.in_channels.min(old.in_channels) {
                for y in 0..s.height.min(old.height) {
                    for x in 0..s.width.min(old.width) {
                        out[(ch * s.height + y) * s.width + x] =
                            codes[(ch * old.height + y) * old.width + x];
                    }
                }
            }
            *codes = out;
        }
    }
}

/// The presets, by stable id.
pub const PRESETS: &[(&str, &str)] = &[
    ("forum", "PyTorch forum: 24 -> 30, not 31"),
    ("ties", "Ties at .5: half to even vs half away"),
    ("per-channel", "Per-channel weights"),
    ("bias", "Bias kept as float (fbgemm) vs rounded (qnnpack)"),
    ("clamping", "Clamping at 0 and 255"),
    (
        "avx2-saturation",
        "AVX2 saturation: 211·71 + 171·107 = 33278 > 32767",
    ),
    (
        "x86-tie",
        "PyTorch default (x86 → oneDNN) vs fbgemm at a tie",
    ),
    (
        "pytorch-vs-onnxruntime",
        "PyTorch fbgemm vs ONNX Runtime (torch.onnx truncates the bias)",
    ),
    ("ort-qdq-tie", "ONNX Runtime QDQ fused vs unfused at a tie"),
    ("tflite-vs-xnnpack", "TFLite reference vs XNNPACK"),
    (
        "microcontroller",
        "Microcontroller hand calculation vs TFLite reference",
    ),
];

/// The forum thread the project began with.
pub const FORUM_THREAD: &str =
    "https://discuss.pytorch.org/t/the-result-of-quantized-conv2d-is-different-from-the-result-i-calculate/157066";

/// A preset's story in one line (what to look at), shown above its heatmap.
pub fn story(id: &str) -> &'static str {
    match id {
        "forum" => "A PyTorch forum user computed 31 by hand where fbgemm gave 30: the scales and bias were copied as printed (4 decimals), not the float32 values PyTorch computes with.",
        "ties" => "At an exact .5 the hand formula rounds half away from zero (C's round) where fbgemm rounds half to even.",
        "per-channel" => "Per-channel weights: each output channel has its own weight scale, and the hand formula copied them as printed.",
        "bias" => "fbgemm adds the bias as a float; qnnpack first rounds it to an int32 in accumulator units: one code apart near .5.",
        "clamping" => "Outputs beyond 0..255 are clamped by PyTorch; the hand formula that forgets the clamp gives codes no uint8 can hold.",
        "avx2-saturation" => "On AVX2 CPUs fbgemm adds pairs of u8·s8 products in int16 and saturates at 32767: far off the exact sum.",
        "x86-tie" => "PyTorch's default engine (x86 → oneDNN here) adds the output zero point before rounding; fbgemm after: different codes at a tie.",
        "pytorch-vs-onnxruntime" => "torch.onnx exports the float bias as an int32 that Cast truncates (1072.9 → 1072); fbgemm keeps the float: one code apart near .5.",
        "ort-qdq-tie" => "ONNX Runtime fuses a QDQ conv into QLinearConv (an exact tie, rounded to even) or runs it as a float conv (a little off the tie): one code apart.",
        "tflite-vs-xnnpack" => "At an exact .5 TFLite's reference kernels round half up (fixed-point high multiply), XNNPACK half to even (float32).",
        "microcontroller" => "A C reimplementation in float32 rounds once; TFLite's fixed-point multiplier rounds twice and lifts values just under .5.",
        _ => "",
    }
}

pub(crate) fn shape(
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: usize,
    pad: usize,
) -> ConvShape {
    ConvShape {
        batch: 1,
        in_channels: cin,
        out_channels: cout,
        height: h,
        width: w,
        kernel: [k, k],
        stride: [1, 1],
        padding: [pad, pad],
        padding_end: None,
        dilation: [1, 1],
        groups: 1,
    }
}

/// Deterministic pseudo-random int8 weights for presets.
fn weights(n: usize, seed: u64) -> Vec<i8> {
    let mut st = seed;
    (0..n)
        .map(|_| {
            st = st
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (((st >> 33) % 255) as i64 - 127) as i8
        })
        .collect()
}

/// The landing scenario: the forum preset (built alone, so that the page's
/// first wasm carries no other preset).
pub fn landing() -> Scenario {
    forum()
}

pub fn preset(id: &str) -> Result<Scenario> {
    let mut s = preset_definition(id)?;
    // A preset opens on a pixel: its own, or the first where A and B differ
    // on the channel where most differ.
    if s.view.pixel.is_none() {
        let (oh, ow) = s.shape.output_hw();
        let plane = oh * ow;
        if let Ok(r) = s.run() {
            let differs = |i: usize| r.out_a[i] != r.out_b[i];
            let count = |c: usize| (0..plane).filter(|&i| differs(c * plane + i)).count();
            // The channel with the most differing pixels (the lowest of a tie).
            let c = (0..s.shape.out_channels)
                .max_by_key(|&c| (count(c), std::cmp::Reverse(c)))
                .unwrap_or(0);
            if let Some(i) = (0..plane).find(|&i| differs(c * plane + i)) {
                s.view.channel = c;
                s.view.pixel = Some((i / ow, i % ow));
            }
        }
    }
    Ok(s)
}

fn forum() -> Scenario {
    let hand = Computation::hand(HandAssumptions::default());
    // ARITHMETIC.md §5: the forum post's model, calibrated by PyTorch.
    Scenario {
        shape: shape(1, 1, 4, 16, 1, 0),
        input: InputSource::Ramp,
        weights: vec![127],
        params: ConvQParams {
            input_scale: 0.007839367724955082,
            input_zero_point: 0,
            weight_scales: vec![0.003770669922232628],
            weight_zero_points: vec![0],
            per_channel: true,
            bias: Some(vec![0.0317]),
            output_scale: 0.004018464591354132,
            output_zero_point: 0,
            relu: false,
            input_dtype: crate::quant::DType::QUInt8,
            output_dtype: crate::quant::DType::QUInt8,
            bias_i32: None,
            relu6: false,
            weight_dtype: crate::quant::DType::QInt8,
            depthwise_op: false,
        },
        a: Computation::FBGEMM,
        b: hand,
        platform: Default::default(),
        view: View {
            pixel: Some((2, 15)),
            ..View::default()
        },
    }
}

fn preset_definition(id: &str) -> Result<Scenario> {
    if let Some(s) = crate::runtime_presets::preset(id) {
        return Ok(s);
    }
    let hand = Computation::hand(HandAssumptions::default());
    Ok(match id {
        "forum" => forum(),
        // Power-of-two scales: M = 1/2 exactly, so every odd accumulator is a tie.
        "ties" => Scenario {
            shape: shape(1, 1, 16, 16, 1, 0),
            input: InputSource::Codes {
                codes: (0..=255).collect(),
            },
            weights: vec![1],
            params: ConvQParams {
                input_scale: 2f64.powi(-6),
                input_zero_point: 0,
                weight_scales: vec![2f64.powi(-6)],
                weight_zero_points: vec![0],
                per_channel: false,
                bias: None,
                output_scale: 2f64.powi(-11),
                output_zero_point: 0,
                relu: false,
                input_dtype: crate::quant::DType::QUInt8,
                output_dtype: crate::quant::DType::QUInt8,
                bias_i32: None,
                relu6: false,
                weight_dtype: crate::quant::DType::QInt8,
                depthwise_op: false,
            },
            a: Computation::FBGEMM,
            b: Computation::hand(HandAssumptions {
                rounding: Rounding::HalfAway,
                ..HandAssumptions::faithful()
            }),
            platform: Default::default(),
            view: View::default(),
        },
        "per-channel" => Scenario {
            shape: shape(3, 4, 12, 12, 3, 1),
            input: InputSource::Random { seed: 7 },
            weights: weights(4 * 3 * 9, 11),
            params: ConvQParams {
                input_scale: 0.0078125 * 0.9871,
                input_zero_point: 3,
                weight_scales: vec![0.0031, 0.0047, 0.0012, 0.0066]
                    .into_iter()
                    .map(|v: f64| v * 1.0123)
                    .collect(),
                weight_zero_points: vec![0; 4],
                per_channel: true,
                bias: Some(vec![0.0317, -0.12, 0.051, 0.2]),
                output_scale: 0.0213,
                output_zero_point: 128,
                relu: false,
                input_dtype: crate::quant::DType::QUInt8,
                output_dtype: crate::quant::DType::QUInt8,
                bias_i32: None,
                relu6: false,
                weight_dtype: crate::quant::DType::QInt8,
                depthwise_op: false,
            },
            a: Computation::FBGEMM,
            b: hand,
            platform: Default::default(),
            view: View::default(),
        },
        // A 1x1 conv keeps the multiplier near 1/7, so the 0.4 that qnnpack's
        // integer bias drops (1072.4 -> 1072) moves many pixels across a boundary.
        "bias" => {
            let (sx, sw) = (0.0078f64, 0.0037f64);
            let aw = (sx as f32 * sw as f32) as f64;
            Scenario {
                shape: shape(1, 1, 16, 16, 1, 0),
                input: InputSource::Codes {
                    codes: (0..=255).collect(),
                },
                weights: vec![3],
                params: ConvQParams {
                    input_scale: sx,
                    input_zero_point: 0,
                    weight_scales: vec![sw],
                    weight_zero_points: vec![0],
                    per_channel: false,
                    bias: Some(vec![(1072.4 * aw) as f32]),
                    output_scale: 7.3 * aw,
                    output_zero_point: 0,
                    relu: false,
                    input_dtype: crate::quant::DType::QUInt8,
                    output_dtype: crate::quant::DType::QUInt8,
                    bias_i32: None,
                    relu6: false,
                    weight_dtype: crate::quant::DType::QInt8,
                    depthwise_op: false,
                },
                a: Computation::FBGEMM,
                b: Computation::QNNPACK,
                platform: Default::default(),
                view: View::default(),
            }
        }
        // A small output scale saturates many pixels; the hand calculation
        // without clamping shows by how much.
        "clamping" => Scenario {
            shape: shape(1, 2, 10, 10, 3, 1),
            input: InputSource::Gradient,
            weights: weights(2 * 9, 3),
            params: ConvQParams {
                input_scale: 0.0078,
                input_zero_point: 0,
                weight_scales: vec![0.0041],
                weight_zero_points: vec![0],
                per_channel: false,
                bias: Some(vec![0.05, -0.05]),
                output_scale: 0.0045,
                output_zero_point: 64,
                relu: true,
                input_dtype: crate::quant::DType::QUInt8,
                output_dtype: crate::quant::DType::QUInt8,
                bias_i32: None,
                relu6: false,
                weight_dtype: crate::quant::DType::QInt8,
                depthwise_op: false,
            },
            a: Computation::FBGEMM,
            b: Computation::hand(HandAssumptions {
                ignore_clamp: true,
                ..HandAssumptions::faithful()
            }),
            platform: Default::default(),
            view: View::default(),
        },
        // PyTorch issues 44939 / 50720: on a CPU without VNNI fbgemm's
        // vpmaddubsw adds the products of input channels 0 and 1 at a tap in
        // int16 and saturates. B (qnnpack) accumulates exactly; with
        // power-of-two scales and no bias both requantize alike, so every
        // difference is a saturated pair. On AVX512-VNNI they agree.
        "avx2-saturation" => {
            let (h, w) = (16, 16);
            let mut codes = vec![0u8; 2 * h * w];
            for y in 0..h {
                for x in 0..w {
                    let blob = (7..=9).contains(&y) && (7..=9).contains(&x);
                    codes[y * w + x] = if blob {
                        211
                    } else {
                        (120 + (x * 7 + y * 13) % 136) as u8
                    };
                    codes[h * w + y * w + x] = if blob {
                        171
                    } else {
                        (100 + (x * 11 + y * 5) % 156) as u8
                    };
                }
            }
            // Every tap: 71 on input channel 0, 107 on input channel 1.
            let weights = (0..2 * 9).map(|i| if i < 9 { 71 } else { 107 }).collect();
            Scenario {
                shape: shape(2, 1, h, w, 3, 1),
                input: InputSource::Codes { codes },
                weights,
                params: ConvQParams {
                    input_scale: 0.015625,
                    input_zero_point: 0,
                    weight_scales: vec![0.0078125],
                    weight_zero_points: vec![0],
                    per_channel: false,
                    bias: None,
                    output_scale: 0.25,
                    output_zero_point: 0,
                    relu: false,
                    input_dtype: crate::quant::DType::QUInt8,
                    output_dtype: crate::quant::DType::QUInt8,
                    bias_i32: None,
                    relu6: false,
                    weight_dtype: crate::quant::DType::QInt8,
                    depthwise_op: false,
                },
                a: Computation::FBGEMM,
                b: Computation::QNNPACK,
                platform: Platform {
                    cpu: crate::engine::Cpu::Avx2,
                    ..Platform::default()
                },
                view: View {
                    pixel: Some((8, 8)),
                    ..View::default()
                },
            }
        }
        // The golden README's tie: sx = sw = 1, sy = 2, zy = 1. oneDNN adds the
        // zero point before rounding (x/2 + 1), fbgemm after (rne(x/2) + 1):
        // every odd input code is a tie that they round apart.
        "x86-tie" => Scenario {
            shape: shape(1, 1, 16, 16, 1, 0),
            input: InputSource::Codes {
                codes: (0..=255).collect(),
            },
            weights: vec![1],
            params: ConvQParams {
                input_scale: 1.0,
                input_zero_point: 0,
                weight_scales: vec![1.0],
                weight_zero_points: vec![0],
                per_channel: false,
                bias: None,
                output_scale: 2.0,
                output_zero_point: 1,
                relu: false,
                input_dtype: crate::quant::DType::QUInt8,
                output_dtype: crate::quant::DType::QUInt8,
                bias_i32: None,
                relu6: false,
                weight_dtype: crate::quant::DType::QInt8,
                depthwise_op: false,
            },
            a: Computation::X86,
            b: Computation::FBGEMM,
            platform: Platform::default(),
            view: View {
                pixel: Some((0, 1)),
                ..View::default()
            },
        },
        other => {
            let ids: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
            return Err(Error::Input(format!(
                "unknown preset {other:?} (one of {})",
                ids.join(", ")
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_sources_read_back_as_written_and_bad_ones_say_why() {
        for src in [
            InputSource::Ramp,
            InputSource::Random { seed: 7 },
            InputSource::Checkerboard,
            InputSource::Gradient,
            InputSource::Constant { value: 0.25 },
            InputSource::Codes {
                codes: vec![0, 3, 255],
            },
        ] {
            let json = serde_json::to_string(&src).unwrap();
            assert_eq!(
                serde_json::from_str::<InputSource>(&json).unwrap(),
                src,
                "{json}"
            );
        }
        let err = |j: &str| {
            serde_json::from_str::<InputSource>(j)
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{"kind":"random"}"#).contains("missing field `seed`"));
        assert!(err(r#"{"kind":"codes","codes":[256]}"#).contains("256"));
        assert!(err(r#"{"kind":"noise"}"#).contains("unknown variant `noise`"));
        assert!(err(r#"{"seed":1}"#).contains("missing field `kind`"));
    }

    /// Each element's float, computed alone (the documented formulas).
    fn element_floats(src: &InputSource, s: &ConvShape) -> Vec<f32> {
        let (h, w) = (s.height, s.width);
        let mut st = match src {
            InputSource::Random { seed } => *seed as u64 ^ 0x9E37_79B9_7F4A_7C15,
            _ => 0,
        };
        (0..s.input_len())
            .map(|i| match src {
                InputSource::Ramp => (i % 256) as f32 / 255.0,
                InputSource::Random { .. } => {
                    st = st.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut z = st;
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    z ^= z >> 31;
                    (z % 255) as f32 / 255.0
                }
                InputSource::Checkerboard => (((i % w) + (i / w) % h) % 2) as f32,
                InputSource::Gradient => {
                    ((i % w) + (i / w) % h) as f32 / (h + w).saturating_sub(2).max(1) as f32
                }
                InputSource::Constant { value } => *value,
                InputSource::Codes { .. } => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn generated_codes_are_each_elements_float_quantized() {
        let mut s = shape(1, 3, 37, 300, 1, 0);
        for (h, w) in [(37, 300), (1, 1), (2, 129)] {
            (s.height, s.width) = (h, w);
            for src in [
                InputSource::Ramp,
                InputSource::Random { seed: 11 },
                InputSource::Checkerboard,
                InputSource::Gradient,
                InputSource::Constant { value: 0.3 },
            ] {
                let x = element_floats(&src, &s);
                assert_eq!(src.floats(&s).unwrap(), x, "{src:?}");
                for (scale, zp) in [(1.0 / 255.0, 0), (0.0123, 17), (0.5, 200)] {
                    let q = quantize_per_tensor(&x, scale, zp, DType::QUInt8).unwrap();
                    assert_eq!(
                        src.codes(&s, scale, zp).unwrap(),
                        to_quint8("x", &q).unwrap()
                    );
                    let q = quantize_per_tensor(&x, scale, zp - 128, DType::QInt8).unwrap();
                    let Activations::QInt8(v) =
                        src.activations(&s, scale, zp - 128, DType::QInt8).unwrap()
                    else {
                        panic!("qint8")
                    };
                    assert_eq!(v, to_qint8("x", &q).unwrap(), "{src:?} {scale} {zp}");
                }
            }
        }
    }

    #[test]
    fn generators_make_the_documented_floats() {
        let s = shape(1, 1, 4, 16, 1, 0);
        let ramp = InputSource::Ramp.floats(&s).unwrap();
        assert_eq!(ramp[24], 24.0f32 / 255.0);
        let cb = InputSource::Checkerboard.floats(&s).unwrap();
        assert_eq!(&cb[..3], &[0.0, 1.0, 0.0]);
        assert_eq!(cb[16], 1.0);
        let g = InputSource::Gradient.floats(&s).unwrap();
        assert_eq!((g[0], g[63]), (0.0, 1.0));
        let r1 = InputSource::Random { seed: 1 }.floats(&s).unwrap();
        assert_eq!(r1, InputSource::Random { seed: 1 }.floats(&s).unwrap());
        assert_ne!(r1, InputSource::Random { seed: 2 }.floats(&s).unwrap());
        assert!(r1.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(InputSource::Codes { codes: vec![] }.floats(&s).is_none());
    }

    #[test]
    fn every_preset_runs_within_limits() {
        for (id, _) in PRESETS {
            let sc = preset(id).unwrap();
            sc.check_limits().unwrap();
            let run = sc.run().unwrap();
            assert_eq!(run.out_a.len(), sc.shape.output_len());
        }
        assert!(preset("nope").unwrap_err().to_string().contains("forum"));
    }

    /// (cin, cout, side, kernel, stride, groups): a conv at `side` x `side`
    /// with "same" padding.
    fn layer(
        cin: usize,
        cout: usize,
        side: usize,
        k: usize,
        stride: usize,
        groups: usize,
    ) -> ConvShape {
        ConvShape {
            batch: 1,
            in_channels: cin,
            out_channels: cout,
            height: side,
            width: side,
            kernel: [k, k],
            stride: [stride, stride],
            padding: [k / 2, k / 2],
            padding_end: None,
            dilation: [1, 1],
            groups,
        }
    }

    fn limits_of(s: ConvShape) -> Result<()> {
        Scenario {
            shape: s,
            ..landing()
        }
        .check_limits()
    }

    #[test]
    fn real_layers_fit() {
        let dw = |c: usize, side: usize, k: usize, st: usize| layer(c, c, side, k, st, c);
        let pw = |a: usize, b: usize, side: usize| layer(a, b, side, 1, 1, 1);
        let mut layers = vec![
            // ResNet-50 at 224x224: the stem, then each stage's distinct convs.
            layer(3, 64, 224, 7, 2, 1),
            pw(64, 64, 56),
            layer(64, 64, 56, 3, 1, 1),
            pw(64, 256, 56),
            pw(256, 64, 56),
            pw(256, 128, 56),
            layer(128, 128, 56, 3, 2, 1),
            layer(256, 512, 56, 1, 2, 1),
            pw(128, 512, 28),
            pw(512, 128, 28),
            layer(128, 128, 28, 3, 1, 1),
            pw(512, 256, 28),
            layer(256, 256, 28, 3, 2, 1),
            layer(512, 1024, 28, 1, 2, 1),
            pw(256, 1024, 14),
            pw(1024, 256, 14),
            layer(256, 256, 14, 3, 1, 1),
            pw(1024, 512, 14),
            layer(512, 512, 14, 3, 2, 1),
            layer(1024, 2048, 14, 1, 2, 1),
            pw(512, 2048, 7),
            pw(2048, 512, 7),
            layer(512, 512, 7, 3, 1, 1),
            // MobileNetV2: stem, depthwise at every stride and width, expansions, head.
            layer(3, 32, 224, 3, 2, 1),
            dw(32, 112, 3, 1),
            pw(32, 16, 112),
            pw(16, 96, 112),
            dw(96, 112, 3, 2),
            pw(96, 24, 56),
            pw(24, 144, 56),
            dw(144, 56, 3, 1),
            dw(144, 56, 3, 2),
            pw(144, 32, 28),
            pw(32, 192, 28),
            dw(192, 28, 3, 2),
            pw(192, 64, 14),
            pw(64, 384, 14),
            dw(384, 14, 3, 1),
            pw(384, 96, 14),
            pw(96, 576, 14),
            dw(576, 14, 3, 2),
            pw(576, 160, 7),
            pw(160, 960, 7),
            dw(960, 7, 3, 1),
            pw(960, 320, 7),
            pw(320, 1280, 7),
            // EfficientNet-B0: 5x5 depthwise included, squeeze-excite 1x1 convs on 1x1.
            dw(144, 56, 5, 2),
            pw(144, 40, 28),
            pw(40, 240, 28),
            dw(240, 28, 5, 1),
            dw(240, 28, 3, 2),
            pw(240, 80, 14),
            pw(80, 480, 14),
            dw(480, 14, 5, 1),
            pw(480, 112, 14),
            pw(112, 672, 14),
            dw(672, 14, 5, 2),
            pw(672, 192, 7),
            pw(192, 1152, 7),
            dw(1152, 7, 5, 1),
            dw(1152, 7, 3, 1),
            pw(1152, 320, 7),
            pw(1152, 48, 1),
            pw(48, 1152, 1),
        ];
        // Large inputs with few channels.
        layers.push(layer(16, 16, 512, 3, 1, 1));
        layers.push(layer(3, 16, 512, 3, 1, 1));
        for l in layers {
            limits_of(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
        }
    }

    #[test]
    fn over_a_bound_names_the_quantity_and_by_how_much() {
        let e = limits_of(layer(64, 64, 1024, 3, 1, 1))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "bad shape: the output (64 x 1024 x 1024 values) is 67108864; at most 4194304 (16.0x too many)");
        // Within the output bound but not the work: 16 -> 16, 11x11 at 512x512.
        let e = limits_of(layer(16, 16, 512, 11, 1, 1))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "bad shape: the work (4194304 outputs x 1936 multiply-adds each) is 8120172544; at most 1073741824 (7.6x too many)");
        let e = limits_of(layer(4096, 4096, 8, 11, 1, 1))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("bad shape: the weights (4096 x 4096 x 11 x 11 codes)"),
            "{e}"
        );
        // A per-dimension cap still speaks for itself.
        let e = limits_of(layer(5000, 1, 8, 1, 1, 1))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "bad shape: input channels is 5000; at most 4096");
    }

    #[test]
    fn fit_refuses_oversized_work_before_allocating() {
        // 4096 -> 4096, 11x11 at 1024x1024 would be 2G weights and 4G outputs:
        // refused, the forum case shown, nothing of that size allocated.
        let mut sc = landing();
        sc.shape = layer(4096, 4096, 1024, 11, 1, 1);
        let notes = sc.fit(None);
        assert_eq!(sc, landing());
        assert!(
            notes[0]
                .1
                .contains("the output (4096 x 1024 x 1024 values)"),
            "{notes:?}"
        );
        // A large layer that fits is kept, and checked without a full run.
        let mut sc = landing();
        sc.shape = layer(64, 64, 56, 3, 1, 1);
        sc.params.weight_scales = vec![0.0037];
        sc.params.weight_zero_points = vec![0];
        sc.params.per_channel = false;
        sc.params.bias = None;
        let notes = sc.fit(None);
        assert_eq!(sc.shape, layer(64, 64, 56, 3, 1, 1), "{notes:?}");
        assert_eq!(sc.weights.len(), 64 * 64 * 9);
        sc.check_runs().unwrap();
        sc.run().unwrap();
        // What the engine refuses (a product of scales that leaves float32)
        // is found by the one-pixel probe as by a full run.
        let mut bad = sc.clone();
        bad.params.input_scale = 1e-30;
        bad.params.weight_scales = vec![1e-30];
        assert_eq!(bad.check_runs().is_err(), bad.run().is_err());
    }

    #[test]
    fn positions_and_indexes_agree() {
        let run = preset("per-channel").unwrap().run().unwrap();
        let i = run.index(2, 5, 7).unwrap();
        assert_eq!(run.position(i), (0, 2, 5, 7));
        assert!(run.index(4, 0, 0).is_err());
        assert_eq!(run.taps(i).len(), 27);
    }
}

#[cfg(test)]
mod workspace_tests {
    use super::*;

    #[test]
    fn recycled_buffers_give_the_same_run() {
        let mut ws = Workspace::default();
        let mut last: Option<Run> = None;
        for id in ["per-channel", "forum", "clamping", "per-channel", "bias"] {
            let mut sc = preset(id).unwrap();
            if id == "clamping" {
                // raw accumulators too (hand without zero points)
                sc.b = Computation::hand(HandAssumptions {
                    ignore_zero_points: true,
                    ..Default::default()
                });
            }
            let fresh = sc.run().unwrap();
            let reused = sc.run_in(&mut ws).unwrap();
            assert_eq!(
                (&reused.acc, &reused.out_a, &reused.out_b),
                (&fresh.acc, &fresh.out_a, &fresh.out_b),
                "{id}"
            );
            if let Some(old) = last.replace(reused) {
                ws.recycle(old);
            }
        }
    }
}
#[cfg(test)]
mod grow_tests {
    use super::*;

    /// Grows `sc` to `ci -> co` channels the way the page does (one field at a time).
    fn grow(sc: &mut Scenario, ci: usize, co: usize) {
        let old = sc.shape;
        sc.shape.in_channels = ci;
        sc.fit(Some(&old));
        let old = sc.shape;
        sc.shape.out_channels = co;
        sc.fit(Some(&old));
    }

    #[test]
    fn new_channels_get_small_weights_centred_on_zero() {
        let mut sc = preset("per-channel").unwrap();
        grow(&mut sc, 8, 8);
        let kept = sc.weights.clone();
        let before = sc.run().unwrap();
        grow(&mut sc, 64, 64);
        assert_eq!(sc.weights.len(), 64 * 64 * 9);
        // The 8 -> 8 weights keep their positions.
        for oc in 0..8 {
            for ic in 0..8 {
                for t in 0..9 {
                    assert_eq!(
                        sc.weights[(oc * 64 + ic) * 9 + t],
                        kept[(oc * 8 + ic) * 9 + t]
                    );
                }
            }
        }
        // Every other weight is new: small, centred on the zero point (0 here).
        let new: Vec<i64> = (0..sc.weights.len())
            .filter(|&i| !(i / (64 * 9) < 8 && (i / 9) % 64 < 8))
            .map(|i| sc.weights[i] as i64)
            .collect();
        assert_eq!(new.len(), 64 * 64 * 9 - 8 * 8 * 9);
        let mean = new.iter().sum::<i64>() as f64 / new.len() as f64;
        assert!(mean.abs() < 0.25, "mean {mean}");
        assert!(new.iter().all(|w| w.abs() <= 8));
        assert!(new.iter().any(|&w| w != 0), "not all zero");
        // The output is not a map of clamped pixels.
        let run = sc.run().unwrap();
        let clamped = |out: &[i32]| out.iter().filter(|&&v| v == 0 || v == 255).count();
        let n = run.out_a.len();
        assert!(
            clamped(&run.out_a) * 20 < n,
            "{} of {n} clamped",
            clamped(&run.out_a)
        );
        assert!(clamped(&before.out_a) * 20 < before.out_a.len());
        // Deterministic.
        let mut again = preset("per-channel").unwrap();
        grow(&mut again, 8, 8);
        grow(&mut again, 64, 64);
        assert_eq!(again.weights, sc.weights);
    }

    #[test]
    fn new_weights_follow_the_zero_point_and_the_scales() {
        assert_eq!(new_weight_amplitude(1e-6, 9), 8);
        assert_eq!(new_weight_amplitude(1.0, 4608), 1);
        assert_eq!(new_weight_amplitude(f64::NAN, 9), 1);
        let ws: Vec<i8> = (0..9000).map(|i| new_weight(i, 3, 10)).collect();
        assert!(ws.iter().all(|&w| (7..=13).contains(&w)));
        let mean = ws.iter().map(|&w| w as f64).sum::<f64>() / ws.len() as f64;
        assert!((mean - 10.0).abs() < 0.1, "{mean}");
        assert_eq!(new_weight(5, 8, 125), new_weight(5, 8, 125));
        // Clamped to int8 near the top of the range.
        assert!((0..100).any(|i| new_weight(i, 8, 125) == 127));
        assert!((0..100).all(|i| new_weight(i, 8, 125) >= 117));
    }
}
