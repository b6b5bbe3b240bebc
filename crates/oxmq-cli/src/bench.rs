//! `oxmq bench`: oxmq's own benchmark cases (the oxmq half of `cargo bench -p oxmq-bench`):
//! PUSH/PULL throughput (also over CURVE), REQ/REP latency, PUB/SUB fan-out and ROUTER/DEALER
//! with many peers.
//!
//! The table goes to stdout; progress goes to stderr, as a spinner on a terminal and as one
//! line per run otherwise.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use oxmq_bench::{
    can_pin, default_count, default_curve_count, machine_summary, placement_summary, run_suite,
    BoxError, Contender, Kind, Oxmq, Progress, Spec, Transport, CURVE_SIZES,
};

/// Options of `oxmq bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Which cases, comma separated or repeated: thr (PUSH/PULL), thr-curve (PUSH/PULL over
    /// CURVE), lat (REQ/REP), fanout (PUB/SUB), router (ROUTER/DEALER) [default: thr,lat].
    #[arg(long, value_enum, value_delimiter = ',')]
    case: Vec<CaseArg>,
    /// Message sizes in bytes, comma separated or repeated [default: 16,256,1024,65536 for
    /// thr, 16,1024,65536 for thr-curve, 16 for lat, 16,1024 for fanout and router].
    #[arg(long, value_delimiter = ',')]
    size: Vec<usize>,
    /// Fan-out only: subscriber counts, comma separated or repeated; one case per count
    /// [default: 1,10,100].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    subscribers: Vec<u32>,
    /// Router only: DEALER counts, comma separated or repeated; one case per count
    /// [default: 100].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    peers: Vec<u32>,
    /// Messages per throughput run, round trips per latency run, messages published (each to
    /// every subscriber) per fan-out run, messages echoed (over all peers) per router run
    /// [default: by case, transport and size, about a
    /// second of work per run].
    #[arg(long)]
    count: Option<u64>,
    /// Transport.
    #[arg(long, value_enum, default_value_t = TransportArg::Tcp)]
    transport: TransportArg,
    /// Runs per case; the table shows the median and the range.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Each side of a case on a CPU of its own: the binding socket's threads (application and
    /// I/O) on the first CPU this process may use, the connecting sockets' on the second, as
    /// `taskset -c 0` and `taskset -c 1` do for two processes. Unpinned, the scheduler's first
    /// placement of a stream's threads decides its small-message rate.
    #[arg(long)]
    pin: bool,
    /// Sockets whose blocking calls a signal ends with EINTR, as libzmq's and oxmq's C ABI's
    /// are: a wait that finds no work in its first microseconds then holds the thread's
    /// signals, and sleeps in ppoll(2). The Rust API with the C ABI's semantics, for comparing
    /// the two.
    #[arg(long)]
    interruptible: bool,
    /// Also write the results as an SVG bar chart (median rate per case, log scale).
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CaseArg {
    /// PUSH/PULL throughput, msg/s.
    Thr,
    /// PUSH/PULL throughput over CURVE (PULL the server), msg/s; tcp or ipc.
    ThrCurve,
    /// REQ/REP round-trip latency, µs.
    Lat,
    /// One PUB to N SUBs (--subscribers), deliveries/s summed over the subscribers.
    Fanout,
    /// N DEALERs (--peers) to one ROUTER that echoes, messages echoed per second.
    Router,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportArg {
    /// TCP over 127.0.0.1.
    Tcp,
    /// Unix domain sockets.
    Ipc,
    /// In-process.
    Inproc,
}

/// Runs the selected cases and prints the table.
pub(crate) fn run(args: &BenchArgs) -> Result<(), BoxError> {
    let specs = specs(args)?;
    println!("{}", machine_summary());
    println!("oxmq {}", env!("CARGO_PKG_VERSION"));
    println!("{}", placement_summary(args.pin));
    if args.interruptible {
        println!("waits: interruptible, as through the C ABI (a signal ends them with EINTR)");
    }
    let spinner = Spinner::start(std::io::stderr().is_terminal());
    let mut progress = |p: &Progress<'_>| {
        spinner.set(format!(
            "[{}/{}] {} run {}/{}",
            p.case + 1,
            p.cases,
            p.spec.label(),
            p.run + 1,
            p.runs
        ));
    };
    let report = run_suite(&specs, &[Contender::of::<Oxmq>()], args.runs, &mut progress);
    spinner.stop();
    println!("\n{report}");
    if let Some(path) = &args.plot {
        report
            .write_svg(path, "oxmq bench")
            .map_err(|e| format!("--plot {}: {e}", path.display()))?;
        println!("plot: {}", path.display());
    }
    match report.failures() {
        [] => Ok(()),
        [only] if specs.len() == 1 => Err(format!("{}", only.error).into()),
        failures => Err(format!("{} case(s) failed", failures.len()).into()),
    }
}

