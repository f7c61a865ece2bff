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

/// `x * y + z` in float32 with one rounding (`f32::mul_add`), for targets
/// without an FMA instruction (wasm calls a slow software `fmaf`): the
/// product of two float32 is exact in float64; the sum is rounded to odd in
/// float64 (TwoSum gives its error: an inexact sum with an even last bit moves
/// one ulp toward the exact value), and a float64 rounded to odd rounds to
/// the float32 the exact sum rounds to (53 >= 24 + 2 bits). Branch-free so
/// plane loops vectorise.
#[inline(always)]
pub(crate) fn fma32(x: f32, y: f32, z: f32) -> f32 {
    fma32_sum(x as f64 * y as f64, z)
}

/// [`fma32`] given the product `p` (exact in float64).
#[inline(always)]
pub(crate) fn fma32_sum(p: f64, z: f32) -> f32 {
    let q = z as f64;
    let s = p + q;
    let b = s - q;
    let e = (p - b) + (q - (s - b));
    let bits = s.to_bits();
    // One ulp toward the exact value (a larger magnitude when e has s's
    // sign) when the sum is inexact and its last bit even; an infinite or
    // NaN sum (e is NaN) is kept. Selects, not branches.
    let fix = ((e != 0.0) & s.is_finite() & (bits & 1 == 0)) as u64;
    let step = if (e > 0.0) == (s > 0.0) {
        fix
    } else {
        fix.wrapping_neg()
    };
    f64::from_bits(bits.wrapping_add(step)) as f32
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

#[cfg(test)]
mod fma_tests {
    use super::fma32;

    fn check(x: f32, y: f32, z: f32) {
        let (want, got) = (x.mul_add(y, z), fma32(x, y, z));
        assert!(
            want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
            "fma({x:e}, {y:e}, {z:e}) = {want:e}, fma32 gives {got:e}"
        );
    }

    #[test]
    fn fma32_rounds_once_like_mul_add() {
        let mut st = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            st
        };
        for _ in 0..2_000_000 {
            // fbgemm's use: a bias times 1/(sx*sw) plus an int32 accumulator.
            let r = next();
            let x = f32::from_bits(r as u32 & 0xbfff_ffff); // finite, below 2 in magnitude
            let y = f32::from_bits((r >> 32) as u32 & 0xbfff_ffff);
            let z = ((next() as i64) >> (next() % 64)) as i32 as f32;
            check(x, y, z);
            check(x, y, f32::from_bits(next() as u32 & 0xbfff_ffff));
            // any finite operands (products up to overflow)
            let any = |v: u64| Some(f32::from_bits(v as u32)).filter(|f| f.is_finite());
            if let (Some(x), Some(y), Some(z)) = (any(next()), any(next()), any(next())) {
                check(x, y, z);
                check(x, y, z * y);
            }
        }
        // Sums on a float32 midpoint but for the low part, signs across
        // zero, overflow, subnormals, infinities and NaN.
        for (x, y, z) in [
            (1.0 + f32::EPSILON, 1.0 + f32::EPSILON, -1.0),
            (0.5, f32::EPSILON, 1.0),
            (3.0, 1.0 / 3.0, -1.0),
            (-1.5, 2.0 - f32::EPSILON, 3.0),
            (f32::MAX, 2.0, -f32::MAX),
            (f32::MIN_POSITIVE, 0.5, 0.0),
            (1e-45, 0.5, 1e-45),
            (16777217.0, 1.0, 0.5),
            (0.0, -0.0, 0.0),
            (f32::INFINITY, 0.0, 1.0),
            (f32::INFINITY, 1.0, f32::NEG_INFINITY),
            (f32::NAN, 1.0, 2.0),
        ] {
            check(x, y, z);
        }
    }
}
