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
                for oy in 0..oh {
                    let row = base + oy * s.stride[0] * l.row;
                    for ox0 in (0..ow).step_by(cols) {
                        let (xp, wp, ap) = (b.x.as_ptr(), w.as_ptr(), b.acc.as_mut_ptr());
                        // SAFETY: as in `super::accumulate` (bounds asserted
                        // above); the caller checked the CPU.
                        unsafe {
                            let xp = xp.add(row + ox0);
                            match products {
                                Products::Exact => super::x86::tile_vnni_bytes(xp, &b.offs, wp, ap),
                                Products::SaturatingPairs => {
                                    super::x86::tile_avx2_bytes_sat(xp, &b.offs, wp, ap)
                                }
                            }
                        };
                        let len = cols.min(ow - ox0);
                        for j in 0..live {
                            let oc = oc0 + j;
                            let o = ((n * s.out_channels + oc) * oh + oy) * ow + ox0;
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
    match x {
        Codes::QUInt8(v) => pack_input_of(s, v, zu, l, buf, |q| q),
        Codes::QInt8(v) => pack_input_of(s, v, zu, l, buf, |q| (q as i16 + 128) as u8),
    }
}

fn pack_input_of<Q: Copy>(
    s: &ConvShape,
    x: &[Q],
    zu: u8,
    l: &Layout,
    buf: &mut Vec<i32>,
    byte: impl Fn(Q) -> u8,
) {
    let cin_g = s.in_channels / s.groups;
    let (h, w) = (s.height, s.width);
    let (sw, pl) = (s.stride[1], s.padding[1]);
    buf.clear();
    buf.resize(s.batch * s.groups * l.pairs * l.plane, 0);
    for n in 0..s.batch {
        for g in 0..s.groups {
            for p in 0..l.pairs {
                let real = (cin_g - 4 * p).min(4);
                let fill = u32::from_le_bytes([0, 1, 2, 3].map(|c| if c < real { zu } else { 0 }));
                let plane = &mut buf[((n * s.groups + g) * l.pairs + p) * l.plane..][..l.plane];
                plane.fill(fill as i32);
                for y in 0..h {
                    let dst = &mut plane[(y + s.padding[0]) * l.row..][..l.row];
                    for c in 0..real {
                        let src =
                            &x[((n * s.in_channels + g * cin_g + 4 * p + c) * h + y) * w..][..w];
                        let (shift, keep) = (8 * c as u32, !(0xffu32 << (8 * c)));
                        let (mut q, mut r) = (pl / sw, pl % sw);
                        for &v in src {
                            let d = &mut dst[r * l.phase + q];
                            *d = ((*d as u32 & keep) | (byte(v) as u32) << shift) as i32;
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
