//! SUB and XSUB (RFC 29): fair-queued receive; subscriptions go to every publisher.

use oxmq_proto::Msg;

use crate::pattern::Behaviour;
use crate::{
    Distributor, FairQueue, PatternError, PatternOption, PeerInfo, PipeId, Pipes, SendError,
    SubTrie,
};

/// ZMQ_SUB: receives the messages whose first frame starts with a subscribed topic (whole
/// multipart messages are kept or dropped); subscribes with [`PatternOption::Subscribe`].
/// Cannot send.
#[derive(Debug)]
pub struct Sub {
    core: XSubCore,
}

/// ZMQ_XSUB: receives everything its publishers send; the application subscribes by sending
/// `\x01topic` and unsubscribes with `\x00topic`; other messages go to every publisher.
#[derive(Debug)]
pub struct XSub {
    core: XSubCore,
}

impl Sub {
    pub(crate) fn new() -> Sub {
        Sub {
            core: XSubCore::new(true),
        }
    }

    pub(crate) fn hiccuped<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId) {
        self.core.send_subscriptions(pipes, pipe);
    }

    pub(crate) fn topics_count(&self) -> usize {
        self.core.subscriptions.len()
    }
}

impl XSub {
    pub(crate) fn new() -> XSub {
        XSub {
            core: XSubCore::new(false),
        }
    }

    pub(crate) fn hiccuped<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId) {
        self.core.send_subscriptions(pipes, pipe);
    }

    pub(crate) fn topics_count(&self) -> usize {
        self.core.subscriptions.len()
    }
}

/// libzmq's `xsub_t`; `sub_t` adds the filter (`options.filter`) and the subscribe options, and
/// removes sending.
#[derive(Debug)]
struct XSubCore {
    /// SUB: drop messages that match no subscription. XSUB does not filter.
    filter: bool,
    invert: bool,
    fq: FairQueue,
    dist: Distributor,
    subscriptions: SubTrie,
    more_recv: bool,
    more_send: bool,
    /// Whether the frames after the first of the message being sent may be subscriptions
    /// (always, unless ZMQ_ONLY_FIRST_SUBSCRIBE).
    process_subscribe: bool,
    only_first_subscribe: bool,
    /// ZMQ_XSUB_VERBOSE_UNSUBSCRIBE: forward every cancel, not only the one that removes a
    /// topic's last count.
    verbose_unsubscribe: bool,
}

impl XSubCore {
    fn new(filter: bool) -> XSubCore {
        XSubCore {
            filter,
            invert: false,
            fq: FairQueue::new(),
            dist: Distributor::new(),
            subscriptions: SubTrie::new(),
            more_recv: false,
            more_send: false,
            process_subscribe: false,
            only_first_subscribe: false,
            verbose_unsubscribe: false,
        }
    }

    #[inline]
    fn wanted(&self, first_frame: &Msg) -> bool {
        !self.filter || (self.subscriptions.matches(first_frame.data()) != self.invert)
    }

    /// Replays the current subscriptions to a new publisher; those that do not fit under its
    /// high-water mark are lost, as in libzmq.
    fn send_subscriptions<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId) {
        self.subscriptions.for_each(|topic| {
            let _ = pipes.write(pipe, Msg::subscribe(topic));
        });
        pipes.flush(pipe);
    }

    /// Drops the rest of a message whose frame `m` was just read.
    fn skip_rest<P: Pipes>(&mut self, pipes: &mut P, mut m: Msg) {
        while m.more() {
            match self.fq.recv(pipes) {
                Some((next, _)) => m = next,
                None => break,
            }
        }
    }

    /// A subscription or cancel to forward upstream, as libzmq's `xsub_t::xsend`: every
    /// subscribe is forwarded (XPUB deduplicates, and XPUB_VERBOSE needs them all), a cancel
    /// only when it removed the topic's last count (every cancel with
    /// ZMQ_XSUB_VERBOSE_UNSUBSCRIBE). `topic_at` is where the topic starts in the frame's body.
    fn subscription<P: Pipes>(
        &mut self,
        pipes: &mut P,
        msg: Msg,
        subscribe: bool,
        topic_at: usize,
    ) {
        let topic = msg.data().get(topic_at..).unwrap_or_default();
        if subscribe {
            self.subscriptions.add(topic);
            self.dist.send_to_all(pipes, msg);
        } else if self.subscriptions.remove(topic) || self.verbose_unsubscribe {
            self.dist.send_to_all(pipes, msg);
        }
    }
}

