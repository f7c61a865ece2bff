//! Reading: which printout is which tensor (comments, `>>>` prompts, dtype
//! and shape, order), and what it sets.
use super::lexing::{Tok, T};
use super::matching::{Activation, Printed};
use super::prompts::{self, Hint, Prompt};
use super::rounding::*;
use super::syntax::*;
use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Input,
    Output,
    Weight,
    Bias,
}

impl Role {
    pub(super) fn word(self) -> &'static str {
        match self {
            Role::Input => "input",
            Role::Output => "output",
            Role::Weight => "weight",
            Role::Bias => "bias",
        }
    }
}

pub(super) struct Reader<'a> {
    pub(super) p: Parser<'a>,
    pub(super) out: Paste,
    pub(super) float_weight: Option<Lines>,
    /// Tensor expressions whose role is known (`qx` -> input), with why.
    pub(super) vars: Vec<(String, Role, String)>,
    /// What was printed of the input [0] and output [1] activations.
    pub(super) acts: [Activation; 2],
    /// The role the last tensor printout was given.
    pub(super) last_role: Option<Role>,
    /// Input [0] / output [1] placed by order alone.
    pub(super) by_order: [bool; 2],
    /// Exact values printed by name (`qx.q_scale()`), merged at the end.
    pub(super) exact: super::exact::Exact,
}

impl<'a> Reader<'a> {
    pub(super) fn found(&mut self, lines: Lines, what: String, why: String) {
        self.out.found.push(Found { lines, what, why });
    }

    pub(super) fn item(
        &mut self,
        c: Call,
        hint: Option<Hint>,
        param: bool,
    ) -> Result<(), PasteError> {
        if c.name == "tensor" {
            return self.tensor_item(&c, hint, param);
        }
        // A module repr names itself; a comment before it is only informative.
        drop(hint);
        self.module(&c)
    }

    pub(super) fn module(&mut self, c: &Call) -> Result<(), PasteError> {
        let lines = c.lines();
        match c.name.as_str() {
            "QuantizedConv2d" | "QuantizedConvReLU2d" => self.conv(c),
            "Quantize" => {
                let scale = match c.kw("scale") {
                    Some(Expr::Call(t)) if t.name == "tensor" => match self.p.tensor(t, false)? {
                        Tensor::Float { values, .. } if values.len() == 1 => values[0].clone(),
                        Tensor::Int { values, .. } if values.len() == 1 => Number {
                            value: values[0] as f64,
                            text: values[0].to_string(),
                            exact: true,
                            half_width: 0.0,
                        },
                        _ => return err(t.first, PasteErrorKind::Value, "Quantize scale must be one number"),
                    },
                    Some(Expr::Num(n)) => self.p.number(*n, true),
                    _ => return err(c.first, PasteErrorKind::Syntax, "Quantize(...) without scale="),
                };
                let zp = match c.kw("zero_point") {
                    Some(e) => {
                        let v = self.p.int_list(e, "zero_point")?;
                        if v.len() != 1 {
                            return err(e.line(), PasteErrorKind::Value, "Quantize zero_point must be one integer");
                        }
                        v[0]
                    }
                    None => return err(c.first, PasteErrorKind::Syntax, "Quantize(...) without zero_point="),
                };
                if let Some(d) = c.kw("dtype").and_then(name_of) {
                    if d != "quint8" {
                        return err(
                            c.kw("dtype").map_or(c.first, Expr::line),
                            PasteErrorKind::Unsupported,
                            format!("the quantized conv takes quint8 input, this Quantize makes {d}"),
                        );
                    }
                }
                self.set_act(
                    true,
                    ActQParams {
                        scale,
                        zero_point: zp,
                        lines,
                        source: "Quantize module".into(),
                    },
                )?;
                self.found(lines, "input scale and zero point (Quantize module)".into(), "module repr".into());
                Ok(())
            }
            "DeQuantize" | "QuantStub" | "DeQuantStub" | "Identity" | "Dropout" => {
                self.found(lines, format!("{} (ignored)", c.name), "module repr".into());
                Ok(())
            }
            "Conv2d" | "ConvReLU2d" | "ConvBn2d" | "ConvBnReLU2d" => err(
                c.first,
                PasteErrorKind::Unsupported,
                format!(
                    "{} is a float module: print the model after torch.ao.quantization.convert (it shows QuantizedConv2d)",
                    c.name
                ),
            ),
            _ if c.args.is_empty() && c.kwargs.is_empty() && !c.children.is_empty() => {
                self.found(lines, format!("model {}", c.name), "a module with children".into());
                for (_, m) in &c.children {
                    self.module(m)?;
                }
                Ok(())
            }
            other => err(
                c.first,
                PasteErrorKind::Unsupported,
                format!("{other}(...) is not a module this import knows (QuantizedConv2d, QuantizedConvReLU2d, Quantize, DeQuantize, or a model containing them)"),
            ),
        }
    }

