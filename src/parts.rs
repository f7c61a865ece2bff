//! Splitting a run across workers by output channel.
//!
//! Each output channel's accumulators depend on the input, that channel's
//! weights and zero point, and the kernel; its codes on those accumulators
//! and the requantization, which is chosen on the whole scenario. So a range
//! of channels computed alone gives the whole run's bits there, as long as
//! the kernel would sum them the same way on the smaller shape: groups 1
//! (a part of a group would change its input channels), and each side's
//! accumulation exact, raw codes, ONNX Runtime's float path (each channel
//! with its own scales and bias) or MLAS's saturating pairs, or fbgemm on a
//! path that saturates exactly
//! when the whole's does: fbgemm chooses its path from the shape, every
//! saturating path sums the same int16 pairs (src/fbgemm_gemm.rs), and the
//! groupwise kernel, exact on a VNNI host, is chosen for the whole's shape
//! but not for a part's. Anything else runs whole, on one worker.
use crate::conv::ConvShape;
use crate::convert::Converted;
use crate::engine::Accumulation;
use crate::scenario::Scenario;
use std::ops::Range;

/// Multiply-adds a part should have at least: below this one worker is
/// faster than the round trips of several.
pub const PART_MIN_MACS: u64 = 1 << 22;

impl Scenario {
    /// The output channels each of at most `workers` workers computes
    /// ([`Scenario::run_part`]): one range of all channels when the scenario
    /// is small or does not split, else consecutive ranges of near-equal size.
    #[allow(clippy::single_range_in_vec_init)] // one range of all channels
    pub fn parts(&self, workers: usize) -> Vec<Range<usize>> {
        let c = self.shape.out_channels;
        let (oh, ow) = self.shape.output_hw();
        let macs = (oh * ow) as u64 * self.shape.weight_len() as u64;
        let n = (workers as u64).min(c as u64).min(macs / PART_MIN_MACS) as usize;
        let ranges: Vec<Range<usize>> = (0..n).map(|i| i * c / n..(i + 1) * c / n).collect();
        if n < 2 || !ranges.iter().all(|r| self.part_fits(r)) {
            return vec![0..c];
        }
        ranges
    }

