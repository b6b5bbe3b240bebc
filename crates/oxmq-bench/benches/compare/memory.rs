//! `--memory`: what a socket and an idle tcp connection cost in resident memory, and whether a
//! ROUTER with many connections (10,000 by default) still moves messages, for oxmq and libzmq.
//!
//! Every measurement runs in child processes of this bench (the same binary with `--child`),
//! one library per process, so that neither library's allocations or threads are counted
//! against the other, and so that the file-descriptor limit (20,000 here) is not shared:
//!
//! - **sockets**: one child makes a context and one DEALER, reads its resident set size (RSS,
//!   `/proc/self/statm`), makes [`SOCKETS`] more DEALERs that it keeps, and reads RSS again.
//! - **connections**: a ROUTER child binds (BACKLOG 4096, so that no connection waits for a
//!   retransmitted SYN), and dealer children (at most [`DEALERS_PER_CHILD`] DEALERs each)
//!   connect one DEALER per connection and send one hello each. The ROUTER reads RSS once
//!   bound and again when every hello has arrived: the difference over the connection count
//!   is the ROUTER side's memory per idle connection, engine and pipes included. The dealer
//!   children then read theirs against what they had before making their DEALERs (a DEALER
//!   socket and its connection together). Then every DEALER sends [`PER_PEER`] messages of 16
//!   bytes, and the ROUTER times their arrival, first to last: its fan-in rate over all the
//!   connections.
//!
//! Children talk to the parent by lines on stdout (`key=value ...`) and stdin (`go`); each
//! socket has a receive timeout, so a stuck child fails instead of hanging.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use oxmq_bench::{Backend, Oxmq, Role, SocketSettings};

use crate::libzmq::Libzmq;

/// DEALERs made by the sockets child.
const SOCKETS: usize = 1_000;
/// The most DEALERs one dealer child makes: under the default MAX_SOCKETS of a context (1023
/// in libzmq and oxmq), and 2,000 of libzmq's descriptors (a mailbox and a connection each).
const DEALERS_PER_CHILD: usize = 1_000;
/// Messages each DEALER sends in the fan-in phase.
const PER_PEER: usize = 20;
/// Size of those messages.
const SIZE: usize = 16;
/// Receive and send timeout of every socket in a child.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Every socket of the memory cases: SNDTIMEO and RCVTIMEO at [`TIMEOUT`].
const SETTINGS: SocketSettings = SocketSettings {
    timeout: Some(TIMEOUT),
    interruptible: false,
};

/// Runs the memory cases for `names` with `connections` connections and prints the table.
pub(crate) fn report(names: &[&str], connections: usize) -> bool {
    println!(
        "memory: RSS growth per socket ({SOCKETS} DEALERs) and per idle tcp connection \
         ({connections} DEALERs to one ROUTER), then the ROUTER's fan-in rate over them \
         ({PER_PEER} messages of {SIZE} B per DEALER)"
    );
    let mut rows: Vec<(String, Vec<Option<f64>>)> = vec![
        ("bytes per socket".into(), Vec::new()),
        ("bytes per connection, ROUTER side".into(), Vec::new()),
        ("bytes per DEALER + connection".into(), Vec::new()),
        ("ROUTER fan-in msg/s".into(), Vec::new()),
        ("connect + hello, s".into(), Vec::new()),
    ];
    let mut ok = true;
    for name in names {
        eprintln!("[memory] {name}: sockets");
        let socket = match sockets_case(name) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("compare: memory {name}: {e}");
                ok = false;
                None
            }
        };
        rows[0].1.push(socket);
        eprintln!("[memory] {name}: {connections} connections");
        match connections_case(name, connections) {
            Ok(c) => {
                rows[1].1.push(Some(c.router_per_conn));
                rows[2].1.push(Some(c.dealer_per_conn));
                rows[3].1.push(Some(c.fan_in));
                rows[4].1.push(Some(c.setup_s));
            }
            Err(e) => {
                eprintln!("compare: memory {name}: {e}");
                ok = false;
                for row in &mut rows[1..] {
                    row.1.push(None);
                }
            }
        }
    }
    let ratio = crate::print_header("", 34, names, 12);
    for (label, cells) in &rows {
        print!("| {label:<34} |");
        for c in cells {
            match c {
                Some(v) if *v >= 100.0 => print!(" {v:>12.0} |"),
                Some(v) => print!(" {v:>12.2} |"),
                None => print!(" {:>12} |", "failed"),
            }
        }
        if ratio {
            match (cells[0], cells[1]) {
                (Some(a), Some(b)) if b > 0.0 => print!(" {:>11.2}x |", a / b),
                _ => print!(" {:>12} |", "-"),
            }
        }
        println!();
    }
    ok
}

