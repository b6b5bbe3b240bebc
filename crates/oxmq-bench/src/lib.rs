//! Benchmark cases shared by `cargo bench -p oxmq-bench` (oxmq against libzmq, side by side)
//! and `oxmq bench` (oxmq alone).
//!
//! A case is written once, generically over a [`Backend`], so both libraries are measured by
//! the same code: same threads, same message construction, same clock placement.
//!
//! - **Throughput** ([`Kind::Throughput`]) follows libzmq's `local_thr`/`remote_thr`: a PULL
//!   socket binds, a PUSH socket on another thread connects and sends `count` messages of
//!   `size` bytes; the receiver starts the clock when the first message arrives and stops it
//!   after the last, so connection setup is not timed. The rate is `(count - 1) / elapsed`.
//!   A throughput case may run over CURVE ([`Security::Curve`], label `thr-curve`): the PULL
//!   is the CURVE server, the PUSH the client, both libraries given the same key bytes; the
//!   handshake happens before the first message, so it is not timed either.
//! - **Latency** ([`Kind::Latency`]) follows `local_lat`/`remote_lat`: a REP socket on another
//!   thread echoes, a REQ socket sends and waits `count` times. It reports the mean time of
//!   one whole round trip (libzmq's tools print half of it) and the median round trip. A few
//!   untimed round trips come first.
//! - **Fan-out** ([`Kind::Fanout`]): a PUB socket binds, `subscribers` SUB sockets (each
//!   subscribed to everything) connect, and the PUB sends `count` messages to all of them.
//!   The subscribers share one context and are read by [`FANOUT_RECEIVERS`] threads (fewer
//!   when there are fewer subscribers), each taking one message from each of its subscribers
//!   in turn with a blocking receive. Before the clock starts, the publisher sends warm-up
//!   messages until every subscriber has received one, so all are connected and subscribed;
//!   the clock starts just before the first counted message is sent and stops when the last
//!   subscriber has received the end marker that follows the last one. The rate is the
//!   aggregate: messages delivered, summed over subscribers, per second. SNDHWM and RCVHWM are
//!   0 (no limit), so neither library should drop; each subscriber counts what it received,
//!   and a loss is reported ([`Measurement::lost`]), never hidden.
//!
//! - **Routed** ([`Kind::Routed`], label `router`): a ROUTER socket binds and echoes every
//!   message back to the peer it came from (by its routing id); `peers` DEALER sockets (one
//!   context) connect and are driven by [`FANOUT_RECEIVERS`] threads, each keeping up to
//!   [`ROUTED_WINDOW`] messages in flight per DEALER and taking one reply from each of its
//!   DEALERs in turn. Every DEALER first makes one untimed round trip, so all are connected;
//!   the clock starts when all have, and stops when the last DEALER has its last reply. The
//!   rate is messages echoed per second: each crossed the ROUTER twice, in and out. It
//!   measures the ROUTER's fair queueing over many pipes and its routing by id.
//!
//! Over tcp and ipc each side has its own context, as the two processes of libzmq's tools
//! have; inproc needs the sockets in one context. The library itself never links libzmq:
//! the libzmq [`Backend`] lives in the `compare` bench, so the CLI can use this crate.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use oxmq::curve::{KeyPair, PublicKey};

mod backend_oxmq;
mod loopback;
mod pin;
mod plot;
mod report;

pub use backend_oxmq::Oxmq;
pub use loopback::loopback;
pub use pin::{can_pin, core_to_core, placement_summary};
use pin::{Pin, Side};
pub use report::{Report, Row, Summary};

/// The transports a case can run over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP over the loopback interface (`tcp://127.0.0.1:*`).
    Tcp,
    /// Unix domain sockets, in the temporary directory.
    Ipc,
    /// In-process: both sockets share one context.
    Inproc,
}

impl Transport {
    /// The transport's name as it appears in an endpoint (`tcp`, `ipc`, `inproc`).
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
            Transport::Inproc => "inproc",
        }
    }

    /// A fresh endpoint to bind to; tcp uses a wildcard port, resolved by the bind.
    pub fn endpoint(self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        match self {
            Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
            Transport::Ipc => {
                let path =
                    std::env::temp_dir().join(format!("oxmq-bench-{}-{n}.ipc", std::process::id()));
                format!("ipc://{}", path.display())
            }
            Transport::Inproc => format!("inproc://oxmq-bench-{n}"),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcp" => Ok(Transport::Tcp),
            "ipc" => Ok(Transport::Ipc),
            "inproc" => Ok(Transport::Inproc),
            _ => Err(UnknownTransport(s.to_owned())),
        }
    }
}

/// A transport name that is none of `tcp`, `ipc`, `inproc`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown transport {0:?}: expected tcp, ipc or inproc")]
pub struct UnknownTransport(pub String);

/// What a case measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// PUSH to PULL, messages per second.
    Throughput,
    /// REQ to REP and back, time per round trip.
    Latency,
    /// One PUB to `subscribers` SUBs, messages delivered per second (summed over subscribers).
    Fanout {
        /// How many SUB sockets receive every message.
        subscribers: usize,
    },
    /// `peers` DEALERs to one echoing ROUTER, messages echoed per second.
    Routed {
        /// How many DEALER sockets send through the ROUTER.
        peers: usize,
    },
}

impl Kind {
    /// The short name used in tables and on the command line: `thr`, `lat` or `fanout`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Throughput => "thr",
            Kind::Latency => "lat",
            Kind::Fanout { .. } => "fanout",
            Kind::Routed { .. } => "router",
        }
    }
}

/// One benchmark case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// What is measured.
    pub kind: Kind,
    /// Over which transport.
    pub transport: Transport,
    /// Message body size in bytes.
    pub size: usize,
    /// Messages sent (throughput; fan-out: messages published, each to every subscriber) or
    /// round trips made (latency).
    pub count: u64,
    /// SNDTIMEO and RCVTIMEO for every socket of the case, so that a broken peer turns into an
    /// error instead of a hang (the tests set it); `None` leaves libzmq's default (infinite),
    /// as libzmq's perf tools do.
    pub timeout: Option<Duration>,
    /// The security mechanism of the case's connections: CURVE only for throughput over tcp
    /// or ipc ([`CaseError::CurveNotApplicable`] otherwise).
    pub security: Security,
    /// Each side of the case on a CPU of its own (`--pin`; see [`Spec::pinned`]).
    pub pinned: bool,
    /// Blocking calls that a signal ends with `EINTR` (`--interruptible`; see
    /// [`Spec::interruptible`]).
    pub interruptible: bool,
}

/// How every socket of a case is set up ([`Spec::sockets`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketSettings {
    /// SNDTIMEO and RCVTIMEO ([`Spec::timeout`]).
    pub timeout: Option<Duration>,
    /// Blocking calls end with `EINTR` when a signal comes ([`Spec::interruptible`]).
    pub interruptible: bool,
}

/// The security mechanism a case runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// No security, as in every case by default.
    Null,
    /// CURVE: the binding socket is the server, the connecting one the client.
    Curve(CurveKeys),
}

/// The long-term key pairs of a CURVE case, as raw bytes, so that every library is given the
/// same keys.
#[derive(Clone, PartialEq, Eq)]
pub struct CurveKeys {
    /// The server's public key (the client's `CURVE_SERVERKEY`).
    pub server_public: [u8; 32],
    /// The server's secret key.
    pub server_secret: [u8; 32],
    /// The client's public key.
    pub client_public: [u8; 32],
    /// The client's secret key.
    pub client_secret: [u8; 32],
}

