//! [`Context`]: the I/O threads and the lifetime of everything that runs on them.
//!
//! Each I/O thread runs a single-threaded tokio runtime; engines (one per connection),
//! listeners and connecters are tasks on those runtimes, spread round-robin. As in libzmq the
//! threads start with the first socket, so the context options that shape them
//! ([`opt::ctx`](crate::opt::ctx)) can be set before. Applications never
//! run on these threads, and sockets are usable from any thread or executor. When the last
//! handle to the context goes away (the [`Context`] values and every [`Socket`]), the context
//! waits for engines that are still delivering messages within their socket's LINGER, then stops
//! its threads, as `zmq_ctx_term` does.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock, Weak};
use std::thread;

use oxmq_proto::SocketType;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, Notify};

use crate::error::{Error, ErrorKind, Result};
use crate::opt::ctx as copt;
use crate::signal::{Command, SocketSignal};
use crate::socket::Socket;
use crate::transport::inproc::Registry;

/// A ZeroMQ context: owns the I/O threads that run every connection of its sockets.
///
/// Cheap to clone; all clones are the same context. Sockets keep their context alive.
///
/// ```
/// let ctx = oxmq::Context::new();
/// let mut push = ctx.socket(oxmq::SocketType::Push)?;
/// push.set_linger(0)?;
/// push.bind("tcp://127.0.0.1:*")?;
/// # Ok::<(), oxmq::Error>(())
/// ```
#[derive(Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

impl Context {
    /// A context with one I/O thread, libzmq's default. The thread starts with the first
    /// socket.
    pub fn new() -> Context {
        Context {
            inner: Arc::new(ContextInner {
                started: OnceLock::new(),
                config: Mutex::new(ContextConfig::default()),
                inproc: Registry::default(),
                terminated: AtomicBool::new(false),
                sockets: Mutex::new(Vec::new()),
                socket_closed: Condvar::new(),
            }),
        }
    }

    /// A context with `n` I/O threads (at least one): [`Context::new`] with
    /// [`opt::ctx::IO_THREADS`](crate::opt::ctx::IO_THREADS) set, and the threads started now,
    /// so that a failure to start them is reported here.
    pub fn with_io_threads(n: usize) -> Result<Context> {
        if n == 0 {
            return Err(Error::with_source(
                ErrorKind::InvalidInput,
                "a context needs at least one I/O thread",
            ));
        }
        let ctx = Context::new();
        ctx.set(copt::IO_THREADS, i32::try_from(n).unwrap_or(i32::MAX))?;
        ctx.inner.start()?;
        Ok(ctx)
    }

    /// Creates a socket of type `socket_type`. `ETERM` once the context is shutting down,
    /// `EMFILE` beyond [`opt::ctx::MAX_SOCKETS`](crate::opt::ctx::MAX_SOCKETS) live sockets.
    pub fn socket(&self, socket_type: SocketType) -> Result<Socket> {
        if self.inner.is_terminated() {
            return Err(ErrorKind::Terminated.into());
        }
        self.inner.start()?;
        Socket::new(Arc::clone(&self.inner), socket_type)
    }

