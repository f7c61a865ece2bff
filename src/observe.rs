//! PyTorch's observers (`torch.ao.quantization.observer`, torch 2.15, the current
//! release), bit for bit.
//!
//! `MinMaxObserver`, `MovingAverageMinMaxObserver`, `PerChannelMinMaxObserver`,
//! `MovingAveragePerChannelMinMaxObserver` (any `ch_axis`) and `HistogramObserver`,
//! with every constructor argument PyTorch accepts honoured (`dtype` including
//! qint32, `qscheme`, `reduce_range`, `quant_min`/`quant_max`, `eps`, `ch_axis`,
//! `averaging_constant`, `bins`) or refused with a message naming it.
//! Versions: where torch 2.5 differs (HistogramObserver merging a single-valued
//! histogram into a wider one, pytorch issue 156414) the derivation says so. Everything PyTorch computes on float32
//! tensors is done here in `f32`, one rounding per op; everything it computes on
//! Python floats is done in `f64`. The places where that matters:
//!
//! - A Python float meeting a float32 tensor (`t * 0.01`, `cSum[l] < x * total`,
//!   `t / float(qmax - qmin)`) is first rounded to float32, then the op runs in f32.
//! - `torch.histc` bins with `int((x - lo) * bins / (hi - lo))` in f32 (the max
//!   lands in the last bin); a zero-width range becomes `[v - 1, v + 1]` (in double).
//! - `torch.linspace` on CPU computes `start + step*i` for the first half and
//!   `end - step*(steps-1-i)` for the second, each contracted into one FMA.
//! - `torch.cumsum` on float32 accumulates in double and stores float32 values.
//! - `torch.sum` on float32 is the AVX2 cascade sum (8 lanes, 4-way ILP,
//!   16-element levels), not a sequential sum; the histogram search compares
//!   such sums.
// Index loops mirror ATen's kernels; `!(a <= b)` comparisons are NaN-aware on purpose.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

use crate::error::{Error, Result};
use crate::quant::{DType, QScheme};
use serde::{Deserialize, Serialize};

/// `torch.finfo(torch.float32).eps`: the smallest scale an observer returns.
pub fn eps() -> f32 {
    f32::EPSILON
}

/// How much the histogram observer refines an old histogram before re-binning it.
const UPSAMPLE_RATE: usize = 16;
/// Largest histogram the observer accepts (PyTorch has no limit; this keeps the
/// upsampled copy and the search affordable).
const MAX_BINS: usize = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObserverKind {
    MinMax,
    MovingAverageMinMax,
    PerChannelMinMax,
    MovingAveragePerChannelMinMax,
    Histogram,
}

