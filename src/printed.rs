//! How PyTorch prints numbers, because what people copy from a printout is
//! what their hand calculation uses.
//!
//! `torch._tensor_str` prints a float tensor with 4 decimals (precision 4): in
//! fixed notation, or in scientific notation (4 decimals of mantissa) when the
//! largest nonzero magnitude is >= 1e8, the smallest is < 1e-4, or their ratio
//! exceeds 1000. Tensors of whole numbers print without decimals.

/// The values as a tensor printout shows them, read back as numbers.
pub fn as_printed(values: &[f64]) -> Vec<f64> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.iter().all(|v| v.fract() == 0.0) {
        return values.to_vec();
    }
    let nonzero: Vec<f64> = finite
        .iter()
        .map(|v| v.abs())
        .filter(|&v| v != 0.0)
        .collect();
    let max = nonzero.iter().copied().fold(f64::MIN, f64::max);
    let min = nonzero.iter().copied().fold(f64::MAX, f64::min);
    let sci = !nonzero.is_empty() && (max / min > 1000.0 || max > 1e8 || min < 1e-4);
    values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                return v;
            }
            let s = if sci {
                format!("{v:.4e}")
            } else {
                format!("{v:.4}")
            };
            s.parse().unwrap_or(v)
        })
        .collect()
}

/// One value as a one-element tensor prints it (`tensor([0.0078])`).
pub fn printed(v: f64) -> f64 {
    as_printed(&[v])[0]
}

/// The text of that printout for one value.
pub fn printed_text(v: f64) -> String {
    let p = printed(v);
    if p.abs() != 0.0 && (p.abs() < 1e-4 || p.abs() >= 1e8) {
        format!("{p:.4e}")
    } else {
        format!("{p:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forum_printouts() {
        assert_eq!(printed(0.007839367724955082), 0.0078);
        assert_eq!(printed(0.003770669922232628), 0.0038);
        assert_eq!(printed(0.004018464591354132), 0.004);
        assert_eq!(printed(0.0317f32 as f64), 0.0317);
        assert_eq!(printed_text(0.004018464591354132), "0.0040");
    }

    #[test]
    fn scientific_when_small_or_spread() {
        assert_eq!(printed(1.23456e-5), 1.2346e-5);
        let v = as_printed(&[0.5, 0.0001234567]);
        assert_eq!(v, vec![0.5, 1.2346e-4]);
        assert_eq!(as_printed(&[2.0, 3.0]), vec![2.0, 3.0]);
    }
}
