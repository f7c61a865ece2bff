//! Shape validation and the exact integer accumulation of a quantized conv:
//! `acc = sum (qx - zx) * (qw - zw)` over NCHW input and OIHW weights. Every
//! requantization engine starts from the same accumulators; they differ only after.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Engine-level bound on any one tensor (elements): refuses absurd shapes
/// before allocating. The page and links use much smaller bounds.
pub const MAX_ELEMENTS: usize = 1 << 26;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvShape {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Padding at the start (top, left); also at the end unless `padding_end` says otherwise.
    pub padding: [usize; 2],
    /// Padding at the end (bottom, right) when it differs from the start (ONNX
    /// pads, TFLite SAME with an odd total); `None` is symmetric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding_end: Option<[usize; 2]>,
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl ConvShape {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::BadShape(m));
        for (name, v) in [
            ("batch", self.batch),
            ("input channels", self.in_channels),
            ("output channels", self.out_channels),
            ("height", self.height),
            ("width", self.width),
            ("kernel height", self.kernel[0]),
            ("kernel width", self.kernel[1]),
            ("stride", self.stride[0].min(self.stride[1])),
            ("dilation", self.dilation[0].min(self.dilation[1])),
            ("groups", self.groups),
        ] {
            if v == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        if !self.in_channels.is_multiple_of(self.groups)
            || !self.out_channels.is_multiple_of(self.groups)
        {
            return bad(format!(
                "groups ({}) must divide input channels ({}) and output channels ({})",
                self.groups, self.in_channels, self.out_channels
            ));
        }
        for a in 0..2 {
            let span = (self.kernel[a] - 1)
                .checked_mul(self.dilation[a])
                .and_then(|v| v.checked_add(1))
                .ok_or_else(|| Error::BadShape("kernel span overflows".into()))?;
            let padded = self.padding[a]
                .checked_add(self.pad_end()[a])
                .and_then(|p| p.checked_add([self.height, self.width][a]))
                .ok_or_else(|| Error::BadShape("padding overflows".into()))?;
            if span > padded {
                return bad(format!(
                    "kernel {} (dilated span {span}) is larger than the padded input {} ({padded})",
                    ["height", "width"][a],
                    ["height", "width"][a]
                ));
            }
        }
        for (name, n) in [
            ("input", self.input_len_checked()),
            ("weight", self.weight_len_checked()),
            ("output", self.output_len_checked()),
        ] {
            match n {
                Some(n) if n <= MAX_ELEMENTS => {}
                _ => {
                    return bad(format!(
                        "{name} tensor has more than {MAX_ELEMENTS} elements"
                    ))
                }
            }
        }
        Ok(())
    }

    fn input_len_checked(&self) -> Option<usize> {
        self.batch
            .checked_mul(self.in_channels)?
            .checked_mul(self.height)?
            .checked_mul(self.width)
    }
    fn weight_len_checked(&self) -> Option<usize> {
        self.out_channels
            .checked_mul(self.in_channels / self.groups.max(1))?
            .checked_mul(self.kernel[0])?
            .checked_mul(self.kernel[1])
    }
    fn output_len_checked(&self) -> Option<usize> {
        let (oh, ow) = self.output_hw();
        self.batch
            .checked_mul(self.out_channels)?
            .checked_mul(oh)?
            .checked_mul(ow)
    }

    /// Output height and width (call after `validate`).
    pub fn output_hw(&self) -> (usize, usize) {
        let o = |n: usize, a: usize| {
            let span = (self.kernel[a].saturating_sub(1)).saturating_mul(self.dilation[a]) + 1;
            (n + self.padding[a] + self.pad_end()[a]).saturating_sub(span) / self.stride[a].max(1)
                + 1
        };
        (o(self.height, 0), o(self.width, 1))
    }
    /// Padding at the end (bottom, right).
    pub fn pad_end(&self) -> [usize; 2] {
        self.padding_end.unwrap_or(self.padding)
    }
    /// Whether the end padding differs from the start padding.
    pub fn is_asymmetric(&self) -> bool {
        self.pad_end() != self.padding
    }
    /// Height and width of the zero-padded input.
    pub fn padded_hw(&self) -> (usize, usize) {
        let e = self.pad_end();
        (
            self.height + self.padding[0] + e[0],
            self.width + self.padding[1] + e[1],
        )
    }
    pub fn input_len(&self) -> usize {
        self.input_len_checked().unwrap_or(usize::MAX)
    }
    pub fn weight_len(&self) -> usize {
        self.weight_len_checked().unwrap_or(usize::MAX)
    }
    pub fn output_len(&self) -> usize {
        self.output_len_checked().unwrap_or(usize::MAX)
    }
    /// Taps summed into one accumulator.
    pub fn taps(&self) -> usize {
        self.in_channels / self.groups * self.kernel[0] * self.kernel[1]
    }
    /// Index of output element (n, c, y, x) in the flat NCHW output.
    pub fn output_index(&self, n: usize, c: usize, y: usize, x: usize) -> usize {
        let (oh, ow) = self.output_hw();
        ((n * self.out_channels + c) * oh + y) * ow + x
    }
}