impl ObserverKind {
    pub fn class_name(self) -> &'static str {
        match self {
            ObserverKind::MinMax => "MinMaxObserver",
            ObserverKind::MovingAverageMinMax => "MovingAverageMinMaxObserver",
            ObserverKind::PerChannelMinMax => "PerChannelMinMaxObserver",
            ObserverKind::MovingAveragePerChannelMinMax => "MovingAveragePerChannelMinMaxObserver",
            ObserverKind::Histogram => "HistogramObserver",
        }
    }

    /// Per-channel observers (`ch_axis`, one scale per channel).
    pub fn is_per_channel(self) -> bool {
        matches!(
            self,
            ObserverKind::PerChannelMinMax | ObserverKind::MovingAveragePerChannelMinMax
        )
    }

    /// Moving-average observers (`averaging_constant`).
    pub fn is_moving_average(self) -> bool {
        matches!(
            self,
            ObserverKind::MovingAverageMinMax | ObserverKind::MovingAveragePerChannelMinMax
        )
    }

    /// Accepts the class name (optionally module-qualified, e.g.
    /// `torch.ao.quantization.observer.MinMaxObserver`) or the snake_case name.
    pub fn parse(class_name: &str) -> Result<Self> {
        let s = class_name.trim();
        let s = s.rsplit('.').next().unwrap_or(s);
        match s {
            "MinMaxObserver" | "min_max" => Ok(ObserverKind::MinMax),
            "MovingAverageMinMaxObserver" | "moving_average_min_max" => {
                Ok(ObserverKind::MovingAverageMinMax)
            }
            "PerChannelMinMaxObserver" | "per_channel_min_max" => {
                Ok(ObserverKind::PerChannelMinMax)
            }
            "MovingAveragePerChannelMinMaxObserver" | "moving_average_per_channel_min_max" => {
                Ok(ObserverKind::MovingAveragePerChannelMinMax)
            }
            "HistogramObserver" | "histogram" => Ok(ObserverKind::Histogram),
            other => Err(Error::Input(format!(
                "unknown observer {other:?} (MinMaxObserver, MovingAverageMinMaxObserver, \
                 PerChannelMinMaxObserver, MovingAveragePerChannelMinMaxObserver, HistogramObserver)"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObserverConfig {
    pub kind: ObserverKind,
    pub dtype: DType,
    pub qscheme: QScheme,
    pub reduce_range: bool,
    /// MovingAverageMinMaxObserver only (PyTorch default 0.01).
    pub averaging_constant: f32,
    /// HistogramObserver only (PyTorch default 2048).
    pub bins: usize,
    /// A custom quantized range: PyTorch uses it only when both are given
    /// (`has_customized_qrange`); one alone is refused here.
    #[serde(default)]
    pub quant_min: Option<i64>,
    #[serde(default)]
    pub quant_max: Option<i64>,
    /// The smallest scale (a float32 buffer; default `torch.finfo(float32).eps`).
    #[serde(default = "eps")]
    pub eps: f32,
    /// Per-channel observers only: the channel axis (negative counts from the end, as in Python).
    #[serde(default)]
    pub ch_axis: i64,
}

impl ObserverConfig {
    pub fn new(kind: ObserverKind, dtype: DType, qscheme: QScheme, reduce_range: bool) -> Self {
        ObserverConfig {
            kind,
            dtype,
            qscheme,
            reduce_range,
            averaging_constant: 0.01,
            bins: 2048,
            quant_min: None,
            quant_max: None,
            eps: eps(),
            ch_axis: 0,
        }
    }

    /// `calculate_qmin_qmax`: the observer's (quant_min, quant_max), with the
    /// checks PyTorch's `validate_qmin_qmax` and `calculate_qmin_qmax` make.
    pub fn qrange(&self) -> Result<(i64, i64)> {
        let name = self.kind.class_name();
        match (self.quant_min, self.quant_max) {
            (None, None) => Ok(self.dtype.observer_range(self.reduce_range)),
            (Some(_), None) | (None, Some(_)) => {
                Err(Error::Input(format!(
                "{name}: quant_min and quant_max must be given together (PyTorch ignores {} alone)",
                if self.quant_min.is_some() { "quant_min" } else { "quant_max" }
            )))
            }
            (Some(lo), Some(hi)) => {
                if !(lo <= 0 && 0 <= hi) {
                    return Err(Error::Input(format!(
                        "{name}: quant_min {lo} / quant_max {hi}: the user-specified quantization range must include 0 (PyTorch asserts)"
                    )));
                }
                if lo >= hi {
                    return Err(Error::Input(format!(
                        "{name}: quant_min {lo} must be strictly less than quant_max {hi} (PyTorch asserts)"
                    )));
                }
                let len = hi - lo + 1;
                let limit = match self.dtype {
                    DType::QInt8 => Some(256),
                    DType::QInt32 => Some(1i64 << 32),
                    DType::QUInt8 => None,
                };
                if let Some(l) = limit {
                    if len > l {
                        return Err(Error::Input(format!(
                            "{name}: quant_min {lo} / quant_max {hi}: the range of {len} values exceeds {} for {} (PyTorch asserts)",
                            l,
                            self.dtype.name()
                        )));
                    }
                }
                if lo < i32::MIN as i64 || hi > i32::MAX as i64 {
                    return Err(Error::Input(format!(
                        "{name}: quant_min {lo} / quant_max {hi} do not fit int32 (the zero point is computed in int32)"
                    )));
                }
                // reduce_range halves a custom range too (floor division).
                Ok(if self.reduce_range {
                    (lo.div_euclid(2), hi.div_euclid(2))
                } else {
                    (lo, hi)
                })
            }
        }
    }

    fn has_customized_qrange(&self) -> bool {
        self.quant_min.is_some() && self.quant_max.is_some()
    }

    /// The checks PyTorch's constructors make (and a few of our own).
    pub fn validate(&self) -> Result<()> {
        let name = self.kind.class_name();
        let per_channel = self.kind.is_per_channel();
        if per_channel != self.qscheme.is_per_channel() {
            return Err(Error::Input(format!(
                "{name} does not support qscheme {} (it takes {} schemes)",
                self.qscheme.name(),
                if per_channel {
                    "per_channel_affine / per_channel_symmetric"
                } else {
                    "per_tensor_affine / per_tensor_symmetric"
                }
            )));
        }
        if self.qscheme.is_symmetric()
            && self.reduce_range
            && self.dtype == DType::QUInt8
            && self.kind != ObserverKind::Histogram
        {
            return Err(Error::Input(format!(
                "{name}: cannot reduce range for symmetric quantization for quint8 (PyTorch raises NotImplementedError)"
            )));
        }
        self.qrange()?;
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(Error::Input(format!(
                "{name}: eps must be a positive finite float32, got {} (a zero or non-finite smallest scale cannot quantize)",
                self.eps
            )));
        }
        if !per_channel && self.ch_axis != 0 {
            return Err(Error::Input(format!(
                "{name} takes no ch_axis (only per-channel observers do; PyTorch raises TypeError)"
            )));
        }
        if self.kind.is_moving_average() && !self.averaging_constant.is_finite() {
            return Err(Error::BadValue(format!(
                "averaging_constant must be finite, got {}",
                self.averaging_constant
            )));
        }
        if self.kind == ObserverKind::Histogram && (self.bins == 0 || self.bins > MAX_BINS) {
            return Err(Error::Input(format!(
                "HistogramObserver bins must be in 1..={MAX_BINS}, got {}",
                self.bins
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QParamsDerivation {
    /// float32 values widened to f64.
    pub scales: Vec<f64>,
    pub zero_points: Vec<i64>,
    pub qmin: i64,
    pub qmax: i64,
    /// The min/max handed to the formula, per channel or one. For the histogram
    /// observer these are the searched `new_min`/`new_max`.
    pub min_vals: Vec<f32>,
    pub max_vals: Vec<f32>,
    /// Per channel, the scale and zero-point formulas with their numbers.
    pub formula: Vec<String>,
    pub histogram: Option<HistogramDerivation>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramDerivation {
    /// Histogram range.
    pub min: f32,
    pub max: f32,
    /// The bin counts as PyTorch holds them (float32; fractional after upsampling).
    pub bins: Vec<f32>,
    /// Chosen by the search.
    pub start_bin: usize,
    pub end_bin: usize,
    /// Range handed to the affine/symmetric formula.
    pub new_min: f32,
    pub new_max: f32,
}

/// An observer fed batches one at a time, like calling the PyTorch module.
#[derive(Debug, Clone)]
pub struct Observer {
    cfg: ObserverConfig,
    qmin: i64,
    qmax: i64,
    /// Running min/max: one entry (per-tensor) or one per channel; empty before
    /// the first batch.
    min_val: Vec<f32>,
    max_val: Vec<f32>,
    /// HistogramObserver only.
    histogram: Vec<f32>,
    /// A single-valued histogram was merged into a wider one (where torch 2.5 differs).
    single_valued_merge: bool,
}

// ------------------------------------------------------------------ the formula

/// `torch.min(a, b)` / `torch.max(a, b)` on non-NaN floats.
fn tmin(a: f32, b: f32) -> f32 {
    if a.is_nan() || a < b {
        a
    } else {
        b
    }
}
fn tmax(a: f32, b: f32) -> f32 {
    if a.is_nan() || a > b {
        a
    } else {
        b
    }
}

struct Derived {
    scale: f32,
    zp: i64,
    scale_formula: String,
    zp_formula: String,
}

/// `.to(torch.int)` of a float32 on x86-64: out of range (or NaN) gives INT32_MIN.
fn to_int32(r: f32) -> i32 {
    if r.is_nan() || !(-2147483648.0f32..2147483648.0f32).contains(&r) {
        i32::MIN
    } else {
        r as i32
    }
}

/// `_calculate_qparams` for one channel, in float32 tensor arithmetic
/// (`e`: the observer's eps; `custom`: a user-given quant_min/quant_max).
#[allow(clippy::too_many_arguments)]
fn derive(
    min: f32,
    max: f32,
    dtype: DType,
    qscheme: QScheme,
    qmin: i64,
    qmax: i64,
    e: f32,
    custom: bool,
) -> Derived {
    let min_neg = tmin(min, 0.0);
    let max_pos = tmax(max, 0.0);
    if qscheme.is_symmetric() {
        let m = tmax(-min_neg, max_pos);
        // float(quant_max - quant_min) / 2 is a Python float, rounded to f32 by the op.
        let denom = ((qmax - qmin) as f64 / 2.0) as f32;
        let raw = m / denom;
        let scale = tmax(raw, e);
        // quint8: the midpoint of a custom range (floor), else 128; signed: 0.
        let zp = match (dtype, custom) {
            (DType::QUInt8, true) => (qmin + qmax).div_euclid(2),
            (DType::QUInt8, false) => 128,
            _ => 0,
        };
        Derived {
            scale,
            zp,
            scale_formula: format!(
                "scale = max(max(-min_neg, max_pos) / ((qmax - qmin) / 2), eps) = max(max({}, {}) / {}, {}) = max({}, {}) = {}",
                -min_neg, max_pos, denom, e, raw, e, scale
            ),
            zp_formula: if dtype == DType::QUInt8 && custom {
                format!("zero_point = (qmin + qmax) // 2 = ({qmin} + {qmax}) // 2 = {zp} (symmetric quint8, custom range)")
            } else {
                format!("zero_point = {} (symmetric {}: fixed)", zp, dtype.name())
            },
        }
    } else {
        let denom = (qmax - qmin) as f64 as f32;
        let raw = (max_pos - min_neg) / denom;
        let scale = tmax(raw, e);
        let q = min_neg / scale;
        let r = q.round_ties_even();
        // `.to(torch.int)` (below -2^31: INT32_MIN), then int32 arithmetic
        // (`qmin - INT32_MIN` wraps to 0 for qint32) and clamp.
        let ri = to_int32(r) as i64;
        let zp = ((qmin as i32).wrapping_sub(ri as i32) as i64).clamp(qmin, qmax);
        Derived {
            scale,
            zp,
            scale_formula: format!(
                "scale = max((max_pos - min_neg) / (qmax - qmin), eps) = max(({} - {}) / {}, {}) = max({}, {}) = {}",
                max_pos, min_neg, denom, e, raw, e, scale
            ),
            zp_formula: format!(
                "zero_point = clamp(qmin - round(min_neg / scale), qmin, qmax) = clamp({} - round({} / {}), {}, {}) = clamp({} - round({}), {}, {}) = clamp({}, {}, {}) = {}",
                qmin, min_neg, scale, qmin, qmax, qmin, q, qmin, qmax, qmin - ri, qmin, qmax, zp
            ),
        }
    }
}

/// The shared observer formula (`_calculate_qparams`) for one min/max pair:
/// `(scale, zero_point)`, computed in float32 exactly as PyTorch does.
pub fn qparams_from_min_max(
    min: f32,
    max: f32,
    dtype: DType,
    qscheme: QScheme,
    reduce_range: bool,
) -> (f32, i64) {
    let (qmin, qmax) = dtype.observer_range(reduce_range);
    let d = derive(min, max, dtype, qscheme, qmin, qmax, eps(), false);
    (d.scale, d.zp)
}

// ------------------------------------------------------------------ float32 kernels

/// `torch.sum` of a contiguous float32 vector on x86-64 (the sum kernel is
/// dispatched at AVX2 even on AVX512 CPUs): 8-lane vectors, cascade-summed.
pub(crate) fn torch_sum_f32(x: &[f32]) -> f32 {
    const L: usize = 8;
    let n = x.len();
    if n >= L {
        let nvec = n / L;
        let load = |i: usize| -> [f32; L] {
            let mut v = [0.0f32; L];
            v.copy_from_slice(&x[i * L..i * L + L]);
            v
        };
        let acc = row_sum(&load, nvec, [0.0f32; L], add_v);
        let mut fin = 0.0f32;
        for &v in &x[nvec * L..] {
            fin += v;
        }
        for lane in acc {
            fin += lane;
        }
        0.0 + fin
    } else {
        let load = |i: usize| x[i];
        0.0 + row_sum(&load, n, 0.0f32, |a, b| a + b)
    }
}

fn add_v(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
    let mut r = a;
    for k in 0..8 {
        r[k] += b[k];
    }
    r
}

/// `c10::utils::CeilLog2`.
fn ceil_log2(x: usize) -> usize {
    if x <= 2 {
        1
    } else {
        (usize::BITS - (x - 1).leading_zeros()) as usize
    }
}

/// ATen's `row_sum` (4-way ILP over `multi_row_sum`).
fn row_sum<T: Copy>(load: &dyn Fn(usize) -> T, size: usize, zero: T, add: fn(T, T) -> T) -> T {
    const ILP: usize = 4;
    let size_ilp = size / ILP;
    let mut ps = multi_row_sum(&|i, k| load(i * ILP + k), size_ilp, zero, add);
    for i in size_ilp * ILP..size {
        ps[0] = add(ps[0], load(i));
    }
    for k in 1..ILP {
        ps[0] = add(ps[0], ps[k]);
    }
    ps[0]
}

/// ATen's `multi_row_sum` with 4 rows and 4 cascade levels.
fn multi_row_sum<T: Copy>(
    load: &dyn Fn(usize, usize) -> T,
    size: usize,
    zero: T,
    add: fn(T, T) -> T,
) -> [T; 4] {
    const LEVELS: usize = 4;
    const NROWS: usize = 4;
    let level_power = std::cmp::max(4, ceil_log2(size) / LEVELS);
    let level_step = 1usize << level_power;
    let level_mask = level_step - 1;
    let mut acc = [[zero; NROWS]; LEVELS];
    let mut i = 0usize;
    while i + level_step <= size {
        for _ in 0..level_step {
            for k in 0..NROWS {
                acc[0][k] = add(acc[0][k], load(i, k));
            }
            i += 1;
        }
        for j in 1..LEVELS {
            for k in 0..NROWS {
                acc[j][k] = add(acc[j][k], acc[j - 1][k]);
                acc[j - 1][k] = zero;
            }
            let mask = level_mask
                .checked_shl((j * level_power) as u32)
                .unwrap_or(0);
            if i & mask != 0 {
                break;
            }
        }
    }
    while i < size {
        for k in 0..NROWS {
            acc[0][k] = add(acc[0][k], load(i, k));
        }
        i += 1;
    }
    for j in 1..LEVELS {
        for k in 0..NROWS {
            acc[0][k] = add(acc[0][k], acc[j][k]);
        }
    }
    acc[0]
}

/// `torch.linspace(start, end, steps)` in float32 on CPU.
fn linspace_f32(start: f32, end: f32, steps: usize) -> Vec<f32> {
    if steps == 1 {
        return vec![start];
    }
    let step = (end - start) / ((steps - 1) as f32);
    let half = steps / 2;
    (0..steps)
        .map(|i| {
            if i < half {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((steps - i - 1) as f32, end)
            }
        })
        .collect()
}

/// `torch.histc(x, bins, min, max)` in float32. Errors where PyTorch would
/// index outside the histogram (a range too wide or too narrow for float32).
fn histc(x: &[f32], bins: usize, min: f32, max: f32) -> Result<Vec<f32>> {
    let (mut lo, mut hi) = (min as f64, max as f64);
    if lo == hi && !x.is_empty() {
        let (a, b) = aminmax(x);
        lo = a as f64;
        hi = b as f64;
    }
    if lo == hi {
        lo -= 1.0;
        hi += 1.0;
    }
    let left = lo as f32;
    let right = hi as f32;
    let width = right - left;
    if width == 0.0 {
        // |v| so large that v - 1 and v + 1 round back to v in float32: the bin
        // formula gives 0/0, and PyTorch (x86-64) puts everything in bin 0.
        let mut h = vec![0.0f32; bins];
        h[0] = x.iter().filter(|&&e| e == left).count() as f32;
        return Ok(h);
    }
    if !(width > 0.0) || !(width.is_finite()) {
        return Err(Error::BadValue(format!(
            "histogram range [{left}, {right}] is wider than float32 holds: PyTorch's bin edges \
             become NaN, its histogram stays empty and calculate_qparams fails an assertion (min NaN <= max)"
        )));
    }
    let nb = bins as f32;
    let mut h = vec![0.0f32; bins];
    for &e in x {
        if !(e >= left && e <= right) {
            continue;
        }
        // ATen: `static_cast<int64_t>((e - left) * bins / (right - left))` in
        // float32. Where `(e - left) * bins` overflows to inf, x86-64 converts
        // inf to INT64_MIN, and `hist[INT64_MIN]` (4-byte floats, 64-bit
        // address arithmetic) wraps around to hist[0]: such values (the max
        // among them) are counted in bin 0.
        let t = (e - left) * nb / width;
        let p = if !t.is_finite() || t >= 9.223372e18 {
            0
        } else {
            let p = t as i64;
            if p as usize >= bins {
                bins - 1
            } else {
                p.max(0) as usize
            }
        };
        h[p] += 1.0;
    }
    Ok(h)
}

fn aminmax(x: &[f32]) -> (f32, f32) {
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for &v in x {
        lo = tmin(v, lo);
        hi = tmax(v, hi);
    }
    (lo, hi)
}

/// `torch.div(a, b, rounding_mode="floor")` on float32 (ATen's vectorized
/// `div_floor_floating_vec`).
fn div_floor(a: f32, b: f32) -> f32 {
    let basic = a / b;
    let m = a % b;
    let fl = if basic.abs() == f32::INFINITY && a.abs() != f32::INFINITY {
        a
    } else {
        a - m
    };
    let mut div = fl / b;
    if m != 0.0 && ((b < 0.0) ^ (m < 0.0)) {
        div -= 1.0;
    }
    let mut fd = div.floor();
    if div - fd > 0.5 {
        fd += 1.0;
    }
    if div == 0.0 {
        fd = 0.0f32.copysign(basic);
    }
    if b == 0.0 {
        fd = basic;
    }
    fd
}

fn tclamp(v: f32, lo: f32, hi: f32) -> f32 {
    tmin(tmax(v, lo), hi)
}

// ------------------------------------------------------------------ the observer

fn check_batch(shape: &[usize], x: &[f32]) -> Result<()> {
    let mut n: usize = 1;
    for &d in shape {
        n = n.checked_mul(d).ok_or_else(|| {
            Error::BadShape(format!(
                "shape {shape:?} has more elements than fit in memory"
            ))
        })?;
    }
    if n != x.len() {
        return Err(Error::BadShape(format!(
            "shape {shape:?} holds {n} values but the batch has {}",
            x.len()
        )));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::BadValue(format!(
            "batch value {i} is {} (observers need finite values)",
            x[i]
        )));
    }
    Ok(())
}

impl Observer {
    pub fn new(cfg: ObserverConfig) -> Result<Observer> {
        cfg.validate()?;
        let (qmin, qmax) = cfg.qrange()?;
        let histogram = if cfg.kind == ObserverKind::Histogram {
            vec![0.0; cfg.bins]
        } else {
            Vec::new()
        };
        Ok(Observer {
            cfg,
            qmin,
            qmax,
            min_val: Vec::new(),
            max_val: Vec::new(),
            histogram,
            single_valued_merge: false,
        })
    }

    pub fn config(&self) -> &ObserverConfig {
        &self.cfg
    }

    /// The running min/max (`min_val`, `max_val`; per channel or one; empty
    /// before data). For the histogram observer, the histogram's range.
    pub fn min_max(&self) -> (Vec<f32>, Vec<f32>) {
        (self.min_val.clone(), self.max_val.clone())
    }

    /// Feed one batch (row-major float32 with its shape), like calling the
    /// observer module. On error the observer is left unchanged.
    pub fn observe(&mut self, shape: &[usize], x: &[f32]) -> Result<()> {
        check_batch(shape, x)?;
        if x.is_empty() {
            // `if x_orig.numel() == 0: return x_orig` in every observer.
            return Ok(());
        }
        match self.cfg.kind {
            ObserverKind::MinMax => {
                let (lo, hi) = aminmax(x);
                if self.min_val.is_empty() {
                    self.min_val = vec![lo];
                    self.max_val = vec![hi];
                } else {
                    self.min_val[0] = tmin(lo, self.min_val[0]);
                    self.max_val[0] = tmax(hi, self.max_val[0]);
                }
            }
            ObserverKind::MovingAverageMinMax => {
                let (lo, hi) = aminmax(x);
                if self.min_val.is_empty() {
                    self.min_val = vec![lo];
                    self.max_val = vec![hi];
                } else {
                    let c = self.cfg.averaging_constant;
                    let (mn, mx) = (self.min_val[0], self.max_val[0]);
                    self.min_val[0] = mn + c * (lo - mn);
                    self.max_val[0] = mx + c * (hi - mx);
                }
            }
            ObserverKind::PerChannelMinMax | ObserverKind::MovingAveragePerChannelMinMax => {
                let axis = self.channel_axis(shape)?;
                let c = shape[axis];
                let outer: usize = shape[..axis].iter().product();
                let inner: usize = shape[axis + 1..].iter().product();
                let (mut mins, mut maxs) = (vec![f32::INFINITY; c], vec![f32::NEG_INFINITY; c]);
                for o in 0..outer {
                    for ch in 0..c {
                        let base = (o * c + ch) * inner;
                        let (lo, hi) = aminmax(&x[base..base + inner]);
                        mins[ch] = tmin(lo, mins[ch]);
                        maxs[ch] = tmax(hi, maxs[ch]);
                    }
                }
                let old = self.min_val.len();
                if old == 0 {
                    self.min_val = mins;
                    self.max_val = maxs;
                } else if old == c || c == 1 || old == 1 {
                    // torch.min(current, running) and the moving average
                    // broadcast a single channel against many, as PyTorch does.
                    let n = old.max(c);
                    let pick = |v: &[f32], i: usize| if v.len() == 1 { v[0] } else { v[i] };
                    let avg = self.cfg.averaging_constant;
                    let moving = self.cfg.kind.is_moving_average();
                    let upd = |cur: f32, run: f32, is_min: bool| {
                        if moving {
                            run + avg * (cur - run)
                        } else if is_min {
                            tmin(cur, run)
                        } else {
                            tmax(cur, run)
                        }
                    };
                    let new_min: Vec<f32> = (0..n)
                        .map(|i| upd(pick(&mins, i), pick(&self.min_val, i), true))
                        .collect();
                    let new_max: Vec<f32> = (0..n)
                        .map(|i| upd(pick(&maxs, i), pick(&self.max_val, i), false))
                        .collect();
                    self.min_val = new_min;
                    self.max_val = new_max;
                } else {
                    return Err(Error::BadShape(format!(
                        "{} saw {old} channels before, this batch has {c} \
                         (shape {shape:?}, ch_axis {}); PyTorch can only broadcast a single channel",
                        self.cfg.kind.class_name(),
                        self.cfg.ch_axis
                    )));
                }
            }
            ObserverKind::Histogram => self.observe_histogram(x)?,
        }
        Ok(())
    }

    /// `ch_axis` resolved against a batch's shape (negative counts from the end).
    fn channel_axis(&self, shape: &[usize]) -> Result<usize> {
        let n = shape.len() as i64;
        let a = self.cfg.ch_axis;
        let axis = if a < 0 { a + n } else { a };
        if !(0..n).contains(&axis) {
            return Err(Error::BadShape(format!(
                "{}: ch_axis {a} is outside a batch of shape {shape:?} (PyTorch raises IndexError)",
                self.cfg.kind.class_name()
            )));
        }
        Ok(axis as usize)
    }

    fn observe_histogram(&mut self, x: &[f32]) -> Result<()> {
        let bins = self.cfg.bins;
        let (x_min, x_max) = aminmax(x);
        check_hist_range(x_min, x_max, bins)?;
        if self.min_val.is_empty() {
            // reset_histogram
            let h = histc(x, bins, x_min, x_max)?;
            self.min_val = vec![x_min];
            self.max_val = vec![x_max];
            self.histogram = h;
            return Ok(());
        }
        let (cur_min, cur_max) = (self.min_val[0], self.max_val[0]);
        let new_min = tmin(cur_min, x_min);
        let new_max = tmax(cur_max, x_max);
        check_hist_range(new_min, new_max, bins)?;
        let upd = histc(x, bins, new_min, new_max)?;
        let combined: Vec<f32> = if new_min == cur_min && new_max == cur_max {
            self.histogram
                .iter()
                .zip(&upd)
                .map(|(a, b)| a + b)
                .collect()
        } else if cur_min == cur_max {
            // torch 2.15 weights the old single-valued histogram by its own
            // count (`torch.sum(orig_hist)`); torch <= 2.7 used the NEW batch's
            // count (`torch.sum(update_hist)`, pytorch issue 156414).
            let bin_value = torch_sum_f32(&self.histogram);
            let t = histc(&[cur_min], bins, new_min, new_max)?;
            self.single_valued_merge = true;
            t.iter().zip(&upd).map(|(a, b)| a * bin_value + b).collect()
        } else {
            let t = upscale_histogram(&self.histogram, cur_min, cur_max, new_min, new_max);
            upd.iter().zip(&t).map(|(a, b)| a + b).collect()
        };
        self.histogram = combined;
        self.min_val[0] = new_min;
        self.max_val[0] = new_max;
        Ok(())
    }

    /// `calculate_qparams()`: one scale/zero point (per-tensor) or one per channel.
    pub fn calculate_qparams(&self) -> Result<QParamsDerivation> {
        if self.min_val.is_empty() {
            // PyTorch warns ("must run observer before calling calculate_qparams")
            // and returns scale [1.0], zero point [0] (one entry, per-channel too).
            return Ok(QParamsDerivation {
                scales: vec![1.0],
                zero_points: vec![0],
                qmin: self.qmin,
                qmax: self.qmax,
                min_vals: vec![],
                max_vals: vec![],
                formula: vec![format!(
                    "{} has observed no data: PyTorch warns \"must run observer before calling calculate_qparams\" and returns scale 1.0, zero_point 0",
                    self.cfg.kind.class_name()
                )],
                histogram: None,
            });
        }
        let (mins, maxs, histogram, mut formula) = if self.cfg.kind == ObserverKind::Histogram {
            let hd = self.search();
            let f = vec![format!(
                "histogram search over {} bins of [{}, {}]: keep bins {}..={} -> new_min = min + bin_width * {} = {}, new_max = min + bin_width * {} = {}",
                self.cfg.bins,
                hd.min,
                hd.max,
                hd.start_bin,
                hd.end_bin,
                hd.start_bin,
                hd.new_min,
                hd.end_bin + 1,
                hd.new_max
            )];
            let mut f = f;
            if self.single_valued_merge {
                f.push("a single-valued histogram was merged into a wider range, weighted by its own count (torch 2.15); torch <= 2.7 (e.g. 2.5) weighted it by the new batch's count (pytorch issue 156414), so 2.5 may give other numbers here".to_string());
            }
            (vec![hd.new_min], vec![hd.new_max], Some(hd), f)
        } else {
            (self.min_val.clone(), self.max_val.clone(), None, Vec::new())
        };
        let per_channel = self.cfg.kind.is_per_channel();
        let custom = self.cfg.has_customized_qrange();
        let mut scales = Vec::with_capacity(mins.len());
        let mut zps = Vec::with_capacity(mins.len());
        for (ch, (&lo, &hi)) in mins.iter().zip(&maxs).enumerate() {
            if !(lo <= hi) {
                return Err(Error::BadValue(format!(
                    "min {lo} should be less than max {hi}"
                )));
            }
            let d = derive(
                lo,
                hi,
                self.cfg.dtype,
                self.cfg.qscheme,
                self.qmin,
                self.qmax,
                self.cfg.eps,
                custom,
            );
            let prefix = if per_channel {
                format!("channel {ch}: ")
            } else {
                String::new()
            };
            formula.push(format!("{prefix}{}", d.scale_formula));
            formula.push(format!("{prefix}{}", d.zp_formula));
            scales.push(d.scale as f64);
            zps.push(d.zp);
        }
        Ok(QParamsDerivation {
            scales,
            zero_points: zps,
            qmin: self.qmin,
            qmax: self.qmax,
            min_vals: mins,
            max_vals: maxs,
            formula,
            histogram,
        })
    }

    /// `_non_linear_param_search`.
    fn search(&self) -> HistogramDerivation {
        let bins = self.cfg.bins;
        let (min, max) = (self.min_val[0], self.max_val[0]);
        let hist = &self.histogram;
        let bin_width = (max - min) / bins as f32;
        let total = torch_sum_f32(hist) as f64;
        // cumsum: double accumulator, float32 results.
        let mut acc = 0.0f64;
        let csum: Vec<f32> = hist
            .iter()
            .map(|&h| {
                acc += h as f64;
                acc as f32
            })
            .collect();
        let stepsize = 1e-5f64;
        let (mut alpha, mut beta) = (0.0f64, 1.0f64);
        let (mut start_bin, mut end_bin) = (0usize, bins - 1);
        let mut norm_min = f64::INFINITY;
        while alpha < beta {
            let next_alpha = alpha + stepsize;
            let next_beta = beta - stepsize;
            // tensor < Python float: the float is rounded to float32 first.
            let ta = (next_alpha * total) as f32;
            let tb = (next_beta * total) as f32;
            let mut l = start_bin;
            let mut r = end_bin;
            while l < end_bin && csum[l] < ta {
                l += 1;
            }
            while r > start_bin && csum[r] > tb {
                r -= 1;
            }
            let mut next_start = start_bin;
            let mut next_end = end_bin;
            if (l - start_bin) > (end_bin - r) {
                next_start = l;
                alpha = next_alpha;
            } else {
                next_end = r;
                beta = next_beta;
            }
            if next_start == start_bin && next_end == end_bin {
                continue;
            }
            let norm = self.quantization_error(next_start, next_end);
            if norm > norm_min {
                break;
            }
            norm_min = norm;
            start_bin = next_start;
            end_bin = next_end;
        }
        let new_min = min + bin_width * start_bin as f32;
        let new_max = min + bin_width * (end_bin + 1) as f32;
        HistogramDerivation {
            min,
            max,
            bins: hist.clone(),
            start_bin,
            end_bin,
            new_min,
            new_max,
        }
    }

    /// `_compute_quantization_error`: Python floats for the widths, float32
    /// tensors for the per-bin terms, the cascade sum at the end.
    fn quantization_error(&self, next_start: usize, next_end: usize) -> f64 {
        let bins = self.cfg.bins;
        let (min, max) = (self.min_val[0], self.max_val[0]);
        let dst_nbins = match self.cfg.dtype {
            DType::QInt32 => 4294967296.0f64,
            _ => 256.0f64,
        };
        let bw = (max as f64 - min as f64) / bins as f64;
        let dbw = bw * (next_end - next_start + 1) as f64 / dst_nbins;
        if dbw == 0.0 {
            return 0.0;
        }
        let bw32 = bw as f32;
        let dbw32 = dbw as f32;
        let half32 = (dbw / 2.0) as f32;
        let neg_half32 = (-dbw / 2.0) as f32;
        let dmax = (dst_nbins - 1.0) as f32;
        let cube = |v: f32| v * v * v;
        let mid = (cube(half32) - cube(neg_half32)) / 3.0;
        let get_norm = |db: f32, de: f32, density: f32| density * ((cube(de) - cube(db)) / 3.0);
        let norm: Vec<f32> = (0..bins)
            .map(|i| {
                let sbb = ((i as i64 - next_start as i64) as f32) * bw32;
                let sbe = sbb + bw32;
                let dbob = tclamp(div_floor(sbb, dbw32), 0.0, dmax);
                let dbobc = (dbob + 0.5) * dbw32;
                let dboe = tclamp(div_floor(sbe, dbw32), 0.0, dmax);
                let density = self.histogram[i] / bw32;
                let mut n = 0.0f32 + get_norm(sbb - dbobc, half32, density);
                n += ((dboe - dbob) - 1.0) * (density * mid);
                let dboec = dboe * dbw32 + half32;
                n += get_norm(neg_half32, sbe - dboec, density);
                n
            })
            .collect();
        torch_sum_f32(&norm) as f64
    }
}

/// A range whose width overflows float32: PyTorch's linspace step is inf, its
/// bin edges NaN, the histogram stays empty and `calculate_qparams` fails
/// `check_min_max_valid`'s assertion (new_min is NaN). Refused here at once.
/// (A width that is finite but overflows when multiplied by the bin count is
/// binned as PyTorch does: see `histc`.)
fn check_hist_range(lo: f32, hi: f32, _bins: usize) -> Result<()> {
    let w = hi - lo;
    if !w.is_finite() {
        return Err(Error::BadValue(format!(
            "HistogramObserver range [{lo}, {hi}] is wider than float32 holds (PyTorch's \
             histogram stays empty and calculate_qparams raises AssertionError)"
        )));
    }
    Ok(())
}

/// `_upscale_histogram`: split each old bin 16 ways, re-bin the mid-points.
fn upscale_histogram(hist: &[f32], omin: f32, omax: f32, umin: f32, umax: f32) -> Vec<f32> {
    let bins = hist.len();
    let n = bins * UPSAMPLE_RATE;
    let bin_size = (omax - omin) / n as f32;
    let half = 0.5f32 * bin_size;
    let mids = linspace_f32(omin, omax, n + 1);
    let bounds = linspace_f32(umin, umax, bins + 1);
    let mut out = vec![0.0f32; bins];
    for j in 0..n {
        let m = mids[j] + half;
        // torch.bucketize(right=True): ATen's upper-bound binary search.
        let (mut s, mut e) = (0usize, bounds.len());
        while s < e {
            let mid = s + ((e - s) >> 1);
            if !(bounds[mid] > m) {
                s = mid + 1;
            } else {
                e = mid;
            }
        }
        let b = (s as i64 - 1).clamp(0, bins as i64 - 1) as usize;
        out[b] += hist[j / UPSAMPLE_RATE] / UPSAMPLE_RATE as f32;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(kind: ObserverKind, dtype: DType, qs: QScheme, rr: bool) -> ObserverConfig {
        ObserverConfig::new(kind, dtype, qs, rr)
    }

    #[test]
    fn eps_floor_on_all_zero_input() {
        let mut o = Observer::new(cfg(
            ObserverKind::MinMax,
            DType::QUInt8,
            QScheme::PerTensorAffine,
            false,
        ))
        .unwrap();
        o.observe(&[2, 2], &[0.0; 4]).unwrap();
        let d = o.calculate_qparams().unwrap();
        assert_eq!(d.scales, vec![f32::EPSILON as f64]);
        assert_eq!(d.zero_points, vec![0]);
        assert_eq!(eps(), 1.1920929e-07);
    }

    #[test]
    fn reduce_range_ranges() {
        for (dt, rr, lo, hi) in [
            (DType::QUInt8, false, 0, 255),
            (DType::QUInt8, true, 0, 127),
            (DType::QInt8, false, -128, 127),
            (DType::QInt8, true, -64, 63),
        ] {
            let mut o =
                Observer::new(cfg(ObserverKind::MinMax, dt, QScheme::PerTensorAffine, rr)).unwrap();
            o.observe(&[2], &[-1.0, 1.0]).unwrap();
            let d = o.calculate_qparams().unwrap();
            assert_eq!((d.qmin, d.qmax), (lo, hi));
            assert_eq!(d.scales[0], (2.0f32 / (hi - lo) as f32) as f64);
        }
        // [0, 0.98] with reduce_range quint8: 0.98 / 127.
        let (s, z) = qparams_from_min_max(0.0, 0.98, DType::QUInt8, QScheme::PerTensorAffine, true);
        assert_eq!(s, 0.98f32 / 127.0);
        assert_eq!(z, 0);
    }

    #[test]
    fn symmetric_quint8_zero_point_is_128() {
        let (s, z) =
            qparams_from_min_max(-0.5, 2.0, DType::QUInt8, QScheme::PerTensorSymmetric, false);
        assert_eq!(z, 128);
        assert_eq!(s, 2.0f32 / 127.5);
        let (_, z) =
            qparams_from_min_max(-0.5, 2.0, DType::QInt8, QScheme::PerTensorSymmetric, false);
        assert_eq!(z, 0);
        // quint8 + symmetric + reduce_range is refused like PyTorch does.
        assert!(Observer::new(cfg(
            ObserverKind::MinMax,
            DType::QUInt8,
            QScheme::PerTensorSymmetric,
            true
        ))
        .is_err());
    }

    #[test]
    fn affine_zero_point() {
        // min -1, max 3: scale 4/255, zp = 0 - round(-1 / s) = 64 (63.75 -> 64).
        let (s, z) =
            qparams_from_min_max(-1.0, 3.0, DType::QUInt8, QScheme::PerTensorAffine, false);
        assert_eq!(s, 4.0f32 / 255.0);
        assert_eq!(z, (-(-1.0f32 / s)).round_ties_even() as i64);
        assert_eq!(z, 64);
    }

    #[test]
    fn moving_average_update() {
        let mut o = Observer::new(cfg(
            ObserverKind::MovingAverageMinMax,
            DType::QUInt8,
            QScheme::PerTensorAffine,
            false,
        ))
        .unwrap();
        o.observe(&[2], &[-1.0, 1.0]).unwrap();
        o.observe(&[2], &[-3.0, 5.0]).unwrap();
        let d = o.calculate_qparams().unwrap();
        let c = 0.01f32;
        let mn = -1.0f32 + c * (-3.0f32 - -1.0f32);
        let mx = 1.0f32 + c * (5.0f32 - 1.0f32);
        assert_eq!(d.min_vals, vec![mn]);
        assert_eq!(d.max_vals, vec![mx]);
        assert_eq!(d.scales[0], ((mx - mn) / 255.0) as f64);
    }

    #[test]
    fn per_channel_weights_2111() {
        let mut o = Observer::new(cfg(
            ObserverKind::PerChannelMinMax,
            DType::QInt8,
            QScheme::PerChannelSymmetric,
            false,
        ))
        .unwrap();
        o.observe(&[2, 1, 1, 1], &[0.4808, -0.25]).unwrap();
        let d = o.calculate_qparams().unwrap();
        // symmetric weight rule: scale = max|w| / 127.5
        assert_eq!(
            d.scales,
            vec![(0.4808f32 / 127.5) as f64, (0.25f32 / 127.5) as f64]
        );
        assert_eq!(d.zero_points, vec![0, 0]);
        assert_eq!(d.min_vals, vec![0.4808, -0.25]);
        assert_eq!(d.formula.len(), 4);
        // affine per channel
        let mut o = Observer::new(cfg(
            ObserverKind::PerChannelMinMax,
            DType::QInt8,
            QScheme::PerChannelAffine,
            false,
        ))
        .unwrap();
        o.observe(&[2, 1, 1, 1], &[0.4808, -0.25]).unwrap();
        let d = o.calculate_qparams().unwrap();
        assert_eq!(
            d.scales,
            vec![(0.4808f32 / 255.0) as f64, (0.25f32 / 255.0) as f64]
        );
        assert_eq!(d.zero_points, vec![-128, 127]);
    }

    #[test]
    fn bad_input_is_an_error() {
        let mk = |k, qs| Observer::new(cfg(k, DType::QUInt8, qs, false)).unwrap();
        for (k, qs) in [
            (ObserverKind::MinMax, QScheme::PerTensorAffine),
            (ObserverKind::MovingAverageMinMax, QScheme::PerTensorAffine),
            (ObserverKind::PerChannelMinMax, QScheme::PerChannelAffine),
            (ObserverKind::Histogram, QScheme::PerTensorAffine),
        ] {
            let mut o = mk(k, qs);
            // no data: PyTorch warns and returns scale 1.0, zero point 0
            let d = o.calculate_qparams().unwrap();
            assert_eq!(
                (d.scales, d.zero_points),
                (vec![1.0], vec![0]),
                "{k:?} unobserved"
            );
            // an empty batch is ignored, as PyTorch's observers do
            o.observe(&[0, 3], &[]).unwrap();
            assert_eq!(o.calculate_qparams().unwrap().scales, vec![1.0]);
            assert!(o.observe(&[2, 2], &[1.0; 3]).is_err());
            assert!(o.observe(&[2], &[1.0, f32::NAN]).is_err());
            assert!(o.observe(&[2], &[1.0, f32::INFINITY]).is_err());
            assert!(o.observe(&[usize::MAX, 2], &[1.0]).is_err());
            o.observe(&[2, 1], &[1.0, 2.0]).unwrap();
            assert!(o.calculate_qparams().is_ok());
        }
        let mut o = mk(ObserverKind::PerChannelMinMax, QScheme::PerChannelAffine);
        o.observe(&[2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!(matches!(
            o.observe(&[4, 1], &[1.0; 4]),
            Err(Error::BadShape(_))
        ));
        assert!(o.observe(&[], &[1.0]).is_err());
        // wrong scheme for the kind
        assert!(Observer::new(cfg(
            ObserverKind::MinMax,
            DType::QUInt8,
            QScheme::PerChannelAffine,
            false
        ))
        .is_err());
        let mut c = cfg(
            ObserverKind::Histogram,
            DType::QUInt8,
            QScheme::PerTensorAffine,
            false,
        );
        c.bins = 0;
        assert!(Observer::new(c).is_err());
        // a range too wide for float32 binning
        let mut h = mk(ObserverKind::Histogram, QScheme::PerTensorAffine);
        assert!(h.observe(&[2], &[-3e38, 3e38]).is_err());
        assert!(ObserverKind::parse("Nope").is_err());
        assert_eq!(
            ObserverKind::parse("HistogramObserver").unwrap(),
            ObserverKind::Histogram
        );
    }

    #[test]
    fn histogram_constant_then_wider() {
        let mut o = Observer::new(cfg(
            ObserverKind::Histogram,
            DType::QUInt8,
            QScheme::PerTensorAffine,
            false,
        ))
        .unwrap();
        o.observe(&[3], &[0.5; 3]).unwrap();
        let d = o.calculate_qparams().unwrap();
        let h = d.histogram.unwrap();
        assert_eq!(h.bins.iter().sum::<f32>(), 3.0);
        o.observe(&[2], &[0.0, 1.0]).unwrap();
        let d = o.calculate_qparams().unwrap();
        // torch 2.15 weights the old constant histogram by its own count (3);
        // torch <= 2.7 used the new batch's count (2), giving 4 (pytorch issue 156414)
        assert_eq!(d.histogram.unwrap().bins.iter().sum::<f32>(), 5.0);
        assert!(d.formula.iter().any(|f| f.contains("156414")));
    }

    #[test]
    fn per_channel_broadcasts_a_single_channel_like_pytorch() {
        let mut o = Observer::new(cfg(
            ObserverKind::PerChannelMinMax,
            DType::QInt8,
            QScheme::PerChannelAffine,
            false,
        ))
        .unwrap();
        o.observe(&[2, 2], &[1.0, 2.0, -3.0, 4.0]).unwrap();
        o.observe(&[1, 2], &[-1.0, 5.0]).unwrap();
        let d = o.calculate_qparams().unwrap();
        assert_eq!(d.min_vals, vec![-1.0, -3.0]);
        assert_eq!(d.max_vals, vec![5.0, 5.0]);
    }

    #[test]
    fn histogram_huge_constant() {
        // PyTorch: scale 392156.875 (= 1e8 / 255), zero point 0.
        let mut o = Observer::new(cfg(
            ObserverKind::Histogram,
            DType::QUInt8,
            QScheme::PerTensorAffine,
            false,
        ))
        .unwrap();
        o.observe(&[4], &[1e8; 4]).unwrap();
        let d = o.calculate_qparams().unwrap();
        assert_eq!(d.scales, vec![392156.875]);
        assert_eq!(d.zero_points, vec![0]);
    }

    fn run(c: ObserverConfig, shape: &[usize], x: &[f32]) -> QParamsDerivation {
        let mut o = Observer::new(c).unwrap();
        o.observe(shape, x).unwrap();
        o.calculate_qparams().unwrap()
    }

    #[test]
    fn quant_min_quant_max_are_honoured() {
        // MinMaxObserver(dtype=qint8, quant_min=-8, quant_max=7) on [-1, 1]: scale 2/15.
        let mut c = cfg(
            ObserverKind::MinMax,
            DType::QInt8,
            QScheme::PerTensorAffine,
            false,
        );
        c.quant_min = Some(-8);
        c.quant_max = Some(7);
        let d = run(c, &[2], &[-1.0, 1.0]);
        assert_eq!((d.qmin, d.qmax), (-8, 7));
        assert_eq!(d.scales, vec![(2.0f32 / 15.0) as f64]);
        // f32(2/15) = 0.13333334 rounds up, so -1 / scale = -7.4999995 in float32
        // (not the tie -7.5): zp = -8 - round(-7.4999995) = -8 + 7 = -1
        assert_eq!(-1.0f32 / (2.0f32 / 15.0), -7.4999995);
        assert_eq!(d.zero_points, vec![-1]);
        // reduce_range halves a custom range (floor division): -4..=3
        c.reduce_range = true;
        assert_eq!(c.qrange().unwrap(), (-4, 3));
        let d = run(c, &[2], &[-1.0, 1.0]);
        assert_eq!(d.scales, vec![(2.0f32 / 7.0) as f64]);
        // symmetric quint8 with a custom range: zero point (qmin + qmax) // 2
        let mut c = cfg(
            ObserverKind::MinMax,
            DType::QUInt8,
            QScheme::PerTensorSymmetric,
            false,
        );
        c.quant_min = Some(0);
        c.quant_max = Some(15);
        let d = run(c, &[2], &[-1.0, 3.0]);
        assert_eq!(d.zero_points, vec![7]);
        assert_eq!(d.scales, vec![(3.0f32 / 7.5) as f64]);
        // refused, each by name
        let bad = |lo, hi, dt| {
            let mut c = cfg(ObserverKind::MinMax, dt, QScheme::PerTensorAffine, false);
            c.quant_min = lo;
            c.quant_max = hi;
            Observer::new(c).unwrap_err().to_string()
        };
        assert!(bad(Some(1), Some(7), DType::QInt8).contains("include 0"));
        assert!(bad(Some(0), Some(0), DType::QInt8).contains("strictly less"));
        assert!(bad(Some(-200), Some(200), DType::QInt8).contains("exceeds 256"));
        assert!(bad(Some(-8), None, DType::QInt8).contains("quant_min"));
        assert!(bad(None, Some(7), DType::QInt8).contains("quant_max"));
    }

    #[test]
    fn eps_is_honoured() {
        let mut c = cfg(
            ObserverKind::MinMax,
            DType::QUInt8,
            QScheme::PerTensorAffine,
            false,
        );
        c.eps = 0.5;
        let d = run(c, &[2], &[0.0, 1.0]);
        assert_eq!(d.scales, vec![0.5]); // max(1/255, 0.5)
        assert_eq!(d.zero_points, vec![0]);
        c.eps = 0.0;
        assert!(Observer::new(c).unwrap_err().to_string().contains("eps"));
        c.eps = f32::NAN;
        assert!(Observer::new(c).unwrap_err().to_string().contains("eps"));
    }

    #[test]
    fn qint32_affine_zero_point() {
        let c = cfg(
            ObserverKind::MinMax,
            DType::QInt32,
            QScheme::PerTensorAffine,
            false,
        );
        // [-1000, 3000]: scale 4000 / 2^32 (exact), zp = -2^31 - round(-2^30) = -2^30
        let d = run(c, &[2], &[-1000.0, 3000.0]);
        assert_eq!(d.scales, vec![4000.0 * 2f64.powi(-32)]);
        assert_eq!(d.zero_points, vec![-(1i64 << 30)]);
        // [-1, 3]: 4 / 2^32 is below eps, so scale = eps and zp = -2^31 - round(-1 / eps) = -2^31 + 2^23
        let d = run(c, &[2], &[-1.0, 3.0]);
        assert_eq!(d.scales, vec![f32::EPSILON as f64]);
        assert_eq!(d.zero_points, vec![i32::MIN as i64 + (1 << 23)]);
        // [-1000, 1]: round(min / scale) is below -2^31, .to(int) gives INT32_MIN,
        // and qmin - INT32_MIN = 0 in int32: PyTorch's zero point is 0.
        let d = run(c, &[2], &[-1000.0, 1.0]);
        assert_eq!(d.zero_points, vec![0]);
        assert_eq!(d.scales, vec![(1001.0f32 / 4294967296.0f32) as f64]);
    }

    #[test]
    fn ch_axis_is_honoured() {
        // shape [2, 3], ch_axis 1: channels are the columns
        let x = [1.0, -2.0, 3.0, 4.0, 5.0, -6.0];
        for axis in [1i64, -1] {
            let mut c = cfg(
                ObserverKind::PerChannelMinMax,
                DType::QInt8,
                QScheme::PerChannelSymmetric,
                false,
            );
            c.ch_axis = axis;
            let d = run(c, &[2, 3], &x);
            assert_eq!(d.min_vals, vec![1.0, -2.0, -6.0]);
            assert_eq!(d.max_vals, vec![4.0, 5.0, 3.0]);
            assert_eq!(d.scales[2], (6.0f32 / 127.5) as f64);
        }
        let mut c = cfg(
            ObserverKind::PerChannelMinMax,
            DType::QInt8,
            QScheme::PerChannelSymmetric,
            false,
        );
        c.ch_axis = 2;
        let mut o = Observer::new(c).unwrap();
        assert!(o
            .observe(&[2, 3], &x)
            .unwrap_err()
            .to_string()
            .contains("ch_axis"));
        // a per-tensor observer takes no ch_axis
        let mut c = cfg(
            ObserverKind::MinMax,
            DType::QUInt8,
            QScheme::PerTensorAffine,
            false,
        );
        c.ch_axis = 1;
        assert!(Observer::new(c)
            .unwrap_err()
            .to_string()
            .contains("ch_axis"));
    }

    #[test]
    fn moving_average_per_channel_and_averaging_constant() {
        let mut c = cfg(
            ObserverKind::MovingAveragePerChannelMinMax,
            DType::QInt8,
            QScheme::PerChannelAffine,
            false,
        );
        c.averaging_constant = 0.5;
        let mut o = Observer::new(c).unwrap();
        o.observe(&[2, 2], &[-1.0, 1.0, -2.0, 2.0]).unwrap();
        o.observe(&[2, 2], &[-3.0, 3.0, 0.0, 4.0]).unwrap();
        let (mn, mx) = o.min_max();
        // min + 0.5 * (cur - min)
        assert_eq!(mn, vec![-2.0, -1.0]);
        assert_eq!(mx, vec![2.0, 3.0]);
        let d = o.calculate_qparams().unwrap();
        assert_eq!(
            d.scales,
            vec![(4.0f32 / 255.0) as f64, (4.0f32 / 255.0) as f64]
        );
        assert_eq!(
            ObserverKind::parse("MovingAveragePerChannelMinMaxObserver").unwrap(),
            ObserverKind::MovingAveragePerChannelMinMax
        );
        // per-tensor schemes are refused for it, as PyTorch does
        assert!(Observer::new(cfg(
            ObserverKind::MovingAveragePerChannelMinMax,
            DType::QInt8,
            QScheme::PerTensorAffine,
            false
        ))
        .is_err());
        c.averaging_constant = f32::INFINITY;
        assert!(Observer::new(c)
            .unwrap_err()
            .to_string()
            .contains("averaging_constant"));
    }

    #[test]
    fn histogram_range_times_bins_past_float32() {
        // width 1e36: 1e35 * 2048 stays finite (bin 204), 1e36 * 2048 overflows
        // and PyTorch's index wraps to bin 0.
        let c = cfg(
            ObserverKind::Histogram,
            DType::QUInt8,
            QScheme::PerTensorAffine,
            false,
        );
        let mut o = Observer::new(c).unwrap();
        o.observe(&[3], &[0.0, 1e35, 1e36]).unwrap();
        let d = o.calculate_qparams().unwrap();
        let h = d.histogram.unwrap();
        assert_eq!(h.bins[0], 2.0);
        assert_eq!(h.bins[204], 1.0);
        assert_eq!(h.bins.iter().sum::<f32>(), 3.0);
        assert!(d.scales[0].is_finite() && d.scales[0] > 0.0);
    }

    #[test]
    fn bins_are_honoured() {
        let mut c = cfg(
            ObserverKind::Histogram,
            DType::QUInt8,
            QScheme::PerTensorAffine,
            false,
        );
        c.bins = 8;
        let x: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let d = run(c, &[16], &x);
        let h = d.histogram.unwrap();
        assert_eq!(h.bins, vec![2.0; 8]);
        c.bins = 0;
        assert!(Observer::new(c).unwrap_err().to_string().contains("bins"));
    }

    #[test]
    fn cascade_sum_small() {
        assert_eq!(torch_sum_f32(&[]), 0.0);
        assert_eq!(torch_sum_f32(&[1.0, 2.0, 3.0]), 6.0);
        let v: Vec<f32> = (0..2048).map(|i| i as f32).collect();
        assert_eq!(torch_sum_f32(&v), 2047.0 * 2048.0 / 2.0);
    }
}
