//! PyTorch's fbgemm engine (x86): float bias, a fused multiply-add
//! (per-tensor) or a division then an add (per-channel), multiplier
//! `f32(aw / sy)`, round half to even, then the zero point as a wrapping int32
//! (ARITHMETIC.md §4). The accumulation depends on the CPU: with VNNI the GEMM
//! is exact, without it `vpmaddubsw` saturates pairs of u8·s8 products to
//! int16; the depthwise kernels saturate on every CPU (`crate::depthwise`).
use super::common::{cvt_i32, finish, map_plane, scales32, Tail};
use super::{
    Accumulation, Channel, Computation, ConvQParams, Dyn, DynRecorder, Engine, EngineRow, Evidence,
    Family, Kernel, Platform,
};
use crate::conv::ConvShape;
use crate::error::{Error, Result};
use crate::fbgemm_gemm::FbgemmPath;
use crate::quant::{scale_f32, DType};
use crate::trace::{key, Recorder, Value};
use std::sync::Arc;

pub const ID: &str = "fbgemm";

pub const ROW: EngineRow = EngineRow {
    id: ID,
    title: "PyTorch fbgemm",
    family: Family::PyTorch,
    activations: &[DType::QUInt8],
    weights: &[DType::QInt8],
    uses_platform: true,
    pytorch_engine: Some("fbgemm"),
    evidence: Evidence::Golden,
    engine: &Fbgemm,
};

pub struct Fbgemm;

impl Engine for Fbgemm {
    fn kernel(&self, _: &Computation, shape: &ConvShape, p: &ConvQParams, pl: &Platform) -> Kernel {
        kernel(shape, p, pl, "")
    }
    fn channels(
        &self,
        _: &Computation,
        p: &ConvQParams,
        out_channels: usize,
        _: &Kernel,
    ) -> Result<Vec<Arc<dyn Channel>>> {
        channels(p, out_channels)
    }
}

/// fbgemm's kernel for this conv on this CPU; `prefix` says why fbgemm was chosen.
pub fn kernel(shape: &ConvShape, p: &ConvQParams, pl: &Platform, prefix: &str) -> Kernel {
    let isa = pl.fbgemm_isa();
    let path = isa.path(shape, p.per_channel);
    let sat = match (path, isa.saturates(path)) {
        (FbgemmPath::Depthwise, _) => "u8·s8 pairs saturate to int16 (on every CPU)",
        (_, true) => "u8·s8 pairs saturate to int16 (vpmaddubsw, no VNNI)",
        (_, false) => "exact int32 accumulation (vpdpbusd, VNNI)",
    };
    Kernel {
        name: ID,
        path: Some(path.name()),
        why: format!(
            "{prefix}fbgemm {} kernel on {} ({}); {sat}",
            path.name(),
            pl.title(),
            path.why()
        ),
        accumulation: Accumulation::Fbgemm { isa },
    }
}

/// One fbgemm requantization per output channel.
pub fn channels(p: &ConvQParams, out_channels: usize) -> Result<Vec<Arc<dyn Channel>>> {
    let sx = scale_f32("input scale", p.input_scale)?;
    let sy = scale_f32("output scale", p.output_scale)?;
    let zy = p.output_zero_point;
    let lo = if p.relu { zy } else { 0 };
    (0..out_channels)
        .map(|c| {
            let sw = scale_f32("weight scale", p.weight_scale(c))?;
            let aw = sx * sw;
            let bias = p.bias_of(c);
            let m = aw / sy;
            let inv_aw = (1.0f64 / aw as f64) as f32;
            if !(m > 0.0 && m.is_finite() && aw > 0.0) {
                return Err(Error::BadScale {
                    what: "input scale x weight scale / output scale (float32)".into(),
                    value: m as f64,
                });
            }
            Ok(Arc::new(FbgemmChannel {
                bias_term: bias.map_or(0.0, |b| b / aw),
                sx,
                sw,
                sy,
                aw,
                m,
                bias,
                inv_aw,
                per_channel: p.per_channel,
                zy,
                lo,
            }) as Arc<dyn Channel>)
        })
        .collect()
}

/// Per-output-channel constants, computed once.
#[derive(Debug, Clone)]
pub struct FbgemmChannel {
    /// f32(b / aw): the per-channel bias term.
    bias_term: f32,
    sx: f32,
    sw: f32,
    sy: f32,
    aw: f32,
    m: f32,
    bias: Option<f32>,
    inv_aw: f32,
    per_channel: bool,
    zy: i64,
    lo: i64,
}

