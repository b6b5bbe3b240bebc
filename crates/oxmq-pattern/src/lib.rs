//! Sans-IO ZeroMQ socket semantics over abstract pipes.
//!
//! A socket talks to each connected peer through a pair of pipes (one per direction). This crate
//! decides *which* pipe a message goes to and *which* pipe the next message comes from, for every
//! socket type, without knowing what a pipe is: the caller implements [`Pipes`] (oxmq over its
//! lock-free pipes, the tests over in-memory fakes) and reports pipe events
//! (attach, read/write activation, termination) to the pattern.
//!
//! The building blocks mirror libzmq's: [`ActiveSet`] (pipes split into active and inactive),
//! [`LoadBalancer`] (lb), [`FairQueue`] (fq), [`Distributor`] (dist), [`SubTrie`] (trie),
//! [`SubscriptionMap`] (mtrie) and [`RoutingTable`]. [`SocketPattern`] puts them together into
//! the classic socket types, STREAM included.
//!
//! # What the caller must provide
//! - [`SocketPattern::attach`] once per peer, after its handshake, before any other event for
//!   that pipe.
//! - [`SocketPattern::read_activated`] when a pipe that returned `None` from [`Pipes::read`] has
//!   a complete message again; [`SocketPattern::write_activated`] when a pipe whose
//!   [`Pipes::write`] or [`Pipes::check_write`] failed has room again. Spurious activations are
//!   harmless.
//! - [`SocketPattern::pipe_terminated`] once, after the pipe was drained of the messages its
//!   peer sent before closing (libzmq delivers those first), and never an event for that pipe
//!   afterwards.
//! - A message becomes readable as a whole: once [`Pipes::read`] returned the first frame of a
//!   message, it returns the following frames without `None` in between.
#![forbid(unsafe_code)]

use oxmq_proto::{Copies, Msg};

pub use active_set::ActiveSet;
pub use dist::Distributor;
pub use error::{PatternError, SendError};
pub use fq::FairQueue;
pub use lb::LoadBalancer;
pub use mtrie::{RemoveOutcome, SubscriptionMap};
pub use pattern::{DropCounts, PatternOption, PeerInfo, SocketPattern};
pub use pipe_map::{PipeMap, PipeSet};
pub use req_check::ReplyCheck;
pub use routing::RoutingTable;
pub use sockets::{Dealer, Pair, Pub, Pull, Push, Rep, Req, Router, Stream, Sub, XPub, XSub};
pub use trie::SubTrie;

pub mod testing;

mod active_set;
mod dist;
mod error;
mod fq;
mod lb;
mod mtrie;
mod pattern;
mod pipe_map;
mod prefix_tree;
mod req_check;
mod routing;
mod sockets;
mod trie;

/// Identifies one peer's pipe pair within a socket. Assigned by the caller, never reused while
/// the socket lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipeId(pub u64);

/// The pipe operations a pattern needs.
///
/// Contract, as in libzmq: a pipe that reports "full" on write, or "empty" on read, is later
/// reported to the pattern through `write_activated` / `read_activated` when that changes, so a
/// pattern may drop it from its active set until then.
pub trait Pipes {
    /// Writes one frame to `pipe`. Gives the frame back if the pipe is at its high-water mark or
    /// closed. The high-water mark counts whole messages, so once the first frame of a message
    /// was accepted the remaining frames of that message are accepted too.
    fn write(&mut self, pipe: PipeId, msg: Msg) -> Result<(), Msg>;
    /// Whether a [`Pipes::write`] to `pipe` would succeed now.
    fn check_write(&mut self, pipe: PipeId) -> bool;
    /// Publishes the frames written so far to the reader.
    fn flush(&mut self, pipe: PipeId);
    /// [`Pipes::write`], then, if the frame ends its message, [`Pipes::flush`]. An
    /// implementation that looks the pipe up in a table can do both with one lookup.
    fn write_and_publish(&mut self, pipe: PipeId, msg: Msg) -> Result<(), Msg> {
        let last = !msg.more();
        self.write(pipe, msg)?;
        if last {
            self.flush(pipe);
        }
        Ok(())
    }
    /// [`Pipes::write_and_publish`] of a copy from `copies` (a fan-out's); returns whether the
    /// pipe took it. An implementation can make the copy where it is to stay (see
    /// [`Copies::copy_into`]).
    #[inline]
    fn write_copy_and_publish(&mut self, pipe: PipeId, copies: &mut Copies) -> bool {
        self.write_and_publish(pipe, copies.copy()).is_ok()
    }
    /// [`Pipes::write_and_publish`] of a frame holding a copy of `data`, with the MORE flag
    /// `more`; returns whether the pipe took it. An implementation can build the frame where it
    /// is to stay, so that nothing moves it after its bytes were copied in (see
    /// [`Msg::write_copy`]).
    #[inline]
    fn write_bytes_and_publish(&mut self, pipe: PipeId, data: &[u8], more: bool) -> bool {
        self.write_and_publish(pipe, Msg::copy_from_slice(data).with_more(more))
            .is_ok()
    }
    /// Drops the frames of an incomplete message written to `pipe` but not yet completed.
    fn rollback(&mut self, pipe: PipeId);
    /// Reads the next frame from `pipe`, or `None` if nothing is available now.
    fn read(&mut self, pipe: PipeId) -> Option<Msg>;
    /// [`Pipes::read`] into `out` (`None` afterwards when nothing is available). A receive
    /// that passes `out` down from the socket moves the frame once, from the pipe to the
    /// socket's caller, where returning it by value from each layer moved it at each.
    #[inline]
    fn read_into(&mut self, pipe: PipeId, out: &mut Option<Msg>) {
        *out = self.read(pipe);
    }
    /// Asks the caller to close `pipe` (for example a second peer on a PAIR socket).
    fn terminate(&mut self, pipe: PipeId);
}

/// A frame on its way to a pipe: a [`Msg`], or a [`ByteFrame`] that the pipe copies into a
/// frame of its own. What [`LoadBalancer::send`] takes.
pub trait OutFrame: Sized {
    /// Whether more frames of the same message follow.
    fn more(&self) -> bool;
    /// [`Pipes::write_and_publish`] of the frame, which comes back when `pipe` cannot take it.
    fn write_and_publish<P: Pipes>(self, pipes: &mut P, pipe: PipeId) -> Result<(), Self>;
}

impl OutFrame for Msg {
    #[inline]
    fn more(&self) -> bool {
        Msg::more(self)
    }

    #[inline]
    fn write_and_publish<P: Pipes>(self, pipes: &mut P, pipe: PipeId) -> Result<(), Msg> {
        pipes.write_and_publish(pipe, self)
    }
}

/// A frame given as the bytes of its body and its MORE flag (`zmq_send`): the pipe that takes
/// it makes the frame ([`Pipes::write_bytes_and_publish`]).
#[derive(Clone, Copy, Debug)]
pub struct ByteFrame<'a> {
    /// The body.
    pub data: &'a [u8],
    /// Whether more frames of the same message follow.
    pub more: bool,
}

impl OutFrame for ByteFrame<'_> {
    #[inline]
    fn more(&self) -> bool {
        self.more
    }

    #[inline]
    fn write_and_publish<P: Pipes>(self, pipes: &mut P, pipe: PipeId) -> Result<(), Self> {
        if pipes.write_bytes_and_publish(pipe, self.data, self.more) {
            Ok(())
        } else {
            Err(self)
        }
    }
}
