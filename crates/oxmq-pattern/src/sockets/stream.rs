//! STREAM: raw TCP peers behind routing ids. Every message is two frames, the peer's routing id
//! then one body; an empty body is a connect or disconnect notification inbound, and closes the
//! connection outbound.

use bytes::Bytes;
use oxmq_proto::Msg;

use crate::pattern::Behaviour;
use crate::{
    FairQueue, PatternError, PatternOption, PeerInfo, PipeId, Pipes, RoutingTable, SendError,
};

/// ZMQ_STREAM: received messages are `[routing id, data]`, where data is whatever one read
/// from the peer returned (empty for the connect and disconnect notifications the engine
/// queues); sent messages are `[routing id, data]`, and an empty data frame closes that peer's
/// connection.
///
/// As libzmq's `stream_t`: an unknown routing id fails with EHOSTUNREACH and a full pipe with
/// EAGAIN (STREAM is always "mandatory"); MORE on the data frame is ignored, so the next frame
/// starts a new message; a routing id frame without MORE is ignored together with the frame
/// after it.
#[derive(Debug)]
pub struct Stream {
    fq: FairQueue,
    table: RoutingTable,
    /// The data frame read with a routing id, returned by the next `recv`.
    pending_body: Option<Msg>,
    /// The routing id frame was accepted: the next frame is the data.
    more_out: bool,
    /// Where that data goes (`None`: dropped).
    current_out: Option<PipeId>,
}

impl Stream {
    pub(crate) fn new() -> Stream {
        Stream {
            fq: FairQueue::new(),
            table: RoutingTable::new(),
            pending_body: None,
            more_out: false,
            current_out: None,
        }
    }

    /// Whether a peer holds routing id `id`.
    pub(crate) fn routing_id_in_use(&self, id: &[u8]) -> bool {
        self.table.pipe(id).is_some()
    }

    /// The routing id of `pipe`.
    pub(crate) fn routing_id(&self, pipe: PipeId) -> Option<&Bytes> {
        self.table.id(pipe)
    }
}

impl Behaviour for Stream {
    fn attach<P: Pipes>(&mut self, _: &mut P, pipe: PipeId, peer: &PeerInfo) {
        // The peer announces nothing: the id is ZMQ_CONNECT_ROUTING_ID's (which the socket
        // checked was free) or a generated one, libzmq's 0x00 + counter.
        let id = match peer.routing_id.as_ref().filter(|id| !id.is_empty()) {
            Some(id) if self.table.pipe(id).is_none() => id.clone(),
            _ => self.table.generate(),
        };
        if self.table.insert(id, pipe) {
            self.fq.attach(pipe);
        }
    }

    fn pipe_terminated(&mut self, pipe: PipeId) {
        self.table.remove_pipe(pipe);
        self.fq.pipe_terminated(pipe);
        if self.current_out == Some(pipe) {
            self.current_out = None;
        }
    }

    fn read_activated(&mut self, pipe: PipeId) {
        self.fq.read_activated(pipe);
    }

    fn write_activated(&mut self, _: PipeId) {}

    fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) -> Result<(), SendError> {
        if !self.more_out {
            // The routing id frame. Without MORE libzmq ignores it, but still takes the next
            // frame as its (dropped) data.
            if msg.more() {
                match self.table.pipe(msg.data()) {
                    Some(pipe) if pipes.check_write(pipe) => self.current_out = Some(pipe),
                    Some(_) => return Err(SendError::new(PatternError::WouldBlock, msg)),
                    None => return Err(SendError::new(PatternError::HostUnreachable, msg)),
                }
            }
            self.more_out = true;
            return Ok(());
        }
        self.more_out = false;
        if let Some(pipe) = self.current_out.take() {
            if msg.is_empty() {
                // Closes the connection once what was queued before is written.
                pipes.terminate(pipe);
            } else if pipes.write(pipe, msg.with_more(false)).is_ok() {
                pipes.flush(pipe);
            }
        }
        Ok(())
    }

    fn recv<P: Pipes>(&mut self, pipes: &mut P) -> Result<Msg, PatternError> {
        if let Some(m) = self.pending_body.take() {
            return Ok(m);
        }
        let (m, pipe) = self.fq.recv(pipes).ok_or(PatternError::WouldBlock)?;
        let id = self.table.id(pipe).cloned().unwrap_or_default();
        let mut id_frame = Msg::from_bytes(id).with_more(true);
        id_frame.set_properties(m.properties().cloned());
        // Each read is one single-frame message; MORE could only come from a misbehaving
        // inproc peer, and must not merge two reads.
        self.pending_body = Some(m.with_more(false));
        Ok(id_frame)
    }

    fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        self.pending_body.is_some() || self.fq.has_in(pipes)
    }

    fn has_out<P: Pipes>(&mut self, _: &mut P) -> bool {
        // As libzmq: whether a send succeeds depends on the peer it names.
        true
    }

    fn set_option<P: Pipes>(&mut self, _: &mut P, _: PatternOption) -> Result<(), PatternError> {
        Err(PatternError::InvalidArgument)
    }
}

