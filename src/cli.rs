//! The command-line interface (see `main.rs`).
//!
//!   qconv-lens verify FILE...        check golden files bit for bit
//!   qconv-lens explain | compare | link | file [--preset ID | --link URL | --scenario FILE] ...
//!   qconv-lens snippet               the Python function that writes a scenario file
//!   qconv-lens import FILE | export  pasted printouts in, PyTorch / ONNX Runtime / LiteRT script out
//!   qconv-lens presets               list the presets
use qconv_lens::engine::{Computation, Cpu, Os, ENGINES};
use qconv_lens::explain::{explain, render_text};
use qconv_lens::golden::verify_file;
use qconv_lens::scenario::{preset, PRESETS};
use std::path::Path;
use std::process::ExitCode;

/// The usage text; engine and CPU names come from the engine table.
fn usage() -> String {
    let engines: Vec<&str> = ENGINES.iter().map(|r| r.id).collect();
    let cpus: Vec<&str> = Cpu::ALL.iter().map(|c| c.id()).collect();
    format!("usage:
  qconv-lens verify FILE...
      Check golden files (conv, quantize, observer or module; detected from the
      content) bit for bit. Prints each failing case and 'N passed, M failed'.
      Exit 0 when all pass, 1 when a case fails, 2 when a file cannot be read.
  qconv-lens explain [--preset ID | --link URL | --scenario FILE] [--pixel ROW,COL] [--channel C] [--a COMP] [--b COMP]
                     [--cpu CPU] [--os linux|other]
      Side-by-side trace of one output pixel for two computations
      (default: the forum preset, fbgemm vs the hand calculation, at the
      case's selected pixel), the kernel each ran and why, and the causes.
      COMP is one of {engines}; CPU is one of {cpus}.
      --link takes a page link (whole URL or #fragment; an #f= link carries a
      scenario file, as the snippet prints it); --scenario a scenario file
      (.json, as the page saves it or `qconv-lens snippet` writes it).
  qconv-lens compare [--preset ID | --link URL | --scenario FILE] [--a COMP] [--b COMP] [--cpu CPU] [--os linux|other]
      Every output pixel: A - B per channel ('.' where they agree), and the count.
  qconv-lens link [--preset ID | --link URL | --scenario FILE] [--a COMP] [--b COMP]
      Print the case's permalink fragment (canonical, current version).
  qconv-lens file [--preset ID | --link URL | --scenario FILE] [--a COMP] [--b COMP]
      Print the case as a scenario file (JSON, the page's \"Save\").
  qconv-lens snippet
      Print the Python function that writes a quantized Conv2d / ConvReLU2d
      and its input as a scenario file.
  qconv-lens import FILE|- [--preset ID] [--json]
      Read pasted PyTorch printouts into a case (see `qconv-lens import --help`).
  qconv-lens export [--runtime pytorch|onnxruntime|litert] [--preset ID | --link URL | --scenario FILE] [--a COMP] [--b COMP]
                    [--cpu CPU] [--os linux|other]
      Print a Python script that reproduces the case. PyTorch (A's PyTorch
      engine, or fbgemm): it prints PyTorch's output codes and compares them
      with the codes qconv-lens computed, written into the script. ONNX Runtime
      or LiteRT: it builds that runtime's model and runs it as each of A and B
      that is an engine of it, comparing the runtime's codes with the engine's.
      Default: A's runtime, else B's, else PyTorch.
  qconv-lens presets
      List the presets.",
        engines = engines.join(", "),
        cpus = cpus.join(", ")
    )
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("verify") => verify(&args[1..]),
        Some("explain") => match explain_cmd(&args[1..]) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("qconv-lens explain: {e}");
                ExitCode::from(2)
            }
        },
        Some("compare") => match compare_cmd(&args[1..]) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("qconv-lens compare: {e}");
                ExitCode::from(2)
            }
        },
        Some("link") => match parse_opts(&args[1..]) {
            Ok(o) => {
                println!("#{}", qconv_lens::link::encode(&o.scenario));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("qconv-lens link: {e}");
                ExitCode::from(2)
            }
        },
        Some("file") => match parse_opts(&args[1..]) {
            Ok(o) => {
                print!("{}", qconv_lens::scenario_file::encode(&o.scenario));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("qconv-lens file: {e}");
                ExitCode::from(2)
            }
        },
        Some("snippet") => {
            print!("{}", qconv_lens::scenario_file::SNIPPET);
            ExitCode::SUCCESS
        }
        Some("import") => import_cmd(&args[1..]),
        Some("export") => match export_cmd(&args[1..]) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("qconv-lens export: {e}");
                ExitCode::from(2)
            }
        },
        Some("presets") => {
            for (id, title) in PRESETS {
                println!("{id:12} {title}");
            }
            ExitCode::SUCCESS
        }
        Some("-h" | "--help" | "help") => {
            println!("{}", usage());
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{}", usage());
            ExitCode::from(2)
        }
    }
}

