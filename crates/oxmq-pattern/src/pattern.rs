//! [`SocketPattern`]: the twelve classic socket types (STREAM included) behind one interface.
//!
//! The caller (oxmq's socket) owns the pipes and calls in here for every application operation
//! (`send`, `recv`, `has_in`, `has_out`, `set_option`) and every pipe event (`attach`,
//! `read_activated`, `write_activated`, `pipe_terminated`). Nothing here blocks or wakes
//! anybody: [`PatternError::WouldBlock`] tells the caller to wait for a pipe event and retry.

use bytes::Bytes;
use oxmq_proto::{Msg, SocketType};

use crate::sockets::{Dealer, Pair, Pub, Pull, Push, Rep, Req, Router, Stream, Sub, XPub, XSub};
use crate::{ByteFrame, PatternError, PipeId, Pipes, SendError};

// Defined before its uses, as `macro_rules!` requires.
macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            SocketPattern::Pair($s) => $e,
            SocketPattern::Pub($s) => $e,
            SocketPattern::Sub($s) => $e,
            SocketPattern::Req($s) => $e,
            SocketPattern::Rep($s) => $e,
            SocketPattern::Dealer($s) => $e,
            SocketPattern::Router($s) => $e,
            SocketPattern::Pull($s) => $e,
            SocketPattern::Push($s) => $e,
            SocketPattern::XPub($s) => $e,
            SocketPattern::XSub($s) => $e,
            SocketPattern::Stream($s) => $e,
        }
    };
}

/// The messaging pattern of one socket: which pipe a message goes to, which one the next message
/// comes from, and what each socket type adds (envelopes, routing ids, subscriptions).
#[derive(Debug)]
#[non_exhaustive]
pub enum SocketPattern {
    /// ZMQ_PAIR.
    Pair(Pair),
    /// ZMQ_PUB.
    Pub(Pub),
    /// ZMQ_SUB.
    Sub(Sub),
    /// ZMQ_REQ.
    Req(Req),
    /// ZMQ_REP.
    Rep(Rep),
    /// ZMQ_DEALER.
    Dealer(Dealer),
    /// ZMQ_ROUTER.
    Router(Router),
    /// ZMQ_PULL.
    Pull(Pull),
    /// ZMQ_PUSH.
    Push(Push),
    /// ZMQ_XPUB.
    XPub(XPub),
    /// ZMQ_XSUB.
    XSub(XSub),
    /// ZMQ_STREAM.
    Stream(Stream),
}

/// What the pattern learns about a peer when it is attached.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The routing id for this peer: the Identity it announced in its READY command, or, for a
    /// connection the user made with ZMQ_CONNECT_ROUTING_ID, that id. ROUTER (and REP) use it;
    /// `None` or an empty id gets a generated one.
    pub routing_id: Option<Bytes>,
}

impl PeerInfo {
    /// A peer with no routing id.
    pub fn new() -> PeerInfo {
        PeerInfo::default()
    }

    /// The same peer with routing id `id`.
    pub fn with_routing_id(mut self, id: Bytes) -> PeerInfo {
        self.routing_id = Some(id);
        self
    }
}

/// Messages a socket dropped on send instead of queueing them, by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    /// A recipient was at its high-water mark (PUB, XPUB: per subscriber; ROUTER).
    pub hwm: u64,
    /// ROUTER without ROUTER_MANDATORY: no peer has the routing id.
    pub unroutable: u64,
    /// PUB, XPUB: no subscriber matched.
    pub no_subscribers: u64,
}

