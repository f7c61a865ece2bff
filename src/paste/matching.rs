//! The same activation printed both ways: an `int_repr()` (uint8 codes) and a
//! dequantized quint8 printout of one tensor belong together when every
//! printed value is (code - zero point) x scale within its rounding. Pairing
//! them comes before order, so that printing the input both ways and then the
//! output both ways never takes the input's second printout as the output.
use super::reading::{Reader, Role};
use super::syntax::dims;
use super::*;

/// A dequantized quint8 printout.
pub(super) struct Printed {
    pub(super) shape: Vec<usize>,
    pub(super) values: Vec<Number>,
    pub(super) scale: Number,
    pub(super) zero_point: i64,
    pub(super) lines: Lines,
}

/// What was printed of one activation (input or output).
#[derive(Default)]
pub(super) struct Activation {
    /// An `int_repr()`: shape, codes, lines.
    pub(super) codes: Option<(Vec<usize>, Vec<i64>, Lines)>,
    pub(super) printed: Option<Printed>,
}

const ROLES: [Role; 2] = [Role::Input, Role::Output];

/// Do these codes dequantize to these printed values?
fn fits(p: &Printed, shape: &[usize], codes: &[i64]) -> bool {
    if p.shape != shape || p.values.len() != codes.len() {
        return false;
    }
    let (sl, sh) = p.scale.interval();
    codes.iter().zip(&p.values).all(|(&c, v)| {
        let k = (c - p.zero_point) as f64;
        let (a, b) = if k >= 0.0 {
            (k * sl, k * sh)
        } else {
            (k * sh, k * sl)
        };
        let (vl, vh) = v.interval();
        // The printout rounds the float32 value: allow its own rounding.
        b >= vl - 1e-9 * vl.abs().max(1e-30) && a <= vh + 1e-9 * vh.abs().max(1e-30)
    })
}

impl Reader<'_> {
    /// Can slot `k` take this scale (no other printout of it says otherwise)?
    fn scale_fits(&self, k: usize, scale: &Number) -> bool {
        let q = if k == 0 {
            &self.out.input_qparams
        } else {
            &self.out.output_qparams
        };
        q.as_ref().is_none_or(|q| {
            let (a, b) = q.scale.interval();
            let (c, d) = scale.interval();
            a.max(c) <= b.min(d) * (1.0 + 1e-12)
        })
    }

    /// Input or output for an `int_repr()` no comment or prompt names.
    pub(super) fn slot_for_codes(
        &self,
        shape: &[usize],
        codes: &[i64],
        lines: Lines,
    ) -> Result<(Role, String, bool), PasteError> {
        for (k, a) in self.acts.iter().enumerate() {
            if let (None, Some(p)) = (&a.codes, &a.printed) {
                if fits(p, shape, codes) {
                    return Ok((
                        ROLES[k],
                        format!(
                            "the codes of the quint8 {} printout on {}",
                            ROLES[k].word(),
                            p.lines
                        ),
                        false,
                    ));
                }
            }
        }
        for (k, a) in self.acts.iter().enumerate() {
            if a.codes.is_none() && a.printed.is_none() {
                let why = if k == 0 {
                    "the first activation (uint8) printout"
                } else {
                    "the second activation (uint8) printout"
                };
                return Ok((ROLES[k], why.into(), true));
            }
        }
        err(
            lines.first,
            PasteErrorKind::Ambiguous,
            format!(
                "a third uint8 tensor ({}), and it fits neither the input nor the output printed before: mark which it is with '# input' / '# output' or print it with a prompt such as '>>> qx.int_repr()'",
                dims(shape)
            ),
        )
    }

    /// Input or output for a quint8 printout no comment or prompt names.
    pub(super) fn slot_for_printout(
        &self,
        shape: &[usize],
        values: &[Number],
        scale: &Number,
        zero_point: i64,
        lines: Lines,
    ) -> Result<(Role, String, bool), PasteError> {
        let p = Printed {
            shape: shape.to_vec(),
            values: values.to_vec(),
            scale: scale.clone(),
            zero_point,
            lines,
        };
        for (k, a) in self.acts.iter().enumerate() {
            if let (Some((s, c, l)), None) = (&a.codes, &a.printed) {
                if self.scale_fits(k, scale) && fits(&p, s, c) {
                    return Ok((
                        ROLES[k],
                        format!(
                            "the dequantized values of the {} codes on {l}",
                            ROLES[k].word()
                        ),
                        false,
                    ));
                }
            }
        }
        for (k, a) in self.acts.iter().enumerate() {
            if a.codes.is_none() && a.printed.is_none() && self.scale_fits(k, scale) {
                let why = if k == 0 {
                    "the first activation (quint8) printout".to_string()
                } else if self
                    .out
                    .output_qparams
                    .as_ref()
                    .is_some_and(|q| q.scale.exact)
                {
                    "its scale is the conv's output scale".to_string()
                } else {
                    "the second activation (quint8) printout".to_string()
                };
                return Ok((ROLES[k], why, true));
            }
        }
        err(
            lines.first,
            PasteErrorKind::Ambiguous,
            format!(
                "a third quint8 printout (scale {}), and it fits neither the input nor the output printed before: mark which it is with '# input' / '# output' or print it with a prompt such as '>>> print(qx)'",
                scale.text
            ),
        )
    }

    /// A printout named input or output must agree with the other form of
    /// that tensor printed before: a mix-up is said, never applied.
    pub(super) fn check_pair(
        &self,
        k: usize,
        codes: Option<&Codes>,
        printed: Option<&Printed>,
    ) -> Result<(), PasteError> {
        let a = &self.acts[k];
        let word = ROLES[k].word();
        match (codes, printed) {
            (Some(c), None) => {
                if let Some(p) = &a.printed {
                    if !fits(p, &c.shape, &c.values) {
                        return err(c.lines.first, PasteErrorKind::Ambiguous, format!("these {word} codes do not dequantize to the quint8 {word} printout on {} (scale {}): are they different tensors?", p.lines, p.scale.text));
                    }
                }
            }
            (None, Some(p)) => {
                if let Some((s, c, l)) = &a.codes {
                    if !fits(p, s, c) {
                        return err(p.lines.first, PasteErrorKind::Ambiguous, format!("this quint8 {word} printout does not match the {word} codes on {l} (codes x scale {} differ from the printed values): are they different tensors?", p.scale.text));
                    }
                }
                if a.printed.is_some() {
                    return err(
                        p.lines.first,
                        PasteErrorKind::Ambiguous,
                        format!("a second quint8 {word} printout"),
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }
}
