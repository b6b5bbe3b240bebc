//! [`Distributor`]: fan-out of each message to a set of pipes (libzmq's `dist_t`), used by PUB,
//! XPUB (to the subscribers that match) and SUB, XSUB (subscriptions to every publisher).

use oxmq_proto::Msg;

use crate::active_set::PipeArray;
use crate::{PipeId, Pipes};

/// Sends each message to every matching pipe that has room; a pipe at its high-water mark is
/// skipped (the message is dropped for it, the sender never blocks) and left out until
/// [`Distributor::write_activated`].
///
/// The pipes live in one array split in four parts, as in libzmq:
/// `[0, matching)` will get the current message, `[0, active)` may get it, `[0, eligible)` are
/// writable (pipes that became writable during a multipart message wait here until it ends, so
/// nobody gets half a message), the rest are at their high-water mark.
#[derive(Debug, Default)]
pub struct Distributor {
    arr: PipeArray,
    matching: usize,
    active: usize,
    /// Messages a matching pipe did not get because it was at its high-water mark.
    hwm_drops: u64,
    /// Messages sent with [`Distributor::send_to_matching`] that no pipe matched.
    unmatched: u64,
    /// Full pipes (`[eligible, len)`) matched for the current message, at the start of that
    /// region: `[eligible, eligible + full_matched)`.
    full_matched: usize,
    eligible: usize,
    more: bool,
}

impl Distributor {
    /// A distributor with no pipes.
    pub fn new() -> Distributor {
        Distributor::default()
    }

    /// Adds a newly connected pipe. During a multipart message it only gets the next message.
    pub fn attach(&mut self, pipe: PipeId) {
        if self.arr.contains(pipe) {
            return;
        }
        self.arr.push(pipe);
        let last = self.arr.len() - 1;
        if self.more {
            self.arr.swap(self.eligible, last);
            self.eligible += 1;
        } else {
            self.arr.swap(self.active, last);
            self.active += 1;
            self.arr.swap(self.eligible, last);
            self.eligible += 1;
        }
    }

    /// Marks `pipe` as a recipient of the current message (idempotent; pipes that cannot take
    /// it are ignored).
    #[inline]
    pub fn match_pipe(&mut self, pipe: PipeId) {
        let Some(i) = self.arr.index_of(pipe) else {
            return;
        };
        // libzmq bounds this by `eligible`, which equals `active` whenever it matches (at the
        // start of a message); `active` also keeps a pipe attached mid-message out of it.
        if i >= self.eligible + self.full_matched {
            // Matching, but at its high-water mark: the message is dropped for it. Such pipes
            // gather at the start of the full region so that each is counted once.
            self.arr.swap(i, self.eligible + self.full_matched);
            self.full_matched += 1;
            self.hwm_drops += 1;
            return;
        }
        if i < self.matching || i >= self.active {
            return;
        }
        self.arr.swap(i, self.matching);
        self.matching += 1;
    }

    /// Marks every pipe as a recipient of the current message, as [`Distributor::match_pipe`]
    /// for each would (after [`Distributor::unmatch`]): the active pipes match, and those at
    /// their high-water mark count a drop each.
    #[inline]
    pub fn match_all(&mut self) {
        debug_assert_eq!((self.matching, self.full_matched), (0, 0));
        self.matching = self.active;
        self.full_matched = self.arr.len() - self.eligible;
        self.hwm_drops += self.full_matched as u64;
    }

    /// Inverts the match: every writable pipe that was not marked matches, and the marked ones
    /// do not (ZMQ_INVERT_MATCHING).
    pub fn reverse_match(&mut self) {
        let prev = self.matching;
        self.matching = 0;
        for i in prev..self.eligible {
            self.arr.swap(i, self.matching);
            self.matching += 1;
        }
    }

    /// Clears the set of matching pipes.
    #[inline]
    pub fn unmatch(&mut self) {
        self.matching = 0;
        self.full_matched = 0;
    }

    /// `pipe` is gone.
    pub fn pipe_terminated(&mut self, pipe: PipeId) {
        let Some(mut i) = self.arr.index_of(pipe) else {
            return;
        };
        if i < self.matching {
            self.arr.swap(i, self.matching - 1);
            self.matching -= 1;
            i = self.matching;
        }
        if i < self.active {
            self.arr.swap(i, self.active - 1);
            self.active -= 1;
            i = self.active;
        }
        if i < self.eligible {
            self.arr.swap(i, self.eligible - 1);
            self.eligible -= 1;
        }
        self.arr.remove(pipe);
    }