/// The socket options that change a pattern's behaviour. Options a socket type does not know are
/// refused with [`PatternError::InvalidArgument`] (EINVAL), as libzmq does; the caller handles
/// the generic ones (HWM, LINGER, …) itself.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternOption {
    /// ZMQ_SUBSCRIBE: on SUB, subscribe; on XPUB in manual mode, subscribe the pipe of the
    /// last notification received.
    Subscribe(Bytes),
    /// ZMQ_UNSUBSCRIBE: the reverse of [`PatternOption::Subscribe`].
    Unsubscribe(Bytes),
    /// ZMQ_ROUTER_MANDATORY (ROUTER, and REP which is built on it): unroutable messages fail
    /// with EHOSTUNREACH, full pipes with EAGAIN, instead of being dropped.
    RouterMandatory(bool),
    /// ZMQ_ROUTER_HANDOVER (ROUTER, REP): a new peer with a routing id already in use takes it
    /// over and the old connection is closed, instead of the new one being ignored.
    RouterHandover(bool),
    /// ZMQ_PROBE_ROUTER (ROUTER, DEALER, REQ, REP): send an empty message to every new peer.
    ProbeRouter(bool),
    /// ZMQ_REQ_CORRELATE (REQ): prefix requests with a request id and accept only the reply
    /// carrying it.
    ReqCorrelate(bool),
    /// ZMQ_REQ_RELAXED (REQ): allow a new request before the reply to the previous one.
    ReqRelaxed(bool),
    /// ZMQ_XPUB_VERBOSE (XPUB, PUB): pass every subscribe up, not only new topics.
    XpubVerbose(bool),
    /// ZMQ_XPUB_VERBOSER (XPUB, PUB): pass every subscribe and unsubscribe up.
    XpubVerboser(bool),
    /// ZMQ_XPUB_NODROP (XPUB, PUB): fail with EAGAIN instead of dropping when a matching
    /// subscriber is at its high-water mark.
    XpubNoDrop(bool),
    /// ZMQ_XPUB_WELCOME_MSG (XPUB, PUB): a message sent to every new subscriber; empty disables.
    XpubWelcomeMsg(Bytes),
    /// ZMQ_XPUB_MANUAL (XPUB, PUB): subscriptions are reported but not applied; the
    /// application applies them with Subscribe / Unsubscribe.
    XpubManual(bool),
    /// ZMQ_XPUB_MANUAL_LAST_VALUE (XPUB, PUB): manual mode, and the first message after a
    /// notification goes only to the pipe that sent it (last value caching).
    XpubManualLastValue(bool),
    /// ZMQ_ONLY_FIRST_SUBSCRIBE (XPUB, XSUB, and their PUB/SUB forms; draft in libzmq 4.3.5):
    /// only the first frame of a message may be a subscription.
    OnlyFirstSubscribe(bool),
    /// ZMQ_INVERT_MATCHING: PUB and XPUB send to the subscribers that do *not* match, SUB
    /// delivers the messages that do not match. A generic option in libzmq: accepted (without
    /// effect) by every other socket type too.
    InvertMatching(bool),
    /// ZMQ_XSUB_VERBOSE_UNSUBSCRIBE (XSUB; draft in libzmq 4.3.5): forward every unsubscribe
    /// upstream, including those for topics still subscribed more times or never subscribed.
    XsubVerboseUnsubscribe(bool),
}

impl SocketPattern {
    /// The pattern of a new socket of type `socket_type`.
    ///
    /// # Errors
    /// None today: every [`SocketType`] has a pattern. The `Result` stays for socket types
    /// added later ([`PatternError::UnsupportedSocketType`]).
    pub fn new(socket_type: SocketType) -> Result<SocketPattern, PatternError> {
        Ok(match socket_type {
            SocketType::Pair => SocketPattern::Pair(Pair::new()),
            SocketType::Pub => SocketPattern::Pub(Pub::new()),
            SocketType::Sub => SocketPattern::Sub(Sub::new()),
            SocketType::Req => SocketPattern::Req(Req::new()),
            SocketType::Rep => SocketPattern::Rep(Rep::new()),
            SocketType::Dealer => SocketPattern::Dealer(Dealer::new()),
            SocketType::Router => SocketPattern::Router(Router::new()),
            SocketType::Pull => SocketPattern::Pull(Pull::new()),
            SocketType::Push => SocketPattern::Push(Push::new()),
            SocketType::XPub => SocketPattern::XPub(XPub::new()),
            SocketType::XSub => SocketPattern::XSub(XSub::new()),
            SocketType::Stream => SocketPattern::Stream(Stream::new()),
        })
    }

    /// The socket type this pattern implements.
    pub fn socket_type(&self) -> SocketType {
        match self {
            SocketPattern::Pair(_) => SocketType::Pair,
            SocketPattern::Pub(_) => SocketType::Pub,
            SocketPattern::Sub(_) => SocketType::Sub,
            SocketPattern::Req(_) => SocketType::Req,
            SocketPattern::Rep(_) => SocketType::Rep,
            SocketPattern::Dealer(_) => SocketType::Dealer,
            SocketPattern::Router(_) => SocketType::Router,
            SocketPattern::Pull(_) => SocketType::Pull,
            SocketPattern::Push(_) => SocketType::Push,
            SocketPattern::XPub(_) => SocketType::XPub,
            SocketPattern::XSub(_) => SocketType::XSub,
            SocketPattern::Stream(_) => SocketType::Stream,
        }
    }

