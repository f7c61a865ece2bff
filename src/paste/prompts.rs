//! What a `# comment` or a `>>>` / `In [n]:` prompt says about the printout
//! after it: the role its words name (input, output, weight, bias), the tensor
//! expression it prints (`print(qx)`, `qx.int_repr()` and `qx` are the same
//! tensor `qx`), and what an assignment teaches (`qy = net.conv1(qx)`: qy is
//! the conv's output, qx its input).
use super::reading::Role;

/// An exact value asked for by name, printed as a Python float or list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Accessor {
    /// `qx.q_scale()`, `net.quant.scale.item()`, `net.conv1.scale`.
    Scale,
    /// `qx.q_zero_point()`, `net.conv1.zero_point`.
    ZeroPoint,
    /// `w.q_per_channel_scales().tolist()`.
    ChannelScales,
    /// `w.q_per_channel_zero_points().tolist()`.
    ChannelZeroPoints,
    /// `net.conv1.bias().tolist()`: the tensor's values.
    Values,
}

pub(super) struct Hint {
    pub(super) role: Option<Role>,
    /// What an exact-value expression asks for (`.q_scale()`, `.tolist()`...).
    pub(super) accessor: Option<Accessor>,
    /// The printed tensor's expression, without `print(...)` and `.int_repr()`.
    pub(super) subject: Option<String>,
    /// The line is a prompt (else a comment).
    pub(super) prompt: bool,
    pub(super) text: String,
    pub(super) line: usize,
}

impl Hint {
    /// How the hint is shown in "why" texts.
    pub(super) fn describe(&self) -> String {
        let kind = if self.prompt { "prompt" } else { "comment" };
        format!("{kind} {:?} on line {}", self.text, self.line)
    }
}

/// A prompt line, read.
pub(super) enum Prompt {
    /// It prints something: the hint for the printout after it.
    Prints(Hint),
    /// `name = expression`: prints nothing; `name` (and, for a module call,
    /// its argument) get the roles the expression implies.
    Assigns(Vec<(String, Role)>),
}

/// The first of the words input, output, weight, bias in `text`.
pub(super) fn role_in_words(text: &str) -> Option<Role> {
    let low = text.to_ascii_lowercase();
    [Role::Input, Role::Output, Role::Weight, Role::Bias]
        .into_iter()
        .filter_map(|r| low.find(r.word()).map(|p| (p, r)))
        .min_by_key(|(p, _)| *p)
        .map(|(_, r)| r)
}

pub(super) fn comment(text: &str, line: usize) -> Hint {
    let text = text.trim_start_matches(['#', ' ']).trim();
    Hint {
        role: role_in_words(text),
        accessor: None,
        subject: None,
        prompt: false,
        text: text.to_string(),
        line,
    }
}

/// `>>> expr`, `... expr` or `In [3]: expr`.
pub(super) fn prompt(raw: &str, line: usize) -> Prompt {
    let mut s = raw.trim();
    if let Some(rest) = s.strip_prefix(">>>") {
        s = rest;
    } else if s.starts_with("In [") {
        s = s.split_once("]:").map_or("", |(_, r)| r);
    }
    let s = s.trim().trim_end_matches(';').trim();
    if let Some((lhs, rhs)) = assignment(s) {
        let mut learned = vec![];
        let (role, arg) = expression_role(rhs);
        if let Some(r) = role {
            learned.push((lhs.to_string(), r));
        }
        if let Some(a) = arg {
            learned.push((a, Role::Input));
        }
        return Prompt::Assigns(learned);
    }
    let inner = strip_call(s, "print").unwrap_or(s).trim();
    if let Some((subject, accessor)) = accessor_of(inner) {
        // A module's own scale: the Quantize module's is the input's, a conv's
        // the output's; a tensor's is that tensor's.
        let module = matches!(accessor, Accessor::Scale | Accessor::ZeroPoint)
            && !inner.contains("q_scale")
            && !inner.contains("q_zero_point");
        let low = subject.to_ascii_lowercase();
        let role = if module {
            Some(if low.contains("conv") || !low.contains("quant") {
                Role::Output
            } else {
                Role::Input
            })
        } else {
            expression_role(subject).0
        };
        return Prompt::Prints(Hint {
            role,
            accessor: Some(accessor),
            subject: Some(subject.to_string()),
            prompt: true,
            text: s.to_string(),
            line,
        });
    }
    let subject = inner
        .strip_suffix(".int_repr()")
        .or_else(|| inner.strip_suffix(".dequantize()"))
        .unwrap_or(inner)
        .trim();
    let (role, _) = expression_role(subject);
    Prompt::Prints(Hint {
        role,
        accessor: None,
        subject: (!subject.is_empty()).then(|| subject.to_string()),
        prompt: true,
        text: s.to_string(),
        line,
    })
}

/// `x.q_scale()` -> (x, Scale), `m.bias().tolist()` -> (m.bias(), Values), ...
fn accessor_of(e: &str) -> Option<(&str, Accessor)> {
    let (e, listed) = match e
        .strip_suffix(".tolist()")
        .or_else(|| e.strip_suffix(".item()"))
    {
        Some(rest) => (rest, true),
        None => (e, false),
    };
    for (suffix, a) in [
        (".q_scale()", Accessor::Scale),
        (".q_zero_point()", Accessor::ZeroPoint),
        (".q_per_channel_scales()", Accessor::ChannelScales),
        (".q_per_channel_zero_points()", Accessor::ChannelZeroPoints),
        (".scale", Accessor::Scale),
        (".zero_point", Accessor::ZeroPoint),
    ] {
        if let Some(subject) = e.strip_suffix(suffix) {
            return Some((subject, a));
        }
    }
    listed.then_some((e, Accessor::Values))
}

