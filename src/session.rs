//! The page's state between updates: the scenario shown, its last run,
//! reusable buffers and the RGBA frame. A view change (channel, pixel, map)
//! repaints without recomputing.
use crate::engine::Kernel;
use crate::error::{Error, Result};
use crate::explain::{explain, Explanation};
use crate::render::{
    cell_size, css, diff_colour, diff_legend, paint, saturation_colour, saturation_legend, signed,
    tie_colour, tie_distance, tie_legend, Floats, LegendEntry, CLAMPED,
};
use crate::scenario::{MapKind, Run, Scenario, View, Workspace};
use crate::trace::{key, Probe};
use serde::Serialize;
use std::ops::Range;

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
    /// The explanation (its `taps`: the accumulator's taps in summation order).
    pub explanation: Explanation,
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
    /// Pixels of the shown channel whose accumulator saturated (saturation map only).
    pub saturated: Option<usize>,
    /// Which kernel ran A and B, and why.
    pub kernel_a: Kernel,
    pub kernel_b: Kernel,
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
    /// Across runtimes: which side ("A" or "B") runs on the scenario converted
    /// the way the export path converts it (the page asks the permalink wasm
    /// for the list of changes: `convert::conversions`).
    pub converted_side: Option<&'static str>,
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
    /// Differing pixels per channel and the largest |A - B| of the last run
    /// (a view change reuses them).
    counts: (Vec<usize>, i64),
    /// The same for this worker's part of a split run.
    part_counts: (Vec<usize>, i64),
}