    pub(super) fn conv(&mut self, c: &Call) -> Result<(), PasteError> {
        if let Some(prev) = &self.out.conv {
            return err(
                c.first,
                PasteErrorKind::Ambiguous,
                format!(
                    "a second conv module ({} has one already): paste one conv at a time",
                    prev.lines
                ),
            );
        }
        let relu = c.name == "QuantizedConvReLU2d";
        if c.args.len() != 2 {
            return err(
                c.first,
                PasteErrorKind::Syntax,
                format!(
                    "{}(...) should start with in_channels, out_channels",
                    c.name
                ),
            );
        }
        let in_channels = self.p.usize_arg(&c.args[0], "in_channels")?;
        let out_channels = self.p.usize_arg(&c.args[1], "out_channels")?;
        let pair = |k: &str, d: usize| -> Result<[usize; 2], PasteError> {
            c.kw(k).map_or(Ok([d, d]), |e| self.p.pair(e, k))
        };
        let kernel = match c.kw("kernel_size") {
            Some(e) => self.p.pair(e, "kernel_size")?,
            None => {
                return err(
                    c.first,
                    PasteErrorKind::Syntax,
                    "conv module without kernel_size=",
                )
            }
        };
        let stride = pair("stride", 1)?;
        let padding = pair("padding", 0)?;
        let dilation = pair("dilation", 1)?;
        let groups = match c.kw("groups") {
            Some(e) => self.p.usize_arg(e, "groups")?,
            None => 1,
        };
        let bias = !matches!(c.kw("bias").and_then(name_of), Some("False"));
        if let Some(m) = c.kw("padding_mode").and_then(name_of) {
            if m != "zeros" {
                return err(
                    c.kw("padding_mode").map_or(c.first, Expr::line),
                    PasteErrorKind::Unsupported,
                    format!("padding_mode={m}: only zero padding is modelled"),
                );
            }
        }
        let scale = match c.kw("scale") {
            Some(Expr::Num(n)) => self.p.number(*n, true),
            Some(e) => return err(e.line(), PasteErrorKind::Value, "scale= must be a number"),
            None => {
                return err(
                    c.first,
                    PasteErrorKind::Syntax,
                    "conv module without scale=",
                )
            }
        };
        let zp = match c.kw("zero_point") {
            Some(e) => self.p.int(e, "zero_point")?,
            None => {
                return err(
                    c.first,
                    PasteErrorKind::Syntax,
                    "conv module without zero_point=",
                )
            }
        };
        let lines = c.lines();
        self.set_act(
            false,
            ActQParams {
                scale,
                zero_point: zp,
                lines,
                source: "conv module".into(),
            },
        )?;
        self.out.conv = Some(ConvFound {
            relu,
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
            lines,
        });
        self.found(
            lines,
            format!(
                "{} {in_channels} -> {out_channels}, kernel {}x{}{}",
                c.name,
                kernel[0],
                kernel[1],
                if relu { ", fused ReLU" } else { "" }
            ),
            "module repr".into(),
        );
        Ok(())
    }

