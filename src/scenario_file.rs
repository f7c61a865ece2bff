//! Scenario files: the whole scenario as a `.json` file, exact (float64
//! scales, integer codes, float32 bias), for cases too large for a link and
//! for scenarios written from a real model (`SNIPPET`, the Python function
//! that writes one).
//!
//! ```json
//! {"format": "qconv-lens-scenario", "version": 1,
//!  "source": {...anything, ignored...},
//!  "scenario": {...the serde JSON of `Scenario`...}}
//! ```
//!
//! Versions, as links have them: `version` says which schema the file was
//! written with; an older file is migrated one step at a time (`MIGRATIONS`,
//! never edited once released) before it is read; a newer one is refused
//! with a message. `tests/fixtures/files/vN.json` holds a file of each version
//! and what it must decode to.
//!
//! Reading is strict where links are tolerant: a file either opens exactly
//! as written or is refused as a whole with messages (nothing is
//! half-applied). Only the view (channel, pixel) may be adjusted, with a
//! note. The bounds are the links' and the page's (`scenario::limits`), and
//! the size of every tensor is checked from the shape before the tensors
//! are read (a file is itself at most `MAX_FILE` bytes).
use crate::link::{Decoded, Note};
use crate::scenario::{check_shape, InputSource, Scenario};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// The `format` of a scenario file.
pub const FORMAT: &str = "qconv-lens-scenario";

/// The version this build writes.
pub const VERSION: u32 = 1;

/// Largest file read. A scenario at the bounds of `scenario::limits` written
/// as decimal lists (4M input codes, 4M weights) takes about 40 MB.
pub const MAX_FILE: usize = 48 << 20;

/// The fragment key of a file link: `#f=` then base64url (no padding) of
/// the raw DEFLATE of the file's bytes. The file itself travels, so no
/// second link codec is needed (the snippet writes one in a few lines of
/// Python), and it opens as the file would: all or nothing.
pub const FILE_LINK_KEY: &str = "f=";

/// Longest file link the snippet prints (characters after `#`). Fragments
/// never reach a server and browsers take megabytes, but links are pasted
/// into chats, mail and issue trackers; 8000 is the length RFC 9110 (4.1)
/// asks every sender and recipient to support. Longer: the snippet prints
/// only the file and the CLI command.
pub const FILE_LINK_PRINTED: usize = 8000;

/// The Python function that writes a scenario file from a quantized module
/// (printed by `qconv-lens snippet`, shown on the page, quoted in the README).
pub const SNIPPET: &str = include_str!("scenario_file.py");

/// The migration steps: `MIGRATIONS[i]` rewrites a version `i + 1` file into
/// version `i + 2`. None yet; a new version appends one (and a fixture).
const MIGRATIONS: &[fn(&mut serde_json::Value)] = &[];
const _: () = assert!(MIGRATIONS.len() as u32 + 1 == VERSION);

#[derive(Serialize)]
struct Out<'a> {
    format: &'static str,
    version: u32,
    scenario: &'a Scenario,
}

/// The file for a scenario (one line of JSON and a newline).
pub fn encode(sc: &Scenario) -> String {
    let out = Out {
        format: FORMAT,
        version: VERSION,
        scenario: sc,
    };
    // Serializing plain data cannot fail; say so rather than panic if it did.
    let mut t = serde_json::to_string(&out)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot write the scenario: {e}\"}}"));
    t.push('\n');
    t
}

/// Whether a file of `bytes` is refused before it is read, and why.
pub fn too_large(bytes: u64) -> Option<String> {
    (bytes > MAX_FILE as u64).then(|| {
        format!(
            "the file is {bytes} bytes; at most {MAX_FILE} ({:.1}x too large)",
            bytes as f64 / MAX_FILE as f64
        )
    })
}

/// Why a file link is refused once it has inflated to `bytes` (past
/// `MAX_FILE`): inflating stops there, so a deflate bomb allocates no more.
pub fn inflated_too_large(bytes: u64) -> Option<String> {
    (bytes > MAX_FILE as u64).then(|| {
        format!("the f= link inflates to more than {MAX_FILE} bytes, the bound for scenario files")
    })
}

/// The payload of a file link (`#f=...`, a whole URL or the fragment), if
/// `link` is one.
pub fn file_link_payload(link: &str) -> Option<&str> {
    let frag = link.split_once('#').map_or(link, |(_, f)| f);
    frag.strip_prefix(FILE_LINK_KEY)
}

