//! Exact values asked for by name after a prompt (`>>> qx.q_scale()`,
//! `>>> net.quant.scale.item()`, `>>> net.conv1.weight().q_per_channel_scales().tolist()`,
//! `>>> net.conv1.bias().tolist()`): Python floats, which round-trip. They
//! replace the rounded printouts of the same values, which they must agree
//! with (within the printout's rounding); in any order.
use super::prompts::{Accessor, Hint};
use super::reading::{act_index, Reader, Role};
use super::*;

/// Exact values read, merged into the paste once everything is read.
#[derive(Default)]
pub(super) struct Exact {
    /// Input [0] / output [1] scale and zero point.
    scale: [Option<(Number, Lines)>; 2],
    zero_point: [Option<(i64, Lines)>; 2],
    weight_scales: Option<(Vec<Number>, Lines)>,
    weight_zero_points: Option<(Vec<i64>, Lines)>,
    bias: Option<(Vec<Number>, Lines)>,
}

fn ints(values: &[Number], line: usize, what: &str) -> Result<Vec<i64>, PasteError> {
    values
        .iter()
        .map(|v| {
            if v.value.fract() == 0.0 && v.value.abs() < 1e15 && !v.text.contains(['.', 'e', 'E']) {
                Ok(v.value as i64)
            } else {
                err(
                    line,
                    PasteErrorKind::Value,
                    format!("{what} {} is not an integer", v.text),
                )
            }
        })
        .collect()
}

/// Does the exact value lie within what the printout allows?
fn agrees(printed: &Number, exact: &Number) -> bool {
    let (a, b) = printed.interval();
    let tol = 1e-12 * exact.value.abs();
    exact.value >= a - tol && exact.value <= b + tol
}

