//! `cargo bench -p oxmq-bench`: every default case against oxmq and libzmq in one run, with
//! ratios.
//!
//! Arguments (after `--`): `--runs N` (default 5), `--only oxmq|libzmq` (one library, for
//! profiling), `--count N` (messages or round trips per case instead of the defaults),
//! `--instructions` (instructions per message under callgrind instead of times: see
//! `instructions.rs`; the 16-byte inproc and tcp cases unless filters say otherwise),
//! `--pin` (each side of a case on a CPU of its own, the binding side on the first CPU, the
//! connecting side on the second, as `taskset` does for libzmq's perf tools; see
//! `Spec::pinned`), `--plot FILE` (also write the report as an SVG bar chart of oxmq's speed relative to
//! libzmq per case), `--memory [--connections N]` (memory per socket and per idle tcp connection, and a ROUTER's
//! fan-in over N connections, default 10,000: see `memory.rs`), and filters that keep only the cases whose label holds one of them as whole
//! words (`thr`, `ipc`, `fanout`, `"thr tcp 16 B"`, `x10`, `thr-curve`, ...; see
//! `Spec::matches`). When the linked libzmq lacks CURVE, its CURVE cells are skipped (the
//! report says so) and the run does not fail for it.
//! Without `--bench`, which `cargo bench` passes, it runs each case once with a handful of
//! messages, as a smoke test (that is what `cargo test --benches` does); a smoke run that
//! takes longer than `SMOKE_DEADLINE` fails instead of hanging.

use std::process::ExitCode;
use std::time::Duration;

use oxmq_bench::{
    can_pin, default_specs, machine_summary, placement_summary, run_suite, Backend, Contender,
    Oxmq, Progress,
};

mod instructions;
mod libzmq;
mod memory;

