//! In-memory [`Pipes`] for tests of patterns, here and in the core.
//!
//! [`FakePipes`] keeps, per pipe, an inbound queue (frames the peer sent, read by the pattern)
//! and an outbound queue (frames the pattern wrote and flushed, taken by the test). Its
//! high-water mark counts whole messages in the outbound direction, as libzmq's does; frames
//! written but not flushed are staged and can be rolled back. Every [`Pipes::terminate`] call is
//! logged.

use std::collections::{HashMap, VecDeque};

use oxmq_proto::Msg;

use crate::{PipeId, Pipes};

/// In-memory pipes with per-pipe high-water marks, flush/rollback and a termination log.
#[derive(Debug, Default)]
pub struct FakePipes {
    pipes: HashMap<PipeId, FakePipe>,
    terminated: Vec<PipeId>,
}

#[derive(Debug)]
struct FakePipe {
    hwm: usize,
    closed: bool,
    inbound: VecDeque<Msg>,
    outbound: VecDeque<Msg>,
    /// Complete messages in `outbound`.
    out_msgs: usize,
    staged: Vec<Msg>,
}

impl FakePipes {
    /// No pipes.
    pub fn new() -> FakePipes {
        FakePipes::default()
    }

    /// Adds `pipe` with an outbound high-water mark of `hwm` whole messages (0 means
    /// unlimited, as libzmq's HWM 0).
    pub fn add(&mut self, pipe: PipeId, hwm: usize) {
        self.pipes.insert(
            pipe,
            FakePipe {
                hwm,
                closed: false,
                inbound: VecDeque::new(),
                outbound: VecDeque::new(),
                out_msgs: 0,
                staged: Vec::new(),
            },
        );
    }

    /// Queues a message from the peer: `frames` get MORE set on all but the last.
    pub fn push_in<M: Into<Msg>>(&mut self, pipe: PipeId, frames: impl IntoIterator<Item = M>) {
        let frames: Vec<Msg> = frames.into_iter().map(Into::into).collect();
        let n = frames.len();
        for (i, f) in frames.into_iter().enumerate() {
            self.push_in_frame(pipe, f.with_more(i + 1 < n));
        }
    }

    /// Queues one frame from the peer exactly as given (flags untouched).
    pub fn push_in_frame(&mut self, pipe: PipeId, frame: Msg) {
        if let Some(p) = self.pipes.get_mut(&pipe) {
            p.inbound.push_back(frame);
        }
    }

    /// Frames from the peer not yet read by the pattern.
    pub fn in_len(&self, pipe: PipeId) -> usize {
        self.pipes.get(&pipe).map_or(0, |p| p.inbound.len())
    }

    /// Takes every flushed frame the pattern wrote to `pipe`, freeing its high-water mark.
    pub fn take_out(&mut self, pipe: PipeId) -> Vec<Msg> {
        match self.pipes.get_mut(&pipe) {
            Some(p) => {
                p.out_msgs = 0;
                p.outbound.drain(..).collect()
            }
            None => Vec::new(),
        }
    }

    /// Takes every flushed message written to `pipe`, as lists of frame bodies.
    pub fn take_out_messages(&mut self, pipe: PipeId) -> Vec<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let mut cur = Vec::new();
        for f in self.take_out(pipe) {
            let more = f.more();
            cur.push(f.data().to_vec());
            if !more {
                out.push(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    /// Number of flushed frames waiting in `pipe`'s outbound queue.
    pub fn out_len(&self, pipe: PipeId) -> usize {
        self.pipes.get(&pipe).map_or(0, |p| p.outbound.len())
    }

    /// Number of frames written to `pipe` but not flushed yet.
    pub fn staged_len(&self, pipe: PipeId) -> usize {
        self.pipes.get(&pipe).map_or(0, |p| p.staged.len())
    }

    /// Marks `pipe` closed: writes fail from now on.
    pub fn close(&mut self, pipe: PipeId) {
        if let Some(p) = self.pipes.get_mut(&pipe) {
            p.closed = true;
        }
    }

    /// Removes `pipe` entirely (as after termination).
    pub fn remove(&mut self, pipe: PipeId) {
        self.pipes.remove(&pipe);
    }

    /// Changes `pipe`'s high-water mark.
    pub fn set_hwm(&mut self, pipe: PipeId, hwm: usize) {
        if let Some(p) = self.pipes.get_mut(&pipe) {
            p.hwm = hwm;
        }
    }

    /// Every pipe the pattern asked to terminate, in order.
    pub fn terminated(&self) -> &[PipeId] {
        &self.terminated
    }
}

impl FakePipe {
    fn has_room(&self) -> bool {
        let staged_msgs = self.staged.iter().filter(|m| !m.more()).count();
        !self.closed && (self.hwm == 0 || self.out_msgs + staged_msgs < self.hwm)
    }

    fn mid_message(&self) -> bool {
        self.staged.last().is_some_and(Msg::more)
    }
}

impl Pipes for FakePipes {
    fn write(&mut self, pipe: PipeId, msg: Msg) -> Result<(), Msg> {
        let Some(p) = self.pipes.get_mut(&pipe) else {
            return Err(msg);
        };
        if p.closed || (!p.mid_message() && !p.has_room()) {
            return Err(msg);
        }
        p.staged.push(msg);
        Ok(())
    }

    fn check_write(&mut self, pipe: PipeId) -> bool {
        self.pipes
            .get(&pipe)
            .is_some_and(|p| !p.closed && (p.mid_message() || p.has_room()))
    }

    fn flush(&mut self, pipe: PipeId) {
        if let Some(p) = self.pipes.get_mut(&pipe) {
            // Only complete messages become visible, as in libzmq.
            let complete = p
                .staged
                .iter()
                .rposition(|m| !m.more())
                .map_or(0, |i| i + 1);
            let rest = p.staged.split_off(complete);
            for m in std::mem::replace(&mut p.staged, rest) {
                if !m.more() {
                    p.out_msgs += 1;
                }
                p.outbound.push_back(m);
            }
        }
    }

    fn rollback(&mut self, pipe: PipeId) {
        if let Some(p) = self.pipes.get_mut(&pipe) {
            let complete = p
                .staged
                .iter()
                .rposition(|m| !m.more())
                .map_or(0, |i| i + 1);
            p.staged.truncate(complete);
        }
    }

    fn read(&mut self, pipe: PipeId) -> Option<Msg> {
        self.pipes.get_mut(&pipe)?.inbound.pop_front()
    }

    fn terminate(&mut self, pipe: PipeId) {
        self.terminated.push(pipe);
    }
}