impl CurveKeys {
    /// Two fresh key pairs, from oxmq's `zmq_curve_keypair`.
    pub fn generate() -> CurveKeys {
        let server = KeyPair::generate();
        let client = KeyPair::generate();
        CurveKeys {
            server_public: *server.public.as_bytes(),
            server_secret: *server.secret.as_bytes(),
            client_public: *client.public.as_bytes(),
            client_secret: *client.secret.as_bytes(),
        }
    }
}

impl fmt::Debug for CurveKeys {
    // Throwaway keys, but a secret is not printed all the same.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveKeys")
            .field(
                "server_public",
                &PublicKey::from_bytes(self.server_public).to_z85(),
            )
            .field(
                "client_public",
                &PublicKey::from_bytes(self.client_public).to_z85(),
            )
            .finish_non_exhaustive()
    }
}

impl Spec {
    /// A throughput case with no timeout.
    pub fn throughput(transport: Transport, size: usize, count: u64) -> Spec {
        Spec {
            kind: Kind::Throughput,
            transport,
            size,
            count,
            timeout: None,
            security: Security::Null,
            pinned: false,
            interruptible: false,
        }
    }

    /// A latency case with no timeout.
    pub fn latency(transport: Transport, size: usize, round_trips: u64) -> Spec {
        Spec {
            kind: Kind::Latency,
            transport,
            size,
            count: round_trips,
            timeout: None,
            security: Security::Null,
            pinned: false,
            interruptible: false,
        }
    }

    /// A throughput case over CURVE with no timeout, with two fresh key pairs (the PULL's
    /// and the PUSH's). Every library that runs this `Spec` (or a clone) gets the same keys.
    pub fn throughput_curve(transport: Transport, size: usize, count: u64) -> Spec {
        Spec {
            security: Security::Curve(CurveKeys::generate()),
            ..Spec::throughput(transport, size, count)
        }
    }

    /// A PUB/SUB fan-out case with no timeout: `count` messages published to `subscribers`.
    pub fn fanout(transport: Transport, size: usize, count: u64, subscribers: usize) -> Spec {
        Spec {
            kind: Kind::Fanout { subscribers },
            transport,
            size,
            count,
            timeout: None,
            security: Security::Null,
            pinned: false,
            interruptible: false,
        }
    }

    /// A ROUTER/DEALER case with no timeout: `count` messages echoed by one ROUTER, spread
    /// evenly over `peers` DEALERs.
    pub fn routed(transport: Transport, size: usize, count: u64, peers: usize) -> Spec {
        Spec {
            kind: Kind::Routed { peers },
            transport,
            size,
            count,
            timeout: None,
            security: Security::Null,
            pinned: false,
            interruptible: false,
        }
    }

    /// The same case with each side on a CPU of its own, as libzmq's perf tools run under
    /// `taskset -c 0` and `taskset -c 1`: the binding socket's threads (its application thread
    /// and its context's I/O thread) on the first CPU the process may use, the connecting
    /// sockets' on the second. Unpinned, the scheduler's first placement of a stream's four
    /// threads decides its small-message throughput, for every library. Without two CPUs it
    /// changes nothing ([`can_pin`]).
    pub fn pinned(mut self) -> Spec {
        self.pinned = true;
        self
    }

    /// The same case with sockets whose blocking calls a signal ends with `EINTR`, as
    /// libzmq's always do and as oxmq's C ABI makes them (`Socket::set_interruptible`): a
    /// wait that finds no work in its first microseconds then holds the thread's signals, so
    /// that a signal from there on is not missed, and sleeps in ppoll(2). With it, `oxmq
    /// bench` measures the Rust API with the semantics the C ABI has (`scripts/ffi-bench`).
    /// libzmq has no choice: it is ignored there.
    pub fn interruptible(mut self) -> Spec {
        self.interruptible = true;
        self
    }

    /// What every socket of the case is set up with.
    pub fn sockets(&self) -> SocketSettings {
        SocketSettings {
            timeout: self.timeout,
            interruptible: self.interruptible,
        }
    }

    /// The same case with SNDTIMEO/RCVTIMEO set on its sockets.
    pub fn with_timeout(mut self, timeout: Duration) -> Spec {
        self.timeout = Some(timeout);
        self
    }

    /// The CURVE keys, when the case runs over CURVE.
    pub fn curve(&self) -> Option<&CurveKeys> {
        match &self.security {
            Security::Null => None,
            Security::Curve(keys) => Some(keys),
        }
    }

    /// A short label such as `thr tcp 256 B`, `thr-curve tcp 16 B`, `lat tcp 1 KiB` or
    /// `fanout tcp 16 B x10`.
    pub fn label(&self) -> String {
        let mechanism = match self.security {
            Security::Null => "",
            Security::Curve(_) => "-curve",
        };
        let label = format!(
            "{}{mechanism} {} {}",
            self.kind.name(),
            self.transport,
            format_size(self.size)
        );
        match self.kind {
            Kind::Fanout { subscribers } => format!("{label} x{subscribers}"),
            Kind::Routed { peers } => format!("{label} x{peers}"),
            Kind::Throughput | Kind::Latency => label,
        }
    }

    /// Whether the filter `words` selects this case: it does when the words appear in the
    /// label as whole words, in order and next to each other. So `lat`, `ipc`, `thr tcp 16 B`
    /// and `fanout inproc` select what they say, `x10` selects `... x10` but not `x100`, and
    /// `thr` does not select `thr-curve ...`.
    pub fn matches(&self, words: &str) -> bool {
        let label = self.label();
        let label: Vec<&str> = label.split_whitespace().collect();
        let words: Vec<&str> = words.split_whitespace().collect();
        !words.is_empty() && label.windows(words.len()).any(|w| w == words.as_slice())
    }
}

/// The socket roles the cases use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// ZMQ_PUSH, the throughput sender.
    Push,
    /// ZMQ_PULL, the throughput receiver.
    Pull,
    /// ZMQ_REQ, the latency client.
    Req,
    /// ZMQ_REP, the latency echo server.
    Rep,
    /// ZMQ_PUB, the fan-out publisher.
    Pub,
    /// ZMQ_SUB, a fan-out subscriber.
    Sub,
    /// ZMQ_ROUTER, the routed case's echo server.
    Router,
    /// ZMQ_DEALER, a routed case's client.
    Dealer,
}

