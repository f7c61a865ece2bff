//! Applying: a paste onto a starting scenario.
use super::checking::check_output_run;
use super::rounding::*;
use super::syntax::dims;
use super::*;
use crate::conv::ConvShape;
use crate::scenario::InputSource;

pub(super) fn scenario_err(e: crate::Error, line: Option<usize>) -> PasteError {
    PasteError {
        line,
        kind: PasteErrorKind::Scenario,
        message: e.to_string(),
    }
}

/// Fill a scenario from a paste, keeping what the paste does not mention from
/// `base`. The result runs; notes say what was rounded, kept and adjusted.
pub fn apply(paste: &Paste, base: &Scenario) -> Result<(Scenario, Vec<Note>), PasteError> {
    match super::ordering::settle(paste, base) {
        Some(swapped) => apply_checked(&swapped, base),
        None => apply_checked(paste, base),
    }
    .map(|(sc, notes, _)| (sc, notes))
}

/// `apply`, with the check of the pasted output it made.
pub(super) fn apply_checked(
    paste: &Paste,
    base: &Scenario,
) -> Result<(Scenario, Vec<Note>, Option<OutputCheck>), PasteError> {
    let (sc, notes, run) = build(paste, base)?;
    Ok(check(paste, sc, notes, &run))
}

/// The scenario a paste makes, its notes, and its run (no output check).
pub(super) fn build(
    paste: &Paste,
    base: &Scenario,
) -> Result<(Scenario, Vec<Note>, crate::scenario::Run), PasteError> {
    let mut notes = vec![];
    let mut sc = base.clone();
    let mut s: ConvShape = base.shape;
    let note =
        |notes: &mut Vec<Note>, kind, field: Option<&str>, lines: Option<Lines>, m: String| {
            notes.push(Note {
                kind,
                field: field.map(str::to_string),
                lines,
                message: m,
            })
        };
    // Where each part of the shape came from, for messages.
    let mut channels_from = "the starting scenario".to_string();
    if let Some(c) = &paste.conv {
        s.in_channels = c.in_channels;
        s.out_channels = c.out_channels;
        s.kernel = c.kernel;
        s.stride = c.stride;
        s.padding = c.padding;
        s.dilation = c.dilation;
        s.groups = c.groups;
        sc.params.relu = c.relu;
        channels_from = format!("the conv module on {}", c.lines);
    }
    if let Some(w) = &paste.weight {
        let lines = w
            .codes
            .as_ref()
            .map_or_else(|| w.qparams.as_ref().map(|q| q.lines).unwrap(), |c| c.lines);
        let (o, ig, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        if let Some(c) = &paste.conv {
            if o != c.out_channels || [kh, kw] != c.kernel || ig * c.groups != c.in_channels {
                return err(
                    lines.first,
                    PasteErrorKind::Shape,
                    format!(
                        "the weight is {} but {} needs {}x{}x{}x{}",
                        dims(&w.shape),
                        channels_from,
                        c.out_channels,
                        c.in_channels / c.groups.max(1),
                        c.kernel[0],
                        c.kernel[1]
                    ),
                );
            }
        } else {
            s.out_channels = o;
            s.kernel = [kh, kw];
            let cin = paste
                .input_codes
                .as_ref()
                .and_then(|i| i.shape.get(i.shape.len().wrapping_sub(3)).copied());
            let cin = cin.unwrap_or(ig * base.shape.groups);
            if ig == 0 || !cin.is_multiple_of(ig) {
                return err(lines.first, PasteErrorKind::Shape, format!("the weight takes {ig} input channels per group, which does not divide the {cin} input channels"));
            }
            s.in_channels = cin;
            s.groups = cin / ig;
            channels_from = format!("the weight on {lines}");
        }
    }
    if let Some(i) = &paste.input_codes {
        let sh = &i.shape;
        let (n, c, h, w) = match sh.len() {
            4 => (sh[0], sh[1], sh[2], sh[3]),
            3 => {
                note(
                    &mut notes,
                    NoteKind::Adjusted,
                    Some("input"),
                    Some(i.lines),
                    format!("the input is 3-d ({}): read as a batch of one", dims(sh)),
                );
                (1, sh[0], sh[1], sh[2])
            }
            _ => {
                return err(
                    i.lines.first,
                    PasteErrorKind::Shape,
                    format!(
                        "the conv input is 4-d (N, C, H, W), this tensor is {}",
                        dims(sh)
                    ),
                )
            }
        };
        if c != s.in_channels {
            return err(
                i.lines.first,
                PasteErrorKind::Shape,
                format!(
                    "the input has {c} channels but {channels_from} takes {}",
                    s.in_channels
                ),
            );
        }
        s.batch = n;
        s.height = h;
        s.width = w;
        sc.input = InputSource::Codes {
            codes: i.values.iter().map(|&v| v as u8).collect(),
        };
    } else {
        note(
            &mut notes,
            NoteKind::Kept,
            Some("input"),
            None,
            format!(
                "input kept from the starting scenario ({})",
                base.input.name()
            ),
        );
        if let InputSource::Codes { codes } = &base.input {
            if codes.len() != s.input_len() {
                return Err(PasteError { line: None, kind: PasteErrorKind::Shape, message: format!("the starting scenario's {} input codes do not fit the pasted conv ({}x{}x{}x{} input): paste the input's int_repr() too", codes.len(), s.batch, s.in_channels, s.height, s.width) });
            }
        }
    }
    s.validate()
        .map_err(|e| scenario_err(e, paste.conv.as_ref().map(|c| c.lines.first)))?;
    // Weights.
    match paste.weight.as_ref().and_then(|w| w.codes.as_ref()) {
        Some(c) => {
            sc.weights = c.values.iter().map(|&v| v as i8).collect();
            if c.recovered {
                note(&mut notes, NoteKind::Adjusted, Some("weights"), Some(c.lines), "weight codes read off the dequantized printout (only one integer fits each value)".into());
            }
        }
        None => {
            let ambiguity = paste.weight.as_ref().and_then(|w| w.ambiguity.as_deref());
            let line = paste
                .weight
                .as_ref()
                .and_then(|w| w.dequantized_lines)
                .map(|l| l.first);
            if base.weights.len() != s.weight_len() {
                let (line, why) = match ambiguity {
                    Some(a) => (line, a),
                    None => (
                        paste.conv.as_ref().map(|c| c.lines.first),
                        "paste the weight's int_repr() (net.conv1.weight().int_repr())",
                    ),
                };
                return Err(PasteError { line, kind: PasteErrorKind::Shape, message: format!("the starting scenario's {} weights do not fit the pasted conv, which needs {}: {why}", base.weights.len(), s.weight_len()) });
            }
            // Kept codes must not contradict the printout they stand in for.
            if let (Some(w), Some(a)) = (&paste.weight, ambiguity) {
                if !kept_codes_fit(w, &base.weights) {
                    return Err(PasteError {
                        line,
                        kind: PasteErrorKind::Ambiguous,
                        message: format!(
                            "{a} (the starting scenario's codes do not fit the printout either)"
                        ),
                    });
                }
            }
            note(
                &mut notes,
                NoteKind::Kept,
                Some("weights"),
                None,
                match ambiguity {
                    Some(a) => format!("weight codes kept from the starting scenario, which fit the printout; but {a}"),
                    None => "weight codes kept from the starting scenario".into(),
                },
            );
        }
    }
    // Weight quantization parameters.
    let p = &mut sc.params;
    match paste.weight.as_ref().and_then(|w| w.qparams.as_ref()) {
        Some(q) => {
            p.per_channel = q.per_channel;
            p.weight_scales = q.scales.iter().map(|n| n.value).collect();
            p.weight_zero_points = q.zero_points.clone();
            for (c, n) in q.scales.iter().enumerate() {
                if !n.exact {
                    note(&mut notes, NoteKind::Rounded, Some(&format!("weight_scale[{c}]")), Some(q.lines), format!("weight scale {} was printed with {} decimals: the true value is within +-{} of it; the scenario uses {}", n.text, decimals(&n.text), fmt_hw(n.half_width), n.value));
                }
            }
        }
        None => {
            let need = if p.per_channel { s.out_channels } else { 1 };
            if p.weight_scales.len() != need {
                let line = paste
                    .weight
                    .as_ref()
                    .and_then(|w| w.codes.as_ref())
                    .map(|c| c.lines.first);
                return Err(PasteError { line, kind: PasteErrorKind::Shape, message: format!("the starting scenario has {} weight scale(s), the pasted conv has {} output channels: paste the weight printout (print(net.conv1.weight())) for its scales", p.weight_scales.len(), s.out_channels) });
            }
            note(
                &mut notes,
                NoteKind::Kept,
                Some("weight_scale"),
                None,
                "weight scales and zero points kept from the starting scenario".into(),
            );
        }
    }
    for (input, q) in [(true, &paste.input_qparams), (false, &paste.output_qparams)] {
        let name = if input { "input" } else { "output" };
        match q {
            Some(q) => {
                if input {
                    p.input_scale = q.scale.value;
                    p.input_zero_point = q.zero_point;
                } else {
                    p.output_scale = q.scale.value;
                    p.output_zero_point = q.zero_point;
                }
                if !q.scale.exact {
                    note(&mut notes, NoteKind::Rounded, Some(&format!("{name}_scale")), Some(q.lines), format!("{name} scale {} ({}) was printed with {} decimals: the true value is within +-{} of it; the scenario uses {}", q.scale.text, q.source, decimals(&q.scale.text), fmt_hw(q.scale.half_width), q.scale.value));
                }
            }
            None if input => note(
                &mut notes,
                NoteKind::Warning,
                Some(&format!("{name}_scale")),
                None,
                format!("the paste has no input scale or zero point (print the model: its Quantize module shows them; or print(qx) or qx.q_scale() for the exact scale): the starting scenario's input scale {} and zero point {} are used", p.input_scale, p.input_zero_point),
            ),
            None => note(
                &mut notes,
                NoteKind::Kept,
                Some(&format!("{name}_scale")),
                None,
                format!("{name} scale and zero point kept from the starting scenario"),
            ),
        }
    }
    // Bias.
    if let (Some(l), Some(c)) = (paste.no_bias, &paste.conv) {
        if c.bias {
            return err(l, PasteErrorKind::Ambiguous, format!("the bias printed as None, but the conv module on {} has one (it would show bias=False)", c.lines));
        }
    }
    let conv_no_bias = paste.conv.as_ref().is_some_and(|c| !c.bias) || paste.no_bias.is_some();
    match (&paste.bias, conv_no_bias) {
        (Some(b), true) => {
            return err(
                b.lines.first,
                PasteErrorKind::Ambiguous,
                format!(
                    "a bias is pasted but the conv module on {} says bias=False",
                    paste.conv.as_ref().unwrap().lines
                ),
            );
        }
        (Some(b), false) => {
            if b.values.len() != s.out_channels {
                return err(
                    b.lines.first,
                    PasteErrorKind::Shape,
                    format!(
                        "{} bias values but {channels_from} has {} output channels",
                        b.values.len(),
                        s.out_channels
                    ),
                );
            }
            p.bias = Some(b.values.iter().map(|v| v.value as f32).collect());
            if b.values.iter().any(|v| !v.exact) {
                let hw = b.values.iter().map(|v| v.half_width).fold(0.0, f64::max);
                note(&mut notes, NoteKind::Rounded, Some("bias"), Some(b.lines), format!("the bias was printed with {} decimals: each value is within +-{} of the printed one; the scenario uses the printed values as float32", b.values.iter().map(|v| decimals(&v.text)).max().unwrap_or(0), fmt_hw(hw)));
            }
        }
        (None, true) => p.bias = None,
        (None, false) => {
            if let Some(b) = &p.bias {
                if b.len() != s.out_channels {
                    return Err(PasteError { line: paste.conv.as_ref().map(|c| c.lines.first), kind: PasteErrorKind::Shape, message: format!("the starting scenario's bias has {} values, the pasted conv has {} output channels: paste the bias (print(net.conv1.bias()))", b.len(), s.out_channels) });
                }
                note(
                    &mut notes,
                    NoteKind::Kept,
                    Some("bias"),
                    None,
                    "bias kept from the starting scenario".into(),
                );
            }
        }
    }
    for w in &paste.warnings {
        note(&mut notes, NoteKind::Warning, None, None, w.clone());
    }
    sc.shape = s;
    // The view must point inside the new output.
    let (oh, ow) = s.output_hw();
    if sc.view.channel >= s.out_channels || sc.view.pixel.is_some_and(|(y, x)| y >= oh || x >= ow) {
        sc.view.channel = sc.view.channel.min(s.out_channels - 1);
        sc.view.pixel = None;
        note(
            &mut notes,
            NoteKind::Adjusted,
            Some("view"),
            None,
            "the selected pixel was outside the new output and is cleared".into(),
        );
    }
    // Expected output shape.
    if let Some(o) = &paste.expected_output {
        let want = [s.batch, s.out_channels, oh, ow];
        let got: Vec<usize> = if o.shape.len() == 3 {
            std::iter::once(1).chain(o.shape.iter().copied()).collect()
        } else {
            o.shape.clone()
        };
        if got != want {
            return err(o.lines.first, PasteErrorKind::Shape, format!("the output printout is {} but the conv gives {} (stride, padding or dilation differ? paste the conv module)", dims(&o.shape), dims(&want)));
        }
    }
    let run = sc.run().map_err(|e| scenario_err(e, None))?;
    if let Err(e) = sc.check_limits() {
        note(
            &mut notes,
            NoteKind::Warning,
            None,
            None,
            format!("beyond the page's bounds: {e}"),
        );
    }
    Ok((sc, notes, run))
}

/// The pasted output checked on the built scenario; the check and the
/// engine-checked suggestions become notes.
pub(super) fn check(
    paste: &Paste,
    sc: Scenario,
    mut notes: Vec<Note>,
    run: &crate::scenario::Run,
) -> (Scenario, Vec<Note>, Option<OutputCheck>) {
    let note =
        |notes: &mut Vec<Note>, kind, field: Option<&str>, lines: Option<Lines>, m: String| {
            notes.push(Note {
                kind,
                field: field.map(str::to_string),
                lines,
                message: m,
            })
        };
    let check = check_output_run(paste, &sc, run);
    if let Some(chk) = &check {
        note(
            &mut notes,
            NoteKind::Check,
            Some("output"),
            paste.expected_output.as_ref().map(|o| o.lines),
            chk.message.clone(),
        );
        // Only engine-checked suggestions are offered.
        for sug in &chk.suggestions {
            note(
                &mut notes,
                NoteKind::Suggestion,
                Some(&sug.field),
                paste
                    .fields
                    .iter()
                    .find(|f| f.name == sug.field)
                    .map(|f| f.lines),
                format!("{} (assuming {})", sug.reasoning, sug.assumption),
            );
        }
    }
    (sc, notes, check)
}

/// Do these codes dequantize to the weight's printed values?
fn kept_codes_fit(w: &WeightFound, codes: &[i8]) -> bool {
    let (Some(q), Some(deq)) = (&w.qparams, &w.dequantized) else {
        return true;
    };
    let per = w.shape[1..].iter().product::<usize>().max(1);
    codes.len() == deq.len()
        && codes.iter().zip(deq).enumerate().all(|(i, (&c, v))| {
            let ch = if q.per_channel { i / per } else { 0 };
            let k = (c as i64 - q.zero_points[ch]) as f64;
            let (sl, sh) = q.scales[ch].interval();
            let (a, b) = if k >= 0.0 {
                (k * sl, k * sh)
            } else {
                (k * sh, k * sl)
            };
            let (vl, vh) = v.interval();
            b >= vl - 1e-12 && a <= vh + 1e-12
        })
}
