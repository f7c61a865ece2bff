//! fbgemm's depthwise conv kernels and their int16 pair saturation.
//!
//! For depthwise convs PyTorch's fbgemm engine does not run the GEMM (which, on
//! an AVX512-VNNI CPU, accumulates exactly) but a JIT-generated AVX2 kernel
//! (FBGEMM `src/GenerateI8Depthwise.cc`, `GenI8Depthwise::getOrCreate` and
//! `genMaddEpi16xNPacked`; driven by `depthwise_2d_same_pad` in
//! `src/FbgemmI8Depthwise2DAvx2-inl.h`). It multiplies the RAW codes (activation
//! as u8, weight as s8) with `vpmaddubsw`, which adds two neighbouring products
//! and saturates the sum to int16, and only afterwards applies the zero points:
//!
//! ```text
//! taps t = 0..K-1 in kernel row-major order (ky, kx); a_t = activation code,
//!          or the activation zero point for a tap in the padding; w_t = weight code
//! raw    = sum over j of sat16(a_2j * w_2j + a_2j+1 * w_2j+1)   (int16 saturation)
//!          + a_K-1 * w_K-1 when K is odd (alone: it cannot saturate)
//! acc    = raw - zw * sum(a_t) - zx * (sum(w_t) - zw * K)        (int32)
//! ```
//!
//! Without saturation `acc` is exactly `sum (a_t - zx) * (w_t - zw)`. A pair
//! saturates only when its two products have the same sign and add up past
//! 32767 (or below -32768), which needs activation codes above 127:
//! `reduce_range=True` keeps activations at or below 127 for this reason.
//! Everything after `vpmaddubsw` is exact: pairs of int16 sums are widened to
//! int32 with `vpmaddwd` against ones (or `vpmovsxwd`), the activation sums
//! (`row_offsets`, via `vpmaddubsw` against ones and `vpaddsw`) stay below 49 * 255,
//! and the corrections (`requantize_` in `src/FbgemmI8DepthwiseAvx2-inl.h`) are
//! int32 `mullo`/`sub`. The requantization that follows is the same float
//! arithmetic as the GEMM path, so these accumulators feed `Requant` unchanged.
use crate::conv::{ConvShape, IntConv};
use crate::error::{Error, Result};

/// The accumulators fbgemm computes for this conv: saturating pairs on its
/// depthwise kernel, exact sums on its GEMM path (AVX512-VNNI).
pub fn fbgemm_accumulate(conv: &IntConv) -> Result<Vec<i32>> {
    if !fbgemm_uses_depthwise(conv.shape, conv.weight_zero_points.len() > 1) {
        return conv.accumulate();
    }
    let x: Vec<i64> = (0..conv.input.len()).map(|i| conv.input.get(i)).collect();
    let w: Vec<i64> = conv.weight.iter().map(|&v| v as i64).collect();
    fbgemm_depthwise_accumulate(
        conv.shape,
        &x,
        conv.input_zero_point,
        &w,
        conv.weight_zero_points,
    )
}

/// Largest kernel the depthwise kernels take (7x7).
const MAX_TAPS: usize = 49;

/// True when PyTorch's fbgemm engine runs this conv on its depthwise kernel.
///
/// FBGEMM `takeDepthWiseFastPath` (`src/FbgemmConv.cc`, unchanged from 2022 to
/// the version in torch 2.5.1), with the conv parameters PyTorch's
/// `PackedConvWeight::apply_impl` (`aten/src/ATen/native/quantized/cpu/qconv.cpp`)
/// builds: `groups == in_channels`, `groups % 8 == 0`, `out_channels` equal to
/// `groups` or `2 * groups`, a square 3x3, 5x5 or 7x7 kernel, every stride 1 or 2,
/// no dilation, and padding `(k - 1) / 2` on each side ("same" padding). Any
/// batch size; per-tensor and per-channel weights alike (`per_channel` does not
/// change the decision: both granularities have a depthwise kernel), any zero points.
pub fn fbgemm_uses_depthwise(shape: &ConvShape, per_channel: bool) -> bool {
    let _ = per_channel;
    let g = shape.groups;
    let k = shape.kernel[0];
    g > 0
        && g == shape.in_channels
        && g.is_multiple_of(8)
        && (shape.out_channels == g || shape.out_channels == 2 * g)
        && shape.kernel[1] == k
        && matches!(k, 3 | 5 | 7)
        && shape.stride.iter().all(|&s| s == 1 || s == 2)
        && shape.dilation == [1, 1]
        && shape.padding == [(k - 1) / 2, (k - 1) / 2]
}