fn verify(files: &[String]) -> ExitCode {
    if files.is_empty() {
        eprintln!("qconv-lens verify: no files given\n{}", usage());
        return ExitCode::from(2);
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in files {
        match verify_file(Path::new(f)) {
            Ok((kind, outcomes)) => {
                if kind == qconv_lens::golden::Kind::Module2 {
                    // Per-stage counts and the float-conv comparison (reported, not checked).
                    if let Ok(r) = std::fs::read_to_string(f)
                        .map_err(|e| e.to_string())
                        .and_then(|t| {
                            qconv_lens::golden::module2_report(&t).map_err(|e| e.to_string())
                        })
                    {
                        println!("{r}");
                    }
                }
                for o in outcomes {
                    match o.failure {
                        None => passed += 1,
                        Some(m) => {
                            failed += 1;
                            println!("FAIL {} ({f}): {m}", o.id);
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("qconv-lens verify: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Options shared by explain and compare.
struct Opts {
    scenario: qconv_lens::scenario::Scenario,
    row: usize,
    col: usize,
    channel: usize,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut preset_id = "forum".to_string();
    let mut link: Option<String> = None;
    let mut file: Option<String> = None;
    let (mut pixel, mut channel) = (None, None);
    let (mut a, mut b) = (None, None);
    let (mut cpu, mut os) = (None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--preset" => preset_id = value()?,
            "--link" => link = Some(value()?),
            "--scenario" => file = Some(value()?),
            "--pixel" => {
                let v = value()?;
                let (r, c) = v
                    .split_once(',')
                    .ok_or_else(|| format!("--pixel takes ROW,COL, got {v:?}"))?;
                let row = r.trim().parse().map_err(|_| format!("bad row {r:?}"))?;
                let col = c.trim().parse().map_err(|_| format!("bad column {c:?}"))?;
                pixel = Some((row, col));
            }
            "--channel" => {
                let v = value()?;
                channel = Some(v.parse().map_err(|_| format!("bad channel {v:?}"))?);
            }
            "--a" => a = Some(Computation::parse(&value()?).map_err(|e| e.to_string())?),
            "--b" => b = Some(Computation::parse(&value()?).map_err(|e| e.to_string())?),
            "--cpu" => {
                let v = value()?;
                cpu = Some(Cpu::parse(&v).ok_or_else(|| {
                    let ids: Vec<&str> = Cpu::ALL.iter().map(|c| c.id()).collect();
                    format!("unknown cpu {v:?} ({})", ids.join(", "))
                })?);
            }
            "--os" => {
                let v = value()?;
                os = Some(Os::parse(&v).ok_or_else(|| {
                    let ids: Vec<&str> = Os::ALL.iter().map(|c| c.id()).collect();
                    format!("unknown os {v:?} ({})", ids.join(", "))
                })?);
            }
            other => return Err(format!("unknown option {other:?}\n{}", usage())),
        }
    }
    if link.is_some() && file.is_some() {
        return Err("give --link or --scenario, not both".into());
    }
    if let Some(f) = file {
        return finish(scenario_file(&f)?, pixel, channel, a, b, cpu, os);
    }
    if let Some(p) = link
        .as_deref()
        .and_then(qconv_lens::scenario_file::file_link_payload)
    {
        let text = qconv_lens::scenario_file::decode_file_link(p);
        return finish(opened("link", text)?, pixel, channel, a, b, cpu, os);
    }
    let sc = match link {
        // A link never fails to open; what it got wrong is said on stderr.
        Some(l) => {
            let d = qconv_lens::link::decode(&l);
            for n in &d.notes {
                eprintln!(
                    "link: {}{}{}",
                    n.key,
                    if n.key.is_empty() { "" } else { ": " },
                    n.message
                );
            }
            d.scenario
        }
        None => preset(&preset_id).map_err(|e| e.to_string())?,
    };
    finish(sc, pixel, channel, a, b, cpu, os)
}

/// A scenario file, all or nothing: what is wrong goes in the error.
fn scenario_file(path: &str) -> Result<qconv_lens::scenario::Scenario, String> {
    use qconv_lens::scenario_file::too_large;
    // The size first: a huge file is refused before it is read.
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {path}: {e}"))?
        .len();
    if let Some(m) = too_large(len) {
        return Err(format!("{path}: {m}"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    opened(path, qconv_lens::scenario_file::decode(&text))
}

/// A decoded file (or file link) named `what`: its notes on stderr, or its
/// errors as the error.
fn opened(
    what: &str,
    decoded: Result<qconv_lens::link::Decoded, Vec<qconv_lens::link::Note>>,
) -> Result<qconv_lens::scenario::Scenario, String> {
    let path = what;
    let shown = |n: &qconv_lens::link::Note| {
        format!(
            "{}{}{}",
            n.key,
            if n.key.is_empty() { "" } else { ": " },
            n.message
        )
    };
    match decoded {
        Ok(d) => {
            for n in &d.notes {
                eprintln!("{path}: {}", shown(n));
            }
            Ok(d.scenario)
        }
        Err(notes) => Err(notes
            .iter()
            .map(|n| format!("{path}: {}", shown(n)))
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    mut sc: qconv_lens::scenario::Scenario,
    pixel: Option<(usize, usize)>,
    channel: Option<usize>,
    a: Option<Computation>,
    b: Option<Computation>,
    cpu: Option<Cpu>,
    os: Option<Os>,
) -> Result<Opts, String> {
    let (row, col) = pixel.or(sc.view.pixel).unwrap_or((0, 0));
    let channel = channel.unwrap_or(sc.view.channel);
    if let Some(a) = a {
        sc.a = a;
    }
    if let Some(b) = b {
        sc.b = b;
    }
    if let Some(c) = cpu {
        sc.platform.cpu = c;
    }
    if let Some(o) = os {
        sc.platform.os = o;
    }
    Ok(Opts {
        scenario: sc,
        row,
        col,
        channel,
    })
}

fn explain_cmd(args: &[String]) -> Result<String, String> {
    let Opts {
        scenario,
        row,
        col,
        channel,
    } = parse_opts(args)?;
    let run = scenario.run().map_err(|e| e.to_string())?;
    let e = explain(&run, channel, row, col).map_err(|e| e.to_string())?;
    Ok(conversions_text(&scenario)
        + &render_text(&e, run.ra.computation.title(), run.rb.computation.title()))
}

/// Across runtimes: the fields the export path changed for one side.
fn conversions_text(sc: &qconv_lens::scenario::Scenario) -> String {
    let list = qconv_lens::convert::conversions(&sc.params, sc.a, sc.b);
    if list.is_empty() {
        return String::new();
    }
    let mut out = "Across runtimes: the later one on the export path runs on the scenario converted as that path does:\n".to_string();
    for c in &list {
        let channel = c.channel.map_or(String::new(), |ch| format!("[{ch}]"));
        let exact = c.exact.map_or(String::new(), |v| format!(" (from {v})"));
        out.push_str(&format!(
            "  {}{channel}: {} -> {}{exact}\n    {}\n    source: {}\n",
            c.field, c.from, c.to, c.rule, c.source
        ));
    }
    out + "\n"
}

fn compare_cmd(args: &[String]) -> Result<String, String> {
    let Opts { scenario, .. } = parse_opts(args)?;
    let run = scenario.run().map_err(|e| e.to_string())?;
    let (oh, ow) = run.shape.output_hw();
    let mut out = conversions_text(&scenario);
    out += &format!(
        "A = {}, B = {}\nkernel A: {}\nkernel B: {}\nA - B per pixel:\n",
        run.ra.computation.title(),
        run.rb.computation.title(),
        run.ra.kernel.why,
        run.rb.kernel.why
    );
    let mut differ = 0;
    for c in 0..run.shape.out_channels {
        out.push_str(&format!("channel {c}\n"));
        for y in 0..oh {
            let cells: Vec<String> = (0..ow)
                .map(|x| {
                    let i = run.shape.output_index(0, c, y, x);
                    match run.out_a[i] - run.out_b[i] {
                        0 => ".".to_string(),
                        d => {
                            differ += 1;
                            format!("{d:+}")
                        }
                    }
                })
                .collect();
            out.push_str(&format!(
                "  {}\n",
                cells.iter().map(|c| format!("{c:>3}")).collect::<String>()
            ));
        }
    }
    out.push_str(&format!("{differ} of {} pixels differ\n", run.out_a.len()));
    Ok(out)
}

const IMPORT_USAGE: &str = "usage: qconv-lens import FILE|- [--preset ID] [--json]
  Read pasted PyTorch printouts (module reprs, int_repr() tensors, weight and
  bias printouts) into a scenario that starts from preset ID (default forum).
  FILE - reads standard input. Prints what was found, the values set (marked
  when printed rounded), notes and the case's link; --json prints the
  scenario as JSON instead. Exit 2 with a line-numbered message when the
  paste cannot be read.";

/// `qconv-lens import FILE|- [--preset ID] [--json]`.
fn import_cmd(args: &[String]) -> ExitCode {
    use qconv_lens::paste;
    let mut file = None;
    let mut preset_id = "forum".to_string();
    let mut json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--preset" => match it.next() {
                Some(v) => preset_id = v.clone(),
                None => {
                    eprintln!("qconv-lens import: --preset needs a value\n{IMPORT_USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{IMPORT_USAGE}");
                return ExitCode::SUCCESS;
            }
            f if file.is_none() && (f == "-" || !f.starts_with('-')) => file = Some(f.to_string()),
            other => {
                eprintln!("qconv-lens import: unexpected argument {other:?}\n{IMPORT_USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(file) = file else {
        eprintln!("{IMPORT_USAGE}");
        return ExitCode::from(2);
    };
    let text = if file == "-" {
        let mut s = String::new();
        match std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            Ok(_) => s,
            Err(e) => {
                eprintln!("qconv-lens import: cannot read stdin: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        match std::fs::read(&file) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                eprintln!("qconv-lens import: cannot read {file}: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let base = match preset(&preset_id) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("qconv-lens import: {e}");
            return ExitCode::from(2);
        }
    };
    let (p, sc, notes) = match paste::import(&text, &base) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("qconv-lens import: {file}: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        let v = serde_json::json!({ "paste": p, "scenario": sc, "notes": notes });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    println!("found:");
    for f in &p.found {
        println!("  {:<12} {} ({})", f.lines.to_string(), f.what, f.why);
    }
    if !p.fields.is_empty() {
        println!("values:");
        for f in &p.fields {
            let how = if f.value.exact {
                "exact".to_string()
            } else {
                format!("printed rounded, +-{}", f.value.half_width)
            };
            println!("  {:<22} {:<22} {how}", f.name, f.value.text);
        }
    }
    if !notes.is_empty() {
        println!("notes:");
        for n in &notes {
            let kind = serde_json::to_value(n.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            println!("  [{kind}] {}", n.message);
        }
    }
    let s = &sc.shape;
    let q = &sc.params;
    let (oh, ow) = s.output_hw();
    println!("scenario:");
    println!(
        "  input {}x{}x{}x{} ({}), weight {}x{}x{}x{}, stride {:?}, padding {:?}, dilation {:?}, groups {}, output {}x{}x{oh}x{ow}",
        s.batch, s.in_channels, s.height, s.width, sc.input.name(),
        s.out_channels, s.in_channels / s.groups, s.kernel[0], s.kernel[1],
        s.stride, s.padding, s.dilation, s.groups, s.batch, s.out_channels
    );
    println!(
        "  input scale {} zp {}; weight scales {:?} zp {:?} ({}); output scale {} zp {}; bias {:?}; relu {}",
        q.input_scale, q.input_zero_point, q.weight_scales, q.weight_zero_points,
        if q.per_channel { "per-channel" } else { "per-tensor" },
        q.output_scale, q.output_zero_point, q.bias, q.relu
    );
    println!("  A = {}, B = {}", sc.a.title(), sc.b.title());
    ExitCode::SUCCESS
}

/// `qconv-lens export [--runtime R] [--preset ID | --link URL | --scenario FILE] [--a COMP] [--b COMP] ...`:
/// the script that reproduces the case in PyTorch, ONNX Runtime or LiteRT.
/// Without `--runtime`: the runtime of A, else of B, else PyTorch.
fn export_cmd(args: &[String]) -> Result<String, String> {
    let mut runtime: Option<String> = None;
    let mut rest = vec![];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--runtime" {
            runtime = Some(
                it.next()
                    .cloned()
                    .ok_or_else(|| "--runtime needs a value".to_string())?,
            );
        } else {
            rest.push(a.clone());
        }
    }
    // The case as explain takes it: --preset, --link (a page link), --a, --cpu, ...
    let sc = parse_opts(&rest)?.scenario;
    use qconv_lens::export::{pytorch_script, runtime_script, Runtime};
    let rt = match runtime.as_deref() {
        Some("pytorch" | "torch") => None,
        Some(r) => Some(Runtime::parse(r).map_err(|e| e.to_string())?),
        None => Runtime::of(sc.a).or_else(|| Runtime::of(sc.b)),
    };
    match rt {
        Some(rt) => runtime_script(&sc, rt),
        None => pytorch_script(&sc),
    }
    .map_err(|e| e.to_string())
}
