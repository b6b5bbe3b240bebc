//! [`Context`]: the I/O threads and the lifetime of everything that runs on them.
//!
//! Each I/O thread runs a single-threaded tokio runtime; engines (one per connection),
//! listeners and connecters are tasks on those runtimes, spread round-robin. Applications never
//! run on these threads, and sockets are usable from any thread or executor. When the last
//! handle to the context goes away (the [`Context`] values and every [`Socket`]), the context
//! waits for engines that are still delivering messages within their socket's LINGER, then stops
//! its threads, as `zmq_ctx_term` does.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, Weak};
use std::thread;

use oxmq_proto::SocketType;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, Notify};

use crate::error::{Error, ErrorKind, Result};
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
    /// A context with one I/O thread, libzmq's default.
    ///
    /// # Panics
    /// If the operating system refuses to start a thread, as `std::thread::spawn` does.
    pub fn new() -> Context {
        match Context::with_io_threads(1) {
            Ok(ctx) => ctx,
            Err(e) => panic!("cannot start the oxmq I/O thread: {e}"),
        }
    }

    /// A context with `n` I/O threads (at least one).
    pub fn with_io_threads(n: usize) -> Result<Context> {
        if n == 0 {
            return Err(Error::with_source(
                ErrorKind::InvalidInput,
                "a context needs at least one I/O thread",
            ));
        }
        let tasks = Arc::new(TaskCount::default());
        let io = (0..n)
            .map(|i| IoThread::start(i, Arc::clone(&tasks)))
            .collect::<Result<Vec<_>>>()?;
        let handles = io.iter().map(|t| t.handle.clone()).collect();
        Ok(Context {
            inner: Arc::new(ContextInner {
                io,
                pool: Arc::new(IoPool {
                    handles,
                    next: AtomicUsize::new(0),
                    tasks,
                }),
                inproc: Registry::default(),
                terminated: AtomicBool::new(false),
                sockets: Mutex::new(Vec::new()),
                socket_closed: Condvar::new(),
            }),
        })
    }

    /// Creates a socket of type `socket_type`. `ETERM` once the context is shutting down.
    pub fn socket(&self, socket_type: SocketType) -> Result<Socket> {
        if self.inner.is_terminated() {
            return Err(ErrorKind::Terminated.into());
        }
        Socket::new(Arc::clone(&self.inner), socket_type)
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
            .field("io_threads", &self.inner.io.len())
            .finish()
    }
}

/// What sockets share of their context. Only sockets and [`Context`] values hold it: its drop
/// joins the I/O threads, so no task running on them may own a reference (they hold the
/// [`IoPool`] instead).
pub(crate) struct ContextInner {
    io: Vec<IoThread>,
    pool: Arc<IoPool>,
    inproc: Registry,
    terminated: AtomicBool,
    /// The live sockets: their signals, to wake blocked calls at shutdown, and their
    /// liveness tokens (engines keep a socket's signal, only the socket keeps its token).
    sockets: Mutex<Vec<(Weak<SocketSignal>, Weak<()>)>>,
    /// Signalled whenever a socket is dropped.
    socket_closed: Condvar,
}

impl ContextInner {
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

    /// The I/O runtimes, for spawning work on them.
    pub(crate) fn pool(&self) -> &Arc<IoPool> {
        &self.pool
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
        for t in &mut self.io {
            if let Some(stop) = t.stop.take() {
                let _ = stop.send(());
            }
        }
        for t in &mut self.io {
            if let Some(j) = t.join.take() {
                let _ = j.join();
            }
        }
    }
}

struct IoThread {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    join: Option<thread::JoinHandle<()>>,
}

impl IoThread {
    fn start(index: usize, tasks: Arc<TaskCount>) -> Result<IoThread> {
        let (handle_tx, handle_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let join = thread::Builder::new()
            .name(format!("oxmq-io-{index}"))
            .spawn(move || {
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

    /// The name of the I/O thread `handle` runs its tasks on.
    fn thread_of(handle: &Handle) -> String {
        let task = handle.spawn(async { std::thread::current().name().map(str::to_owned) });
        futures::executor::block_on(task)
            .expect("task ran")
            .expect("named thread")
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