/// A ZeroMQ implementation the cases can drive.
///
/// Each socket is created, used and dropped on one thread, so `Socket` needs no `Send`; the
/// context moves to the sender's thread, so it must be `Send`.
pub trait Backend: 'static {
    /// The name shown in tables, e.g. `oxmq`.
    const NAME: &'static str;
    /// The library's context (owner of its I/O threads).
    type Context: Clone + Send + 'static;
    /// The library's socket, with whatever receive buffer it reuses.
    type Socket;
    /// The library's error.
    type Error: StdError + Send + Sync + 'static;

    /// A new context with one I/O thread (libzmq's default).
    fn context() -> Result<Self::Context, Self::Error>;
    /// A socket in `ctx` with LINGER 0, and `settings` (SNDTIMEO and RCVTIMEO when a timeout
    /// is set; interruptible blocking calls when asked, for a library that has the choice).
    fn socket(
        ctx: &Self::Context,
        role: Role,
        settings: SocketSettings,
    ) -> Result<Self::Socket, Self::Error>;
    /// Binds and returns the endpoint actually bound (the wildcard port resolved).
    fn bind(socket: &mut Self::Socket, endpoint: &str) -> Result<String, Self::Error>;
    /// Connects.
    fn connect(socket: &mut Self::Socket, endpoint: &str) -> Result<(), Self::Error>;
    /// Sends one single-frame message holding a copy of `body`, blocking while at HWM.
    fn send(socket: &mut Self::Socket, body: &[u8]) -> Result<(), Self::Error>;
    /// Receives one frame and returns its size.
    fn recv(socket: &mut Self::Socket) -> Result<usize, Self::Error>;
    /// Receives one frame, sends it back unchanged, and returns its size.
    fn echo(socket: &mut Self::Socket) -> Result<usize, Self::Error>;
    /// ROUTER only: receives one two-frame message (routing id, body), sends it back to the
    /// same peer unchanged, and returns the body's size.
    fn route_echo(socket: &mut Self::Socket) -> Result<usize, Self::Error>;
    /// Receives one frame and returns its size and its first byte (`None` when empty).
    fn recv_tagged(socket: &mut Self::Socket) -> Result<(usize, Option<u8>), Self::Error>;
    /// Sets SNDHWM and RCVHWM (0: no limit); before bind or connect, as libzmq reads them
    /// when a connection's pipes are made.
    fn set_hwm(socket: &mut Self::Socket, hwm: i32) -> Result<(), Self::Error>;
    /// Sets BACKLOG, the listen queue of the next bind.
    fn set_backlog(socket: &mut Self::Socket, backlog: i32) -> Result<(), Self::Error>;
    /// Subscribes a SUB socket to the messages starting with `prefix` (all of them for `b""`).
    fn subscribe(socket: &mut Self::Socket, prefix: &[u8]) -> Result<(), Self::Error>;
    /// Makes the socket a CURVE server with the long-term secret key `secret`; before bind.
    fn set_curve_server(socket: &mut Self::Socket, secret: &[u8; 32]) -> Result<(), Self::Error>;
    /// Makes the socket a CURVE client of the server whose public key is `server`, with the
    /// long-term key pair `public`/`secret`; before connect.
    fn set_curve_client(
        socket: &mut Self::Socket,
        server: &[u8; 32],
        public: &[u8; 32],
        secret: &[u8; 32],
    ) -> Result<(), Self::Error>;
    /// Why this library cannot run `spec` at all (a build without CURVE, say), or `None`. The
    /// suite skips such a case for this library instead of counting it as failed.
    fn unsupported(spec: &Spec) -> Option<String> {
        let _ = spec;
        None
    }
}

/// The outcome of one run of one case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Messages (throughput), round trips (latency) or deliveries summed over the subscribers
    /// (fan-out) inside the timed span.
    pub count: u64,
    /// Message body size in bytes.
    pub size: usize,
    /// The timed span.
    pub elapsed: Duration,
    /// Latency cases: the median of the round trips, each timed on its own. Unlike the mean
    /// (`elapsed / count`, what libzmq's tools print), it shrugs off the few round trips that
    /// another process preempted, which matters on a small shared machine.
    pub median_each: Option<Duration>,
    /// Fan-out cases: deliveries that never arrived (published messages times subscribers,
    /// less `count`). Always 0 for the other kinds, whose patterns do not drop.
    pub lost: u64,
}

impl Measurement {
    /// Messages (or round trips) per second.
    pub fn per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.count as f64 / secs
        } else {
            f64::INFINITY
        }
    }

    /// Payload megabytes (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.per_sec() * self.size as f64 / 1e6
    }

    /// Microseconds per message (or per round trip).
    pub fn micros_each(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        self.elapsed.as_secs_f64() * 1e6 / self.count as f64
    }

    /// Microseconds of the median round trip, for latency cases.
    pub fn median_micros_each(&self) -> Option<f64> {
        self.median_each.map(|d| d.as_secs_f64() * 1e6)
    }
}

/// Why a case failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaseError<E: StdError + 'static> {
    /// The library under test returned an error.
    #[error("{backend}: {source}")]
    Backend {
        /// The library's name.
        backend: &'static str,
        /// Its error.
        #[source]
        source: E,
    },
    /// A message of the wrong size arrived.
    #[error("{backend}: received {got} bytes, expected {expected}")]
    WrongSize {
        /// The library's name.
        backend: &'static str,
        /// The size sent.
        expected: usize,
        /// The size received.
        got: usize,
    },
    /// A case needs at least one message or round trip.
    #[error("a case needs a count of at least {min}, got {count}")]
    CountTooSmall {
        /// The count given.
        count: u64,
        /// The least count allowed.
        min: u64,
    },
    /// The peer thread panicked or vanished before reporting.
    #[error("{backend}: the peer thread died")]
    PeerDied {
        /// The library's name.
        backend: &'static str,
    },
    /// A fan-out case needs a tag byte in every message.
    #[error("a fan-out case needs messages of at least {min} byte(s), got {size}")]
    SizeTooSmall {
        /// The size given.
        size: usize,
        /// The least size allowed.
        min: usize,
    },
    /// A fan-out case needs at least one subscriber.
    #[error("a fan-out case needs at least one subscriber")]
    NoSubscribers,
    /// A routed case needs at least one DEALER.
    #[error("a ROUTER/DEALER case needs at least one peer")]
    NoPeers,
    /// A fan-out subscriber received a message the publisher did not send (an unknown tag,
    /// or more counted messages than were published).
    #[error("{backend}: subscriber received an unexpected message: {what}")]
    Unexpected {
        /// The library's name.
        backend: &'static str,
        /// What was wrong with it.
        what: String,
    },
    /// CURVE was asked of a case that cannot apply it: only throughput over tcp or ipc can.
    #[error("{case}: CURVE applies only to throughput cases over tcp or ipc")]
    CurveNotApplicable {
        /// The case's label.
        case: String,
    },
    /// A fan-out phase did not finish in time (subscribers not all reached by the warm-up,
    /// or not all given the end marker).
    #[error("{backend}: fan-out {phase} did not finish within {limit:?}")]
    Stalled {
        /// The library's name.
        backend: &'static str,
        /// `warm-up` or `end`.
        phase: &'static str,
        /// How long it was given.
        limit: Duration,
    },
}

/// Runs one case once.
pub fn run<B: Backend>(spec: &Spec) -> Result<Measurement, CaseError<B::Error>> {
    // Elsewhere the keys would be ignored (inproc has no handshake in either library) and the
    // figures labelled CURVE would be NULL's.
    if spec.curve().is_some()
        && (spec.kind != Kind::Throughput || spec.transport == Transport::Inproc)
    {
        return Err(CaseError::CurveNotApplicable { case: spec.label() });
    }
    match spec.kind {
        Kind::Throughput => throughput::<B>(spec),
        Kind::Latency => latency::<B>(spec),
        Kind::Fanout { subscribers } => fanout::<B>(spec, subscribers),
        Kind::Routed { peers } => routed::<B>(spec, peers),
    }
}

/// Runs an oxmq PUSH/PULL throughput case once (see the crate docs for the method).
pub fn oxmq_throughput(
    transport: Transport,
    size: usize,
    count: u64,
) -> Result<Measurement, CaseError<oxmq::Error>> {
    run::<Oxmq>(&Spec::throughput(transport, size, count))
}

/// Runs an oxmq REQ/REP latency case once (see the crate docs for the method).
pub fn oxmq_latency(
    transport: Transport,
    size: usize,
    round_trips: u64,
) -> Result<Measurement, CaseError<oxmq::Error>> {
    run::<Oxmq>(&Spec::latency(transport, size, round_trips))
}

/// A backend as the suite runner sees it: a name and a type-erased case function.
#[derive(Debug, Clone, Copy)]
pub struct Contender {
    /// The name shown in tables.
    pub name: &'static str,
    /// Runs one case once.
    pub run: fn(&Spec) -> Result<Measurement, BoxError>,
    /// Why the contender cannot run a case at all, or `None` ([`Backend::unsupported`]).
    pub unsupported: fn(&Spec) -> Option<String>,
}