    /// Whether the channels `range` computed alone give the whole run's bits
    /// there (see the module notes).
    pub fn part_fits(&self, range: &Range<usize>) -> bool {
        let s = &self.shape;
        if range.is_empty() || range.end > s.out_channels || s.batch != 1 || s.groups != 1 {
            return false;
        }
        let part = ConvShape {
            out_channels: range.len(),
            ..*s
        };
        let p = &self.params;
        let converted = crate::convert::across(p, self.a, self.b);
        // Only the kernel matters here (a scenario the engines refuse fails
        // the same way whole or in parts).
        [self.a, self.b].into_iter().all(|c| {
            let q = Converted::params(&converted, p, c);
            match c.kernel(s, q, &self.platform).accumulation {
                Accumulation::Exact | Accumulation::RawCodes => true,
                // Both saturating (the same pairs on every path) or both exact.
                Accumulation::Fbgemm { isa } => {
                    let per_channel = p.weight_zero_points.len() > 1;
                    let (whole, alone) = (isa.path(s, per_channel), isa.path(&part, per_channel));
                    isa.saturates(whole) == isa.saturates(alone)
                }
                // Per channel, its own scales and bias (`run_with`'s `first`).
                Accumulation::DequantizedFloat => true,
                // fbgemm's pair model; MLAS picks it for every grouping-1
                // shape alike (only depthwise stays exact).
                Accumulation::MlasU8S8 => true,
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use crate::engine::Cpu;
    use crate::engine::{Computation, HandAssumptions};
    use crate::explain::explain;
    use crate::scenario::{preset, InputSource, Scenario, Workspace};

    /// A scenario of `cin -> cout` channels at `side`x`side`, 3x3, with
    /// weights large enough that saturating kernels saturate.
    fn layer(cin: usize, cout: usize, side: usize) -> Scenario {
        let mut s = preset("forum").unwrap();
        s.shape.in_channels = cin;
        s.shape.out_channels = cout;
        s.shape.height = side;
        s.shape.width = side;
        s.shape.kernel = [3, 3];
        s.shape.padding = [1, 1];
        s.input = InputSource::Random { seed: 5 };
        s.weights = (0..s.shape.weight_len())
            .map(|i| (((i * 37) % 255) as i32 - 127) as i8)
            .collect();
        s.params.per_channel = true;
        s.params.weight_scales = (0..cout).map(|c| 0.002 + 0.0001 * c as f64).collect();
        s.params.weight_zero_points = vec![0; cout];
        s.params.bias = Some((0..cout).map(|c| 0.01 * c as f32).collect());
        s.params.output_scale = 0.05;
        s.params.output_zero_point = 3;
        // Codes across 0..255 (random values about the zero point): with
        // the weights above, u8·s8 pairs pass int16.
        s.params.input_zero_point = 128;
        s.view.pixel = None;
        s
    }

    /// Every part's codes, accumulators, traces and explanations equal the
    /// whole run's on its channels.
    fn parts_equal_whole(s: &Scenario, workers: usize) -> usize {
        let whole = s.run().unwrap();
        let parts = s.parts(workers);
        let (oh, ow) = s.shape.output_hw();
        let plane = oh * ow;
        for range in &parts {
            let part = s
                .run_part(&mut Workspace::default(), None, range.clone())
                .unwrap();
            let at = range.start * plane..range.end * plane;
            assert_eq!(part.out_a, whole.out_a[at.clone()], "{range:?}");
            assert_eq!(part.out_b, whole.out_b[at.clone()], "{range:?}");
            assert_eq!(*part.acc, whole.acc[at.clone()]);
            for r in [&whole.ra, &whole.rb] {
                assert_eq!(part.acc_for(r), &whole.acc_for(r)[at.clone()]);
            }
            // The explanation of a differing pixel of each channel (or its
            // first pixel), from the part and from the whole run.
            for c in range.clone() {
                let i = (0..plane)
                    .find(|&i| whole.out_a[c * plane + i] != whole.out_b[c * plane + i])
                    .unwrap_or(0);
                let (y, x) = (i / ow, i % ow);
                let (e, f) = (
                    explain(&whole, c, y, x).unwrap(),
                    explain(&part, c, y, x).unwrap(),
                );
                assert_eq!(format!("{e:?}"), format!("{f:?}"), "channel {c}");
            }
        }
        parts.len()
    }

    #[test]
    fn small_scenarios_and_one_worker_run_whole() {
        let s = layer(8, 8, 64);
        assert_eq!(s.parts(4), vec![0..8]);
        assert_eq!(layer(16, 16, 128).parts(1), vec![0..16]);
        // 16 -> 16 at 128x128 is 37.7 M multiply-adds: four parts.
        assert_eq!(layer(16, 16, 128).parts(4), vec![0..4, 4..8, 8..12, 12..16]);
        // Never more parts than channels.
        assert_eq!(layer(64, 3, 128).parts(8).len(), 3);
    }

    #[test]
    fn parts_give_the_whole_runs_bits_fbgemm_and_hand() {
        assert_eq!(parts_equal_whole(&layer(16, 16, 128), 3), 3);
        assert_eq!(parts_equal_whole(&layer(64, 10, 64), 4), 4);
    }

    #[test]
    fn parts_give_the_whole_runs_bits_on_saturating_fbgemm() {
        let mut s = layer(16, 12, 96);
        s.platform.cpu = Cpu::Avx2;
        let whole = s.run().unwrap();
        let k = s.a.kernel(&s.shape, &s.params, &s.platform).accumulation;
        assert!(whole.acc_of(k) != whole.acc.as_slice(), "pairs saturate");
        assert_eq!(parts_equal_whole(&s, 2), 2);
        // 16 -> 16: the whole runs fbgemm's groupwise kernel, a part im2col;
        // without VNNI both saturate, in the same pairs.
        let mut s = layer(16, 16, 96);
        s.platform.cpu = Cpu::Avx2;
        s.platform.emulated = false;
        let isa = s.platform.fbgemm_isa();
        let half = crate::conv::ConvShape {
            out_channels: 8,
            ..s.shape
        };
        assert_ne!(isa.path(&s.shape, true), isa.path(&half, true));
        assert_eq!(parts_equal_whole(&s, 2), 2);
        // AVX2 forced on a VNNI host: the whole's groupwise kernel is exact,
        // a part's im2col saturates. Whole.
        s.platform.emulated = true;
        assert_eq!(s.parts(2), vec![0..16]);
        // and a hand calculation that forgets the zero points (raw codes)
        let mut s = layer(32, 6, 96);
        s.params.input_zero_point = 7;
        s.b = Computation::hand(HandAssumptions {
            ignore_zero_points: true,
            ..HandAssumptions::faithful()
        });
        assert_eq!(parts_equal_whole(&s, 2), 2);
    }

    #[test]
    fn parts_give_the_whole_runs_bits_on_onnxruntimes_float_path() {
        // Across runtimes: per-channel scales and an int32 bias, which each
        // part reads at its own channels.
        let mut s = layer(16, 12, 96);
        s.b = Computation::of(crate::engine::ort_qdq_float::ID);
        let whole = s.run().unwrap();
        assert!(whole.out_a != whole.out_b, "the two sides part somewhere");
        assert_eq!(parts_equal_whole(&s, 3), 3);
    }

    #[test]
    fn parts_give_the_whole_runs_bits_on_mlas_saturating_pairs() {
        // ONNX Runtime's QLinearConv on a CPU without VNNI (modelled).
        let mut s = layer(16, 12, 96);
        s.b = Computation::of(crate::engine::ort_qlinearconv::ID);
        s.platform.cpu = Cpu::Avx2;
        s.platform.emulated = false;
        let k = s.b.kernel(&s.shape, &s.params, &s.platform);
        assert_eq!(k.accumulation, crate::engine::Accumulation::MlasU8S8);
        let whole = s.run().unwrap();
        assert!(
            whole.acc_of(k.accumulation) != whole.acc.as_slice(),
            "pairs saturate"
        );
        assert_eq!(parts_equal_whole(&s, 2), 2);
    }

    #[test]
    fn grouped_convs_run_whole_and_a_misfit_part_is_refused() {
        let mut s = layer(16, 16, 128);
        s.shape.groups = 2;
        s.weights.truncate(s.shape.weight_len());
        assert_eq!(s.parts(4), vec![0..16]);
        assert!(s.run_part(&mut Workspace::default(), None, 0..8).is_err());
        let s = layer(16, 16, 128);
        assert!(s.run_part(&mut Workspace::default(), None, 4..17).is_err());
        assert!(s.run_part(&mut Workspace::default(), None, 4..4).is_err());
    }
}
