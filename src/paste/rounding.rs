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
            if best.map_or(true, |(bk, _)| k.abs() > bk.abs()) {
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
