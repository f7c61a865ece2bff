//! Steps the kernels share: float-to-int conversion, adding the output zero
//! point, clamping, and the trace of the scales.
use crate::trace::{key, Recorder, Value};

/// `vcvtps2dq`: round half to even; out of range (and NaN) gives INT32_MIN.
#[inline(always)]
pub(crate) fn cvt_i32(v: f32) -> i32 {
    let r = v.round_ties_even();
    if (-2147483648.0..2147483648.0).contains(&r) {
        // SAFETY: r is an integer inside int32 (checked just above). Unlike
        // `as`, this has no saturation of its own, so plane loops vectorise.
        unsafe { r.to_int_unchecked::<i32>() }
    } else {
        i32::MIN
    }
}

/// How a kernel adds the output zero point to the rounded value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Tail {
    /// fbgemm: `_mm256_add_epi32` (wrapping int32), then saturating packs.
    Fbgemm,
    /// qnnpack: saturating pack to int16, `_mm_adds_epi16`, saturating pack to uint8.
    Qnnpack,
    /// Exact integers (the float reference).
    Plain,
}

/// (rounded + zero point as the kernel forms it, clamped output code).
#[inline(always)]
pub(crate) fn tail(kind: Tail, rounded: i64, zy: i64, lo: i64) -> (i64, i64) {
    let plus = match kind {
        Tail::Fbgemm => (rounded as i32).wrapping_add(zy as i32) as i64,
        Tail::Qnnpack => rounded.clamp(-32768, 32767) + zy,
        Tail::Plain => rounded + zy,
    };
    (plus, plus.clamp(lo, 255))
}

pub(crate) fn scales32<R: Recorder>(rec: &mut R, sx: f32, sw: f32, sy: f32, aw: f32) {
    rec.step(key::SX, Value::F32(sx), || {
        ("input scale".into(), "float32".into())
    });
    rec.step(key::SW, Value::F32(sw), || {
        ("weight scale".into(), "float32".into())
    });
    rec.step(key::SY, Value::F32(sy), || {
        ("output scale".into(), "float32".into())
    });
    rec.step(key::SCALE_PRODUCT, Value::F32(aw), || {
        ("sx · sw".into(), "float32 product".into())
    });
}

/// Rounded value -> plus zero point -> clamped, as the kernels do it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish<R: Recorder>(
    rec: &mut R,
    kind: Tail,
    rounded: i64,
    shown: Value,
    zy: i64,
    lo: i64,
    how: &'static str,
) -> i64 {
    rec.step(key::ROUNDED, shown, || ("rounded".into(), how.into()));
    let (plus, out) = tail(kind, rounded, zy, lo);
    rec.step(key::PLUS_ZP, Value::Int(plus), || {
        let f = match kind {
            Tail::Fbgemm => format!("rounded + {zy} (int32, wrapping)"),
            Tail::Qnnpack => format!("rounded (saturated to int16) + {zy}"),
            Tail::Plain => format!("rounded + {zy}"),
        };
        ("plus output zero point".into(), f.into())
    });
    rec.step(key::OUTPUT, Value::Int(out), || {
        ("output code".into(), format!("clamp to {lo}..255").into())
    });
    out
}

#[allow(clippy::too_many_arguments)]
/// Runs `f` over a plane of accumulators. On x86-64 the loop is compiled with
/// AVX2 and FMA: IEEE results are identical, baseline x86-64 only lacks the
/// instructions (libm calls for rounding and `mul_add` instead).
#[inline(always)]
pub(crate) fn map_plane<F: Fn(i32) -> i32>(acc: &[i32], out: &mut [i32], f: F) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { map_plane_avx2(acc, out, f) };
    }
    map_plane_generic(acc, out, f)
}

#[inline(always)]
fn map_plane_generic<F: Fn(i32) -> i32>(acc: &[i32], out: &mut [i32], f: F) {
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = f(a);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn map_plane_avx2<F: Fn(i32) -> i32>(acc: &[i32], out: &mut [i32], f: F) {
    map_plane_generic(acc, out, f)
}

/// An output code as an int32 (a hand calculation without clamping may leave 0..255).
pub(crate) fn code_i32(v: i64) -> i32 {
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}
