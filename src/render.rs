//! The page's heatmap and session, in pure Rust (no wasm-bindgen), so that all
//! of it is unit-tested natively; `web` is a thin wasm-bindgen surface over it.
//!
//! - Colour scales: the difference A - B on a discrete diverging ColorBrewer
//!   PuOr scale (colour-blind safe; zero neutral; orange = A above B, purple =
//!   A below B), and the distance of A's value before rounding to a .5 boundary
//!   on a discrete sequential YlGnBu scale (dark = close to a tie).
//! - A clamp mark (an overlay in a corner of the cell, switchable) for pixels
//!   where A sits at its clamp limit; it never hides a difference colour.
//! - `paint` fills an RGBA buffer, one square cell per output pixel.
//! - `Session` holds the scenario, its last run and the reusable buffers, and
//!   turns a new scenario into a `Frame` (recomputing only when more than the
//!   view changed); on any error it keeps the last valid state.
use crate::scenario::Scenario;

use serde::Serialize;

pub type Rgba = [u8; 4];

const fn rgb(h: u32) -> Rgba {
    [(h >> 16) as u8, (h >> 8) as u8, h as u8, 255]
}

/// The zero class of the difference scale (no difference).
pub const NEUTRAL: Rgba = rgb(0xf7f7f7);
/// Marker for pixels where A is at its clamp limit (0, the ReLU floor, or 255).
pub const CLAMPED: Rgba = rgb(0x1a1a1a);
/// Gaps between cells when cells are large enough to show a grid.
pub const GRID: Rgba = rgb(0xffffff);
/// A pixel without a value (e.g. no value before rounding).
pub const NO_VALUE: Rgba = rgb(0xbdbdbd);

// ColorBrewer PuOr (Cynthia Brewer, colorbrewer2.org), orange to purple.
const PUOR3: [Rgba; 3] = [rgb(0xf1a340), rgb(0xf7f7f7), rgb(0x998ec3)];
const PUOR5: [Rgba; 5] = [
    rgb(0xe66101),
    rgb(0xfdb863),
    rgb(0xf7f7f7),
    rgb(0xb2abd2),
    rgb(0x5e3c99),
];
const PUOR7: [Rgba; 7] = [
    rgb(0xb35806),
    rgb(0xf1a340),
    rgb(0xfee0b6),
    rgb(0xf7f7f7),
    rgb(0xd8daeb),
    rgb(0x998ec3),
    rgb(0x542788),
];
const PUOR9: [Rgba; 9] = [
    rgb(0xb35806),
    rgb(0xe08214),
    rgb(0xfdb863),
    rgb(0xfee0b6),
    rgb(0xf7f7f7),
    rgb(0xd8daeb),
    rgb(0xb2abd2),
    rgb(0x8073ac),
    rgb(0x542788),
];

/// Differences beyond this many codes share the extreme class.
pub const MAX_CLASSES: i64 = 4;

/// Number of classes on each side of zero for a largest |A - B| of `max_abs`:
/// the ColorBrewer scheme with exactly that many classes, so that the common
/// case (differences of one code) gets strong colours.
pub fn classes(max_abs: i64) -> i64 {
    max_abs.clamp(0, MAX_CLASSES)
}

fn puor(k: i64) -> &'static [Rgba] {
    match k {
        1 => &PUOR3,
        2 => &PUOR5,
        3 => &PUOR7,
        _ => &PUOR9,
    }
}

