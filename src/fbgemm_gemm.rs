//! fbgemm's accumulation on every path PyTorch's fbgemm conv takes, with the
//! int16 pair saturation of `vpmaddubsw` where the CPU has no VNNI.
//!
//! PyTorch (`PackedConvWeight::apply_impl` in
//! `aten/src/ATen/native/quantized/cpu/qconv.cpp`) hands every 2-D conv to
//! `fbgemm::fbgemmConv` with NHWC activations (u8 codes), the OIHW weights (s8
//! codes), symmetric padding, stride, dilation and groups. `ConvFastPath`
//! (FBGEMM `src/FbgemmConv.cc`) then picks one kernel, in this order:
//!
//! - **depthwise**: `takeDepthWiseFastPath` (see [`fbgemm_uses_depthwise`]); the
//!   JIT kernel of `src/GenerateI8Depthwise.cc`, AVX2 code on every CPU, VNNI or not.
//! - **groupwise**: `fbgemmOptimizedGConv` (`src/Fbgemm.cc`): channels per group in
//!   = out in {2, 4, 8, 16}, a 3x3 kernel, padding 1, no dilation, stride 1 or 2 on
//!   both axes, and `groups >= numOfGroupsTogether`
//!   (`src/PackWeightMatrixForGConv.cc`: SIMD bytes / channels per group /
//!   max(channels per group, 4), at least 1; SIMD bytes 32 on AVX2, 64 on AVX512
//!   with or without VNNI). So the same grouped conv can be groupwise on AVX2 and
//!   im2col on AVX512 (2 channels per group and 4 groups, say). This rule and the
//!   groupwise kernel's instructions follow the CPU as cpuinfo sees it, not
//!   `FBGEMM_ENABLE_INSTRUCTIONS` (see [`FbgemmIsa`]).
//! - **pointwise**: `takePointWiseFastPath`: 1x1 kernel, stride 1, no dilation,
//!   no padding: a plain grouped GEMM over the NHWC activations
//!   (`PackAWithRowOffset`, no im2col).
//! - **direct**: `takeDirectConvPath` needs a *transposed* conv; a Conv2d never
//!   gets there ([`FbgemmPath::Direct`] is never returned).
//! - **im2col**: everything else: `PackAWithIm2Col` + `PackBMatrix` + the GEMM
//!   microkernel (`src/GenerateKernelU8S8S32ACC32.cc`).
//!
//! **Which products are paired.** Every kernel multiplies raw codes (activation
//! u8, weight s8) with `vpmaddubsw`, which adds two neighbouring byte products
//! and saturates the sum to int16; `vpmaddwd` against 16-bit ones then widens
//! pairs of those int16 sums to int32 exactly (`genU8I8S32FMA` in
//! `src/CodeGenHelpers.h`). With AVX512-VNNI the GEMM and groupwise kernels use
//! `vpdpbusd` instead, which is exact; the depthwise kernel has no VNNI variant
//! and saturates everywhere. `FBGEMM_ENABLE_INSTRUCTIONS=AVX2|AVX512` (how the
//! golden files' "avx2" / "avx512" cases were made, on a VNNI machine) lowers only
//! the GEMM kernels: there the groupwise kernel stays exact ([`FbgemmIsa::forced`],
//! what [`fbgemm_accumulate_on`] models); a CPU that really lacks VNNI saturates
//! in its groupwise kernel too ([`FbgemmIsa::native`]). Within one group the
//! reduction index runs `k = (ky * KW + kx) * C_per_G + c` (kernel row, kernel
//! column, channel: NHWC):
//!
//! - im2col (`PackAWithIm2Col.cc`: column `((g * KH + r) * KW + s) * C_per_G + c`)
//!   and pointwise (`k = c`): `PackBMatrix.cc` interleaves B by 4 rows
//!   (`ROW_INTERLEAVE = 4` for 32-bit accumulation on AVX2 and AVX512 alike,
//!   `include/fbgemm/PackingTraits-inl.h`) and the microkernel broadcasts 4 A bytes,
//!   so the pairs are `(k, k+1)` for even `k` of the group's own reduction, counted
//!   from the group's start. With an odd `C_per_G` a pair spans two taps. K is padded
//!   to a multiple of 4 with zero weights, so an odd last product is alone. The K
//!   cache blocks (512 on AVX2, 256 on AVX512) are multiples of 4 and do not move
//!   the pairs. Padded taps hold the activation zero point, not 0.
//! - groupwise (`GroupwiseConvAcc32Avx2.cc`, `GroupwiseConvAcc32Avx512.cc`): per
//!   filter point, the group's channels (padded with zero weights to a multiple of
//!   4) against the packed weights of that point: pairs `(c, c+1)` for even `c`
//!   within one tap. `C_per_G` is even here, so this is the im2col pairing.
//!   Padded taps use a vector of zero points (skipped when it is 0, same sum).
//! - depthwise (`GenerateI8Depthwise.cc`): one channel, taps in kernel row-major
//!   order paired `(t, t+1)`, the last alone when the count is odd: again the
//!   im2col pairing with `C_per_G = 1`. Padded taps hold the zero point.
//!
//! So on every path: `raw = sum over pairs sat16(a_k w_k + a_k+1 w_k+1)` in
//! wrapping int32, and then the zero-point corrections fbgemm's output pipeline
//! (`ReQuantizeOutput`, `src/RefImplementations.cc` `requantize_u8acc32_ref` for the
//! reference) applies with PyTorch's column offsets `sum(w) - zw * K`:
//! `acc = raw - zw * rowsum(a) - zx * (sum(w) - zw * K)`, `rowsum` over the K
//! real (zero-point-filled) activations. Without saturation this is exactly
//! `sum (a - zx) * (w - zw)`.
//!
//! Checked against PyTorch 2.15 (`tests/wave2_fbgemm_cpu.rs`, all 220 cases of
//! `golden/wave2/avx2.json` and `avx512.json`: depthwise, pointwise and im2col
//! saturating, groupwise exact on the VNNI host). The groupwise kernel's own
//! pairing on a real non-VNNI CPU comes from the source only (no data).
use crate::conv::{ConvShape, IntConv};
use crate::depthwise::fbgemm_uses_depthwise;
use crate::engine::Cpu as FbgemmCpu;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// SIMD width in bytes that fbgemm plans its groupwise packing with.
fn simd_bytes(cpu: FbgemmCpu) -> usize {
    match cpu {
        FbgemmCpu::Avx2 => 32,
        FbgemmCpu::Avx512 | FbgemmCpu::Avx512Vnni => 64,
    }
}

