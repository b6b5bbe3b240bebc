//! [`poll`]: wait on several sockets and raw file descriptors at once, as `zmq_poll` does.
//!
//! Each socket contributes its readiness descriptor ([`Socket::fd`]), each raw descriptor
//! itself, to one `poll(2)`. A socket's descriptor only says "look again": the socket's events
//! are read with [`Socket::events`] before each wait, so a socket that is ready already makes
//! `poll` return at once, and one that is not is waited for without a lost wake-up.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::socket::{Socket, POLLIN, POLLOUT};

/// `ZMQ_POLLERR`: an error condition on a raw file descriptor.
pub const POLLERR: u32 = 4;
/// `ZMQ_POLLPRI`: urgent data on a raw file descriptor.
pub const POLLPRI: u32 = 8;

/// One thing to wait on: a socket or a raw file descriptor, with the events of interest.
pub struct PollItem<'a> {
    target: Target<'a>,
    events: u32,
    revents: u32,
}

enum Target<'a> {
    Socket(&'a mut Socket),
    Fd(RawFd),
}

impl<'a> PollItem<'a> {
    /// Waits for `events` ([`POLLIN`], [`POLLOUT`]) on `socket`.
    pub fn socket(socket: &'a mut Socket, events: u32) -> PollItem<'a> {
        PollItem {
            target: Target::Socket(socket),
            events,
            revents: 0,
        }
    }

    /// Waits for `events` ([`POLLIN`], [`POLLOUT`], [`POLLERR`], [`POLLPRI`]) on a raw file
    /// descriptor.
    pub fn fd(fd: RawFd, events: u32) -> PollItem<'a> {
        PollItem {
            target: Target::Fd(fd),
            events,
            revents: 0,
        }
    }

    /// The events that occurred, after [`poll`] returned.
    pub fn revents(&self) -> u32 {
        self.revents
    }

    /// Whether [`POLLIN`] occurred.
    pub fn is_readable(&self) -> bool {
        self.revents & POLLIN != 0
    }

    /// Whether [`POLLOUT`] occurred.
    pub fn is_writable(&self) -> bool {
        self.revents & POLLOUT != 0
    }

    /// The socket of this item, if it is one (to send or receive after a poll).
    pub fn as_socket(&mut self) -> Option<&mut Socket> {
        match &mut self.target {
            Target::Socket(s) => Some(s),
            Target::Fd(_) => None,
        }
    }
}

