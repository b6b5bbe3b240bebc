//! PUB and XPUB (RFC 29): fan-out to the subscribers whose subscriptions match.

use std::collections::VecDeque;

use bytes::Bytes;
use oxmq_proto::Msg;

use crate::pattern::Behaviour;
use crate::pipe_map::PipeSet;
use crate::{
    Distributor, PatternError, PatternOption, PeerInfo, PipeId, Pipes, RemoveOutcome, SendError,
    SubscriptionMap,
};

/// ZMQ_PUB: sends each message to every subscriber whose subscription is a prefix of its first
/// frame; a subscriber at its high-water mark misses it (PUB never blocks). Cannot receive.
#[derive(Debug)]
pub struct Pub {
    core: XPubCore,
}

/// ZMQ_XPUB: a PUB whose application receives the subscriptions (`\x01topic`, `\x00topic`) and
/// any other message its subscribers send.
#[derive(Debug)]
pub struct XPub {
    core: XPubCore,
}

impl Pub {
    /// The distributor, for its drop counts.
    pub(crate) fn distributor(&self) -> &crate::Distributor {
        &self.core.dist
    }

    pub(crate) fn new() -> Pub {
        Pub {
            core: XPubCore::new(true),
        }
    }

    pub(crate) fn topics_count(&self) -> usize {
        self.core.subscriptions.len()
    }
}

impl XPub {
    /// The distributor, for its drop counts.
    pub(crate) fn distributor(&self) -> &crate::Distributor {
        &self.core.dist
    }

    pub(crate) fn new() -> XPub {
        XPub {
            core: XPubCore::new(false),
        }
    }

    pub(crate) fn topics_count(&self) -> usize {
        self.core.subscriptions.len()
    }
}

/// libzmq's `xpub_t`, of which `pub_t` is a subclass that neither receives nor notifies.
#[derive(Debug)]
struct XPubCore {
    is_pub: bool,
    dist: Distributor,
    subscriptions: SubscriptionMap,
    /// Subscription notifications and upstream messages for the application (XPUB only), with
    /// what receiving each does to `last_pipe` in manual mode.
    pending: VecDeque<(Msg, LastPipe)>,
    /// Pipes reported readable and not read yet: `read_activated` has no access to the pipes,
    /// so they are read at the next operation (libzmq's socket also processes its pending
    /// activations at the start of every send and recv).
    to_read: VecDeque<PipeId>,
    to_read_set: PipeSet,
    more_send: bool,
    more_recv: bool,
    /// Whether the frames after the first of the message being read are checked for
    /// subscriptions (always, unless ZMQ_ONLY_FIRST_SUBSCRIBE).
    process_subscribe: bool,
    verbose_subs: bool,
    verbose_unsubs: bool,
    lossy: bool,
    invert: bool,
    only_first_subscribe: bool,
    welcome: Bytes,
    /// ZMQ_XPUB_MANUAL: subscriptions are only reported; the application applies them with
    /// ZMQ_SUBSCRIBE / ZMQ_UNSUBSCRIBE to the pipe of the last notification it received.
    manual: bool,
    manual_subscriptions: SubscriptionMap,
    last_pipe: Option<PipeId>,
    /// ZMQ_XPUB_MANUAL_LAST_VALUE: the next message goes only to `last_pipe`.
    send_last_pipe: bool,
}

/// What receiving a pending XPUB message does to the manual mode's last pipe.
#[derive(Debug, Clone, Copy)]
enum LastPipe {
    Keep,
    Set(Option<PipeId>),
}

impl XPubCore {
    fn new(is_pub: bool) -> XPubCore {
        XPubCore {
            is_pub,
            dist: Distributor::new(),
            subscriptions: SubscriptionMap::new(),
            pending: VecDeque::new(),
            to_read: VecDeque::new(),
            to_read_set: PipeSet::default(),
            more_send: false,
            more_recv: false,
            process_subscribe: false,
            verbose_subs: false,
            verbose_unsubs: false,
            lossy: true,
            invert: false,
            only_first_subscribe: false,
            welcome: Bytes::new(),
            manual: false,
            manual_subscriptions: SubscriptionMap::new(),
            last_pipe: None,
            send_last_pipe: false,
        }
    }

    #[inline]
    fn process_pending_reads<P: Pipes>(&mut self, pipes: &mut P) {
        while let Some(pipe) = self.to_read.pop_front() {
            self.to_read_set.remove(&pipe);
            self.read_pipe(pipes, pipe);
        }
    }

