//! The inproc transport (`inproc://name`): two sockets of one context share a pipe pair.
//!
//! No engine, no codec: `Msg` values cross from one socket's pipe to the other's directly. The
//! context keeps a registry of bound names. Connecting to a bound name creates the pipes at
//! once and hands the binder its ends through its command queue; connecting first (libzmq
//! allows it) creates the pipes too, so sends can queue, and parks the binder's ends in the
//! registry until the name is bound. Each direction's high-water mark is the sender's SNDHWM
//! plus the receiver's RCVHWM, as libzmq sums them (0 on either side: no limit).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use oxmq_pattern::PipeId;

use crate::error::{ErrorKind, Result};
use crate::options::Options;
use crate::pipe::{pipe_with, Notifier};
use crate::signal::{Attachment, Command, PeerLink, SocketSignal};
use crate::socket::SocketShared;

/// The inproc names of one context.
#[derive(Default)]
pub(crate) struct Registry {
    names: Mutex<HashMap<String, Slot>>,
}

/// One side of an inproc connection, as the registry knows it.
#[derive(Clone)]
pub(crate) struct Side {
    pub(crate) socket: Arc<SocketShared>,
    pub(crate) sndhwm: i32,
    pub(crate) rcvhwm: i32,
    pub(crate) routing_id: Option<Bytes>,
    /// ZMQ_CONFLATE: the connection's pipes keep only the last message.
    pub(crate) conflate: bool,
}

impl Side {
    /// The socket's side as its options describe it.
    pub(crate) fn new(socket: &Arc<SocketShared>, options: &Options) -> Side {
        Side {
            socket: Arc::clone(socket),
            sndhwm: options.sndhwm,
            rcvhwm: options.rcvhwm,
            routing_id: (!options.routing_id.is_empty()).then(|| options.routing_id.clone()),
            conflate: options.conflate,
        }
    }
}

enum Slot {
    Bound(Side),
    /// Connections made before the bind: the binder's ends, waiting.
    Pending(Vec<Pending>),
}

struct Pending {
    ends: Attachment,
    late: Arc<OnceLock<(Arc<SocketSignal>, PipeId)>>,
}

impl Registry {
    /// Binds `name` to `binder`; returns the connections that were waiting for it, ready to be
    /// attached by the binder (which owns the returned ends). `EADDRINUSE` if already bound.
    pub(crate) fn bind(&self, name: &str, binder: Side) -> Result<Vec<Attachment>> {
        let mut names = self.lock();
        let waiting = match names.remove(name) {
            Some(Slot::Bound(existing)) => {
                names.insert(name.to_owned(), Slot::Bound(existing));
                return Err(ErrorKind::AddrInUse.into());
            }
            Some(Slot::Pending(p)) => p,
            None => Vec::new(),
        };
        let signal = Arc::clone(&binder.socket.signal);
        let mut ready = Vec::with_capacity(waiting.len());
        for mut p in waiting {
            let id = binder.socket.next_pipe_id();
            let _ = p.late.set((Arc::clone(&signal), id));
            p.ends.id = id;
            ready.push(p.ends);
        }
        names.insert(name.to_owned(), Slot::Bound(binder));
        Ok(ready)
    }

    /// Removes `name` if `socket` bound it. Returns whether it did.
    pub(crate) fn unbind(&self, name: &str, socket: &Arc<SocketShared>) -> bool {
        let mut names = self.lock();
        match names.get(name) {
            Some(Slot::Bound(side)) if Arc::ptr_eq(&side.socket, socket) => {
                names.remove(name);
                true
            }
            _ => false,
        }
    }

