//! Exact accumulation as int16 pair dot products: `acc += x[c]·w[c] + x[c+1]·w[c+1]`
//! on zero-point-centred codes, two input channels per 32-bit lane.
//!
//! Centred codes of 8-bit tensors lie within ±255 (at most ±32767 is required),
//! so each pair product sum is exact in int32 (`vpmaddwd`, `vpdpwssd`,
//! `i32x4.dot_i16x8_s`), and every partial sum of the accumulator is bounded by
//! the caller's int32 bound: the same bits as the scalar taps, in any order.
//!
//! Layout of the input ([`Layout`]): per (batch, group, channel pair) one padded
//! plane; each padded row is split into `stride` phases (column `X` at phase
//! `X % stride`, index `X / stride`), so the taps of consecutive output columns
//! are consecutive in memory whatever the stride; rows end in zero slack so a
//! block of columns may run past the row's end (the extra lanes are not stored).
use crate::conv::{Codes, ConvShape};

#[cfg(target_arch = "x86_64")]
pub mod quads;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;
#[cfg(target_arch = "x86_64")]
mod x86;

/// An instruction set with a pair kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// `vpdpwssd` on 512-bit registers: 8 output channels x 32 columns per tile.
    Avx512Vnni,
    /// `vpmaddwd` + `vpaddd` on 256-bit registers: 4 channels x 16 columns.
    Avx2,
    /// `i32x4.dot_i16x8_s` + `i32x4.add`: 4 channels x 8 columns.
    Simd128,
}

impl Isa {
    /// Output channels and columns of one register tile.
    fn tile(self) -> (usize, usize) {
        match self {
            Isa::Avx512Vnni => (8, 32),
            Isa::Avx2 => (4, 16),
            Isa::Simd128 => (4, 8),
        }
    }
}

/// Every pair kernel this CPU (or wasm engine) runs, fastest first.
pub fn available() -> Vec<Isa> {
    #[allow(unused_mut)]
    let mut v = vec![];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
        {
            v.push(Isa::Avx512Vnni);
        }
        if std::is_x86_feature_detected!("avx2") {
            v.push(Isa::Avx2);
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.push(Isa::Simd128);
    v
}

/// The fastest pair kernel here, if any. Natively `QCONV_PAIR_ISA=avx2` (or
/// `none`) picks a slower one, so that a benchmark can time the AVX2 kernel on
/// an AVX-512 host; it never picks one the CPU lacks.
pub fn best() -> Option<Isa> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        static CHOSEN: std::sync::OnceLock<Option<Isa>> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let all = available();
            match std::env::var("QCONV_PAIR_ISA").as_deref() {
                Ok("avx2") => all.into_iter().find(|&i| i == Isa::Avx2),
                Ok("none") => None,
                _ => all.first().copied(),
            }
        })
    }
    #[cfg(target_arch = "wasm32")]
    available().first().copied()
}

/// Reusable buffers of the pair kernels.
#[derive(Debug, Default)]
pub struct PairBuffers {
    x: Vec<i32>,
    w: Vec<i32>,
    offs: Vec<usize>,
    acc: Vec<i32>,
}

/// Where the paired input lives (all in 32-bit units).
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Lanes of channels per group (channel pairs, or quads in [`quads`]).
    pairs: usize,
    /// Length of one phase row (padded columns / stride, plus slack).
    phase: usize,
    /// One padded row: `stride` phases.
    row: usize,
    /// One padded plane.
    plane: usize,
}

impl Layout {
    /// `per_lane` input channels share one 32-bit lane.
    fn new(s: &ConvShape, cols: usize, per_lane: usize) -> Layout {
        let (hp, wp) = s.padded_hw();
        let (_, ow) = s.output_hw();
        let sw = s.stride[1];
        let cin_g = s.in_channels / s.groups;
        let reach = (s.kernel[1] - 1) * s.dilation[1] / sw;
        let phase = wp.div_ceil(sw).max(ow.div_ceil(cols) * cols + reach);
        Layout {
            pairs: cin_g.div_ceil(per_lane),
            phase,
            row: sw * phase,
            plane: hp * sw * phase,
        }
    }
}

/// Two centred codes in one lane: the even channel low, the odd one high.
#[inline(always)]
fn pack(lo: i32, hi: i32) -> i32 {
    (lo as u16 as u32 | (hi as u16 as u32) << 16) as i32
}

fn pack_input(s: &ConvShape, x: Codes, zx: i32, l: &Layout, buf: &mut Vec<i32>) {
    // One copy of the loop for both dtypes (it is in the page's wasm): a qint8
    // code q is the byte (q ^ 0x80) = q + 128 against the zero point zx + 128.
    let (bytes, flip, z): (&[u8], u8, i32) = match x {
        Codes::QUInt8(v) => (v, 0, zx),
        // SAFETY: i8 and u8 have the same size and alignment; every bit pattern is valid.
        Codes::QInt8(v) => (
            unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len()) },
            0x80,
            zx + 128,
        ),
    };
    pack_input_of(s, bytes, l, buf, |q| (q ^ flip) as i32 - z, 0)
}