/// fbgemm's depthwise accumulators (flat NCHW like `IntConv::accumulate`), with the
/// int16 pair saturation, already corrected by the zero points so they can be fed
/// to the same requantization as the exact accumulators. `weight_zero_points` has
/// 1 entry (per-tensor) or one per channel.
///
/// Errors: the shape or the operand lengths are invalid (as `IntConv::validate`),
/// the shape is not one fbgemm runs on its depthwise kernel
/// ([`fbgemm_uses_depthwise`]), or a code or zero point is outside quint8
/// (activations) / qint8 (weights): the kernel's arithmetic is defined on 8-bit codes.
pub fn fbgemm_depthwise_accumulate(
    shape: &ConvShape,
    input: &[i64],
    input_zero_point: i64,
    weight: &[i64],
    weight_zero_points: &[i64],
) -> Result<Vec<i32>> {
    validate(shape, input, weight, weight_zero_points.len())?;
    if !fbgemm_uses_depthwise(shape, weight_zero_points.len() > 1) {
        return Err(Error::BadShape(format!(
            "fbgemm runs this conv on its GEMM path, not its depthwise kernel \
             (that needs groups = input channels, a multiple of 8, output channels = groups or 2 x groups, \
             a square 3x3/5x5/7x7 kernel, stride 1 or 2, no dilation and padding (k-1)/2); got \
             groups {}, {} -> {} channels, kernel {:?}, stride {:?}, padding {:?}, dilation {:?}",
            shape.groups,
            shape.in_channels,
            shape.out_channels,
            shape.kernel,
            shape.stride,
            shape.padding,
            shape.dilation
        )));
    }
    if !(0..=255).contains(&input_zero_point) {
        return Err(Error::BadZeroPoint {
            what: "input zero point".into(),
            value: input_zero_point,
            min: 0,
            max: 255,
        });
    }
    if let Some(&z) = weight_zero_points
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
    if let Some(i) = input.iter().position(|q| !(0..=255).contains(q)) {
        return Err(Error::BadValue(format!(
            "input code {} at index {i} is outside quint8 (0..=255)",
            input[i]
        )));
    }
    if let Some(i) = weight.iter().position(|q| !(-128..=127).contains(q)) {
        return Err(Error::BadValue(format!(
            "weight code {} at index {i} is outside qint8 (-128..=127)",
            weight[i]
        )));
    }

    let s = shape;
    let (oh, ow) = s.output_hw();
    let (kh, kw) = (s.kernel[0], s.kernel[1]);
    let taps = kh * kw;
    let mult = s.out_channels / s.in_channels;
    let zx = input_zero_point as i32;
    let mut out = Vec::with_capacity(s.output_len());
    let mut a = [0i32; MAX_TAPS];
    for n in 0..s.batch {
        for oc in 0..s.out_channels {
            let ic = oc / mult;
            let zw = if weight_zero_points.len() == 1 {
                weight_zero_points[0]
            } else {
                weight_zero_points[oc]
            } as i32;
            let w: Vec<i32> = weight[oc * taps..(oc + 1) * taps]
                .iter()
                .map(|&v| v as i32)
                .collect();
            // Column offset as PyTorch packs it: sum(w) - zw * K.
            let col_offset = w.iter().sum::<i32>() - zw * taps as i32;
            let xplane =
                &input[(n * s.in_channels + ic) * s.height * s.width..][..s.height * s.width];
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut t = 0;
                    for ky in 0..kh {
                        let iy = (oy * s.stride[0] + ky) as isize - s.padding[0] as isize;
                        for kx in 0..kw {
                            let ix = (ox * s.stride[1] + kx) as isize - s.padding[1] as isize;
                            a[t] = if iy >= 0
                                && ix >= 0
                                && (iy as usize) < s.height
                                && (ix as usize) < s.width
                            {
                                xplane[iy as usize * s.width + ix as usize] as i32
                            } else {
                                zx
                            };
                            t += 1;
                        }
                    }
                    let a = &a[..taps];
                    out.push(pixel(a, &w, zx, zw, col_offset));
                }
            }
        }
    }
    Ok(out)
}