/// The file link of a file's text (what the snippet computes in Python).
pub fn file_link(text: &str) -> String {
    format!(
        "{FILE_LINK_KEY}{}",
        crate::link::b64_encode(&miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 9))
    )
}

/// Reads a file link's payload (after `f=`): base64url, raw DEFLATE
/// inflated to at most `MAX_FILE` bytes, then `decode` as a file.
pub fn decode_file_link(payload: &str) -> Result<Decoded, Vec<Note>> {
    inflate_file_link(payload, MAX_FILE).and_then(|text| decode(&text))
}

fn inflate_file_link(payload: &str, max: usize) -> Result<String, Vec<Note>> {
    use miniz_oxide::inflate::{decompress_to_vec_with_limit, TINFLStatus};
    let fail = |m: String| vec![note("", m)];
    let packed = crate::link::b64_decode(payload.trim_end_matches('='), max)
        .map_err(|e| fail(format!("the f= link is not base64url: {e}")))?;
    // The limit stops a decompression bomb: the output grows only to `max`.
    let bytes = decompress_to_vec_with_limit(&packed, max).map_err(|e| {
        fail(match e.status {
            TINFLStatus::HasMoreOutput => inflated_too_large(max as u64 + 1)
                .unwrap_or_else(|| format!("the f= link inflates to more than {max} bytes")),
            _ => "the f= link is not raw DEFLATE data (damaged or cut short)".into(),
        })
    })?;
    String::from_utf8(bytes).map_err(|_| fail("the f= link's file is not UTF-8 text".into()))
}

fn note(key: &str, message: impl Into<String>) -> Note {
    Note {
        key: key.into(),
        message: message.into(),
    }
}