    /// `zmq_ctx_set`: sets a context option ([`opt::ctx`](crate::opt::ctx)), with libzmq's
    /// numbers and units. The options that shape the I/O threads (IO_THREADS and the THREAD_*
    /// ones) must be set before the first socket: later they fail with `EINVAL` (libzmq ignores
    /// them). IPV6, BLOCKY and MAX_MSGSZ apply to sockets created afterwards.
    pub fn set(&self, option: i32, value: i32) -> Result<()> {
        let mut c = self.inner.lock_config();
        let thread_option = matches!(
            option,
            copt::IO_THREADS
                | copt::THREAD_PRIORITY
                | copt::THREAD_SCHED_POLICY
                | copt::THREAD_AFFINITY_CPU_ADD
                | copt::THREAD_AFFINITY_CPU_REMOVE
                | copt::THREAD_NAME_PREFIX
        );
        if thread_option {
            self.inner.check_not_started()?;
        }
        let invalid = || Error::with_source(ErrorKind::InvalidInput, "bad context option value");
        match option {
            copt::IO_THREADS if value >= 1 => c.io_threads = value as usize,
            copt::MAX_SOCKETS if (1..=SOCKET_LIMIT).contains(&value) => c.max_sockets = value,
            copt::MAX_MSGSZ if value >= 0 => c.max_msgsz = value,
            copt::IPV6 => c.ipv6 = value != 0,
            copt::BLOCKY => c.blocky = value != 0,
            copt::THREAD_PRIORITY if value >= 0 => c.thread_priority = value,
            copt::THREAD_SCHED_POLICY if value >= 0 => c.thread_sched_policy = value,
            copt::THREAD_AFFINITY_CPU_ADD if value >= 0 => {
                c.affinity_cpus.insert(value as usize);
            }
            copt::THREAD_AFFINITY_CPU_REMOVE if value >= 0 => {
                if !c.affinity_cpus.remove(&(value as usize)) {
                    return Err(invalid());
                }
            }
            // zmq_ctx_set takes an int; a text prefix goes through set_thread_name_prefix.
            copt::THREAD_NAME_PREFIX => c.thread_name_prefix = value.to_string(),
            copt::IO_THREADS
            | copt::MAX_SOCKETS
            | copt::MAX_MSGSZ
            | copt::THREAD_PRIORITY
            | copt::THREAD_SCHED_POLICY
            | copt::THREAD_AFFINITY_CPU_ADD
            | copt::THREAD_AFFINITY_CPU_REMOVE => return Err(invalid()),
            _ => {
                return Err(Error::with_source(
                    ErrorKind::InvalidInput,
                    format!("context option {option} is not supported"),
                ))
            }
        }
        Ok(())
    }

    /// ZMQ_THREAD_NAME_PREFIX as text (libzmq's `zmq_ctx_set_ext`): I/O threads are named
    /// `prefix/oxmq-io-N`. Before the first socket only.
    pub fn set_thread_name_prefix(&self, prefix: &str) -> Result<()> {
        let mut c = self.inner.lock_config();
        self.inner.check_not_started()?;
        c.thread_name_prefix = prefix.to_owned();
        Ok(())
    }

    /// Whether threads watch for work a little before they sleep (on by default): blocking
    /// calls spin for up to 100 µs, and I/O threads keep polling for up to 200 µs after their
    /// connections did something. This is what makes oxmq's round trips several times shorter
    /// than libzmq's; its price is CPU time while traffic flows, since a thread that would have
    /// slept keeps its CPU instead. Turn it off for libzmq's behaviour, where every wait
    /// sleeps. The environment variable `OXMQ_BUSY_WAIT=0` turns it off for every context of
    /// the process (for programs that reach oxmq through the C ABI). Before the first socket
    /// only.
    pub fn set_busy_wait(&self, on: bool) -> Result<()> {
        let mut c = self.inner.lock_config();
        self.inner.check_not_started()?;
        c.busy_wait = on;
        Ok(())
    }

    /// `zmq_ctx_get`: reads a context option. SOCKET_LIMIT (the largest MAX_SOCKETS accepted)
    /// and MSG_T_SIZE (the size of libzmq's `zmq_msg_t`, 64) are read-only; THREAD_PRIORITY
    /// cannot be read, as its number is SOCKET_LIMIT's.
    pub fn get(&self, option: i32) -> Result<i32> {
        let c = self.inner.lock_config();
        Ok(match option {
            copt::IO_THREADS => i32::try_from(c.io_threads).unwrap_or(i32::MAX),
            copt::MAX_SOCKETS => c.max_sockets,
            copt::SOCKET_LIMIT => SOCKET_LIMIT,
            copt::MAX_MSGSZ => c.max_msgsz,
            copt::MSG_T_SIZE => 64,
            copt::IPV6 => i32::from(c.ipv6),
            copt::BLOCKY => i32::from(c.blocky),
            copt::THREAD_SCHED_POLICY => c.thread_sched_policy,
            copt::THREAD_NAME_PREFIX => c.thread_name_prefix.parse().unwrap_or(0),
            _ => {
                return Err(Error::with_source(
                    ErrorKind::InvalidInput,
                    format!("context option {option} cannot be read"),
                ))
            }
        })
    }