    /// Connects `connecter` to `name`; returns the connecter's own ends to attach.
    pub(crate) fn connect(
        &self,
        name: &str,
        connecter: &Side,
        connect_routing_id: Option<Bytes>,
    ) -> Attachment {
        let mut names = self.lock();
        let my_id = connecter.socket.next_pipe_id();
        let mine = Notifier::Socket(Arc::clone(&connecter.socket.signal), my_id);
        match names.get_mut(name) {
            Some(Slot::Bound(binder)) => {
                let their_id = binder.socket.next_pipe_id();
                let theirs = Notifier::Socket(Arc::clone(&binder.socket.signal), their_id);
                let (my_ends, their_ends) = pipes(connecter, Some(binder), mine, theirs);
                binder
                    .socket
                    .signal
                    .push(Command::Attach(Box::new(attachment(
                        their_id,
                        their_ends,
                        connecter.routing_id.clone(),
                        Some((&connecter.socket.signal, my_id)),
                    ))));
                attachment(
                    my_id,
                    my_ends,
                    connect_routing_id.or_else(|| binder.routing_id.clone()),
                    Some((&binder.socket.signal, their_id)),
                )
            }
            slot => {
                let late = Arc::new(OnceLock::new());
                let (my_ends, their_ends) =
                    pipes(connecter, None, mine, Notifier::Late(Arc::clone(&late)));
                // The binder's id is assigned when it binds.
                let pending = Pending {
                    ends: attachment(
                        PipeId(0),
                        their_ends,
                        connecter.routing_id.clone(),
                        Some((&connecter.socket.signal, my_id)),
                    ),
                    late,
                };
                match slot {
                    Some(Slot::Pending(list)) => list.push(pending),
                    _ => {
                        names.insert(name.to_owned(), Slot::Pending(vec![pending]));
                    }
                }
                // The binder is not known yet: it learns who we are when it binds. Until then
                // we cannot tell it we left; it will find the pipes closed.
                attachment(my_id, my_ends, connect_routing_id, None)
            }
        }
    }

    /// Connects an engine task (not a socket) to the socket bound at `name`, as libzmq's
    /// session connects to its ZAP handler: the binder gets a new peer, the task gets its
    /// (reader, writer) ends, woken through `waker`. `None` when nothing is bound there; a
    /// connect never waits for a later bind. Both directions are unbounded: a handshake sends
    /// one request and expects one reply.
    pub(crate) fn connect_task(
        &self,
        name: &str,
        waker: &Arc<crate::pipe::TaskWaker>,
    ) -> Option<Ends> {
        let names = self.lock();
        let Some(Slot::Bound(binder)) = names.get(name) else {
            return None;
        };
        let their_id = binder.socket.next_pipe_id();
        let theirs = Notifier::Socket(Arc::clone(&binder.socket.signal), their_id);
        let mine = Notifier::Task(Arc::clone(waker));
        let (to_binder_w, to_binder_r) = pipe_with(false, 0, theirs.clone(), mine.clone());
        let (to_task_w, to_task_r) = pipe_with(false, 0, mine, theirs);
        binder
            .socket
            .signal
            .push(Command::Attach(Box::new(attachment(
                their_id,
                (to_binder_r, to_task_w),
                None,
                None,
            ))));
        Some((to_task_r, to_binder_w))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Ends = (crate::pipe::PipeReader, crate::pipe::PipeWriter);

/// One socket's ends of an inproc connection, with the other socket to tell when it leaves.
fn attachment(
    id: PipeId,
    (reader, writer): Ends,
    routing_id: Option<Bytes>,
    peer: Option<(&Arc<SocketSignal>, PipeId)>,
) -> Attachment {
    Attachment {
        id,
        reader,
        writer,
        routing_id,
        peer: peer.map(|(signal, id)| PeerLink {
            signal: Arc::clone(signal),
            id,
        }),
        properties: None,
    }
}

/// The two pipes between `a` and `b` (`b` unknown for a pending connect: libzmq's default
/// HWM of 1000 stands in for its side). Returns (a's reader and writer, b's reader and writer).
fn pipes(a: &Side, b: Option<&Side>, a_notify: Notifier, b_notify: Notifier) -> (Ends, Ends) {
    let (b_snd, b_rcv) = b.map_or((1000, 1000), |b| (b.sndhwm, b.rcvhwm));
    // As libzmq, the connecting side's ZMQ_CONFLATE decides (either side's, here).
    let c = a.conflate || b.is_some_and(|b| b.conflate);
    let (ab_w, ab_r) = pipe_with(
        c,
        sum_hwm(a.sndhwm, b_rcv),
        b_notify.clone(),
        a_notify.clone(),
    );
    let (ba_w, ba_r) = pipe_with(c, sum_hwm(b_snd, a.rcvhwm), a_notify, b_notify);
    ((ba_r, ab_w), (ab_r, ba_w))
}

fn sum_hwm(snd: i32, rcv: i32) -> usize {
    if snd <= 0 || rcv <= 0 {
        0
    } else {
        usize::try_from(snd).unwrap_or(0) + usize::try_from(rcv).unwrap_or(0)
    }
}