use libzmq::Libzmq;

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.first().map(String::as_str) == Some("--child") {
        return match memory::child(&raw[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("compare --child: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let args = match Args::parse(raw.into_iter()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("compare: {e}");
            return ExitCode::from(2);
        }
    };
    let mut specs = default_specs();
    let filters = if args.instructions && args.filters.is_empty() {
        instructions::DEFAULT_CASES.map(str::to_owned).to_vec()
    } else {
        args.filters.clone()
    };
    if !filters.is_empty() {
        specs.retain(|s| filters.iter().any(|f| s.matches(f)));
    }
    if let Some(count) = args.count {
        for spec in &mut specs {
            spec.count = count;
        }
    }
    if args.pin {
        if !can_pin() {
            eprintln!("compare: --pin needs two CPUs this process may run on");
            return ExitCode::from(2);
        }
        for spec in &mut specs {
            spec.pinned = true;
        }
    }
    // The modes that count rather than time: each library in child processes of its own.
    if args.memory.is_some() || args.instructions {
        let mut names = vec![Oxmq::NAME, Libzmq::NAME];
        if let Some(only) = &args.only {
            names.retain(|n| n == only);
        }
        println!("{}", machine_summary());
        let ok = match args.memory {
            Some(connections) => memory::report(&names, connections),
            None => instructions::report(&specs, &names),
        };
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if !args.bench {
        for spec in &mut specs {
            spec.count = spec.count.min(SMOKE_COUNT);
            spec.timeout = Some(SMOKE_TIMEOUT);
        }
    }
    let runs = if args.bench { args.runs } else { 1 };
    if !args.bench {
        // Every socket has a timeout, but a case can still wait on something else (a thread
        // join, a context termination): the watchdog turns a hang into a failure.
        std::thread::spawn(|| {
            std::thread::sleep(SMOKE_DEADLINE);
            eprintln!("compare: smoke run still going after {SMOKE_DEADLINE:?}: hung");
            std::process::exit(3);
        });
    }
    let (major, minor, patch) = zmq::version();
    println!("{}", machine_summary());
    // zmq-sys builds libzmq from source without CURVE, unless its build script is overridden
    // to link another libzmq (see docs/BENCHMARKS.md): say which kind this one is.
    let curve = if libzmq::has_curve() {
        "with"
    } else {
        "without"
    };
    println!(
        "libzmq {major}.{minor}.{patch} ({curve} CURVE), oxmq {}",
        env!("CARGO_PKG_VERSION")
    );
    println!("{}", placement_summary(args.pin));
    if !args.bench {
        println!("smoke run: {SMOKE_COUNT} messages per case; `cargo bench` measures");
    }
    let runs_libzmq = args.only.as_deref().is_none_or(|only| only == Libzmq::NAME);
    if runs_libzmq && !libzmq::has_curve() && specs.iter().any(|s| s.curve().is_some()) {
        println!(
            "note: this libzmq has no CURVE (zmq_has(\"curve\") is 0): its CURVE cells are \
             skipped, oxmq's are measured alone"
        );
    }
    let mut contenders = vec![Contender::of::<Oxmq>(), Contender::of::<Libzmq>()];
    if let Some(only) = &args.only {
        contenders.retain(|c| c.name == only.as_str());
    }
    let mut progress = |p: &Progress<'_>| {
        eprintln!(
            "[{}/{}] {} run {}/{}: {}",
            p.case + 1,
            p.cases,
            p.spec.label(),
            p.run + 1,
            p.runs,
            p.contender
        );
    };
    let report = run_suite(&specs, &contenders, runs, &mut progress);
    println!("\n{report}");
    if args.bench {
        loopback_table(&report, runs);
    }
    if let Some(path) = &args.plot {
        // cargo runs a bench in its package's directory: a relative path is taken from the
        // workspace's root instead, where `cargo bench` is usually typed.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = root.join(path);
        match report.write_svg(&path, "cargo bench -p oxmq-bench") {
            Ok(()) => println!("plot: {}", path.display()),
            Err(e) => {
                eprintln!("compare: --plot {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if report.failures().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// For the large-message throughput cases over tcp and ipc: the same transfer over a plain
/// blocking socket pair (`oxmq_bench::loopback`), and each library's share of it.
fn loopback_table(report: &oxmq_bench::Report, runs: usize) {
    use oxmq_bench::{format_size, Kind, Summary, Transport};
    let rows: Vec<_> = report
        .rows()
        .iter()
        .filter(|r| {
            r.spec().kind == Kind::Throughput
                && r.spec().curve().is_none()
                && r.spec().transport != Transport::Inproc
                && r.spec().size >= 8192
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    println!("\nloopback: the same transfer over a plain blocking socket pair, median of {runs}");
    print!("| {:<16} | {:>22} |", "case", "socket pair MB/s");
    for name in report.contenders() {
        print!(" {:>16} |", format!("{name} share"));
    }
    println!();
    print!("|:{}|{}:|", "-".repeat(17), "-".repeat(23));
    for _ in report.contenders() {
        print!("{}:|", "-".repeat(17));
    }
    println!();
    for row in rows {
        let spec = row.spec();
        eprintln!("[loopback] {} {}", spec.transport, format_size(spec.size));
        let rates: Vec<f64> = (0..runs)
            .filter_map(|_| oxmq_bench::loopback(spec.transport, spec.size, spec.count).ok())
            .map(|m| m.per_sec())
            .collect();
        let Some(base) = Summary::of(&rates) else {
            println!("| {:<16} | {:>22} |", spec.label(), "failed");
            continue;
        };
        let mb = |v: f64| v * spec.size as f64 / 1e6;
        print!(
            "| {:<16} | {:>22} |",
            spec.label(),
            format!(
                "{:.0} [{:.0}-{:.0}]",
                mb(base.median),
                mb(base.min),
                mb(base.max)
            )
        );
        for i in 0..report.contenders().len() {
            match row.per_sec(i) {
                Some(s) => print!(" {:>15.0}% |", 100.0 * s.median / base.median),
                None => print!(" {:>16} |", "-"),
            }
        }
        println!();
    }
}

/// Prints a Markdown table's header: `first` over a column `width` wide, a column `cell` wide
/// per name, and a `first/second` ratio column when there are two names (the return value).
fn print_header(first: &str, width: usize, names: &[&str], cell: usize) -> bool {
    print!("| {first:<width$} |");
    for name in names {
        print!(" {name:>cell$} |");
    }
    let ratio = names.len() == 2;
    if ratio {
        print!(" {:>12} |", format!("{}/{}", names[0], names[1]));
    }
    println!();
    print!("|:{}|", "-".repeat(width + 1));
    for _ in names {
        print!("{}:|", "-".repeat(cell + 1));
    }
    if ratio {
        print!("{}:|", "-".repeat(13));
    }
    println!();
    ratio
}

struct Args {
    bench: bool,
    instructions: bool,
    /// `--plot FILE`: the report as an SVG bar chart.
    plot: Option<String>,
    /// `--memory`: the connection count of the memory cases.
    memory: Option<usize>,
    count: Option<u64>,
    runs: usize,
    only: Option<String>,
    /// `--pin`: each side of a case on a CPU of its own.
    pin: bool,
    filters: Vec<String>,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut parsed = Args {
            bench: false,
            instructions: false,
            plot: None,
            memory: None,
            count: None,
            runs: DEFAULT_RUNS,
            only: None,
            pin: false,
            filters: Vec::new(),
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => parsed.bench = true,
                "--instructions" => parsed.instructions = true,
                "--pin" => parsed.pin = true,
                "--plot" => parsed.plot = Some(args.next().ok_or("--plot needs a file name")?),
                "--memory" => parsed.memory = Some(parsed.memory.unwrap_or(DEFAULT_CONNECTIONS)),
                "--connections" => {
                    let n = args.next().ok_or("--connections needs a number")?;
                    let n = n
                        .parse()
                        .map_err(|_| format!("--connections: not a number: {n:?}"))?;
                    parsed.memory = Some(n);
                }
                "--count" => {
                    let n = args.next().ok_or("--count needs a number")?;
                    let n = n
                        .parse()
                        .map_err(|_| format!("--count: not a number: {n:?}"))?;
                    if n < 2 {
                        return Err(
                            "--count: at least 2 (the first message starts the clock)".into()
                        );
                    }
                    parsed.count = Some(n);
                }
                "--runs" => {
                    let n = args.next().ok_or("--runs needs a number")?;
                    parsed.runs = n
                        .parse()
                        .map_err(|_| format!("--runs: not a number: {n:?}"))?;
                }
                "--only" => {
                    let name = args.next().ok_or("--only needs oxmq or libzmq")?;
                    if name != Oxmq::NAME && name != Libzmq::NAME {
                        return Err(format!("--only: expected oxmq or libzmq, got {name:?}"));
                    }
                    parsed.only = Some(name);
                }
                // Flags libtest would take (`cargo bench -- --nocapture`): nothing to do.
                other if other.starts_with("--") => {}
                filter => parsed.filters.push(filter.to_owned()),
            }
        }
        Ok(parsed)
    }
}

/// Connections of the `--memory` cases unless `--connections N` says otherwise.
const DEFAULT_CONNECTIONS: usize = 10_000;
/// Runs per case and contender: enough for a median and a range, few enough for the whole
/// bench to finish in a couple of minutes on 2 cores.
const DEFAULT_RUNS: usize = 5;
/// Messages or round trips per case in a smoke run.
const SMOKE_COUNT: u64 = 200;
/// A smoke run fails instead of hanging when a peer breaks.
const SMOKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a whole smoke run may take (it takes a few seconds).
const SMOKE_DEADLINE: Duration = Duration::from_secs(120);
