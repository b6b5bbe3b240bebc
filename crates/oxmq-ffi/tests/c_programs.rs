//! The C programs in `tests/c/`, compiled with the system's C compiler against oxmq's
//! `include/zmq.h` and run on oxmq's `libzmq.so.5`. Where Debian's libzmq (libzmq3-dev: its
//! `/usr/include/zmq.h` and `libzmq.so.5`) is installed, each program is also compiled against
//! that header and run on that library, and all four combinations must print the same thing.
//! `OXMQ_FFI_COMPARE=require` (set by `.ci/run`) makes a missing libzmq3-dev a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

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
    let mut child = Command::new(binary)
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
