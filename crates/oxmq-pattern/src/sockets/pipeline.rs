//! PUSH and PULL (RFC 30).

use oxmq_proto::Msg;

use crate::pattern::Behaviour;
use crate::{
    ByteFrame, FairQueue, LoadBalancer, PatternError, PatternOption, PeerInfo, PipeId, Pipes,
    SendError,
};

/// ZMQ_PUSH: load-balanced send, no receive.
#[derive(Debug, Default)]
pub struct Push {
    lb: LoadBalancer,
}

/// ZMQ_PULL: fair-queued receive, no send.
#[derive(Debug, Default)]
pub struct Pull {
    fq: FairQueue,
}

impl Push {
    pub(crate) fn new() -> Push {
        Push::default()
    }
}

impl Pull {
    pub(crate) fn new() -> Pull {
        Pull::default()
    }
}

impl Behaviour for Push {
    fn attach<P: Pipes>(&mut self, _: &mut P, pipe: PipeId, _: &PeerInfo) {
        self.lb.attach(pipe);
    }

    fn pipe_terminated(&mut self, pipe: PipeId) {
        self.lb.pipe_terminated(pipe);
    }

    fn read_activated(&mut self, _: PipeId) {}

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

    fn recv<P: Pipes>(&mut self, _: &mut P) -> Result<Msg, PatternError> {
        Err(PatternError::NotSupported)
    }

    fn has_in<P: Pipes>(&mut self, _: &mut P) -> bool {
        false
    }

    fn has_out<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        self.lb.has_out(pipes)
    }

    fn set_option<P: Pipes>(&mut self, _: &mut P, _: PatternOption) -> Result<(), PatternError> {
        Err(PatternError::InvalidArgument)
    }
}

impl Behaviour for Pull {
    fn attach<P: Pipes>(&mut self, _: &mut P, pipe: PipeId, _: &PeerInfo) {
        self.fq.attach(pipe);
    }

    fn pipe_terminated(&mut self, pipe: PipeId) {
        self.fq.pipe_terminated(pipe);
    }

    fn read_activated(&mut self, pipe: PipeId) {
        self.fq.read_activated(pipe);
    }

    fn write_activated(&mut self, _: PipeId) {}

    fn send<P: Pipes>(&mut self, _: &mut P, msg: Msg) -> Result<(), SendError> {
        Err(SendError::new(PatternError::NotSupported, msg))
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

    fn has_out<P: Pipes>(&mut self, _: &mut P) -> bool {
        false
    }

    fn set_option<P: Pipes>(&mut self, _: &mut P, _: PatternOption) -> Result<(), PatternError> {
        Err(PatternError::InvalidArgument)
    }
}
