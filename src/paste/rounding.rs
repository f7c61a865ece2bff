//! Rounding: what a value printed with few decimals can stand for: codes
//! read off dequantized values, intervals for rounded scales.
use super::*;

/// The one integer code whose dequantized value prints as `v`, if only one fits.
pub(super) fn unique_code(v: &Number, scale: &Number, zp: i64, lo: i64, hi: i64) -> Option<i64> {
    let (vl, vh) = v.interval();
    let (sl, sh) = scale.interval();
    if !(sl > 0.0) {
        return None;
    }
    // q - zp = v / s over the box of possible (v, s).
    let cands = [vl / sl, vl / sh, vh / sl, vh / sh];
    let a = cands.iter().copied().fold(f64::INFINITY, f64::min);
    let b = cands.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (qa, qb) = (a.ceil(), b.floor());
    if qa != qb || !qa.is_finite() {
        return None;
    }
    let q = qa as i64 + zp;
    (lo..=hi).contains(&q).then_some(q)
}

/// The shortest decimal in [lo, hi] (fewest significant digits).
pub(super) fn shortest_in(lo: f64, hi: f64) -> f64 {
    let mid = 0.5 * (lo + hi);
    for d in 1..=17 {
        let s = format!("{:.*e}", d - 1, mid);
        if let Ok(v) = s.parse::<f64>() {
            if v >= lo && v <= hi {
                return v;
            }
        }
    }
    mid
}

/// Rounded weight scales narrowed by the dequantized weights (and, for the
/// largest code of a symmetric channel, by the observer's `max|w| / 127.5`).
pub(super) fn weight_scale_suggestions(p: &Paste) -> Vec<Suggestion> {
    let mut out = vec![];
    let Some(w) = &p.weight else { return out };
    let (Some(q), Some(deq), Some(codes)) = (&w.qparams, &w.dequantized, &w.codes) else {
        return out;
    };
    let per = w.shape[1..].iter().product::<usize>().max(1);
    for (c, s) in q.scales.iter().enumerate() {
        if s.exact {
            continue;
        }
        let range = if q.per_channel {
            c * per..(c + 1) * per
        } else {
            0..deq.len()
        };
        let z = q.zero_points[c];
        let (mut lo, mut hi) = s.interval();
        let (plo, phi) = (lo, hi);
        let mut best: Option<(i64, &Number)> = None;
        for i in range.clone() {
            let k = codes.values[i] - z;
            if k == 0 {
                continue;
            }
            let (vl, vh) = deq[i].interval();
            let (a, b) = if k > 0 {
                (vl / k as f64, vh / k as f64)
            } else {
                (vh / k as f64, vl / k as f64)
            };
            lo = lo.max(a);
            hi = hi.min(b);
            if best.is_none_or(|(bk, _)| k.abs() > bk.abs()) {
                best = Some((k, &deq[i]));
            }
        }
        let field = format!("weight_scale[{c}]");
        let Some((k, v)) = best else { continue };
        if lo <= hi && (lo > plo || hi < phi) {
            let cand = shortest_in(lo, hi);
            out.push(Suggestion {
                field: field.clone(),
                printed: s.clone(),
                low: lo,
                high: hi,
                candidate: cand,
                assumption: "the printout shows the dequantized weights, code x scale (what torch 2.x prints)".into(),
                reasoning: format!(
                    "weight scale {} was printed with {} decimals ({:.6}..{:.6}); the dequantized weight {} = {} x scale (itself rounded, +-{}) puts it in {lo:.8}..{hi:.8}, so {cand} (the shortest decimal there); this cannot tell apart values inside that interval",
                    s.text, decimals(&s.text), plo, phi, v.text, k, fmt_hw(v.half_width)
                ),
                mismatches_before: None,
                mismatches_after: None,
            });
        }
        // Per-channel symmetric observer: the largest |w| lands on +-127.5
        // (then 127 after the clamp, or -128). If the printed value is that
        // float weight rather than the dequantized code, scale = max|w|/127.5.
        if z == 0 && (k == 127 || k == -128) && q.per_channel {
            let m = (
                v.interval().0.abs().min(v.interval().1.abs()),
                v.interval().0.abs().max(v.interval().1.abs()),
            );
            let (a, b) = (m.0 / 127.5, m.1 / 127.5);
            let (a, b) = (a.max(plo), b.min(phi));
            if a <= b {
                let cand = shortest_in(a, b);
                out.push(Suggestion {
                    field,
                    printed: s.clone(),
                    low: a,
                    high: b,
                    candidate: cand,
                    assumption: format!(
                        "{} is the float weight the per-channel symmetric observer saw (its largest |w|), not code x scale: the observer sets scale = max|w| / 127.5 and that weight quantizes to 127.5, clamped to 127",
                        v.text
                    ),
                    reasoning: format!(
                        "if {} is max|w|, scale = {}/127.5 is in {a:.8}..{b:.8}, so {cand}; a dequantized printout would then show {:.4}, not {}",
                        v.text,
                        v.text,
                        k as f64 * cand,
                        v.text
                    ),
                    mismatches_before: None,
                    mismatches_after: None,
                });
            }
        }
    }
    out
}