    /// `zmq_ctx_shutdown`: every blocking or later call on this context's sockets (send,
    /// receive, bind, connect) fails with `ETERM`, and so does creating a socket. Returns at
    /// once; the sockets still have to be dropped.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }

    /// `zmq_ctx_term`: [`Context::shutdown`], then waits until every socket of the context
    /// was dropped (by the threads that own them, typically after their calls failed with
    /// `ETERM`), and for each socket's LINGER to deliver what it still may; then stops the
    /// I/O threads. Other [`Context`] handles become unusable but stay valid.
    pub fn term(self) {
        self.inner.shutdown();
        self.inner.wait_for_sockets();
    }
}

impl Default for Context {
    fn default() -> Context {
        Context::new()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("io_threads", &self.inner.lock_config().io_threads)
            .field("started", &self.inner.started.get().is_some())
            .finish()
    }
}

/// What sockets share of their context. Only sockets and [`Context`] values hold it: its drop
/// joins the I/O threads, so no task running on them may own a reference (they hold the
/// [`IoPool`] instead).
pub(crate) struct ContextInner {
    /// The I/O threads, from the first socket on.
    started: OnceLock<Started>,
    config: Mutex<ContextConfig>,
    inproc: Registry,
    terminated: AtomicBool,
    /// The live sockets: their signals, to wake blocked calls at shutdown, and their
    /// liveness tokens (engines keep a socket's signal, only the socket keeps its token).
    sockets: Mutex<Vec<(Weak<SocketSignal>, Weak<()>)>>,
    /// Signalled whenever a socket is dropped.
    socket_closed: Condvar,
}

struct Started {
    io: Vec<IoThread>,
    pool: Arc<IoPool>,
}

/// The context options (zmq_ctx_set), with libzmq's defaults.
#[derive(Clone, Debug)]
struct ContextConfig {
    io_threads: usize,
    max_sockets: i32,
    max_msgsz: i32,
    ipv6: bool,
    blocky: bool,
    thread_priority: i32,
    thread_sched_policy: i32,
    affinity_cpus: std::collections::BTreeSet<usize>,
    thread_name_prefix: String,
    /// Spin before sleeping (see [`Context::set_busy_wait`]).
    busy_wait: bool,
}

impl Default for ContextConfig {
    fn default() -> ContextConfig {
        ContextConfig {
            io_threads: 1,
            max_sockets: 1023,
            max_msgsz: i32::MAX,
            ipv6: false,
            blocky: true,
            thread_priority: -1,
            thread_sched_policy: -1,
            affinity_cpus: Default::default(),
            thread_name_prefix: String::new(),
            busy_wait: std::env::var_os("OXMQ_BUSY_WAIT").is_none_or(|v| v != "0"),
        }
    }
}

/// The largest ZMQ_MAX_SOCKETS accepted (libzmq's limit with epoll).
const SOCKET_LIMIT: i32 = 65535;

/// What a new socket takes from its context's options.
pub(crate) struct SocketDefaults {
    pub(crate) ipv6: bool,
    /// ZMQ_BLOCKY off: LINGER 0.
    pub(crate) linger: i32,
    pub(crate) max_msgsz: i64,
    /// Blocking calls spin before they sleep.
    pub(crate) busy_wait: bool,
}

impl ContextInner {
    /// EINVAL once the I/O threads run: the options that shape them come too late.
    fn check_not_started(&self) -> Result<()> {
        if self.started.get().is_some() {
            return Err(Error::with_source(
                ErrorKind::InvalidInput,
                "I/O thread options must be set before the first socket",
            ));
        }
        Ok(())
    }