fn specs(args: &BenchArgs) -> Result<Vec<Spec>, String> {
    let transport = match args.transport {
        TransportArg::Tcp => Transport::Tcp,
        TransportArg::Ipc => Transport::Ipc,
        TransportArg::Inproc => Transport::Inproc,
    };
    let cases = if args.case.is_empty() {
        vec![CaseArg::Thr, CaseArg::Lat]
    } else {
        args.case.clone()
    };
    if args.pin && !can_pin() {
        return Err("--pin needs two CPUs this process may run on".to_owned());
    }
    // inproc has no handshake, so no mechanism: a CURVE case there would measure NULL.
    if transport == Transport::Inproc && cases.contains(&CaseArg::ThrCurve) {
        return Err("thr-curve needs --transport tcp or ipc (inproc has no security)".to_owned());
    }
    let subscribers: Vec<usize> = if args.subscribers.is_empty() {
        vec![1, 10, 100]
    } else {
        args.subscribers.iter().map(|&n| n as usize).collect()
    };
    let peers: Vec<usize> = if args.peers.is_empty() {
        vec![oxmq_bench::ROUTED_PEERS]
    } else {
        args.peers.iter().map(|&n| n as usize).collect()
    };
    let mut specs = Vec::new();
    for case in cases {
        let (kinds, default_sizes): (Vec<Kind>, &[usize]) = match case {
            CaseArg::Thr => (vec![Kind::Throughput], &[16, 256, 1024, 65536]),
            CaseArg::ThrCurve => (vec![Kind::Throughput], &CURVE_SIZES),
            CaseArg::Lat => (vec![Kind::Latency], &[16]),
            CaseArg::Fanout => (
                subscribers
                    .iter()
                    .map(|&subscribers| Kind::Fanout { subscribers })
                    .collect(),
                &[16, 1024],
            ),
            CaseArg::Router => (
                peers.iter().map(|&peers| Kind::Routed { peers }).collect(),
                &[16, 1024],
            ),
        };
        let sizes = if args.size.is_empty() {
            default_sizes
        } else {
            &args.size
        };
        for kind in kinds {
            for &size in sizes {
                let count = args.count.unwrap_or_else(|| match case {
                    CaseArg::ThrCurve => default_curve_count(size),
                    CaseArg::Thr | CaseArg::Lat | CaseArg::Fanout | CaseArg::Router => {
                        default_count(kind, transport, size)
                    }
                });
                let spec = match kind {
                    Kind::Throughput if case == CaseArg::ThrCurve => {
                        Spec::throughput_curve(transport, size, count)
                    }
                    Kind::Throughput => Spec::throughput(transport, size, count),
                    Kind::Latency => Spec::latency(transport, size, count),
                    Kind::Fanout { subscribers } => {
                        Spec::fanout(transport, size, count, subscribers)
                    }
                    Kind::Routed { peers } => Spec::routed(transport, size, count, peers),
                };
                let spec = if args.pin { spec.pinned() } else { spec };
                specs.push(if args.interruptible {
                    spec.interruptible()
                } else {
                    spec
                });
            }
        }
    }
    Ok(specs)
}