/// Pairs of `code(q)` per lane; padding (and row slack) holds `fill` in both halves.
fn pack_input_of(
    s: &ConvShape,
    x: &[u8],
    l: &Layout,
    buf: &mut Vec<i32>,
    code: impl Fn(u8) -> i32,
    fill: i32,
) {
    let cin_g = s.in_channels / s.groups;
    let (h, w) = (s.height, s.width);
    let sw = s.stride[1];
    buf.clear();
    buf.resize(s.batch * s.groups * l.pairs * l.plane, pack(fill, fill));
    let hw = h * w;
    for n in 0..s.batch {
        for g in 0..s.groups {
            for p in 0..l.pairs {
                let c0 = g * cin_g + 2 * p;
                let even = &x[(n * s.in_channels + c0) * hw..][..hw];
                let odd =
                    (2 * p + 1 < cin_g).then(|| &x[(n * s.in_channels + c0 + 1) * hw..][..hw]);
                let plane = &mut buf[((n * s.groups + g) * l.pairs + p) * l.plane..][..l.plane];
                for y in 0..h {
                    let dst = &mut plane[(y + s.padding[0]) * l.row..][..l.row];
                    let (ev, od) = (&even[y * w..][..w], odd.map(|o| &o[y * w..][..w]));
                    let pl = s.padding[1];
                    match od {
                        Some(od) if sw == 1 => {
                            for ((d, &e), &o) in dst[pl..pl + w].iter_mut().zip(ev).zip(od) {
                                *d = pack(code(e), code(o));
                            }
                        }
                        _ => {
                            // Column pl + xx goes to phase (pl + xx) % sw at
                            // (pl + xx) / sw, stepped without a division per code.
                            let (mut q, mut r) = (pl / sw, pl % sw);
                            for xx in 0..w {
                                let hi = od.map_or(0, |o| code(o[xx]));
                                dst[r * l.phase + q] = pack(code(ev[xx]), hi);
                                r += 1;
                                if r == sw {
                                    r = 0;
                                    q += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Weights per (group, channel block, tap, channel of the block), packed in
/// pairs like the input; channels past the group's end get zero weights.
/// `wt(i)`: the weight at flat OIHW index `i`.
fn pack_weights(
    s: &ConvShape,
    wt: impl Fn(usize) -> i32,
    ocb: usize,
    l: &Layout,
    buf: &mut Vec<i32>,
) {
    let cin_g = s.in_channels / s.groups;
    let cout_g = s.out_channels / s.groups;
    let (kh, kw) = (s.kernel[0], s.kernel[1]);
    let blocks = cout_g.div_ceil(ocb);
    let taps = l.pairs * kh * kw;
    buf.clear();
    buf.resize(s.groups * blocks * taps * ocb, 0);
    let at = |oc: usize, ic: usize, ky: usize, kx: usize| -> i32 {
        if ic < cin_g {
            wt(((oc * cin_g + ic) * kh + ky) * kw + kx)
        } else {
            0
        }
    };
    for g in 0..s.groups {
        for b in 0..blocks {
            for j in 0..ocb.min(cout_g - b * ocb) {
                let oc = g * cout_g + b * ocb + j;
                let mut t = 0;
                for p in 0..l.pairs {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let v = pack(at(oc, 2 * p, ky, kx), at(oc, 2 * p + 1, ky, kx));
                            buf[((g * blocks + b) * taps + t) * ocb + j] = v;
                            t += 1;
                        }
                    }
                }
            }
        }
    }
}

/// Offset of each tap from the tile's origin, in `pack_weights`' tap order.
fn tap_offsets(s: &ConvShape, l: &Layout, out: &mut Vec<usize>) {
    let sw = s.stride[1];
    out.clear();
    for p in 0..l.pairs {
        for ky in 0..s.kernel[0] {
            for kx in 0..s.kernel[1] {
                let dx = kx * s.dilation[1];
                out.push(p * l.plane + ky * s.dilation[0] * l.row + (dx % sw) * l.phase + dx / sw);
            }
        }
    }
}

/// Whether the pair kernels compute this conv exactly: centred codes fit int16
/// and the caller has checked that no partial sum leaves int32.
pub fn fits(max_x: u64, max_w: u64) -> bool {
    max_x <= i16::MAX as u64 && max_w <= i16::MAX as u64
}

/// Exact accumulators, flat NCHW, on `isa` (one of [`available`]). `wz` are the
/// centred weights (OIHW) and every |centred code| must pass [`fits`]; the
/// caller guarantees that `sum |x|·|w|` over the taps stays within int32.
pub fn accumulate(
    isa: Isa,
    s: &ConvShape,
    x: Codes,
    zx: i32,
    wz: &[i64],
    b: &mut PairBuffers,
    out: &mut [i32],
) {
    let (ocb, cols) = isa.tile();
    let l = Layout::new(s, cols, 2);
    pack_input(s, x, zx, &l, &mut b.x);
    pack_weights(s, |i| wz[i] as i32, ocb, &l, &mut b.w);
    run_tiles(isa, false, s, &l, b, out);
}

/// fbgemm's saturating pairs on AVX2 (`vpmaddubsw`), in wasm: per output element
/// the wrapping int32 sum over channel pairs (2i, 2i+1) of each tap of
/// `sat16(u0·w0 + u1·w1)`, with `u` the raw quint8 codes (padding holds `zu`) and
/// `w` the raw weights; the zero-point corrections are the caller's. fbgemm pairs
/// the reduction (tap, channel) in order, so these are its pairs only when every
/// group has an even channel count, which the caller checks. (In the
/// workers' engine, feature `fast`: the first-load wasm keeps its size.)
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast"))]
pub fn saturating_pair_sums(
    s: &ConvShape,
    x: &[u8],
    zu: u8,
    weight: &[i8],
    b: &mut PairBuffers,
    out: &mut [i32],
) {
    assert!(
        (s.in_channels / s.groups).is_multiple_of(2),
        "pairs across taps"
    );
    let isa = Isa::Simd128;
    let (ocb, cols) = isa.tile();
    let l = Layout::new(s, cols, 2);
    pack_input_of(s, x, &l, &mut b.x, |q| q as i32, zu as i32);
    pack_weights(s, |i| weight[i] as i32, ocb, &l, &mut b.w);
    run_tiles(isa, true, s, &l, b, out);
}

/// Every register tile of the packed input and weights in `b`, into `out`
/// (flat NCHW); `saturate`: each pair sum clamped to int16 before it is added.
fn run_tiles(
    isa: Isa,
    saturate: bool,
    s: &ConvShape,
    l: &Layout,
    b: &mut PairBuffers,
    out: &mut [i32],
) {
    let (ocb, cols) = isa.tile();
    tap_offsets(s, l, &mut b.offs);
    b.acc.clear();
    b.acc.resize(ocb * cols, 0);
    let (oh, ow) = s.output_hw();
    let cout_g = s.out_channels / s.groups;
    let blocks = cout_g.div_ceil(ocb);
    let taps = b.offs.len();
    // Every load of a tile stays inside the buffer: checked once, here, for the
    // last tile (the kernels read without bounds checks).
    let last_origin = ((s.batch * s.groups - 1) * l.pairs) * l.plane
        + (oh - 1) * s.stride[0] * l.row
        + (ow - 1) / cols * cols;
    let reach = b.offs.iter().max().copied().unwrap_or(0) + cols;
    assert!(last_origin + reach <= b.x.len(), "pair kernel layout");
    assert!(b.w.len() == s.groups * blocks * taps * ocb);
    for n in 0..s.batch {
        for g in 0..s.groups {
            let base = (n * s.groups + g) * l.pairs * l.plane;
            for blk in 0..blocks {
                let w = &b.w[(g * blocks + blk) * taps * ocb..][..taps * ocb];
                let live = ocb.min(cout_g - blk * ocb);
                let oc0 = g * cout_g + blk * ocb;
                for oy in 0..oh {
                    let row = base + oy * s.stride[0] * l.row;
                    for ox0 in (0..ow).step_by(cols) {
                        // SAFETY: origin + every offset + cols is within b.x
                        // (asserted above for the largest origin), w holds
                        // taps·ocb weights, acc ocb·cols lanes, and the CPU has
                        // the ISA (the caller took it from `available`).
                        unsafe { tile(isa, saturate, &b.x, row + ox0, &b.offs, w, &mut b.acc) };
                        let len = cols.min(ow - ox0);
                        for j in 0..live {
                            let o = ((n * s.out_channels + oc0 + j) * oh + oy) * ow + ox0;
                            out[o..o + len].copy_from_slice(&b.acc[j * cols..][..len]);
                        }
                    }
                }
            }
        }
    }
}

/// One register tile: `acc[j·cols + c] = sum_t dot(x[origin + offs[t] + c], w[t·ocb + j])`
/// (each dot clamped to int16 when `saturate`: only the wasm tile has that form).
#[allow(unused_variables)]
unsafe fn tile(
    isa: Isa,
    saturate: bool,
    x: &[i32],
    origin: usize,
    offs: &[usize],
    w: &[i32],
    acc: &mut [i32],
) {
    let xp = x.as_ptr().add(origin);
    match (isa, saturate) {
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, false) => x86::tile_vnni(xp, offs, w.as_ptr(), acc.as_mut_ptr()),
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, false) => x86::tile_avx2(xp, offs, w.as_ptr(), acc.as_mut_ptr()),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        (Isa::Simd128, false) => simd128::tile::<false>(xp, offs, w.as_ptr(), acc.as_mut_ptr()),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast"))]
        (Isa::Simd128, true) => simd128::tile::<true>(xp, offs, w.as_ptr(), acc.as_mut_ptr()),
        #[allow(unreachable_patterns)]
        _ => unreachable!("pair kernel {isa:?} is not built for this target"),
    }
}

#[cfg(test)]
mod tests;