pub(super) fn decimals(text: &str) -> usize {
    let m = text.split(['e', 'E']).next().unwrap_or("");
    m.find('.').map_or(0, |k| m.len() - k - 1)
}

pub(super) fn fmt_hw(h: f64) -> String {
    format!("{}", crate::printed::printed(h).max(h))
}

/// Codes read off one channel's dequantized values.
#[derive(Debug, PartialEq)]
pub(super) enum ChannelCodes {
    /// One code per value: the only ones any scale within the printed one allows.
    Exact(Vec<i64>),
    /// More than one code fits element `element` (index in the channel).
    Ambiguous { element: usize, choices: Vec<i64> },
}

/// Integers in the box `v / s` (v, s intervals), as a range.
fn code_range(v: (f64, f64), s: (f64, f64)) -> (f64, f64) {
    let c = [v.0 / s.0, v.0 / s.1, v.1 / s.0, v.1 / s.1];
    let a = c.iter().copied().fold(f64::INFINITY, f64::min);
    let b = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (a.ceil(), b.floor())
}

/// The codes of one channel whose values share one scale. Read one by one, a
/// rounded scale often leaves several codes for a value (0.4808 / 0.0038±0.00005
/// is 125..127); together they may not: each candidate code of the largest
/// value narrows the scale, and only candidates under which every value still
/// has a code survive. The codes are exact when one candidate survives and it
/// leaves one code per value.
pub(super) fn channel_codes(
    values: &[Number],
    scale: &Number,
    zp: i64,
    lo: i64,
    hi: i64,
) -> ChannelCodes {
    let ambiguous = |element: usize, mut choices: Vec<i64>| {
        choices.sort_unstable();
        choices.dedup();
        ChannelCodes::Ambiguous { element, choices }
    };
    let s0 = scale.interval();
    if !(s0.0 > 0.0) || values.is_empty() {
        return ambiguous(0, vec![]);
    }
    // The largest |value| constrains the scale most.
    let pivot = (0..values.len())
        .max_by(|&a, &b| values[a].value.abs().total_cmp(&values[b].value.abs()))
        .unwrap_or(0);
    let (a, b) = code_range(values[pivot].interval(), s0);
    if !(a.is_finite() && b.is_finite()) || b - a > 512.0 {
        return ambiguous(pivot, vec![]);
    }
    // Each feasible pivot code, with all codes or the first element left open.
    type Open = (usize, Vec<i64>);
    let mut feasible: Vec<(i64, Result<Vec<i64>, Open>)> = vec![];
    for k in a as i64..=b as i64 {
        if !(lo..=hi).contains(&(k + zp)) {
            continue;
        }
        let mut s = s0;
        let mut codes = vec![0i64; values.len()];
        let mut open: Option<(usize, Vec<i64>)> = None;
        let mut ok = true;
        // Narrow the scale by every value whose code is fixed, twice over.
        for _ in 0..2 {
            open = None;
            for (j, v) in values.iter().enumerate() {
                let (qa, qb) = if j == pivot {
                    (k as f64, k as f64)
                } else {
                    code_range(v.interval(), s)
                };
                let (qa, qb) = (qa.max((lo - zp) as f64), qb.min((hi - zp) as f64));
                if qa > qb {
                    ok = false;
                    break;
                }
                if qa < qb {
                    if open.is_none() {
                        open = Some((
                            j,
                            (qa as i64..=(qb as i64).min(qa as i64 + 8))
                                .map(|q| q + zp)
                                .collect(),
                        ));
                    }
                    continue;
                }
                let q = qa;
                codes[j] = q as i64 + zp;
                if q != 0.0 {
                    let (vl, vh) = v.interval();
                    let (x, y) = if q > 0.0 {
                        (vl / q, vh / q)
                    } else {
                        (vh / q, vl / q)
                    };
                    s = (s.0.max(x), s.1.min(y));
                    if s.0 > s.1 {
                        ok = false;
                        break;
                    }
                } else if v.interval().0 > 0.0 || v.interval().1 < 0.0 {
                    ok = false;
                    break;
                }
            }
            if !ok {
                break;
            }
        }
        if ok {
            feasible.push((k + zp, open.map_or(Ok(codes), Err)));
        }
    }
    match feasible.as_slice() {
        [(_, Ok(codes))] => ChannelCodes::Exact(codes.clone()),
        [(_, Err((j, choices)))] => ambiguous(*j, choices.clone()),
        many => ambiguous(pivot, many.iter().map(|(k, _)| *k).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::syntax::half_width_of;
    use super::*;

    fn n(text: &str) -> Number {
        let hw = half_width_of(text);
        Number {
            value: text.parse().unwrap(),
            text: text.into(),
            exact: hw == 0.0,
            half_width: hw,
        }
    }

    #[test]
    fn a_shared_scale_decides_codes_that_alone_are_ambiguous() {
        // True scale 0.0037707 (prints 0.0038); codes 127, -64, 3.
        let s = 0.003770669922232628;
        let vals: Vec<Number> = [127i64, -64, 3]
            .iter()
            .map(|&q| n(&format!("{:.4}", q as f64 * s)))
            .collect();
        // Alone, 0.4789 / 0.0038±0.00005 fits 125..127.
        assert_eq!(unique_code(&vals[0], &n("0.0038"), 0, -128, 127), None);
        assert_eq!(
            channel_codes(&vals, &n("0.0038"), 0, -128, 127),
            ChannelCodes::Exact(vec![127, -64, 3])
        );
    }

    #[test]
    fn one_value_with_a_rounded_scale_is_said_to_be_ambiguous() {
        // The forum's weight: 0.4808 with scale 0.0038 could be 125, 126 or 127.
        assert_eq!(
            channel_codes(&[n("0.4808")], &n("0.0038"), 0, -128, 127),
            ChannelCodes::Ambiguous {
                element: 0,
                choices: vec![125, 126, 127]
            }
        );
    }

    #[test]
    fn codes_out_of_range_or_inconsistent_are_not_invented() {
        // 0.0038 and 0.0076 (codes 1, 2) do not narrow the scale enough for 0.4808.
        let r = channel_codes(
            &[n("0.4808"), n("0.0038"), n("0.0076")],
            &n("0.0038"),
            0,
            -128,
            127,
        );
        assert!(matches!(r, ChannelCodes::Ambiguous { .. }), "{r:?}");
        // A zero-point shift: codes are zp + k within int8.
        let r = channel_codes(&[n("0.0200"), n("-0.0100")], &n("0.0100"), 5, -128, 127);
        assert_eq!(r, ChannelCodes::Exact(vec![7, 4]));
    }
}
