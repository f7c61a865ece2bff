//! Lexing: the paste as tokens. `#` comments and `>>>` / `In [n]:` prompt
//! lines are single hint tokens (they name the printout after them); code
//! fences and Jupyter's `Out[n]:` are skipped.
use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum T {
    Ident,
    Num,
    Str,
    LParen,
    RParen,
    LBrack,
    RBrack,
    Comma,
    Eq,
    Colon,
    Ellipsis,
    /// `# ...` or a `>>>` command line: a hint for the next printout.
    Hint,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Tok {
    pub(super) t: T,
    pub(super) s: u32,
    pub(super) e: u32,
    pub(super) line: u32,
}

pub(super) fn describe_char(c: char) -> String {
    if c.is_control() {
        format!("control character U+{:04X}", c as u32)
    } else {
        format!("character {c:?}")
    }
}

/// Tokens, and the first character-level error (tokens stop there): it is
/// reported only if the parser gets that far, so errors come in text order.
pub(super) fn lex(text: &str) -> (Vec<Tok>, Option<PasteError>) {
    let mut toks = Vec::new();
    let e = lex_into(text, &mut toks).err();
    (toks, e)
}

pub(super) fn lex_into(text: &str, toks: &mut Vec<Tok>) -> Result<(), PasteError> {
    let b = text.as_bytes();
    let (mut i, mut line, mut line_start) = (0usize, 1u32, true);
    let to_eol = |mut j: usize| {
        while j < b.len() && b[j] != b'\n' {
            j += 1;
        }
        j
    };
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
            line_start = true;
            continue;
        }
        if c == b' ' || c == b'\t' || c == b'\r' || c == 0x0c {
            i += 1;
            continue;
        }
        let first = std::mem::replace(&mut line_start, false);
        let push = |toks: &mut Vec<Tok>, t, s: usize, e: usize| {
            toks.push(Tok {
                t,
                s: s as u32,
                e: e as u32,
                line,
            })
        };
        if first && b[i..].starts_with(b"```") {
            i = to_eol(i);
            continue;
        }
        if first && (b[i..].starts_with(b">>>") || b[i..].starts_with(b"In [")) {
            let e = to_eol(i);
            push(toks, T::Hint, i, e);
            i = e;
            continue;
        }
        if first && b[i..].starts_with(b"Out[") {
            // Jupyter's `Out[3]:` prefix.
            if let Some(k) = b[i..to_eol(i)].iter().position(|&c| c == b':') {
                i += k + 1;
                continue;
            }
        }
        match c {
            b'#' => {
                let e = to_eol(i);
                push(toks, T::Hint, i, e);
                i = e;
            }
            b'(' | b')' | b'[' | b']' | b',' | b'=' | b':' => {
                let t = match c {
                    b'(' => T::LParen,
                    b')' => T::RParen,
                    b'[' => T::LBrack,
                    b']' => T::RBrack,
                    b',' => T::Comma,
                    b'=' => T::Eq,
                    _ => T::Colon,
                };
                push(toks, t, i, i + 1);
                i += 1;
            }
            b'.' if b[i..].starts_with(b"...") => {
                push(toks, T::Ellipsis, i, i + 3);
                i += 3;
            }
            b'\'' | b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != c && b[j] != b'\n' {
                    j += 1;
                }
                if j >= b.len() || b[j] != c {
                    return err(line as usize, PasteErrorKind::Syntax, "unterminated string");
                }
                push(toks, T::Str, i + 1, j);
                i = j + 1;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.')
                {
                    j += 1;
                }
                let word = &text[i..j];
                let t = if matches!(word, "nan" | "inf") {
                    T::Num
                } else {
                    T::Ident
                };
                push(toks, t, i, j);
                i = j;
            }
            _ if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.') => {
                let mut j = i;
                if matches!(b[j], b'-' | b'+') {
                    j += 1;
                }
                if b[j..].starts_with(b"inf") || b[j..].starts_with(b"nan") {
                    j += 3;
                } else {
                    let d0 = j;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j < b.len() && b[j] == b'.' {
                        j += 1;
                        while j < b.len() && b[j].is_ascii_digit() {
                            j += 1;
                        }
                    }
                    if j == d0 || &text[d0..j] == "." {
                        let ch = text[i..].chars().next().unwrap_or(' ');
                        return err(
                            line as usize,
                            PasteErrorKind::Syntax,
                            format!("unexpected {}", describe_char(ch)),
                        );
                    }
                    if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
                        let mut k = j + 1;
                        if k < b.len() && matches!(b[k], b'-' | b'+') {
                            k += 1;
                        }
                        let k0 = k;
                        while k < b.len() && b[k].is_ascii_digit() {
                            k += 1;
                        }
                        if k > k0 {
                            j = k;
                        }
                    }
                }
                if j < b.len() && (b[j].is_ascii_alphabetic() || b[j] == b'_') {
                    let mut k = j;
                    while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
                        k += 1;
                    }
                    return err(
                        line as usize,
                        PasteErrorKind::Syntax,
                        format!("{:?} is not a number", &text[i..k]),
                    );
                }
                push(toks, T::Num, i, j);
                i = j;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or(' ');
                return err(
                    line as usize,
                    PasteErrorKind::Syntax,
                    format!(
                        "unexpected {} (not part of a PyTorch printout)",
                        describe_char(ch)
                    ),
                );
            }
        }
    }
    Ok(())
}