/// Colour of a difference `d = A - B` when the largest |d| is `max_abs`.
pub fn diff_colour(d: i64, max_abs: i64) -> Rgba {
    let k = classes(max_abs);
    if d == 0 || k == 0 {
        return NEUTRAL;
    }
    let d = d.clamp(-k, k);
    puor(k)[(k - d) as usize]
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegendEntry {
    pub label: String,
    /// CSS colour, `#rrggbb`.
    pub colour: String,
}

pub fn css(c: Rgba) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

pub fn signed(d: i64) -> String {
    if d > 0 {
        format!("+{d}")
    } else if d < 0 {
        format!("\u{2212}{}", -d)
    } else {
        "0".into()
    }
}

/// Legend of the difference scale: one entry per integer class, most negative
/// first; the extremes say "or less"/"or more" when larger differences share them.
pub fn diff_legend(max_abs: i64) -> Vec<LegendEntry> {
    let k = classes(max_abs);
    (-k..=k)
        .map(|d| {
            let more = max_abs > k && d.abs() == k;
            let label = match (d, more) {
                (0, _) => "0".to_string(),
                (d, true) if d < 0 => format!("{} or less", signed(d)),
                (d, true) => format!("{} or more", signed(d)),
                (d, false) => signed(d),
            };
            LegendEntry {
                label,
                colour: css(diff_colour(d, max_abs)),
            }
        })
        .collect()
}

/// Distance of a value before rounding to the nearest .5 boundary (0 = an exact
/// tie, 0.5 = an integer). NaN when there is no value.
pub fn tie_distance(v: f64) -> f64 {
    if !v.is_finite() {
        return f64::NAN;
    }
    (v - (v.floor() + 0.5)).abs()
}

// ColorBrewer YlGnBu: far from a tie light, an exact tie darkest.
const TIE_BINS: [(f64, &str, Rgba); 6] = [
    (0.0, "exactly .5 (a tie)", rgb(0x0c2c84)),
    (1e-5, "within 1e-5 (a few float32 ulps)", rgb(0x1d91c0)),
    (1e-3, "within 0.001", rgb(0x41b6c4)),
    (1e-2, "within 0.01", rgb(0x7fcdbb)),
    (1e-1, "within 0.1", rgb(0xc7e9b4)),
    (0.5, "0.1 or more", rgb(0xffffcc)),
];

/// Class of a tie distance: 0 = exact tie .. 5 = far; None for NaN.
pub fn tie_class(dist: f64) -> Option<usize> {
    if dist.is_nan() {
        return None;
    }
    if dist == 0.0 {
        return Some(0);
    }
    TIE_BINS
        .iter()
        .skip(1)
        .position(|&(upper, _, _)| dist < upper)
        .map(|i| i + 1)
        .or(Some(TIE_BINS.len() - 1))
}

pub fn tie_colour(dist: f64) -> Rgba {
    tie_class(dist).map_or(NO_VALUE, |c| TIE_BINS[c].2)
}

/// Saturation map: which side's accumulator is not the exact sum.
pub const SAT_A: Rgba = rgb(0xe66101);
pub const SAT_B: Rgba = rgb(0x5e3c99);
pub const SAT_BOTH: Rgba = rgb(0x1b7837);

pub fn saturation_colour(a: bool, b: bool) -> Rgba {
    match (a, b) {
        (false, false) => NEUTRAL,
        (true, false) => SAT_A,
        (false, true) => SAT_B,
        (true, true) => SAT_BOTH,
    }
}

pub fn saturation_legend() -> Vec<LegendEntry> {
    [
        (NEUTRAL, "exact accumulator"),
        (SAT_A, "A's kernel saturated"),
        (SAT_B, "B's kernel saturated"),
        (SAT_BOTH, "both saturated"),
    ]
    .into_iter()
    .map(|(c, l)| LegendEntry {
        colour: css(c),
        label: l.into(),
    })
    .collect()
}

pub fn tie_legend() -> Vec<LegendEntry> {
    TIE_BINS
        .iter()
        .map(|&(_, label, c)| LegendEntry {
            label: label.into(),
            colour: css(c),
        })
        .collect()
}

/// Largest heatmap side in canvas pixels for small outputs (the page scales
/// the canvas up with CSS, pixelated; fewer pixels keep a repaint cheap).
pub const MAX_SIDE_PX: usize = 256;

/// Canvas pixels per output pixel: large cells for small outputs (the forum's
/// 4x16 gets 16 px cells), one pixel from 256 up.
pub fn cell_size(rows: usize, cols: usize) -> usize {
    (MAX_SIDE_PX / rows.max(cols).max(1)).clamp(1, 32)
}

/// Cells this large leave a 1 px grid line on their right and bottom edges.
pub const GRID_FROM: usize = 6;

/// Fill `buf` with `rows x cols` cells of `cell x cell` pixels, RGBA row-major.
/// `colour(i)` gives the fill of output pixel `i` (row-major) and whether it
/// carries the clamp mark. The mark is an overlay that never hides a
/// difference colour: a square in the cell's top-left corner (a third of the
/// cell) from 2 px cells up; in 1 px cells only a pixel without a difference
/// (neutral fill) takes the mark colour.
pub fn paint(
    buf: &mut Vec<u8>,
    rows: usize,
    cols: usize,
    cell: usize,
    mut colour: impl FnMut(usize) -> (Rgba, bool),
) {
    let width = cols * cell;
    let stride = width * 4;
    buf.clear();
    buf.resize(stride * rows * cell, 0);
    let gap = usize::from(cell >= GRID_FROM);
    let inner = cell - gap;
    let mark = (inner / 3).max(1);
    for (y, band) in buf.chunks_exact_mut(stride * cell).enumerate() {
        // The first pixel row of the band, then copies of it; marks last.
        let (first, rest) = band.split_at_mut(stride);
        let mut marks = false;
        for x in 0..cols {
            let (mut fill, marked) = colour(y * cols + x);
            if marked && cell == 1 && fill == NEUTRAL {
                fill = CLAMPED;
            }
            marks |= marked && cell > 1;
            let px = &mut first[x * cell * 4..(x + 1) * cell * 4];
            for (i, p) in px.chunks_exact_mut(4).enumerate() {
                p.copy_from_slice(if i < inner { &fill } else { &GRID });
            }
        }
        for (r, line) in rest.chunks_exact_mut(stride).enumerate() {
            if r + 1 < inner {
                line.copy_from_slice(first);
            } else {
                for p in line.chunks_exact_mut(4) {
                    p.copy_from_slice(&GRID);
                }
            }
        }
        if marks {
            for x in (0..cols).filter(|&x| colour(y * cols + x).1) {
                for line in band.chunks_exact_mut(stride).take(mark) {
                    for p in line[x * cell * 4..(x * cell + mark) * 4].chunks_exact_mut(4) {
                        p.copy_from_slice(&CLAMPED);
                    }
                }
            }
        }
    }
}

/// A float64 parameter as the kernels use it: its float32.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct F32Info {
    /// Shortest decimal that reads back to the same float32.
    pub decimal: String,
    /// IEEE bits, `0x%08x`.
    pub bits: String,
    /// Whether the float32 equals the float64 given.
    pub exact: bool,
}