impl Contender {
    /// The contender for backend `B`.
    pub fn of<B: Backend>() -> Contender {
        Contender {
            name: B::NAME,
            run: run_boxed::<B>,
            unsupported: B::unsupported,
        }
    }
}

/// A type-erased case error.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Where the suite runner is, for progress displays.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The case being run.
    pub spec: &'a Spec,
    /// Its index among the cases, from 0.
    pub case: usize,
    /// How many cases there are.
    pub cases: usize,
    /// The run, from 0.
    pub run: usize,
    /// How many runs each case gets.
    pub runs: usize,
    /// Which contender is about to run.
    pub contender: &'static str,
}

/// Runs every case `runs` times for every contender and summarizes the runs.
///
/// The contenders alternate run by run, so a drift of the machine (another process, thermal
/// throttling) spreads over all of them instead of biasing one. `progress` is called before
/// each run. A contender that fails a case skips that case's remaining runs; the failure is
/// kept in the report ([`Report::failures`]) and the other results stand. A contender that
/// cannot run a case at all ([`Contender::unsupported`]) is not run on it; the report lists
/// it as skipped ([`Report::skipped`]), not failed.
pub fn run_suite(
    specs: &[Spec],
    contenders: &[Contender],
    runs: usize,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Report {
    let runs = runs.max(1);
    let mut rows = Vec::with_capacity(specs.len());
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for (case, spec) in specs.iter().enumerate() {
        let mut samples: Vec<Vec<Measurement>> = vec![Vec::with_capacity(runs); contenders.len()];
        // A contender is out of a case once it has failed it, or from the start when it
        // cannot run it at all.
        let mut out = vec![false; contenders.len()];
        for (c, contender) in contenders.iter().enumerate() {
            if let Some(reason) = (contender.unsupported)(spec) {
                out[c] = true;
                skipped.push(Skip {
                    spec: spec.clone(),
                    contender: contender.name,
                    reason,
                });
            }
        }
        let mut probes = Vec::with_capacity(runs);
        for run in 0..runs {
            probes.extend(core_to_core().map(|rt| rt.as_secs_f64() * 1e9));
            for (c, contender) in contenders.iter().enumerate() {
                if out[c] {
                    continue;
                }
                progress(&Progress {
                    spec,
                    case,
                    cases: specs.len(),
                    run,
                    runs,
                    contender: contender.name,
                });
                match (contender.run)(spec) {
                    Ok(m) => samples[c].push(m),
                    Err(error) => {
                        out[c] = true;
                        failures.push(Failure {
                            spec: spec.clone(),
                            contender: contender.name,
                            error,
                        });
                    }
                }
            }
        }
        rows.push(Row::new(spec.clone(), &samples).with_probes(probes));
    }
    Report::new(contenders.iter().map(|c| c.name).collect(), rows, failures).with_skipped(skipped)
}

/// A case a contender could not run.
#[derive(Debug)]
pub struct Failure {
    /// The case.
    pub spec: Spec,
    /// Who failed it.
    pub contender: &'static str,
    /// Why.
    pub error: BoxError,
}

/// A case a contender cannot run at all, so it was not tried.
#[derive(Debug, Clone)]
pub struct Skip {
    /// The case.
    pub spec: Spec,
    /// Who skipped it.
    pub contender: &'static str,
    /// Why.
    pub reason: String,
}

/// The cases `cargo bench -p oxmq-bench` runs by default, each over tcp, ipc and inproc:
/// PUSH/PULL throughput at 16 B, 256 B, 1 KiB, 8 KiB and 64 KiB, REQ/REP latency at 16 B and
/// 1 KiB; then PUSH/PULL throughput over CURVE at 16 B, 1 KiB and 64 KiB over tcp; then
/// ROUTER/DEALER with [`ROUTED_PEERS`] DEALERs at 16 B and 1 KiB over tcp, ipc and inproc; then
/// PUB/SUB fan-out to 1, 10 and 100 subscribers at 16 B and 1 KiB over tcp and inproc. Counts
/// come from [`default_count`] and [`default_curve_count`].
pub fn default_specs() -> Vec<Spec> {
    let mut specs = Vec::new();
    for transport in [Transport::Tcp, Transport::Ipc, Transport::Inproc] {
        for size in [16, 256, 1024, 8192, 65536] {
            let count = default_count(Kind::Throughput, transport, size);
            specs.push(Spec::throughput(transport, size, count));
        }
        for size in [16, 1024] {
            let count = default_count(Kind::Latency, transport, size);
            specs.push(Spec::latency(transport, size, count));
        }
    }
    for size in CURVE_SIZES {
        let count = default_curve_count(size);
        specs.push(Spec::throughput_curve(Transport::Tcp, size, count));
    }
    for transport in [Transport::Tcp, Transport::Ipc, Transport::Inproc] {
        for size in [16, 1024] {
            let kind = Kind::Routed {
                peers: ROUTED_PEERS,
            };
            let count = default_count(kind, transport, size);
            specs.push(Spec::routed(transport, size, count, ROUTED_PEERS));
        }
    }
    for transport in [Transport::Tcp, Transport::Inproc] {
        for subscribers in [1, 10, 100] {
            for size in [16, 1024] {
                let kind = Kind::Fanout { subscribers };
                let count = default_count(kind, transport, size);
                specs.push(Spec::fanout(transport, size, count, subscribers));
            }
        }
    }
    specs
}

/// A default count for a case of this kind, transport and size: scaled down for large
/// messages and many subscribers, up for inproc, so that one run takes about half a second
/// to two seconds on a small machine. Fan-out counts are messages published; each reaches
/// every subscriber.
pub fn default_count(kind: Kind, transport: Transport, size: usize) -> u64 {
    match (kind, transport) {
        (Kind::Throughput, _) => {
            let count = match size {
                0..=64 => 2_000_000,
                65..=512 => 1_000_000,
                513..=4096 => 500_000,
                4097..=32768 => 100_000,
                // libzmq manages some 8k msg/s here over ipc on the reference machine.
                _ if transport == Transport::Ipc => 25_000,
                _ => 50_000,
            };
            match transport {
                Transport::Inproc => count * 2,
                Transport::Tcp | Transport::Ipc => count,
            }
        }
        // Some 100 to 300 µs per round trip over ipc on the reference machine.
        (Kind::Latency, Transport::Ipc) => 10_000,
        (Kind::Latency, Transport::Tcp | Transport::Inproc) => 20_000,
        (Kind::Fanout { subscribers }, _) => {
            // Deliveries, summed over the subscribers.
            let deliveries: u64 = match (transport, size) {
                (Transport::Inproc, 0..=512) => 6_000_000,
                (Transport::Inproc, _) => 2_000_000,
                (_, 0..=512) => 2_000_000,
                (_, _) => 500_000,
            };
            (deliveries / subscribers.max(1) as u64).max(1)
        }
        // Messages echoed, summed over the DEALERs.
        (Kind::Routed { .. }, Transport::Inproc) => match size {
            0..=512 => 1_000_000,
            _ => 500_000,
        },
        (Kind::Routed { .. }, _) => match size {
            0..=512 => 400_000,
            _ => 200_000,
        },
    }
}

/// A default count for a CURVE throughput case of this size (tcp or ipc): every message is
/// sealed and opened, so the counts are lower than [`default_count`]'s, again for about half
/// a second to two seconds per run on a small machine.
pub fn default_curve_count(size: usize) -> u64 {
    match size {
        0..=64 => 500_000,
        65..=4096 => 200_000,
        4097..=32768 => 50_000,
        // oxmq manages some 4k msg/s here on the reference machine.
        _ => 10_000,
    }
}

/// `16 B`, `1 KiB`, `64 KiB`, `1536 B`.
pub fn format_size(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// One line about the machine, for the top of a report: CPU model, cores, kernel, and the
/// 1-minute load average when the run starts.
pub fn machine_summary() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|_| std::env::consts::OS.to_owned());
    // A busy machine (a build next door) shows up as a wide range; say so up front.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    format!("{cpu}, {cores} cores, kernel {kernel}, load average {load}")
}

