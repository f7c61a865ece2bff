//! Scenario files end to end: the snippet (src/scenario_file.py) run under
//! real PyTorch on quantized Conv2d / ConvReLU2d modules of every engine
//! (fbgemm, x86, qnnpack; per-channel and per-tensor; stride, padding,
//! dilation, groups; float and quantized inputs) writes files whose scenario,
//! run through the engine, gives the module's output codes. Torch is found as
//! `$QCONV_TORCH_PYTHON`, else `python3`; without it those runs are skipped,
//! saying so. The CLI's `--scenario`, `file` and `snippet` are checked here too.
use qconv_lens::scenario::preset;
use qconv_lens::scenario_file::{
    decode, decode_file_link, encode, file_link_payload, FILE_LINK_PRINTED, SNIPPET,
};
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn torch_python() -> Option<String> {
    let py = std::env::var("QCONV_TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import torch"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("torch is not importable by {py} (set QCONV_TORCH_PYTHON to a Python with torch): the snippet's PyTorch runs are SKIPPED");
    }
    ok.then_some(py)
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qconv-lens-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn snippet_files_reproduce_the_modules_output_codes() {
    let Some(py) = torch_python() else { return };
    let dir = temp_dir("snippet");
    let out = Command::new(&py)
        .arg(root().join("tests/scenario_file_torch.py"))
        .arg(root().join("src/scenario_file.py"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let cases = manifest.as_array().unwrap();
    assert_eq!(cases.len(), 9);
    let mut seen = std::collections::BTreeSet::new();
    for c in cases {
        let file = c["file"].as_str().unwrap();
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let d = decode(&text).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        assert!(d.notes.is_empty(), "{file}: {:?}", d.notes);
        let sc = d.scenario;
        assert_eq!(sc.a.name(), c["engine"].as_str().unwrap(), "{file}");
        assert_eq!(sc.params.per_channel, c["per_channel"].as_bool().unwrap());
        assert_eq!(sc.params.relu, c["relu"].as_bool().unwrap());
        let want: Vec<i64> = c["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let got: Vec<i64> = sc.run().unwrap().out_a.iter().map(|&v| v as i64).collect();
        assert_eq!(got.len(), want.len(), "{file}");
        let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "{file} ({}): {differ} codes differ", c["module"]);
        // Writing it again and reading it back is the same scenario.
        assert_eq!(decode(&encode(&sc)).unwrap().scenario, sc);
        // The printed file link is the same scenario, read here and by the CLI.
        let printed = c["printed"].as_str().unwrap();
        let fragment = printed
            .lines()
            .find_map(|l| l.strip_prefix("link: append to the page's address: "))
            .unwrap_or_else(|| panic!("{file}: no link printed: {printed}"));
        assert!(fragment.starts_with("#f=") && fragment.len() - 1 <= FILE_LINK_PRINTED);
        let by_link = decode_file_link(file_link_payload(fragment).unwrap()).unwrap();
        assert_eq!(by_link.scenario, sc, "{file}");
        let path = dir.join(file);
        let (ok, from_file, e) = cli(&["link", "--scenario", path.to_str().unwrap()]);
        assert!(ok, "{e}");
        let (ok, from_fragment, e) = cli(&["link", "--link", fragment]);
        assert!(ok, "{e}");
        assert_eq!(from_fragment, from_file, "{file}");
        seen.insert((
            c["engine"].as_str().unwrap().to_string(),
            c["module"].as_str().unwrap().to_string(),
            sc.params.per_channel,
        ));
    }
    // Every engine, both modules, both weight schemes somewhere.
    for e in ["fbgemm", "x86", "qnnpack"] {
        assert!(seen.iter().any(|s| s.0 == e && s.1 == "ConvReLU2d"), "{e}");
        assert!(seen.iter().any(|s| s.0 == e && s.1 == "Conv2d"), "{e}");
        assert!(seen.iter().any(|s| s.0 == e && s.2), "{e}");
        assert!(seen.iter().any(|s| s.0 == e && !s.2), "{e}");
    }
    // Too long a link: only the file and the command are printed.
    let big = std::fs::read_to_string(dir.join("big.txt")).unwrap();
    assert!(!big.contains("#f=") && big.contains("no link"), "{big}");
    assert!(big.contains("qconv-lens link --scenario"), "{big}");
    let whole = std::fs::read_to_string(dir.join("big.json")).unwrap();
    assert!(decode(&whole).is_ok());
    assert!(qconv_lens::scenario_file::file_link(&whole).len() > FILE_LINK_PRINTED);
    eprintln!(
        "{} snippet files reproduce PyTorch's output codes",
        cases.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_qconv-lens"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn cli_takes_scenario_files_wherever_it_takes_links() {
    let dir = temp_dir("cli");
    let f = dir.join("ties.json");
    let (ok, text, _) = cli(&["file", "--preset", "ties"]);
    assert!(ok);
    assert_eq!(text, encode(&preset("ties").unwrap()));
    std::fs::write(&f, &text).unwrap();
    let f = f.to_str().unwrap();
    let (_, by_preset, _) = cli(&["link", "--preset", "ties"]);
    let (ok, by_file, _) = cli(&["link", "--scenario", f]);
    assert!(ok);
    assert_eq!(by_file, by_preset);
    for cmd in ["explain", "compare", "export"] {
        let (ok, a, e) = cli(&[cmd, "--scenario", f]);
        assert!(ok, "{cmd}: {e}");
        assert_eq!(a, cli(&[cmd, "--preset", "ties"]).1, "{cmd}");
    }
    // A link and a file of the same case give the same file.
    let (_, again, _) = cli(&["file", "--link", by_file.trim()]);
    assert_eq!(again, text);
    // A bad file: the whole message, exit 2, nothing printed.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, &text[..text.len() / 3]).unwrap();
    let (ok, out, err) = cli(&["compare", "--scenario", bad.to_str().unwrap()]);
    assert!(!ok && out.is_empty());
    assert!(err.contains("cut short"), "{err}");
    // A file link of the file is the same case; a bad one is refused whole.
    let fragment = format!("#{}", qconv_lens::scenario_file::file_link(&text));
    let (ok, by_fragment, e) = cli(&["link", "--link", &fragment]);
    assert!(ok, "{e}");
    assert_eq!(by_fragment, by_file);
    let (ok, out, err) = cli(&["compare", "--link", "https://example.org/#f=aGVsbG8"]);
    assert!(!ok && out.is_empty());
    assert!(
        err.contains("the f= link") && err.contains("not raw DEFLATE"),
        "{err}"
    );
    let (ok, _, err) = cli(&["link", "--link", &fragment[..fragment.len() / 2]]);
    assert!(!ok && err.contains("not raw DEFLATE"), "{err}");
    let (ok, _, err) = cli(&["link", "--scenario", f, "--link", "#v=2"]);
    assert!(!ok && err.contains("not both"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_snippet_is_printed_and_quoted_in_the_readme() {
    let (ok, text, _) = cli(&["snippet"]);
    assert!(ok);
    assert_eq!(text, SNIPPET);
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains(SNIPPET.trim_end()),
        "README.md must quote src/scenario_file.py as it is"
    );
    // The snippet prints a link up to the documented length, no further.
    assert!(SNIPPET.contains(&format!(") - 1 <= {FILE_LINK_PRINTED}:")));
}

/// Files of each released version keep opening as they did: the fixture of
/// a version is never edited, and its scenario's link is pinned beside it.
#[test]
fn released_versions_keep_their_meaning() {
    let dir = root().join("tests/fixtures/files");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let d = decode(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e:?}", p.display()));
        let link = std::fs::read_to_string(p.with_extension("link")).unwrap();
        // Through the links' own migrations, the pinned link means the same scenario.
        let pinned = qconv_lens::link::decode(link.trim());
        assert!(pinned.notes.is_empty(), "{:?}", pinned.notes);
        assert_eq!(d.scenario, pinned.scenario, "{}", p.display());
        n += 1;
    }
    assert!(n >= qconv_lens::scenario_file::VERSION as usize);
}
