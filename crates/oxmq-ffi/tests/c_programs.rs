//! The C programs in `tests/c/`, compiled with the system's C compiler against oxmq's
//! `include/zmq.h` and run on oxmq's `libzmq.so.5`. Where Debian's libzmq (libzmq3-dev: its
//! `/usr/include/zmq.h` and `libzmq.so.5`) is installed, each program is also compiled against
//! that header and run on that library, and all four combinations must print the same thing.
//! `OXMQ_FFI_COMPARE=require` (set by `.ci/run`) makes a missing libzmq3-dev a failure.
//!
//! Also the two-process perf tools in `bench/` (`local_thr`/`remote_thr`,
//! `local_lat`/`remote_lat`), run as pairs over tcp and ipc on oxmq's library.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

const SYSTEM_HEADER_DIR: &str = "/usr/include";
const SYSTEM_LIB: &str = "/usr/lib/x86_64-linux-gnu/libzmq.so.5";

/// The crate's directory.
fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory holding oxmq's library under its soname, `libzmq.so.5`.
fn oxmq_lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // The test binary is target/<profile>/deps/c_programs-<hash>; `cargo test` builds the
        // cdylib next to it (it only copies it up to target/<profile>/ on `cargo build`).
        let exe = std::env::current_exe().expect("test binary path");
        let deps = exe.parent().expect("target/<profile>/deps");
        let built = deps.join("libzmq.so");
        assert!(built.exists(), "{} was not built", built.display());
        let dir = std::env::temp_dir().join(format!("oxmq-ffi-lib-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("lib dir");
        std::fs::copy(&built, dir.join("libzmq.so.5")).expect("copy libzmq.so");
        std::fs::copy(&built, dir.join("libzmq.so")).expect("copy libzmq.so");
        dir
    })
}

fn system_libzmq() -> Option<PathBuf> {
    let present =
        Path::new(SYSTEM_LIB).exists() && Path::new(SYSTEM_HEADER_DIR).join("zmq.h").exists();
    if present {
        return Some(PathBuf::from(SYSTEM_LIB).parent()?.to_path_buf());
    }
    let required = std::env::var("OXMQ_FFI_COMPARE").is_ok_and(|v| v == "require");
    assert!(
        !required,
        "OXMQ_FFI_COMPARE=require but Debian's libzmq is missing: apt-get install libzmq3-dev"
    );
    eprintln!("NOTE: libzmq3-dev is not installed; the C programs run on oxmq only");
    None
}

/// Compiles `source` against the headers in `include` into a binary in a temporary directory.
fn compile(source: &Path, include: &Path, tag: &str) -> PathBuf {
    let out = std::env::temp_dir().join(format!(
        "oxmq-ffi-{}-{}-{}",
        source
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("prog"),
        tag,
        std::process::id()
    ));
    let status = Command::new("cc")
        .args(["-std=gnu99", "-Wall", "-Wextra", "-Werror", "-O1"])
        .arg("-I")
        .arg(include)
        .arg(source)
        .arg("-o")
        .arg(&out)
        .arg("-L")
        .arg(oxmq_lib_dir())
        .arg("-lzmq")
        .status()
        .expect("run cc");
    assert!(
        status.success(),
        "cc failed on {} ({tag})",
        source.display()
    );
    out
}

/// Runs `binary` with `lib_dir` first on the loader's path; returns its output, panicking if it
/// fails or takes longer than a minute.
fn run(binary: &Path, lib_dir: &Path) -> String {
    run_with(binary, lib_dir, &[])
}