    /// Input (`input = true`) or output scale and zero point. An exact value
    /// wins over a rounded one if they agree; disagreeing values are an error.
    pub(super) fn set_act(&mut self, input: bool, q: ActQParams) -> Result<(), PasteError> {
        let what = if input { "input" } else { "output" };
        if !(q.scale.value > 0.0) || !q.scale.value.is_finite() || !((q.scale.value as f32) > 0.0) {
            return err(
                q.lines.first,
                PasteErrorKind::Value,
                format!(
                    "{what} scale {} is not a positive finite number",
                    q.scale.text
                ),
            );
        }
        if !(0..=255).contains(&q.zero_point) {
            return err(
                q.lines.first,
                PasteErrorKind::Value,
                format!(
                    "{what} zero point {} is not in 0..255 (quint8)",
                    q.zero_point
                ),
            );
        }
        let slot = if input {
            &mut self.out.input_qparams
        } else {
            &mut self.out.output_qparams
        };
        if let Some(prev) = slot {
            let (lo, hi) = prev.scale.interval();
            let (lo2, hi2) = q.scale.interval();
            let overlap = lo.max(lo2) <= hi.min(hi2) * (1.0 + 1e-12);
            if !overlap || prev.zero_point != q.zero_point {
                return err(
                    q.lines.first,
                    PasteErrorKind::Ambiguous,
                    format!(
                        "{what} scale {} / zero point {} disagrees with {} / {} on {} ({})",
                        q.scale.text,
                        q.zero_point,
                        prev.scale.text,
                        prev.zero_point,
                        prev.lines,
                        prev.source
                    ),
                );
            }
            if prev.scale.exact || !q.scale.exact {
                return Ok(());
            }
        }
        *slot = Some(q);
        Ok(())
    }

    pub(super) fn tensor_item(
        &mut self,
        c: &Call,
        hint: Option<Hint>,
        param: bool,
    ) -> Result<(), PasteError> {
        // `>>> net.quant.scale` prints a tensor rounded to 4 decimals; the
        // exact value needs .item() / .tolist() (a bare number or list).
        if let Some(h) = hint.as_ref().filter(|h| h.accessor.is_some()) {
            return err(c.first, PasteErrorKind::Unsupported, format!("{:?} printed a tensor, rounded to 4 decimals: add .item() or .tolist() to print its exact value(s), or paste the whole tensor's printout", h.text));
        }
        let subject = hint.as_ref().and_then(|h| h.subject.clone());
        self.last_role = None;
        // A comment or prompt that names no role is still worth showing.
        let unnamed = hint
            .as_ref()
            .filter(|h| h.role.is_none())
            .map(Hint::describe);
        let n = self.out.found.len();
        self.tensor_printout(c, hint, param)?;
        if let (Some(u), Some(f)) = (unnamed, self.out.found.get_mut(n)) {
            if !f.why.contains(&u) {
                f.why = format!("{}; after {u}", f.why);
            }
        }
        // `qx.int_repr()` then `print(qx)`: the second is the same tensor.
        if let (Some(s), Some(r)) = (subject, self.last_role) {
            if !self.vars.iter().any(|(v, _, _)| *v == s) {
                let why = format!("{s} is the {} printed on {}", r.word(), c.lines());
                self.vars.push((s, r, why));
            }
        }
        Ok(())
    }

    /// `None`: the conv has no bias (what `net.conv1.bias()` prints then).
    pub(super) fn none(&mut self, hint: Option<Hint>, line: usize) -> Result<(), PasteError> {
        let (role, why) = self.hinted_role(&hint);
        if let Some(r) = role.filter(|r| *r != Role::Bias) {
            return err(line, PasteErrorKind::Ambiguous, format!("None printed for the {}: only a conv's bias can be None (print the tensor itself)", r.word()));
        }
        if let Some(b) = &self.out.bias {
            return err(
                line,
                PasteErrorKind::Ambiguous,
                format!("None (no bias), but a bias is printed on {}", b.lines),
            );
        }
        if self.out.no_bias.is_none() {
            self.out.no_bias = Some(line);
        }
        let why =
            why.unwrap_or_else(|| "None: the only None a conv prints is its missing bias".into());
        self.found(
            Lines {
                first: line,
                last: line,
            },
            "no bias (None)".into(),
            why,
        );
        Ok(())
    }