impl Behaviour for XSubCore {
    fn attach<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId, _: &PeerInfo) {
        self.fq.attach(pipe);
        self.dist.attach(pipe);
        self.send_subscriptions(pipes, pipe);
    }

    fn pipe_terminated(&mut self, pipe: PipeId) {
        self.fq.pipe_terminated(pipe);
        self.dist.pipe_terminated(pipe);
        // A message cut short by its pipe's end: the next frame starts a new message and must
        // go through the filter.
        if !self.fq.in_message() {
            self.more_recv = false;
        }
    }

    fn read_activated(&mut self, pipe: PipeId) {
        self.fq.read_activated(pipe);
    }

    fn write_activated(&mut self, pipe: PipeId) {
        self.dist.write_activated(pipe);
    }

    fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) -> Result<(), SendError> {
        let first_part = !self.more_send;
        self.more_send = msg.more();
        if first_part {
            self.process_subscribe = !self.only_first_subscribe;
        } else if !self.process_subscribe {
            self.dist.send_to_all(pipes, msg);
            return Ok(());
        }
        // libzmq looks at every frame, not only the first of a message, unless
        // ZMQ_ONLY_FIRST_SUBSCRIBE.
        let kind = if msg.is_subscribe() {
            Some((true, 0))
        } else if msg.is_cancel() {
            Some((false, 0))
        } else {
            match msg.data().first() {
                Some(1) => Some((true, 1)),
                Some(0) => Some((false, 1)),
                _ => None,
            }
        };
        match kind {
            Some((subscribe, at)) => {
                self.process_subscribe = true;
                self.subscription(pipes, msg, subscribe, at);
            }
            // Any other message goes upstream to every publisher.
            None => self.dist.send_to_all(pipes, msg),
        }
        Ok(())
    }

    #[inline]
    fn recv_into<P: Pipes>(
        &mut self,
        pipes: &mut P,
        out: &mut Option<Msg>,
    ) -> Result<(), PatternError> {
        loop {
            self.fq.recv_into(pipes, out);
            let m = out.as_ref().ok_or(PatternError::WouldBlock)?;
            if self.more_recv || self.wanted(m) {
                self.more_recv = m.more();
                return Ok(());
            }
            if let Some(m) = out.take() {
                self.skip_rest(pipes, m);
            }
        }
    }

    fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        if self.more_recv {
            return true;
        }
        loop {
            if !self.fq.has_in(pipes) {
                return false;
            }
            match self.fq.peek() {
                Some(m) if !self.wanted(m) => {}
                _ => return true,
            }
            if let Some((m, _)) = self.fq.recv(pipes) {
                self.skip_rest(pipes, m);
            }
        }
    }

    fn has_out<P: Pipes>(&mut self, _: &mut P) -> bool {
        true
    }

    fn set_option<P: Pipes>(&mut self, _: &mut P, opt: PatternOption) -> Result<(), PatternError> {
        match opt {
            PatternOption::OnlyFirstSubscribe(on) => {
                self.only_first_subscribe = on;
                Ok(())
            }
            PatternOption::XsubVerboseUnsubscribe(on) => {
                self.verbose_unsubscribe = on;
                Ok(())
            }
            _ => Err(PatternError::InvalidArgument),
        }
    }
}

impl Behaviour for Sub {
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

    fn send<P: Pipes>(&mut self, _: &mut P, msg: Msg) -> Result<(), SendError> {
        Err(SendError::new(PatternError::NotSupported, msg))
    }

    #[inline]
    fn recv_into<P: Pipes>(
        &mut self,
        pipes: &mut P,
        out: &mut Option<Msg>,
    ) -> Result<(), PatternError> {
        self.core.recv_into(pipes, out)
    }

    fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        self.core.has_in(pipes)
    }

    fn has_out<P: Pipes>(&mut self, _: &mut P) -> bool {
        false
    }

    fn set_option<P: Pipes>(
        &mut self,
        pipes: &mut P,
        opt: PatternOption,
    ) -> Result<(), PatternError> {
        match opt {
            PatternOption::Subscribe(topic) => {
                self.core
                    .subscription(pipes, Msg::subscribe(&topic), true, 0);
                Ok(())
            }
            PatternOption::Unsubscribe(topic) => {
                self.core.subscription(pipes, Msg::cancel(&topic), false, 0);
                Ok(())
            }
            PatternOption::InvertMatching(on) => {
                self.core.invert = on;
                Ok(())
            }
            // sub_t refuses everything but (un)subscribing, ZMQ_ONLY_FIRST_SUBSCRIBE included.
            _ => Err(PatternError::InvalidArgument),
        }
    }
}

impl Behaviour for XSub {
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

    #[inline]
    fn recv_into<P: Pipes>(
        &mut self,
        pipes: &mut P,
        out: &mut Option<Msg>,
    ) -> Result<(), PatternError> {
        self.core.recv_into(pipes, out)
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
