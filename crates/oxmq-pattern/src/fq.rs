//! [`FairQueue`]: round-robin receive over the pipes that have messages (libzmq's `fq_t`),
//! used by PULL, DEALER, REQ, ROUTER, REP, SUB and XSUB.

use oxmq_proto::Msg;

use crate::{ActiveSet, PatternError, PipeId, Pipes};

/// Receives from the active pipes in turn, all frames of a message from the same pipe.
///
/// A pipe that has nothing to read is deactivated until [`FairQueue::read_activated`].
/// [`FairQueue::has_in`] answers by reading the next frame ahead, which the next
/// [`FairQueue::recv`] returns.
#[derive(Debug, Default)]
pub struct FairQueue {
    pipes: ActiveSet,
    more: bool,
    /// The frame read ahead by `has_in`; it came from `last`.
    prefetched: Option<Msg>,
    /// The pipe of the last frame fetched.
    last: PipeId,
}

impl FairQueue {
    /// A fair queue with no pipes.
    pub fn new() -> FairQueue {
        FairQueue::default()
    }

    /// Adds a newly connected pipe, active.
    pub fn attach(&mut self, pipe: PipeId) {
        self.pipes.insert(pipe, true);
    }

    /// `pipe` has messages again.
    pub fn read_activated(&mut self, pipe: PipeId) {
        self.pipes.activate(pipe);
    }

    /// `pipe` is gone. A message it was delivering in several frames is cut short.
    pub fn pipe_terminated(&mut self, pipe: PipeId) {
        if self.last == pipe && self.prefetched.as_ref().is_some_and(Msg::more) {
            self.prefetched = None;
            self.more = false;
        }
        if self.more && self.pipes.current() == Some(pipe) && self.prefetched.is_none() {
            self.more = false;
        }
        self.pipes.remove(pipe);
    }

    /// The next frame and the pipe it came from, or `None` if no pipe has one now.
    #[inline]
    pub fn recv<P: Pipes>(&mut self, pipes: &mut P) -> Option<(Msg, PipeId)> {
        let mut out = None;
        self.recv_into(pipes, &mut out);
        Some((out?, self.last))
    }

    /// The next frame into `out` (`None` if no pipe has one now; see [`Pipes::read_into`]);
    /// [`FairQueue::last_pipe`] says where it came from.
    #[inline(always)]
    pub fn recv_into<P: Pipes>(&mut self, pipes: &mut P, out: &mut Option<Msg>) {
        if self.prefetched.is_some() {
            *out = self.prefetched.take();
            return;
        }
        self.fetch_into(pipes, out);
    }

    /// [`FairQueue::recv_into`] as a socket type's receive: `WouldBlock` when no pipe has a
    /// frame now.
    #[inline]
    pub(crate) fn recv_or_block<P: Pipes>(
        &mut self,
        pipes: &mut P,
        out: &mut Option<Msg>,
    ) -> Result<(), PatternError> {
        self.recv_into(pipes, out);
        if out.is_some() {
            Ok(())
        } else {
            Err(PatternError::WouldBlock)
        }
    }

    /// The pipe the last frame received (or read ahead) came from.
    pub fn last_pipe(&self) -> PipeId {
        self.last
    }

    /// Whether a frame is available (always in the middle of a message). May read one frame
    /// ahead.
    pub fn has_in<P: Pipes>(&mut self, pipes: &mut P) -> bool {
        if self.more || self.prefetched.is_some() {
            return true;
        }
        let mut ahead = None;
        self.fetch_into(pipes, &mut ahead);
        self.prefetched = ahead;
        self.prefetched.is_some()
    }

    /// The frame read ahead by [`FairQueue::has_in`], if any.
    pub fn peek(&self) -> Option<&Msg> {
        self.prefetched.as_ref()
    }

    /// Whether the last frame returned had MORE set.
    pub fn in_message(&self) -> bool {
        self.more
    }

