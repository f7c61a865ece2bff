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
/// are all refused.
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

/// `torch.quantize_per_tensor` on x86-64. Multiplies by the float32
/// reciprocal (never divides), rounds half to even. 8-bit types take the AVX2
/// path: values capped at 2^31-128, anything below -2^31 (and NaN) converts to
/// INT32_MIN, and the zero point is added as a wrapping int32 — which is why
/// +1e30 becomes quint8 0 and -1e30 becomes qint8 127. qint32 takes the scalar
/// path: round, add the zero point and clamp in double.
pub fn quantize_per_tensor(
    x: &[f32],
    scale: f64,
    zero_point: i64,
    dtype: DType,
) -> Result<Vec<i64>> {
    let s = scale_f32("scale", scale)?;
    check_zero_point("zero_point", zero_point, dtype)?;
    let inv = 1.0f32 / s;
    let (qmin, qmax) = dtype.range();
    Ok(x.iter()
        .map(|&xv| quantize_one(xv, inv, zero_point, dtype, qmin, qmax))
        .collect())
}

#[inline]
fn quantize_one(x: f32, inv: f32, zp: i64, dtype: DType, qmin: i64, qmax: i64) -> i64 {
    let v = x * inv;
    if dtype == DType::QInt32 {
        let r = rne32(v) as f64 + zp as f64;
        return r.clamp(qmin as f64, qmax as f64) as i64;
    }
    let capped = if v > 2147483520.0 { 2147483520.0f32 } else { v };
    let i: i32 = if capped.is_nan() || capped < -2147483648.0 {
        i32::MIN
    } else {
        rne32(capped) as i32
    };
    (i.wrapping_add(zp as i32) as i64).clamp(qmin, qmax)
}

/// Per-channel quantization (`quantize_val` per element): multiply by the
/// float32 reciprocal of the float32 scale, round half to even, add zp, clamp.
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
    let (qmin, qmax) = dtype.range();
    let mut out = Vec::with_capacity(n);
    for c in 0..channels {
        let s = scale_f32(&format!("scale of channel {c}"), scales[c])?;
        check_zero_point(&format!("zero point of channel {c}"), zero_points[c], dtype)?;
        let inv = 1.0f32 / s;
        for &v in &x[c * per..(c + 1) * per] {
            let r = rne32(v * inv) as f64 + zero_points[c] as f64;
            out.push(r.clamp(qmin as f64, qmax as f64) as i64);
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
    fn ties_to_even() {
        let q = quantize_per_tensor(&[0.5, 1.5, 2.5, -0.5, -1.5], 1.0, 0, DType::QInt8).unwrap();
        assert_eq!(q, vec![0, 2, 2, 0, -2]);
    }

    #[test]
    fn bad_parameters_are_errors() {
        for s in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-60, 1e60] {
            assert!(
                matches!(
                    quantize_per_tensor(&[1.0], s, 0, DType::QUInt8),
                    Err(Error::BadScale { .. })
                ),
                "{s}"
            );
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