/// Which fbgemm kernel runs a conv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FbgemmPath {
    Depthwise,
    Groupwise,
    Pointwise,
    Direct,
    Im2col,
}

impl FbgemmPath {
    pub const ALL: [FbgemmPath; 5] = [
        FbgemmPath::Depthwise,
        FbgemmPath::Groupwise,
        FbgemmPath::Pointwise,
        FbgemmPath::Direct,
        FbgemmPath::Im2col,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FbgemmPath::Depthwise => "depthwise",
            FbgemmPath::Groupwise => "groupwise",
            FbgemmPath::Pointwise => "pointwise",
            FbgemmPath::Direct => "direct",
            FbgemmPath::Im2col => "im2col",
        }
    }

    /// The shape rule, in one line.
    pub fn why(self) -> &'static str {
        match self {
            FbgemmPath::Depthwise => "groups = input channels (a multiple of 8), 1 or 2 outputs per group, square 3x3/5x5/7x7 kernel, stride 1 or 2, no dilation, padding (k-1)/2",
            FbgemmPath::Groupwise => "2, 4, 8 or 16 input = output channels per group, 3x3 kernel, padding 1, no dilation, stride 1 or 2 on both axes, enough groups to fill a vector",
            FbgemmPath::Pointwise => "1x1 kernel, stride 1, no dilation, no padding: a plain GEMM over the pixels",
            FbgemmPath::Direct => "transposed 2xN convs only: a Conv2d never takes it",
            FbgemmPath::Im2col => "any other conv: im2col (zero-point padding) then the GEMM",
        }
    }
}

/// The instruction sets fbgemm uses for one run. fbgemm reads them from two
/// places (FBGEMM `src/Utils.cc`): the GEMM kernels and their packing
/// (pointwise, im2col) follow `fbgemmInstructionSet()`, which
/// `FBGEMM_ENABLE_INSTRUCTIONS` can lower; the groupwise path asks cpuinfo
/// directly (`fbgemmHasAvx512VnniSupport()` / `fbgemmHasAvx512Support()` in
/// `numOfGroupsTogether` and `getOrCreateConvKernel`), so it keeps the host's
/// real instruction set, VNNI included. The depthwise kernel is AVX2 code everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FbgemmIsa {
    /// What the GEMM kernels run with (`FBGEMM_ENABLE_INSTRUCTIONS` or the CPU).
    pub gemm: FbgemmCpu,
    /// What the CPU really has (cpuinfo).
    pub host: FbgemmCpu,
}

impl FbgemmIsa {
    /// `cpu` as the golden files mean it: fbgemm limited to `cpu` with
    /// `FBGEMM_ENABLE_INSTRUCTIONS` on an AVX512-VNNI host (the generating machine).
    pub fn forced(cpu: FbgemmCpu) -> FbgemmIsa {
        FbgemmIsa {
            gemm: cpu,
            host: FbgemmCpu::Avx512Vnni,
        }
    }
    /// A CPU that really has only `cpu` (derived from the source; no golden data).
    pub fn native(cpu: FbgemmCpu) -> FbgemmIsa {
        FbgemmIsa {
            gemm: cpu,
            host: cpu,
        }
    }

    /// Whether `path` sums byte products in saturating int16 pairs.
    pub fn saturates(self, path: FbgemmPath) -> bool {
        match path {
            FbgemmPath::Depthwise => true,
            FbgemmPath::Groupwise => !self.host.has_vnni(),
            FbgemmPath::Pointwise | FbgemmPath::Direct | FbgemmPath::Im2col => {
                !self.gemm.has_vnni()
            }
        }
    }

    /// The kernel fbgemm runs this conv on. `per_channel` does not change the
    /// choice: every kernel takes both granularities.
    pub fn path(self, shape: &ConvShape, per_channel: bool) -> FbgemmPath {
        let s = shape;
        if fbgemm_uses_depthwise(s, per_channel) {
            return FbgemmPath::Depthwise;
        }
        let g = s.groups.max(1);
        let (cin_g, cout_g) = (s.in_channels / g, s.out_channels / g);
        if cin_g == cout_g
            && matches!(cin_g, 2 | 4 | 8 | 16)
            && s.groups >= groups_together(s, self.host)
            && s.kernel == [3, 3]
            && s.padding == [1, 1]
            && s.dilation == [1, 1]
            && (s.stride == [1, 1] || s.stride == [2, 2])
        {
            return FbgemmPath::Groupwise;
        }
        if s.kernel == [1, 1] && s.stride == [1, 1] && s.dilation == [1, 1] && s.padding == [0, 0] {
            return FbgemmPath::Pointwise;
        }
        FbgemmPath::Im2col
    }

    /// The accumulators fbgemm computes (see [`fbgemm_accumulate_on`]).
    pub fn accumulate(self, conv: &IntConv) -> Result<Vec<i32>> {
        conv.validate()?;
        let path = self.path(conv.shape, conv.weight_zero_points.len() > 1);
        if !self.saturates(path) {
            return conv.accumulate();
        }
        pair_sums(conv)
    }

    /// Like `accumulate`, into `out`, reusing `scratch` where the kernel is exact.
    pub fn accumulate_into(
        self,
        conv: &IntConv,
        scratch: &mut crate::conv::Scratch,
        out: &mut Vec<i32>,
    ) -> Result<()> {
        conv.validate()?;
        let path = self.path(conv.shape, conv.weight_zero_points.len() > 1);
        if !self.saturates(path) {
            return conv.accumulate_into(scratch, out);
        }
        pair_sums_into(conv, scratch, out)
    }

    /// The saturated pairs of one output element (see [`saturated_pairs`]).
    pub fn saturated_pairs(self, conv: &IntConv, index: usize) -> Vec<SaturatedPair> {
        if conv.validate().is_err() || index >= conv.shape.output_len() {
            return vec![];
        }
        if !self.saturates(self.path(conv.shape, conv.weight_zero_points.len() > 1)) {
            return vec![];
        }
        pairs_of(conv, index)
    }
}