    fn lock_config(&self) -> std::sync::MutexGuard<'_, ContextConfig> {
        self.config.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the I/O threads, once.
    fn start(&self) -> Result<&Started> {
        if let Some(s) = self.started.get() {
            return Ok(s);
        }
        let c = self.lock_config().clone();
        // The config lock is not held while threads start; a racing first socket may start a
        // second set, which is dropped (joined) unused.
        let tasks = Arc::new(TaskCount::default());
        let io = (0..c.io_threads)
            .map(|i| IoThread::start(i, &c, Arc::clone(&tasks)))
            .collect::<Result<Vec<_>>>()?;
        let handles = io.iter().map(|t| t.handle.clone()).collect();
        let started = Started {
            io,
            pool: Arc::new(IoPool {
                handles,
                next: AtomicUsize::new(0),
                tasks,
            }),
        };
        if let Err(unused) = self.started.set(started) {
            stop_threads(unused.io);
        }
        self.started.get().ok_or_else(|| Error::new(ErrorKind::Io))
    }

    /// The defaults a new socket takes from the context; `EMFILE` when MAX_SOCKETS sockets
    /// are alive already.
    pub(crate) fn socket_defaults(&self) -> Result<SocketDefaults> {
        let (max_sockets, defaults) = {
            let c = self.lock_config();
            let defaults = SocketDefaults {
                ipv6: c.ipv6,
                linger: if c.blocky { -1 } else { 0 },
                max_msgsz: i64::from(c.max_msgsz),
                busy_wait: c.busy_wait,
            };
            (c.max_sockets, defaults)
        };
        let live = {
            let mut sockets = self.lock_sockets();
            sockets.retain(|(_, a)| a.strong_count() > 0);
            sockets.len()
        };
        if live >= usize::try_from(max_sockets).unwrap_or(0) {
            return Err(Error::with_source(
                ErrorKind::TooManySockets,
                "ZMQ_MAX_SOCKETS sockets are open",
            ));
        }
        Ok(defaults)
    }

