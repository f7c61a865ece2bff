//! `qconv-lens`: the engine in a terminal.
//!
//!   qconv-lens verify FILE...                 check golden files bit for bit
//!   qconv-lens explain [--preset ID] [--pixel ROW,COL] [--channel C] [--a COMP] [--b COMP]
//!   qconv-lens presets                        list the presets
use qconv_lens::explain::{explain, render_text};
use qconv_lens::golden::verify_file;
use qconv_lens::requant::Computation;
use qconv_lens::scenario::{preset, PRESETS};
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage:
  qconv-lens verify FILE...
      Check golden files (conv, quantize, observer or module; detected from the
      content) bit for bit. Prints each failing case and 'N passed, M failed'.
      Exit 0 when all pass, 1 when a case fails, 2 when a file cannot be read.
  qconv-lens explain [--preset ID] [--pixel ROW,COL] [--channel C] [--a COMP] [--b COMP]
      Side-by-side trace of one output pixel for two computations
      (default: the forum preset, fbgemm vs the hand calculation, pixel 0,0).
      COMP is fbgemm, qnnpack, float or hand.
  qconv-lens compare [--preset ID] [--a COMP] [--b COMP]
      Every output pixel: A - B per channel ('.' where they agree), and the count.
  qconv-lens presets
      List the presets.";

fn main() -> ExitCode {
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
        Some("presets") => {
            for (id, title) in PRESETS {
                println!("{id:12} {title}");
            }
            ExitCode::SUCCESS
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn verify(files: &[String]) -> ExitCode {
    if files.is_empty() {
        eprintln!("qconv-lens verify: no files given\n{USAGE}");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in files {
        match verify_file(Path::new(f)) {
            Ok((_, outcomes)) => {
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
    let (mut row, mut col, mut channel) = (0usize, 0usize, 0usize);
    let (mut a, mut b) = (None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--preset" => preset_id = value()?,
            "--pixel" => {
                let v = value()?;
                let (r, c) = v
                    .split_once(',')
                    .ok_or_else(|| format!("--pixel takes ROW,COL, got {v:?}"))?;
                row = r.trim().parse().map_err(|_| format!("bad row {r:?}"))?;
                col = c.trim().parse().map_err(|_| format!("bad column {c:?}"))?;
            }
            "--channel" => {
                let v = value()?;
                channel = v.parse().map_err(|_| format!("bad channel {v:?}"))?;
            }
            "--a" => a = Some(Computation::parse(&value()?).map_err(|e| e.to_string())?),
            "--b" => b = Some(Computation::parse(&value()?).map_err(|e| e.to_string())?),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    let mut sc = preset(&preset_id).map_err(|e| e.to_string())?;
    if let Some(a) = a {
        sc.a = a;
    }
    if let Some(b) = b {
        sc.b = b;
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
    Ok(render_text(
        &e,
        run.ra.computation.title(),
        run.rb.computation.title(),
    ))
}

fn compare_cmd(args: &[String]) -> Result<String, String> {
    let Opts { scenario, .. } = parse_opts(args)?;
    let run = scenario.run().map_err(|e| e.to_string())?;
    let (oh, ow) = run.shape.output_hw();
    let mut out = format!(
        "A = {}, B = {}; A - B per pixel:\n",
        run.ra.computation.title(),
        run.rb.computation.title()
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
