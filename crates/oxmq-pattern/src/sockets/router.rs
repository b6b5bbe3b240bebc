//! ROUTER (RFC 28): every message is prefixed with the routing id of its peer.

use bytes::Bytes;
use oxmq_proto::Msg;

use super::dealer::send_probe;
use crate::pattern::Behaviour;
use crate::pipe_map::PipeSet;
use crate::{
    DropCounts, FairQueue, PatternError, PatternOption, PeerInfo, PipeId, Pipes, RoutingTable,
    SendError,
};

/// ZMQ_ROUTER: received messages start with a frame holding the sender's routing id; sent
/// messages start with the routing id of the peer to send to. REP is built on it.
#[derive(Debug)]
pub struct Router {
    fq: FairQueue,
    table: RoutingTable,
    /// Peers whose routing id was already taken (without ROUTER_HANDOVER): libzmq ignores them,
    /// neither reading from nor writing to them, until they go away.
    anonymous: PipeSet,
    /// The body frame read with a routing id, returned by the next `recv`.
    pending_body: Option<Msg>,
    more_in: bool,
    current_in: Option<PipeId>,
    /// ROUTER_HANDOVER took the routing id of the pipe being read: close it after the message.
    terminate_current_in: bool,
    more_out: bool,
    current_out: Option<PipeId>,
    mandatory: bool,
    handover: bool,
    probe_router: bool,
    /// Messages dropped: for a peer at its high-water mark, and for an unknown routing id.
    pub(crate) drops: DropCounts,
}

impl Router {
    pub(crate) fn new() -> Router {
        Router {
            fq: FairQueue::new(),
            table: RoutingTable::new(),
            anonymous: PipeSet::default(),
            pending_body: None,
            more_in: false,
            current_in: None,
            terminate_current_in: false,
            more_out: false,
            current_out: None,
            mandatory: false,
            handover: false,
            probe_router: false,
            drops: DropCounts::default(),
        }
    }

    /// Whether a peer holds routing id `id`.
    pub(crate) fn routing_id_in_use(&self, id: &[u8]) -> bool {
        self.table.pipe(id).is_some()
    }

    /// Drops the frames of the message being sent (REP uses it for malformed requests).
    pub(crate) fn rollback<P: Pipes>(&mut self, pipes: &mut P) {
        if let Some(p) = self.current_out.take() {
            pipes.rollback(p);
        }
        self.more_out = false;
    }

    /// Drops every frame sent from now to the end of the current outbound message.
    pub(crate) fn discard_outbound(&mut self) {
        self.more_out = true;
        self.current_out = None;
    }

    /// Ends the inbound message: closes the pipe if its routing id was handed over meanwhile.
    fn end_inbound<P: Pipes>(&mut self, pipes: &mut P) {
        if self.terminate_current_in {
            if let Some(p) = self.current_in {
                pipes.terminate(p);
            }
            self.terminate_current_in = false;
        }
        self.current_in = None;
    }
}

impl Behaviour for Router {
    fn attach<P: Pipes>(&mut self, pipes: &mut P, pipe: PipeId, peer: &PeerInfo) {
        if self.probe_router {
            send_probe(pipes, pipe);
        }
        let id = match peer.routing_id.as_ref().filter(|id| !id.is_empty()) {
            None => self.table.generate(),
            Some(id) => {
                if let Some(old) = self.table.pipe(id) {
                    if !self.handover {
                        self.anonymous.insert(pipe);
                        return;
                    }
                    // The new connection takes the id over; the old one gets a generated id
                    // until it is closed.
                    let temp = self.table.generate();
                    self.table.rename(old, temp);
                    if self.current_in == Some(old) {
                        self.terminate_current_in = true;
                    } else {
                        pipes.terminate(old);
                    }
                }
                id.clone()
            }
        };
        if self.table.insert(id, pipe) {
            self.fq.attach(pipe);
        } else {
            self.anonymous.insert(pipe);
        }
    }

