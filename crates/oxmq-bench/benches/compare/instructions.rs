//! `--instructions`: instructions per message, counted by `valgrind --tool=callgrind`, for oxmq
//! and libzmq side by side. Counts stay put on a noisy shared machine where times do not.
//!
//! Each case runs twice per library under callgrind, as a child process of this bench (the
//! same binary, `--bench --runs 1 --only LIB --count N LABEL`), with `count` and `5 * count`
//! messages; the difference of the two totals over the difference of the counts is what one
//! more message costs, with set-up, connection and tear-down cancelled out. Every thread of
//! the process is counted: the sender, the receiver and the I/O threads of both libraries.
//! Callgrind runs one thread at a time, so batch sizes differ from a native run; they differ
//! in the same way for both libraries.

use std::path::Path;
use std::process::Command;

use oxmq_bench::{Kind, Spec, Transport};

/// The cases measured when no filter is given: the 16-byte ones the issue names.
pub(crate) const DEFAULT_CASES: [&str; 4] = [
    "thr inproc 16 B",
    "thr tcp 16 B",
    "lat inproc 16 B",
    "lat tcp 16 B",
];

/// Messages (or round trips) of the shorter of a case's two runs: fewer for large messages,
/// whose copies callgrind runs slowly (a 64 KiB case gets 1/64 of a 1 KiB one's).
fn base_count(spec: &Spec) -> u64 {
    let kib = (spec.size / 1024).max(1) as u64;
    (unscaled_count(spec) / kib).max(200)
}

fn unscaled_count(spec: &Spec) -> u64 {
    match (spec.kind, spec.transport) {
        (Kind::Throughput, Transport::Inproc) => 40_000,
        (Kind::Throughput, _) => 20_000,
        (Kind::Latency, _) => 1_000,
        (Kind::Fanout { subscribers }, _) => (20_000 / subscribers.max(1) as u64).max(100),
        (Kind::Routed { peers }, _) => (20 * peers as u64).max(2_000),
    }
}

/// One library's figure for one case.
pub(crate) struct Count {
    /// What one more message (or round trip) costs, all threads together.
    per_message: f64,
}

/// Counts `spec` under callgrind for the library `name`.
fn measure(spec: &Spec, name: &str, scratch: &Path) -> Result<Count, String> {
    let n1 = base_count(spec);
    let n2 = 5 * n1;
    let i1 = run(spec, name, n1, scratch)?;
    let i2 = run(spec, name, n2, scratch)?;
    Ok(Count {
        per_message: i2.saturating_sub(i1) as f64 / (n2 - n1) as f64,
    })
}

/// Total instructions of one child run of `count` messages.
fn run(spec: &Spec, name: &str, count: u64, scratch: &Path) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = scratch.join(format!("callgrind.{name}.{count}.out"));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--quiet")
        .arg(exe)
        .args(["--bench", "--runs", "1", "--only", name, "--count"])
        .arg(count.to_string())
        .arg(spec.label())
        .output()
        .map_err(|e| format!("cannot start valgrind ({e}): apt-get install valgrind"))?;
    if !output.status.success() {
        return Err(format!(
            "{} {name} x{count}: {}\n{}",
            spec.label(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    total(&text).ok_or_else(|| format!("{}: no totals line", out.display()))
}

/// The `totals:` (or `summary:`) line of a callgrind output file: instructions of the run.
fn total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Prints the table for `specs`, oxmq and libzmq per row with their ratio.
pub(crate) fn report(specs: &[Spec], names: &[&str]) -> bool {
    let scratch = std::env::temp_dir().join(format!("oxmq-instr-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&scratch) {
        eprintln!("compare: {}: {e}", scratch.display());
        return false;
    }
    println!("instructions per message (callgrind; whole process, all threads)");
    let ratio = crate::print_header("case", 24, names, 14);
    let mut ok = true;
    for spec in specs {
        let mut cells = Vec::new();
        for name in names {
            eprintln!("[instructions] {} {name}", spec.label());
            match measure(spec, name, &scratch) {
                Ok(c) => cells.push(Some(c)),
                Err(e) => {
                    eprintln!("compare: {e}");
                    ok = false;
                    cells.push(None);
                }
            }
        }
        print!("| {:<24} |", spec.label());
        for c in &cells {
            match c {
                Some(c) => print!(" {:>14.0} |", c.per_message),
                None => print!(" {:>14} |", "failed"),
            }
        }
        if ratio {
            match (&cells[0], &cells[1]) {
                (Some(a), Some(b)) if b.per_message > 0.0 => {
                    print!(" {:>11.2}x |", a.per_message / b.per_message)
                }
                _ => print!(" {:>12} |", "-"),
            }
        }
        println!();
    }
    let _ = std::fs::remove_dir_all(&scratch);
    ok
}
