//! REQ (RFC 28): strict request/reply alternation over a DEALER.

use oxmq_proto::Msg;

use super::Dealer;
use crate::pattern::Behaviour;
use crate::routing::random_u32;
use crate::{PatternError, PatternOption, PeerInfo, PipeId, Pipes, SendError};

/// ZMQ_REQ: each request goes, behind an empty delimiter frame, to the next peer in turn; only
/// that peer's reply, behind the same delimiter, is accepted.
#[derive(Debug)]
pub struct Req {
    dealer: Dealer,
    /// A full request was sent; the reply is expected.
    receiving_reply: bool,
    /// The next frame sent or received starts a message.
    message_begins: bool,
    /// Where the request went (None also after that peer left: then any reply is taken, as in
    /// libzmq).
    reply_pipe: Option<PipeId>,
    strict: bool,
    correlate: bool,
    request_id: u32,
}

impl Req {
    pub(crate) fn new() -> Req {
        Req {
            dealer: Dealer::new(),
            receiving_reply: false,
            message_begins: true,
            reply_pipe: None,
            strict: true,
            correlate: false,
            request_id: random_u32(),
        }
    }

    /// A frame of the reply: frames from other pipes are dropped one by one (the fair queue
    /// hands out whole messages, so that drops whole messages).
    fn recv_reply_frame<P: Pipes>(&mut self, pipes: &mut P) -> Result<Msg, PatternError> {
        loop {
            let (m, pipe) = self.dealer.fq.recv(pipes).ok_or(PatternError::WouldBlock)?;
            if self.reply_pipe.is_none() || self.reply_pipe == Some(pipe) {
                return Ok(m);
            }
        }
    }

    /// Drops the rest of a message whose frame `m` was just read.
    fn skip_rest<P: Pipes>(&mut self, pipes: &mut P, mut m: Msg) {
        while m.more() {
            match self.recv_reply_frame(pipes) {
                Ok(next) => m = next,
                Err(_) => break,
            }
        }
    }

    fn send_envelope_frame<P: Pipes>(&mut self, pipes: &mut P, frame: Msg) -> bool {
        match self.dealer.lb.send(pipes, frame) {
            Ok(pipe) => {
                if pipe.is_some() {
                    self.reply_pipe = pipe;
                }
                true
            }
            Err(_) => false,
        }
    }
}

impl Behaviour for Req {
    fn attach<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId, peer: &PeerInfo) {
        self.dealer.attach(pipes, pipe, peer);
    }

    fn pipe_terminated(&mut self, pipe: PipeId) {
        if self.reply_pipe == Some(pipe) {
            self.reply_pipe = None;
        }
        self.dealer.pipe_terminated(pipe);
    }

    fn read_activated(&mut self, pipe: PipeId) {
        self.dealer.read_activated(pipe);
    }

    fn write_activated(&mut self, pipe: PipeId) {
        self.dealer.write_activated(pipe);
    }

    fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) -> Result<(), SendError> {
        if self.receiving_reply {
            if self.strict {
                return Err(SendError::new(PatternError::Fsm, msg));
            }
            self.receiving_reply = false;
            self.message_begins = true;
        }
        if self.message_begins {
            self.reply_pipe = None;
            if self.correlate {
                self.request_id = self.request_id.wrapping_add(1);
                // libzmq copies the id in host byte order; on the little-endian hosts it runs
                // on that is little-endian, and peers only ever echo it back.
                let id = Msg::copy_from_slice(&self.request_id.to_le_bytes()).with_more(true);
                if !self.send_envelope_frame(pipes, id) {
                    return Err(SendError::new(PatternError::WouldBlock, msg));
                }
            }
            if !self.send_envelope_frame(pipes, Msg::new().with_more(true)) {
                return Err(SendError::new(PatternError::WouldBlock, msg));
            }
            self.message_begins = false;
            // Drop replies that arrived late for earlier requests, so that a stale reply from
            // one peer is never taken for the reply to this request.
            while self.dealer.fq.recv(pipes).is_some() {}
        }
        let more = msg.more();
        self.dealer.send(pipes, msg)?;
        if !more {
            self.receiving_reply = true;
            self.message_begins = true;
        }
        Ok(())
    }

    fn recv<P: Pipes>(&mut self, pipes: &mut P) -> Result<Msg, PatternError> {
        if !self.receiving_reply {
            return Err(PatternError::Fsm);
        }
        while self.message_begins {
            if self.correlate {
                let m = self.recv_reply_frame(pipes)?;
                if !m.more() || m.data() != self.request_id.to_le_bytes() {
                    self.skip_rest(pipes, m);
                    continue;
                }
            }
            let m = self.recv_reply_frame(pipes)?;
            if !m.more() || !m.is_empty() {
                self.skip_rest(pipes, m);
                continue;
            }
            self.message_begins = false;
        }
        let m = self.recv_reply_frame(pipes)?;
        if !m.more() {
            self.receiving_reply = false;
            self.message_begins = true;
        }
        Ok(m)
    }

    fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        self.receiving_reply && self.dealer.has_in(pipes)
    }

    fn has_out<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        if self.receiving_reply && self.strict {
            return false;
        }
        self.dealer.has_out(pipes)
    }

    fn set_option<P: Pipes>(
        &mut self,
        pipes: &mut P,
        opt: PatternOption,
    ) -> Result<(), PatternError> {
        match opt {
            PatternOption::ReqCorrelate(on) => {
                self.correlate = on;
                Ok(())
            }
            PatternOption::ReqRelaxed(on) => {
                self.strict = !on;
                Ok(())
            }
            other => self.dealer.set_option(pipes, other),
        }
    }
}
