//! Exact accumulation from raw byte products, four input channels per lane
//! (`vpdpbusd`: unsigned activation byte x signed weight byte, four products
//! summed into int32 without saturation), then the zero-point corrections:
//!
//! `sum (u - zu)(w - zw) = sum u·w - zw·sum u - zu·sum w + T·zu·zw`
//!
//! with `u` the activation as an unsigned byte (quint8 as is, qint8 + 128) and
//! padded positions holding `zu`, so they contribute 0 like the centred taps.
//! Every step wraps in int32; the caller has checked that the exact result
//! fits int32, so the wrapped result is that result (sums modulo 2^32).
//!
//! The same layout and corrections serve fbgemm's saturating model
//! ([`Products::SaturatingPairs`]): `vpmaddubsw` sums bytes (0, 1) and (2, 3) of
//! each lane, channels (4p, 4p+1) and (4p+2, 4p+3) of one tap, with int16
//! saturation: fbgemm's pairs whenever a group has an even channel count.
use super::{tap_offsets, Layout, PairBuffers};
use crate::conv::{Codes, ConvShape};

/// How the four byte products of a lane are summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Products {
    /// `vpdpbusd`: exactly (AVX512-VNNI, 8 output channels x 32 columns).
    Exact,
    /// `vpmaddubsw` then `vpmaddwd` by ones: each pair saturated to int16, the
    /// two pair sums added exactly (AVX2, 4 output channels x 16 columns).
    SaturatingPairs,
}

impl Products {
    /// Output channels and columns of one tile.
    fn tile(self) -> (usize, usize) {
        match self {
            Products::Exact => (8, 32),
            Products::SaturatingPairs => (4, 16),
        }
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        match self {
            Products::Exact => available(),
            Products::SaturatingPairs => std::is_x86_feature_detected!("avx2"),
        }
    }
}

/// Whether this CPU runs the exact byte kernel.
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vnni")
}

/// The activation zero point as an unsigned byte, if it is one.
pub fn byte_zero_point(x: Codes, zx: i64) -> Option<u8> {
    let z = match x {
        Codes::QUInt8(_) => zx,
        Codes::QInt8(_) => zx + 128,
    };
    u8::try_from(z).ok()
}