/// Wraps a backend's error with the backend's name.
fn backend_error<B: Backend>(source: B::Error) -> CaseError<B::Error> {
    CaseError::Backend {
        backend: B::NAME,
        source,
    }
}

/// The context of a case's second thread: inproc needs the same context, while over tcp and
/// ipc each side gets its own, as the two processes of libzmq's tools have.
fn peer_context<B: Backend>(
    ctx: &B::Context,
    transport: Transport,
) -> Result<B::Context, B::Error> {
    match transport {
        Transport::Inproc => Ok(ctx.clone()),
        Transport::Tcp | Transport::Ipc => B::context(),
    }
}

fn run_boxed<B: Backend>(spec: &Spec) -> Result<Measurement, BoxError> {
    run::<B>(spec).map_err(|e| Box::new(e) as BoxError)
}

/// `CountTooSmall` unless the case has at least `min` messages or round trips.
fn require_count<E: StdError + 'static>(spec: &Spec, min: u64) -> Result<(), CaseError<E>> {
    if spec.count < min {
        return Err(CaseError::CountTooSmall {
            count: spec.count,
            min,
        });
    }
    Ok(())
}

fn throughput<B: Backend>(spec: &Spec) -> Result<Measurement, CaseError<B::Error>> {
    require_count(spec, 2)?;
    let be = backend_error::<B>;
    let _pin = Pin::side(spec.pinned, Side::Bind);
    let ctx = B::context().map_err(be)?;
    let mut pull = B::socket(&ctx, Role::Pull, spec.sockets()).map_err(be)?;
    if let Some(keys) = spec.curve() {
        B::set_curve_server(&mut pull, &keys.server_secret).map_err(be)?;
    }
    let endpoint = B::bind(&mut pull, &spec.transport.endpoint()).map_err(be)?;

    let sender_ctx = peer_context::<B>(&ctx, spec.transport).map_err(be)?;
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (size, count, sockets, pinned) = (spec.size, spec.count, spec.sockets(), spec.pinned);
    let curve = spec.curve().cloned();
    let sender = thread::Builder::new()
        .name(format!("{}-push", B::NAME))
        .spawn(move || -> Result<(), B::Error> {
            let _pin = Pin::side(pinned, Side::Connect);
            let mut push = B::socket(&sender_ctx, Role::Push, sockets)?;
            if let Some(keys) = &curve {
                B::set_curve_client(
                    &mut push,
                    &keys.server_public,
                    &keys.client_public,
                    &keys.client_secret,
                )?;
            }
            B::connect(&mut push, &endpoint)?;
            let body = vec![0x5a_u8; size];
            for _ in 0..count {
                B::send(&mut push, &body)?;
            }
            // Keep the socket open until everything has arrived, instead of relying on LINGER.
            let _ = done_rx.recv();
            drop(push);
            drop(sender_ctx);
            Ok(())
        })
        .map_err(|_| CaseError::PeerDied { backend: B::NAME })?;

    let received = receive_all::<B>(&mut pull, size, count);
    let _ = done_tx.send(());
    // On a local failure the sender may be blocked at HWM for good: leave it, do not join.
    let elapsed = received?;
    match sender.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(be(e)),
        Err(_) => return Err(CaseError::PeerDied { backend: B::NAME }),
    }
    drop(pull);
    drop(ctx);
    Ok(Measurement {
        count: count - 1,
        size,
        elapsed,
        median_each: None,
        lost: 0,
    })
}

fn receive_all<B: Backend>(
    pull: &mut B::Socket,
    size: usize,
    count: u64,
) -> Result<Duration, CaseError<B::Error>> {
    let check = |got: usize| check_size::<B>(size, got);
    let be = backend_error::<B>;
    check(B::recv(pull).map_err(be)?)?;
    let start = Instant::now();
    for _ in 1..count {
        check(B::recv(pull).map_err(be)?)?;
    }
    Ok(start.elapsed())
}

fn latency<B: Backend>(spec: &Spec) -> Result<Measurement, CaseError<B::Error>> {
    require_count(spec, 1)?;
    let be = backend_error::<B>;
    let _pin = Pin::side(spec.pinned, Side::Connect);
    let ctx = B::context().map_err(be)?;
    let server_ctx = peer_context::<B>(&ctx, spec.transport).map_err(be)?;
    let (size, count, sockets) = (spec.size, spec.count, spec.sockets());
    let warmup = WARMUP_ROUND_TRIPS.min(count);
    let server = Server::<B>::spawn(server_ctx, Role::Rep, spec, move |rep| {
        for _ in 0..warmup + count {
            B::echo(rep).map_err(backend_error::<B>)?;
        }
        Ok(())
    })?;
    let endpoint = server.endpoint.clone();
    let measured = ping_pong::<B>(&ctx, &endpoint, size, warmup, count, sockets);
    // On a local failure the server may wait for a request for good: leave it, do not join.
    let (elapsed, median_each, req) = measured?;
    server.finish()?;
    drop(req);
    drop(ctx);
    Ok(Measurement {
        count,
        size,
        elapsed,
        median_each: Some(median_each),
        lost: 0,
    })
}

/// A case's server thread: binds a socket of its role, serves with it, then keeps it open
/// until [`Server::finish`] (so that nothing the client still reads is cut off).
struct Server<B: Backend> {
    /// The endpoint the socket bound (a wildcard port resolved).
    endpoint: String,
    done: mpsc::Sender<()>,
    thread: thread::JoinHandle<Result<(), CaseError<B::Error>>>,
}

impl<B: Backend> Server<B> {
    /// Starts the thread (the case's binding side), binds over `spec`'s transport with its
    /// timeout, and waits until the socket is bound.
    fn spawn(
        ctx: B::Context,
        role: Role,
        spec: &Spec,
        serve: impl FnOnce(&mut B::Socket) -> Result<(), CaseError<B::Error>> + Send + 'static,
    ) -> Result<Server<B>, CaseError<B::Error>> {
        let (bind_to, sockets, pinned) = (spec.transport.endpoint(), spec.sockets(), spec.pinned);
        let (endpoint_tx, endpoint_rx) = mpsc::channel::<Result<String, B::Error>>();
        let (done, done_rx) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name(format!("{}-server", B::NAME))
            .spawn(move || {
                let _pin = Pin::side(pinned, Side::Bind);
                let bound = B::socket(&ctx, role, sockets)
                    .and_then(|mut s| B::bind(&mut s, &bind_to).map(|ep| (s, ep)));
                let mut socket = match bound {
                    Ok((socket, endpoint)) => {
                        let _ = endpoint_tx.send(Ok(endpoint));
                        socket
                    }
                    Err(e) => {
                        let _ = endpoint_tx.send(Err(e));
                        return Ok(());
                    }
                };
                serve(&mut socket)?;
                let _ = done_rx.recv();
                drop(socket);
                drop(ctx);
                Ok(())
            })
            .map_err(|_| CaseError::PeerDied { backend: B::NAME })?;
        let endpoint = match endpoint_rx.recv() {
            Ok(Ok(endpoint)) => endpoint,
            Ok(Err(e)) => return Err(backend_error::<B>(e)),
            Err(_) => return Err(CaseError::PeerDied { backend: B::NAME }),
        };
        Ok(Server {
            endpoint,
            done,
            thread,
        })
    }