    /// The role a comment or prompt gives, and why.
    fn hinted_role(&self, hint: &Option<Hint>) -> (Option<Role>, Option<String>) {
        let Some(h) = hint else { return (None, None) };
        if h.role.is_some() {
            return (h.role, Some(h.describe()));
        }
        match h
            .subject
            .as_ref()
            .and_then(|s| self.vars.iter().find(|(v, _, _)| v == s))
        {
            Some((_, r, why)) => (Some(*r), Some(format!("{} ({why})", h.describe()))),
            None => (None, None),
        }
    }

    fn tensor_printout(
        &mut self,
        c: &Call,
        hint: Option<Hint>,
        param: bool,
    ) -> Result<(), PasteError> {
        let lines = c.lines();
        let t = self.p.tensor(c, param)?;
        let (role, hint_why) = self.hinted_role(&hint);
        let by_hint = |_: &Option<Hint>| hint_why.clone();
        match t {
            Tensor::Int {
                dtype,
                shape,
                values,
            } => {
                let d = dtype.clone().unwrap_or_else(|| "int64".into());
                let mut structural_why = None;
                let role = match (role, d.as_str()) {
                    (Some(Role::Bias), _) => {
                        return err(lines.first, PasteErrorKind::Ambiguous, "the comment says bias, but this is an integer tensor (the conv's bias is float: print net.conv1.bias())")
                    }
                    (Some(r), "uint8" | "int8" | "int64" | "long" | "int") => r,
                    (Some(_), _) | (None, "int16" | "int32") => {
                        return err(lines.first, PasteErrorKind::Unsupported, format!("a torch.{d} tensor: a quantized conv's codes are uint8 (activations) or int8 (weights)"))
                    }
                    (None, "uint8") => {
                        let (r, why, by_order) = self.slot_for_codes(&shape, &values, lines)?;
                        structural_why = Some(why);
                        self.by_order[act_index(r).unwrap_or(0)] = by_order;
                        r
                    }
                    (None, "int8") => Role::Weight,
                    (None, _) => {
                        return err(lines.first, PasteErrorKind::Ambiguous, "an integer tensor without a dtype (int64): say what it is with a comment on the line before, such as '# input' or '# weight int repr'")
                    }
                };
                let why = by_hint(&hint)
                    .or(structural_why)
                    .unwrap_or_else(|| "an int8 tensor".into());
                let (lo, hi, kind) = match role {
                    Role::Weight => (-128, 127, "int8"),
                    _ => (0, 255, "uint8"),
                };
                if let Some(k) = values.iter().position(|&v| v < lo || v > hi) {
                    return err(
                        lines.first,
                        PasteErrorKind::Value,
                        format!(
                            "{} is not a {kind} code ({} codes are {lo}..{hi}; element {k})",
                            values[k],
                            role.word()
                        ),
                    );
                }
                let codes = Codes {
                    shape: shape.clone(),
                    values,
                    lines,
                    recovered: false,
                };
                self.found(
                    lines,
                    format!("{} codes {} ({d})", role.word(), dims(&shape)),
                    why,
                );
                if let Some(k) = act_index(role) {
                    self.check_pair(k, Some(&codes), None)?;
                    self.acts[k].codes = Some((codes.shape.clone(), codes.values.clone(), lines));
                }
                self.last_role = Some(role);
                self.put_codes(role, codes)
            }
            Tensor::Quantized {
                dtype,
                shape,
                values,
                per_channel,
                scales,
                zero_points,
                axis,
            } => {
                let why = by_hint(&hint).unwrap_or_else(|| format!("a {dtype} printout"));
                if let Some(s) = scales
                    .iter()
                    .find(|s| !(s.value > 0.0) || !s.value.is_finite() || !((s.value as f32) > 0.0))
                {
                    return err(
                        lines.last,
                        PasteErrorKind::Value,
                        format!(
                            "scale {} is not a positive finite number (in float32)",
                            s.text
                        ),
                    );
                }
                match dtype.as_str() {
                    "qint8" => {
                        if matches!(role, Some(Role::Input | Role::Output | Role::Bias)) {
                            return err(lines.first, PasteErrorKind::Ambiguous, format!("the comment says {}, but a qint8 printout is a weight (activations are quint8)", role.map_or("", Role::word)));
                        }
                        if per_channel && axis.unwrap_or(0) != 0 {
                            return err(lines.last, PasteErrorKind::Unsupported, "per-channel weights along axis 0 (output channels) only");
                        }
                        let n = if per_channel { shape.first().copied().unwrap_or(0) } else { 1 };
                        if scales.len() != n || zero_points.len() != n {
                            return err(lines.last, PasteErrorKind::Shape, format!("{} scales and {} zero points for {n} channels", scales.len(), zero_points.len()));
                        }
                        if let Some(z) = zero_points.iter().find(|z| !(-128..=127).contains(*z)) {
                            return err(lines.last, PasteErrorKind::Value, format!("weight zero point {z} is not in -128..127"));
                        }
                        self.found(
                            lines,
                            format!("weight {} (qint8, {}, dequantized values, scale{})", dims(&shape), if per_channel { "per-channel" } else { "per-tensor" }, if per_channel { "s" } else { "" }),
                            why,
                        );
                        let q = WeightQParams { per_channel, scales, zero_points, lines };
                        let w = self.weight_slot(&shape, lines)?;
                        if w.qparams.is_some() {
                            return err(lines.first, PasteErrorKind::Ambiguous, "a second qint8 weight printout");
                        }
                        w.qparams = Some(q);
                        w.dequantized = Some(values);
                        w.dequantized_lines = Some(lines);
                        self.last_role = Some(Role::Weight);
                        Ok(())
                    }
                    "quint8" => {
                        let mut structural_why = None;
                        let role = match role {
                            Some(r @ (Role::Input | Role::Output)) => r,
                            Some(r) => return err(lines.first, PasteErrorKind::Ambiguous, format!("the comment says {}, but a quint8 printout is an activation", r.word())),
                            None => {
                                let (r, w, by_order) = self.slot_for_printout(&shape, &values, &scales[0], zero_points[0], lines)?;
                                structural_why = Some(w);
                                self.by_order[act_index(r).unwrap_or(0)] = by_order;
                                r
                            }
                        };
                        let scale = scales[0].clone();
                        let zp = zero_points[0];
                        let printed = Printed { shape: shape.clone(), values: values.clone(), scale: scale.clone(), zero_point: zp, lines };
                        let k = act_index(role).unwrap_or(0);
                        self.check_pair(k, None, Some(&printed))?;
                        self.acts[k].printed = Some(printed);
                        self.last_role = Some(role);
                        if !(0..=255).contains(&zp) {
                            return err(lines.last, PasteErrorKind::Value, format!("zero point {zp} is not in 0..255"));
                        }
                        self.set_act(role == Role::Input, ActQParams { scale: scale.clone(), zero_point: zp, lines, source: "quint8 printout".into() })?;
                        // Codes, when only one integer fits each printed value.
                        let mut codes = Vec::with_capacity(values.len());
                        for v in &values {
                            match unique_code(v, &scale, zp, 0, 255) {
                                Some(q) => codes.push(q),
                                None => break,
                            }
                        }
                        let readable = codes.len() == values.len();
                        self.found(
                            lines,
                            format!("{} {} (quint8 printout: scale, zero point{})", role.word(), dims(&shape), if readable { ", codes read off the values" } else { "; codes not readable at 4 decimals" }),
                            by_hint(&hint).or(structural_why).unwrap_or_else(|| "a quint8 printout".into()),
                        );
                        if readable {
                            self.put_codes(role, Codes { shape, values: codes, lines, recovered: true })?;
                        }
                        Ok(())
                    }
                    other => err(lines.first, PasteErrorKind::Unsupported, format!("a {other} quantized tensor: the conv uses quint8 activations and qint8 weights")),
                }
            }
            Tensor::Float {
                shape,
                values,
                grad,
            } => {
                let role = match role {
                    Some(r) => r,
                    None if shape.len() == 1 => Role::Bias,
                    None if shape.len() == 4 && grad => Role::Weight,
                    None => {
                        return err(lines.first, PasteErrorKind::Ambiguous, format!("cannot tell what this float tensor ({}) is: a 1-d tensor is the bias; put a comment such as '# bias' on the line before", dims(&shape)))
                    }
                };
                let why = by_hint(&hint).unwrap_or_else(|| {
                    if role == Role::Bias {
                        "a 1-d float tensor".into()
                    } else {
                        "a 4-d float tensor with requires_grad".into()
                    }
                });
                match role {
                    Role::Bias => {
                        if shape.len() != 1 {
                            return err(lines.first, PasteErrorKind::Shape, format!("the bias is 1-d (one value per output channel), this tensor is {}", dims(&shape)));
                        }
                        if let Some(v) = values.iter().find(|v| !v.value.is_finite()) {
                            return err(lines.first, PasteErrorKind::Value, format!("bias value {} is not finite", v.text));
                        }
                        if let Some(prev) = &self.out.bias {
                            return err(lines.first, PasteErrorKind::Ambiguous, format!("a second bias (the first is on {})", prev.lines));
                        }
                        self.found(lines, format!("bias, {} value{}", values.len(), if values.len() == 1 { "" } else { "s" }), why);
                        if let Some(l) = self.out.no_bias {
                            return err(lines.first, PasteErrorKind::Ambiguous, format!("a bias, but the bias printed on line {l} is None"));
                        }
                        self.out.bias = Some(BiasFound { values, lines });
                        self.last_role = Some(Role::Bias);
                        Ok(())
                    }
                    Role::Weight => {
                        self.found(lines, format!("float weight {} (not used: the quantized conv uses the qint8 weight)", dims(&shape)), why);
                        self.float_weight = Some(lines);
                        Ok(())
                    }
                    r => err(
                        lines.first,
                        PasteErrorKind::Unsupported,
                        format!("a float {} tensor: its printout is rounded to 4 decimals, so the codes cannot be recovered; print its .int_repr() (the quantized tensor's codes) instead", r.word()),
                    ),
                }
            }
        }
    }

