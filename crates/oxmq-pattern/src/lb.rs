//! [`LoadBalancer`]: round-robin of outgoing messages over the pipes that can take them
//! (libzmq's `lb_t`), used by PUSH, DEALER and REQ.

use crate::{ActiveSet, ByteFrame, OutFrame, PatternError, PipeId, Pipes};

/// Sends each message to the next active pipe in turn, all frames of a message to the same pipe.
///
/// A pipe whose write fails at the start of a message is deactivated until
/// [`LoadBalancer::write_activated`]. If the pipe under a multipart message goes away before the
/// last frame, the remaining frames are dropped, as libzmq does in blocking mode.
#[derive(Debug, Default)]
pub struct LoadBalancer {
    pipes: ActiveSet,
    more: bool,
    dropping: bool,
}

impl LoadBalancer {
    /// A load balancer with no pipes.
    pub fn new() -> LoadBalancer {
        LoadBalancer::default()
    }

    /// Adds a newly connected pipe, active.
    pub fn attach(&mut self, pipe: PipeId) {
        self.pipes.insert(pipe, true);
    }

    /// `pipe` has room again.
    pub fn write_activated(&mut self, pipe: PipeId) {
        self.pipes.activate(pipe);
    }

    /// `pipe` is gone. If a multipart message was being written to it, its remaining frames
    /// will be dropped.
    pub fn pipe_terminated(&mut self, pipe: PipeId) {
        if self.more && self.pipes.current() == Some(pipe) {
            self.dropping = true;
        }
        self.pipes.remove(pipe);
    }

    /// Sends one frame. `Ok(Some(pipe))` when written to `pipe`, `Ok(None)` when dropped (the
    /// rest of a message whose pipe went away), `Err(frame)` when no pipe can take the first
    /// frame of a message now.
    #[inline]
    pub fn send<P: Pipes, F: OutFrame>(
        &mut self,
        pipes: &mut P,
        frame: F,
    ) -> Result<Option<PipeId>, F> {
        if self.dropping {
            self.more = frame.more();
            self.dropping = self.more;
            return Ok(None);
        }
        let more = frame.more();
        let mut frame = frame;
        loop {
            let Some(pipe) = self.pipes.current() else {
                return Err(frame);
            };
            match frame.write_and_publish(pipes, pipe) {
                Ok(()) => {
                    self.more = more;
                    if !more {
                        self.pipes.advance();
                    }
                    return Ok(Some(pipe));
                }
                Err(back) if self.more => {
                    // The pipe accepted the first frame, so it must have closed since: the
                    // frames already written cannot be delivered, drop the whole message.
                    drop(back);
                    pipes.rollback(pipe);
                    self.more = false;
                    self.dropping = more;
                    return Ok(None);
                }
                Err(back) => {
                    frame = back;
                    self.pipes.deactivate_current();
                }
            }
        }
    }

    /// [`LoadBalancer::send`] of a frame given as bytes, for a socket type's `send_bytes`:
    /// `WouldBlock` when no pipe can take the first frame of a message now.
    #[inline]
    pub fn send_bytes<P: Pipes>(
        &mut self,
        pipes: &mut P,
        f: ByteFrame,
    ) -> Result<(), PatternError> {
        self.send(pipes, f)
            .map(drop)
            .map_err(|_| PatternError::WouldBlock)
    }

    /// Whether a message could be sent now (always while in the middle of one).
    pub fn has_out<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        if self.more {
            return true;
        }
        while let Some(pipe) = self.pipes.current() {
            if pipes.check_write(pipe) {
                return true;
            }
            self.pipes.deactivate_current();
        }
        false
    }

    /// Whether a multipart message is being sent.
    pub fn in_message(&self) -> bool {
        self.more || self.dropping
    }
}

#[cfg(test)]
mod tests {
    use oxmq_proto::Msg;
    use proptest::prelude::*;

    use super::*;
    use crate::testing::FakePipes;