/// Progress on stderr: a spinner redrawn by its own thread on a terminal (it wakes ten times
/// a second, far too rarely to disturb a measurement), plain lines otherwise.
struct Spinner {
    status: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Spinner {
    fn start(terminal: bool) -> Spinner {
        let status = Arc::new(Mutex::new(String::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = terminal.then(|| {
            let (status, stop) = (Arc::clone(&status), Arc::clone(&stop));
            thread::spawn(move || draw(&status, &stop))
        });
        Spinner {
            status,
            stop,
            thread,
        }
    }

    fn set(&self, status: String) {
        if self.thread.is_none() {
            eprintln!("{status}");
        }
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = status;
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn draw(status: &Mutex<String>, stop: &AtomicBool) {
    const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
    let start = Instant::now();
    let mut stderr = std::io::stderr();
    let mut frame = 0;
    while !stop.load(Ordering::Relaxed) {
        let line = status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let _ = write!(
            stderr,
            "\r\x1b[2K{} {line} ({:.0} s)",
            FRAMES[frame % FRAMES.len()],
            start.elapsed().as_secs_f64()
        );
        let _ = stderr.flush();
        frame += 1;
        thread::sleep(Duration::from_millis(100));
    }
    let _ = write!(stderr, "\r\x1b[2K");
    let _ = stderr.flush();
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn specs_of(argv: &[&str]) -> Vec<Spec> {
        let cli = Cli::try_parse_from(argv).expect("valid arguments");
        let Command::Bench(args) = cli.command else {
            panic!("not a bench command: {argv:?}");
        };
        specs(&args).expect("valid cases")
    }

    #[test]
    fn default_cases() {
        let labels: Vec<String> = specs_of(&["oxmq", "bench"])
            .iter()
            .map(Spec::label)
            .collect();
        assert_eq!(
            labels,
            [
                "thr tcp 16 B",
                "thr tcp 256 B",
                "thr tcp 1 KiB",
                "thr tcp 64 KiB",
                "lat tcp 16 B"
            ]
        );
    }

    #[test]
    fn options_select_cases() {
        let specs = specs_of(&[
            "oxmq", "bench", "--case", "lat", "--size", "16,1024", "--count", "7",
        ]);
        assert_eq!(specs.len(), 2);
        assert!(specs
            .iter()
            .all(|s| s.kind == Kind::Latency && s.count == 7));
        assert_eq!(specs[1].size, 1024);
        let cli = Cli::try_parse_from(["oxmq", "bench", "--plot", "out.svg"]).expect("parses");
        let Command::Bench(args) = cli.command else {
            panic!("not a bench command")
        };
        assert_eq!(args.plot.as_deref(), Some(std::path::Path::new("out.svg")));
        assert!(specs.iter().all(|s| !s.pinned), "unpinned unless asked");
        assert!(
            specs.iter().all(|s| !s.interruptible),
            "parked waits unless asked"
        );
        let eintr = specs_of(&["oxmq", "bench", "--case", "lat", "--interruptible"]);
        assert!(!eintr.is_empty() && eintr.iter().all(|s| s.interruptible && !s.pinned));
        if oxmq_bench::can_pin() {
            let pinned = specs_of(&["oxmq", "bench", "--case", "thr,fanout", "--pin"]);
            assert!(pinned.len() > 2 && pinned.iter().all(|s| s.pinned));
        }
    }

    #[test]
    fn fanout_from_the_command_line() {
        let labels: Vec<String> = specs_of(&[
            "oxmq",
            "bench",
            "--case",
            "fanout",
            "--subscribers",
            "10",
            "--transport",
            "inproc",
        ])
        .iter()
        .map(Spec::label)
        .collect();
        assert_eq!(
            labels,
            ["fanout inproc 16 B x10", "fanout inproc 1 KiB x10"]
        );
        let specs = specs_of(&["oxmq", "bench", "--case", "fanout", "--size", "64"]);
        let subscribers: Vec<Kind> = specs.iter().map(|s| s.kind).collect();
        assert_eq!(
            subscribers,
            [1, 10, 100].map(|subscribers| Kind::Fanout { subscribers })
        );
        let cli = Cli::try_parse_from(["oxmq", "bench", "--case", "fanout", "--subscribers", "0"]);
        assert!(cli.is_err(), "0 subscribers is refused");
    }

    #[test]
    fn router_from_the_command_line() {
        let labels: Vec<String> = specs_of(&["oxmq", "bench", "--case", "router"])
            .iter()
            .map(Spec::label)
            .collect();
        assert_eq!(labels, ["router tcp 16 B x100", "router tcp 1 KiB x100"]);
        let specs = specs_of(&[
            "oxmq", "bench", "--case", "router", "--peers", "3,7", "--size", "64",
        ]);
        let kinds: Vec<Kind> = specs.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [3, 7].map(|peers| Kind::Routed { peers }));
        let cli = Cli::try_parse_from(["oxmq", "bench", "--case", "router", "--peers", "0"]);
        assert!(cli.is_err(), "0 peers is refused");
    }

    #[test]
    fn thr_curve_from_the_command_line() {
        let labels: Vec<String> = specs_of(&["oxmq", "bench", "--case", "thr-curve"])
            .iter()
            .map(Spec::label)
            .collect();
        assert_eq!(
            labels,
            [
                "thr-curve tcp 16 B",
                "thr-curve tcp 1 KiB",
                "thr-curve tcp 64 KiB"
            ]
        );
        let both = specs_of(&[
            "oxmq",
            "bench",
            "--case",
            "thr,thr-curve",
            "--size",
            "256",
            "--transport",
            "ipc",
        ]);
        let curve: Vec<bool> = both.iter().map(|s| s.curve().is_some()).collect();
        assert_eq!(curve, [false, true]);
        assert_eq!(both[1].label(), "thr-curve ipc 256 B");
        assert_eq!(both[1].count, default_curve_count(256));
        let cli = Cli::try_parse_from([
            "oxmq",
            "bench",
            "--case",
            "thr-curve",
            "--transport",
            "inproc",
        ])
        .expect("clap accepts it");
        let Command::Bench(args) = cli.command else {
            panic!("not a bench command");
        };
        assert!(specs(&args).is_err(), "CURVE over inproc is refused");
    }

    #[test]
    fn thr_curve_runs_end_to_end() {
        let specs = specs_of(&[
            "oxmq",
            "bench",
            "--case",
            "thr-curve",
            "--count",
            "50",
            "--size",
            "16,65536",
        ]);
        let specs: Vec<Spec> = specs
            .into_iter()
            .map(|s| s.with_timeout(Duration::from_secs(10)))
            .collect();
        let report = run_suite(&specs, &[Contender::of::<Oxmq>()], 1, &mut |_| {});
        assert!(report.failures().is_empty(), "{report}");
        assert!(
            report.to_string().contains("| thr-curve tcp 64 KiB"),
            "{report}"
        );
    }

    #[test]
    fn fanout_runs_end_to_end() {
        let specs = specs_of(&[
            "oxmq",
            "bench",
            "--case",
            "fanout",
            "--subscribers",
            "3",
            "--count",
            "50",
            "--size",
            "16",
        ]);
        let specs: Vec<Spec> = specs
            .into_iter()
            .map(|s| s.with_timeout(Duration::from_secs(10)))
            .collect();
        let report = run_suite(&specs, &[Contender::of::<Oxmq>()], 1, &mut |_| {});
        assert!(report.failures().is_empty(), "{report}");
        let m = report.rows()[0].samples()[0][0];
        assert_eq!((m.count, m.lost), (150, 0), "{report}");
    }

    #[test]
    fn bench_runs_end_to_end() {
        let specs = specs_of(&["oxmq", "bench", "--count", "50", "--size", "16"]);
        let report = run_suite(
            &specs
                .into_iter()
                .map(|s| s.with_timeout(Duration::from_secs(10)))
                .collect::<Vec<_>>(),
            &[Contender::of::<Oxmq>()],
            1,
            &mut |_| {},
        );
        assert!(report.failures().is_empty(), "{report}");
        assert_eq!(report.rows().len(), 2);
    }
}