fn same_but_view(a: &Scenario, b: &Scenario) -> bool {
    a.shape == b.shape
        && a.input == b.input
        && a.weights == b.weights
        && a.params == b.params
        && a.a == b.a
        && a.b == b.b
        && a.platform == b.platform
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
/// limit are traced, to compare the value before and after the clamp (one
/// pixel at a time: what [`clamp_marks`] must agree with).
#[cfg(test)]
fn clamped_a(run: &Run, index: usize) -> bool {
    let out = run.out_a[run.at(index)];
    if out != 255 && out != low_limit(run) {
        return false;
    }
    let mut p = Probe {
        key: key::PLUS_ZP,
        value: None,
    };
    let c = run.channel_of(index);
    run.ra.pixel(c, run.acc_for(&run.ra)[run.at(index)], &mut p);
    match p.value {
        Some(v) => v.as_f64() != out as f64,
        None => false,
    }
}

/// Which pixels of one channel's plane A clamps (`start`: the flat index of
/// its first pixel; `a`, `acc`: its codes and A's accumulators). A code at a
/// limit is clamped when the value before the clamp is past the limit. That
/// value never decreases as the accumulator grows (every requantization
/// multiplies by a positive scale, adds and rounds), so at the upper limit
/// the clamped accumulators are those from some threshold up, and at the
/// lower limit those up to one: a binary search over the accumulators'
/// range traces about 32 values instead of every pixel.
fn clamp_marks(run: &Run, start: usize, a: &[i32], acc: &[i32]) -> Vec<bool> {
    let lo = low_limit(run);
    let c = run.channel_of(start);
    // A's value before the clamp (none: the engine has no such step).
    let before = |acc: i32| {
        let mut p = Probe {
            key: key::PLUS_ZP,
            value: None,
        };
        run.ra.pixel(c, acc, &mut p);
        p.value.map(|v| v.as_f64())
    };
    // The accumulators' range at each limit, then the first value in it
    // where `past` stops (below) or starts (above) to hold.
    let range = |limit: i32| {
        (0..a.len())
            .filter(|&i| a[i] == limit)
            .fold(None, |r: Option<(i64, i64)>, i| {
                let x = acc[i] as i64;
                Some(r.map_or((x, x), |(l, h)| (l.min(x), h.max(x))))
            })
    };
    let first = |(mut l, mut h): (i64, i64), holds: &dyn Fn(i32) -> bool| {
        // The first x in l..=h+1 where `holds` is true (h+1: none is).
        h += 1;
        while l < h {
            let m = l + (h - l) / 2;
            if holds(m as i32) {
                h = m;
            } else {
                l = m + 1;
            }
        }
        l
    };
    let above = range(255).map(|r| first(r, &|x| before(x).is_some_and(|v| v > 255.0)));
    let below = range(lo).map(|r| first(r, &|x| !before(x).is_some_and(|v| v < lo as f64)));
    (0..a.len())
        .map(|i| {
            (a[i] == 255 && above.is_some_and(|t| acc[i] as i64 >= t))
                || (a[i] == lo && below.is_some_and(|t| (acc[i] as i64) < t))
        })
        .collect()
}

/// A new scenario opens on the channel where most pixels differ (the first
/// such channel on a tie) and on its first differing pixel, unless the pixel
/// selected differs there already. Nothing moves when no pixel differs.
/// `counts` are of all channels; the channel moved to must be in `run`'s
/// part (a split run asks every part, and the one holding it shows it).
fn show_most_differing(run: &Run, counts: &[usize], view: &mut View) {
    let (oh, ow) = run.shape.output_hw();
    let plane = oh * ow;
    let differs = |i: usize| run.out_a[run.at(i)] != run.out_b[run.at(i)];
    let best = most_differing(counts);
    if counts[best] == 0 {
        return;
    }
    let kept = view
        .pixel
        .is_some_and(|(r, c)| differs(best * plane + r * ow + c));
    if best == view.channel && kept {
        return;
    }
    view.channel = best;
    view.pixel = (0..plane)
        .find(|&i| differs(best * plane + i))
        .map(|i| (i / ow, i % ow));
}

/// The channel where most pixels differ (the first such channel on a tie).
fn most_differing(counts: &[usize]) -> usize {
    (0..counts.len()).fold(0, |b, c| if counts[c] > counts[b] { c } else { b })
}

/// One worker's answer to [`Session::update_part`].
#[derive(Debug)]
pub enum Step {
    /// The scenario runs whole (small, or it does not split): the frame.
    Whole(Box<Frame>),
    /// This worker's channels are computed: their difference counts.
    Part(Part),
    /// The scenario has fewer parts than workers: nothing for this one.
    Idle,
}

/// A worker's part of a split run: which channels, and their counts.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    /// The output channels `start..end` this worker holds.
    pub start: usize,
    pub end: usize,
    /// Differing pixels per channel of the part, and the largest |A - B| in it.
    pub differing_by_channel: Vec<usize>,
    pub max_abs_diff: i64,
    /// False when the part's run was kept (only the view changed).
    pub recomputed: bool,
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
        if !run.channels.contains(&s.view.channel) {
            return None;
        }
        let start = run.at(s.view.channel * oh * ow);
        Some((
            &run.out_a[start..start + oh * ow],
            &run.out_b[start..start + oh * ow],
        ))
    }

    /// Runs `s` on `channels` unless the run held is of the same channels of
    /// a scenario that differs only in its view: whether it ran.
    fn compute(&mut self, s: &Scenario, channels: Range<usize>) -> Result<bool> {
        let kept = self.run.as_ref().is_some_and(|r| r.channels == channels)
            && self
                .scenario
                .as_ref()
                .is_some_and(|old| same_but_view(old, s));
        if !kept {
            let run = s.run_part(&mut self.ws, self.run.as_ref(), channels)?;
            if let Some(old) = self.run.replace(run) {
                self.ws.recycle(old);
            }
        }
        Ok(!kept)
    }

    /// Apply a new scenario: check it, run the engine unless only the view
    /// changed, paint, explain the selected pixel. On error nothing changes.
    pub fn update(&mut self, mut s: Scenario) -> Result<Frame> {
        s.check_limits()?;
        s.validate()?;
        let reuse = !self.compute(&s, 0..s.shape.out_channels)?;
        let Some(run) = self.run.as_ref() else {
            return Err(Error::Input("no run".into()));
        };
        // Bring the view into range (a shape change can leave it outside).
        let (oh, ow) = run.shape.output_hw();
        let channels = run.shape.out_channels;
        s.view.channel = s.view.channel.min(channels - 1);
        s.view.pixel = s.view.pixel.map(|(r, c)| (r.min(oh - 1), c.min(ow - 1)));
        if !reuse {
            self.counts = counts(run);
        }
        if std::mem::take(&mut s.view.fresh) {
            show_most_differing(run, &self.counts.0, &mut s.view);
        }
        let frame = frame(run, &s, !reuse, &self.counts, &mut self.rgba, &mut self.pre)?;
        self.scenario = Some(s);
        Ok(frame)
    }

    /// Worker `part` of `parts` (all given the same scenario): computes its
    /// share of [`Scenario::parts`] and answers with its counts, then
    /// [`Session::show`] draws the frame on the worker holding the channel
    /// shown. A scenario that runs whole is worker 0's alone. On error
    /// nothing changes.
    pub fn update_part(&mut self, s: Scenario, part: usize, parts: usize) -> Result<Step> {
        s.check_limits()?;
        s.validate()?;
        let ranges = s.parts(parts);
        if ranges.len() == 1 && part == 0 {
            return Ok(Step::Whole(Box::new(self.update(s)?)));
        }
        let Some(range) = ranges.get(part).filter(|_| ranges.len() > 1).cloned() else {
            // Nothing to hold: an older part's buffers would only take memory.
            if let Some(old) = self.run.take() {
                self.ws.recycle(old);
            }
            self.scenario = None;
            return Ok(Step::Idle);
        };
        let reuse = !self.compute(&s, range.clone())?;
        if let (false, Some(run)) = (reuse, &self.run) {
            self.part_counts = counts(run);
        }
        self.scenario = Some(s);
        Ok(Step::Part(Part {
            start: range.start,
            end: range.end,
            differing_by_channel: self.part_counts.0.clone(),
            max_abs_diff: self.part_counts.1,
            recomputed: !reuse,
        }))
    }

    /// The frame of `view` from a split run, given every part's counts put
    /// together (`counts` per channel, `max_abs` over all): `None` when the
    /// channel shown is another worker's. `recomputed`: whether any part ran.
    pub fn show(
        &mut self,
        mut view: View,
        counts: Vec<usize>,
        max_abs: i64,
        recomputed: bool,
    ) -> Result<Option<Frame>> {
        let (Some(run), Some(s)) = (self.run.as_ref(), self.scenario.as_mut()) else {
            return Err(Error::Input("nothing computed to show".into()));
        };
        let (oh, ow) = run.shape.output_hw();
        let channels = run.shape.out_channels;
        if counts.len() != channels {
            return Err(Error::Input(format!(
                "{} channel counts for {channels} channels",
                counts.len()
            )));
        }
        view.channel = view.channel.min(channels - 1);
        view.pixel = view.pixel.map(|(r, c)| (r.min(oh - 1), c.min(ow - 1)));
        let best = most_differing(&counts);
        let shown = if view.fresh && counts[best] > 0 {
            best
        } else {
            view.channel
        };
        if !run.channels.contains(&shown) {
            return Ok(None);
        }
        if std::mem::take(&mut view.fresh) {
            show_most_differing(run, &counts, &mut view);
        }
        let old = std::mem::replace(&mut s.view, view);
        let counts = (counts, max_abs);
        match frame(run, s, recomputed, &counts, &mut self.rgba, &mut self.pre) {
            Ok(f) => Ok(Some(f)),
            Err(e) => {
                s.view = old;
                Err(e)
            }
        }
    }
}