/// The checks of `IntConv::validate`: a valid shape, operand lengths that fit
/// it, one weight zero point or one per output channel.
fn validate(shape: &ConvShape, input: &[i64], weight: &[i64], zero_points: usize) -> Result<()> {
    shape.validate()?;
    if input.len() != shape.input_len() {
        return Err(Error::BadShape(format!(
            "input has {} values, shape needs {}",
            input.len(),
            shape.input_len()
        )));
    }
    if weight.len() != shape.weight_len() {
        return Err(Error::BadShape(format!(
            "weight has {} values, shape needs {}",
            weight.len(),
            shape.weight_len()
        )));
    }
    if zero_points != 1 && zero_points != shape.out_channels {
        return Err(Error::BadShape(format!(
            "{zero_points} weight zero points for {} output channels",
            shape.out_channels
        )));
    }
    Ok(())
}

/// One accumulator from its taps (activation codes with padding already filled
/// in, weight codes, in kernel row-major order).
#[inline]
fn pixel(a: &[i32], w: &[i32], zx: i32, zw: i32, col_offset: i32) -> i32 {
    let mut raw = 0i32;
    let mut row_offset = 0i32;
    for (ap, wp) in a.chunks(2).zip(w.chunks(2)) {
        let pair: i32 = ap.iter().zip(wp).map(|(&x, &w)| x * w).sum();
        raw += pair.clamp(i16::MIN as i32, i16::MAX as i32);
        row_offset += ap.iter().sum::<i32>();
    }
    raw - zw * row_offset - zx * col_offset
}