/// `raw = sum over pairs sat16(a_k w_k + a_k+1 w_k+1)` with the im2col pairing
/// (see the module notes), then the zero-point corrections, on any path. MLAS's
/// U8S8 kernels pair the same way ([`crate::mlas_u8s8`]).
pub(crate) fn pair_sums(conv: &IntConv) -> Result<Vec<i32>> {
    let mut out = vec![];
    pair_sums_into(conv, &mut crate::conv::Scratch::default(), &mut out)?;
    Ok(out)
}

/// As [`pair_sums`], into `out`, with the kernel buffers of `scratch`.
pub(crate) fn pair_sums_into(
    conv: &IntConv,
    scratch: &mut crate::conv::Scratch,
    out: &mut Vec<i32>,
) -> Result<()> {
    conv.validate()?;
    check_zero_points(conv)?;
    conv.input.as_quint8()?;
    // Both kernels write every element: no need to zero a reused buffer.
    out.resize(conv.shape.output_len(), 0);
    sat::run(conv, scratch.pair_buffers(), out);
    Ok(())
}

/// fbgemm's `numOfGroupsTogether` on a CPU with `host`'s vector width: how many
/// groups the groupwise kernel packs in one vector (at least 1).
pub fn groups_together(shape: &ConvShape, host: FbgemmCpu) -> usize {
    let cout_g = shape.out_channels / shape.groups.max(1);
    let cin_g = shape.in_channels / shape.groups.max(1);
    (simd_bytes(host) / cout_g.max(1) / cin_g.max(4)).max(1)
}

/// The kernel PyTorch's fbgemm engine runs this conv on, on an AVX512-VNNI CPU.
pub fn fbgemm_path(shape: &ConvShape, per_channel: bool) -> FbgemmPath {
    fbgemm_path_on(shape, per_channel, FbgemmCpu::Avx512Vnni)
}

/// The kernel fbgemm runs this conv on with `cpu` as the golden files mean it
/// ([`FbgemmIsa::forced`]: the groupwise rule still sees the VNNI host).
pub fn fbgemm_path_on(shape: &ConvShape, per_channel: bool, cpu: FbgemmCpu) -> FbgemmPath {
    FbgemmIsa::forced(cpu).path(shape, per_channel)
}

/// The accumulators (zero-point-centred, as the requantization sees them) that
/// fbgemm computes on `cpu` as the golden files mean it (fbgemm limited to `cpu`
/// by `FBGEMM_ENABLE_INSTRUCTIONS` on an AVX512-VNNI host, [`FbgemmIsa::forced`]):
/// flat NCHW like `IntConv::accumulate`. For a CPU that really lacks VNNI use
/// `FbgemmIsa::native(cpu).accumulate(conv)`.
///
/// Where the kernel is exact this is `IntConv::accumulate` (an error if int32
/// overflows). Where it saturates, the pairs are summed as fbgemm does, in
/// wrapping int32 like the hardware.
pub fn fbgemm_accumulate_on(conv: &IntConv, cpu: FbgemmCpu) -> Result<Vec<i32>> {
    FbgemmIsa::forced(cpu).accumulate(conv)
}

fn check_zero_points(conv: &IntConv) -> Result<()> {
    if !(0..=255).contains(&conv.input_zero_point) {
        return Err(Error::BadZeroPoint {
            what: "input zero point".into(),
            value: conv.input_zero_point,
            min: 0,
            max: 255,
        });
    }
    if let Some(&z) = conv
        .weight_zero_points
        .iter()
        .find(|z| !(-128..=127).contains(*z))
    {
        return Err(Error::BadZeroPoint {
            what: "weight zero point".into(),
            value: z,
            min: -128,
            max: 127,
        });
    }
    Ok(())
}

/// A tap of the reduction: (input channel, ky, kx).
pub type Tap = (usize, usize, usize);

/// One pair of byte products whose int16 sum saturated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaturatedPair {
    /// The two taps as (input channel, ky, kx); `None` for the zero padding of K
    /// (fbgemm pads the reduction to a multiple of 4 with zero weights).
    pub taps: [Option<Tap>; 2],
    /// (activation code, weight code) of each tap; a padded tap holds the
    /// activation zero point, a K padding slot (0, 0).
    pub codes: [(u8, i8); 2],
    /// `a0 * w0 + a1 * w1` exactly.
    pub exact: i32,
    /// What `vpmaddubsw` keeps.
    pub clamped: i16,
}

/// Every pair of output element `index` (flat NCHW) whose int16 sum saturated
/// on `cpu` (as [`fbgemm_accumulate_on`] means it), in reduction order. Empty
/// where the kernel is exact or the index is outside the output.
pub fn saturated_pairs(conv: &IntConv, cpu: FbgemmCpu, index: usize) -> Vec<SaturatedPair> {
    FbgemmIsa::forced(cpu).saturated_pairs(conv, index)
}

/// The saturating pairs of a valid element, whatever the kernel.
pub(crate) fn pairs_of(conv: &IntConv, index: usize) -> Vec<SaturatedPair> {
    let s = conv.shape;
    let (oh, ow) = s.output_hw();
    let ox = index % ow;
    let oy = index / ow % oh;
    let oc = index / (ow * oh) % s.out_channels;
    let n = index / (ow * oh * s.out_channels);
    let zx = conv.input_zero_point.clamp(0, 255) as u8;
    let order = reduction_order(s);
    let cin_g = s.in_channels / s.groups;
    let g = oc / (s.out_channels / s.groups);
    let tap = |k: usize| -> (Option<Tap>, (u8, i8)) {
        let Some(&(icg, ky, kx)) = order.get(k) else {
            return (None, (0, 0));
        };
        let ic = g * cin_g + icg;
        let iy = (oy * s.stride[0] + ky * s.dilation[0]) as isize - s.padding[0] as isize;
        let ix = (ox * s.stride[1] + kx * s.dilation[1]) as isize - s.padding[1] as isize;
        let a = if iy >= 0 && ix >= 0 && (iy as usize) < s.height && (ix as usize) < s.width {
            // fbgemm takes quint8 activations (the engine refuses others earlier).
            conv.input
                .get(((n * s.in_channels + ic) * s.height + iy as usize) * s.width + ix as usize)
                as u8
        } else {
            zx
        };
        let w = conv.weight[((oc * cin_g + icg) * s.kernel[0] + ky) * s.kernel[1] + kx];
        (Some((ic, ky, kx)), (a, w))
    };
    (0..order.len())
        .step_by(2)
        .filter_map(|k| {
            let (t0, c0) = tap(k);
            let (t1, c1) = tap(k + 1);
            let exact = c0.0 as i32 * c0.1 as i32 + c1.0 as i32 * c1.1 as i32;
            let clamped = exact.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
            (exact != clamped as i32).then_some(SaturatedPair {
                taps: [t0, t1],
                codes: [c0, c1],
                exact,
                clamped,
            })
        })
        .collect()
}