/// Reads a scenario file. `Err` lists what is wrong (for the banner or
/// stderr); then nothing of the file is used.
pub fn decode(text: &str) -> Result<Decoded, Vec<Note>> {
    let fail = |key: &str, m: String| Err(vec![note(key, m)]);
    if let Some(m) = too_large(text.len() as u64) {
        return fail("", m);
    }
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.is_empty() {
        return fail("", "the file is empty".into());
    }
    if !t.starts_with('{') {
        return fail("", not_json(t));
    }
    // 1. The header, skipping (and so checking the syntax of) everything else.
    #[derive(Deserialize)]
    struct Header {
        format: Option<Scalar>,
        version: Option<Scalar>,
        scenario: Option<IgnoredAny>,
    }
    let h: Header = serde_json::from_str(t).map_err(|e| vec![note("", json_error(t, &e))])?;
    match &h.format {
        Some(Scalar::Str(f)) if f == FORMAT => {}
        Some(f) => {
            return fail(
                "format",
                format!("is {f}, not \"{FORMAT}\": this is not a qconv-lens scenario file"),
            )
        }
        None => {
            return fail(
                "format",
                format!("missing: this is not a qconv-lens scenario file (it has no \"format\": \"{FORMAT}\")"),
            )
        }
    }
    let version = match h.version.as_ref().map(|v| match v {
        Scalar::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }) {
        Some(Some(v)) if (1..=VERSION as u64).contains(&v) => v as u32,
        Some(Some(v)) if v > VERSION as u64 => {
            return fail(
                "version",
                format!("version {v} is newer than this qconv-lens (it reads versions 1 to {VERSION}); open it with a newer page or CLI"),
            )
        }
        Some(Some(v)) => return fail("version", format!("there is no version {v} (versions 1 to {VERSION})")),
        Some(None) => {
            let v = h.version.map_or(String::new(), |v| v.to_string());
            return fail("version", format!("{v} is not a version number"));
        }
        None => return fail("version", "missing".into()),
    };
    if h.scenario.is_none() {
        return fail("scenario", "missing: the file has no scenario".into());
    }
    // 2. The shape alone, bounded before any tensor of the file is read.
    #[derive(Deserialize)]
    struct ShapeOf {
        shape: crate::conv::ConvShape,
    }
    #[derive(Deserialize)]
    struct ShapeOnly {
        scenario: ShapeOf,
    }
    let shape = if version < VERSION {
        None
    } else {
        let s: ShapeOnly =
            serde_json::from_str(t).map_err(|e| vec![note("scenario.shape", json_error(t, &e))])?;
        Some(s.scenario.shape)
    };
    if let Some(shape) = &shape {
        check_shape(shape).map_err(|e| vec![note("scenario.shape", e.to_string())])?;
    }
    // 3. The whole scenario (older versions through their migrations first).
    #[derive(Deserialize)]
    struct Full {
        scenario: Scenario,
    }
    // `MIGRATIONS` is a constant: while it is empty this branch (and
    // serde_json::Value with it) is compiled out of the wasm.
    let full: Full = if version < VERSION && !MIGRATIONS.is_empty() {
        let mut v: serde_json::Value =
            serde_json::from_str(t).map_err(|e| vec![note("", json_error(t, &e))])?;
        for step in &MIGRATIONS[version as usize - 1..] {
            step(&mut v);
        }
        serde_json::from_value(v).map_err(|e| vec![note("scenario", e.to_string())])?
    } else {
        serde_json::from_str(t).map_err(|e| vec![note("scenario", json_error(t, &e))])?
    };
    let mut sc = full.scenario;
    check(&sc)?;
    // Only the view may be adjusted; anything else `fit` would change means
    // the file is not a computable scenario as written.
    let mut fitted = sc.clone();
    let mut notes = vec![];
    let mut errors = vec![];
    for (key, message) in fitted.fit(None) {
        match key {
            "ch" | "px" => notes.push(note(&format!("scenario.view ({key})"), message)),
            _ => errors.push(note("scenario", message)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    sc.view = fitted.view;
    Ok(Decoded {
        scenario: sc,
        version,
        notes,
    })
}

/// The checks a file must pass as written (the engine's own messages).
fn check(sc: &Scenario) -> Result<(), Vec<Note>> {
    let err = |key: &str, e: crate::Error| vec![note(key, e.to_string())];
    check_shape(&sc.shape).map_err(|e| err("scenario.shape", e))?;
    sc.validate().map_err(|e| err("scenario", e))?;
    if let InputSource::Codes { codes } = &sc.input {
        if codes.len() != sc.shape.input_len() {
            return Err(vec![note(
                "scenario.input",
                format!(
                    "{} input codes; the shape ({} x {} x {}) needs {}",
                    codes.len(),
                    sc.shape.in_channels,
                    sc.shape.height,
                    sc.shape.width,
                    sc.shape.input_len()
                ),
            )]);
        }
    }
    sc.check_runs().map_err(|e| err("scenario", e))
}

/// A header value, whatever its JSON type (without serde_json::Value,
/// which would add much to the wasm).
enum Scalar {
    Str(String),
    Int(i128),
    Other(&'static str),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Str(s) => write!(f, "{s:?}"),
            Scalar::Int(n) => write!(f, "{n}"),
            Scalar::Other(what) => write!(f, "{what}"),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.chars().take(40).collect()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v as i128))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v as i128))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Scalar, E> {
                Ok(Scalar::Other("a fraction"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar::Other("true or false"))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other("null"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("a list"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

/// What a text that is not a JSON object looks like, in words.
fn not_json(t: &str) -> String {
    let head: String = t.chars().take(200).collect();
    if head.starts_with("http") || head.starts_with("#v=") || head.starts_with("v=") {
        "this is a link, not a scenario file: open it in the address bar (or give it to --link)"
            .into()
    } else if ["import ", "from ", "def ", "#", "torch", "\"\"\"", "print("]
        .iter()
        .any(|p| head.starts_with(p))
        || head.contains("import torch")
    {
        "this looks like Python source, not a scenario file: run the script (it writes a .json file) and open the file it wrote".into()
    } else {
        "this is not a scenario file: it does not start with '{' (a scenario file is a JSON object)"
            .into()
    }
}

/// A JSON syntax or type error, with where it is and what it means here.
fn json_error(t: &str, e: &serde_json::Error) -> String {
    let at = format!("line {}, column {}", e.line(), e.column());
    if e.is_eof() {
        return format!("the file is cut short ({at}): it ends inside the JSON; was it copied or downloaded completely?");
    }
    if e.is_syntax() {
        // Python's json.dump writes NaN and Infinity, which JSON has not.
        let line = t.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
        let rest: String = line
            .chars()
            .skip(e.column().saturating_sub(1))
            .take(9)
            .collect();
        if ["NaN", "Infinity", "-Infinity"]
            .iter()
            .any(|w| rest.starts_with(w))
        {
            return format!("NaN or Infinity at {at}: not a JSON number, and no scale or bias may be NaN or infinite");
        }
        return format!("not valid JSON at {at}: {}", strip_position(e));
    }
    format!("{} (at {at})", strip_position(e))
}

/// serde_json's message without its own " at line L column C".
fn strip_position(e: &serde_json::Error) -> String {
    let m = e.to_string();
    match m.rfind(" at line ") {
        Some(i) => m[..i].to_string(),
        None => m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{limits, preset, PRESETS};

    fn errors(text: &str) -> String {
        match decode(text) {
            Ok(d) => panic!("accepted: {:?}", d.notes),
            Err(n) => n
                .iter()
                .map(|n| format!("{}: {}", n.key, n.message))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    #[test]
    fn every_preset_round_trips() {
        for (id, _) in PRESETS {
            let sc = preset(id).unwrap();
            let d = decode(&encode(&sc)).unwrap_or_else(|e| panic!("{id}: {e:?}"));
            assert_eq!(d.scenario, sc, "{id}");
            assert_eq!(d.version, VERSION);
            assert!(d.notes.is_empty(), "{id}: {:?}", d.notes);
        }
    }

    fn forum_with(f: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value =
            serde_json::from_str(&encode(&preset("forum").unwrap())).unwrap();
        f(&mut v);
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn bad_files_are_refused_with_messages() {
        let forum = encode(&preset("forum").unwrap());
        assert!(errors("").contains("empty"));
        assert!(errors(&forum[..forum.len() / 2]).contains("cut short"));
        assert!(
            errors("import torch\nqconv_lens_scenario(m.conv, x, 'a.json')").contains("Python")
        );
        assert!(errors(SNIPPET).contains("Python"));
        assert!(errors("http://127.0.0.1:8000/#v=2&ci=1").contains("link"));
        assert!(errors("[1, 2]").contains("JSON object"));
        assert!(errors("{\"a\": 1}").contains("format"));
        let e = errors(&forum_with(|v| v["version"] = 7.into()));
        assert!(e.contains("version 7 is newer"), "{e}");
        assert!(errors(&forum_with(|v| v["version"] = 0.into())).contains("no version 0"));
        assert!(
            errors(&forum_with(|v| v["version"] = "one".into())).contains("not a version number")
        );
        assert!(errors(&forum_with(|v| v["format"] = "x".into())).contains("not a qconv-lens"));
        let nan = forum.replacen("\"input_scale\":", "\"input_scale\":NaN,\"x\":", 1);
        assert!(errors(&nan).contains("NaN"), "{}", errors(&nan));
        for bad in [0.0, -0.5, 1e-50] {
            let e = errors(&forum_with(|v| {
                v["scenario"]["params"]["output_scale"] = bad.into()
            }));
            assert!(
                e.contains("output scale must be a positive finite number"),
                "{e}"
            );
        }
        let e = errors(&forum_with(|v| {
            v["scenario"]["weights"]
                .as_array_mut()
                .unwrap()
                .pop()
                .map(|_| ())
                .unwrap()
        }));
        assert!(e.contains("weights given, the shape needs"), "{e}");
        let e = errors(&forum_with(|v| {
            v["scenario"]["shape"]["in_channels"] = 2.into()
        }));
        assert!(e.contains("the shape needs"), "{e}");
        let e = errors(&forum_with(|v| {
            v["scenario"]["params"]["weight_scales"] = serde_json::json!([0.1, 0.2])
        }));
        assert!(e.contains("weight scales"), "{e}");
        let e = errors(&forum_with(|v| {
            v["scenario"]["input"] = serde_json::json!({"kind": "codes", "codes": [1, 2, 3]})
        }));
        assert!(e.contains("3 input codes"), "{e}");
        let e = errors(&forum_with(|v| {
            v["scenario"]["input"] = serde_json::json!({"kind": "codes", "codes": [300]})
        }));
        assert!(e.contains("300"), "{e}");
        let e = errors(&forum_with(|v| {
            v["scenario"]["a"] = serde_json::json!({"kind": "nope"})
        }));
        assert!(e.contains("nope"), "{e}");
    }

    #[test]
    fn oversized_shapes_are_refused_before_the_tensors_are_read() {
        // 64 x 1024 x 1024 input: refused from the shape, whatever follows
        // (the tensors here are far too short, and never looked at).
        let e = errors(&forum_with(|v| {
            let s = &mut v["scenario"]["shape"];
            s["in_channels"] = 64.into();
            s["height"] = 1024.into();
            s["width"] = 1024.into();
        }));
        assert!(
            e.contains("the input (64 x 1024 x 1024 codes) is 67108864; at most"),
            "{e}"
        );
        let e = errors(&forum_with(|v| {
            v["scenario"]["shape"]["kernel"] = serde_json::json!([99, 1])
        }));
        assert!(e.contains("kernel is 99; at most"), "{e}");
        let big = format!(
            "{{\"format\":\"{FORMAT}\",\"version\":1,\"pad\":\"{}\"}}",
            " ".repeat(MAX_FILE)
        );
        assert!(errors(&big).contains("at most"));
        // The largest input the page allows, as codes, opens.
        let mut sc = preset("forum").unwrap();
        sc.shape.in_channels = 16;
        sc.shape.height = 512;
        sc.shape.width = 512;
        sc.fit(None);
        sc.input = InputSource::Codes {
            codes: vec![7; limits::INPUT],
        };
        let t = encode(&sc);
        assert!(t.len() < MAX_FILE);
        assert_eq!(decode(&t).unwrap().scenario, sc);
    }

    #[test]
    fn the_view_is_adjusted_with_a_note() {
        let t = forum_with(|v| v["scenario"]["view"]["pixel"] = serde_json::json!([500, 2]));
        let d = decode(&t).unwrap();
        assert_eq!(d.scenario.view.pixel, None);
        assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
        assert!(d.notes[0].message.contains("outside"));
    }

    #[test]
    fn a_file_link_opens_as_its_file() {
        let text = encode(&preset("forum").unwrap());
        let link = format!("https://example.org/qconv-lens/#{}", file_link(&text));
        let payload = file_link_payload(&link).unwrap();
        let d = decode_file_link(payload).unwrap();
        assert_eq!(d.scenario, decode(&text).unwrap().scenario);
        assert_eq!(d.version, VERSION);
        assert!(file_link_payload("#v=3&a=fbgemm").is_none());
    }

    fn link_errors(payload: &str) -> String {
        decode_file_link(payload)
            .unwrap_err()
            .iter()
            .map(|n| format!("{}: {}", n.key, n.message))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn deflated(bytes: &[u8]) -> String {
        crate::link::b64_encode(&miniz_oxide::deflate::compress_to_vec(bytes, 1))
    }

    #[test]
    fn bad_file_links_say_what_is_wrong() {
        assert!(link_errors("ab%cd").contains("not base64url"));
        assert!(link_errors("aGVsbG8").contains("not raw DEFLATE"));
        let whole = deflated(encode(&preset("forum").unwrap()).as_bytes());
        assert!(link_errors(&whole[..whole.len() / 2]).contains("not raw DEFLATE"));
        assert!(link_errors(&deflated(&[0xff, 0xfe, 0x7b])).contains("not UTF-8"));
        assert!(link_errors(&deflated(b"{\"format\": ")).contains("JSON"));
        let newer = forum_with(|v| v["version"] = 99.into());
        assert!(link_errors(&deflated(newer.as_bytes())).contains("version"));
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_bound() {
        // 48 MiB + 1 of spaces deflate (level 1) to about 300 KB; inflating stops at
        // MAX_FILE, before the last byte, with the bound's message.
        let bomb = deflated(&vec![b' '; MAX_FILE + 1]);
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let e = link_errors(&bomb);
        assert!(
            e.contains(&format!("inflates to more than {MAX_FILE} bytes")),
            "{e}"
        );
        // With a small bound the output never grows past it either.
        let e = inflate_file_link(&deflated(&[b' '; 4096]), 1000).unwrap_err();
        assert!(e[0].message.contains("more than 1000 bytes"), "{e:?}");
        assert_eq!(
            inflate_file_link(&deflated(&[b' '; 1000]), 1000)
                .unwrap()
                .len(),
            1000
        );
    }

    #[test]
    fn every_version_has_a_way_forward() {
        assert_eq!(MIGRATIONS.len() as u32 + 1, VERSION);
    }
}