/// The int16 pair sums of one output pixel as fbgemm forms them: for each pair
/// of taps (kernel row-major index `2j`, `2j+1`; the last tap alone when the count
/// is odd), the exact raw-code sum `qx*qw + qx'*qw'` and what `vpmaddubsw` keeps
/// (saturated to int16). Padded taps use the activation zero point. For traces.
#[allow(clippy::too_many_arguments)]
pub fn fbgemm_depthwise_pairs(
    shape: &ConvShape,
    input: &[i64],
    input_zero_point: i64,
    weight: &[i64],
    n: usize,
    oc: usize,
    oy: usize,
    ox: usize,
) -> Result<Vec<(i64, i64)>> {
    let s = shape;
    validate(shape, input, weight, 1)?;
    let (oh, ow) = s.output_hw();
    if !fbgemm_uses_depthwise(s, false)
        || n >= s.batch
        || oc >= s.out_channels
        || oy >= oh
        || ox >= ow
    {
        return Err(Error::BadShape(
            "not a depthwise-kernel conv, or pixel outside the output".into(),
        ));
    }
    let (kh, kw) = (s.kernel[0], s.kernel[1]);
    let ic = oc / (s.out_channels / s.in_channels);
    let mut prods = Vec::with_capacity(kh * kw);
    for ky in 0..kh {
        for kx in 0..kw {
            let iy = (oy * s.stride[0] + ky) as isize - s.padding[0] as isize;
            let ix = (ox * s.stride[1] + kx) as isize - s.padding[1] as isize;
            let x = if iy >= 0 && ix >= 0 && (iy as usize) < s.height && (ix as usize) < s.width {
                input[((n * s.in_channels + ic) * s.height + iy as usize) * s.width + ix as usize]
            } else {
                input_zero_point
            };
            prods.push(x * weight[(oc * kh + ky) * kw + kx]);
        }
    }
    Ok(prods
        .chunks(2)
        .map(|p| {
            let sum: i64 = p.iter().sum();
            (sum, sum.clamp(i16::MIN as i64, i16::MAX as i64))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dw(c: usize, mult: usize, h: usize, w: usize, k: usize, stride: [usize; 2]) -> ConvShape {
        ConvShape {
            batch: 1,
            in_channels: c,
            out_channels: c * mult,
            height: h,
            width: w,
            kernel: [k, k],
            stride,
            padding: [(k - 1) / 2, (k - 1) / 2],
            padding_end: None,
            dilation: [1, 1],
            groups: c,
        }
    }

    /// Exact `sum (qx - zx) * (qw - zw)`: the engine's own accumulation.
    fn exact(s: &ConvShape, x: &[i64], zx: i64, w: &[i64], zw: &[i64]) -> Vec<i32> {
        let x: Vec<u8> = x.iter().map(|&v| v as u8).collect();
        let w: Vec<i8> = w.iter().map(|&v| v as i8).collect();
        IntConv {
            shape: s,
            input: crate::conv::Codes::QUInt8(&x),
            input_zero_point: zx,
            weight: &w,
            weight_zero_points: zw,
        }
        .accumulate()
        .expect("a valid conv")
    }

    /// 8 channels of 3x3 input, all codes 255, all weights 127, zero points 0.
    /// Checked against torch 2.5.1 (fbgemm, output scale 1000 with sx = sw = 1:
    /// codes 98 130 98 / 162 163 130 / 98 98 98, where the exact sums give 255).
    /// Every full pair is 2 * 255 * 127 = 64770 -> 32767; a pair with one padded
    /// tap keeps 32385. Pairs follow the kernel's row-major tap index, not its rows,
    /// so the plane is not symmetric: top middle 130304, bottom middle 98301.
    #[test]
    fn saturating_pairs_all_255() {
        let s = dw(8, 1, 3, 3, 3, [1, 1]);
        let x = vec![255i64; 8 * 9];
        let w = vec![127i64; 8 * 9];
        let got = fbgemm_depthwise_accumulate(&s, &x, 0, &w, &[0]).unwrap();
        let plane = [
            97537, 130304, 97537, 162307, 163453, 130304, 97537, 98301, 97537,
        ];
        for c in 0..8 {
            assert_eq!(&got[c * 9..(c + 1) * 9], &plane, "channel {c}");
        }
        let ex = exact(&s, &x, 0, &w, &[0]);
        assert_eq!(
            &ex[..9],
            &[129540, 194310, 129540, 194310, 291465, 194310, 129540, 194310, 129540]
        );
        let pairs = fbgemm_depthwise_pairs(&s, &x, 0, &w, 0, 0, 1, 1).unwrap();
        assert_eq!(
            pairs,
            vec![(64770, 32767); 4]
                .into_iter()
                .chain([(32385, 32385)])
                .collect::<Vec<_>>()
        );
    }

    /// Channel multiplier 2, per-channel weight zero points, input zero point 37
    /// (padding filled with it), stride 2: 16 accumulators, matched against torch
    /// 2.5.1 output codes at six output scales / zero points (all 16 differ from
    /// the exact accumulation's codes).
    #[test]
    fn multiplier_two_per_channel_zero_points() {
        let s = dw(8, 2, 2, 2, 3, [2, 2]);
        let x: Vec<i64> = (0..32).map(|i| 255 - (i * 37) % 90).collect();
        let w: Vec<i64> = (0..144)
            .map(|i| (127 - (i * 13) % 40) * if (i / 9) % 3 != 0 { 1 } else { -1 })
            .collect();
        let zw: Vec<i64> = (0..16).map(|o| (o * 7) % 11 - 5).collect();
        let got = fbgemm_depthwise_accumulate(&s, &x, 37, &w, &zw).unwrap();
        assert_eq!(
            got,
            [
                -58034, 61054, 62293, -65081, 61093, 66392, -66246, 64386, 63545, -59363, 65373,
                69324, -64594, 65466, 59399, -64071
            ]
        );
        assert_eq!(
            exact(&s, &x, 37, &w, &zw),
            [
                -76827, 81267, 80363, -84491, 79297, 76699, -76261, 75587, 71791, -62075, 75497,
                80747, -74013, 76107, 68973, -74787
            ]
        );
    }

    /// Without saturation (activations <= 127) the kernel equals the exact sum,
    /// whatever the zero points, kernel size, stride, padding at the borders.
    #[test]
    fn equals_exact_without_saturation() {
        let mut seed = 99u64;
        let mut rnd = |m: i64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as i64) % m
        };
        for &(c, mult, h, w, k, st) in &[
            (8, 1, 5, 7, 3, [1, 1]),
            (16, 2, 6, 4, 5, [2, 1]),
            (8, 1, 1, 2, 7, [2, 2]),
            (24, 1, 9, 9, 7, [1, 2]),
        ] {
            let mut s = dw(c, mult, h, w, k, st);
            s.batch = 2;
            let x: Vec<i64> = (0..s.input_len()).map(|_| rnd(128)).collect();
            let wq: Vec<i64> = (0..s.weight_len()).map(|_| rnd(256) - 128).collect();
            let zx = rnd(128);
            for zw in [
                vec![0],
                vec![rnd(41) - 20],
                (0..s.out_channels).map(|_| rnd(41) - 20).collect(),
            ] {
                assert_eq!(
                    fbgemm_depthwise_accumulate(&s, &x, zx, &wq, &zw).unwrap(),
                    exact(&s, &x, zx, &wq, &zw),
                    "{s:?}"
                );
            }
        }
    }

    #[test]
    fn which_shapes_take_the_kernel() {
        let base = dw(8, 1, 6, 6, 3, [1, 1]);
        assert!(fbgemm_uses_depthwise(&base, false));
        assert!(fbgemm_uses_depthwise(&base, true));
        assert!(fbgemm_uses_depthwise(&dw(32, 2, 6, 6, 5, [2, 1]), false));
        assert!(fbgemm_uses_depthwise(&dw(64, 1, 6, 6, 7, [2, 2]), true));
        let not = |f: &dyn Fn(&mut ConvShape)| {
            let mut s = base;
            f(&mut s);
            assert!(!fbgemm_uses_depthwise(&s, false), "{s:?}");
        };
        not(&|s| {
            s.in_channels = 4;
            s.out_channels = 4;
            s.groups = 4
        });
        not(&|s| {
            s.in_channels = 12;
            s.out_channels = 12;
            s.groups = 12
        });
        not(&|s| s.out_channels = 24);
        not(&|s| s.groups = 1);
        not(&|s| s.kernel = [3, 5]);
        not(&|s| {
            s.kernel = [1, 1];
            s.padding = [0, 0]
        });
        not(&|s| {
            s.kernel = [9, 9];
            s.padding = [4, 4]
        });
        not(&|s| s.padding = [0, 0]);
        not(&|s| s.padding = [1, 0]);
        not(&|s| s.padding = [2, 2]);
        not(&|s| s.stride = [3, 1]);
        not(&|s| {
            s.dilation = [2, 2];
            s.padding = [2, 2]
        });
    }

    #[test]
    fn refuses_bad_operands() {
        let s = dw(8, 1, 3, 3, 3, [1, 1]);
        let x = vec![0i64; 72];
        let w = vec![0i64; 72];
        assert!(fbgemm_depthwise_accumulate(&s, &x[..5], 0, &w, &[0]).is_err());
        assert!(fbgemm_depthwise_accumulate(&s, &x, 0, &w, &[0, 0]).is_err());
        assert!(fbgemm_depthwise_accumulate(&s, &x, 256, &w, &[0]).is_err());
        assert!(fbgemm_depthwise_accumulate(&s, &x, 0, &w, &[-129]).is_err());
        let mut bad = x.clone();
        bad[3] = 256;
        assert!(matches!(
            fbgemm_depthwise_accumulate(&s, &bad, 0, &w, &[0]),
            Err(Error::BadValue(_))
        ));
        let mut bad = w.clone();
        bad[3] = 128;
        assert!(fbgemm_depthwise_accumulate(&s, &x, 0, &bad, &[0]).is_err());
        let mut g = s;
        g.padding = [0, 0];
        assert!(matches!(
            fbgemm_depthwise_accumulate(&g, &x, 0, &w, &[0]),
            Err(Error::BadShape(_))
        ));
        let mut z = s;
        z.groups = 0;
        assert!(fbgemm_depthwise_accumulate(&z, &x, 0, &w, &[0]).is_err());
    }
}