/// [`run`] with arguments.
fn run_with(binary: &Path, lib_dir: &Path, args: &[&str]) -> String {
    let mut child = Command::new(binary)
        .args(args)
        .env("LD_LIBRARY_PATH", lib_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the C program");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => break,
            None if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                panic!("{} did not finish within 60 s", binary.display());
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} on {} failed ({}):\n{stdout}\n{}",
        binary.display(),
        lib_dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn check_program(name: &str) {
    let source = crate_dir().join("tests/c").join(name);
    let ours = compile(&source, &crate_dir().join("include"), "oxmq-h");
    let expected = run(&ours, oxmq_lib_dir());
    assert!(expected.contains("done"), "{name} printed:\n{expected}");
    if let Some(system) = system_libzmq() {
        let debian = compile(&source, Path::new(SYSTEM_HEADER_DIR), "debian-h");
        for (binary, lib) in [
            (&ours, system.as_path()),
            (&debian, oxmq_lib_dir()),
            (&debian, system.as_path()),
        ] {
            assert_eq!(
                run(binary, lib),
                expected,
                "{} on {} prints something else",
                binary.display(),
                lib.display()
            );
        }
    }
}

#[test]
fn reqrep() {
    check_program("reqrep.c");
}

/// Every function our zmq.h declares, in its stable part and in its draft part, is exported by
/// the library.
#[test]
fn every_function_in_zmq_h_is_exported() {
    for draft in [false, true] {
        check_exports(draft);
    }
}

fn check_exports(draft: bool) {
    let include = crate_dir().join("include");
    let mut cc = Command::new("cc");
    if draft {
        cc.arg("-DZMQ_BUILD_DRAFT_API");
    }
    let out = cc
        .args(["-E", "-P", "-x", "c", "-"])
        .arg("-I")
        .arg(&include)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"#include <zmq.h>\n")?;
            child.wait_with_output()
        })
        .expect("preprocess zmq.h");
    let text = String::from_utf8_lossy(&out.stdout);
    // Function names: an identifier starting `zmq_` followed, after any blanks, by `(`.
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut declared: Vec<&str> = Vec::new();
    let mut rest = text.as_ref();
    while let Some(at) = rest.find("zmq_") {
        let starts_word = !rest[..at].ends_with(is_ident);
        let tail = &rest[at..];
        let end = tail.find(|c: char| !is_ident(c)).unwrap_or(tail.len());
        if starts_word && tail[end..].trim_start().starts_with('(') {
            declared.push(&tail[..end]);
        }
        rest = &tail[end..];
    }
    declared.sort_unstable();
    declared.dedup();
    assert!(declared.len() > 60, "found only {declared:?}");
    let lib = oxmq_lib_dir().join("libzmq.so.5");
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output()
        .expect("nm");
    let symbols = String::from_utf8_lossy(&nm.stdout);
    let exported: Vec<&str> = symbols
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let missing: Vec<&&str> = declared.iter().filter(|f| !exported.contains(f)).collect();
    assert!(
        missing.is_empty(),
        "declared in zmq.h, not exported: {missing:?}"
    );
}

/// zmq.h's layouts (`header_abi.c` asserts them at compile time) and, where Debian's header is
/// installed, its constants and prototypes against libzmq's (`check_header.py`).
#[test]
fn zmq_h_layouts_and_constants_match_libzmq() {
    for draft in [false, true] {
        let mut cc = Command::new("cc");
        cc.args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-pedantic",
            "-Werror",
            "-fsyntax-only",
        ]);
        if draft {
            cc.arg("-DZMQ_BUILD_DRAFT_API");
        }
        let status = cc
            .arg(crate_dir().join("tests/c/header_abi.c"))
            .status()
            .expect("cc");
        assert!(status.success(), "header_abi.c (draft: {draft})");
    }
    if system_libzmq().is_some() {
        let status = Command::new("python3")
            .arg(crate_dir().join("tests/check_header.py"))
            .status()
            .expect("python3");
        assert!(status.success(), "check_header.py found differences");
    }
}

#[test]
fn pubsub_poll() {
    check_program("pubsub_poll.c");
}

/// `bench/local_thr.c` and `remote_thr.c`, then `local_lat.c` and `remote_lat.c`, as two
/// processes over tcp on oxmq's library: both sides succeed and report the size and count asked
/// for.
#[test]
fn perf_tools_run_as_two_processes_over_tcp() {
    check_perf_pair(
        "thr",
        &format!("tcp://127.0.0.1:{}", free_tcp_port()),
        16,
        1000,
    );
    check_perf_pair(
        "lat",
        &format!("tcp://127.0.0.1:{}", free_tcp_port()),
        16,
        100,
    );
}