/// The reduction order of one group, shared by every path: (channel within the
/// group, ky, kx) with ky outermost, then kx, then the channel (NHWC).
pub fn reduction_order(s: &ConvShape) -> Vec<(usize, usize, usize)> {
    let cin_g = s.in_channels / s.groups.max(1);
    let mut v = Vec::with_capacity(s.taps());
    for ky in 0..s.kernel[0] {
        for kx in 0..s.kernel[1] {
            for c in 0..cin_g {
                v.push((c, ky, kx));
            }
        }
    }
    v
}

/// The saturating accumulation over a whole output, register-blocked like the
/// exact one: raw u8 codes as i16 (padding filled with the zero point), each
/// pair `sat16(x0*w0 + x1*w1)` with a saturating i16 add (`vpaddsw`-shaped, which
/// equals `vpmaddubsw` since each product fits int16), widened and summed in
/// wrapping i32; then the zero-point corrections.
mod sat {
    use super::reduction_order;
    use crate::conv::{ConvShape, IntConv};

    /// Output columns computed together.
    const BLOCK: usize = 32;

    /// `vpmaddubsw` on one pair: both products fit int16, their sum saturates.
    #[inline(always)]
    fn sat16(x0: i16, w0: i32, x1: i16, w1: i32) -> i32 {
        (x0 as i32 * w0 + x1 as i32 * w1).clamp(i16::MIN as i32, i16::MAX as i32)
    }

    /// One pair: offsets (within a batch image of the padded input) and weights.
    #[derive(Clone, Copy)]
    struct Pair {
        off0: usize,
        w0: i16,
        off1: usize,
        w1: i16,
    }