    /// Whether [`Context::shutdown`] or [`Context::term`] was called.
    pub(crate) fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::SeqCst)
    }

    /// Records a new socket: its signal and its liveness token.
    pub(crate) fn register_socket(&self, signal: &Arc<SocketSignal>, alive: &Arc<()>) {
        let mut sockets = self.lock_sockets();
        sockets.retain(|(_, a)| a.strong_count() > 0);
        sockets.push((Arc::downgrade(signal), Arc::downgrade(alive)));
    }

    /// A socket was dropped.
    pub(crate) fn socket_dropped(&self) {
        let _sockets = self.lock_sockets();
        self.socket_closed.notify_all();
    }

    fn shutdown(&self) {
        self.terminated.store(true, Ordering::SeqCst);
        let sockets = self.lock_sockets().clone();
        for s in sockets.iter().filter_map(|(s, _)| s.upgrade()) {
            s.push(Command::Wake);
        }
    }

    fn wait_for_sockets(&self) {
        let mut sockets = self.lock_sockets();
        loop {
            sockets.retain(|(_, a)| a.strong_count() > 0);
            if sockets.is_empty() {
                return;
            }
            sockets = self
                .socket_closed
                .wait(sockets)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    fn lock_sockets(&self) -> std::sync::MutexGuard<'_, Vec<(Weak<SocketSignal>, Weak<()>)>> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The context's inproc names.
    pub(crate) fn inproc(&self) -> &Registry {
        &self.inproc
    }

    /// The I/O runtimes, for spawning work on them. Sockets exist only once they started.
    pub(crate) fn pool(&self) -> &Arc<IoPool> {
        match self.started.get() {
            Some(s) => &s.pool,
            // Unreachable: Context::socket starts the threads before making a socket.
            None => unreachable!("a socket exists only after its context started"),
        }
    }
}

/// The runtimes of the I/O threads and the count of tasks termination waits for.
pub(crate) struct IoPool {
    handles: Vec<Handle>,
    next: AtomicUsize,
    tasks: Arc<TaskCount>,
}

impl IoPool {
    /// The runtime of the next I/O thread, round-robin.
    pub(crate) fn handle(&self) -> Handle {
        self.handle_for(0)
    }

    /// The runtime of the next I/O thread among those in `affinity` (ZMQ_AFFINITY: bit `i`
    /// allows thread `i`), round-robin; any thread when the mask names none of them.
    pub(crate) fn handle_for(&self, affinity: u64) -> Handle {
        let n = self.handles.len();
        let allowed = |i: usize| i >= 64 || affinity & (1 << i) != 0;
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        if affinity != 0 {
            for k in 0..n {
                let i = (start + k) % n;
                if allowed(i) {
                    return self.handles[i].clone();
                }
            }
        }
        self.handles[start % n].clone()
    }

    /// Runs `fut` on an I/O thread allowed by `affinity`; termination waits for it (use for
    /// anything that may still deliver messages: engines and connecters).
    pub(crate) fn spawn_counted<F>(&self, affinity: u64, fut: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let guard = self.tasks.enter();
        self.handle_for(affinity).spawn(async move {
            let _guard = guard;
            fut.await;
        })
    }
}

impl Drop for ContextInner {
    fn drop(&mut self) {
        if let Some(s) = self.started.take() {
            stop_threads(s.io);
        }
    }
}

/// Tells the I/O threads to stop once their counted tasks are done, and joins them.
fn stop_threads(mut io: Vec<IoThread>) {
    for t in &mut io {
        if let Some(stop) = t.stop.take() {
            let _ = stop.send(());
        }
    }
    for t in &mut io {
        if let Some(j) = t.join.take() {
            let _ = j.join();
        }
    }
}

struct IoThread {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    join: Option<thread::JoinHandle<()>>,
}

impl IoThread {
    fn start(index: usize, config: &ContextConfig, tasks: Arc<TaskCount>) -> Result<IoThread> {
        let (handle_tx, handle_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let name = match config.thread_name_prefix.as_str() {
            "" => format!("oxmq-io-{index}"),
            prefix => format!("{prefix}/oxmq-io-{index}"),
        };
        let config = config.clone();
        let join = thread::Builder::new().name(name).spawn(move || {
            apply_scheduling(&config);
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = handle_tx.send(Err(e));
                    return;
                }
            };
            let _ = handle_tx.send(Ok(rt.handle().clone()));
            if config.busy_wait {
                crate::keepawake::install(&rt);
            }
            rt.block_on(async move {
                let _ = stop_rx.await;
                tasks.wait_idle().await;
            });
        })?;
        let handle = handle_rx.recv().map_err(|_| Error::new(ErrorKind::Io))??;
        Ok(IoThread {
            handle,
            stop: Some(stop_tx),
            join: Some(join),
        })
    }
}

/// THREAD_SCHED_POLICY, THREAD_PRIORITY and THREAD_AFFINITY_CPU_* on the calling I/O thread,
/// as libzmq applies them: the policy (if set) with the priority for the real-time policies;
/// for the others a positive priority asks for the highest nice value. The kernel may refuse
/// (real-time policies and negative nice values need privileges): that is logged, and the
/// thread runs on with what it has.
fn apply_scheduling(c: &ContextConfig) {
    if c.thread_sched_policy >= 0 || c.thread_priority >= 0 {
        // SAFETY: pthread_self is always valid for the calling thread; `param` is a plain C
        // struct, initialised by pthread_getschedparam before it is read.
        unsafe {
            let me = libc::pthread_self();
            let mut policy = 0;
            let mut param: libc::sched_param = std::mem::zeroed();
            if libc::pthread_getschedparam(me, &mut policy, &mut param) == 0 {
                if c.thread_sched_policy >= 0 {
                    policy = c.thread_sched_policy;
                }
                let realtime = policy == libc::SCHED_FIFO || policy == libc::SCHED_RR;
                if c.thread_priority >= 0 {
                    param.sched_priority = if realtime { c.thread_priority } else { 0 };
                }
                let rc = libc::pthread_setschedparam(me, policy, &param);
                if rc != 0 {
                    tracing::warn!(policy, error = %std::io::Error::from_raw_os_error(rc), "cannot set the I/O thread's scheduling");
                }
                if !realtime && c.thread_priority > 0 && libc::nice(-20) == -1 {
                    tracing::warn!(error = %std::io::Error::last_os_error(), "cannot raise the I/O thread's priority");
                }
            }
        }
    }
    if !c.affinity_cpus.is_empty() {
        // SAFETY: cpu_set_t is a plain bit set, zeroed and filled by the libc macros within its
        // size (CPU numbers beyond CPU_SETSIZE are skipped); sched_setaffinity(0) applies to the
        // calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &cpu in &c.affinity_cpus {
                if cpu < libc::CPU_SETSIZE as usize {
                    libc::CPU_SET(cpu, &mut set);
                }
            }
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                tracing::warn!(error = %std::io::Error::last_os_error(), "cannot set the I/O thread's CPU affinity");
            }
        }
    }
}