/// Bytes of RSS per DEALER socket.
fn sockets_case(name: &str) -> Result<f64, String> {
    let mut child = spawn(name, &["sockets", &SOCKETS.to_string()])?;
    let line = child.line("sockets")?;
    child.wait()?;
    let (before, after) = (line.get("rss_before")?, line.get("rss_after")?);
    Ok((after - before) / SOCKETS as f64)
}

struct Connections {
    router_per_conn: f64,
    dealer_per_conn: f64,
    fan_in: f64,
    setup_s: f64,
}

fn connections_case(name: &str, n: usize) -> Result<Connections, String> {
    let started = Instant::now();
    let mut router = spawn(name, &["router", &n.to_string(), &PER_PEER.to_string()])?;
    let endpoint = router.line("bound")?.text("endpoint")?;
    let mut dealers = Vec::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(DEALERS_PER_CHILD);
        dealers.push(spawn(name, &["dealers", &k.to_string(), &endpoint])?);
        left -= k;
    }
    let ready = router.line("ready")?;
    let setup_s = started.elapsed().as_secs_f64();
    let mut dealer_bytes = 0.0;
    for d in &mut dealers {
        d.say("measure")?;
        let l = d.line("connected")?;
        dealer_bytes += l.get("rss_after")? - l.get("rss_before")?;
    }
    for d in &mut dealers {
        d.say("go")?;
    }
    let done = router.line("received")?;
    router.wait()?;
    for d in &mut dealers {
        d.say("quit")?;
        d.wait()?;
    }
    let per_sec = done.get("count")? / done.get("elapsed_s")?;
    Ok(Connections {
        router_per_conn: (ready.get("rss_after")? - ready.get("rss_before")?) / n as f64,
        dealer_per_conn: dealer_bytes / n as f64,
        fan_in: per_sec,
        setup_s,
    })
}

/// A child process of this bench and its pipes.
struct Kid {
    child: Child,
    out: BufReader<ChildStdout>,
    input: Option<ChildStdin>,
    what: String,
}

/// One `tag key=value ...` line from a child.
struct Line {
    fields: Vec<(String, String)>,
    what: String,
}

impl Line {
    fn text(&self, key: &str) -> Result<String, String> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("{}: no {key} in its report", self.what))
    }

    fn get(&self, key: &str) -> Result<f64, String> {
        let v = self.text(key)?;
        v.parse()
            .map_err(|_| format!("{}: {key}={v} is not a number", self.what))
    }
}

fn spawn(name: &str, args: &[&str]) -> Result<Kid, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(exe)
        .arg("--child")
        .arg(name)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning a child: {e}"))?;
    let out = BufReader::new(child.stdout.take().ok_or("no child stdout")?);
    let input = child.stdin.take();
    Ok(Kid {
        child,
        out,
        input,
        what: format!("{name} {}", args.join(" ")),
    })
}

impl Kid {
    /// The next line, which must start with `tag`.
    fn line(&mut self, tag: &str) -> Result<Line, String> {
        let mut text = String::new();
        let n = self
            .out
            .read_line(&mut text)
            .map_err(|e| format!("{}: {e}", self.what))?;
        if n == 0 {
            return Err(format!("{}: exited before reporting {tag}", self.what));
        }
        let mut words = text.split_whitespace();
        if words.next() != Some(tag) {
            return Err(format!("{}: expected {tag}, got {text:?}", self.what));
        }
        let fields = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(Line {
            fields,
            what: self.what.clone(),
        })
    }

    fn say(&mut self, word: &str) -> Result<(), String> {
        let input = self.input.as_mut().ok_or("child stdin closed")?;
        writeln!(input, "{word}")
            .and_then(|()| input.flush())
            .map_err(|e| format!("{}: {e}", self.what))
    }

