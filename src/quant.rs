//! Quantized dtypes, quantization parameters, quantize and dequantize.
//!
//! PyTorch stores scales as float64 but its kernels use them as float32; the
//! narrowing happens here (`scale_f32`) and nowhere else.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    QUInt8,
    QInt8,
    QInt32,
}

impl DType {
    pub fn range(self) -> (i64, i64) {
        match self {
            DType::QUInt8 => (0, 255),
            DType::QInt8 => (-128, 127),
            DType::QInt32 => (i32::MIN as i64, i32::MAX as i64),
        }
    }
    /// The observer range: `reduce_range` drops one bit (fbgemm's int16 headroom).
    pub fn observer_range(self, reduce_range: bool) -> (i64, i64) {
        match (self, reduce_range) {
            (DType::QUInt8, true) => (0, 127),
            (DType::QInt8, true) => (-64, 63),
            (d, _) => d.range(),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            DType::QUInt8 => "quint8",
            DType::QInt8 => "qint8",
            DType::QInt32 => "qint32",
        }
    }
    pub fn parse(s: &str) -> Result<DType> {
        match s.trim().trim_start_matches("torch.") {
            "quint8" => Ok(DType::QUInt8),
            "qint8" => Ok(DType::QInt8),
            "qint32" => Ok(DType::QInt32),
            other => Err(Error::Input(format!(
                "unknown dtype {other:?} (quint8, qint8, qint32)"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QScheme {
    PerTensorAffine,
    PerTensorSymmetric,
    PerChannelAffine,
    PerChannelSymmetric,
}

impl QScheme {
    pub fn is_per_channel(self) -> bool {
        matches!(
            self,
            QScheme::PerChannelAffine | QScheme::PerChannelSymmetric
        )
    }
    pub fn is_symmetric(self) -> bool {
        matches!(
            self,
            QScheme::PerTensorSymmetric | QScheme::PerChannelSymmetric
        )
    }
    pub fn name(self) -> &'static str {
        match self {
            QScheme::PerTensorAffine => "per_tensor_affine",
            QScheme::PerTensorSymmetric => "per_tensor_symmetric",
            QScheme::PerChannelAffine => "per_channel_affine",
            QScheme::PerChannelSymmetric => "per_channel_symmetric",
        }
    }
    pub fn parse(s: &str) -> Result<QScheme> {
        match s.trim().trim_start_matches("torch.") {
            "per_tensor_affine" => Ok(QScheme::PerTensorAffine),
            "per_tensor_symmetric" => Ok(QScheme::PerTensorSymmetric),
            "per_channel_affine" => Ok(QScheme::PerChannelAffine),
            "per_channel_symmetric" => Ok(QScheme::PerChannelSymmetric),
            other => Err(Error::Input(format!("unknown qscheme {other:?}"))),
        }
    }
}

/// The float32 a kernel uses for a float64 scale, validated: zero, negative,
/// NaN, infinite, or a float64 so small or large that float32 makes it 0 or inf
/// are all refused. A float32-subnormal scale (below 2^-126) is accepted: PyTorch
/// quantizes with it (its float32 reciprocal may be inf; see `quantize_per_tensor`).
pub fn scale_f32(what: &str, s: f64) -> Result<f32> {
    let f = s as f32;
    if !(s > 0.0) || !s.is_finite() || !(f > 0.0) || !f.is_finite() {
        return Err(Error::BadScale {
            what: what.to_string(),
            value: s,
        });
    }
    Ok(f)
}

pub fn check_zero_point(what: &str, zp: i64, dtype: DType) -> Result<()> {
    let (min, max) = dtype.range();
    if zp < min || zp > max {
        return Err(Error::BadZeroPoint {
            what: what.to_string(),
            value: zp,
            min,
            max,
        });
    }
    Ok(())
}

/// Round half to even, on float32 (what `nearbyint` / `vcvtps2dq` do).
#[inline]
pub fn rne32(v: f32) -> f32 {
    v.round_ties_even()
}

/// `torch.quantize_per_tensor` on x86-64 (PyTorch's
/// `quantize_tensor_per_tensor_affine_cpu` calls `fbgemm::Quantize<T, LEGACY=false>`).
/// Multiplies by the float32 reciprocal `1.0f / scale` (never divides), rounds
/// half to even.
///
/// - quint8 / qint8: fbgemm's AVX2 path (`QuantizeAvx2`, also for the remainder,
///   which it handles with masks): `min_ps(v, 2^31-128)` caps large values and,
///   since `minps` returns its second operand when the first is NaN, turns NaN
///   into 2^31-128 too; `vcvtps2dq` makes anything below -2^31 (-inf included)
///   INT32_MIN; the zero point is added as a wrapping int32, then clamped. So
///   +1e30 becomes quint8 0 with zp 200, -1e30 becomes qint8 127 with zp -5, and
///   x = 0 with a subnormal scale (0 · inf = NaN) becomes 255 / 127 (zp 0).
/// - qint32: the scalar `fbgemm::Quantize` (see [`quantize_val_scalar`]): the zero
///   point is added in float32, the clamp is done in double, NaN gives INT32_MIN.
pub fn quantize_per_tensor(
    x: &[f32],
    scale: f64,
    zero_point: i64,
    dtype: DType,
) -> Result<Vec<i64>> {
    let s = scale_f32("scale", scale)?;
    check_zero_point("zero_point", zero_point, dtype)?;
    // May be inf for a float32-subnormal scale: PyTorch does not check, nor do we.
    let inv = 1.0f32 / s;
    Ok(x.iter()
        .map(|&xv| quantize_one(xv, inv, zero_point, dtype))
        .collect())
}

/// fbgemm's AVX2 cap: the largest float32 below 2^31 (INT32_MAX - 127).
const INT32_FLOAT_MAX: f32 = 2147483520.0;

#[inline]
fn quantize_one(x: f32, inv: f32, zp: i64, dtype: DType) -> i64 {
    let v = x * inv;
    if dtype == DType::QInt32 {
        return quantize_val_scalar(v, zp, dtype);
    }
    // `_mm256_min_ps(v, cap)`: NaN compares false and yields the cap.
    let capped = if v <= INT32_FLOAT_MAX {
        v
    } else {
        INT32_FLOAT_MAX
    };
    let i: i32 = if capped < -2147483648.0 {
        i32::MIN
    } else {
        rne32(capped) as i32
    };
    let (qmin, qmax) = dtype.range();
    (i.wrapping_add(zp as i32) as i64).clamp(qmin, qmax)
}

/// The scalar `fbgemm::Quantize<T, LEGACY=false>` (fbgemm `QuantUtils.h`), given
/// `v = f32(x · f32(1/scale))`: `zero_point + nearbyint(v)` is an int32 plus a
/// float, so the sum is float32 (a zero point past 2^24 loses low bits:
/// 1 + f32(16777217) = 16777217 rounds to 16777216); `clamp<double, T>` then
/// saturates with `std::min(std::max(t, qmin), qmax)`, which lets NaN through, and
/// the double -> integer conversion (`cvttsd2si`) turns NaN into INT32_MIN. This is
/// the qint32 path of `quantize_per_tensor`, every path of `quantize_per_channel`
/// (PyTorch's `quantize_val`), and so how qnnpack quantizes a conv's bias.
/// For 8-bit types NaN keeps the low byte of INT32_MIN, 0 (no golden case
/// reaches this: 8-bit `quantize_per_tensor` takes the AVX2 path).
pub fn quantize_val_scalar(v: f32, zero_point: i64, dtype: DType) -> i64 {
    let (qmin, qmax) = dtype.range();
    let t = zero_point as i32 as f32 + rne32(v);
    if t.is_nan() {
        return if dtype == DType::QInt32 {
            i32::MIN as i64
        } else {
            0
        };
    }
    (t as f64).clamp(qmin as f64, qmax as f64) as i64
}

/// Per-channel quantization (`quantize_val` per element, which is the scalar
/// `fbgemm::Quantize`, [`quantize_val_scalar`]): multiply by the float32
/// reciprocal of the float32 scale, round half to even, add zp (float32), clamp.
/// This is how `convert` turns float weights into qint8 (max|w|/127.5 -> 127).
pub fn quantize_per_channel(
    x: &[f32],
    shape: &[usize],
    scales: &[f64],
    zero_points: &[i64],
    dtype: DType,
) -> Result<Vec<i64>> {
    let channels = *shape
        .first()
        .ok_or_else(|| Error::BadShape("per-channel tensor needs a shape".into()))?;
    let n: usize = shape.iter().product();
    if n != x.len() || channels == 0 || scales.len() != channels || zero_points.len() != channels {
        return Err(Error::BadShape(format!(
            "per-channel quantize: {} values, shape {:?}, {} scales, {} zero points",
            x.len(),
            shape,
            scales.len(),
            zero_points.len()
        )));
    }
    let per = n / channels;
    let mut out = Vec::with_capacity(n);
    for c in 0..channels {
        let s = scale_f32(&format!("scale of channel {c}"), scales[c])?;
        check_zero_point(&format!("zero point of channel {c}"), zero_points[c], dtype)?;
        let inv = 1.0f32 / s;
        for &v in &x[c * per..(c + 1) * per] {
            out.push(quantize_val_scalar(v * inv, zero_points[c], dtype));
        }
    }
    Ok(out)
}

/// Codes held as i64 (as quantize returns them), checked into quint8.
pub fn to_quint8(what: &str, q: &[i64]) -> Result<Vec<u8>> {
    q.iter()
        .map(|&v| {
            u8::try_from(v)
                .map_err(|_| Error::BadValue(format!("{what}: {v} is not a quint8 code (0..=255)")))
        })
        .collect()
}

/// Codes held as i64, checked into qint8.
pub fn to_qint8(what: &str, q: &[i64]) -> Result<Vec<i8>> {
    q.iter()
        .map(|&v| {
            i8::try_from(v).map_err(|_| {
                Error::BadValue(format!("{what}: {v} is not a qint8 code (-128..=127)"))
            })
        })
        .collect()
}

/// `dequantize`: `(q - zp) * scale` in float32.
pub fn dequantize(q: i64, scale: f32, zero_point: i64) -> f32 {
    (q - zero_point) as f32 * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reciprocal_multiply_not_division() {
        // ARITHMETIC.md §1: 47/255 over 2/255 is 23.5 in float32 and rounds to 24.
        let s = (2.0f64 / 255.0) as f32 as f64;
        let x = (47.0f64 / 255.0) as f32;
        assert_eq!(
            quantize_per_tensor(&[x], s, 0, DType::QUInt8).unwrap(),
            vec![24]
        );
        assert_eq!(((x as f64) / s).round(), 23.0);
    }

    #[test]
    fn overflow_quirks() {
        // The capped value plus a zero point >= 128 wraps past INT32_MAX.
        assert_eq!(
            quantize_per_tensor(&[1e30, -1e30], 0.1, 3, DType::QUInt8).unwrap(),
            vec![255, 0]
        );
        assert_eq!(
            quantize_per_tensor(&[1e30, -1e30], 0.1, 200, DType::QUInt8).unwrap(),
            vec![0, 0]
        );
        // INT32_MIN plus a negative zero point wraps to a large positive value.
        assert_eq!(
            quantize_per_tensor(&[1e30, -1e30], 0.1, 0, DType::QInt8).unwrap(),
            vec![127, -128]
        );
        assert_eq!(
            quantize_per_tensor(&[1e30, -1e30], 0.1, -5, DType::QInt8).unwrap(),
            vec![127, 127]
        );
        let q = quantize_per_tensor(&[1e30, -1e30], 0.1, 5, DType::QInt32).unwrap();
        assert_eq!(q, vec![i32::MAX as i64, i32::MIN as i64]);
    }

    #[test]
    fn qint32_adds_the_zero_point_in_float32() {
        // zp = 2^24 + 1 is 2^24 in float32; 1 + 2^24 is a tie, even -> 2^24;
        // 3 + 2^24 -> 2^24 + 4. (Exact integer addition would give +1, +2, +3.)
        let zp = (1 << 24) + 1;
        let q = quantize_per_tensor(&[0.0, 1.0, 3.0], 1.0, zp, DType::QInt32).unwrap();
        assert_eq!(q, vec![16777216, 16777216, 16777220]);
        // The float32 sum below 2^31 stays; past it, the double clamp saturates.
        let q = quantize_per_tensor(&[1e30, -1e30], 1.0, zp, DType::QInt32).unwrap();
        assert_eq!(q, vec![i32::MAX as i64, i32::MIN as i64]);
    }

    #[test]
    fn subnormal_scales_are_accepted_and_zero_gives_nan() {
        // f32(1e-45) is the smallest subnormal; its float32 reciprocal is inf,
        // so x = 0 gives 0 · inf = NaN and x = ±1 gives ±inf.
        let s = 1e-45;
        assert!(1.0f32 / scale_f32("s", s).unwrap() == f32::INFINITY);
        let x = [0.0, 1.0, -1.0];
        // 8-bit (AVX2): NaN and +inf are capped at 2^31-128 (minps), -inf -> INT32_MIN.
        assert_eq!(
            quantize_per_tensor(&x, s, 0, DType::QUInt8).unwrap(),
            vec![255, 255, 0]
        );
        assert_eq!(
            quantize_per_tensor(&x, s, 0, DType::QInt8).unwrap(),
            vec![127, 127, -128]
        );
        // 2^31-128 + 128 wraps to INT32_MIN.
        assert_eq!(
            quantize_per_tensor(&x, s, 128, DType::QUInt8).unwrap(),
            vec![0, 0, 0]
        );
        // qint32 (scalar): NaN passes the double clamp and converts to INT32_MIN.
        assert_eq!(
            quantize_per_tensor(&x, s, 0, DType::QInt32).unwrap(),
            vec![i32::MIN as i64, i32::MAX as i64, i32::MIN as i64]
        );
        assert_eq!(
            quantize_val_scalar(f32::NAN, 0, DType::QInt32),
            i32::MIN as i64
        );
    }

    #[test]
    fn ties_to_even() {
        let q = quantize_per_tensor(&[0.5, 1.5, 2.5, -0.5, -1.5], 1.0, 0, DType::QInt8).unwrap();
        assert_eq!(q, vec![0, 2, 2, 0, -2]);
    }

    #[test]
    fn bad_parameters_are_errors() {
        for s in [
            0.0,
            -0.0,
            -1.0,
            -1e-45,
            f64::NAN,
            f64::INFINITY,
            1e-60,
            1e60,
        ] {
            let e = quantize_per_tensor(&[1.0], s, 0, DType::QUInt8).unwrap_err();
            assert!(matches!(e, Error::BadScale { .. }), "{s}");
            assert!(e.to_string().contains("positive finite"), "{e}");
        }
        assert!(matches!(
            quantize_per_tensor(&[1.0], 1.0, 256, DType::QUInt8),
            Err(Error::BadZeroPoint { .. })
        ));
        assert!(matches!(
            quantize_per_tensor(&[1.0], 1.0, -1, DType::QUInt8),
            Err(Error::BadZeroPoint { .. })
        ));
    }

    #[test]
    fn weight_conversion_clamps_127_5() {
        let w = [0.4808f32];
        let s = (0.4808f32 / 127.5f32) as f64;
        assert_eq!(
            quantize_per_channel(&w, &[1, 1, 1, 1], &[s], &[0], DType::QInt8).unwrap(),
            vec![127]
        );
    }
}
