//! Sans-IO ZMTP for oxmq.
//!
//! This crate knows the ZeroMQ wire protocol (RFC 23 ZMTP 3.0, RFC 37 ZMTP 3.1) and nothing about
//! sockets, threads or clocks: bytes come in through [`Session::handle_input`], bytes go out through
//! [`Session::poll_transmit`], and time is passed in as `now`. It also owns the [`Msg`] type that
//! every other layer of oxmq moves around, and the [`SocketType`] compatibility matrix.
//!
//! The building blocks are public for engines, tests and fuzzers: [`greeting`], [`frame`] and
//! [`command`] are pure codecs over byte slices, and [`wbuf::WriteBuf`] is the output buffer a
//! session fills for one vectored write.
//!
//! No `unsafe` code but in `pool`, the recycled message bodies, and in `Msg`'s four accessors
//! of its body, which it keeps in a `MaybeUninit` (see there); their tests run under Miri
//! (`scripts/miri`).
#![deny(unsafe_code)]

pub mod command;
pub mod curve;
pub mod error;
pub mod frame;
pub mod greeting;
mod msg;
#[allow(unsafe_code)]
mod pool;
#[allow(unsafe_code)]
pub mod prefetch;
mod session;
mod socket_type;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod wbuf;
pub mod z85;
pub mod zap;

pub use error::ProtocolError;
pub use msg::{
    flags, Copies, Msg, Properties, PROPERTY_PEER_ADDRESS, PROPERTY_ROUTING_ID,
    PROPERTY_SOCKET_TYPE, PROPERTY_USER_ID,
};
pub use session::{
    Credentials, Event, FrameSink, Mechanism, PeerInfo, Session, SessionConfig,
    MAX_HANDSHAKE_COMMAND_SIZE,
};
pub use socket_type::SocketType;
pub use wbuf::WriteBuf;