    /// A new peer connected (handshake done) on `pipe`. The pattern may write to the pipe right
    /// away (SUB sends its subscriptions, XPUB its welcome message, PROBE_ROUTER an empty
    /// message) and read from it (PUB/XPUB take the subscriptions already queued), or ask for it
    /// to be terminated (a second PAIR peer).
    #[inline]
    pub fn attach<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId, peer: &PeerInfo) {
        dispatch!(self, s => s.attach(pipes, pipe, peer))
    }

    /// `pipe` is gone: its peer disconnected, or the caller terminated it. Call once, after the
    /// frames its peer sent were read (libzmq delivers them before the termination).
    #[inline]
    pub fn pipe_terminated(&mut self, pipe: PipeId) {
        dispatch!(self, s => s.pipe_terminated(pipe))
    }

    /// `pipe`, which returned `None` from a read, has a message again. PUB/XPUB read the queued
    /// subscriptions on their next `send`, `recv`, `has_in` or `has_out`.
    #[inline]
    pub fn read_activated(&mut self, pipe: PipeId) {
        dispatch!(self, s => s.read_activated(pipe))
    }

    /// `pipe`, which refused a write, has room again.
    #[inline]
    pub fn write_activated(&mut self, pipe: PipeId) {
        dispatch!(self, s => s.write_activated(pipe))
    }

    /// Sends one frame; `msg.more()` says whether more frames of the same message follow.
    ///
    /// # Errors
    /// The frame comes back in the [`SendError`]: `WouldBlock` (EAGAIN) when no peer can take it
    /// now, `Fsm` (EFSM) out of turn on REQ/REP, `HostUnreachable` (EHOSTUNREACH) for ROUTER
    /// with ROUTER_MANDATORY, `NotSupported` (ENOTSUP) on SUB and PULL.
    #[inline]
    pub fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) -> Result<(), SendError> {
        dispatch!(self, s => s.send(pipes, msg))
    }

    /// [`SocketPattern::send`] of a frame given as bytes (`zmq_send`), which the pipe taking
    /// it copies into a frame where the frame is to stay, for the socket types that allow it.
    ///
    /// # Errors
    /// As [`SocketPattern::send`]; nothing comes back, the caller still has the bytes.
    #[inline]
    pub fn send_bytes<P: Pipes>(
        &mut self,
        pipes: &mut P,
        frame: ByteFrame,
    ) -> Result<(), PatternError> {
        dispatch!(self, s => s.send_bytes(pipes, frame))
    }

    /// Receives one frame; its `more()` says whether more frames of the message follow.
    ///
    /// # Errors
    /// `WouldBlock` (EAGAIN) when nothing is available, `Fsm` (EFSM) out of turn on REQ/REP,
    /// `NotSupported` (ENOTSUP) on PUB and PUSH.
    #[inline]
    pub fn recv<P: Pipes>(&mut self, pipes: &mut P) -> Result<Msg, PatternError> {
        dispatch!(self, s => s.recv(pipes))
    }

    /// [`SocketPattern::recv`] into `out`, which holds the frame after `Ok`: the frame is
    /// moved once on its way from the pipe (see [`Pipes::read_into`]).
    ///
    /// # Errors
    /// As [`SocketPattern::recv`].
    #[inline]
    pub fn recv_into<P: Pipes>(
        &mut self,
        pipes: &mut P,
        out: &mut Option<Msg>,
    ) -> Result<(), PatternError> {
        dispatch!(self, s => s.recv_into(pipes, out))
    }

    /// Whether `recv` would return a frame now (ZMQ_EVENTS' ZMQ_POLLIN). May read ahead.
    #[inline]
    pub fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        dispatch!(self, s => s.has_in(pipes))
    }

    /// Whether `send` would accept a frame now (ZMQ_EVENTS' ZMQ_POLLOUT).
    #[inline]
    pub fn has_out<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        dispatch!(self, s => s.has_out(pipes))
    }

    /// Applies a pattern option.
    ///
    /// # Errors
    /// [`PatternError::InvalidArgument`] (EINVAL) if this socket type does not have the option.
    pub fn set_option<P: Pipes>(
        &mut self,
        pipes: &mut P,
        opt: PatternOption,
    ) -> Result<(), PatternError> {
        if matches!(opt, PatternOption::InvertMatching(_))
            && !matches!(
                self,
                SocketPattern::Pub(_) | SocketPattern::XPub(_) | SocketPattern::Sub(_)
            )
        {
            return Ok(());
        }
        dispatch!(self, s => s.set_option(pipes, opt))
    }

    /// `pipe` reconnected to a new peer without being re-created (libzmq's "hiccup"): SUB and
    /// XSUB send their subscriptions again, as the new peer has none of them.
    pub fn hiccuped<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId) {
        match self {
            SocketPattern::Sub(s) => s.hiccuped(pipes, pipe),
            SocketPattern::XSub(s) => s.hiccuped(pipes, pipe),
            _ => {}
        }
    }

    /// The messages this socket dropped on send, by cause (for the socket's counters).
    pub fn drop_counts(&self) -> DropCounts {
        let from_dist = |d: &crate::Distributor| {
            let (hwm, unmatched) = d.drops();
            DropCounts {
                hwm,
                unroutable: 0,
                no_subscribers: unmatched,
            }
        };
        match self {
            SocketPattern::Pub(s) => from_dist(s.distributor()),
            SocketPattern::XPub(s) => from_dist(s.distributor()),
            SocketPattern::Router(s) => s.drops,
            SocketPattern::Rep(s) => s.router().drops,
            _ => DropCounts::default(),
        }
    }

    /// Number of distinct subscribed topics (ZMQ_TOPICS_COUNT): the socket's own on SUB and
    /// XSUB, its subscribers' on PUB and XPUB; `None` for other socket types (EINVAL).
    pub fn topics_count(&self) -> Option<usize> {
        match self {
            SocketPattern::Sub(s) => Some(s.topics_count()),
            SocketPattern::XSub(s) => Some(s.topics_count()),
            SocketPattern::Pub(s) => Some(s.topics_count()),
            SocketPattern::XPub(s) => Some(s.topics_count()),
            _ => None,
        }
    }

    /// Whether a peer already holds routing id `id` (ROUTER, REP and STREAM; always `false`
    /// otherwise).
    /// The caller checks it before accepting ZMQ_CONNECT_ROUTING_ID for a new connection, as
    /// libzmq does.
    pub fn routing_id_in_use(&self, id: &[u8]) -> bool {
        match self {
            SocketPattern::Router(r) => r.routing_id_in_use(id),
            SocketPattern::Rep(r) => r.routing_id_in_use(id),
            SocketPattern::Stream(s) => s.routing_id_in_use(id),
            _ => false,
        }
    }

    /// The routing id STREAM gave the peer on `pipe` (`None` for other socket types). libzmq
    /// makes the last generated one the socket's ZMQ_ROUTING_ID, which is how a connecting
    /// STREAM learns the id of the peer it is connecting to.
    pub fn stream_routing_id(&self, pipe: PipeId) -> Option<&Bytes> {
        match self {
            SocketPattern::Stream(s) => s.routing_id(pipe),
            _ => None,
        }
    }
}