/// Counts the tasks that termination must wait for.
#[derive(Default)]
pub(crate) struct TaskCount {
    live: AtomicUsize,
    idle: Notify,
}

impl TaskCount {
    /// Counts one more task until the guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> TaskGuard {
        self.live.fetch_add(1, Ordering::SeqCst);
        TaskGuard(Arc::clone(self))
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Keeps a task counted while it lives.
pub(crate) struct TaskGuard(Arc<TaskCount>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// The name of the I/O thread `handle` runs its tasks on.
    fn thread_of(handle: &Handle) -> String {
        let task = handle.spawn(async { std::thread::current().name().map(str::to_owned) });
        futures::executor::block_on(task)
            .expect("task ran")
            .expect("named thread")
    }

    /// Runs `f` on the context's first I/O thread.
    fn on_io_thread<T: Send + 'static>(ctx: &Context, f: impl FnOnce() -> T + Send + 'static) -> T {
        let task = ctx.inner.pool().handle_for(1).spawn(async move { f() });
        futures::executor::block_on(task).expect("task ran")
    }

    #[test]
    fn options_have_libzmqs_defaults_and_io_thread_options_precede_the_first_socket() {
        let ctx = Context::new();
        assert_eq!(ctx.get(copt::IO_THREADS).ok(), Some(1));
        assert_eq!(ctx.get(copt::MAX_SOCKETS).ok(), Some(1023));
        assert_eq!(ctx.get(copt::SOCKET_LIMIT).ok(), Some(65535));
        assert_eq!(ctx.get(copt::MAX_MSGSZ).ok(), Some(i32::MAX));
        assert_eq!(ctx.get(copt::MSG_T_SIZE).ok(), Some(64));
        assert_eq!(ctx.get(copt::IPV6).ok(), Some(0));
        assert_eq!(ctx.get(copt::BLOCKY).ok(), Some(1));
        assert_eq!(ctx.get(copt::THREAD_SCHED_POLICY).ok(), Some(-1));
        assert!(ctx.get(12345).is_err());
        assert!(ctx.set(copt::IO_THREADS, 0).is_err());
        assert!(ctx.set(copt::SOCKET_LIMIT + 100, 1).is_err());
        ctx.set(copt::IO_THREADS, 3)
            .expect("before the first socket");
        let _s = ctx.socket(SocketType::Pair).expect("socket");
        assert_eq!(ctx.inner.pool().handles.len(), 3);
        assert!(ctx.set(copt::IO_THREADS, 2).is_err(), "too late");
        assert!(ctx.set_thread_name_prefix("x").is_err(), "too late");
    }

    #[test]
    fn max_sockets_refuses_one_more_with_emfile() {
        let ctx = Context::new();
        ctx.set(copt::MAX_SOCKETS, 2).expect("set");
        let a = ctx.socket(SocketType::Pair).expect("first");
        let _b = ctx.socket(SocketType::Pair).expect("second");
        let e = ctx.socket(SocketType::Pair).expect_err("third");
        assert_eq!(e.kind(), ErrorKind::TooManySockets);
        assert_eq!(e.errno(), crate::errno::EMFILE);
        drop(a);
        ctx.socket(SocketType::Pair).expect("room again");
    }