    /// Lets the socket go and waits for the thread; its error, if serving failed.
    fn finish(self) -> Result<(), CaseError<B::Error>> {
        let _ = self.done.send(());
        match self.thread.join() {
            Ok(r) => r,
            Err(_) => Err(CaseError::PeerDied { backend: B::NAME }),
        }
    }
}

fn ping_pong<B: Backend>(
    ctx: &B::Context,
    endpoint: &str,
    size: usize,
    warmup: u64,
    count: u64,
    sockets: SocketSettings,
) -> Result<(Duration, Duration, B::Socket), CaseError<B::Error>> {
    let be = backend_error::<B>;
    let mut req = B::socket(ctx, Role::Req, sockets).map_err(be)?;
    B::connect(&mut req, endpoint).map_err(be)?;
    let body = vec![0xa5_u8; size];
    let round_trip = |req: &mut B::Socket| -> Result<(), CaseError<B::Error>> {
        B::send(req, &body).map_err(be)?;
        check_size::<B>(size, B::recv(req).map_err(be)?)
    };
    for _ in 0..warmup {
        round_trip(&mut req)?;
    }
    // Reading the clock is a vDSO call of some 20 ns, the same for both libraries.
    let mut each = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let start = Instant::now();
    let mut last = start;
    for _ in 0..count {
        round_trip(&mut req)?;
        let now = Instant::now();
        each.push(now - last);
        last = now;
    }
    let mid = each.len() / 2;
    let median = each.select_nth_unstable(mid).1;
    Ok((last - start, *median, req))
}

fn fanout<B: Backend>(spec: &Spec, subscribers: usize) -> Result<Measurement, CaseError<B::Error>> {
    require_count(spec, 1)?;
    if spec.size < 1 {
        return Err(CaseError::SizeTooSmall {
            size: spec.size,
            min: 1,
        });
    }
    if subscribers < 1 {
        return Err(CaseError::NoSubscribers);
    }
    let be = backend_error::<B>;
    let _pin = Pin::side(spec.pinned, Side::Bind);
    let ctx = B::context().map_err(be)?;
    let mut publisher = B::socket(&ctx, Role::Pub, spec.sockets()).map_err(be)?;
    B::set_hwm(&mut publisher, 0).map_err(be)?;
    let endpoint = B::bind(&mut publisher, &spec.transport.endpoint()).map_err(be)?;

    // One context for all the subscribers (the publisher's own over inproc).
    let sub_ctx = peer_context::<B>(&ctx, spec.transport).map_err(be)?;
    let threads = subscribers.min(FANOUT_RECEIVERS);
    let warmed = Arc::new(AtomicUsize::new(0));
    let (result_tx, result_rx) = mpsc::channel::<Result<Received, CaseError<B::Error>>>();
    for t in 0..threads {
        // Subscribers t, t + threads, t + 2 * threads, ... belong to thread t.
        let mine = (subscribers - t).div_ceil(threads);
        let (ctx, endpoint, warmed, result_tx) = (
            sub_ctx.clone(),
            endpoint.clone(),
            Arc::clone(&warmed),
            result_tx.clone(),
        );
        let (size, count, sockets, pinned) = (spec.size, spec.count, spec.sockets(), spec.pinned);
        thread::Builder::new()
            .name(format!("{}-sub-{t}", B::NAME))
            .spawn(move || {
                let _pin = Pin::side(pinned, Side::Connect);
                let result = subscribe_and_receive::<B>(
                    &ctx, &endpoint, mine, size, count, sockets, &warmed,
                );
                drop(ctx);
                let _ = result_tx.send(result);
            })
            .map_err(|_| CaseError::PeerDied { backend: B::NAME })?;
    }
    drop(result_tx);
    drop(sub_ctx);

    let published = publish::<B>(
        &mut publisher,
        spec,
        subscribers,
        threads,
        &warmed,
        &result_rx,
    );
    // On a failure a receiver may be blocked for good: leave it, do not wait for it.
    let (start, received) = published?;
    let mut delivered = 0;
    let mut end = start;
    for r in received {
        delivered += r.delivered;
        end = end.max(r.end);
    }
    drop(publisher);
    drop(ctx);
    let expected = spec.count * subscribers as u64;
    Ok(Measurement {
        count: delivered,
        size: spec.size,
        elapsed: end - start,
        median_each: None,
        lost: expected.saturating_sub(delivered),
    })
}

/// What one fan-out receiving thread reports.
struct Received {
    /// Counted messages received, summed over the thread's subscribers.
    delivered: u64,
    /// When the thread's last subscriber got the end marker.
    end: Instant,
}

/// The publisher's side of a fan-out case: warm-up until every subscriber has received a
/// message, then the timed messages, then the end marker until every receiving thread has
/// reported. Returns the start of the timed span and the reports.
fn publish<B: Backend>(
    publisher: &mut B::Socket,
    spec: &Spec,
    subscribers: usize,
    threads: usize,
    warmed: &AtomicUsize,
    results: &mpsc::Receiver<Result<Received, CaseError<B::Error>>>,
) -> Result<(Instant, Vec<Received>), CaseError<B::Error>> {
    let be = backend_error::<B>;
    let mut body = vec![0x5a_u8; spec.size];
    let mut received = Vec::with_capacity(threads);

    // Warm-up: a slow joiner misses messages; repeat until no subscriber is one.
    body[0] = TAG_WARMUP;
    let limit = spec.timeout.unwrap_or(FANOUT_WARMUP_LIMIT);
    let since = Instant::now();
    while warmed.load(Ordering::Acquire) < subscribers {
        B::send(publisher, &body).map_err(be)?;
        match results.recv_timeout(FANOUT_WARMUP_REPEAT) {
            // A receiver cannot finish before the end marker: it failed.
            Ok(Err(e)) => return Err(e),
            Ok(Ok(_)) => {
                return Err(CaseError::Unexpected {
                    backend: B::NAME,
                    what: "end of the case before the end marker".to_owned(),
                })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(CaseError::PeerDied { backend: B::NAME })
            }
        }
        if since.elapsed() > limit {
            return Err(CaseError::Stalled {
                backend: B::NAME,
                phase: "warm-up",
                limit,
            });
        }
    }

    body[0] = TAG_COUNTED;
    let start = Instant::now();
    for _ in 0..spec.count {
        B::send(publisher, &body).map_err(be)?;
    }
    // The end marker follows the last counted message down every pipe. It is sent again
    // while receivers are missing, in case a pipe dropped it: a loss is counted, not a hang.
    body[0] = TAG_END;
    B::send(publisher, &body).map_err(be)?;
    let since = Instant::now();
    while received.len() < threads {
        match results.recv_timeout(FANOUT_END_REPEAT) {
            Ok(result) => received.push(result?),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(limit) = spec.timeout {
                    if since.elapsed() > limit {
                        return Err(CaseError::Stalled {
                            backend: B::NAME,
                            phase: "end",
                            limit,
                        });
                    }
                }
                B::send(publisher, &body).map_err(be)?;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(CaseError::PeerDied { backend: B::NAME })
            }
        }
    }
    Ok((start, received))
}