impl Reader<'_> {
    /// A bare number or list after a prompt that names it.
    pub(super) fn exact_values(
        &mut self,
        hint: Option<Hint>,
        values: Vec<Number>,
        lines: Lines,
    ) -> Result<(), PasteError> {
        let line = lines.first;
        let Some((h, accessor)) = hint.as_ref().and_then(|h| h.accessor.map(|a| (h, a))) else {
            return err(line, PasteErrorKind::Ambiguous, "a bare number or list: paste it with the prompt that printed it (such as '>>> qx.q_scale()' or '>>> net.conv1.bias().tolist()') so that it is clear what it is");
        };
        let role = h.role.or_else(|| {
            let s = h.subject.as_ref()?;
            self.vars
                .iter()
                .find(|(v, _, _)| v == s)
                .map(|(_, r, _)| *r)
        });
        let one = |what: &str| -> Result<Number, PasteError> {
            match values.as_slice() {
                [v] => Ok(v.clone()),
                _ => err(
                    line,
                    PasteErrorKind::Shape,
                    format!("{what} is one number, {} were printed", values.len()),
                ),
            }
        };
        let what = match (accessor, role) {
            (Accessor::Scale | Accessor::ZeroPoint, Some(r @ (Role::Input | Role::Output))) => {
                let k = act_index(r).unwrap_or(0);
                if accessor == Accessor::Scale {
                    let v = one("a scale")?;
                    if !(v.value > 0.0) || !v.value.is_finite() {
                        return err(line, PasteErrorKind::Value, format!("{} scale {} is not positive", r.word(), v.text));
                    }
                    self.exact.scale[k] = Some((v, lines));
                    format!("{} scale (exact)", r.word())
                } else {
                    let z = ints(&[one("a zero point")?], line, "zero point")?[0];
                    self.exact.zero_point[k] = Some((z, lines));
                    format!("{} zero point", r.word())
                }
            }
            (Accessor::ChannelScales, Some(Role::Weight) | None) => {
                if let Some(v) = values.iter().find(|v| !(v.value > 0.0) || !v.value.is_finite()) {
                    return err(line, PasteErrorKind::Value, format!("weight scale {} is not positive", v.text));
                }
                let n = values.len();
                self.exact.weight_scales = Some((values, lines));
                format!("{n} weight scale{} (exact)", if n == 1 { "" } else { "s" })
            }
            (Accessor::ChannelZeroPoints, Some(Role::Weight) | None) => {
                let z = ints(&values, line, "weight zero point")?;
                let n = z.len();
                self.exact.weight_zero_points = Some((z, lines));
                format!("{n} weight zero point{}", if n == 1 { "" } else { "s" })
            }
            (Accessor::Values, Some(Role::Bias)) => {
                if let Some(v) = values.iter().find(|v| !v.value.is_finite()) {
                    return err(line, PasteErrorKind::Value, format!("bias value {} is not finite", v.text));
                }
                let n = values.len();
                self.exact.bias = Some((values, lines));
                format!("bias, {n} value{} (exact)", if n == 1 { "" } else { "s" })
            }
            (_, r) => {
                return err(line, PasteErrorKind::Unsupported, format!(
                    "{:?} prints {}: exact values are read for the input/output scale and zero point (q_scale(), q_zero_point()), the weight's q_per_channel_scales().tolist() / q_per_channel_zero_points().tolist(), and the bias (.bias().tolist())",
                    h.text,
                    r.map_or("a value of an unknown tensor".to_string(), |r| format!("a value of the {}", r.word()))
                ))
            }
        };
        self.found(lines, what, h.describe());
        Ok(())
    }

    /// Merge the exact values into what the printouts gave.
    pub(super) fn merge_exact(&mut self) -> Result<(), PasteError> {
        let e = std::mem::take(&mut self.exact);
        for k in 0..2 {
            let word = if k == 0 { "input" } else { "output" };
            let slot = if k == 0 {
                &mut self.out.input_qparams
            } else {
                &mut self.out.output_qparams
            };
            match (slot.as_mut(), &e.scale[k], &e.zero_point[k]) {
                (Some(q), s, z) => {
                    if let Some((v, l)) = s {
                        if !agrees(&q.scale, v) {
                            return err(l.first, PasteErrorKind::Ambiguous, format!("{word} scale {} is not the {} printed on {} ({}): are they different tensors?", v.text, q.scale.text, q.lines, q.source));
                        }
                        q.scale = v.clone();
                        q.source = format!("{}, exact value on {l}", q.source);
                    }
                    if let Some((z, l)) = z {
                        if *z != q.zero_point {
                            return err(
                                l.first,
                                PasteErrorKind::Ambiguous,
                                format!(
                                    "{word} zero point {z} is not the {} printed on {}",
                                    q.zero_point, q.lines
                                ),
                            );
                        }
                    }
                }
                (None, Some((v, l)), Some((z, _))) => {
                    *slot = Some(ActQParams {
                        scale: v.clone(),
                        zero_point: *z,
                        lines: *l,
                        source: "exact values".into(),
                    });
                }
                (None, Some((_, l)), None) => {
                    return err(l.first, PasteErrorKind::Ambiguous, format!("the {word} scale without its zero point: print its q_zero_point() too (or the model's repr)"));
                }
                (None, None, Some((_, l))) => {
                    return err(
                        l.first,
                        PasteErrorKind::Ambiguous,
                        format!("the {word} zero point without its scale: print its q_scale() too"),
                    );
                }
                (None, None, None) => {}
            }
        }
        if let Some((scales, l)) = &e.weight_scales {
            match self.out.weight.as_mut().and_then(|w| w.qparams.as_mut()) {
                Some(q) => {
                    if q.scales.len() != scales.len() {
                        return err(l.first, PasteErrorKind::Shape, format!("{} weight scales, but the weight printed on {} has {}", scales.len(), q.lines, q.scales.len()));
                    }
                    if let Some(c) = (0..scales.len()).find(|&c| !agrees(&q.scales[c], &scales[c])) {
                        return err(l.first, PasteErrorKind::Ambiguous, format!("weight scale {} of channel {c} is not the {} printed on {}: are they different tensors?", scales[c].text, q.scales[c].text, q.lines));
                    }
                    q.scales = scales.clone();
                }
                None => return err(l.first, PasteErrorKind::Ambiguous, "exact weight scales without the weight: paste the weight's printout too (>>> net.conv1.weight())"),
            }
        }
        if let Some((z, l)) = &e.weight_zero_points {
            if let Some(q) = self.out.weight.as_ref().and_then(|w| w.qparams.as_ref()) {
                if &q.zero_points != z {
                    return err(
                        l.first,
                        PasteErrorKind::Ambiguous,
                        format!(
                            "weight zero points {z:?}, but the weight printed on {} has {:?}",
                            q.lines, q.zero_points
                        ),
                    );
                }
            }
        }
        if let Some((values, l)) = e.bias {
            if let Some(n) = self.out.no_bias {
                return err(
                    l.first,
                    PasteErrorKind::Ambiguous,
                    format!("bias values, but the bias printed on line {n} is None"),
                );
            }
            match self.out.bias.as_mut() {
                Some(b) => {
                    if b.values.len() != values.len() {
                        return err(
                            l.first,
                            PasteErrorKind::Shape,
                            format!(
                                "{} bias values, but the bias printed on {} has {}",
                                values.len(),
                                b.lines,
                                b.values.len()
                            ),
                        );
                    }
                    if let Some(c) = (0..values.len()).find(|&c| !agrees(&b.values[c], &values[c]))
                    {
                        return err(
                            l.first,
                            PasteErrorKind::Ambiguous,
                            format!(
                                "bias {} of channel {c} is not the {} printed on {}",
                                values[c].text, b.values[c].text, b.lines
                            ),
                        );
                    }
                    b.values = values;
                }
                None => self.out.bias = Some(BiasFound { values, lines: l }),
            }
        }
        Ok(())
    }
}