    fn wait(&mut self) -> Result<(), String> {
        drop(self.input.take());
        let status = self
            .child
            .wait()
            .map_err(|e| format!("{}: {e}", self.what))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{}: {status}", self.what))
        }
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        // A failed case leaves children behind otherwise.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The child side: `--child LIB sockets N | router N K | dealers N ENDPOINT`.
pub(crate) fn child(args: &[String]) -> Result<(), String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.first() {
        Some(&Oxmq::NAME) => child_of::<Oxmq>(&words[1..]),
        Some(&Libzmq::NAME) => child_of::<Libzmq>(&words[1..]),
        _ => Err(format!("--child: unknown library in {words:?}")),
    }
}

fn child_of<B: Backend>(words: &[&str]) -> Result<(), String> {
    let num = |i: usize| -> Result<usize, String> {
        words
            .get(i)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("--child: a number expected at {i} in {words:?}"))
    };
    let e = |e: B::Error| e.to_string();
    match words.first() {
        Some(&"sockets") => {
            let n = num(1)?;
            let ctx = B::context().map_err(e)?;
            let first = B::socket(&ctx, Role::Dealer, SETTINGS).map_err(e)?;
            let before = rss()?;
            let mut keep = Vec::with_capacity(n);
            for _ in 0..n {
                keep.push(B::socket(&ctx, Role::Dealer, SETTINGS).map_err(e)?);
            }
            let after = rss()?;
            println!("sockets rss_before={before} rss_after={after}");
            drop((keep, first));
            Ok(())
        }
        Some(&"router") => {
            let (n, per_peer) = (num(1)?, num(2)?);
            let ctx = B::context().map_err(e)?;
            let mut router = B::socket(&ctx, Role::Router, SETTINGS).map_err(e)?;
            B::set_backlog(&mut router, 4096).map_err(e)?;
            let endpoint = B::bind(&mut router, "tcp://127.0.0.1:*").map_err(e)?;
            let before = rss()?;
            println!("bound endpoint={endpoint}");
            for _ in 0..n {
                B::recv(&mut router).map_err(e)?; // routing id
                B::recv(&mut router).map_err(e)?; // hello
            }
            let after = rss()?;
            println!("ready rss_before={before} rss_after={after}");
            let total = n * per_peer;
            B::recv(&mut router).map_err(e)?;
            B::recv(&mut router).map_err(e)?;
            let start = Instant::now();
            for _ in 1..total {
                B::recv(&mut router).map_err(e)?;
                B::recv(&mut router).map_err(e)?;
            }
            let elapsed = start.elapsed().as_secs_f64();
            println!("received count={} elapsed_s={elapsed}", total - 1);
            Ok(())
        }
        Some(&"dealers") => {
            let n = num(1)?;
            let endpoint = words.get(2).ok_or("--child dealers: no endpoint")?;
            let ctx = B::context().map_err(e)?;
            let before = rss()?;
            let body = [0x5a_u8; SIZE];
            let mut dealers = Vec::with_capacity(n);
            for _ in 0..n {
                let mut d = B::socket(&ctx, Role::Dealer, SETTINGS).map_err(e)?;
                B::connect(&mut d, endpoint).map_err(e)?;
                B::send(&mut d, &body).map_err(e)?;
                dealers.push(d);
            }
            // Every connection is up once the ROUTER has every hello: the parent says when.
            let mut stdin = std::io::stdin().lock();
            let mut word = String::new();
            stdin.read_line(&mut word).map_err(|e| e.to_string())?;
            let after = rss()?;
            println!("connected rss_before={before} rss_after={after}");
            word.clear();
            stdin.read_line(&mut word).map_err(|e| e.to_string())?;
            if word.trim() == "go" {
                for _ in 0..PER_PEER {
                    for d in &mut dealers {
                        B::send(d, &body).map_err(e)?;
                    }
                }
            }
            // Keep the connections until the parent has the ROUTER's figures.
            word.clear();
            let _ = stdin.read_line(&mut word);
            drop(dealers);
            Ok(())
        }
        _ => Err(format!("--child: unknown case in {words:?}")),
    }
}

/// The process's resident set size in bytes (`VmRSS` of `/proc/self/status`).
fn rss() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| "no VmRSS in /proc/self/status".to_owned())
}