/// fbgemm's accumulator plus bias in float32 (ARITHMETIC.md §4).
#[inline(always)]
fn fbgemm_sum(acc: i32, bias: Option<f32>, inv_aw: f32, bias_term: f32, per_channel: bool) -> f32 {
    let accf = acc as f32;
    match bias {
        None => accf,
        // One rounding: GCC contracts the multiply and add into an FMA.
        Some(b) if !per_channel => b.mul_add(inv_aw, accf),
        // Two roundings: f32(b / aw), then the add.
        Some(_) => accf + bias_term,
    }
}

impl FbgemmChannel {
    fn run<R: Recorder>(&self, acc: i32, rec: &mut R) -> i64 {
        let FbgemmChannel {
            bias_term,
            sx,
            sw,
            sy,
            aw,
            m,
            bias,
            inv_aw,
            per_channel,
            zy,
            lo,
        } = *self;
        rec.step(key::ACC, Value::Int(acc as i64), || {
            (
                "accumulator".into(),
                "sum over taps of (qx - zx)·(qw - zw), int32".into(),
            )
        });
        scales32(rec, sx, sw, sy, aw);
        if let Some(b) = bias {
            rec.step(key::BIAS, Value::F32(b), || {
                (
                    "bias (float32)".into(),
                    "kept as a float, never rounded".into(),
                )
            });
            if per_channel {
                rec.step(key::BIAS_TERM, Value::F32(bias_term), || {
                    (
                        "bias in accumulator units".into(),
                        "f32(b / aw), a float32 division".into(),
                    )
                });
            } else {
                rec.step("inv_aw", Value::F32(inv_aw), || {
                    (
                        "1 / (sx·sw)".into(),
                        "reciprocal in float64, then float32".into(),
                    )
                });
                rec.step(key::BIAS_TERM, Value::F64(b as f64 * inv_aw as f64), || {
                    (
                        "bias in accumulator units".into(),
                        "b · f32(1/aw) (inside the fused multiply-add)".into(),
                    )
                });
            }
        }
        let t = fbgemm_sum(acc, bias, inv_aw, bias_term, per_channel);
        rec.step(key::SUM, Value::F32(t), || {
            let f = match (bias, per_channel) {
                (None, _) => "f32(acc), no bias",
                (Some(_), false) => "fma(b, f32(1/aw), f32(acc)): one rounding",
                (Some(_), true) => "f32(f32(acc) + f32(b/aw)): two roundings",
            };
            ("accumulator + bias".into(), f.into())
        });
        rec.step(key::MULTIPLIER, Value::F32(m), || {
            (
                "multiplier M".into(),
                "f32(aw / sy), a float32 division".into(),
            )
        });
        let v = t * m;
        rec.step(key::PRE_ROUND, Value::F32(v), || {
            ("value before rounding".into(), "f32(t · M)".into())
        });
        finish(
            rec,
            Tail::Fbgemm,
            cvt_i32(v) as i64,
            Value::F32(v.round_ties_even()),
            zy,
            lo,
            "round half to even (vcvtps2dq)",
        )
    }
}

/// The one-rounding multiply-add of the plane loop: the instruction where
/// there is one, [`fma32`](super::common::fma32) on wasm (no FMA there).
#[inline(always)]
fn fma(x: f32, y: f32, z: f32) -> f32 {
    #[cfg(target_arch = "wasm32")]
    return super::common::fma32(x, y, z);
    #[cfg(not(target_arch = "wasm32"))]
    x.mul_add(y, z)
}