    pub(super) fn weight_slot(
        &mut self,
        shape: &[usize],
        lines: Lines,
    ) -> Result<&mut WeightFound, PasteError> {
        if shape.len() != 4 {
            return err(
                lines.first,
                PasteErrorKind::Shape,
                format!(
                    "a conv weight is 4-d (out, in/groups, kh, kw), this one is {}",
                    dims(shape)
                ),
            );
        }
        let w = self.out.weight.get_or_insert_with(|| WeightFound {
            shape: shape.to_vec(),
            codes: None,
            qparams: None,
            dequantized: None,
            dequantized_lines: None,
            ambiguity: None,
        });
        if w.shape != shape {
            return err(
                lines.first,
                PasteErrorKind::Shape,
                format!(
                    "this weight is {} but the weight printed earlier is {}",
                    dims(shape),
                    dims(&w.shape)
                ),
            );
        }
        Ok(w)
    }

    pub(super) fn put_codes(&mut self, role: Role, codes: Codes) -> Result<(), PasteError> {
        let lines = codes.lines;
        let slot = match role {
            Role::Input => &mut self.out.input_codes,
            Role::Output => &mut self.out.expected_output,
            Role::Weight => {
                let shape = codes.shape.clone();
                let w = self.weight_slot(&shape, lines)?;
                if let Some(prev) = &w.codes {
                    return err(
                        lines.first,
                        PasteErrorKind::Ambiguous,
                        format!("a second weight int repr (the first is on {})", prev.lines),
                    );
                }
                w.codes = Some(codes);
                return Ok(());
            }
            Role::Bias => unreachable!("bias is never integer codes"),
        };
        if let Some(prev) = slot {
            if !(prev.recovered || codes.recovered) || prev.values != codes.values {
                return err(
                    lines.first,
                    PasteErrorKind::Ambiguous,
                    format!("{} codes were already given on {}", role.word(), prev.lines),
                );
            }
            if !prev.recovered {
                return Ok(());
            }
        }
        *slot = Some(codes);
        Ok(())
    }
}

