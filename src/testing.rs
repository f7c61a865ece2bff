//! Test support shared by the native unit tests and the browser tests
//! (`tests/web.rs` sees only the library's public items): a seeded generator,
//! conv shapes from one-line cases, and the convs that exercise fbgemm's
//! saturating int16 pairs. Not used by the engine.
use crate::conv::{Codes, ConvShape, IntConv};

/// A linear congruential generator: the same numbers on every target.
pub struct Lcg(pub u64);

impl Lcg {
    /// A number in `0..m`.
    pub fn below(&mut self, m: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % m
    }
}

/// (in channels, out channels, groups, height, width, kernel, stride, padding,
/// padding at the end, dilation, batch)
pub type Case = (
    usize,
    usize,
    usize,
    usize,
    usize,
    [usize; 2],
    [usize; 2],
    [usize; 2],
    Option<[usize; 2]>,
    [usize; 2],
    usize,
);

/// The shape of a case (checked valid).
pub fn shape(c: Case) -> ConvShape {
    let (cin, cout, groups, height, width, kernel, stride, padding, padding_end, dilation, batch) =
        c;
    let s = ConvShape {
        batch,
        in_channels: cin,
        out_channels: cout,
        height,
        width,
        kernel,
        stride,
        padding,
        padding_end,
        dilation,
        groups,
    };
    s.validate().expect("a valid test shape");
    s
}

/// One conv's codes and zero points (quint8 input, qint8 weights).
pub struct Conv {
    pub shape: ConvShape,
    pub x: Vec<u8>,
    pub zx: i64,
    pub w: Vec<i8>,
    pub zw: Vec<i64>,
    /// How the codes were drawn (see [`saturating_convs`]).
    pub mode: usize,
}

impl Conv {
    pub fn int_conv(&self) -> IntConv<'_> {
        IntConv {
            shape: &self.shape,
            input: Codes::QUInt8(&self.x),
            input_zero_point: self.zx,
            weight: &self.w,
            weight_zero_points: &self.zw,
        }
    }
}

/// Convs for fbgemm's saturating pairs: odd widths, strides, dilations, uneven
/// padding, groups, batches, an odd channel count per group (pairs across
/// taps); each in four modes: 0 random codes, 1 all 255 x 127 (every pair
/// saturates high), 2 255 x -128 (low), 3 large codes of random sign. Zero
/// points per tensor and per channel, blocks of channels without one.
pub fn saturating_convs() -> Vec<Conv> {
    let cases: [Case; 11] = [
        (2, 1, 1, 1, 1, [1, 1], [1, 1], [0, 0], None, [1, 1], 1),
        (8, 8, 1, 16, 16, [3, 3], [1, 1], [1, 1], None, [1, 1], 1),
        (8, 16, 1, 9, 37, [3, 3], [1, 1], [1, 1], None, [1, 1], 2),
        (6, 5, 1, 7, 23, [2, 3], [2, 1], [1, 2], None, [1, 1], 1),
        (
            12,
            6,
            3,
            8,
            19,
            [3, 3],
            [1, 2],
            [2, 1],
            Some([0, 3]),
            [2, 1],
            2,
        ),
        (64, 64, 8, 6, 17, [3, 3], [1, 1], [1, 1], None, [1, 1], 1),
        (16, 16, 1, 5, 40, [3, 3], [2, 2], [1, 1], None, [1, 1], 1),
        (10, 7, 1, 4, 33, [1, 1], [1, 1], [0, 0], None, [1, 1], 1),
        (4, 3, 1, 3, 5, [1, 5], [1, 3], [0, 2], None, [1, 2], 1),
        (32, 10, 2, 5, 5, [5, 5], [1, 1], [2, 2], None, [1, 1], 1),
        (3, 4, 1, 6, 11, [3, 3], [1, 1], [1, 1], None, [1, 1], 1),
    ];
    let mut r = Lcg(11);
    let mut out = vec![];
    for case in cases {
        let s = shape(case);
        let cout = s.out_channels;
        for mode in 0..4 {
            let x: Vec<u8> = (0..s.input_len())
                .map(|_| match mode {
                    0 => r.below(256) as u8,
                    1 | 2 => 255,
                    _ => 200 + r.below(56) as u8,
                })
                .collect();
            let w: Vec<i8> = (0..s.weight_len())
                .map(|_| match mode {
                    0 => (r.below(256) as i64 - 128) as i8,
                    1 => 127,
                    2 => -128,
                    _ if r.below(2) == 0 => 127 - r.below(8) as i8,
                    _ => -128 + r.below(8) as i8,
                })
                .collect();
            let zw: Vec<i64> = match mode {
                1 => vec![r.below(9) as i64 - 4],
                // Channel blocks without a zero point (a kernel may store
                // those outputs directly) next to blocks with one.
                3 => (0..cout)
                    .map(|oc| if oc % 8 < 4 { 0 } else { r.below(9) as i64 - 4 })
                    .collect(),
                _ => (0..cout).map(|_| r.below(255) as i64 - 127).collect(),
            };
            out.push(Conv {
                shape: s,
                x,
                zx: [3i64, 255, 0, 131][mode],
                w,
                zw,
                mode,
            });
        }
    }
    out
}
