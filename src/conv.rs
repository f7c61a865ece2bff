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
    pub padding: [usize; 2],
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
        if self.in_channels % self.groups != 0 || self.out_channels % self.groups != 0 {
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
                .checked_mul(2)
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
            (n + 2 * self.padding[a]).saturating_sub(span) / self.stride[a].max(1) + 1
        };
        (o(self.height, 0), o(self.width, 1))
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

/// The integer operands of a conv: codes, zero points, shape.
#[derive(Debug, Clone, PartialEq)]
pub struct IntConv<'a> {
    pub shape: &'a ConvShape,
    pub input: &'a [i64],
    pub input_zero_point: i64,
    pub weight: &'a [i64],
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

    fn wzp(&self, oc: usize) -> i64 {
        if self.weight_zero_points.len() == 1 {
            self.weight_zero_points[0]
        } else {
            self.weight_zero_points[oc]
        }
    }

    /// Exact accumulators, flat NCHW over the output. Uses int32 lanes when no
    /// sum can leave int32 (always, for 8-bit operands and realistic kernels),
    /// otherwise int64 with an explicit overflow check.
    pub fn accumulate(&self) -> Result<Vec<i32>> {
        self.validate()?;
        let s = self.shape;
        let max_x = self
            .input
            .iter()
            .map(|&q| (q - self.input_zero_point).unsigned_abs())
            .max()
            .unwrap_or(0);
        let max_w = (0..s.out_channels)
            .map(|oc| {
                let per = s.weight_len() / s.out_channels;
                self.weight[oc * per..(oc + 1) * per]
                    .iter()
                    .map(|&q| (q - self.wzp(oc)).unsigned_abs())
                    .max()
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0);
        let bound = (max_x as u128) * (max_w as u128) * (s.taps() as u128);
        if bound <= i32::MAX as u128 {
            let xz: Vec<i32> = self
                .input
                .iter()
                .map(|&q| (q - self.input_zero_point) as i32)
                .collect();
            let wz: Vec<i32> = self
                .weight_zero_centered()
                .iter()
                .map(|&v| v as i32)
                .collect();
            Ok(conv_i32(s, &xz, &wz))
        } else {
            let xz: Vec<i64> = self
                .input
                .iter()
                .map(|&q| q - self.input_zero_point)
                .collect();
            let wz = self.weight_zero_centered();
            let acc = conv_direct::<i64>(s, &xz, &wz);
            let per = acc.len() / (s.batch * s.out_channels);
            acc.iter()
                .enumerate()
                .map(|(i, &v)| {
                    i32::try_from(v).map_err(|_| Error::AccumulatorOverflow {
                        channel: (i / per) % s.out_channels,
                        value: v,
                    })
                })
                .collect()
        }
    }

    fn weight_zero_centered(&self) -> Vec<i64> {
        let per = self.shape.weight_len() / self.shape.out_channels;
        self.weight
            .iter()
            .enumerate()
            .map(|(i, &q)| q - self.wzp(i / per))
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
                    let w = self.weight[((oc * cin_g + icg) * s.kernel[0] + ky) * s.kernel[1] + kx];
                    let inside =
                        iy >= 0 && ix >= 0 && (iy as usize) < s.height && (ix as usize) < s.width;
                    let (input_yx, qx, product) = if inside {
                        let (iy, ix) = (iy as usize, ix as usize);
                        let qx =
                            self.input[((n * s.in_channels + ic) * s.height + iy) * s.width + ix];
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

fn conv_i32(s: &ConvShape, x: &[i32], w: &[i32]) -> Vec<i32> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { conv_i32_avx2(s, x, w) };
    }
    conv_direct::<i32>(s, x, w)
}

/// The same loops compiled for AVX2 (8 int32 lanes, `vpmulld`); exact integers either way.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn conv_i32_avx2(s: &ConvShape, x: &[i32], w: &[i32]) -> Vec<i32> {
    conv_direct::<i32>(s, x, w)
}