/// Differing pixels per channel of `run`'s part and the largest |A - B| there.
fn counts(run: &Run) -> (Vec<usize>, i64) {
    let channels = run.channels.len();
    let (rows, cols) = run.shape.output_hw();
    let mut by_channel = vec![0usize; channels];
    let mut max_abs = 0i64;
    // Plane by plane (NCHW), without branches (the loops vectorise);
    // |A - B| is 0 where they agree.
    let planes = run
        .out_a
        .chunks(rows * cols)
        .zip(run.out_b.chunks(rows * cols));
    for (i, (pa, pb)) in planes.enumerate() {
        let (n, m) = pa.iter().zip(pb).fold((0u32, 0u32), |(n, m), (x, y)| {
            let d = x.abs_diff(*y);
            (n + (d != 0) as u32, m.max(d))
        });
        by_channel[i % channels] += n as usize;
        max_abs = max_abs.max(m as i64);
    }
    (by_channel, max_abs)
}

/// Paint `s.view` of `run` into `rgba` and describe it (`counts`: of all channels).
fn frame(
    run: &Run,
    s: &Scenario,
    recomputed: bool,
    counts: &(Vec<usize>, i64),
    rgba: &mut Vec<u8>,
    pre: &mut Vec<f64>,
) -> Result<Frame> {
    {
        let (rows, cols) = run.shape.output_hw();
        let plane = rows * cols;
        let channels = run.shape.out_channels;
        let ch = s.view.channel;
        if !run.channels.contains(&ch) {
            return Err(Error::Input(format!(
                "channel {ch} is not in this worker's part"
            )));
        }
        // `start` indexes the whole output (traces), `local` the run's part.
        let start = ch * plane;
        let local = run.at(start);
        let (a, b) = (
            &run.out_a[local..local + plane],
            &run.out_b[local..local + plane],
        );
        let (differing_by_channel, max_abs) = (counts.0.clone(), counts.1);
        let differing = differing_by_channel.iter().sum();
        let acc = &run.acc_for(&run.ra)[local..local + plane];
        let clamp = clamp_marks(run, start, a, acc);
        let clamped = clamp.iter().filter(|&&c| c).count();
        // The clamp marks are an overlay the view can switch off.
        let marks = s.view.clamp_marks;
        let cell = cell_size(rows, cols);
        let (mut exact_ties, mut near_ties, mut saturated) = (None, None, None);
        let (legend_title, legend) = match s.view.map {
            MapKind::Diff => {
                paint(rgba, rows, cols, cell, |i| {
                    (
                        diff_colour(a[i] as i64 - b[i] as i64, max_abs),
                        marks && clamp[i],
                    )
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
            MapKind::Saturation => {
                let exact = &run.acc[local..local + plane];
                let sa = &run.acc_for(&run.ra)[local..local + plane];
                let sb = &run.acc_for(&run.rb)[local..local + plane];
                saturated = Some(
                    (0..plane)
                        .filter(|&i| sa[i] != exact[i] || sb[i] != exact[i])
                        .count(),
                );
                paint(rgba, rows, cols, cell, |i| {
                    (
                        saturation_colour(sa[i] != exact[i], sb[i] != exact[i]),
                        marks && clamp[i],
                    )
                });
                (
                    format!(
                        "accumulators that differ from the exact sum (int16 pair saturation): A = {} ({}), B = {} ({})",
                        s.a.name(),
                        run.ra.kernel.path.unwrap_or(run.ra.kernel.name),
                        s.b.name(),
                        run.rb.kernel.path.unwrap_or(run.rb.kernel.name)
                    ),
                    saturation_legend(),
                )
            }
            MapKind::Tie => {
                pre.clear();
                pre.extend((0..plane).map(|i| tie_distance(run.pre_round_a(start + i))));
                let pre = &*pre;
                exact_ties = Some(pre.iter().filter(|&&d| d == 0.0).count());
                near_ties = Some(pre.iter().filter(|&&d| d < 1e-2).count());
                paint(rgba, rows, cols, cell, |i| {
                    (tie_colour(pre[i]), marks && clamp[i])
                });
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
                clamped: clamp[r * cols + c],
            }),
            None => None,
        };
        // Typed codes are quint8 (qint8 activations come from a generator).
        let input_codes = match &*run.input {
            crate::conv::Activations::QUInt8(v) if v.len() <= TYPED_MAX => Some(v.clone()),
            _ => None,
        };
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
            saturated,
            kernel_a: run.ra.kernel.clone(),
            kernel_b: run.rb.kernel.clone(),
            legend_title,
            legend,
            clamp_colour: css(CLAMPED),
            list,
            list_more,
            inspect,
            floats: Floats::of(s),
            input_codes,
            summary,
            converted_side: run
                .converted
                .as_ref()
                .map(|cv| if cv.applies_to(s.a) { "A" } else { "B" }),
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
    use crate::engine::Computation;
    use crate::scenario::{preset, InputSource};

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
        assert_eq!(ins.explanation.taps.len(), 1);
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

    /// A 16 -> 16, 3x3 conv at 12x12 with codes high enough that fbgemm's
    /// int16 pairs saturate without VNNI.
    fn layer() -> Scenario {
        let mut sc = preset("forum").unwrap();
        sc.shape.in_channels = 16;
        sc.shape.out_channels = 16;
        sc.shape.height = 12;
        sc.shape.width = 12;
        sc.shape.kernel = [3, 3];
        sc.shape.padding = [1, 1];
        sc.input = InputSource::Codes {
            codes: (0..16 * 12 * 12)
                .map(|i| 160 + (i * 7 % 96) as u8)
                .collect(),
        };
        sc.weights = (0..16 * 16 * 9).map(|i| (60 + i * 13 % 68) as i8).collect();
        sc.params.per_channel = false;
        sc.params.weight_scales = vec![0.003];
        sc.params.weight_zero_points = vec![0];
        sc.params.bias = None;
        sc.params.bias_i32 = None;
        sc.params.output_scale = 0.2;
        sc.params.output_zero_point = 128;
        sc.view = View::default();
        sc
    }

    /// A named change to a scenario.
    type Edit = Box<dyn Fn(&mut Scenario)>;

    /// How many accumulations applying `sc` formed.
    fn formed(s: &mut Session, sc: &Scenario) -> usize {
        assert!(s.update(sc.clone()).unwrap().recomputed);
        s.run().unwrap().accumulated
    }

    /// `s` applied to a session that starts from nothing.
    fn fresh(s: &Scenario) -> (Frame, Vec<u8>, Vec<i32>, Vec<i32>) {
        let mut f = Session::new();
        let frame = f.update(s.clone()).unwrap();
        let run = f.run().unwrap();
        (frame, f.rgba.clone(), run.out_a.clone(), run.out_b.clone())
    }

    #[test]
    fn requantization_changes_keep_the_accumulators() {
        let mut s = Session::new();
        let base = layer();
        // fbgemm on AVX512-VNNI forms the exact sum: one accumulation for A and B.
        assert_eq!(formed(&mut s, &base), 1);
        let edits: Vec<(&str, Edit)> = vec![
            ("output scale", Box::new(|s| s.params.output_scale *= 1.37)),
            (
                "output zero point",
                Box::new(|s| s.params.output_zero_point = 100),
            ),
            ("relu", Box::new(|s| s.params.relu = !s.params.relu)),
            (
                "bias",
                Box::new(|s| s.params.bias = Some((0..16).map(|c| 0.05 * c as f32).collect())),
            ),
            ("engine", Box::new(|s| s.a = Computation::ONEDNN)),
            (
                "hand switch",
                Box::new(|s| {
                    let mut h = s.b.hand.unwrap();
                    h.rounding = match h.rounding {
                        crate::engine::Rounding::HalfEven => crate::engine::Rounding::HalfAway,
                        crate::engine::Rounding::HalfAway => crate::engine::Rounding::HalfEven,
                    };
                    s.b = Computation::hand(h);
                }),
            ),
            ("swap", Box::new(|s| std::mem::swap(&mut s.a, &mut s.b))),
            // Typed codes do not depend on the input scale (generated inputs do, below).
            ("input scale", Box::new(|s| s.params.input_scale *= 2.0)),
        ];
        let mut sc = base.clone();
        for (what, edit) in &edits {
            edit(&mut sc);
            let f = s.update(sc.clone()).unwrap();
            assert!(f.recomputed, "{what}");
            assert_eq!(
                s.run().unwrap().accumulated,
                0,
                "{what}: the accumulators were formed again"
            );
            let (g, rgba, a, b) = fresh(&sc);
            assert_eq!(formed(&mut Session::new(), &sc), 1, "{what}");
            assert_eq!(
                (&s.run().unwrap().out_a, &s.run().unwrap().out_b),
                (&a, &b),
                "{what}"
            );
            assert_eq!(s.rgba, rgba, "{what}");
            assert_eq!(
                (f.differing_by_channel, f.max_abs_diff),
                (g.differing_by_channel, g.max_abs_diff),
                "{what}"
            );
        }
        // What the accumulators depend on forms them again.
        let edits: Vec<(&str, Edit)> = vec![
            (
                "input",
                Box::new(|s| s.input = InputSource::Random { seed: 6 }),
            ),
            (
                "input zero point",
                Box::new(|s| s.params.input_zero_point = 3),
            ),
            (
                "weight",
                Box::new(|s| s.weights[7] = s.weights[7].wrapping_add(1)),
            ),
            (
                "weight zero point",
                Box::new(|s| s.params.weight_zero_points = vec![1]),
            ),
            ("shape", Box::new(|s| s.shape.stride = [2, 2])),
        ];
        for (what, edit) in &edits {
            let mut sc = base.clone();
            edit(&mut sc);
            s.update(base.clone()).unwrap();
            assert_eq!(formed(&mut s, &sc), 1, "{what}");
            assert_eq!(s.run().unwrap().out_b, fresh(&sc).3, "{what}");
        }
        let mut sc = base.clone();
        sc.input = InputSource::Random { seed: 6 };
        s.update(sc.clone()).unwrap();
        sc.params.input_scale *= 2.0;
        assert_eq!(formed(&mut s, &sc), 1);
        assert_eq!(s.run().unwrap().out_a, fresh(&sc).2);
        // A generated input kept with its generator: the codes are reused too.
        sc.params.output_scale *= 3.0;
        assert_eq!(formed(&mut s, &sc), 0);
        assert_eq!(s.run().unwrap().input, sc.run().unwrap().input);
        assert_eq!(s.run().unwrap().out_a, fresh(&sc).2);
    }

    #[test]
    fn saturating_kernels_keep_their_own_accumulators() {
        let mut sc = layer();
        sc.platform.cpu = crate::engine::Cpu::Avx2;
        sc.a = Computation::FBGEMM;
        let mut s = Session::new();
        // The exact sum and fbgemm's saturating pairs.
        assert_eq!(formed(&mut s, &sc), 2);
        let run = s.run().unwrap();
        assert_ne!(
            run.acc_for(&run.ra),
            &run.acc[..],
            "the codes should saturate here"
        );
        // A and B on the same saturating kernel share it.
        sc.b = Computation::FBGEMM;
        assert_eq!(formed(&mut s, &sc), 0);
        assert_eq!(formed(&mut Session::new(), &sc), 2);
        sc.params.output_scale *= 0.5;
        assert_eq!(formed(&mut s, &sc), 0);
        assert_eq!(s.run().unwrap().out_a, fresh(&sc).2);
        // The view alone: no run at all.
        sc.view.channel = 9;
        sc.view.pixel = Some((2, 3));
        let f = s.update(sc).unwrap();
        assert!(!f.recomputed);
    }

    #[test]
    fn ties_preset_has_exact_ties() {
        let mut s = Session::new();
        let mut sc = preset("ties").unwrap();
        sc.view.map = MapKind::Tie;
        let f = s.update(sc).unwrap();
        assert!(f.exact_ties.unwrap() >= 100, "{:?}", f.exact_ties);
    }

    #[test]
    fn a_fresh_scenario_opens_on_the_channel_where_most_differ() {
        let mut sc = preset("per-channel").unwrap();
        let run = sc.run().unwrap();
        let f = Session::new().update(sc.clone()).unwrap();
        let counts = f.differing_by_channel.clone();
        let best = (0..counts.len()).fold(0, |b, c| if counts[c] > counts[b] { c } else { b });
        let other = (0..counts.len()).find(|&c| c != best).unwrap();
        assert!(counts[best] > counts[other], "{counts:?}");
        // Not fresh: the view asked for is kept (a recompute after a pick).
        sc.view.channel = other;
        sc.view.pixel = Some((1, 1));
        let mut s = Session::new();
        let f = s.update(sc.clone()).unwrap();
        assert_eq!((f.view.channel, f.view.pixel), (other, Some((1, 1))));
        // Fresh: the channel with the most, on its first differing pixel.
        sc.view.fresh = true;
        let f = s.update(sc.clone()).unwrap();
        assert_eq!(f.view.channel, best);
        let (r, c) = f.view.pixel.unwrap();
        let i = run.index(best, r, c).unwrap();
        assert_ne!(run.out_a[i], run.out_b[i]);
        assert!(!f.view.fresh);
        assert!(!s.scenario().unwrap().view.fresh);
        // A differing pixel already on that channel stays selected; one
        // where A and B agree gives way to the first that differs.
        let plane = f.rows * f.cols;
        let differs = |i: usize| run.out_a[best * plane + i] != run.out_b[best * plane + i];
        let last = (0..plane).rev().find(|&i| differs(i)).unwrap();
        let same = (0..plane).find(|&i| !differs(i)).unwrap();
        let first = (0..plane).find(|&i| differs(i)).unwrap();
        assert_ne!(last, first);
        sc.view.channel = best;
        for (at, want) in [(last, last), (same, first)] {
            sc.view.pixel = Some((at / f.cols, at % f.cols));
            let g = s.update(sc.clone()).unwrap();
            assert_eq!(
                (g.view.channel, g.view.pixel),
                (best, Some((want / f.cols, want % f.cols)))
            );
        }
    }

    #[test]
    fn clamp_marks_switch_off() {
        let mut s = Session::new();
        let mut sc = preset("clamping").unwrap();
        let on = s.update(sc.clone()).unwrap();
        assert!(on.clamped > 0);
        let marked = |rgba: &[u8]| rgba.chunks_exact(4).filter(|p| *p == CLAMPED).count();
        assert!(marked(&s.rgba) > 0);
        sc.view.clamp_marks = false;
        let off = s.update(sc).unwrap();
        assert!(!off.recomputed, "a view change");
        assert_eq!(off.clamped, on.clamped);
        assert_eq!(marked(&s.rgba), 0);
    }
}

#[cfg(test)]
mod split_tests {
    //! A split run, put together the way the page's workers do
    //! (`www/engine.js`), gives the whole run's frame and pixels.
    use super::*;
    use crate::engine::Cpu;
    use crate::scenario::{preset, InputSource};

    fn layer(cin: usize, cout: usize, side: usize) -> Scenario {
        let mut s = preset("forum").unwrap();
        s.shape.in_channels = cin;
        s.shape.out_channels = cout;
        (s.shape.height, s.shape.width) = (side, side);
        (s.shape.kernel, s.shape.padding) = ([3, 3], [1, 1]);
        s.input = InputSource::Random { seed: 9 };
        s.weights = (0..s.shape.weight_len())
            .map(|i| (((i * 53) % 255) as i32 - 127) as i8)
            .collect();
        s.params.weight_scales = (0..cout).map(|c| 0.003 + 0.0002 * c as f64).collect();
        s.params.weight_zero_points = vec![0; cout];
        s.params.bias = Some((0..cout).map(|c| 0.02 * c as f32).collect());
        s.params.output_scale = 0.04;
        s.view = View {
            fresh: true,
            pixel: None,
            ..View::default()
        };
        s
    }

    /// Phase 1 on every worker, the counts put together, phase 2 on every
    /// worker: exactly one answers with the frame.
    fn split(workers: &mut [Session], s: &Scenario) -> (Frame, Vec<u8>, Vec<i32>) {
        let n = workers.len();
        let channels = s.shape.out_channels;
        let mut counts = vec![usize::MAX; channels];
        let (mut max_abs, mut recomputed) = (0, false);
        for (i, w) in workers.iter_mut().enumerate() {
            match w.update_part(s.clone(), i, n).unwrap() {
                Step::Whole(_) => panic!("expected a split run"),
                Step::Idle => {}
                Step::Part(p) => {
                    counts[p.start..p.end].copy_from_slice(&p.differing_by_channel);
                    max_abs = max_abs.max(p.max_abs_diff);
                    recomputed |= p.recomputed;
                }
            }
        }
        assert!(
            counts.iter().all(|&c| c != usize::MAX),
            "every channel in a part"
        );
        let mut shown = vec![];
        for w in workers.iter_mut() {
            if let Some(f) = w
                .show(s.view.clone(), counts.clone(), max_abs, recomputed)
                .unwrap()
            {
                let b = w.planes().unwrap().1.to_vec();
                shown.push((f, w.rgba.clone(), b));
            }
        }
        assert_eq!(shown.len(), 1, "one worker shows the frame");
        shown.pop().unwrap()
    }

    fn same(whole: &mut Session, workers: &mut [Session], s: &Scenario) -> Frame {
        let f = whole.update(s.clone()).unwrap();
        let (g, rgba, b) = split(workers, s);
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            serde_json::to_string(&g).unwrap()
        );
        assert_eq!(whole.rgba, rgba);
        assert_eq!(whole.planes().unwrap().1, &b[..]);
        g
    }

    #[test]
    fn split_frames_equal_whole_ones() {
        let mut s = layer(16, 12, 96);
        let mut whole = Session::new();
        let mut workers: Vec<Session> = (0..3).map(|_| Session::new()).collect();
        assert_eq!(s.parts(3).len(), 3);
        // A new scenario opens on the channel where most differ.
        let f = same(&mut whole, &mut workers, &s);
        assert!(f.recomputed && f.differing > 0);
        // A view change in another part: not recomputed.
        s.view = View {
            channel: 10,
            pixel: Some((5, 7)),
            ..View::default()
        };
        for map in [MapKind::Saturation, MapKind::Tie, MapKind::Diff] {
            s.view.map = map;
            assert!(!same(&mut whole, &mut workers, &s).recomputed);
        }
        // A new output scale: requantized in every part.
        s.params.output_scale = 0.031;
        assert!(same(&mut whole, &mut workers, &s).recomputed);
        // fbgemm's saturating AVX2 kernels.
        s.platform.cpu = Cpu::Avx2;
        s.view.channel = 1;
        let f = same(&mut whole, &mut workers, &s);
        assert!(f.recomputed);
    }

    #[test]
    fn small_scenarios_are_worker_zeros_alone() {
        let s = preset("forum").unwrap();
        let mut w = Session::new();
        assert!(matches!(
            w.update_part(s.clone(), 0, 2).unwrap(),
            Step::Whole(_)
        ));
        let mut other = Session::new();
        assert!(matches!(other.update_part(s, 1, 2).unwrap(), Step::Idle));
        assert!(other.show(View::default(), vec![0], 0, false).is_err());
    }
}

#[cfg(test)]
mod clamp_tests {
    use super::*;
    use crate::engine::{Computation, HandAssumptions};
    use crate::scenario::{preset, InputSource, PRESETS};

    /// `clamp_marks` agrees with tracing each pixel, on every channel.
    fn agrees(s: &Scenario) -> usize {
        let run = s.run().unwrap();
        let (oh, ow) = run.shape.output_hw();
        let plane = oh * ow;
        let mut marked = 0;
        for c in 0..run.shape.out_channels {
            let start = c * plane;
            let a = &run.out_a[start..start + plane];
            let acc = &run.acc_for(&run.ra)[start..start + plane];
            let fast = clamp_marks(&run, start, a, acc);
            let each: Vec<bool> = (0..plane).map(|i| clamped_a(&run, start + i)).collect();
            assert_eq!(fast, each, "channel {c} of {s:?}");
            marked += each.iter().filter(|&&m| m).count();
        }
        marked
    }

    #[test]
    fn clamp_marks_equal_each_pixels_trace() {
        for (id, _) in PRESETS {
            agrees(&preset(id).unwrap());
        }
        // A layer where both limits clamp, on several engines, with and
        // without ReLU, and ReLU with the zero point at the top.
        let mut s = preset("forum").unwrap();
        s.shape.in_channels = 8;
        s.shape.out_channels = 4;
        (s.shape.height, s.shape.width) = (40, 40);
        (s.shape.kernel, s.shape.padding) = ([3, 3], [1, 1]);
        s.input = InputSource::Random { seed: 3 };
        s.weights = (0..s.shape.weight_len())
            .map(|i| (((i * 61) % 255) as i32 - 127) as i8)
            .collect();
        s.params.weight_scales = vec![0.004, 0.002, 0.001, 0.0005];
        s.params.weight_zero_points = vec![0; 4];
        s.params.bias = Some(vec![0.1, -0.2, 0.0, 0.3]);
        s.params.output_scale = 0.02;
        s.params.output_zero_point = 120;
        let hand = Computation::hand(HandAssumptions::default());
        let mut total = 0;
        for a in [Computation::FBGEMM, Computation::QNNPACK, hand] {
            for (relu, zp) in [(false, 120), (true, 120), (true, 255), (false, 0)] {
                s.a = a;
                s.params.relu = relu;
                s.params.output_zero_point = zp;
                total += agrees(&s);
            }
        }
        assert!(total > 1000, "the layer clamps: {total}");
    }
}
