//! The page's heatmap and session, in pure Rust (no wasm-bindgen), so that all
//! of it is unit-tested natively; `web` is a thin wasm-bindgen surface over it.
//!
//! - Colour scales: the difference A - B on a discrete diverging ColorBrewer
//!   PuOr scale (colour-blind safe; zero neutral; orange = A above B, purple =
//!   A below B), and the distance of A's value before rounding to a .5 boundary
//!   on a discrete sequential YlGnBu scale (dark = close to a tie).
//! - A separate marker colour for pixels where A sits at its clamp limit.
//! - `paint` fills an RGBA buffer, one square cell per output pixel.
//! - `Session` holds the scenario, its last run and the reusable buffers, and
//!   turns a new scenario into a `Frame` (recomputing only when more than the
//!   view changed); on any error it keeps the last valid state.
use crate::conv::Tap;
use crate::error::{Error, Result};
use crate::explain::{explain, Explanation};
use crate::scenario::{MapKind, Run, Scenario, View, Workspace};
use crate::trace::{key, Probe};
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

fn signed(d: i64) -> String {
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
/// Cells this large show the clamp marker as a dot; smaller ones show clamped
/// pixels without a difference in the marker colour instead.
pub const DOT_FROM: usize = 4;

/// Fill `buf` with `rows x cols` cells of `cell x cell` pixels, RGBA row-major.
/// `colour(i)` gives the fill of output pixel `i` (row-major) and whether it
/// carries the clamp marker.
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
    let dot = (inner / 3).max(2).min(inner);
    let dot_lo = (inner - dot) / 2;
    let dot_hi = dot_lo + dot;
    for (y, band) in buf.chunks_exact_mut(stride * cell).enumerate() {
        let (first, rest) = band.split_at_mut(stride);
        // The first pixel row of the band, then copies of it.
        let mut dots = false;
        for x in 0..cols {
            let (mut fill, marker) = colour(y * cols + x);
            if marker && cell < DOT_FROM && fill == NEUTRAL {
                fill = CLAMPED;
            }
            dots |= marker && cell >= DOT_FROM;
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
        if dots {
            for x in 0..cols {
                if !colour(y * cols + x).1 {
                    continue;
                }
                for r in dot_lo..dot_hi {
                    let line = &mut band[r * stride..(r + 1) * stride];
                    for c in dot_lo..dot_hi {
                        let o = (x * cell + c) * 4;
                        line[o..o + 4].copy_from_slice(&CLAMPED);
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

/// One differing pixel, for the heatmap's text alternative.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffPixel {
    pub row: usize,
    pub col: usize,
    pub a: i32,
    pub b: i32,
}

/// The selected pixel, explained.
#[derive(Debug, Clone, Serialize)]
pub struct Inspect {
    pub explanation: Explanation,
    /// The accumulator's taps in summation order.
    pub taps: Vec<Tap>,
    /// Whether A is clamped at this pixel.
    pub clamped: bool,
}

/// Everything the page shows for one state, except the pixel buffers.
#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    /// False when only the view changed (no engine run).
    pub recomputed: bool,
    /// The view actually shown (channel and pixel brought into range).
    pub view: View,
    pub rows: usize,
    pub cols: usize,
    pub channels: usize,
    /// Canvas pixels per output pixel; the canvas is `cols*cell x rows*cell`.
    pub cell: usize,
    pub width: usize,
    pub height: usize,
    pub a_name: String,
    pub b_name: String,
    pub a_title: String,
    pub b_title: String,
    /// Differing pixels in all channels, and per channel.
    pub differing: usize,
    pub differing_by_channel: Vec<usize>,
    /// Largest |A - B| over all channels (the colour scale spans it).
    pub max_abs_diff: i64,
    /// Pixels of the shown channel where A is clamped.
    pub clamped: usize,
    /// Pixels of the shown channel whose value before rounding (A) is an exact
    /// tie, and within 0.01 of one (computed for the tie map only).
    pub exact_ties: Option<usize>,
    pub near_ties: Option<usize>,
    pub legend_title: String,
    pub legend: Vec<LegendEntry>,
    pub clamp_colour: String,
    /// Differing pixels of the shown channel (at most `LIST_MAX`), and how many more.
    pub list: Vec<DiffPixel>,
    pub list_more: usize,
    pub inspect: Option<Inspect>,
    pub floats: Floats,
    /// Input codes when the input is small enough to type (`TYPED_MAX`).
    pub input_codes: Option<Vec<u8>>,
    /// One sentence describing the heatmap (its text alternative).
    pub summary: String,
}

pub const LIST_MAX: usize = 500;
pub const TYPED_MAX: usize = 4096;

/// The page's state: one scenario, its last run, reusable buffers.
#[derive(Default)]
pub struct Session {
    scenario: Option<Scenario>,
    run: Option<Run>,
    /// Buffers of replaced runs, reused by the next run.
    ws: Workspace,
    /// RGBA of the last frame.
    pub rgba: Vec<u8>,
    pre: Vec<f64>,
}

fn same_but_view(a: &Scenario, b: &Scenario) -> bool {
    a.shape == b.shape
        && a.input == b.input
        && a.weights == b.weights
        && a.params == b.params
        && a.a == b.a
        && a.b == b.b
}

/// Lower clamp limit of the output codes.
fn low_limit(run: &Run) -> i32 {
    if run.params.relu {
        run.params.output_zero_point as i32
    } else {
        0
    }
}

/// Whether A's code at `index` is the result of clamping: only pixels at a
/// limit are traced, to compare the value before and after the clamp.
fn clamped_a(run: &Run, index: usize) -> bool {
    let out = run.out_a[index];
    if out != 255 && out != low_limit(run) {
        return false;
    }
    let mut p = Probe {
        key: key::PLUS_ZP,
        value: None,
    };
    let c = run.channel_of(index);
    run.ra.pixel(c, run.acc_for(&run.ra)[index], &mut p);
    match p.value {
        Some(v) => v.as_f64() != out as f64,
        None => false,
    }
}

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    pub fn scenario(&self) -> Option<&Scenario> {
        self.scenario.as_ref()
    }

    pub fn run(&self) -> Option<&Run> {
        self.run.as_ref()
    }

    /// A's and B's codes on the shown channel (for hover read-outs).
    pub fn planes(&self) -> Option<(&[i32], &[i32])> {
        let (run, s) = (self.run.as_ref()?, self.scenario.as_ref()?);
        let (oh, ow) = run.shape.output_hw();
        let start = s.view.channel * oh * ow;
        Some((
            &run.out_a[start..start + oh * ow],
            &run.out_b[start..start + oh * ow],
        ))
    }

    /// Apply a new scenario: check it, run the engine unless only the view
    /// changed, paint, explain the selected pixel. On error nothing changes.
    pub fn update(&mut self, mut s: Scenario) -> Result<Frame> {
        s.check_limits()?;
        s.validate()?;
        let reuse = self.run.is_some()
            && self
                .scenario
                .as_ref()
                .is_some_and(|old| same_but_view(old, &s));
        if !reuse {
            let run = s.run_in(&mut self.ws)?;
            if let Some(old) = self.run.replace(run) {
                self.ws.recycle(old);
            }
        }
        let Some(run) = self.run.as_ref() else {
            return Err(Error::Input("no run".into()));
        };
        // Bring the view into range (a shape change can leave it outside).
        let (oh, ow) = run.shape.output_hw();
        let channels = run.shape.out_channels;
        s.view.channel = s.view.channel.min(channels - 1);
        s.view.pixel = s.view.pixel.map(|(r, c)| (r.min(oh - 1), c.min(ow - 1)));
        let frame = frame(run, &s, !reuse, &mut self.rgba, &mut self.pre)?;
        self.scenario = Some(s);
        Ok(frame)
    }
}

/// Paint `s.view` of `run` into `rgba` and describe it.
fn frame(
    run: &Run,
    s: &Scenario,
    recomputed: bool,
    rgba: &mut Vec<u8>,
    pre: &mut Vec<f64>,
) -> Result<Frame> {
    {
        let (rows, cols) = run.shape.output_hw();
        let plane = rows * cols;
        let channels = run.shape.out_channels;
        let ch = s.view.channel;
        let start = ch * plane;
        let (a, b) = (
            &run.out_a[start..start + plane],
            &run.out_b[start..start + plane],
        );
        let mut differing_by_channel = vec![0usize; channels];
        let mut max_abs = 0i64;
        for (i, (x, y)) in run.out_a.iter().zip(&run.out_b).enumerate() {
            if x != y {
                differing_by_channel[run.channel_of(i)] += 1;
                max_abs = max_abs.max((*x as i64 - *y as i64).abs());
            }
        }
        let differing = differing_by_channel.iter().sum();
        let lo = low_limit(run);
        let clamp: Vec<bool> = (0..plane)
            .map(|i| (a[i] == 255 || a[i] == lo) && clamped_a(run, start + i))
            .collect();
        let clamped = clamp.iter().filter(|&&c| c).count();
        let cell = cell_size(rows, cols);
        let (mut exact_ties, mut near_ties) = (None, None);
        let (legend_title, legend) = match s.view.map {
            MapKind::Diff => {
                paint(rgba, rows, cols, cell, |i| {
                    (diff_colour(a[i] as i64 - b[i] as i64, max_abs), clamp[i])
                });
                (
                    format!(
                        "A \u{2212} B (output codes): orange = {} above {}, purple = below",
                        s.a.name(),
                        s.b.name()
                    ),
                    diff_legend(max_abs),
                )
            }
            MapKind::Tie => {
                pre.clear();
                pre.extend((0..plane).map(|i| tie_distance(run.pre_round_a(start + i))));
                let pre = &*pre;
                exact_ties = Some(pre.iter().filter(|&&d| d == 0.0).count());
                near_ties = Some(pre.iter().filter(|&&d| d < 1e-2).count());
                paint(rgba, rows, cols, cell, |i| (tie_colour(pre[i]), clamp[i]));
                (
                    format!(
                        "distance of {}'s value before rounding to the nearest .5",
                        s.a.name()
                    ),
                    tie_legend(),
                )
            }
        };
        let mut list = vec![];
        let mut list_more = 0;
        for i in 0..plane {
            if a[i] != b[i] {
                if list.len() < LIST_MAX {
                    list.push(DiffPixel {
                        row: i / cols,
                        col: i % cols,
                        a: a[i],
                        b: b[i],
                    });
                } else {
                    list_more += 1;
                }
            }
        }
        let inspect = match s.view.pixel {
            Some((r, c)) => Some(Inspect {
                explanation: explain(run, ch, r, c)?,
                taps: run.taps(run.index(ch, r, c)?),
                clamped: clamp[r * cols + c],
            }),
            None => None,
        };
        let input_codes = (run.input.len() <= TYPED_MAX).then(|| run.input.clone());
        let summary = summary(
            s,
            rows,
            cols,
            channels,
            &differing_by_channel,
            max_abs,
            clamped,
            a,
            b,
        );
        Ok(Frame {
            recomputed,
            view: s.view.clone(),
            rows,
            cols,
            channels,
            cell,
            width: cols * cell,
            height: rows * cell,
            a_name: s.a.name().into(),
            b_name: s.b.name().into(),
            a_title: s.a.title().into(),
            b_title: s.b.title().into(),
            differing,
            differing_by_channel,
            max_abs_diff: max_abs,
            clamped,
            exact_ties,
            near_ties,
            legend_title,
            legend,
            clamp_colour: css(CLAMPED),
            list,
            list_more,
            inspect,
            floats: Floats::of(s),
            input_codes,
            summary,
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn summary(
    s: &Scenario,
    rows: usize,
    cols: usize,
    channels: usize,
    by_channel: &[usize],
    max_abs: i64,
    clamped: usize,
    a: &[i32],
    b: &[i32],
) -> String {
    let ch = s.view.channel;
    let n = by_channel[ch];
    let (lo, hi) = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| *x as i64 - *y as i64)
        .fold((i64::MAX, i64::MIN), |(lo, hi), d| (lo.min(d), hi.max(d)));
    let mut t = format!(
        "{} vs {}, channel {ch} of {channels}: {n} of {} output pixels differ",
        s.a.name(),
        s.b.name(),
        rows * cols
    );
    if n > 0 {
        if lo == hi {
            t += &format!(" (A \u{2212} B = {} everywhere they differ)", signed(lo));
        } else {
            t += &format!(" (A \u{2212} B from {} to {})", signed(lo), signed(hi));
        }
    }
    let total: usize = by_channel.iter().sum();
    if channels > 1 {
        t += &format!("; {total} in all channels");
        if max_abs > 0 {
            t += &format!(", largest |A \u{2212} B| {max_abs}");
        }
    }
    t += &format!(
        "; A is clamped at {clamped} pixel{}.",
        if clamped == 1 { "" } else { "s" }
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{preset, InputSource};

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

    #[test]
    fn paint_fills_cells_grid_and_dots() {
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
        let px = |x: usize, y: usize| -> Rgba {
            let o = (y * 24 + x) * 4;
            [buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]
        };
        assert_eq!(px(0, 0), NEUTRAL);
        assert_eq!(px(7, 0), GRID); // grid column
        assert_eq!(px(0, 7), GRID); // grid row
                                    // Cell (row 1, col 1): red with a centred clamp dot.
        assert_eq!(px(8, 8), red);
        assert_eq!(px(8 + 3, 8 + 3), CLAMPED);
        assert_eq!(px(16, 8), NEUTRAL);
    }

    #[test]
    fn small_cells_mark_clamped_pixels_without_difference() {
        let mut buf = vec![];
        paint(&mut buf, 1, 2, 1, |i| (NEUTRAL, i == 1));
        assert_eq!(&buf[0..4], &NEUTRAL);
        assert_eq!(&buf[4..8], &CLAMPED);
        // A differing clamped pixel keeps its difference colour.
        paint(&mut buf, 1, 1, 1, |_| (diff_colour(1, 1), true));
        assert_eq!(&buf[0..4], &diff_colour(1, 1));
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

    #[test]
    fn forum_frame() {
        let mut s = Session::new();
        let f = s.update(preset("forum").unwrap()).unwrap();
        assert!(f.recomputed);
        assert_eq!((f.rows, f.cols, f.cell), (4, 16, 16));
        assert_eq!(s.rgba.len(), 16 * 16 * 4 * 16 * 4);
        let ins = f.inspect.as_ref().unwrap();
        assert_eq!((ins.explanation.out_a, ins.explanation.out_b), (30, 31));
        assert!(ins
            .explanation
            .causes
            .iter()
            .any(|c| c.code == "printed_scale" && c.text.contains("output scale was shortened")));
        assert_eq!(ins.taps.len(), 1);
        assert!(f
            .list
            .iter()
            .any(|p| (p.row, p.col, p.a, p.b) == (3, 0, 30, 31)));
        assert_eq!(f.differing, f.list.len());
        assert_eq!(f.floats.input_scale.bits, "0x3c0070b1");
        assert_eq!(f.input_codes.as_ref().unwrap()[47], 24);
        // The view alone changing reuses the run.
        let mut v = s.scenario().unwrap().clone();
        v.view.pixel = Some((3, 0));
        v.view.map = MapKind::Tie;
        let g = s.update(v).unwrap();
        assert!(!g.recomputed);
        assert_eq!(g.inspect.unwrap().explanation.out_b, 31);
        assert!(g.exact_ties.is_some());
    }

    #[test]
    fn errors_keep_the_last_state() {
        let mut s = Session::new();
        s.update(preset("forum").unwrap()).unwrap();
        let before = s.rgba.clone();
        let mut bad = preset("forum").unwrap();
        bad.params.output_scale = 0.0;
        assert!(s.update(bad).is_err());
        let mut bad = preset("forum").unwrap();
        bad.shape.kernel = [9, 9];
        assert!(s.update(bad).is_err());
        let mut bad = preset("forum").unwrap();
        bad.input = InputSource::Codes { codes: vec![1, 2] };
        assert!(s.update(bad).is_err());
        assert_eq!(s.rgba, before);
        assert_eq!(s.scenario().unwrap(), &preset("forum").unwrap());
    }

    #[test]
    fn view_is_brought_into_range() {
        let mut s = Session::new();
        let mut sc = preset("forum").unwrap();
        sc.view.channel = 5;
        sc.view.pixel = Some((40, 40));
        let f = s.update(sc).unwrap();
        assert_eq!(f.view.channel, 0);
        assert_eq!(f.view.pixel, Some((3, 15)));
    }

    #[test]
    fn clamping_preset_marks_clamped_pixels() {
        let mut s = Session::new();
        let f = s.update(preset("clamping").unwrap()).unwrap();
        assert!(f.clamped > 0, "{}", f.summary);
        assert!(f.differing > 0);
    }

    #[test]
    fn all_presets_paint() {
        for (id, _) in crate::scenario::PRESETS {
            let mut s = Session::new();
            let mut sc = preset(id).unwrap();
            for map in [MapKind::Diff, MapKind::Tie] {
                sc.view.map = map;
                let f = s.update(sc.clone()).unwrap();
                assert_eq!(s.rgba.len(), f.width * f.height * 4, "{id}");
            }
        }
    }

    #[test]
    fn ties_preset_has_exact_ties() {
        let mut s = Session::new();
        let mut sc = preset("ties").unwrap();
        sc.view.map = MapKind::Tie;
        let f = s.update(sc).unwrap();
        assert!(f.exact_ties.unwrap() >= 100, "{:?}", f.exact_ties);
    }
}