/// Integer lanes the direct convolution runs on.
trait Lane: Copy + Default + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> {}
impl Lane for i32 {}
impl Lane for i64 {}

/// Direct convolution, output-row major: an output row stays in L1 while every
/// tap adds one contiguous pass over it, which the compiler vectorises for stride 1.
#[inline(always)]
fn conv_direct<T: Lane>(s: &ConvShape, x: &[T], w: &[T]) -> Vec<T> {
    let (oh, ow) = s.output_hw();
    let cin_g = s.in_channels / s.groups;
    let cout_g = s.out_channels / s.groups;
    let (kh, kw) = (s.kernel[0], s.kernel[1]);
    let mut out = vec![T::default(); s.output_len()];
    // For each kx: the range of output columns whose input column is inside.
    let col_range: Vec<(usize, usize)> = (0..kw)
        .map(|kx| {
            let off = (kx * s.dilation[1]) as isize - s.padding[1] as isize;
            let first = (0..ow).find(|&ox| {
                let ix = (ox * s.stride[1]) as isize + off;
                ix >= 0 && (ix as usize) < s.width
            });
            match first {
                None => (0, 0),
                Some(f) => {
                    let last = (f..ow)
                        .take_while(|&ox| ((ox * s.stride[1]) as isize + off) < s.width as isize)
                        .last()
                        .unwrap_or(f);
                    (f, last + 1)
                }
            }
        })
        .collect();
    for n in 0..s.batch {
        for oc in 0..s.out_channels {
            let g = oc / cout_g;
            let obase = (n * s.out_channels + oc) * oh * ow;
            let plane = &mut out[obase..obase + oh * ow];
            for oy in 0..oh {
                let orow_all = &mut plane[oy * ow..(oy + 1) * ow];
                for icg in 0..cin_g {
                    let ic = g * cin_g + icg;
                    let xplane =
                        &x[(n * s.in_channels + ic) * s.height * s.width..][..s.height * s.width];
                    for ky in 0..kh {
                        let iy = (oy * s.stride[0] + ky * s.dilation[0]) as isize
                            - s.padding[0] as isize;
                        if iy < 0 || iy as usize >= s.height {
                            continue;
                        }
                        let xrow = &xplane[iy as usize * s.width..][..s.width];
                        for kx in 0..kw {
                            let wv = w[((oc * cin_g + icg) * kh + ky) * kw + kx];
                            let (c0, c1) = col_range[kx];
                            if c0 >= c1 {
                                continue;
                            }
                            let xoff = (c0 * s.stride[1] + kx * s.dilation[1]) - s.padding[1];
                            let orow = &mut orow_all[c0..c1];
                            if s.stride[1] == 1 {
                                for (o, &xv) in orow.iter_mut().zip(&xrow[xoff..xoff + (c1 - c0)]) {
                                    *o = *o + xv * wv;
                                }
                            } else {
                                for (j, o) in orow.iter_mut().enumerate() {
                                    *o = *o + xrow[xoff + j * s.stride[1]] * wv;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
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
            let x: Vec<i64> = (0..s.input_len()).map(|_| rnd(256)).collect();
            let wq: Vec<i64> = (0..s.weight_len()).map(|_| rnd(255) - 127).collect();
            let zps: Vec<i64> = (0..cout).map(|_| rnd(11) - 5).collect();
            let c = IntConv {
                shape: &s,
                input: &x,
                input_zero_point: 17,
                weight: &wq,
                weight_zero_points: &zps,
            };
            assert_eq!(c.accumulate().unwrap(), naive(&c), "{s:?}");
        }
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
            input: &[1, 2, 3],
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
        // Codes far outside 8 bits make the sum leave int32.
        let s = shape(1, 1, 1, 1, 0, 1);
        let c = IntConv {
            shape: &s,
            input: &[1 << 20],
            input_zero_point: 0,
            weight: &[1 << 20],
            weight_zero_points: &[0],
        };
        assert!(matches!(
            c.accumulate(),
            Err(Error::AccumulatorOverflow { .. })
        ));
    }
}