    #[inline(always)]
    fn fetch_into<P: Pipes>(&mut self, pipes: &mut P, out: &mut Option<Msg>) {
        while let Some(pipe) = self.pipes.current() {
            pipes.read_into(pipe, out);
            if let Some(frame) = out {
                self.more = frame.more();
                if !self.more {
                    self.pipes.advance();
                }
                self.last = pipe;
                return;
            }
            // The caller guarantees whole messages; if a pipe still breaks off mid-message,
            // end the message here rather than splice another pipe's frames into it.
            self.more = false;
            self.pipes.deactivate_current();
        }
        *out = None;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::FakePipes;

    fn setup(n: u64) -> (FairQueue, FakePipes) {
        let mut fq = FairQueue::new();
        let mut fp = FakePipes::new();
        for i in 0..n {
            fp.add(PipeId(i), 0);
            fq.attach(PipeId(i));
        }
        (fq, fp)
    }

    #[test]
    fn alternates_between_pipes_and_keeps_multipart_together() {
        let (mut fq, mut fp) = setup(2);
        fp.push_in(PipeId(0), ["a1", "a2"]);
        fp.push_in(PipeId(0), ["a3"]);
        fp.push_in(PipeId(1), ["b1"]);
        let got: Vec<(Vec<u8>, u64)> = std::iter::from_fn(|| fq.recv(&mut fp))
            .map(|(m, p)| (m.data().to_vec(), p.0))
            .collect();
        assert_eq!(
            got,
            vec![
                (b"a1".to_vec(), 0),
                (b"a2".to_vec(), 0),
                (b"b1".to_vec(), 1),
                (b"a3".to_vec(), 0)
            ]
        );
    }

    #[test]
    fn recv_into_takes_the_same_frames_in_place_and_remembers_their_pipe() {
        let (mut fq, mut fp) = setup(2);
        fp.push_in(PipeId(0), ["a1", "a2"]);
        fp.push_in(PipeId(1), ["b1"]);
        assert!(fq.has_in(&mut fp), "reads a1 ahead");
        let mut got = Vec::new();
        let mut out = Some(Msg::from("stale"));
        loop {
            fq.recv_into(&mut fp, &mut out);
            let Some(m) = &out else { break };
            got.push((m.data().to_vec(), fq.last_pipe().0));
        }
        assert_eq!(
            got,
            vec![
                (b"a1".to_vec(), 0),
                (b"a2".to_vec(), 0),
                (b"b1".to_vec(), 1)
            ]
        );
        assert!(out.is_none(), "nothing left: None, not the last frame");
    }

    #[test]
    fn empty_pipe_is_deactivated_until_read_activated() {
        let (mut fq, mut fp) = setup(1);
        assert!(!fq.has_in(&mut fp));
        fp.push_in(PipeId(0), ["x"]);
        assert!(fq.recv(&mut fp).is_none());
        fq.read_activated(PipeId(0));
        assert!(fq.has_in(&mut fp));
        assert_eq!(fq.peek().map(|m| m.data().to_vec()), Some(b"x".to_vec()));
        let (m, p) = fq.recv(&mut fp).expect("msg");
        assert_eq!((m.data(), p), (&b"x"[..], PipeId(0)));
        assert!(!fq.has_in(&mut fp));
    }

    #[test]
    fn terminated_pipe_cuts_prefetched_multipart() {
        let (mut fq, mut fp) = setup(2);
        fp.push_in(PipeId(0), ["a1", "a2"]);
        fp.push_in(PipeId(1), ["b"]);
        assert!(fq.has_in(&mut fp));
        fq.pipe_terminated(PipeId(0));
        fp.remove(PipeId(0));
        let (m, p) = fq.recv(&mut fp).expect("msg");
        assert_eq!((m.data(), p), (&b"b"[..], PipeId(1)));
    }

    proptest! {
        #[test]
        fn fairness(n in 1u64..6, per_pipe in 1usize..20) {
            let (mut fq, mut fp) = setup(n);
            for p in 0..n {
                for k in 0..per_pipe {
                    fp.push_in(PipeId(p), [format!("{p}-{k}-a"), format!("{p}-{k}-b")]);
                }
            }
            let mut order = Vec::new();
            while let Some((m, p)) = fq.recv(&mut fp) {
                let second = fq.recv(&mut fp);
                prop_assert!(m.more());
                let (m2, p2) = second.expect("second frame");
                prop_assert_eq!(p, p2);
                prop_assert!(!m2.more());
                order.push(p.0);
            }
            prop_assert_eq!(order.len(), n as usize * per_pipe);
            // In every window of n consecutive messages each pipe appears once.
            for w in order.chunks(n as usize) {
                let mut w = w.to_vec();
                w.sort();
                w.dedup();
                prop_assert_eq!(w.len(), n as usize);
            }
        }
    }
}
