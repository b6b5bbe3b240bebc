//! REP (RFC 28): strict receive/reply alternation over a ROUTER, keeping the envelope.

use oxmq_proto::Msg;

use super::Router;
use crate::pattern::Behaviour;
use crate::{PatternError, PatternOption, PeerInfo, PipeId, Pipes, SendError};

/// ZMQ_REP: receives a request, hands its body to the application, and sends the reply back to
/// the same peer behind the request's envelope (every frame up to the empty delimiter, routing
/// ids of intermediate ROUTERs included).
///
/// As in libzmq the envelope is written to the requester's pipe while the request is received
/// (not published until the reply's last frame), so storing it costs nothing and a peer that
/// left meanwhile simply loses its reply.
#[derive(Debug)]
pub struct Rep {
    router: Router,
    sending_reply: bool,
    request_begins: bool,
}

impl Rep {
    /// The ROUTER underneath, for its drop counts.
    pub(crate) fn router(&self) -> &Router {
        &self.router
    }

    pub(crate) fn new() -> Rep {
        Rep {
            router: Router::new(),
            sending_reply: false,
            request_begins: true,
        }
    }

    pub(crate) fn routing_id_in_use(&self, id: &[u8]) -> bool {
        self.router.routing_id_in_use(id)
    }
}

impl Behaviour for Rep {
    fn attach<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId, peer: &PeerInfo) {
        self.router.attach(pipes, pipe, peer);
    }

    fn pipe_terminated(&mut self, pipe: PipeId) {
        self.router.pipe_terminated(pipe);
    }

    fn read_activated(&mut self, pipe: PipeId) {
        self.router.read_activated(pipe);
    }

    fn write_activated(&mut self, pipe: PipeId) {
        self.router.write_activated(pipe);
    }

    fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) -> Result<(), SendError> {
        if !self.sending_reply {
            return Err(SendError::new(PatternError::Fsm, msg));
        }
        let more = msg.more();
        self.router.send(pipes, msg)?;
        if !more {
            self.sending_reply = false;
        }
        Ok(())
    }

    fn recv<P: Pipes>(&mut self, pipes: &mut P) -> Result<Msg, PatternError> {
        if self.sending_reply {
            return Err(PatternError::Fsm);
        }
        if self.request_begins {
            loop {
                let m = self.router.recv(pipes)?;
                if m.more() {
                    let bottom = m.is_empty();
                    // The first frame is the routing id the router prepended: it selects the
                    // pipe the reply goes to. If that fails (ROUTER_MANDATORY on a full pipe,
                    // where libzmq would abort), the request is still delivered and its reply
                    // is dropped.
                    if self.router.send(pipes, m).is_err() {
                        self.router.discard_outbound();
                    }
                    if bottom {
                        break;
                    }
                } else {
                    // No delimiter: malformed request, dropped with its copied envelope.
                    self.router.rollback(pipes);
                }
            }
            self.request_begins = false;
        }
        let m = self.router.recv(pipes)?;
        if !m.more() {
            self.sending_reply = true;
            self.request_begins = true;
        }
        Ok(m)
    }

    fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        !self.sending_reply && self.router.has_in(pipes)
    }

    fn has_out<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        self.sending_reply && self.router.has_out(pipes)
    }

    fn set_option<P: Pipes>(
        &mut self,
        pipes: &mut P,
        opt: PatternOption,
    ) -> Result<(), PatternError> {
        // REP inherits ROUTER's options in libzmq.
        self.router.set_option(pipes, opt)
    }
}