/// Waits until at least one item has one of its events, or `timeout_ms` passes (-1: wait
/// for ever, 0: just look). Returns how many items have events; see [`PollItem::revents`].
///
/// ```
/// use oxmq::{poll, Context, PollItem, SocketType, POLLIN};
/// let ctx = Context::new();
/// let mut a = ctx.socket(SocketType::Pull)?;
/// a.bind("inproc://poll-doc")?;
/// let mut b = ctx.socket(SocketType::Push)?;
/// b.connect("inproc://poll-doc")?;
/// b.send("hello")?;
/// let mut items = [PollItem::socket(&mut a, POLLIN)];
/// assert_eq!(poll(&mut items, 1000)?, 1);
/// assert!(items[0].is_readable());
/// # Ok::<(), oxmq::Error>(())
/// ```
pub fn poll(items: &mut [PollItem<'_>], timeout_ms: i64) -> Result<usize> {
    let deadline = u64::try_from(timeout_ms)
        .ok()
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(items.len());
    let mut sleepers = Vec::with_capacity(items.len());
    loop {
        fds.clear();
        sleepers.clear();
        let mut ready = 0;
        for item in items.iter_mut() {
            item.revents = 0;
            match &mut item.target {
                Target::Socket(s) => {
                    if s.is_terminated() {
                        return Err(ErrorKind::Terminated.into());
                    }
                    // Before the look at its events: a command after the look must signal
                    // the descriptor that poll(2) then waits on.
                    sleepers.push(s.fd_sleeper());
                    item.revents = s.events() & item.events & (POLLIN | POLLOUT);
                    if item.revents != 0 {
                        ready += 1;
                    }
                    fds.push(libc::pollfd {
                        fd: s.poll_fd()?,
                        events: libc::POLLIN,
                        revents: 0,
                    });
                }
                Target::Fd(fd) => fds.push(libc::pollfd {
                    fd: *fd,
                    events: to_os(item.events),
                    revents: 0,
                }),
            }
        }
        let wait = if ready > 0 {
            0
        } else {
            timeout_until(deadline)
        };
        os_poll(&mut fds, wait)?;
        for (item, pfd) in items.iter_mut().zip(&fds) {
            if let Target::Fd(_) = item.target {
                item.revents = from_os(pfd.revents) & (item.events | POLLERR);
                if item.revents != 0 {
                    ready += 1;
                }
            }
        }
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        if ready > 0 || timed_out || timeout_ms == 0 {
            return Ok(ready);
        }
    }
}

/// The async [`poll`], for any executor: completes when at least one socket item has one of
/// its events, with how many have (see [`PollItem::revents`]). It has no time-out of its own
/// (time belongs to the executor: wrap it in the executor's timer, such as
/// `tokio::time::timeout`), and takes sockets only: raw descriptors are the executor's to
/// watch, so an fd item fails with `EINVAL`. `ETERM` once the context is shut down.
///
/// ```
/// # futures::executor::block_on(async {
/// use oxmq::{poll_async, Context, PollItem, SocketType, POLLIN};
/// let ctx = Context::new();
/// let mut a = ctx.socket(SocketType::Pull)?;
/// a.bind("inproc://poll-async-doc")?;
/// let mut b = ctx.socket(SocketType::Push)?;
/// b.connect("inproc://poll-async-doc")?;
/// b.send("hello")?;
/// let mut items = [PollItem::socket(&mut a, POLLIN)];
/// assert_eq!(poll_async(&mut items).await?, 1);
/// assert!(items[0].is_readable());
/// # Ok::<(), oxmq::Error>(())
/// # }).unwrap();
/// ```
pub async fn poll_async(items: &mut [PollItem<'_>]) -> Result<usize> {
    std::future::poll_fn(|cx| {
        let mut ready = 0;
        for item in items.iter_mut() {
            item.revents = 0;
            let interest = item.events & (POLLIN | POLLOUT);
            let Target::Socket(s) = &mut item.target else {
                return std::task::Poll::Ready(Err(Error::with_source(
                    ErrorKind::InvalidInput,
                    "poll_async waits on sockets only",
                )));
            };
            if s.is_terminated() {
                return std::task::Poll::Ready(Err(ErrorKind::Terminated.into()));
            }
            if let std::task::Poll::Ready(ev) = s.poll_events(cx, interest) {
                item.revents = ev;
                if ev != 0 {
                    ready += 1;
                }
            }
        }
        if ready > 0 {
            std::task::Poll::Ready(Ok(ready))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// Milliseconds from now until `deadline`, for poll(2): -1 without one. Rounded up: waking a
/// little late is fine, returning early is not.
pub(crate) fn timeout_until(deadline: Option<Instant>) -> libc::c_int {
    match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX)
        }
    }
}

/// poll(2) on `fds` for up to `timeout_ms`; returns how many have events. A signal delivered
/// to the thread ends the wait with [`ErrorKind::Interrupted`] (`EINTR`), as libzmq's waits do.
pub(crate) fn os_poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> Result<usize> {
    // SAFETY: `fds` is a live, initialised array of `fds.len()` pollfd structures.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    poll_result(n)
}

/// ppoll(2): [`os_poll`] until `deadline`, with the thread's signal mask set to `mask` for the
/// duration of the wait only. A caller that blocked signals before it looked for work passes
/// the mask it had before: a signal that arrived while it looked is then delivered as the wait
/// starts and ends it with `EINTR`, instead of being handled unseen before a wait that sleeps on.
pub(crate) fn os_ppoll(
    fds: &mut [libc::pollfd],
    deadline: Option<Instant>,
    mask: &libc::sigset_t,
) -> Result<usize> {
    let timeout = deadline.map(|d| {
        let left = d.saturating_duration_since(Instant::now());
        libc::timespec {
            tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(left.subsec_nanos() as i32),
        }
    });
    let timeout_ptr = timeout
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `fds` is a live, initialised array of `fds.len()` pollfd structures; the timeout
    // (or null, to wait without limit) and the mask point at live values for the call.
    let n = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            timeout_ptr,
            mask,
        )
    };
    poll_result(n)
}

/// What poll(2) or ppoll(2) returned: the count of descriptors with events, or the error, with
/// `EINTR` as [`ErrorKind::Interrupted`].
fn poll_result(n: libc::c_int) -> Result<usize> {
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return Err(if e.kind() == std::io::ErrorKind::Interrupted {
            Error::with_source(ErrorKind::Interrupted, e)
        } else {
            e.into()
        });
    }
    Ok(n as usize)
}