/// The operations every socket type implements; [`SocketPattern`] dispatches to them.
pub(crate) trait Behaviour {
    fn attach<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId, peer: &PeerInfo);
    fn pipe_terminated(&mut self, pipe: PipeId);
    fn read_activated(&mut self, pipe: PipeId);
    fn write_activated(&mut self, pipe: PipeId);
    fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) -> Result<(), SendError>;
    /// Sends a frame given as bytes. PUSH, DEALER and PAIR let the pipe build it; the rest
    /// (REQ too, whose first frame of a request follows its own delimiter) build a [`Msg`] and
    /// [`Behaviour::send`] it.
    #[inline]
    fn send_bytes<P: Pipes>(&mut self, pipes: &mut P, f: ByteFrame) -> Result<(), PatternError> {
        let msg = Msg::copy_from_slice(f.data).with_more(f.more);
        self.send(pipes, msg).map_err(|e| e.kind)
    }
    /// Receives one frame. Each socket type implements this or `recv_into`, and gets the other
    /// from it: the types that receive in place (PULL, DEALER, SUB, XSUB, ROUTER) implement
    /// `recv_into`, the rest `recv`.
    #[inline]
    fn recv<P: Pipes>(&mut self, pipes: &mut P) -> Result<Msg, PatternError> {
        let mut out = None;
        self.recv_into(pipes, &mut out)?;
        out.ok_or(PatternError::WouldBlock)
    }
    /// `recv` into `out` (see [`Pipes::read_into`]); `out` holds the frame after `Ok`.
    #[inline]
    fn recv_into<P: Pipes>(
        &mut self,
        pipes: &mut P,
        out: &mut Option<Msg>,
    ) -> Result<(), PatternError> {
        *out = Some(self.recv(pipes)?);
        Ok(())
    }
    fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool;
    fn has_out<P: Pipes>(&mut self, pipes: &mut P) -> bool;
    fn set_option<P: Pipes>(
        &mut self,
        pipes: &mut P,
        opt: PatternOption,
    ) -> Result<(), PatternError>;
}