    /// Applies every subscription queued on `pipe`; keeps the notifications and other messages
    /// for the application (XPUB).
    fn read_pipe<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId) {
        while let Some(msg) = pipes.read(pipe) {
            let first_part = !self.more_recv;
            self.more_recv = msg.more();
            // libzmq checks every frame, not only the first of a message, unless
            // ZMQ_ONLY_FIRST_SUBSCRIBE.
            let kind = if first_part || self.process_subscribe {
                subscription_kind(&msg)
            } else {
                None
            };
            if first_part {
                self.process_subscribe = !self.only_first_subscribe || kind.is_some();
            }
            let Some((subscribe, skip)) = kind else {
                // A plain message going upstream: XPUB passes it on, PUB drops it.
                if !self.is_pub {
                    self.pending.push_back((msg, LastPipe::Keep));
                }
                continue;
            };
            let topic = msg.data().get(skip..).unwrap_or_default();
            let notify = if self.manual {
                if subscribe {
                    self.manual_subscriptions.add(topic, pipe);
                } else {
                    self.manual_subscriptions.remove(topic, pipe);
                }
                true
            } else if subscribe {
                self.subscriptions.add(topic, pipe) || self.verbose_subs
            } else {
                // libzmq also passes up the cancel of a subscription it never had.
                self.subscriptions.remove(topic, pipe) != RemoveOutcome::ValuesRemain
                    || self.verbose_unsubs
            };
            if notify && !self.is_pub {
                let last = if self.manual {
                    LastPipe::Set(Some(pipe))
                } else {
                    LastPipe::Keep
                };
                self.pending
                    .push_back((notification(subscribe, topic), last));
            }
        }
    }
}

/// Whether `msg` is a subscription (`Some(true, offset of the topic)`), a cancel
/// (`Some(false, ..)`) or data (`None`). ZMTP 3.1 peers send SUBSCRIBE/CANCEL commands (flagged
/// frames), 3.0 peers messages whose first byte is 1 or 0.
fn subscription_kind(msg: &Msg) -> Option<(bool, usize)> {
    if msg.is_subscribe() {
        Some((true, 0))
    } else if msg.is_cancel() {
        Some((false, 0))
    } else {
        match msg.data().first() {
            Some(1) => Some((true, 1)),
            Some(0) => Some((false, 1)),
            _ => None,
        }
    }
}