    fn setup(n: u64, hwm: usize) -> (LoadBalancer, FakePipes) {
        let mut lb = LoadBalancer::new();
        let mut fp = FakePipes::new();
        for i in 0..n {
            fp.add(PipeId(i), hwm);
            lb.attach(PipeId(i));
        }
        (lb, fp)
    }

    #[test]
    fn round_robin_single_frames() {
        let (mut lb, mut fp) = setup(3, 0);
        for i in 0..6u8 {
            lb.send(&mut fp, Msg::from(&[i])).expect("sent");
        }
        for p in 0..3 {
            assert_eq!(fp.out_len(PipeId(p)), 2);
        }
    }

    #[test]
    fn full_pipe_is_skipped_until_activated_and_would_block_when_all_full() {
        let (mut lb, mut fp) = setup(2, 1);
        assert!(lb.send(&mut fp, Msg::from("a")).is_ok());
        assert!(lb.send(&mut fp, Msg::from("b")).is_ok());
        assert!(!lb.has_out(&mut fp));
        let back = lb.send(&mut fp, Msg::from("c")).expect_err("full");
        assert_eq!(back.data(), b"c");
        fp.take_out(PipeId(1));
        // Not activated yet: still WouldBlock even though there is room.
        assert!(lb.send(&mut fp, Msg::from("c")).is_err());
        lb.write_activated(PipeId(1));
        assert_eq!(lb.send(&mut fp, Msg::from("c")), Ok(Some(PipeId(1))));
    }

    #[test]
    fn no_pipes_would_block() {
        let (mut lb, mut fp) = setup(0, 0);
        assert!(lb.send(&mut fp, Msg::from("x")).is_err());
        assert!(!lb.has_out(&mut fp));
    }

    #[test]
    fn pipe_terminated_mid_message_drops_the_rest() {
        let (mut lb, mut fp) = setup(2, 0);
        let first = lb
            .send(&mut fp, Msg::from("a").with_more(true))
            .expect("sent");
        let first = first.expect("pipe");
        lb.pipe_terminated(first);
        fp.remove(first);
        assert_eq!(lb.send(&mut fp, Msg::from("b").with_more(true)), Ok(None));
        assert_eq!(lb.send(&mut fp, Msg::from("c")), Ok(None));
        // The next message goes to the remaining pipe, whole.
        let other = PipeId(1 - first.0);
        assert_eq!(lb.send(&mut fp, Msg::from("d")), Ok(Some(other)));
        assert_eq!(fp.take_out_messages(other), vec![vec![b"d".to_vec()]]);
    }

    #[test]
    fn write_failing_mid_message_drops_the_message() {
        let (mut lb, mut fp) = setup(1, 0);
        lb.send(&mut fp, Msg::from("a").with_more(true))
            .expect("sent");
        fp.close(PipeId(0));
        assert_eq!(lb.send(&mut fp, Msg::from("b").with_more(true)), Ok(None));
        assert_eq!(fp.staged_len(PipeId(0)), 0);
        assert_eq!(lb.send(&mut fp, Msg::from("c")), Ok(None));
        assert!(!lb.in_message());
    }

    proptest! {
        #[test]
        fn fairness_and_multipart_atomicity(n in 1u64..6, parts in proptest::collection::vec(1usize..4, 1..60)) {
            let (mut lb, mut fp) = setup(n, 0);
            for (k, &nparts) in parts.iter().enumerate() {
                let mut target = None;
                for j in 0..nparts {
                    let m = Msg::from(format!("{k}")).with_more(j + 1 < nparts);
                    let got = lb.send(&mut fp, m).expect("sent").expect("pipe");
                    if let Some(t) = target {
                        prop_assert_eq!(t, got);
                    }
                    target = Some(got);
                }
            }
            let mut counts = Vec::new();
            for p in 0..n {
                let msgs = fp.take_out_messages(PipeId(p));
                for m in &msgs {
                    // all frames of one message carry the same tag
                    prop_assert!(m.iter().all(|f| f == &m[0]));
                }
                counts.push(msgs.len());
            }
            let (min, max) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
            prop_assert!(max - min <= 1, "counts {:?}", counts);
        }
    }
}