pub(super) fn read_all(r: &mut Reader<'_>) -> Result<(), PasteError> {
    let mut hint: Option<Hint> = None;
    let mut param = false;
    while let Some(t) = r.p.peek(0) {
        match t.t {
            T::Hint => {
                let text = r.p.text(t);
                let line = t.line as usize;
                hint = if text.starts_with('#') {
                    Some(prompts::comment(text, line))
                } else {
                    match prompts::prompt(text, line) {
                        Prompt::Prints(h) => Some(h),
                        Prompt::Assigns(learned) => {
                            for (v, role) in learned {
                                let why = format!("prompt {:?} on line {line}", text.trim());
                                r.vars.retain(|(w, _, _)| *w != v);
                                r.vars.push((v, role, why));
                            }
                            None
                        }
                    }
                };
                r.p.i += 1;
            }
            // A bare number or list: an exact value a prompt asked for by name.
            T::Num | T::LBrack => {
                let first = t.line as usize;
                let values: Vec<Number> = match r.p.value()? {
                    Expr::Num(n) => vec![r.p.number(n, true)],
                    Expr::Array(a) if a.shape.len() == 1 => {
                        a.nums.iter().map(|&n| r.p.number(n, true)).collect()
                    }
                    e => {
                        return err(e.line(), PasteErrorKind::Unsupported, "a nested list: paste the tensor's printout instead of .tolist()")
                    }
                };
                let last = r.p.toks[r.p.i - 1].line as usize;
                r.exact_values(hint.take(), values, Lines { first, last })?;
            }
            // `None`: what `net.conv1.bias()` prints for a conv without bias.
            T::Ident
                if r.p.text(t) == "None"
                    && !matches!(r.p.peek(1), Some(Tok { t: T::LParen, .. })) =>
            {
                r.p.i += 1;
                r.none(hint.take(), t.line as usize)?;
            }
            T::Ident
                if r.p.text(t) == "Parameter"
                    && matches!(r.p.peek(1), Some(n) if r.p.text(n) == "containing")
                    && matches!(r.p.peek(2), Some(Tok { t: T::Colon, .. })) =>
            {
                param = true;
                r.p.i += 3;
            }
            T::Ident if matches!(r.p.peek(1), Some(Tok { t: T::LParen, .. })) => {
                let c = r.p.call()?;
                r.item(c, hint.take(), std::mem::take(&mut param))?;
            }
            _ => {
                return err(
                    t.line as usize,
                    PasteErrorKind::Syntax,
                    format!(
                        "expected a PyTorch printout (tensor(...), a module repr such as QuantizedConv2d(...), or 'Parameter containing:'), found {}",
                        r.p.show(t)
                    ),
                )
            }
        }
    }
    r.merge_exact()
}

