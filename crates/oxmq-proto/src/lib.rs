//! Sans-IO ZMTP for oxmq.
//!
//! This crate knows the ZeroMQ wire protocol (RFC 23 ZMTP 3.0, RFC 37 ZMTP 3.1) and nothing about
//! sockets, threads or clocks: bytes come in through [`Session::handle_input`], bytes go out through
//! [`Session::poll_transmit`], and time is passed in as `now`. It also owns the [`Msg`] type that
//! every other layer of oxmq moves around, and the [`SocketType`] compatibility matrix.
#![forbid(unsafe_code)]

mod msg;
mod socket_type;

pub use msg::{flags, Msg};
pub use socket_type::SocketType;
