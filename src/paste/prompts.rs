//! What a `# comment` or a `>>>` / `In [n]:` prompt says about the printout
//! after it: the role its words name (input, output, weight, bias), the tensor
//! expression it prints (`print(qx)`, `qx.int_repr()` and `qx` are the same
//! tensor `qx`), and what an assignment teaches (`qy = net.conv1(qx)`: qy is
//! the conv's output, qx its input).
use super::reading::Role;

pub(super) struct Hint {
    pub(super) role: Option<Role>,
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
    let subject = inner
        .strip_suffix(".int_repr()")
        .or_else(|| inner.strip_suffix(".dequantize()"))
        .unwrap_or(inner)
        .trim();
    let (role, _) = expression_role(subject);
    Prompt::Prints(Hint {
        role,
        subject: (!subject.is_empty()).then(|| subject.to_string()),
        prompt: true,
        text: s.to_string(),
        line,
    })
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