    fn pipe_terminated(&mut self, pipe: PipeId) {
        if self.anonymous.remove(&pipe) {
            return;
        }
        self.table.remove_pipe(pipe);
        self.fq.pipe_terminated(pipe);
        if self.current_out == Some(pipe) {
            self.current_out = None;
        }
        if self.current_in == Some(pipe) {
            // Should the caller terminate a pipe in the middle of a message, the next frame
            // must still start a new message with its routing id.
            self.terminate_current_in = false;
            self.current_in = None;
            if self.pending_body.is_none() {
                self.more_in = false;
            }
        }
    }

    fn read_activated(&mut self, pipe: PipeId) {
        if !self.anonymous.contains(&pipe) {
            self.fq.read_activated(pipe);
        }
    }

    fn write_activated(&mut self, _: PipeId) {}

    fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) -> Result<(), SendError> {
        if !self.more_out {
            // The routing id frame. Without MORE it is a malformed message: ignored.
            if msg.more() {
                self.more_out = true;
                match self.table.pipe(msg.data()) {
                    Some(pipe) if pipes.check_write(pipe) => self.current_out = Some(pipe),
                    Some(_) => {
                        self.current_out = None;
                        if self.mandatory {
                            self.more_out = false;
                            return Err(SendError::new(PatternError::WouldBlock, msg));
                        }
                        self.drops.hwm += 1;
                    }
                    None => {
                        self.current_out = None;
                        if self.mandatory {
                            self.more_out = false;
                            return Err(SendError::new(PatternError::HostUnreachable, msg));
                        }
                        self.drops.unroutable += 1;
                    }
                }
            }
            return Ok(());
        }
        self.more_out = msg.more();
        if let Some(pipe) = self.current_out {
            if pipes.write_and_publish(pipe, msg).is_err() {
                // The room was checked on the routing id frame, so the pipe is gone: drop
                // what was written, e.g. REP's envelope.
                pipes.rollback(pipe);
                self.current_out = None;
            } else if !self.more_out {
                self.current_out = None;
            }
        }
        Ok(())
    }

    fn recv_into<P: Pipes>(
        &mut self,
        pipes: &mut P,
        out: &mut Option<Msg>,
    ) -> Result<(), PatternError> {
        if self.pending_body.is_some() {
            *out = self.pending_body.take();
            self.more_in = out.as_ref().is_some_and(Msg::more);
            if !self.more_in {
                self.end_inbound(pipes);
            }
            return Ok(());
        }
        self.fq.recv_into(pipes, out);
        let m = out.as_ref().ok_or(PatternError::WouldBlock)?;
        if self.more_in {
            self.more_in = m.more();
            if !self.more_in {
                self.end_inbound(pipes);
            }
            return Ok(());
        }
        // The first frame of a message: return the sender's routing id first, with the
        // connection's properties as libzmq gives them to it.
        let pipe = self.fq.last_pipe();
        let id = self.table.id(pipe).cloned().unwrap_or_else(Bytes::new);
        let mut id_frame = Msg::from_bytes(id).with_more(true);
        id_frame.set_properties(m.properties().cloned());
        self.pending_body = out.replace(id_frame);
        self.current_in = Some(pipe);
        Ok(())
    }

    fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        self.more_in || self.pending_body.is_some() || self.fq.has_in(pipes)
    }

    fn has_out<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        // Without ROUTER_MANDATORY a send always succeeds (the message may be dropped).
        if !self.mandatory {
            return true;
        }
        self.table.pipes().any(|p| pipes.check_write(p))
    }

    fn set_option<P: Pipes>(&mut self, _: &mut P, opt: PatternOption) -> Result<(), PatternError> {
        match opt {
            PatternOption::RouterMandatory(on) => self.mandatory = on,
            PatternOption::RouterHandover(on) => self.handover = on,
            PatternOption::ProbeRouter(on) => self.probe_router = on,
            _ => return Err(PatternError::InvalidArgument),
        }
        Ok(())
    }
}

#[cfg(test)]
impl Router {
    pub(crate) fn with_seed(seed: u32) -> Router {
        let mut r = Router::new();
        r.table = RoutingTable::with_seed(seed);
        r
    }
}
