use super::*;
use crate::conv::{ConvShape, IntConv};
use crate::testing::{shape, Case, Lcg};

/// The reference: every tap of every output pixel, summed in int64
/// (`IntConv::taps_of`).
fn naive(c: &IntConv) -> Vec<i64> {
    let s = c.shape;
    let (oh, ow) = s.output_hw();
    let mut out = vec![];
    for n in 0..s.batch {
        for oc in 0..s.out_channels {
            for y in 0..oh {
                for x in 0..ow {
                    out.push(c.taps_of(n, oc, y, x).iter().map(|t| t.product).sum());
                }
            }
        }
    }
    out
}

/// Runs every pair kernel of this CPU on `c` and compares with the taps.
fn check(c: &IntConv, isas: &[Isa]) {
    let s = c.shape;
    let per = s.weight_len() / s.out_channels;
    let zp = |oc: usize| {
        c.weight_zero_points[if c.weight_zero_points.len() == 1 {
            0
        } else {
            oc
        }]
    };
    let wz: Vec<i64> = c
        .weight
        .iter()
        .enumerate()
        .map(|(i, &q)| q as i64 - zp(i / per))
        .collect();
    let want: Vec<i32> = naive(c)
        .into_iter()
        .map(|v| i32::try_from(v).unwrap())
        .collect();
    let mut bufs = PairBuffers::default();
    #[cfg(target_arch = "x86_64")]
    if quads::available() {
        let zu = quads::byte_zero_point(c.input, c.input_zero_point).unwrap();
        for _ in 0..2 {
            let mut out = vec![i32::MIN; s.output_len()];
            quads::accumulate(
                quads::Products::Exact,
                s,
                c.input,
                zu,
                c.weight,
                c.weight_zero_points,
                &mut bufs,
                &mut out,
            );
            assert_eq!(out, want, "quads {s:?} zx {}", c.input_zero_point);
        }
    }
    for &isa in isas {
        // Twice with the same buffers: stale contents of a reused buffer must not leak.
        for _ in 0..2 {
            let mut out = vec![i32::MIN; s.output_len()];
            accumulate(
                isa,
                s,
                c.input,
                c.input_zero_point as i32,
                &wz,
                &mut bufs,
                &mut out,
            );
            assert_eq!(out, want, "{isa:?} {s:?} zx {}", c.input_zero_point);
        }
    }
}

fn geometries() -> Vec<ConvShape> {
    let cases: [Case; 12] = [
        (8, 8, 1, 9, 56, [3, 3], [1, 1], [1, 1], None, [1, 1], 1),
        (8, 8, 1, 5, 33, [3, 3], [1, 1], [1, 1], None, [1, 1], 1),
        (3, 5, 1, 7, 13, [3, 3], [1, 1], [1, 1], None, [1, 1], 2),
        (5, 9, 1, 11, 17, [3, 3], [2, 2], [1, 1], None, [1, 1], 1),
        (
            4,
            6,
            2,
            12,
            19,
            [3, 2],
            [1, 3],
            [0, 2],
            Some([2, 0]),
            [2, 3],
            1,
        ),
        (6, 6, 3, 8, 40, [3, 3], [2, 1], [2, 2], None, [2, 2], 1),
        (12, 12, 12, 6, 7, [1, 1], [1, 1], [0, 0], None, [1, 1], 2),
        (1, 1, 1, 4, 4, [1, 1], [1, 1], [0, 0], None, [1, 1], 1),
        (16, 20, 1, 6, 70, [5, 5], [1, 1], [2, 2], None, [1, 1], 1),
        (7, 3, 1, 10, 1, [3, 1], [1, 1], [1, 0], None, [1, 1], 1),
        (64, 64, 1, 5, 56, [3, 3], [1, 1], [1, 1], None, [1, 1], 1),
        (
            9,
            9,
            3,
            9,
            21,
            [3, 3],
            [3, 2],
            [1, 1],
            Some([0, 3]),
            [1, 2],
            1,
        ),
    ];
    cases.into_iter().map(shape).collect()
}

#[test]
fn every_pair_kernel_matches_the_taps() {
    let isas = available();
    eprintln!("pair kernels here: {isas:?}");
    let mut r = Lcg(7);
    for s in geometries() {
        let x: Vec<u8> = (0..s.input_len()).map(|_| r.below(256) as u8).collect();
        let w: Vec<i8> = (0..s.weight_len())
            .map(|_| (r.below(256) as i64 - 128) as i8)
            .collect();
        let zps: Vec<i64> = (0..s.out_channels)
            .map(|_| r.below(21) as i64 - 10)
            .collect();
        for zx in [0, 3, 128, 255] {
            let c = IntConv {
                shape: &s,
                input: Codes::QUInt8(&x),
                input_zero_point: zx,
                weight: &w,
                weight_zero_points: &zps,
            };
            check(&c, &isas);
        }
        let xi: Vec<i8> = x.iter().map(|&q| q as i8).collect();
        for zx in [-128, 0, 127] {
            let c = IntConv {
                shape: &s,
                input: Codes::QInt8(&xi),
                input_zero_point: zx,
                weight: &w,
                weight_zero_points: &[0],
            };
            check(&c, &isas);
        }
    }
}

/// Extreme codes: centred inputs of ±255 against weights -128/127 with zero
/// points that push the centred weights to ±255 too.
#[test]
fn extreme_codes_are_exact() {
    let isas = available();
    for s in geometries() {
        for (xv, zx) in [(0u8, 255i64), (255, 0)] {
            for (wv, zw) in [(-128i8, 127i64), (127, -128), (-128, 0), (127, 0)] {
                let x: Vec<u8> = (0..s.input_len())
                    .map(|i| if i % 7 == 3 { 255 - xv } else { xv })
                    .collect();
                let w: Vec<i8> = (0..s.weight_len())
                    .map(|i| if i % 5 == 1 { !wv } else { wv })
                    .collect();
                let c = IntConv {
                    shape: &s,
                    input: Codes::QUInt8(&x),
                    input_zero_point: zx,
                    weight: &w,
                    weight_zero_points: &[zw],
                };
                check(&c, &isas);
            }
        }
    }
}

/// A pair at the int16 extremes on both sides: -255·-255 + -255·-255 is the
/// largest pair sum of 8-bit codes and must not wrap.
#[test]
fn largest_pair_sum_is_exact() {
    let s = ConvShape {
        batch: 1,
        in_channels: 2,
        out_channels: 1,
        height: 1,
        width: 40,
        kernel: [1, 1],
        stride: [1, 1],
        padding: [0, 0],
        padding_end: None,
        dilation: [1, 1],
        groups: 1,
    };
    let x = vec![0u8; s.input_len()];
    let c = IntConv {
        shape: &s,
        input: Codes::QUInt8(&x),
        input_zero_point: 255,
        weight: &[-128, -128],
        weight_zero_points: &[127],
    };
    check(&c, &available());
    assert_eq!(naive(&c)[0], 2 * 255 * 255);
}