/// The per-tensor-bias plane on wasm SIMD128, four pixels at a time:
/// `clamp(cvt(f32(p + f32(a)) · m) + zy)` with `p = b · inv_aw` (exact in
/// float64) and the sum rounded once, as [`fma32`](super::common::fma32)
/// does it (a float64 sum rounded to odd, two lanes at a time). The same
/// operations as the scalar loop; `tests/web.rs` compares them pixel by pixel.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast"))]
fn bias_plane_simd128(acc: &[i32], out: &mut [i32], p: f64, m: f32, zy: i32, lo: i32) {
    use core::arch::wasm32::*;
    let pv = f64x2_splat(p);
    let (zero, inf) = (f64x2_splat(0.0), f64x2_splat(f64::INFINITY));
    let one = i64x2_splat(1);
    // Two lanes of f32(a) as float64 -> f32(p + a) in the low two lanes.
    let sum = |q: v128| -> v128 {
        let s = f64x2_add(pv, q);
        let b = f64x2_sub(s, q);
        let e = f64x2_add(f64x2_sub(pv, b), f64x2_sub(q, f64x2_sub(s, b)));
        let fix = v128_and(
            v128_and(f64x2_ne(e, zero), f64x2_lt(f64x2_abs(s), inf)),
            v128_and(i64x2_eq(v128_and(s, one), i64x2_splat(0)), one),
        );
        let away = v128_not(v128_xor(f64x2_gt(e, zero), f64x2_gt(s, zero)));
        f32x4_demote_f64x2_zero(i64x2_add(s, v128_bitselect(fix, i64x2_neg(fix), away)))
    };
    let (mv, zv, lov, hiv) = (
        f32x4_splat(m),
        i32x4_splat(zy),
        i32x4_splat(lo),
        i32x4_splat(255),
    );
    let (low, high) = (f32x4_splat(-2147483648.0), f32x4_splat(2147483648.0));
    let whole = acc.len() / 4 * 4;
    for (a4, o4) in acc[..whole]
        .chunks_exact(4)
        .zip(out[..whole].chunks_exact_mut(4))
    {
        // SAFETY: four i32 are in each chunk (unaligned loads and stores).
        let a = unsafe { v128_load(a4.as_ptr() as *const v128) };
        let af = f32x4_convert_i32x4(a);
        let lo2 = sum(f64x2_promote_low_f32x4(af));
        let hi2 = sum(f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 0, 1>(af, af)));
        let v = f32x4_mul(i32x4_shuffle::<0, 1, 4, 5>(lo2, hi2), mv);
        let r = f32x4_nearest(v);
        // vcvtps2dq: out of int32 (and NaN) gives INT32_MIN.
        let inside = v128_and(f32x4_ge(r, low), f32x4_lt(r, high));
        let c = v128_bitselect(i32x4_trunc_sat_f32x4(r), i32x4_splat(i32::MIN), inside);
        let c = i32x4_min(i32x4_max(i32x4_add(c, zv), lov), hiv);
        unsafe { v128_store(o4.as_mut_ptr() as *mut v128, c) };
    }
    let b = (p, m);
    for (o, &a) in out[whole..].iter_mut().zip(&acc[whole..]) {
        let s = super::common::fma32_sum(b.0, a as f32);
        *o = cvt_i32(s * b.1).wrapping_add(zy).clamp(lo, 255);
    }
}

impl Channel for FbgemmChannel {
    fn pixel(&self, acc: i32, rec: &mut dyn DynRecorder) -> i64 {
        self.run(acc, &mut Dyn(rec))
    }
    fn plane(&self, acc: &[i32], out: &mut [i32]) {
        let FbgemmChannel {
            m,
            bias,
            inv_aw,
            bias_term,
            per_channel,
            zy,
            lo,
            ..
        } = *self;
        // `tail(Tail::Fbgemm, ..)` in int32 lanes (the wrapped sum is an int32),
        // one loop per bias kind so that each vectorises without a branch.
        // The wrapped sum is an int32, so a bound below int32 acts as int32's least.
        let (zy, lo) = (zy as i32, lo.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
        let code = move |v: f32| cvt_i32(v).wrapping_add(zy).clamp(lo, 255);
        match bias {
            None => map_plane(acc, out, move |a| code(a as f32 * m)),
            Some(b) if !per_channel => {
                #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast"))]
                return bias_plane_simd128(acc, out, b as f64 * inv_aw as f64, m, zy, lo);
                #[allow(unreachable_code)]
                map_plane(acc, out, move |a| code(fma(b, inv_aw, a as f32) * m))
            }
            Some(_) => map_plane(acc, out, move |a| code((a as f32 + bias_term) * m)),
        }
    }
    fn pre_round(&self, acc: i32) -> Option<f64> {
        Some(
            (fbgemm_sum(
                acc,
                self.bias,
                self.inv_aw,
                self.bias_term,
                self.per_channel,
            ) * self.m) as f64,
        )
    }
}