impl Behaviour for XPubCore {
    fn attach<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId, _: &PeerInfo) {
        self.dist.attach(pipe);
        if !self.welcome.is_empty()
            && pipes
                .write(pipe, Msg::from_bytes(self.welcome.clone()))
                .is_ok()
        {
            pipes.flush(pipe);
        }
        self.read_pipe(pipes, pipe);
    }

    fn pipe_terminated(&mut self, pipe: PipeId) {
        let is_pub = self.is_pub;
        let pending = &mut self.pending;
        if self.manual {
            // Every manual subscription of the pipe is reported, last or not.
            let mut any = false;
            self.manual_subscriptions.remove_pipe(pipe, |topic, _| {
                any = true;
                if !is_pub {
                    pending.push_back((notification(false, topic), LastPipe::Set(None)));
                }
            });
            if any {
                self.last_pipe = None;
            }
            self.subscriptions.remove_pipe(pipe, |_, _| {});
            if self.last_pipe == Some(pipe) {
                self.last_pipe = None;
            }
        } else {
            let verbose_unsubs = self.verbose_unsubs;
            self.subscriptions.remove_pipe(pipe, |topic, last| {
                if !is_pub && (last || verbose_unsubs) {
                    pending.push_back((notification(false, topic), LastPipe::Keep));
                }
            });
        }
        self.dist.pipe_terminated(pipe);
        if self.to_read_set.remove(&pipe) {
            self.to_read.retain(|&p| p != pipe);
        }
    }

    fn read_activated(&mut self, pipe: PipeId) {
        if self.to_read_set.insert(pipe) {
            self.to_read.push_back(pipe);
        }
    }

    fn write_activated(&mut self, pipe: PipeId) {
        self.dist.write_activated(pipe);
    }

    #[inline]
    fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) -> Result<(), SendError> {
        if !self.to_read.is_empty() {
            self.process_pending_reads(pipes);
        }
        let more = msg.more();
        if !self.more_send {
            self.dist.unmatch();
            let dist = &mut self.dist;
            if self.manual && self.send_last_pipe && self.last_pipe.is_some() {
                // ZMQ_XPUB_MANUAL_LAST_VALUE: only the pipe that subscribed last, if it
                // matches.
                let last = self.last_pipe.take();
                self.subscriptions.for_each_match(msg.data(), |p| {
                    if Some(p) == last {
                        dist.match_pipe(p);
                    }
                });
            } else if self.subscriptions.everything_subscribers() == dist.len() {
                // Every pipe takes every message (a subscribed pipe is always attached), as
                // with SUBs that all subscribe to everything: no pipe needs looking up.
                dist.match_all();
            } else {
                self.subscriptions
                    .for_each_match(msg.data(), |p| dist.match_pipe(p));
            }
            if self.invert {
                self.dist.reverse_match();
            }
        }
        if !self.lossy && !self.dist.check_hwm(pipes) {
            return Err(SendError::new(PatternError::WouldBlock, msg));
        }
        self.dist.send_to_matching(pipes, msg);
        if !more {
            self.dist.unmatch();
        }
        self.more_send = more;
        Ok(())
    }

    fn recv<P: Pipes>(&mut self, pipes: &mut P) -> Result<Msg, PatternError> {
        if self.is_pub {
            return Err(PatternError::NotSupported);
        }
        self.process_pending_reads(pipes);
        let (msg, last) = self.pending.pop_front().ok_or(PatternError::WouldBlock)?;
        if let LastPipe::Set(p) = last {
            self.last_pipe = p;
        }
        Ok(msg)
    }

    fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        if self.is_pub {
            return false;
        }
        self.process_pending_reads(pipes);
        !self.pending.is_empty()
    }

    fn has_out<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        self.process_pending_reads(pipes);
        true
    }

    fn set_option<P: Pipes>(&mut self, _: &mut P, opt: PatternOption) -> Result<(), PatternError> {
        match opt {
            PatternOption::XpubVerbose(on) => {
                self.verbose_subs = on;
                self.verbose_unsubs = false;
            }
            PatternOption::XpubVerboser(on) => {
                self.verbose_subs = on;
                self.verbose_unsubs = on;
            }
            PatternOption::XpubNoDrop(on) => self.lossy = !on,
            PatternOption::XpubWelcomeMsg(msg) => self.welcome = msg,
            PatternOption::InvertMatching(on) => self.invert = on,
            PatternOption::OnlyFirstSubscribe(on) => self.only_first_subscribe = on,
            PatternOption::XpubManual(on) => self.manual = on,
            PatternOption::XpubManualLastValue(on) => {
                self.manual = on;
                self.send_last_pipe = on;
            }
            PatternOption::Subscribe(topic) if self.manual => {
                if let Some(pipe) = self.last_pipe {
                    self.subscriptions.add(&topic, pipe);
                }
            }
            PatternOption::Unsubscribe(topic) if self.manual => {
                if let Some(pipe) = self.last_pipe {
                    self.subscriptions.remove(&topic, pipe);
                }
            }
            _ => return Err(PatternError::InvalidArgument),
        }
        Ok(())
    }
}

/// The message XPUB's application receives for a (un)subscription: `\x01topic` or `\x00topic`.
fn notification(subscribe: bool, topic: &[u8]) -> Msg {
    let mut body = Vec::with_capacity(topic.len() + 1);
    body.push(u8::from(subscribe));
    body.extend_from_slice(topic);
    Msg::from(body)
}

macro_rules! delegate {
    ($t:ty) => {
        impl Behaviour for $t {
            fn attach<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId, peer: &PeerInfo) {
                self.core.attach(pipes, pipe, peer)
            }
            fn pipe_terminated(&mut self, pipe: PipeId) {
                self.core.pipe_terminated(pipe)
            }
            fn read_activated(&mut self, pipe: PipeId) {
                self.core.read_activated(pipe)
            }
            fn write_activated(&mut self, pipe: PipeId) {
                self.core.write_activated(pipe)
            }
            #[inline]
            fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) -> Result<(), SendError> {
                self.core.send(pipes, msg)
            }
            fn recv<P: Pipes>(&mut self, pipes: &mut P) -> Result<Msg, PatternError> {
                self.core.recv(pipes)
            }
            fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
                self.core.has_in(pipes)
            }
            fn has_out<P: Pipes>(&mut self, pipes: &mut P) -> bool {
                self.core.has_out(pipes)
            }
            fn set_option<P: Pipes>(
                &mut self,
                pipes: &mut P,
                opt: PatternOption,
            ) -> Result<(), PatternError> {
                self.core.set_option(pipes, opt)
            }
        }
    };
}

delegate!(Pub);
delegate!(XPub);
