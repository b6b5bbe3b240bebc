//! PAIR (RFC 31): exactly one peer.

use oxmq_proto::Msg;

use crate::pattern::Behaviour;
use crate::{ByteFrame, PatternError, PatternOption, PeerInfo, PipeId, Pipes, SendError};

/// ZMQ_PAIR: one peer; further peers are terminated on attach.
#[derive(Debug, Default)]
pub struct Pair {
    pipe: Option<PipeId>,
    prefetched: Option<Msg>,
}

impl Pair {
    pub(crate) fn new() -> Pair {
        Pair::default()
    }
}

impl Behaviour for Pair {
    fn attach<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId, _peer: &PeerInfo) {
        if self.pipe.is_none() {
            self.pipe = Some(pipe);
        } else {
            pipes.terminate(pipe);
        }
    }

    fn pipe_terminated(&mut self, pipe: PipeId) {
        if self.pipe == Some(pipe) {
            self.pipe = None;
            if self.prefetched.as_ref().is_some_and(Msg::more) {
                self.prefetched = None;
            }
        }
    }

    fn read_activated(&mut self, _pipe: PipeId) {}

    fn write_activated(&mut self, _pipe: PipeId) {}

    #[inline]
    fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) -> Result<(), SendError> {
        let Some(pipe) = self.pipe else {
            return Err(SendError::new(PatternError::WouldBlock, msg));
        };
        pipes
            .write_and_publish(pipe, msg)
            .map_err(|m| SendError::new(PatternError::WouldBlock, m))
    }

    #[inline]
    fn send_bytes<P: Pipes>(&mut self, pipes: &mut P, f: ByteFrame) -> Result<(), PatternError> {
        match self.pipe {
            Some(pipe) if pipes.write_bytes_and_publish(pipe, f.data, f.more) => Ok(()),
            _ => Err(PatternError::WouldBlock),
        }
    }

    #[inline]
    fn recv<P: Pipes>(&mut self, pipes: &mut P) -> Result<Msg, PatternError> {
        if let Some(m) = self.prefetched.take() {
            return Ok(m);
        }
        let pipe = self.pipe.ok_or(PatternError::WouldBlock)?;
        pipes.read(pipe).ok_or(PatternError::WouldBlock)
    }

    fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        if self.prefetched.is_some() {
            return true;
        }
        let Some(pipe) = self.pipe else {
            return false;
        };
        self.prefetched = pipes.read(pipe);
        self.prefetched.is_some()
    }

    fn has_out<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        self.pipe.is_some_and(|p| pipes.check_write(p))
    }

    fn set_option<P: Pipes>(&mut self, _: &mut P, _: PatternOption) -> Result<(), PatternError> {
        Err(PatternError::InvalidArgument)
    }
}