    #[test]
    fn busy_wait_is_on_by_default_and_off_leaves_io_threads_without_a_doorbell() {
        let ctx = Context::new();
        let _first = ctx.socket(SocketType::Pair).expect("pair");
        assert!(on_io_thread(&ctx, || crate::keepawake::doorbell().is_some()));
        assert!(
            ctx.set_busy_wait(false).is_err(),
            "only before the first socket"
        );

        let ctx = Context::new();
        ctx.set_busy_wait(false).expect("before the first socket");
        let mut a = ctx.socket(SocketType::Pair).expect("pair");
        let mut b = ctx.socket(SocketType::Pair).expect("pair");
        assert!(on_io_thread(&ctx, || crate::keepawake::doorbell().is_none()));
        // Sockets of such a context still deliver.
        a.bind("inproc://busy-wait-off").expect("bind");
        b.connect("inproc://busy-wait-off").expect("connect");
        b.set_rcvtimeo(5_000).expect("rcvtimeo");
        a.send("x").expect("send");
        assert_eq!(b.recv().expect("recv").data(), b"x");
    }

    #[test]
    fn ipv6_and_blocky_become_new_sockets_defaults() {
        let ctx = Context::new();
        ctx.set(copt::IPV6, 1).expect("ipv6");
        ctx.set(copt::BLOCKY, 0).expect("blocky");
        let mut s = ctx.socket(SocketType::Pull).expect("socket");
        assert_eq!(
            s.sockopt(crate::opt::IPV6).expect("get"),
            1i32.to_ne_bytes()
        );
        assert_eq!(s.linger(), 0);
        ctx.set(copt::BLOCKY, 1).expect("blocky");
        assert_eq!(ctx.socket(SocketType::Pull).expect("socket").linger(), -1);
    }

    #[test]
    fn thread_options_shape_the_io_threads() {
        let ctx = Context::new();
        ctx.set_thread_name_prefix("app").expect("prefix");
        ctx.set(copt::THREAD_AFFINITY_CPU_ADD, 0).expect("cpu 0");
        ctx.set(copt::THREAD_AFFINITY_CPU_ADD, 1).expect("cpu 1");
        ctx.set(copt::THREAD_AFFINITY_CPU_REMOVE, 1)
            .expect("cpu 1 out");
        assert!(
            ctx.set(copt::THREAD_AFFINITY_CPU_REMOVE, 5).is_err(),
            "not in the set"
        );
        // SCHED_BATCH needs no privileges.
        ctx.set(copt::THREAD_SCHED_POLICY, libc::SCHED_BATCH)
            .expect("policy");
        let _s = ctx.socket(SocketType::Pair).expect("socket");
        let (name, cpus, policy) = on_io_thread(&ctx, || {
            let name = std::thread::current().name().map(str::to_owned);
            // SAFETY: plain C out-parameters, zero-initialised, filled by libc for the calling
            // thread.
            let (cpus, policy) = unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
                let cpus: Vec<usize> = (0..64).filter(|&c| libc::CPU_ISSET(c, &set)).collect();
                let mut policy = -1;
                let mut param: libc::sched_param = std::mem::zeroed();
                libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param);
                (cpus, policy)
            };
            (name, cpus, policy)
        });
        assert_eq!(name.as_deref(), Some("app/oxmq-io-0"));
        assert_eq!(cpus, [0]);
        assert_eq!(policy, libc::SCHED_BATCH);
    }

    #[test]
    fn affinity_picks_only_the_allowed_io_threads() {
        let ctx = Context::with_io_threads(3).expect("context");
        let pool = ctx.inner.pool();
        for _ in 0..6 {
            assert_eq!(thread_of(&pool.handle_for(0b100)), "oxmq-io-2");
        }
        let mut seen: Vec<String> = (0..6).map(|_| thread_of(&pool.handle_for(0b011))).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, ["oxmq-io-0", "oxmq-io-1"]);
        // A mask naming no existing thread falls back to any of them.
        let mut any: Vec<String> = (0..6)
            .map(|_| thread_of(&pool.handle_for(1 << 40)))
            .collect();
        any.sort();
        any.dedup();
        assert_eq!(any.len(), 3);
    }
}