/// Accumulators, flat NCHW. `weight` are the raw qint8 codes (OIHW),
/// `wzp` one zero point or one per output channel; `zu` from [`byte_zero_point`].
/// The caller checked `products.available()` and, for [`Products::Exact`], that
/// every exact sum fits int32.
#[allow(clippy::too_many_arguments)]
pub fn accumulate(
    products: Products,
    s: &ConvShape,
    x: Codes,
    zu: u8,
    weight: &[i8],
    wzp: &[i64],
    b: &mut PairBuffers,
    out: &mut [i32],
) {
    let (ocb, cols) = products.tile();
    let l = Layout::new(s, cols, 4);
    pack_input(s, x, zu, &l, &mut b.x);
    pack_weights(s, weight, ocb, &l, &mut b.w);
    tap_offsets(s, &l, &mut b.offs);
    b.acc.clear();
    b.acc.resize(ocb * cols, 0);
    let (oh, ow) = s.output_hw();
    let cin_g = s.in_channels / s.groups;
    let cout_g = s.out_channels / s.groups;
    let blocks = cout_g.div_ceil(ocb);
    let taps = b.offs.len();
    let per = cin_g * s.kernel[0] * s.kernel[1];
    let zp = |oc: usize| wzp[if wzp.len() == 1 { 0 } else { oc }] as i32;
    let zu32 = zu as i32;
    // -zu·sum w + T·zu·zw, per output channel.
    let fixed: Vec<i32> = (0..s.out_channels)
        .map(|oc| {
            let sw: i32 = weight[oc * per..][..per].iter().map(|&q| q as i32).sum();
            (per as i32)
                .wrapping_mul(zu32)
                .wrapping_mul(zp(oc))
                .wrapping_sub(zu32.wrapping_mul(sw))
        })
        .collect();
    let any_zw = (0..s.out_channels).any(|oc| zp(oc) != 0);
    let last_origin = ((s.batch * s.groups - 1) * l.pairs) * l.plane
        + (oh - 1) * s.stride[0] * l.row
        + (ow - 1) / cols * cols;
    let reach = b.offs.iter().max().copied().unwrap_or(0) + cols;
    assert!(last_origin + reach <= b.x.len(), "quad kernel layout");
    assert!(b.w.len() == s.groups * blocks * taps * ocb);
    assert!(out.len() == s.output_len(), "quad kernel output");
    let plane_len = oh * ow;
    let no_add = [0i32; 8];
    let mut sum_u = vec![];
    for n in 0..s.batch {
        for g in 0..s.groups {
            let base = (n * s.groups + g) * l.pairs * l.plane;
            if any_zw {
                window_sums(s, &l, &b.x[base..], &b.offs, &mut sum_u);
            }
            for blk in 0..blocks {
                let w = &b.w[(g * blocks + blk) * taps * ocb..][..taps * ocb];
                let live = ocb.min(cout_g - blk * ocb);
                let oc0 = g * cout_g + blk * ocb;
                // A full block without weight zero points needs only the fixed
                // terms: the tile adds them and stores into the output rows.
                let direct = live == ocb && (oc0..oc0 + ocb).all(|oc| zp(oc) == 0);
                for oy in 0..oh {
                    let row = base + oy * s.stride[0] * l.row;
                    for ox0 in (0..ow).step_by(cols) {
                        let len = cols.min(ow - ox0);
                        let o0 = ((n * s.out_channels + oc0) * oh + oy) * ow + ox0;
                        let xp = b.x.as_ptr().wrapping_add(row + ox0);
                        // Straight into the output rows, the fixed terms added,
                        // or into the scratch tile for the corrections below.
                        let stored = direct && len == cols;
                        let (dst, stride, add) = if stored {
                            (
                                out.as_mut_ptr().wrapping_add(o0),
                                plane_len,
                                fixed[oc0..oc0 + ocb].as_ptr(),
                            )
                        } else {
                            (b.acc.as_mut_ptr(), cols, no_add.as_ptr())
                        };
                        // SAFETY: as in `super::accumulate` for the loads. Stored:
                        // `cols` lanes at o0 + j·oh·ow for j < ocb, within `out`
                        // (asserted length, j < live, len == cols), and `fixed[oc0..]`
                        // holds ocb values (live == ocb); else the ocb·cols scratch
                        // tile and ocb zeros.
                        unsafe { tile(products, xp, &b.offs, w.as_ptr(), dst, stride, add) };
                        if stored {
                            continue;
                        }
                        for j in 0..live {
                            let oc = oc0 + j;
                            let o = o0 + j * plane_len;
                            let (f, z) = (fixed[oc], zp(oc));
                            let acc = &b.acc[j * cols..][..len];
                            let dst = &mut out[o..o + len];
                            if z == 0 {
                                for (d, &a) in dst.iter_mut().zip(acc) {
                                    *d = a.wrapping_add(f);
                                }
                            } else {
                                let su = &sum_u[oy * ow + ox0..][..len];
                                for ((d, &a), &u) in dst.iter_mut().zip(acc).zip(su) {
                                    *d = a.wrapping_add(f).wrapping_sub(z.wrapping_mul(u));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One register tile of `products` at `x` (every load in bounds, checked by
/// the caller, as is the CPU), stored as the x86 tiles store.
unsafe fn tile(
    products: Products,
    x: *const i32,
    offs: &[usize],
    w: *const i32,
    dst: *mut i32,
    stride: usize,
    add: *const i32,
) {
    match products {
        Products::Exact => super::x86::tile_vnni_bytes(x, offs, w, dst, stride, add),
        Products::SaturatingPairs => super::x86::tile_avx2_bytes_sat(x, offs, w, dst, stride, add),
    }
}

/// `sum u` over the taps of every output pixel of one (batch, group), padded
/// positions as `zu` (the byte lanes of the packed input, in tap order).
fn window_sums(s: &ConvShape, l: &Layout, x: &[i32], offs: &[usize], out: &mut Vec<i32>) {
    let (oh, ow) = s.output_hw();
    out.clear();
    out.resize(oh * ow, 0);
    let bytes = |v: i32| {
        (v as u32)
            .to_le_bytes()
            .iter()
            .map(|&b| b as i32)
            .sum::<i32>()
    };
    for oy in 0..oh {
        for ox in 0..ow {
            let origin = oy * s.stride[0] * l.row + ox;
            out[oy * ow + ox] = offs.iter().map(|&o| bytes(x[origin + o])).sum();
        }
    }
}

/// Four activation bytes per lane (channel 4p in the low byte); padded
/// positions of real channels hold `zu`, missing channels 0 (their weights are 0).
fn pack_input(s: &ConvShape, x: Codes, zu: u8, l: &Layout, buf: &mut Vec<i32>) {
    // A qint8 code q is the unsigned byte q + 128 = (q as u8) ^ 0x80.
    let (bytes, flip): (&[u8], u8) = match x {
        Codes::QUInt8(v) => (v, 0),
        // SAFETY: i8 and u8 have the same size and alignment; every bit pattern is valid.
        Codes::QInt8(v) => (
            unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len()) },
            0x80,
        ),
    };
    let cin_g = s.in_channels / s.groups;
    let (h, w) = (s.height, s.width);
    let (sw, pl, pt) = (s.stride[1], s.padding[1], s.padding[0]);
    // Every lane is written below (padding, data, slack), so only a buffer that
    // grows gets zeroed.
    buf.resize(s.batch * s.groups * l.pairs * l.plane, 0);
    // Channels past the group's end read zeros.
    let zeros = vec![0u8; if cin_g.is_multiple_of(4) { 0 } else { w }];
    for n in 0..s.batch {
        for g in 0..s.groups {
            for p in 0..l.pairs {
                let real = (cin_g - 4 * p).min(4);
                let byte = |c: usize, v: u8| if c < real { v } else { 0 };
                let fill = u32::from_le_bytes([0, 1, 2, 3].map(|c| byte(c, zu))) as i32;
                let flips = u32::from_le_bytes([0, 1, 2, 3].map(|c| byte(c, flip)));
                let plane = &mut buf[((n * s.groups + g) * l.pairs + p) * l.plane..][..l.plane];
                if sw == 1 {
                    // Padding rows, then each data row's padding and slack.
                    plane[..pt * l.row].fill(fill);
                    plane[(pt + h) * l.row..].fill(fill);
                } else {
                    plane.fill(fill);
                }
                let first = (n * s.in_channels + g * cin_g + 4 * p) * h * w;
                for y in 0..h {
                    let row = |c: usize| -> &[u8] {
                        if c < real {
                            &bytes[first + (c * h + y) * w..][..w]
                        } else {
                            &zeros[..w]
                        }
                    };
                    let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                    let word = |i: usize| u32::from_le_bytes([r0[i], r1[i], r2[i], r3[i]]) ^ flips;
                    let dst = &mut plane[(y + pt) * l.row..][..l.row];
                    if sw == 1 {
                        let (pad, rest) = dst.split_at_mut(pl);
                        let (data, tail) = rest.split_at_mut(w);
                        pad.fill(fill);
                        tail.fill(fill);
                        for ((((d, &a), &b), &c), &e) in
                            data.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3)
                        {
                            *d = (u32::from_le_bytes([a, b, c, e]) ^ flips) as i32;
                        }
                    } else {
                        // Column pl + xx goes to phase (pl + xx) % sw at
                        // (pl + xx) / sw, stepped without a division per code.
                        let (mut q, mut r) = (pl / sw, pl % sw);
                        for xx in 0..w {
                            dst[r * l.phase + q] = word(xx) as i32;
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

/// Raw weight bytes per (group, channel block, tap, channel of the block).
fn pack_weights(s: &ConvShape, weight: &[i8], ocb: usize, l: &Layout, buf: &mut Vec<i32>) {
    let cin_g = s.in_channels / s.groups;
    let cout_g = s.out_channels / s.groups;
    let (kh, kw) = (s.kernel[0], s.kernel[1]);
    let blocks = cout_g.div_ceil(ocb);
    let taps = l.pairs * kh * kw;
    buf.clear();
    buf.resize(s.groups * blocks * taps * ocb, 0);
    for g in 0..s.groups {
        for b in 0..blocks {
            for j in 0..ocb.min(cout_g - b * ocb) {
                let oc = g * cout_g + b * ocb + j;
                let mut t = 0;
                for p in 0..l.pairs {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let q = [0, 1, 2, 3].map(|c| {
                                let ic = 4 * p + c;
                                if ic < cin_g {
                                    weight[((oc * cin_g + ic) * kh + ky) * kw + kx] as u8
                                } else {
                                    0
                                }
                            });
                            buf[((g * blocks + b) * taps + t) * ocb + j] = i32::from_le_bytes(q);
                            t += 1;
                        }
                    }
                }
            }
        }
    }
}
