//! DEALER (RFC 28): load-balanced send, fair-queued receive, no envelope.

use oxmq_proto::Msg;

use crate::pattern::Behaviour;
use crate::{
    ByteFrame, FairQueue, LoadBalancer, PatternError, PatternOption, PeerInfo, PipeId, Pipes,
    SendError,
};

/// ZMQ_DEALER. REQ is built on it.
#[derive(Debug, Default)]
pub struct Dealer {
    pub(crate) lb: LoadBalancer,
    pub(crate) fq: FairQueue,
    probe_router: bool,
}

impl Dealer {
    pub(crate) fn new() -> Dealer {
        Dealer::default()
    }
}

impl Behaviour for Dealer {
    fn attach<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId, _: &PeerInfo) {
        if self.probe_router {
            send_probe(pipes, pipe);
        }
        self.fq.attach(pipe);
        self.lb.attach(pipe);
    }

    fn pipe_terminated(&mut self, pipe: PipeId) {
        self.fq.pipe_terminated(pipe);
        self.lb.pipe_terminated(pipe);
    }

    fn read_activated(&mut self, pipe: PipeId) {
        self.fq.read_activated(pipe);
    }

    fn write_activated(&mut self, pipe: PipeId) {
        self.lb.write_activated(pipe);
    }

    #[inline]
    fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) -> Result<(), SendError> {
        self.lb
            .send(pipes, msg)
            .map(drop)
            .map_err(|m| SendError::new(PatternError::WouldBlock, m))
    }

    #[inline]
    fn send_bytes<P: Pipes>(&mut self, pipes: &mut P, f: ByteFrame) -> Result<(), PatternError> {
        self.lb.send_bytes(pipes, f)
    }

    #[inline]
    fn recv_into<P: Pipes>(
        &mut self,
        pipes: &mut P,
        out: &mut Option<Msg>,
    ) -> Result<(), PatternError> {
        self.fq.recv_or_block(pipes, out)
    }

    fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        self.fq.has_in(pipes)
    }

    fn has_out<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        self.lb.has_out(pipes)
    }

    fn set_option<P: Pipes>(&mut self, _: &mut P, opt: PatternOption) -> Result<(), PatternError> {
        match opt {
            PatternOption::ProbeRouter(on) => {
                self.probe_router = on;
                Ok(())
            }
            _ => Err(PatternError::InvalidArgument),
        }
    }
}

/// ZMQ_PROBE_ROUTER: an empty message to a new peer, so a ROUTER learns its routing id. Dropped
/// silently if the pipe is full, as in libzmq.
pub(crate) fn send_probe<P: Pipes>(pipes: &mut P, pipe: PipeId) {
    if pipes.write(pipe, Msg::new()).is_ok() {
        pipes.flush(pipe);
    }
}