/// `name = rhs` at the top level (not `==`, not a keyword argument).
fn assignment(s: &str) -> Option<(&str, &str)> {
    let k = s.find('=')?;
    let (lhs, rhs) = (s[..k].trim(), &s[k + 1..]);
    if rhs.starts_with('=') || lhs.is_empty() || s[..k].ends_with(['!', '<', '>']) {
        return None;
    }
    let ident = lhs.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ident.then_some((lhs, rhs.trim()))
}

/// `name(inner)` -> inner.
fn strip_call<'s>(s: &'s str, name: &str) -> Option<&'s str> {
    s.strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

/// The role an expression's value plays, and (for a module applied to a
/// variable, `net.conv1(qx)`) the variable that is the input.
fn expression_role(e: &str) -> (Option<Role>, Option<String>) {
    let e = e.trim();
    // A module applied to one variable: its result is the output. Tensor
    // methods (`qx.int_repr()`, `w.dequantize()`) are not modules.
    if let Some(open) = e.find('(') {
        let callee = &e[..open];
        let arg = e[open + 1..].strip_suffix(')').unwrap_or("").trim();
        let last = callee.rsplit('.').next().unwrap_or(callee);
        let simple = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let is_quantize = last.starts_with("quantize_per_tensor") || last == "quant";
        if is_quantize {
            return (Some(Role::Input), None);
        }
        let tensor_method = matches!(
            last,
            "int_repr" | "dequantize" | "weight" | "bias" | "print" | "tensor" | "clone" | "detach"
        );
        if simple && !tensor_method && role_in_words(callee).is_none() {
            return (Some(Role::Output), Some(arg.to_string()));
        }
    }
    (role_in_words(e), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prints(s: &str) -> Hint {
        match prompt(s, 1) {
            Prompt::Prints(h) => h,
            Prompt::Assigns(_) => panic!("{s} read as an assignment"),
        }
    }

    #[test]
    fn prompts_name_the_tensor_and_its_role() {
        let h = prints(">>> print(qx)");
        assert_eq!((h.role, h.subject.as_deref()), (None, Some("qx")));
        let h = prints(">>> qx.int_repr()");
        assert_eq!((h.role, h.subject.as_deref()), (None, Some("qx")));
        let h = prints("In [7]: net.conv1.weight().int_repr()");
        assert_eq!(h.role, Some(Role::Weight));
        assert_eq!(prints(">>> model.conv1.bias()").role, Some(Role::Bias));
        let h = prints(">>> activations[1]['input'][0].int_repr()");
        assert_eq!(h.role, Some(Role::Input));
        assert_eq!(
            prints(">>> activations[1]['output']").role,
            Some(Role::Output)
        );
        assert_eq!(prints(">>> net.conv1(qx)").role, Some(Role::Output));
        assert_eq!(prints(">>> x == y").role, None);
    }

    #[test]
    fn exact_value_accessors() {
        let h = prints(">>> qx.q_scale()");
        assert_eq!(
            (h.accessor, h.subject.as_deref()),
            (Some(Accessor::Scale), Some("qx"))
        );
        let h = prints(">>> net.quant.scale.item()");
        assert_eq!(
            (h.accessor, h.role),
            (Some(Accessor::Scale), Some(Role::Input))
        );
        let h = prints(">>> net.conv1.scale");
        assert_eq!(
            (h.accessor, h.role),
            (Some(Accessor::Scale), Some(Role::Output))
        );
        let h = prints(">>> net.conv1.weight().q_per_channel_scales().tolist()");
        assert_eq!(
            (h.accessor, h.role),
            (Some(Accessor::ChannelScales), Some(Role::Weight))
        );
        let h = prints(">>> print(net.conv1.bias().tolist())");
        assert_eq!(
            (h.accessor, h.role),
            (Some(Accessor::Values), Some(Role::Bias))
        );
        assert_eq!(
            prints(">>> activations[1]['input'][0].q_scale()").role,
            Some(Role::Input)
        );
    }

    #[test]
    fn assignments_teach_roles() {
        let Prompt::Assigns(v) = prompt(">>> qy = net.conv1(qx)", 1) else {
            panic!()
        };
        assert_eq!(
            v,
            vec![("qy".into(), Role::Output), ("qx".into(), Role::Input)]
        );
        let Prompt::Assigns(v) = prompt(
            ">>> qx = torch.quantize_per_tensor(x, 0.1, 0, torch.quint8)",
            1,
        ) else {
            panic!()
        };
        assert_eq!(v, vec![("qx".into(), Role::Input)]);
        let Prompt::Assigns(v) = prompt(">>> w = net.conv1.weight()", 1) else {
            panic!()
        };
        assert_eq!(v, vec![("w".into(), Role::Weight)]);
    }

    #[test]
    fn comments_take_the_first_role_word() {
        assert_eq!(comment("# input", 1).role, Some(Role::Input));
        assert_eq!(comment("# int repr", 1).role, None);
        assert_eq!(
            comment("# output of the input conv", 1).role,
            Some(Role::Output)
        );
    }
}