/// Codes from dequantized weights, fields, suggestions.
pub(super) fn finish(p: &mut Paste) {
    if let Some(w) = &mut p.weight {
        if let (Some(q), Some(deq)) = (&w.qparams, &w.dequantized) {
            let per = w.shape[1..].iter().product::<usize>().max(1);
            let ch = |i: usize| if q.per_channel { i / per } else { 0 };
            match &w.codes {
                None => {
                    // Values sharing a scale are read together (a whole
                    // per-tensor weight, or one output channel).
                    let group = if q.per_channel { per } else { deq.len().max(1) };
                    let mut values = Vec::with_capacity(deq.len());
                    for (c, chunk) in deq.chunks(group).enumerate() {
                        match channel_codes(chunk, &q.scales[c], q.zero_points[c], -128, 127) {
                            ChannelCodes::Exact(v) => values.extend(v),
                            ChannelCodes::Ambiguous { element, choices } => {
                                let i = c * group + element;
                                let s = &q.scales[c];
                                let could = match choices.as_slice() {
                                    [] => "no single code".to_string(),
                                    [a, b] => format!("code {a} or {b}"),
                                    v => format!(
                                        "code {}",
                                        v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
                                    ),
                                };
                                w.ambiguity = Some(format!(
                                    "the weight codes cannot be read off the dequantized printout: element {i}{} printed as {} with scale {} (±{}) could be {could}, and no other value of the channel tells them apart; paste net.conv1.weight().int_repr() too",
                                    if q.per_channel { format!(" (channel {c})") } else { String::new() },
                                    deq[i].text, s.text, fmt_hw(s.half_width)
                                ));
                                break;
                            }
                        }
                    }
                    if w.ambiguity.is_none() {
                        w.codes = Some(Codes {
                            shape: w.shape.clone(),
                            values,
                            lines: q.lines,
                            recovered: true,
                        });
                    }
                }
                Some(codes) => {
                    // Does the int repr fit the dequantized printout?
                    for (i, (&c, v)) in codes.values.iter().zip(deq).enumerate() {
                        let (s, z) = (&q.scales[ch(i)], q.zero_points[ch(i)]);
                        let (sl, sh) = s.interval();
                        let (vl, vh) = v.interval();
                        let k = (c - z) as f64;
                        let (a, b) = if k >= 0.0 {
                            (k * sl, k * sh)
                        } else {
                            (k * sh, k * sl)
                        };
                        if b < vl - 1e-12 || a > vh + 1e-12 {
                            p.warnings.push(format!(
                                "weight element {i}: the int repr says {c}, which dequantizes to {a:.6}..{b:.6} with scale {}, but the printout shows {} (is the weight printout from a different PyTorch version or layer?)",
                                s.text, v.text
                            ));
                            break;
                        }
                    }
                }
            }
        }
    }
    // Fields.
    let mut fields = vec![];
    let int_num = |v: i64| Number {
        value: v as f64,
        text: v.to_string(),
        exact: true,
        half_width: 0.0,
    };
    for (name, q) in [("input", &p.input_qparams), ("output", &p.output_qparams)] {
        if let Some(q) = q {
            fields.push(Field {
                name: format!("{name}_scale"),
                value: q.scale.clone(),
                lines: q.lines,
            });
            fields.push(Field {
                name: format!("{name}_zero_point"),
                value: int_num(q.zero_point),
                lines: q.lines,
            });
        }
    }
    if let Some(q) = p.weight.as_ref().and_then(|w| w.qparams.as_ref()) {
        for (c, (s, z)) in q.scales.iter().zip(&q.zero_points).enumerate() {
            fields.push(Field {
                name: format!("weight_scale[{c}]"),
                value: s.clone(),
                lines: q.lines,
            });
            fields.push(Field {
                name: format!("weight_zero_point[{c}]"),
                value: int_num(*z),
                lines: q.lines,
            });
        }
    }
    if let Some(b) = &p.bias {
        for (c, v) in b.values.iter().enumerate() {
            fields.push(Field {
                name: format!("bias[{c}]"),
                value: v.clone(),
                lines: b.lines,
            });
        }
    }
    p.fields = fields;
    p.suggestions = weight_scale_suggestions(p);
}

/// Index of an activation role in `Reader::acts`.
pub(super) fn act_index(r: Role) -> Option<usize> {
    match r {
        Role::Input => Some(0),
        Role::Output => Some(1),
        _ => None,
    }
}