#[cfg(test)]
impl Stream {
    pub(crate) fn with_seed(seed: u32) -> Stream {
        let mut s = Stream::new();
        s.table = RoutingTable::with_seed(seed);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakePipes;
    use crate::SocketPattern;

    fn p(n: u64) -> PipeId {
        PipeId(n)
    }

    fn stream() -> (SocketPattern, FakePipes) {
        (
            SocketPattern::Stream(Stream::with_seed(0x0102_0304)),
            FakePipes::new(),
        )
    }

    fn attach(s: &mut SocketPattern, fp: &mut FakePipes, n: u64, hwm: usize) {
        fp.add(p(n), hwm);
        s.attach(fp, p(n), &PeerInfo::new());
    }

    fn send(s: &mut SocketPattern, fp: &mut FakePipes, frames: &[&[u8]]) -> Result<(), SendError> {
        for (i, f) in frames.iter().enumerate() {
            s.send(fp, Msg::copy_from_slice(f).with_more(i + 1 < frames.len()))?;
        }
        Ok(())
    }

    fn recv(
        s: &mut SocketPattern,
        fp: &mut FakePipes,
    ) -> Result<Vec<(Vec<u8>, bool)>, PatternError> {
        let id = s.recv(fp)?;
        let body = s.recv(fp)?;
        Ok(vec![
            (id.data().to_vec(), id.more()),
            (body.data().to_vec(), body.more()),
        ])
    }

    const ID1: &[u8] = &[0, 1, 2, 3, 4];
    const ID2: &[u8] = &[0, 1, 2, 3, 5];

    #[test]
    fn peers_get_generated_ids_and_reads_arrive_with_them() {
        let (mut s, mut fp) = stream();
        attach(&mut s, &mut fp, 1, 0);
        attach(&mut s, &mut fp, 2, 0);
        // The engine's connect notification, then data.
        fp.push_in(p(2), [&b""[..]]);
        fp.push_in(p(2), [&b"hello"[..]]);
        s.read_activated(p(2));
        assert!(s.has_in(&mut fp));
        assert_eq!(
            recv(&mut s, &mut fp),
            Ok(vec![(ID2.to_vec(), true), (vec![], false)])
        );
        assert_eq!(
            recv(&mut s, &mut fp),
            Ok(vec![(ID2.to_vec(), true), (b"hello".to_vec(), false)])
        );
        assert_eq!(s.recv(&mut fp).err(), Some(PatternError::WouldBlock));
        assert_eq!(s.stream_routing_id(p(1)).map(|b| &b[..]), Some(ID1));
    }

    #[test]
    fn connect_routing_id_is_used_when_free() {
        let (mut s, mut fp) = stream();
        fp.add(p(1), 0);
        s.attach(
            &mut fp,
            p(1),
            &PeerInfo::new().with_routing_id(Bytes::from_static(b"web")),
        );
        assert!(s.routing_id_in_use(b"web"));
        send(&mut s, &mut fp, &[b"web", b"GET /"]).expect("send");
        assert_eq!(fp.take_out_messages(p(1)), vec![vec![b"GET /".to_vec()]]);
    }

    #[test]
    fn send_writes_one_raw_frame_and_empty_body_closes() {
        let (mut s, mut fp) = stream();
        attach(&mut s, &mut fp, 1, 0);
        send(&mut s, &mut fp, &[ID1, b"resp"]).expect("send");
        send(&mut s, &mut fp, &[ID1, b""]).expect("close");
        let out = fp.take_out(p(1));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data(), b"resp");
        assert!(!out[0].more());
        assert_eq!(fp.terminated(), &[p(1)]);
    }