/// One fan-out receiving thread: creates `subscribers` SUB sockets in `ctx`, then takes one
/// message from each live subscriber in turn, with a blocking receive, until each has
/// received the end marker.
fn subscribe_and_receive<B: Backend>(
    ctx: &B::Context,
    endpoint: &str,
    subscribers: usize,
    size: usize,
    count: u64,
    sockets: SocketSettings,
    warmed: &AtomicUsize,
) -> Result<Received, CaseError<B::Error>> {
    struct Sub<S> {
        socket: S,
        warmed: bool,
        delivered: u64,
        done: bool,
    }
    let be = backend_error::<B>;
    let mut subs = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let mut socket = B::socket(ctx, Role::Sub, sockets).map_err(be)?;
        B::set_hwm(&mut socket, 0).map_err(be)?;
        B::subscribe(&mut socket, b"").map_err(be)?;
        B::connect(&mut socket, endpoint).map_err(be)?;
        subs.push(Sub {
            socket,
            warmed: false,
            delivered: 0,
            done: false,
        });
    }
    let unexpected = |what: String| CaseError::Unexpected {
        backend: B::NAME,
        what,
    };
    let mut live = subscribers;
    let mut end = Instant::now();
    while live > 0 {
        for sub in subs.iter_mut().filter(|s| !s.done) {
            let (got, tag) = B::recv_tagged(&mut sub.socket).map_err(be)?;
            check_size::<B>(size, got)?;
            match tag {
                Some(TAG_WARMUP) => {
                    if !sub.warmed {
                        sub.warmed = true;
                        warmed.fetch_add(1, Ordering::Release);
                    }
                }
                Some(TAG_COUNTED) => {
                    sub.delivered += 1;
                    if sub.delivered > count {
                        return Err(unexpected(format!(
                            "more than the {count} messages published"
                        )));
                    }
                }
                Some(TAG_END) => {
                    sub.done = true;
                    live -= 1;
                    end = Instant::now();
                }
                other => return Err(unexpected(format!("tag {other:?}"))),
            }
        }
    }
    Ok(Received {
        delivered: subs.iter().map(|s| s.delivered).sum(),
        end,
    })
}