    /// `pipe` has room again.
    pub fn write_activated(&mut self, pipe: PipeId) {
        let Some(i) = self.arr.index_of(pipe) else {
            return;
        };
        if i < self.eligible {
            return;
        }
        self.arr.swap(i, self.eligible);
        self.eligible += 1;
        if !self.more {
            self.arr.swap(self.eligible - 1, self.active);
            self.active += 1;
        }
    }

    /// Sends a frame to every active pipe.
    pub fn send_to_all<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) {
        if !self.more {
            self.hwm_drops += (self.arr.len() - self.active) as u64;
        }
        self.matching = self.active;
        self.send(pipes, msg);
    }

    /// Sends a frame to the matching pipes. At the end of a message every writable pipe
    /// becomes active again.
    #[inline]
    pub fn send_to_matching<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) {
        if !self.more && self.matching == 0 && self.full_matched == 0 {
            self.unmatched += 1;
        }
        self.send(pipes, msg);
    }

    /// Messages dropped for a pipe at its high-water mark, and messages no pipe matched.
    pub fn drops(&self) -> (u64, u64) {
        (self.hwm_drops, self.unmatched)
    }

    #[inline]
    fn send<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) {
        let more = msg.more();
        self.distribute(pipes, msg);
        if !more {
            self.active = self.eligible;
            self.full_matched = 0;
        }
        self.more = more;
    }

    /// Whether every matching pipe has room for a message (for ZMQ_XPUB_NODROP).
    pub fn check_hwm<P: Pipes>(&self, pipes: &mut P) -> bool {
        (0..self.matching).all(|i| self.arr.get(i).is_none_or(|p| pipes.check_write(p)))
    }

    /// Whether a multipart message is being sent.
    pub fn in_message(&self) -> bool {
        self.more
    }

    /// Number of pipes matching the current message.
    pub fn matching_len(&self) -> usize {
        self.matching
    }

    /// Number of pipes, writable or not.
    pub fn len(&self) -> usize {
        self.arr.len()
    }

    /// Whether there is no pipe.
    pub fn is_empty(&self) -> bool {
        self.arr.len() == 0
    }

    fn distribute<P: Pipes>(&mut self, pipes: &mut P, msg: Msg) {
        // The last matching pipe takes the message itself; the others a copy, which shares a
        // long body: the references for all of them are taken with one increment of its
        // count (`Msg::copies`), not one each, on a line the receivers' decrements keep
        // taking to their cores (fan-out inproc 1 KiB x100: 13 % of all samples in here, most
        // on those increments). Moving spares the single-subscriber case turning the body into
        // a shared one (an allocation).
        let mut copies = (self.matching > 1).then(|| msg.copies(self.matching - 1));
        let mut msg = Some(msg);
        let mut i = 0;
        while i < self.matching {
            let Some(pipe) = self.arr.get(i) else {
                break;
            };
            let written = if i + 1 == self.matching {
                let Some(m) = msg.take() else {
                    break;
                };
                pipes
                    .write_and_publish(pipe, m)
                    .map_err(|back| msg = Some(back))
                    .is_ok()
            } else {
                let Some(c) = copies.as_mut() else {
                    break;
                };
                pipes.write_copy_and_publish(pipe, c)
            };
            if written {
                i += 1;
            } else {
                // The pipe at `i` is swapped out of the matching part, and another one into
                // its place: retry the same index (with the message back, if it was moved).
                self.hwm_drops += 1;
                self.deactivate_at(i);
            }
        }
    }

    fn deactivate_at(&mut self, i: usize) {
        self.arr.swap(i, self.matching - 1);
        self.matching -= 1;
        let j = self.matching;
        self.arr.swap(j, self.active - 1);
        self.active -= 1;
        let k = self.active;
        self.arr.swap(k, self.eligible - 1);
        self.eligible -= 1;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::FakePipes;

    fn setup(hwms: &[usize]) -> (Distributor, FakePipes) {
        let mut d = Distributor::new();
        let mut fp = FakePipes::new();
        for (i, &h) in hwms.iter().enumerate() {
            fp.add(PipeId(i as u64), h);
            d.attach(PipeId(i as u64));
        }
        (d, fp)
    }

    #[test]
    fn send_to_all_reaches_every_pipe_and_shares_long_bodies() {
        let (mut d, mut fp) = setup(&[0, 0, 0]);
        let body = Msg::from(vec![9u8; 1000]);
        let ptr = body.shared().map(|b| b.as_ptr());
        d.send_to_all(&mut fp, body);
        for p in 0..3 {
            let out = fp.take_out(PipeId(p));
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].shared().map(|b| b.as_ptr()), ptr);
        }
    }

    #[test]
    fn a_pooled_body_reaches_every_pipe_shared_and_every_reference_comes_back() {
        // Pipes 1 and 3 take one message: the second send fails on them, and the references
        // taken for their copies must be given back.
        let (mut d, mut fp) = setup(&[0, 1, 0, 1, 0]);
        let body = Msg::copy_from_slice(&[9u8; 1000]);
        assert!(body.is_pooled());
        let keep = body.clone();
        d.send_to_all(&mut fp, body.clone());
        d.send_to_all(&mut fp, body);
        let mut got = 0;
        for p in 0..5 {
            for m in fp.take_out(PipeId(p)) {
                assert_eq!(
                    m.data().as_ptr(),
                    keep.data().as_ptr(),
                    "shared, not copied"
                );
                got += 1;
            }
        }
        assert_eq!((got, d.drops().0), (8, 2));
        assert!(!keep.is_shared(), "every copy gave its reference back");
    }

    #[test]
    fn match_all_does_what_matching_every_pipe_does() {
        // Pipes at their high-water mark, one that frees up, and one attached mid-message.
        let run = |all: bool| {
            let (mut d, mut fp) = setup(&[0, 1, 0, 2]);
            let frames = [
                ("a", false),
                ("b", true),
                ("c", false),
                ("d", false),
                ("e", false),
            ];
            let mut starts = true;
            for (i, (body, more)) in frames.into_iter().enumerate() {
                if i == 2 {
                    fp.add(PipeId(4), 0);
                    d.attach(PipeId(4));
                }
                if i == 3 {
                    fp.take_out(PipeId(1));
                    d.write_activated(PipeId(1));
                }
                if starts {
                    d.unmatch();
                    if all {
                        d.match_all();
                    } else {
                        (0..5).for_each(|p| d.match_pipe(PipeId(p)));
                    }
                }
                d.send_to_matching(&mut fp, Msg::from(body).with_more(more));
                if !more {
                    d.unmatch();
                }
                starts = !more;
            }
            let out: Vec<_> = (0..5).map(|p| fp.take_out_messages(PipeId(p))).collect();
            (out, d.drops())
        };
        let (out, drops) = run(true);
        let (each_out, each_drops) = run(false);
        assert_eq!((&out, drops), (&each_out, each_drops));
        assert_eq!(drops.0, 4, "pipe 1 misses b+c and e, pipe 3 misses d and e");
        assert_eq!(
            out[4].len(),
            2,
            "the late pipe gets d and e, not the end of b+c"
        );
    }

    #[test]
    fn pipe_at_hwm_is_skipped_without_blocking_and_reactivated() {
        let (mut d, mut fp) = setup(&[1, 0]);
        for i in 0..3u8 {
            d.send_to_all(&mut fp, Msg::from(&[i]));
        }
        assert_eq!(fp.out_len(PipeId(0)), 1);
        assert_eq!(fp.out_len(PipeId(1)), 3);
        fp.take_out(PipeId(0));
        d.write_activated(PipeId(0));
        d.send_to_all(&mut fp, Msg::from("x"));
        assert_eq!(fp.take_out(PipeId(0)).len(), 1);
    }

    #[test]
    fn only_matching_pipes_get_the_message_and_multipart_stays_whole() {
        let (mut d, mut fp) = setup(&[0, 0, 0]);
        d.match_pipe(PipeId(2));
        d.match_pipe(PipeId(2));
        d.send_to_matching(&mut fp, Msg::from("a").with_more(true));
        // A pipe attached mid-message gets nothing of it.
        fp.add(PipeId(3), 0);
        d.attach(PipeId(3));
        d.match_pipe(PipeId(3));
        d.send_to_matching(&mut fp, Msg::from("b"));
        d.unmatch();
        assert_eq!(
            fp.take_out_messages(PipeId(2)),
            vec![vec![b"a".to_vec(), b"b".to_vec()]]
        );
        assert_eq!(fp.out_len(PipeId(0)), 0);
        assert_eq!(fp.out_len(PipeId(3)), 0);
        d.send_to_all(&mut fp, Msg::from("c"));
        assert_eq!(fp.out_len(PipeId(3)), 1);
    }

    #[test]
    fn reverse_match_selects_the_others() {
        let (mut d, mut fp) = setup(&[0, 0, 0]);
        d.match_pipe(PipeId(1));
        d.reverse_match();
        d.send_to_matching(&mut fp, Msg::from("x"));
        assert_eq!(fp.out_len(PipeId(0)), 1);
        assert_eq!(fp.out_len(PipeId(1)), 0);
        assert_eq!(fp.out_len(PipeId(2)), 1);
    }

    #[test]
    fn terminated_pipe_is_forgotten() {
        let (mut d, mut fp) = setup(&[0, 0]);
        d.match_pipe(PipeId(0));
        d.pipe_terminated(PipeId(0));
        assert_eq!(d.matching_len(), 0);
        d.send_to_all(&mut fp, Msg::from("x"));
        assert_eq!(fp.out_len(PipeId(1)), 1);
        assert_eq!(d.len(), 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Attach,
        Terminate(usize),
        Drain(usize),
        Frame(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => Just(Op::Attach),
            1 => (0usize..8).prop_map(Op::Terminate),
            2 => (0usize..8).prop_map(Op::Drain),
            5 => any::<bool>().prop_map(Op::Frame),
        ]
    }

    proptest! {
        /// Whatever happens to the pipes, each one receives whole messages only.
        #[test]
        fn pipes_only_ever_get_whole_messages(ops in proptest::collection::vec(op(), 0..120)) {
            let mut d = Distributor::new();
            let mut fp = FakePipes::new();
            let mut live: Vec<PipeId> = Vec::new();
            let mut next = 0u64;
            let (mut msg_no, mut frame_no) = (0u32, 0u32);
            let mut received: Vec<Msg> = Vec::new();
            let mut frame = |more: bool, d: &mut Distributor, fp: &mut FakePipes| {
                let m = Msg::from(format!("{msg_no}:{frame_no}")).with_more(more);
                d.send_to_all(fp, m);
                if more {
                    frame_no += 1;
                } else {
                    msg_no += 1;
                    frame_no = 0;
                }
            };
            for op in ops {
                match op {
                    Op::Attach => {
                        let p = PipeId(next);
                        next += 1;
                        fp.add(p, 2);
                        d.attach(p);
                        live.push(p);
                    }
                    Op::Terminate(i) if !live.is_empty() => {
                        let p = live.remove(i % live.len());
                        received.extend(fp.take_out(p));
                        d.pipe_terminated(p);
                        fp.remove(p);
                    }
                    Op::Drain(i) if !live.is_empty() => {
                        let p = live[i % live.len()];
                        received.extend(fp.take_out(p));
                        d.write_activated(p);
                    }
                    Op::Frame(more) => frame(more, &mut d, &mut fp),
                    _ => {}
                }
                prop_assert!(d.matching <= d.active && d.active <= d.eligible);
                prop_assert!(d.eligible <= d.arr.len());
                prop_assert_eq!(d.arr.len(), live.len());
            }
            frame(false, &mut d, &mut fp);
            for p in live {
                received.extend(fp.take_out(p));
            }
            // Frames of one message are consecutive, numbered from 0, the last without MORE.
            let mut expect: Option<(String, u32)> = None;
            for m in received {
                let text = String::from_utf8(m.data().to_vec()).expect("utf8");
                let (msg, f) = text.split_once(':').expect("tagged");
                let f: u32 = f.parse().expect("number");
                match &expect {
                    None => prop_assert_eq!(f, 0, "message starts at its first frame"),
                    Some((em, ef)) => {
                        prop_assert_eq!(msg, em.as_str());
                        prop_assert_eq!(f, *ef);
                    }
                }
                expect = if m.more() { Some((msg.to_string(), f + 1)) } else { None };
            }
            prop_assert!(expect.is_none());
        }
    }
}
