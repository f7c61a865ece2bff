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

/// A new scenario opens on the channel where most pixels differ (the first
/// such channel on a tie) and on its first differing pixel, unless the pixel
/// selected differs there already. Nothing moves when no pixel differs.
fn show_most_differing(run: &Run, counts: &[usize], view: &mut View) {
    let (oh, ow) = run.shape.output_hw();
    let plane = oh * ow;
    let differs = |i: usize| run.out_a[i] != run.out_b[i];
    let best = (0..counts.len()).fold(0, |b, c| if counts[c] > counts[b] { c } else { b });
    let kept = view
        .pixel
        .is_some_and(|(r, c)| differs(best * plane + r * ow + c));
    if counts[best] == 0 || (best == view.channel && kept) {
        return;
    }
    view.channel = best;
    view.pixel = (0..plane)
        .find(|&i| differs(best * plane + i))
        .map(|i| (i / ow, i % ow));
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
            let run = s.run_after(&mut self.ws, self.run.as_ref())?;
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
}

/// Paint `s.view` of `run` into `rgba` and describe it.
/// Differing pixels per channel and the largest |A - B| over all channels.
fn counts(run: &Run) -> (Vec<usize>, i64) {
    let channels = run.shape.out_channels;
    let (rows, cols) = run.shape.output_hw();
    let mut by_channel = vec![0usize; channels];
    let mut max_abs = 0i64;
    // Plane by plane (NCHW): no division per element.
    let planes = run
        .out_a
        .chunks(rows * cols)
        .zip(run.out_b.chunks(rows * cols));
    for (i, (pa, pb)) in planes.enumerate() {
        for (x, y) in pa.iter().zip(pb) {
            if x != y {
                by_channel[i % channels] += 1;
                max_abs = max_abs.max((*x as i64 - *y as i64).abs());
            }
        }
    }
    (by_channel, max_abs)
}

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
        let start = ch * plane;
        let (a, b) = (
            &run.out_a[start..start + plane],
            &run.out_b[start..start + plane],
        );
        let (differing_by_channel, max_abs) = (counts.0.clone(), counts.1);
        let differing = differing_by_channel.iter().sum();
        let lo = low_limit(run);
        let clamp: Vec<bool> = (0..plane)
            .map(|i| (a[i] == 255 || a[i] == lo) && clamped_a(run, start + i))
            .collect();
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
                let exact = &run.acc[start..start + plane];
                let sa = &run.acc_for(&run.ra)[start..start + plane];
                let sb = &run.acc_for(&run.rb)[start..start + plane];
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
        let input_codes = match &run.input {
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