fn to_os(events: u32) -> libc::c_short {
    let mut e = 0;
    if events & POLLIN != 0 {
        e |= libc::POLLIN;
    }
    if events & POLLOUT != 0 {
        e |= libc::POLLOUT;
    }
    if events & POLLPRI != 0 {
        e |= libc::POLLPRI;
    }
    e
}

fn from_os(revents: libc::c_short) -> u32 {
    let mut e = 0;
    if revents & (libc::POLLIN | libc::POLLHUP) != 0 {
        e |= POLLIN;
    }
    if revents & libc::POLLOUT != 0 {
        e |= POLLOUT;
    }
    if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
        e |= POLLERR;
    }
    if revents & libc::POLLPRI != 0 {
        e |= POLLPRI;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, SocketType};
    use std::os::fd::AsRawFd;

    fn pair(ctx: &Context, name: &str) -> (Socket, Socket) {
        let mut pull = ctx.socket(SocketType::Pull).expect("socket");
        pull.set_linger(0).expect("linger");
        pull.bind(name).expect("bind");
        let mut push = ctx.socket(SocketType::Push).expect("socket");
        push.set_linger(0).expect("linger");
        push.connect(&pull.last_endpoint()).expect("connect");
        (pull, push)
    }

    #[test]
    fn poll_times_out_then_sees_sockets_and_raw_fds() {
        let ctx = Context::new();
        let (mut a, _pa) = pair(&ctx, "inproc://poll-a");
        let (mut b, mut pb) = pair(&ctx, "tcp://127.0.0.1:*");
        let (raw_r, mut raw_w) = std::os::unix::net::UnixStream::pair().expect("pair");
        {
            let mut items = [
                PollItem::socket(&mut a, POLLIN),
                PollItem::socket(&mut b, POLLIN),
                PollItem::fd(raw_r.as_raw_fd(), POLLIN),
            ];
            let t = Instant::now();
            assert_eq!(poll(&mut items, 50).expect("poll"), 0);
            assert!(t.elapsed() >= Duration::from_millis(50));
        }
        pb.send("over tcp").expect("send");
        {
            let mut items = [
                PollItem::socket(&mut a, POLLIN),
                PollItem::socket(&mut b, POLLIN),
                PollItem::fd(raw_r.as_raw_fd(), POLLIN),
            ];
            assert_eq!(poll(&mut items, 5000).expect("poll"), 1);
            assert!(!items[0].is_readable());
            assert!(items[1].is_readable());
            assert!(!items[2].is_readable());
        }
        assert_eq!(b.recv().expect("recv").data(), b"over tcp");
        std::io::Write::write_all(&mut raw_w, b"x").expect("write");
        let mut items = [
            PollItem::socket(&mut a, POLLIN),
            PollItem::fd(raw_r.as_raw_fd(), POLLIN),
        ];
        assert_eq!(poll(&mut items, 5000).expect("poll"), 1);
        assert!(items[1].is_readable());
    }

    #[test]
    fn edge_triggered_epoll_on_zmq_fd_loses_no_wakeup() {
        const N: u32 = 20_000;
        let ctx = Context::new();
        let (mut pull, mut push) = pair(&ctx, "tcp://127.0.0.1:*");
        let sender = std::thread::spawn(move || {
            for i in 0..N {
                push.send(i.to_be_bytes().to_vec()).expect("send");
                if i % 1000 == 0 {
                    std::thread::yield_now();
                }
            }
            push
        });
        // SAFETY: plain epoll calls on descriptors this test owns; results are checked.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(ep >= 0);
        let fd = pull.fd().expect("ZMQ_FD");
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: 0,
        };
        // SAFETY: see above.
        assert_eq!(
            unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) },
            0
        );
        let mut next = 0u32;
        let deadline = Instant::now() + Duration::from_secs(20);
        while next < N {
            // As pyzmq's integrations do: drain everything ZMQ_EVENTS reports, then wait.
            while pull.events() & POLLIN != 0 {
                let m = pull.try_recv().expect("POLLIN means a message");
                assert_eq!(m.data(), next.to_be_bytes());
                next += 1;
            }
            if next == N {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "stalled at message {next}: lost wake-up");
            let mut out = [libc::epoll_event { events: 0, u64: 0 }];
            // SAFETY: see above; `out` has room for one event.
            let n = unsafe { libc::epoll_wait(ep, out.as_mut_ptr(), 1, left.as_millis() as i32) };
            assert!(n >= 0);
        }
        // SAFETY: closing the epoll descriptor this test created.
        unsafe { libc::close(ep) };
        drop(sender.join().expect("sender"));
    }

    #[test]
    fn blocked_reader_is_woken_by_a_writer_that_polls_for_room() {
        // A writer that gates each send on ZMQ_EVENTS and waits in poll(POLLOUT) when the
        // pipe is full, and a reader blocked in recv: every message must wake the reader
        // (a stale wake-up once left the reader's waker slot empty; RCVTIMEO turns a lost
        // wake-up into a failure here).
        const N: u32 = 50_000;
        let ctx = Context::new();
        let mut push = ctx.socket(SocketType::Push).expect("socket");
        push.bind("inproc://wake").expect("bind");
        let mut pull = ctx.socket(SocketType::Pull).expect("socket");
        pull.connect("inproc://wake").expect("connect");
        pull.set_rcvtimeo(2000).expect("rcvtimeo");
        let writer = std::thread::spawn(move || {
            let mut i = 0;
            while i < N {
                if push.events() & POLLOUT != 0 {
                    push.send(i.to_be_bytes().to_vec()).expect("send");
                    i += 1;
                } else {
                    let mut items = [PollItem::socket(&mut push, POLLOUT)];
                    poll(&mut items, 5000).expect("poll");
                }
            }
        });
        for i in 0..N {
            let m = pull.recv().expect("no lost wake-up");
            assert_eq!(m.data(), i.to_be_bytes());
        }
        writer.join().expect("writer");
    }

    #[test]
    fn poll_fails_with_eterm_after_shutdown() {
        let ctx = Context::new();
        let mut pull = ctx.socket(SocketType::Pull).expect("socket");
        pull.bind("inproc://poll-eterm").expect("bind");
        let handle = ctx.clone();
        let waiter = std::thread::spawn(move || {
            let mut items = [PollItem::socket(&mut pull, POLLIN)];
            poll(&mut items, 10_000).map_err(|e| e.kind())
        });
        handle.shutdown();
        assert_eq!(waiter.join().expect("thread"), Err(ErrorKind::Terminated));
    }

    #[test]
    fn poll_async_waits_for_the_socket_that_becomes_ready() {
        let ctx = Context::new();
        let (mut idle, _idle_push) = pair(&ctx, "inproc://poll-async-idle");
        let (mut busy, mut busy_push) = pair(&ctx, "inproc://poll-async-busy");
        futures::executor::block_on(async {
            let mut items = [
                PollItem::socket(&mut idle, POLLIN),
                PollItem::socket(&mut busy, POLLIN),
            ];
            let n = {
                let mut fut = std::pin::pin!(poll_async(&mut items));
                assert!(
                    futures::poll!(fut.as_mut()).is_pending(),
                    "nothing to read yet"
                );
                busy_push.send("wake").expect("send");
                fut.await.expect("poll")
            };
            assert_eq!(n, 1);
            assert!(!items[0].is_readable());
            assert!(items[1].is_readable());
        });
        assert_eq!(busy.recv().expect("recv").data(), b"wake");
    }

    #[test]
    fn poll_async_refuses_descriptors_and_reports_eterm() {
        let ctx = Context::new();
        let (mut a, _b) = pair(&ctx, "inproc://poll-async-eterm");
        let fd = a.fd().expect("fd");
        let mut items = [PollItem::fd(fd, POLLIN)];
        let r = futures::executor::block_on(poll_async(&mut items));
        assert_eq!(r.map_err(|e| e.kind()), Err(ErrorKind::InvalidInput));
        let waiter = std::thread::spawn(move || {
            futures::executor::block_on(async {
                let mut items = [PollItem::socket(&mut a, POLLIN)];
                poll_async(&mut items).await.map_err(|e| e.kind())
            })
        });
        ctx.shutdown();
        assert_eq!(waiter.join().expect("joined"), Err(ErrorKind::Terminated));
    }
}