pub fn f32_info(v: f64) -> F32Info {
    let f = v as f32;
    F32Info {
        decimal: f.to_string(),
        bits: format!("0x{:08x}", f.to_bits()),
        exact: f as f64 == v || v.is_nan(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Floats {
    pub input_scale: F32Info,
    pub output_scale: F32Info,
    pub weight_scales: Vec<F32Info>,
    /// The bias is float32 already: its shortest decimal.
    pub bias: Option<Vec<F32Info>>,
}

impl Floats {
    pub fn of(s: &Scenario) -> Floats {
        let p = &s.params;
        Floats {
            input_scale: f32_info(p.input_scale),
            output_scale: f32_info(p.output_scale),
            weight_scales: p.weight_scales.iter().map(|&v| f32_info(v)).collect(),
            bias: p
                .bias
                .as_ref()
                .map(|b| b.iter().map(|&v| f32_info(v as f64)).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_neutral_and_signs_differ() {
        for m in 0..8 {
            assert_eq!(diff_colour(0, m), NEUTRAL);
        }
        assert_ne!(diff_colour(1, 1), diff_colour(-1, 1));
        assert_ne!(diff_colour(1, 1), NEUTRAL);
        // Orange for A above B, purple below (ColorBrewer PuOr 3).
        assert_eq!(css(diff_colour(1, 1)), "#f1a340");
        assert_eq!(css(diff_colour(-1, 1)), "#998ec3");
    }

    #[test]
    fn extremes_saturate_beyond_four() {
        assert_eq!(diff_colour(9, 9), diff_colour(4, 9));
        assert_eq!(diff_colour(-100, 100), diff_colour(-4, 100));
        assert_ne!(diff_colour(3, 9), diff_colour(4, 9));
        // Every class is distinct and none is the clamp marker.
        let mut cs: Vec<Rgba> = (-4..=4).map(|d| diff_colour(d, 4)).collect();
        cs.push(CLAMPED);
        let n = cs.len();
        cs.sort();
        cs.dedup();
        assert_eq!(cs.len(), n);
    }

    #[test]
    fn legend_has_integer_ticks() {
        let l = diff_legend(1);
        let labels: Vec<&str> = l.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, ["\u{2212}1", "0", "+1"]);
        let l = diff_legend(7);
        assert_eq!(l.len(), 9);
        assert_eq!(l[0].label, "\u{2212}4 or less");
        assert_eq!(l[8].label, "+4 or more");
        assert_eq!(l[4].colour, "#f7f7f7");
        assert_eq!(diff_legend(0).len(), 1);
        assert_eq!(diff_legend(3)[0].label, "\u{2212}3");
    }

    #[test]
    fn tie_distance_and_classes() {
        assert_eq!(tie_distance(23.5), 0.0);
        assert_eq!(tie_distance(-2.5), 0.0);
        assert_eq!(tie_distance(30.0), 0.5);
        assert!((tie_distance(30.309553) - 0.190447).abs() < 1e-9);
        assert!(tie_distance(f64::NAN).is_nan());
        assert_eq!(tie_class(0.0), Some(0));
        assert_eq!(tie_class(1e-7), Some(1));
        assert_eq!(tie_class(5e-4), Some(2));
        assert_eq!(tie_class(5e-3), Some(3));
        assert_eq!(tie_class(0.05), Some(4));
        assert_eq!(tie_class(0.3), Some(5));
        assert_eq!(tie_class(0.5), Some(5));
        assert_eq!(tie_class(f64::NAN), None);
        assert_eq!(tie_colour(f64::NAN), NO_VALUE);
        assert_eq!(tie_legend().len(), 6);
    }

    #[test]
    fn cell_sizes() {
        assert_eq!(cell_size(4, 16), 16);
        assert_eq!(cell_size(3, 3), 32);
        assert_eq!(cell_size(64, 64), 4);
        assert_eq!(cell_size(512, 512), 1);
        assert_eq!(cell_size(1000, 3), 1);
    }

    fn px(buf: &[u8], width: usize, x: usize, y: usize) -> Rgba {
        let o = (y * width + x) * 4;
        [buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]
    }

    #[test]
    fn paint_fills_cells_grid_and_corner_marks() {
        let mut buf = vec![];
        let red = rgb(0xff0000);
        paint(&mut buf, 2, 3, 8, |i| {
            if i == 4 {
                (red, true)
            } else {
                (NEUTRAL, false)
            }
        });
        assert_eq!(buf.len(), 3 * 8 * 2 * 8 * 4);
        let px = |x, y| px(&buf, 24, x, y);
        assert_eq!(px(0, 0), NEUTRAL);
        assert_eq!(px(7, 0), GRID); // grid column
                                    // A grid row; then cell (row 1, col 1): a 2 px mark in its top-left
                                    // corner, red elsewhere.
        assert_eq!(px(0, 7), GRID);
        assert_eq!(px(8, 8), CLAMPED);
        assert_eq!(px(9, 9), CLAMPED);
        assert_eq!(px(10, 8), red);
        assert_eq!(px(8 + 3, 8 + 3), red);
        assert_eq!(px(16, 8), NEUTRAL);
    }

    /// A clamped pixel that differs keeps its difference colour at every
    /// cell size: most of its cell (all of it at 1 px) shows the colour.
    #[test]
    fn clamp_marks_never_hide_difference_colours() {
        let mut buf = vec![];
        for d in [-4, -1, 1, 3] {
            let c = diff_colour(d, 4);
            for cell in 1..=32 {
                paint(&mut buf, 1, 2, cell, |i| (c, i == 1));
                let width = 2 * cell;
                let inner = cell - usize::from(cell >= GRID_FROM);
                let shown = (0..inner)
                    .flat_map(|y| (0..inner).map(move |x| (cell + x, y)))
                    .filter(|&(x, y)| px(&buf, width, x, y) == c)
                    .count();
                assert!(
                    shown * 4 >= inner * inner * 3,
                    "cell {cell}: {shown} of {}",
                    inner * inner
                );
                // The unmarked cell is all colour.
                assert_eq!(px(&buf, width, 0, 0), c);
            }
        }
        // In 1 px cells a clamped pixel without a difference takes the mark colour.
        paint(&mut buf, 1, 2, 1, |i| (NEUTRAL, i == 1));
        assert_eq!(&buf[0..4], &NEUTRAL);
        assert_eq!(&buf[4..8], &CLAMPED);
        // Without marks nothing is painted in the mark colour.
        paint(&mut buf, 3, 3, 16, |_| (diff_colour(1, 1), false));
        assert!(buf.chunks_exact(4).all(|p| p != CLAMPED));
    }

    #[test]
    fn f32_of_parameters() {
        let i = f32_info(0.007839367724955082);
        assert_eq!(i.decimal, "0.007839368");
        assert_eq!(i.bits, "0x3c0070b1");
        // The forum's scale is a float32 value already; 0.0078 is not.
        assert!(i.exact);
        assert!(!f32_info(0.0078).exact);
        assert_eq!(f32_info(0.0078).decimal, "0.0078");
        assert_eq!(f32_info(0.0317f32 as f64).decimal, "0.0317");
    }
}