/// The same over ipc, the socket files in a directory of the test's own.
#[test]
fn perf_tools_run_as_two_processes_over_ipc() {
    let dir = std::env::temp_dir().join(format!("oxmq-ffi-perf-ipc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("ipc dir");
    check_perf_pair(
        "thr",
        &format!("ipc://{}", dir.join("thr.ipc").display()),
        16,
        1000,
    );
    check_perf_pair(
        "lat",
        &format!("ipc://{}", dir.join("lat.ipc").display()),
        16,
        100,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `bench/thr.c` and `lat.c` (what `scripts/ffi-bench` runs) over inproc and tcp, each side on
/// the scheduler's CPUs and with `pin` on a CPU of its own: every run reports the transport,
/// size and count asked for and its figures; an unknown last argument is refused.
#[test]
fn one_process_programs_run_with_and_without_pin() {
    for (prog, figures) in [("thr", ["msg_s", "mb_s"]), ("lat", ["mean_us", "p50_us"])] {
        let binary = perf_tools_dir().join(prog);
        for transport in ["inproc", "tcp"] {
            for pin in [None, Some("pin")] {
                let mut args = vec![transport, "16", "500"];
                args.extend(pin);
                let output = run_with(&binary, oxmq_lib_dir(), &args);
                let fields = machine_line(&output, prog);
                assert_eq!(fields.get("transport").map(String::as_str), Some(transport));
                assert_eq!(fields.get("size").map(String::as_str), Some("16"));
                assert_eq!(fields.get("count").map(String::as_str), Some("500"));
                for key in figures {
                    let value = fields.get(key).and_then(|v| v.parse::<f64>().ok());
                    assert!(value.is_some_and(|v| v > 0.0), "{prog} {args:?}:\n{output}");
                }
            }
        }
        let refused = Command::new(&binary)
            .args(["inproc", "16", "500", "pinned"])
            .env("LD_LIBRARY_PATH", oxmq_lib_dir())
            .output()
            .expect("run");
        assert_eq!(refused.status.code(), Some(2), "{prog} took `pinned`");
    }
}

/// How long one local/remote pair may take; a few milliseconds is usual.
const PAIR_LIMIT: Duration = Duration::from_secs(30);

/// The two-process tools in `bench/`, and the one-process programs of `scripts/ffi-bench`.
const PERF_TOOLS: [&str; 6] = [
    "local_thr",
    "remote_thr",
    "local_lat",
    "remote_lat",
    "thr",
    "lat",
];

/// Runs `local_<kind>` and `remote_<kind>` (`kind` is `thr` or `lat`) on `endpoint` and checks
/// what both report.
fn check_perf_pair(kind: &str, endpoint: &str, size: usize, count: usize) {
    let [local, remote] = run_perf_pair(kind, endpoint, size, count);
    let library = std::fs::canonicalize(oxmq_lib_dir().join("libzmq.so.5")).expect("library");
    for (tool, output) in [
        (format!("local_{kind}"), &local),
        (format!("remote_{kind}"), &remote),
    ] {
        let loaded = output
            .lines()
            .find_map(|l| l.strip_prefix("# library "))
            .and_then(|l| l.split_once(' '))
            .map(|(_, file)| PathBuf::from(file));
        assert_eq!(
            loaded.as_ref(),
            Some(&library),
            "{tool} on the wrong library:\n{output}"
        );
        let fields = machine_line(output, &tool);
        assert_eq!(fields.get("size"), Some(&size.to_string()), "{output}");
        assert_eq!(fields.get("count"), Some(&count.to_string()), "{output}");
        let figures: &[&str] = match tool.as_str() {
            "local_thr" => &["elapsed_s", "msg_s", "mb_s", "mbit_s"],
            "remote_lat" => &["rtt_mean_us", "rtt_p50_us", "latency_us"],
            _ => &["elapsed_s"],
        };
        for key in figures {
            let value = fields.get(*key).and_then(|v| v.parse::<f64>().ok());
            assert!(
                value.is_some(),
                "{tool} gives no number for {key}:\n{output}"
            );
        }
    }
}

/// The `key=value` fields of the line that starts with `tool`'s name.
fn machine_line(output: &str, tool: &str) -> std::collections::HashMap<String, String> {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix(tool)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{tool} ...` line in:\n{output}"));
    line.split_whitespace()
        .filter_map(|field| field.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Starts the local side, waits for its `# bound` line, starts the remote side and collects
/// both outputs, local first. Both must exit with status 0 within [`PAIR_LIMIT`]; whatever is
/// still running when the test fails is killed.
fn run_perf_pair(kind: &str, endpoint: &str, size: usize, count: usize) -> [String; 2] {
    let deadline = Instant::now() + PAIR_LIMIT;
    let (tx, rx) = mpsc::channel();
    let mut sides = vec![Side::start(
        &format!("local_{kind}"),
        endpoint,
        size,
        count,
        0,
        &tx,
    )];
    let mut outputs = [String::new(), String::new()];
    let mut open = 1;
    let mut bound = false;
    while open > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((side, line)) = rx.recv_timeout(left) else {
            panic!("{kind} on {endpoint} took over {PAIR_LIMIT:?}; so far:\n{outputs:#?}");
        };
        let Some(line) = line else {
            open -= 1;
            assert!(bound, "local_{kind} ended before binding:\n{}", outputs[0]);
            continue;
        };
        outputs[side] += &line;
        outputs[side].push('\n');
        if side == 0 && !bound && line.starts_with("# bound ") {
            bound = true;
            sides.push(Side::start(
                &format!("remote_{kind}"),
                endpoint,
                size,
                count,
                1,
                &tx,
            ));
            open += 1;
        }
    }
    for (side, output) in sides.iter_mut().zip(&outputs) {
        // Both stdouts are closed: the processes have exited or are about to.
        let status = side.child.wait().expect("wait");
        let stderr = side.stderr.take().map(|t| t.join().unwrap_or_default());
        assert!(
            status.success(),
            "{} on {endpoint} failed ({status}):\n{output}\n{}",
            side.name,
            stderr.unwrap_or_default()
        );
    }
    outputs
}

/// One running tool; killed if dropped while still running (a failed test).
struct Side {
    name: String,
    child: Child,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Side {
    /// Starts `name` on oxmq's library; its stdout comes line by line through `tx` tagged with
    /// `index`, then `None` when it closes.
    fn start(
        name: &str,
        endpoint: &str,
        size: usize,
        count: usize,
        index: usize,
        tx: &mpsc::Sender<(usize, Option<String>)>,
    ) -> Side {
        let mut child = Command::new(perf_tools_dir().join(name))
            .args([endpoint, &size.to_string(), &count.to_string()])
            .env("LD_LIBRARY_PATH", oxmq_lib_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((index, Some(line))).is_err() {
                    return;
                }
            }
            let _ = tx.send((index, None));
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Side {
            name: name.to_owned(),
            child,
            stderr: Some(stderr),
        }
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The four tools, compiled once as `scripts/perf-tools` compiles them.
fn perf_tools_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("oxmq-ffi-perf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("perf tools dir");
        for name in PERF_TOOLS {
            let status = Command::new("cc")
                .args([
                    "-std=gnu99",
                    "-O2",
                    "-Wall",
                    "-Wextra",
                    "-Werror",
                    "-pthread",
                ])
                .arg("-I")
                .arg(crate_dir().join("include"))
                .arg(crate_dir().join("bench").join(format!("{name}.c")))
                .arg("-o")
                .arg(dir.join(name))
                .arg("-L")
                .arg(oxmq_lib_dir())
                .arg("-lzmq")
                .status()
                .expect("run cc");
            assert!(status.success(), "cc failed on bench/{name}.c");
        }
        dir
    })
}

/// A tcp port that was free a moment ago: bound to port 0, read back, released.
fn free_tcp_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