    /// The caller checked the zero points and that the input is quint8.
    pub fn run(conv: &IntConv, bufs: &mut crate::kernels::PairBuffers, out: &mut [i32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            if pairs_within_taps(conv.shape) && crate::kernels::best().is_some() {
                use crate::kernels::quads;
                // `vpmaddubsw` on the byte layout; the zero point is a byte (checked).
                let zu = conv.input_zero_point as u8;
                return quads::accumulate(
                    quads::Products::SaturatingPairs,
                    conv.shape,
                    conv.input,
                    zu,
                    conv.weight,
                    conv.weight_zero_points,
                    bufs,
                    out,
                );
            }
            // SAFETY: the CPU has AVX2.
            return unsafe { run_avx2(conv, out) };
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast"))]
        if pairs_within_taps(conv.shape) {
            let Ok(input) = conv.input.as_quint8() else {
                return;
            };
            let zu = conv.input_zero_point as u8;
            crate::kernels::saturating_pair_sums(conv.shape, input, zu, conv.weight, bufs, out);
            return subtract_offsets(conv, &padded(conv), out);
        }
        let _ = bufs;
        run_generic(conv, out)
    }

    /// The pair kernels pair channels (2i, 2i+1) of one tap; fbgemm pairs
    /// reduction indices (2i, 2i+1) counted over (tap, channel), the same pairs
    /// exactly when a group has an even channel count. Odd counts (depthwise
    /// included) pair across taps: the scalar model runs them.
    #[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", feature = "fast")))]
    fn pairs_within_taps(s: &ConvShape) -> bool {
        (s.in_channels / s.groups).is_multiple_of(2)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(conv: &IntConv, out: &mut [i32]) {
        run_generic(conv, out)
    }

    /// The scalar model: pair sums, then the corrections.
    #[inline(always)]
    pub(super) fn run_generic(conv: &IntConv, out: &mut [i32]) {
        let xp = padded(conv);
        sums(conv, &xp, out);
        subtract_offsets(conv, &xp, out);
    }

    /// Raw codes as i16, NCHW, each plane padded with the zero point (start
    /// padding at the top left, end padding, which ONNX pads may make differ, after).
    // Inlined into `run_avx2`, compiled for AVX2 there.
    #[cfg_attr(target_arch = "x86_64", inline(always))]
    fn padded(conv: &IntConv) -> Vec<i16> {
        let s = conv.shape;
        let (hp, wp) = s.padded_hw();
        // fbgemm's kernels take quint8 activations only (checked by the caller).
        let Ok(input) = conv.input.as_quint8() else {
            return vec![];
        };
        let mut xp = vec![conv.input_zero_point as i16; s.batch * s.in_channels * hp * wp];
        for (plane, src) in xp.chunks_mut(hp * wp).zip(input.chunks(s.height * s.width)) {
            for (y, row) in src.chunks(s.width).enumerate() {
                let dst = &mut plane[(y + s.padding[0]) * wp + s.padding[1]..][..s.width];
                for (d, &v) in dst.iter_mut().zip(row) {
                    *d = v as i16;
                }
            }
        }
        xp
    }

    /// Offset of tap `t` of group `g` in a batch image of the padded input.
    fn tap_offset(s: &ConvShape, g: usize, (c, ky, kx): (usize, usize, usize)) -> usize {
        let (hp, wp) = s.padded_hw();
        (g * (s.in_channels / s.groups) + c) * hp * wp
            + ky * s.dilation[0] * wp
            + kx * s.dilation[1]
    }

    /// `out = sum over pairs sat16(x0*w0 + x1*w1)` (wrapping), pairs taken in
    /// reduction order, an odd last one with a zero weight.
    // Inlined into `run_avx2`, compiled for AVX2 there.
    #[cfg_attr(target_arch = "x86_64", inline(always))]
    fn sums(conv: &IntConv, xp: &[i16], out: &mut [i32]) {
        let s: &ConvShape = conv.shape;
        if xp.is_empty() {
            return;
        }
        let (oh, ow) = s.output_hw();
        let (hp, wp) = s.padded_hw();
        let cin_g = s.in_channels / s.groups;
        let cout_g = s.out_channels / s.groups;
        let (kh, kw) = (s.kernel[0], s.kernel[1]);
        let (sh, sw) = (s.stride[0], s.stride[1]);
        let order = reduction_order(s);
        let image = s.in_channels * hp * wp;
        let mut pairs: Vec<Pair> = Vec::with_capacity(order.len() / 2 + 1);
        for n in 0..s.batch {
            let xn = &xp[n * image..(n + 1) * image];
            for g in 0..s.groups {
                for oc in g * cout_g..(g + 1) * cout_g {
                    let wt = |(c, ky, kx): (usize, usize, usize)| {
                        conv.weight[((oc * cin_g + c) * kh + ky) * kw + kx] as i16
                    };
                    pairs.clear();
                    for p in order.chunks(2) {
                        let off0 = tap_offset(s, g, p[0]);
                        pairs.push(Pair {
                            off0,
                            w0: wt(p[0]),
                            off1: p.get(1).map_or(off0, |&t| tap_offset(s, g, t)),
                            w1: p.get(1).map_or(0, |&t| wt(t)),
                        });
                    }
                    let obase = (n * s.out_channels + oc) * oh * ow;
                    for oy in 0..oh {
                        let row = oy * sh * wp;
                        let orow = &mut out[obase + oy * ow..obase + (oy + 1) * ow];
                        let mut ox0 = 0;
                        while ox0 < ow {
                            let len = BLOCK.min(ow - ox0);
                            let mut acc = [0i32; BLOCK];
                            if len == BLOCK && sw == 1 {
                                for p in &pairs {
                                    let x0: &[i16; BLOCK] = xn[p.off0 + row + ox0..][..BLOCK]
                                        .try_into()
                                        .expect("block");
                                    let x1: &[i16; BLOCK] = xn[p.off1 + row + ox0..][..BLOCK]
                                        .try_into()
                                        .expect("block");
                                    let (w0, w1) = (p.w0 as i32, p.w1 as i32);
                                    for j in 0..BLOCK {
                                        acc[j] = acc[j].wrapping_add(sat16(x0[j], w0, x1[j], w1));
                                    }
                                }
                            } else if sw == 1 {
                                for p in &pairs {
                                    let x0 = &xn[p.off0 + row + ox0..][..len];
                                    let x1 = &xn[p.off1 + row + ox0..][..len];
                                    let (w0, w1) = (p.w0 as i32, p.w1 as i32);
                                    for ((a, &v0), &v1) in acc[..len].iter_mut().zip(x0).zip(x1) {
                                        *a = a.wrapping_add(sat16(v0, w0, v1, w1));
                                    }
                                }
                            } else {
                                for p in &pairs {
                                    let (b0, b1) =
                                        (p.off0 + row + ox0 * sw, p.off1 + row + ox0 * sw);
                                    let (w0, w1) = (p.w0 as i32, p.w1 as i32);
                                    for (j, a) in acc[..len].iter_mut().enumerate() {
                                        *a = a.wrapping_add(sat16(
                                            xn[b0 + j * sw],
                                            w0,
                                            xn[b1 + j * sw],
                                            w1,
                                        ));
                                    }
                                }
                            }
                            orow[ox0..ox0 + len].copy_from_slice(&acc[..len]);
                            ox0 += len;
                        }
                    }
                }
            }
        }
    }

    /// The zero-point corrections on the pair sums in `out`:
    /// `out - zw * rowsum(x) - zx * (sum(w) - zw * K)`, wrapping.
    // Inlined into `run_avx2`, compiled for AVX2 there.
    #[cfg_attr(target_arch = "x86_64", inline(always))]
    fn subtract_offsets(conv: &IntConv, xp: &[i16], out: &mut [i32]) {
        let s: &ConvShape = conv.shape;
        if xp.is_empty() {
            return;
        }
        let zx = conv.input_zero_point as i32;
        let (oh, ow) = s.output_hw();
        let (hp, wp) = s.padded_hw();
        let cout_g = s.out_channels / s.groups;
        let per = s.weight_len() / s.out_channels;
        let (sh, sw) = (s.stride[0], s.stride[1]);
        let order = reduction_order(s);
        let k_len = order.len() as i32;
        let image = s.in_channels * hp * wp;
        let mut rowsum = vec![0i32; oh * ow];
        let mut taps: Vec<usize> = Vec::with_capacity(order.len());
        for n in 0..s.batch {
            let xn = &xp[n * image..(n + 1) * image];
            for g in 0..s.groups {
                // Row offsets: the sum of the K activations of each output pixel.
                taps.clear();
                taps.extend(order.iter().map(|&t| tap_offset(s, g, t)));
                for oy in 0..oh {
                    let row = oy * sh * wp;
                    let rs = &mut rowsum[oy * ow..(oy + 1) * ow];
                    rs.fill(0);
                    for &off in &taps {
                        let base = off + row;
                        if sw == 1 {
                            for (r, &x) in rs.iter_mut().zip(&xn[base..base + ow]) {
                                *r += x as i32;
                            }
                        } else {
                            for (j, r) in rs.iter_mut().enumerate() {
                                *r += xn[base + j * sw] as i32;
                            }
                        }
                    }
                }
                for oc in g * cout_g..(g + 1) * cout_g {
                    let zw = if conv.weight_zero_points.len() == 1 {
                        conv.weight_zero_points[0]
                    } else {
                        conv.weight_zero_points[oc]
                    } as i32;
                    let wsum: i32 = conv.weight[oc * per..][..per]
                        .iter()
                        .map(|&q| q as i32)
                        .sum();
                    // PyTorch's column offset: sum(w) - zw * K.
                    let col = wsum.wrapping_sub(zw.wrapping_mul(k_len));
                    let corr = zx.wrapping_mul(col);
                    let obase = (n * s.out_channels + oc) * oh * ow;
                    for (o, &r) in out[obase..obase + oh * ow].iter_mut().zip(&rowsum) {
                        *o = o.wrapping_sub(zw.wrapping_mul(r)).wrapping_sub(corr);
                    }
                }
            }
        }
    }
}

/// The AVX2 byte kernel against the scalar model: same bits on every shape
/// whose pairs it takes, saturating pairs included.
#[cfg(all(test, target_arch = "x86_64"))]
mod byte_kernel_tests {
    use super::sat::run_generic;
    use crate::kernels::{quads, PairBuffers};

    #[test]
    fn saturating_bytes_match_the_scalar_model() {
        if !quads::Products::SaturatingPairs.available() {
            return;
        }
        let mut bufs = PairBuffers::default();
        let (mut saturated, mut checked) = (0, 0);
        for t in crate::testing::saturating_convs() {
            let (s, c) = (&t.shape, t.int_conv());
            // The byte kernel pairs within taps: even channel counts per group.
            if !(s.in_channels / s.groups).is_multiple_of(2) {
                continue;
            }
            let mut want = vec![0i32; s.output_len()];
            run_generic(&c, &mut want);
            if c.accumulate().map_or(true, |e| e != want) {
                saturated += 1;
            }
            // Twice on the same buffers: nothing stale may leak.
            for _ in 0..2 {
                let mut got = vec![i32::MIN; s.output_len()];
                quads::accumulate(
                    quads::Products::SaturatingPairs,
                    s,
                    c.input,
                    t.zx as u8,
                    &t.w,
                    &t.zw,
                    &mut bufs,
                    &mut got,
                );
                assert_eq!(got, want, "{s:?} mode {}", t.mode);
            }
            checked += 1;
        }
        // The saturating cases really saturated.
        assert_eq!(checked, 40, "the ten even cases in four modes");
        assert!(saturated >= checked / 2, "{saturated} of {checked}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(cin: usize, cout: usize, g: usize, h: usize, w: usize, k: [usize; 2]) -> ConvShape {
        ConvShape {
            batch: 1,
            in_channels: cin,
            out_channels: cout,
            height: h,
            width: w,
            kernel: k,
            stride: [1, 1],
            padding: [0, 0],
            padding_end: None,
            dilation: [1, 1],
            groups: g,
        }
    }

    fn conv<'a>(s: &'a ConvShape, x: &'a [u8], zx: i64, w: &'a [i8], zw: &'a [i64]) -> IntConv<'a> {
        IntConv {
            shape: s,
            input: crate::conv::Codes::QUInt8(x),
            input_zero_point: zx,
            weight: w,
            weight_zero_points: zw,
        }
    }

    /// PyTorch issue 44939: 211*71 + 171*107 = 33278, which `vpmaddubsw` keeps as
    /// 32767 on AVX2 / AVX512; VNNI's `vpdpbusd` adds it exactly. A 1x1 conv over
    /// two channels (pointwise: the pair is the two channels of one pixel).
    #[test]
    fn issue_44939_pair() {
        let s = shape(2, 1, 1, 1, 1, [1, 1]);
        assert_eq!(fbgemm_path(&s, false), FbgemmPath::Pointwise);
        let (x, w) = ([211u8, 171], [71i8, 107]);
        let c = conv(&s, &x, 0, &w, &[0]);
        assert_eq!(fbgemm_accumulate_on(&c, FbgemmCpu::Avx2).unwrap(), [32767]);
        assert_eq!(
            fbgemm_accumulate_on(&c, FbgemmCpu::Avx512).unwrap(),
            [32767]
        );
        assert_eq!(
            fbgemm_accumulate_on(&c, FbgemmCpu::Avx512Vnni).unwrap(),
            [33278]
        );
        assert_eq!(
            saturated_pairs(&c, FbgemmCpu::Avx2, 0),
            vec![SaturatedPair {
                taps: [Some((0, 0, 0)), Some((1, 0, 0))],
                codes: [(211, 71), (171, 107)],
                exact: 33278,
                clamped: 32767,
            }]
        );
        assert!(saturated_pairs(&c, FbgemmCpu::Avx512Vnni, 0).is_empty());
        // Zero points apply after the saturation: zx = 11, zw = -3 gives
        // 32767 - (-3)*(211+171) - 11*(71+107 + 3*2) = 32767 + 1146 - 2024.
        let c = conv(&s, &x, 11, &w, &[-3]);
        assert_eq!(fbgemm_accumulate_on(&c, FbgemmCpu::Avx2).unwrap(), [31889]);
        assert_eq!(
            fbgemm_accumulate_on(&c, FbgemmCpu::Avx512Vnni).unwrap(),
            [(211 - 11) * (71 + 3) + (171 - 11) * (107 + 3)]
        );
    }

    /// Pointwise with three channels: pairs (c0, c1) and c2 alone. Channels 1 and 2
    /// would saturate together; (c0, c1) does not. 100*100 + 255*127 = 42385 -> 32767,
    /// 255*127 alone = 32385: raw 32767 + 32385.
    #[test]
    fn pointwise_pairs_channels_from_the_start() {
        let s = shape(3, 1, 1, 1, 1, [1, 1]);
        let (x, w) = ([100u8, 255, 255], [100i8, 127, 127]);
        let c = conv(&s, &x, 0, &w, &[0]);
        assert_eq!(
            fbgemm_accumulate_on(&c, FbgemmCpu::Avx2).unwrap(),
            [32767 + 32385]
        );
        // Pairing (c1, c2) instead would give 10000 + 32767.
        let (x, w) = ([255u8, 255, 100], [127i8, 127, 100]);
        let c = conv(&s, &x, 0, &w, &[0]);
        assert_eq!(
            fbgemm_accumulate_on(&c, FbgemmCpu::Avx2).unwrap(),
            [32767 + 10000]
        );
        let p = saturated_pairs(&c, FbgemmCpu::Avx2, 0);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].taps, [Some((0, 0, 0)), Some((1, 0, 0))]);
    }

    /// im2col with 3 input channels and a 1x2 kernel: K order (kx, c) = t0c0 t0c1
    /// t0c2 t1c0 t1c1 t1c2, so the second pair spans the two taps: (t0c2, t1c0).
    /// Only those two products are large: saturated on AVX2. The channel-major
    /// (OIHW) order c0t0 c0t1 c1t0 c1t1 c2t0 c2t1 would pair each large product
    /// with a small one and stay exact.
    #[test]
    fn im2col_pairs_span_taps_with_odd_channels() {
        let s = shape(3, 1, 1, 1, 2, [1, 2]);
        assert_eq!(fbgemm_path(&s, false), FbgemmPath::Im2col);
        // NCHW input: channel c at pixel x is x[c*2 + x].
        let x = [1u8, 255, 1, 1, 255, 1];
        // OIHW weights: w[c*2 + kx]; large at (c2, kx0) and (c0, kx1).
        let w = [1i8, 127, 1, 1, 127, 1];
        // Taps: t0 = pixel 0, t1 = pixel 1. Products (kx,c): (0,0)=1 (0,1)=1 (0,2)=255*127
        // (1,0)=255*127 (1,1)=1 (1,2)=1.
        let c = conv(&s, &x, 0, &w, &[0]);
        let exact = 2 * 255 * 127 + 4;
        assert_eq!(c.accumulate().unwrap(), [exact]);
        assert_eq!(
            fbgemm_accumulate_on(&c, FbgemmCpu::Avx2).unwrap(),
            [32767 + 4]
        );
        assert_eq!(
            fbgemm_accumulate_on(&c, FbgemmCpu::Avx512Vnni).unwrap(),
            [exact]
        );
        let p = saturated_pairs(&c, FbgemmCpu::Avx512, 0);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].taps, [Some((2, 0, 0)), Some((0, 0, 1))]);
        assert_eq!(p[0].exact, 2 * 255 * 127);
    }

    /// im2col padding holds the activation zero point: a padded tap paired with a
    /// large product saturates. 1 channel, 1x2 kernel, padding 1 on the width:
    /// output 0 reads (pad, x0). zx = 255, w = [127, 127]: 255*127*2 -> 32767;
    /// then acc = 32767 - 0 - 255 * 254 = 32767 - 64770.
    #[test]
    fn im2col_padding_is_the_zero_point() {
        let mut s = shape(1, 1, 1, 1, 1, [1, 2]);
        s.padding = [0, 1];
        let c = conv(&s, &[255u8], 255, &[127i8, 127], &[0]);
        let got = fbgemm_accumulate_on(&c, FbgemmCpu::Avx2).unwrap();
        assert_eq!(got, [32767 - 64770, 32767 - 64770]);
        assert_eq!(c.accumulate().unwrap(), [0, 0]);
        let p = saturated_pairs(&c, FbgemmCpu::Avx2, 0);
        assert_eq!(p[0].codes, [(255, 127), (255, 127)]);
    }

    /// Groupwise: 2 channels per group, 3x3, padding 1. The pairs are the two
    /// channels of one tap. With 4 groups an AVX2 CPU fills its vector (groupwise
    /// kernel), an AVX512 one needs 8 (im2col: same pairs). Large products on both
    /// channels of the centre tap saturate; then large products on channel 0 of
    /// taps 0 and 1 do not (a tap pairing like the depthwise kernel's would).
    #[test]
    fn groupwise_pairs_channels_within_a_tap() {
        let mut s = shape(8, 8, 4, 1, 1, [3, 3]);
        s.padding = [1, 1];
        let native = FbgemmIsa::native(FbgemmCpu::Avx2);
        assert_eq!(native.path(&s, false), FbgemmPath::Groupwise);
        assert_eq!(
            FbgemmIsa::native(FbgemmCpu::Avx512).path(&s, false),
            FbgemmPath::Im2col
        );
        // The golden files' AVX2: the groupwise rule sees the VNNI host (8 groups).
        assert_eq!(
            fbgemm_path_on(&s, false, FbgemmCpu::Avx2),
            FbgemmPath::Im2col
        );
        assert_eq!(
            fbgemm_path_on(&s, false, FbgemmCpu::Avx512Vnni),
            FbgemmPath::Im2col
        );
        let x = [255u8, 255, 0, 0, 0, 0, 0, 0];
        let mut w = vec![0i8; 8 * 2 * 9];
        // Output channel 0 (group 0): OIHW w[(oc*2 + c)*9 + tap]. Centre tap 4 reads
        // the only real pixel; the other taps read padding (zx = 0).
        w[4] = 127; // c0, tap 4
        w[9 + 4] = 127; // c1, tap 4
        let c = conv(&s, &x, 0, &w, &[0]);
        for isa in [
            native,
            FbgemmIsa::forced(FbgemmCpu::Avx2),
            FbgemmIsa::native(FbgemmCpu::Avx512),
        ] {
            assert_eq!(isa.accumulate(&c).unwrap()[0], 32767, "{isa:?}");
            assert_eq!(
                isa.saturated_pairs(&c, 0)[0].taps,
                [Some((0, 1, 1)), Some((1, 1, 1))]
            );
        }
        assert_eq!(
            fbgemm_accumulate_on(&c, FbgemmCpu::Avx512Vnni).unwrap()[0],
            64770
        );
        // zx = 255 and channel 0's weights 127 at taps 0 and 1 (both padded): each
        // meets channel 1's zero weight in its pair: no saturation.
        let mut w = vec![0i8; 8 * 2 * 9];
        w[0] = 127;
        w[1] = 127;
        let c = conv(&s, &x, 255, &w, &[0]);
        assert_eq!(
            native.accumulate(&c).unwrap()[0],
            c.accumulate().unwrap()[0]
        );
        assert!(native.saturated_pairs(&c, 0).is_empty());
    }

    /// With 8 groups of 2 channels the groupwise kernel runs on AVX512 hosts too;
    /// limited by FBGEMM_ENABLE_INSTRUCTIONS on a VNNI host (the golden files'
    /// "avx2" / "avx512") it still runs `vpdpbusd`: exact. On a real AVX2 CPU it saturates.
    #[test]
    fn groupwise_kernel_follows_the_host() {
        let mut s = shape(16, 16, 8, 1, 1, [3, 3]);
        s.padding = [1, 1];
        let x = vec![255u8; 16];
        let mut w = vec![0i8; 16 * 2 * 9];
        w[4] = 127;
        w[9 + 4] = 127;
        let c = conv(&s, &x, 0, &w, &[0]);
        for cpu in FbgemmCpu::ALL {
            assert_eq!(fbgemm_path_on(&s, false, cpu), FbgemmPath::Groupwise);
            assert_eq!(fbgemm_accumulate_on(&c, cpu).unwrap()[0], 64770, "{cpu:?}");
            assert!(saturated_pairs(&c, cpu, 0).is_empty());
        }
        for cpu in [FbgemmCpu::Avx2, FbgemmCpu::Avx512] {
            let isa = FbgemmIsa::native(cpu);
            assert_eq!(isa.path(&s, false), FbgemmPath::Groupwise);
            assert_eq!(isa.accumulate(&c).unwrap()[0], 32767, "{cpu:?}");
        }
    }

    /// Depthwise: taps in row-major order, paired (0,1), (2,3), ...: the same
    /// numbers as the verified depthwise model, on every CPU (VNNI too); and a
    /// case where pairing by rows instead would differ.
    #[test]
    fn depthwise_matches_the_depthwise_model() {
        let mut s = shape(8, 16, 8, 5, 4, [3, 3]);
        s.padding = [1, 1];
        s.stride = [2, 1];
        assert_eq!(fbgemm_path(&s, true), FbgemmPath::Depthwise);
        let x: Vec<u8> = (0..s.input_len())
            .map(|i| 255 - (i * 37 % 120) as u8)
            .collect();
        let w: Vec<i8> = (0..s.weight_len())
            .map(|i| ((127 - (i * 13) % 40) as i8) * if (i / 9) % 3 == 0 { -1 } else { 1 })
            .collect();
        let zw: Vec<i64> = (0..16).map(|o| (o * 7) % 11 - 5).collect();
        let c = conv(&s, &x, 37, &w, &zw);
        let xi: Vec<i64> = x.iter().map(|&v| v as i64).collect();
        let wi: Vec<i64> = w.iter().map(|&v| v as i64).collect();
        let model = crate::depthwise::fbgemm_depthwise_accumulate(&s, &xi, 37, &wi, &zw).unwrap();
        for cpu in FbgemmCpu::ALL {
            assert_eq!(fbgemm_accumulate_on(&c, cpu).unwrap(), model, "{cpu:?}");
        }
        assert_ne!(model, c.accumulate().unwrap());
        // One channel, all 255 / 127: the top-middle pixel (taps 3..8 real) keeps
        // pairs (2,3): 1 real -> 32385, (4,5) and (6,7) -> 32767 each, 8 -> 32385.
        let s1 = ConvShape {
            in_channels: 8,
            out_channels: 8,
            groups: 8,
            height: 3,
            width: 3,
            padding: [1, 1],
            stride: [1, 1],
            ..s
        };
        let x = vec![255u8; 72];
        let w = vec![127i8; 72];
        let c = conv(&s1, &x, 0, &w, &[0]);
        assert_eq!(
            fbgemm_accumulate_on(&c, FbgemmCpu::Avx2).unwrap()[1],
            2 * 32385 + 2 * 32767
        );
    }

    /// The strided / unblocked and the blocked inner loops agree with a naive sum
    /// of `saturated_pairs`' view (exact accumulators plus the clamping deltas).
    #[test]
    fn blocked_loops_agree_with_the_pairs() {
        let mut seed = 7u64;
        let mut rnd = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        for &(cin, cout, g, h, w, k, st, p, d) in &[
            (
                3usize,
                4usize,
                1usize,
                7usize,
                70usize,
                [2usize, 3usize],
                [1usize, 1usize],
                [1usize, 2usize],
                [1usize, 1usize],
            ),
            (6, 4, 2, 9, 8, [3, 3], [2, 1], [2, 1], [2, 1]),
            (8, 8, 4, 5, 66, [3, 3], [1, 1], [1, 1], [1, 1]),
            (5, 3, 1, 4, 67, [1, 1], [1, 1], [0, 0], [1, 1]),
        ] {
            let s = ConvShape {
                batch: 2,
                in_channels: cin,
                out_channels: cout,
                height: h,
                width: w,
                kernel: k,
                stride: st,
                padding: p,
                padding_end: None,
                dilation: d,
                groups: g,
            };
            s.validate().unwrap();
            let x: Vec<u8> = (0..s.input_len()).map(|_| 128 + rnd(128) as u8).collect();
            let wq: Vec<i8> = (0..s.weight_len())
                .map(|_| (rnd(256) as i64 - 128) as i8)
                .collect();
            let zw: Vec<i64> = (0..cout).map(|_| rnd(9) as i64 - 4).collect();
            let c = conv(&s, &x, 131, &wq, &zw);
            let exact = c.accumulate().unwrap();
            let isa = FbgemmIsa::native(FbgemmCpu::Avx2);
            let got = isa.accumulate(&c).unwrap();
            let mut saturated = 0;
            for i in 0..exact.len() {
                let delta: i32 = isa
                    .saturated_pairs(&c, i)
                    .iter()
                    .map(|p| p.clamped as i32 - p.exact)
                    .sum();
                saturated += (delta != 0) as usize;
                assert_eq!(got[i], exact[i] + delta, "{s:?} at {i}");
            }
            assert!(saturated > 0, "{s:?}");
        }
    }

    #[test]
    fn names_and_parse() {
        for cpu in FbgemmCpu::ALL {
            assert_eq!(FbgemmCpu::parse(cpu.id()), Some(cpu));
        }
        assert!(FbgemmCpu::parse("sse").is_none());
        assert_eq!(
            serde_json::to_string(&FbgemmCpu::Avx512Vnni).unwrap(),
            "\"avx512_vnni\""
        );
        for p in FbgemmPath::ALL {
            assert!(!p.why().is_empty() && !p.name().is_empty());
        }
        // A transposed-only path never comes out for a Conv2d.
        let s = shape(8, 8, 1, 4, 4, [2, 2]);
        assert_eq!(fbgemm_path(&s, false), FbgemmPath::Im2col);
    }
}