/// One tap of one output pixel: where it reads and what it adds (for traces).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tap {
    pub in_channel: usize,
    pub ky: usize,
    pub kx: usize,
    /// Input position, `None` for a padded tap (contributes 0).
    pub input_yx: Option<(usize, usize)>,
    pub qx: i64,
    pub qw: i64,
    pub product: i64,
}

/// Activation codes with their dtype, NCHW: quint8 (0..255, PyTorch's
/// activations, ONNX Runtime's uint8) or qint8 (-128..127, LiteRT's int8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Codes<'a> {
    QUInt8(&'a [u8]),
    QInt8(&'a [i8]),
}

impl<'a> Codes<'a> {
    pub fn len(&self) -> usize {
        match self {
            Codes::QUInt8(v) => v.len(),
            Codes::QInt8(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    #[inline(always)]
    pub fn get(&self, i: usize) -> i64 {
        match self {
            Codes::QUInt8(v) => v[i] as i64,
            Codes::QInt8(v) => v[i] as i64,
        }
    }
    pub fn dtype(&self) -> crate::quant::DType {
        match self {
            Codes::QUInt8(_) => crate::quant::DType::QUInt8,
            Codes::QInt8(_) => crate::quant::DType::QInt8,
        }
    }
    /// The codes as quint8, for kernels that take nothing else (fbgemm's).
    pub fn as_quint8(&self) -> Result<&'a [u8]> {
        match *self {
            Codes::QUInt8(v) => Ok(v),
            Codes::QInt8(_) => Err(Error::Input(
                "this kernel takes quint8 activations only (the codes are qint8)".into(),
            )),
        }
    }
    /// (smallest, largest) code.
    fn range(&self) -> (i64, i64) {
        // Separate byte-wide min and max passes vectorise; an i64 fold does not.
        // (`Iterator::min` keeps the first of equals and does not vectorise.)
        if self.is_empty() {
            return (i64::MAX, i64::MIN);
        }
        match self {
            Codes::QUInt8(v) => (
                v.iter().fold(u8::MAX, |a, &q| a.min(q)) as i64,
                v.iter().fold(u8::MIN, |a, &q| a.max(q)) as i64,
            ),
            Codes::QInt8(v) => (
                v.iter().fold(i8::MAX, |a, &q| a.min(q)) as i64,
                v.iter().fold(i8::MIN, |a, &q| a.max(q)) as i64,
            ),
        }
    }
}

/// Owned activation codes with their dtype (a computed scenario keeps them).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "dtype", content = "codes", rename_all = "snake_case")]
pub enum Activations {
    #[serde(rename = "quint8")]
    QUInt8(Vec<u8>),
    #[serde(rename = "qint8")]
    QInt8(Vec<i8>),
}

impl Activations {
    pub fn codes(&self) -> Codes<'_> {
        match self {
            Activations::QUInt8(v) => Codes::QUInt8(v),
            Activations::QInt8(v) => Codes::QInt8(v),
        }
    }
    pub fn len(&self) -> usize {
        self.codes().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The integer operands of a conv: codes, zero points, shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntConv<'a> {
    pub shape: &'a ConvShape,
    /// Activation codes with their dtype, NCHW.
    pub input: Codes<'a>,
    pub input_zero_point: i64,
    /// qint8 weight codes, OIHW.
    pub weight: &'a [i8],
    /// One entry (per-tensor) or one per output channel.
    pub weight_zero_points: &'a [i64],
}

impl<'a> IntConv<'a> {
    pub fn validate(&self) -> Result<()> {
        self.shape.validate()?;
        if self.input.len() != self.shape.input_len() {
            return Err(Error::BadShape(format!(
                "input has {} values, shape needs {}",
                self.input.len(),
                self.shape.input_len()
            )));
        }
        if self.weight.len() != self.shape.weight_len() {
            return Err(Error::BadShape(format!(
                "weight has {} values, shape needs {}",
                self.weight.len(),
                self.shape.weight_len()
            )));
        }
        let zl = self.weight_zero_points.len();
        if zl != 1 && zl != self.shape.out_channels {
            return Err(Error::BadShape(format!(
                "{zl} weight zero points for {} output channels",
                self.shape.out_channels
            )));
        }
        Ok(())
    }

    /// The weight zero point of output channel `oc`.
    pub(crate) fn wzp(&self, oc: usize) -> i64 {
        if self.weight_zero_points.len() == 1 {
            self.weight_zero_points[0]
        } else {
            self.weight_zero_points[oc]
        }
    }

    /// Exact accumulators, flat NCHW over the output.
    pub fn accumulate(&self) -> Result<Vec<i32>> {
        let mut out = vec![];
        self.accumulate_into(&mut Scratch::default(), &mut out)?;
        Ok(out)
    }

    /// Like `accumulate`, reusing buffers between calls (the page recomputes
    /// on every slider step; reuse keeps wasm memory flat and skips page faults).
    /// The lanes are chosen so that no partial sum can be inexact: float32
    /// (fused multiply-add) while every sum stays below 2^24, int32 below 2^31,
    /// otherwise int64 with an explicit overflow check.
    pub fn accumulate_into(&self, scratch: &mut Scratch, out: &mut Vec<i32>) -> Result<()> {
        self.validate()?;
        let s = self.shape;
        let zx = self.input_zero_point;
        let x = self.input;
        let wz = self.weight_zero_centered();
        // The extremes of (q - zx) are at the extreme codes.
        let (lo, hi) = x.range();
        let max_x = (lo - zx).unsigned_abs().max((hi - zx).unsigned_abs()) as u128;
        let max_w = wz.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0) as u128;
        let bound = max_x * max_w * s.taps() as u128;
        // The SIMD kernels write every output (their tests hand them a
        // poisoned buffer): a reused buffer is not zeroed for them.
        out.resize(s.output_len(), 0);
        if bound <= i32::MAX as u128 && crate::kernels::fits(max_x as u64, max_w as u64) {
            #[cfg(target_arch = "x86_64")]
            if crate::kernels::best() == Some(crate::kernels::Isa::Avx512Vnni) {
                use crate::kernels::quads;
                if let Some(zu) = quads::byte_zero_point(x, zx) {
                    quads::accumulate(
                        quads::Products::Exact,
                        s,
                        x,
                        zu,
                        self.weight,
                        self.weight_zero_points,
                        &mut scratch.pairs,
                        out,
                    );
                    return Ok(());
                }
            }
            if let Some(isa) = crate::kernels::best() {
                crate::kernels::accumulate(isa, s, x, zx as i32, &wz, &mut scratch.pairs, out);
                return Ok(());
            }
        }
        out.fill(0);
        // With SIMD128 the pair kernel above takes every conv of 8-bit codes
        // with an int32 bound; the float and int32 lanes would only add size
        // to the page's wasm, so the rare rest takes the int64 lanes.
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        if bound < (1 << 24) {
            // zx is a checked 8-bit zero point, so int32 arithmetic is exact.
            let z = zx as i32;
            padded(s, x, &mut scratch.f32s, |q| (q as i32 - z) as f32);
            let w: Vec<f32> = wz.iter().map(|&v| v as f32).collect();
            return lanes::f32_exact(s, &scratch.f32s, &w, out);
        } else if bound <= i32::MAX as u128 {
            let z = zx as i32;
            padded(s, x, &mut scratch.i32s, |q| q as i32 - z);
            let w: Vec<i32> = wz.iter().map(|&v| v as i32).collect();
            return lanes::i32_exact(s, &scratch.i32s, &w, out);
        }
        let mut xp = vec![];
        padded(s, x, &mut xp, |q| q as i64 - zx);
        #[cfg(not(target_arch = "wasm32"))]
        return conv_blocked::<i64, false>(s, &xp, &wz, out);
        // In wasm only a conv past the pair kernel's int32 bound gets here
        // (rare, and then usually an overflow): the short loop keeps the page small.
        #[cfg(target_arch = "wasm32")]
        conv_plain_i64(s, &xp, &wz, out)
    }

    fn weight_zero_centered(&self) -> Vec<i64> {
        let per = self.shape.weight_len() / self.shape.out_channels;
        self.weight
            .iter()
            .enumerate()
            .map(|(i, &q)| q as i64 - self.wzp(i / per))
            .collect()
    }

    /// The taps of output pixel (n, oc, oy, ox), in summation order.
    pub fn taps_of(&self, n: usize, oc: usize, oy: usize, ox: usize) -> Vec<Tap> {
        let s = self.shape;
        let cin_g = s.in_channels / s.groups;
        let cout_g = s.out_channels / s.groups;
        let g = oc / cout_g;
        let mut taps = Vec::with_capacity(s.taps());
        for icg in 0..cin_g {
            let ic = g * cin_g + icg;
            for ky in 0..s.kernel[0] {
                for kx in 0..s.kernel[1] {
                    let iy =
                        (oy * s.stride[0] + ky * s.dilation[0]) as isize - s.padding[0] as isize;
                    let ix =
                        (ox * s.stride[1] + kx * s.dilation[1]) as isize - s.padding[1] as isize;
                    let w = self.weight[((oc * cin_g + icg) * s.kernel[0] + ky) * s.kernel[1] + kx]
                        as i64;
                    let inside =
                        iy >= 0 && ix >= 0 && (iy as usize) < s.height && (ix as usize) < s.width;
                    let (input_yx, qx, product) = if inside {
                        let (iy, ix) = (iy as usize, ix as usize);
                        let qx = self
                            .input
                            .get(((n * s.in_channels + ic) * s.height + iy) * s.width + ix);
                        (
                            Some((iy, ix)),
                            qx,
                            (qx - self.input_zero_point) * (w - self.wzp(oc)),
                        )
                    } else {
                        (None, self.input_zero_point, 0)
                    };
                    taps.push(Tap {
                        in_channel: ic,
                        ky,
                        kx,
                        input_yx,
                        qx,
                        qw: w,
                        product,
                    });
                }
            }
        }
        taps
    }
}

/// Reusable buffers for the padded input.
#[derive(Debug, Default)]
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
pub struct Scratch {
    f32s: Vec<f32>,
    i32s: Vec<i32>,
    pairs: crate::kernels::PairBuffers,
}

impl Scratch {
    /// The buffers of the pair and byte kernels.
    pub(crate) fn pair_buffers(&mut self) -> &mut crate::kernels::PairBuffers {
        &mut self.pairs
    }
}

/// The zero-point-centred input with explicit zero padding (a padded tap
/// contributes 0), so every tap of every output pixel reads inside the buffer.
fn padded<T: Copy + Default>(s: &ConvShape, x: Codes, out: &mut Vec<T>, f: impl Fn(i16) -> T) {
    match x {
        Codes::QUInt8(v) => padded_of(s, v, out, |q| f(q as i16)),
        Codes::QInt8(v) => padded_of(s, v, out, |q| f(q as i16)),
    }
}

fn padded_of<T: Copy + Default, Q: Copy>(
    s: &ConvShape,
    x: &[Q],
    out: &mut Vec<T>,
    f: impl Fn(Q) -> T,
) {
    let (hp, wp) = s.padded_hw();
    out.clear();
    out.resize(s.batch * s.in_channels * hp * wp, T::default());
    for (plane, src) in out.chunks_mut(hp * wp).zip(x.chunks(s.height * s.width)) {
        for (y, row) in src.chunks(s.width).enumerate() {
            let dst = &mut plane[(y + s.padding[0]) * wp + s.padding[1]..][..s.width];
            for (d, &v) in dst.iter_mut().zip(row) {
                *d = f(v);
            }
        }
    }
}

/// Integer or float lanes; `madd` must be exact for the values it gets.
trait Lane: Copy + Default {
    fn madd(self, x: Self, w: Self) -> Self;
    /// The same in one instruction where the CPU has one (same exact result).
    #[inline(always)]
    fn madd_fused(self, x: Self, w: Self) -> Self {
        self.madd(x, w)
    }
    /// The accumulator as int32, or the value that does not fit.
    fn store(self) -> std::result::Result<i32, i64>;
}
impl Lane for i32 {
    #[inline(always)]
    fn madd(self, x: i32, w: i32) -> i32 {
        self + x * w
    }
    #[inline(always)]
    fn store(self) -> std::result::Result<i32, i64> {
        Ok(self)
    }
}
impl Lane for i64 {
    #[inline(always)]
    fn madd(self, x: i64, w: i64) -> i64 {
        self + x * w
    }
    #[inline(always)]
    fn store(self) -> std::result::Result<i32, i64> {
        i32::try_from(self).map_err(|_| self)
    }
}
impl Lane for f32 {
    /// Products of 8-bit codes and their sums below 2^24 are exact in float32,
    /// so neither the multiply nor the add rounds.
    #[inline(always)]
    fn madd(self, x: f32, w: f32) -> f32 {
        self + x * w
    }
    /// Only with hardware FMA: elsewhere (wasm, baseline x86-64) `mul_add` is
    /// a software routine.
    #[inline(always)]
    fn madd_fused(self, x: f32, w: f32) -> f32 {
        x.mul_add(w, self)
    }
    /// Exact integers below 2^24: the cast is exact.
    #[inline(always)]
    fn store(self) -> std::result::Result<i32, i64> {
        Ok(self as i32)
    }
}

/// Direct convolution in int64 over the padded input, one output at a time.
#[cfg(target_arch = "wasm32")]
fn conv_plain_i64(s: &ConvShape, xp: &[i64], w: &[i64], out: &mut [i32]) -> Result<()> {
    let (oh, ow) = s.output_hw();
    let (hp, wp) = s.padded_hw();
    let cin_g = s.in_channels / s.groups;
    let cout_g = s.out_channels / s.groups;
    let (kh, kw) = (s.kernel[0], s.kernel[1]);
    let mut o = 0;
    for n in 0..s.batch {
        for oc in 0..s.out_channels {
            let g = oc / cout_g;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut a = 0i64;
                    for icg in 0..cin_g {
                        let plane = (n * s.in_channels + g * cin_g + icg) * hp * wp;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let y = oy * s.stride[0] + ky * s.dilation[0];
                                let x = ox * s.stride[1] + kx * s.dilation[1];
                                a += xp[plane + y * wp + x]
                                    * w[((oc * cin_g + icg) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    out[o] = i32::try_from(a).map_err(|_| Error::AccumulatorOverflow {
                        channel: oc,
                        value: a,
                    })?;
                    o += 1;
                }
            }
        }
    }
    Ok(())
}

/// Output columns computed together; their accumulators stay in registers
/// while all taps are added (64 float32 = 8 AVX2 registers).
const BLOCK: usize = 64;

/// Register-blocked direct convolution over the padded input `xp`.
#[inline(always)]
fn conv_blocked<T: Lane, const FUSED: bool>(
    s: &ConvShape,
    xp: &[T],
    w: &[T],
    out: &mut [i32],
) -> Result<()> {
    let madd = |a: T, x: T, w: T| {
        if FUSED {
            a.madd_fused(x, w)
        } else {
            a.madd(x, w)
        }
    };
    let (oh, ow) = s.output_hw();
    let (hp, wp) = s.padded_hw();
    let cin_g = s.in_channels / s.groups;
    let cout_g = s.out_channels / s.groups;
    let (kh, kw) = (s.kernel[0], s.kernel[1]);
    let (sh, sw) = (s.stride[0], s.stride[1]);
    let mut taps: Vec<(usize, T)> = Vec::with_capacity(s.taps());
    for n in 0..s.batch {
        for oc in 0..s.out_channels {
            let g = oc / cout_g;
            taps.clear();
            for icg in 0..cin_g {
                let plane = (n * s.in_channels + g * cin_g + icg) * hp * wp;
                for ky in 0..kh {
                    for kx in 0..kw {
                        let off = plane + ky * s.dilation[0] * wp + kx * s.dilation[1];
                        taps.push((off, w[((oc * cin_g + icg) * kh + ky) * kw + kx]));
                    }
                }
            }
            let obase = (n * s.out_channels + oc) * oh * ow;
            for oy in 0..oh {
                let row = oy * sh * wp;
                let orow = &mut out[obase + oy * ow..obase + (oy + 1) * ow];
                let mut ox0 = 0;
                while ox0 < ow {
                    let len = BLOCK.min(ow - ox0);
                    let mut acc = [T::default(); BLOCK];
                    if len == BLOCK && sw == 1 {
                        for &(off, wv) in &taps {
                            let xs: &[T; BLOCK] =
                                xp[off + row + ox0..][..BLOCK].try_into().expect("block");
                            for j in 0..BLOCK {
                                acc[j] = madd(acc[j], xs[j], wv);
                            }
                        }
                    } else {
                        for &(off, wv) in &taps {
                            let base = off + row + ox0 * sw;
                            for (j, a) in acc[..len].iter_mut().enumerate() {
                                *a = madd(*a, xp[base + j * sw], wv);
                            }
                        }
                    }
                    for (o, a) in orow[ox0..ox0 + len].iter_mut().zip(&acc[..len]) {
                        *o = a
                            .store()
                            .map_err(|value| Error::AccumulatorOverflow { channel: oc, value })?;
                    }
                    ox0 += len;
                }
            }
        }
    }
    Ok(())
}

/// Entry points per lane type, with runtime CPU dispatch on x86-64 (same
/// exact results; baseline x86-64 lacks FMA and 8-lane integer multiplies).
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
mod lanes {
    use super::{conv_blocked, ConvShape};
    use crate::error::Result;

    pub fn f32_exact(s: &ConvShape, xp: &[f32], w: &[f32], out: &mut [i32]) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { f32_avx2(s, xp, w, out) };
        }
        conv_blocked::<f32, false>(s, xp, w, out)
    }

    pub fn i32_exact(s: &ConvShape, xp: &[i32], w: &[i32], out: &mut [i32]) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { i32_avx2(s, xp, w, out) };
        }
        conv_blocked::<i32, false>(s, xp, w, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn f32_avx2(s: &ConvShape, xp: &[f32], w: &[f32], out: &mut [i32]) -> Result<()> {
        conv_blocked::<f32, true>(s, xp, w, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn i32_avx2(s: &ConvShape, xp: &[i32], w: &[i32], out: &mut [i32]) -> Result<()> {
        conv_blocked::<i32, false>(s, xp, w, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(h: usize, w: usize, k: usize, stride: usize, pad: usize, dil: usize) -> ConvShape {
        ConvShape {
            batch: 1,
            in_channels: 1,
            out_channels: 1,
            height: h,
            width: w,
            kernel: [k, k],
            stride: [stride, stride],
            padding: [pad, pad],
            padding_end: None,
            dilation: [dil, dil],
            groups: 1,
        }
    }

    /// Naive reference: sum of the traced taps.
    fn naive(c: &IntConv) -> Vec<i32> {
        let s = c.shape;
        let (oh, ow) = s.output_hw();
        let mut out = vec![];
        for n in 0..s.batch {
            for oc in 0..s.out_channels {
                for y in 0..oh {
                    for x in 0..ow {
                        out.push(
                            c.taps_of(n, oc, y, x)
                                .iter()
                                .map(|t| t.product)
                                .sum::<i64>() as i32,
                        );
                    }
                }
            }
        }
        out
    }

    #[test]
    fn direct_matches_taps_over_geometries() {
        let mut seed = 12345u64;
        let mut rnd = |m: i64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as i64) % m
        };
        for &(h, w, k, st, p, d, g, cin, cout) in &[
            (5, 7, 3, 1, 1, 1, 1, 2, 3),
            (6, 6, 3, 2, 0, 1, 1, 1, 2),
            (9, 8, 3, 1, 2, 2, 2, 4, 2),
            (4, 4, 1, 1, 0, 1, 3, 3, 6),
            (7, 5, 5, 2, 2, 1, 1, 1, 1),
        ] {
            let mut s = shape(h, w, k, st, p, d);
            s.groups = g;
            s.in_channels = cin;
            s.out_channels = cout;
            s.batch = 2;
            s.validate().unwrap();
            let x: Vec<u8> = (0..s.input_len()).map(|_| rnd(256) as u8).collect();
            let wq: Vec<i8> = (0..s.weight_len())
                .map(|_| (rnd(255) - 127) as i8)
                .collect();
            let zps: Vec<i64> = (0..cout).map(|_| rnd(11) - 5).collect();
            let c = IntConv {
                shape: &s,
                input: Codes::QUInt8(&x),
                input_zero_point: 17,
                weight: &wq,
                weight_zero_points: &zps,
            };
            assert_eq!(c.accumulate().unwrap(), naive(&c), "{s:?}");
        }
    }

    /// A 3x3 conv over `cin` channels of a 3x3 input: one output pixel, 9·cin taps.
    fn wide(cin: usize) -> ConvShape {
        ConvShape {
            in_channels: cin,
            ..shape(3, 3, 3, 1, 0, 1)
        }
    }

    #[test]
    fn every_lane_type_is_exact() {
        // float32 lanes (sums below 2^24), int32 lanes (sums past 2^24)...
        let mut big = shape(5, 6, 3, 1, 1, 1);
        big.in_channels = 96;
        let x: Vec<u8> = (0..big.input_len())
            .map(|i| if i % 13 == 0 { 0 } else { 255 })
            .collect();
        let w: Vec<i8> = (0..big.weight_len())
            .map(|i| if i % 11 == 0 { 127 } else { -128 })
            .collect();
        let c = IntConv {
            shape: &big,
            input: Codes::QUInt8(&x),
            input_zero_point: 0,
            weight: &w,
            weight_zero_points: &[0],
        };
        let acc = c.accumulate().unwrap();
        assert!(acc.iter().any(|&a| a.unsigned_abs() > 1 << 24));
        assert_eq!(acc, naive(&c));
        // ...and int64 lanes: the bound passes 2^31 (73728 taps of 128·255) but
        // the sum cancels to a small exact value.
        let s = wide(8192);
        let x: Vec<u8> = (0..s.input_len())
            .map(|i| if i % 2 == 0 { 0 } else { 255 })
            .collect();
        let w = vec![127i8; s.weight_len()];
        let c = IntConv {
            shape: &s,
            input: Codes::QUInt8(&x),
            input_zero_point: 128,
            weight: &w,
            weight_zero_points: &[-128],
        };
        assert_eq!(c.accumulate().unwrap(), naive(&c));
        assert_eq!(c.accumulate().unwrap(), vec![255 * 36864 * (127 - 128)]);
    }

    #[test]
    fn degenerate_shapes_are_errors() {
        let mut s = shape(4, 4, 3, 1, 0, 1);
        s.height = 0;
        assert!(s.validate().is_err());
        let mut s = shape(2, 2, 3, 1, 0, 1);
        assert!(matches!(s.validate(), Err(Error::BadShape(_))));
        s.groups = 0;
        assert!(s.validate().is_err());
        let mut s = shape(4, 4, 1, 1, 0, 1);
        s.in_channels = 3;
        s.groups = 2;
        assert!(s.validate().unwrap_err().to_string().contains("groups"));
        let s = shape(usize::MAX / 2, usize::MAX / 2, 1, 1, 0, 1);
        assert!(s.validate().is_err());
        let s = shape(4, 4, 1, 1, 0, 1);
        let c = IntConv {
            shape: &s,
            input: Codes::QUInt8(&[1u8, 2, 3]),
            input_zero_point: 0,
            weight: &[1],
            weight_zero_points: &[0],
        };
        assert!(c
            .accumulate()
            .unwrap_err()
            .to_string()
            .contains("input has 3 values"));
    }

    #[test]
    fn overflow_is_an_error() {
        // 36864 taps of 255·255 leave int32: PyTorch would wrap, the engine refuses.
        let s = wide(4096);
        let x = vec![255u8; s.input_len()];
        let w = vec![127i8; s.weight_len()];
        let c = IntConv {
            shape: &s,
            input: Codes::QUInt8(&x),
            input_zero_point: 0,
            weight: &w,
            weight_zero_points: &[-128],
        };
        assert!(matches!(
            c.accumulate(),
            Err(Error::AccumulatorOverflow { .. })
        ));
    }
}