/// A ROUTER/DEALER case (see the crate docs for the method).
fn routed<B: Backend>(spec: &Spec, peers: usize) -> Result<Measurement, CaseError<B::Error>> {
    require_count(spec, 1)?;
    if peers < 1 {
        return Err(CaseError::NoPeers);
    }
    let be = backend_error::<B>;
    let per_peer = (spec.count / peers as u64).max(1);
    let total = per_peer * peers as u64;
    let ctx = B::context().map_err(be)?;
    let (size, sockets, pinned) = (spec.size, spec.sockets(), spec.pinned);

    // The ROUTER echoes one warm-up message per DEALER, then the counted ones.
    let server = Server::<B>::spawn(ctx.clone(), Role::Router, spec, move |router| {
        for _ in 0..peers as u64 + total {
            check_size::<B>(size, B::route_echo(router).map_err(backend_error::<B>)?)?;
        }
        Ok(())
    })?;
    let endpoint = server.endpoint.clone();

    let client_ctx = peer_context::<B>(&ctx, spec.transport).map_err(be)?;
    let threads = peers.min(FANOUT_RECEIVERS);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), CaseError<B::Error>>>();
    let (result_tx, result_rx) = mpsc::channel::<Result<Instant, CaseError<B::Error>>>();
    let mut go = Vec::with_capacity(threads);
    for t in 0..threads {
        let mine = (peers - t).div_ceil(threads);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        go.push(go_tx);
        let (ctx, endpoint, ready_tx, result_tx) = (
            client_ctx.clone(),
            endpoint.clone(),
            ready_tx.clone(),
            result_tx.clone(),
        );
        thread::Builder::new()
            .name(format!("{}-dealers-{t}", B::NAME))
            .spawn(move || {
                let _pin = Pin::side(pinned, Side::Connect);
                let dealers = connect_dealers::<B>(&ctx, &endpoint, mine, size, sockets);
                let mut dealers = match dealers {
                    Ok(d) => {
                        let _ = ready_tx.send(Ok(()));
                        d
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                if go_rx.recv().is_err() {
                    return;
                }
                let result = drive_dealers::<B>(&mut dealers, size, per_peer);
                let _ = result_tx.send(result);
                // Keep the DEALERs until every reply of every thread has arrived.
                let _ = go_rx.recv();
                drop(dealers);
                drop(ctx);
            })
            .map_err(|_| CaseError::PeerDied { backend: B::NAME })?;
    }
    drop((ready_tx, result_tx, client_ctx));
    for _ in 0..threads {
        ready_rx
            .recv()
            .map_err(|_| CaseError::PeerDied { backend: B::NAME })??;
    }
    let start = Instant::now();
    for g in &go {
        let _ = g.send(());
    }
    let mut end = start;
    for _ in 0..threads {
        let t = result_rx
            .recv()
            .map_err(|_| CaseError::PeerDied { backend: B::NAME })??;
        end = end.max(t);
    }
    drop(go);
    server.finish()?;
    drop(ctx);
    Ok(Measurement {
        count: total,
        size,
        elapsed: end - start,
        median_each: None,
        lost: 0,
    })
}

/// `WrongSize` unless `got` is `size`.
fn check_size<B: Backend>(size: usize, got: usize) -> Result<(), CaseError<B::Error>> {
    if got == size {
        Ok(())
    } else {
        Err(CaseError::WrongSize {
            backend: B::NAME,
            expected: size,
            got,
        })
    }
}

/// `n` DEALERs connected to `endpoint`, each having made one round trip through the ROUTER.
fn connect_dealers<B: Backend>(
    ctx: &B::Context,
    endpoint: &str,
    n: usize,
    size: usize,
    sockets: SocketSettings,
) -> Result<Vec<B::Socket>, CaseError<B::Error>> {
    let be = backend_error::<B>;
    let body = vec![0x5a_u8; size];
    let mut dealers = Vec::with_capacity(n);
    for _ in 0..n {
        let mut d = B::socket(ctx, Role::Dealer, sockets).map_err(be)?;
        B::connect(&mut d, endpoint).map_err(be)?;
        B::send(&mut d, &body).map_err(be)?;
        dealers.push(d);
    }
    for d in &mut dealers {
        check_size::<B>(size, B::recv(d).map_err(be)?)?;
    }
    Ok(dealers)
}

/// The timed part of a routed case for one thread's DEALERs: `per_peer` messages each, up to
/// [`ROUTED_WINDOW`] in flight per DEALER, replies taken from each DEALER in turn. Returns
/// when the last reply arrived.
fn drive_dealers<B: Backend>(
    dealers: &mut [B::Socket],
    size: usize,
    per_peer: u64,
) -> Result<Instant, CaseError<B::Error>> {
    let be = backend_error::<B>;
    let body = vec![0x5a_u8; size];
    let mut sent = vec![0_u64; dealers.len()];
    let mut got = vec![0_u64; dealers.len()];
    for (d, sent) in dealers.iter_mut().zip(&mut sent) {
        while *sent < per_peer.min(ROUTED_WINDOW) {
            B::send(d, &body).map_err(be)?;
            *sent += 1;
        }
    }
    let mut live = dealers.len();
    while live > 0 {
        for (i, d) in dealers.iter_mut().enumerate() {
            if got[i] == per_peer {
                continue;
            }
            check_size::<B>(size, B::recv(d).map_err(be)?)?;
            got[i] += 1;
            if sent[i] < per_peer {
                B::send(d, &body).map_err(be)?;
                sent[i] += 1;
            }
            if got[i] == per_peer {
                live -= 1;
            }
        }
    }
    Ok(Instant::now())
}

/// How many threads receive a fan-out case's subscribers (each thread takes its share in
/// turn). A small fixed number, as an application with many subscriptions would poll them
/// from one loop, rather than a thread per subscriber, which on a small machine would
/// measure the scheduler more than the library.
pub const FANOUT_RECEIVERS: usize = 2;
/// How many DEALERs the default ROUTER/DEALER cases have.
pub const ROUTED_PEERS: usize = 100;
/// How many messages a routed case's DEALER keeps in flight: far below the default HWM
/// (1000), so that neither library ever blocks or drops on a full pipe.
pub const ROUTED_WINDOW: u64 = 16;
/// The sizes of the default CURVE throughput cases, in bytes: a small, a medium and a large
/// message, where the per-message cost and then the cipher's speed dominate.
pub const CURVE_SIZES: [usize; 3] = [16, 1024, 65536];

/// Untimed round trips before a latency case starts the clock: they take the connection
/// setup and the first allocations out of the measurement.
const WARMUP_ROUND_TRIPS: u64 = 100;
/// First byte of a fan-out warm-up message (sent until every subscriber has one).
const TAG_WARMUP: u8 = b'W';
/// First byte of a fan-out message that is counted.
const TAG_COUNTED: u8 = b'D';
/// First byte of the fan-out end marker.
const TAG_END: u8 = b'E';
/// How often the fan-out publisher repeats a warm-up message while a subscriber has none.
const FANOUT_WARMUP_REPEAT: Duration = Duration::from_millis(1);
/// How often the fan-out publisher repeats the end marker while a receiver has not finished.
/// Rarely: with no HWM nothing should be lost, and each repeat is work for every subscriber
/// that falls inside the timed span.
const FANOUT_END_REPEAT: Duration = Duration::from_millis(100);
/// How long the fan-out warm-up may take when the case has no timeout: connecting 100
/// subscribers takes milliseconds, so this only turns a broken library into an error.
const FANOUT_WARMUP_LIMIT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurement_rates() {
        let m = Measurement {
            count: 1_000,
            size: 1_000,
            elapsed: Duration::from_millis(10),
            median_each: None,
            lost: 0,
        };
        assert!((m.per_sec() - 100_000.0).abs() < 1e-6);
        assert!((m.mb_per_sec() - 100.0).abs() < 1e-9);
        assert!((m.micros_each() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn sizes_and_labels() {
        assert_eq!(format_size(16), "16 B");
        assert_eq!(format_size(65536), "64 KiB");
        assert_eq!(format_size(1536), "1536 B");
        assert_eq!(
            Spec::latency(Transport::Tcp, 1024, 10).label(),
            "lat tcp 1 KiB"
        );
        assert_eq!("ipc".parse::<Transport>().ok(), Some(Transport::Ipc));
        assert!("udp".parse::<Transport>().is_err());
    }

    #[test]
    fn a_failing_contender_does_not_sink_the_suite() {
        fn works(spec: &Spec) -> Result<Measurement, BoxError> {
            Ok(Measurement {
                count: spec.count,
                size: spec.size,
                elapsed: Duration::from_millis(1),
                median_each: None,
                lost: 0,
            })
        }
        fn fails(_: &Spec) -> Result<Measurement, BoxError> {
            Err("transport not implemented".into())
        }
        let contenders = [
            Contender {
                name: "a",
                run: fails,
                unsupported: |_| None,
            },
            Contender {
                name: "b",
                run: works,
                unsupported: |_| None,
            },
        ];
        let specs = [Spec::throughput(Transport::Inproc, 16, 10)];
        let mut calls = 0;
        let report = run_suite(&specs, &contenders, 3, &mut |_| calls += 1);
        assert_eq!(calls, 4, "a runs once, b three times");
        assert_eq!(report.failures().len(), 1);
        assert_eq!(report.rows()[0].samples()[1].len(), 3);
        assert!(report.to_string().contains("FAILED a thr inproc 16 B"));
    }

    #[test]
    fn a_contender_skips_what_it_cannot_run_without_failing() {
        fn works(spec: &Spec) -> Result<Measurement, BoxError> {
            Ok(Measurement {
                count: spec.count,
                size: spec.size,
                elapsed: Duration::from_millis(1),
                median_each: None,
                lost: 0,
            })
        }
        fn never(_: &Spec) -> Result<Measurement, BoxError> {
            unreachable!("a skipped case is not run")
        }
        let contenders = [
            Contender {
                name: "a",
                run: works,
                unsupported: |_| None,
            },
            Contender {
                name: "b",
                run: never,
                unsupported: |spec| spec.curve().map(|_| "no CURVE".to_owned()),
            },
        ];
        let specs = [Spec::throughput_curve(Transport::Tcp, 16, 10)];
        let report = run_suite(&specs, &contenders, 2, &mut |p| {
            assert_eq!(p.contender, "a");
        });
        assert!(report.failures().is_empty());
        assert_eq!(report.skipped().len(), 1);
        assert_eq!(report.rows()[0].samples()[0].len(), 2);
        assert!(report.rows()[0].samples()[1].is_empty());
        let text = report.to_string();
        assert!(
            text.contains("SKIPPED b thr-curve tcp 16 B: no CURVE"),
            "{text}"
        );
    }

    #[test]
    fn curve_cases_are_labelled_apart_and_share_their_keys() {
        let curve = Spec::throughput_curve(Transport::Tcp, 1024, 10);
        assert_eq!(curve.label(), "thr-curve tcp 1 KiB");
        assert!(curve.matches("thr-curve") && curve.matches("tcp 1 KiB"));
        assert!(!curve.matches("thr") && !curve.matches("curve"));
        assert!(!Spec::throughput(Transport::Tcp, 16, 10).matches("thr-curve"));
        let keys = curve.curve().expect("a CURVE case has keys");
        assert_eq!(curve.clone().curve(), Some(keys), "clones share the keys");
        assert_ne!(keys.server_public, keys.client_public);
        assert_eq!(
            *oxmq::curve::SecretKey::from_bytes(keys.server_secret)
                .public_key()
                .as_bytes(),
            keys.server_public
        );
        let debug = format!("{keys:?}");
        assert!(
            !debug.contains(&format!("{:?}", keys.server_secret)),
            "{debug}"
        );
    }

    #[test]
    fn fanout_labels_and_filters() {
        let x10 = Spec::fanout(Transport::Tcp, 16, 100, 10);
        let x100 = Spec::fanout(Transport::Tcp, 16, 100, 100);
        assert_eq!(x10.label(), "fanout tcp 16 B x10");
        assert!(x10.matches("x10") && !x100.matches("x10"));
        assert!(x10.matches("fanout tcp") && x10.matches("16 B x10"));
        assert!(!x10.matches("fan") && !x10.matches("") && !x10.matches("tcp 1"));
        let thr = Spec::throughput(Transport::Ipc, 65536, 10);
        assert!(thr.matches("thr ipc 64") && thr.matches("ipc") && !thr.matches("inproc"));
    }

    #[test]
    fn default_specs_cover_every_transport_and_fanout() {
        let labels: Vec<String> = default_specs().iter().map(Spec::label).collect();
        for label in [
            "thr inproc 16 B",
            "thr ipc 8 KiB",
            "lat inproc 1 KiB",
            "fanout tcp 16 B x100",
            "fanout inproc 1 KiB x1",
            "thr-curve tcp 16 B",
            "thr-curve tcp 64 KiB",
            "router tcp 16 B x100",
            "router ipc 1 KiB x100",
            "router inproc 16 B x100",
        ] {
            assert!(labels.iter().any(|l| l == label), "{label} in {labels:?}");
        }
        assert_eq!(
            default_count(Kind::Fanout { subscribers: 100 }, Transport::Tcp, 16),
            20_000
        );
    }

    #[test]
    fn endpoints_are_distinct() {
        assert_ne!(Transport::Inproc.endpoint(), Transport::Inproc.endpoint());
        assert_eq!(Transport::Tcp.endpoint(), "tcp://127.0.0.1:*");
    }
}