    #[test]
    fn unknown_id_is_unreachable_and_full_pipe_would_block() {
        let (mut s, mut fp) = stream();
        attach(&mut s, &mut fp, 1, 1);
        let e = send(&mut s, &mut fp, &[b"nobody", b"x"]).expect_err("unknown");
        assert_eq!(e.kind, PatternError::HostUnreachable);
        assert_eq!(e.msg.data(), b"nobody");
        send(&mut s, &mut fp, &[ID1, b"a"]).expect("send");
        let e = send(&mut s, &mut fp, &[ID1, b"b"]).expect_err("full");
        assert_eq!(e.kind, PatternError::WouldBlock);
        // After either error the next frame is a routing id again.
        fp.take_out(p(1));
        send(&mut s, &mut fp, &[ID1, b"c"]).expect("send");
        assert_eq!(fp.take_out_messages(p(1)), vec![vec![b"c".to_vec()]]);
        assert!(s.has_out(&mut fp));
    }

    #[test]
    fn more_on_data_is_ignored_and_an_id_without_more_swallows_the_next_frame() {
        let (mut s, mut fp) = stream();
        attach(&mut s, &mut fp, 1, 0);
        // [id, A+MORE, B]: A goes out alone; B is taken as a routing id without MORE.
        send(&mut s, &mut fp, &[ID1, b"A", b"B"]).expect("send");
        // So this routing id frame is B's (dropped) data, and "C" an id without MORE...
        s.send(&mut fp, Msg::copy_from_slice(ID1).with_more(true))
            .expect("dropped data");
        s.send(&mut fp, Msg::copy_from_slice(b"C"))
            .expect("bare id");
        // ...whose data "X" is dropped too; then a well-formed message goes out.
        s.send(&mut fp, Msg::copy_from_slice(b"X"))
            .expect("dropped");
        send(&mut s, &mut fp, &[ID1, b"Y"]).expect("send");
        assert_eq!(
            fp.take_out_messages(p(1)),
            vec![vec![b"A".to_vec()], vec![b"Y".to_vec()]]
        );
    }

    #[test]
    fn terminated_peer_is_forgotten_and_new_peers_get_fresh_ids() {
        let (mut s, mut fp) = stream();
        attach(&mut s, &mut fp, 1, 0);
        s.pipe_terminated(p(1));
        let e = send(&mut s, &mut fp, &[ID1, b"x"]).expect_err("gone");
        assert_eq!(e.kind, PatternError::HostUnreachable);
        attach(&mut s, &mut fp, 2, 0);
        assert_eq!(s.stream_routing_id(p(2)).map(|b| &b[..]), Some(ID2));
    }

    #[test]
    fn a_peer_terminated_between_id_and_data_drops_the_data() {
        let (mut s, mut fp) = stream();
        attach(&mut s, &mut fp, 1, 0);
        s.send(&mut fp, Msg::copy_from_slice(ID1).with_more(true))
            .expect("id");
        s.pipe_terminated(p(1));
        s.send(&mut fp, Msg::copy_from_slice(b"late"))
            .expect("dropped");
        assert!(fp.take_out(p(1)).is_empty());
    }

    #[test]
    fn inbound_more_never_merges_reads() {
        let (mut s, mut fp) = stream();
        attach(&mut s, &mut fp, 1, 0);
        fp.push_in_frame(p(1), Msg::copy_from_slice(b"a").with_more(true));
        fp.push_in_frame(p(1), Msg::copy_from_slice(b"b"));
        s.read_activated(p(1));
        assert_eq!(
            recv(&mut s, &mut fp),
            Ok(vec![(ID1.to_vec(), true), (b"a".to_vec(), false)])
        );
        assert_eq!(
            recv(&mut s, &mut fp),
            Ok(vec![(ID1.to_vec(), true), (b"b".to_vec(), false)])
        );
    }

    #[test]
    fn no_pattern_option_applies() {
        let (mut s, mut fp) = stream();
        assert_eq!(
            s.set_option(&mut fp, PatternOption::RouterMandatory(true)),
            Err(PatternError::InvalidArgument)
        );
        assert_eq!(
            s.set_option(&mut fp, PatternOption::InvertMatching(true)),
            Ok(())
        );
    }
}
