//! oxmq: ZeroMQ, rebuilt in Rust.
//!
//! A wire-compatible implementation of ZeroMQ: oxmq sockets talk ZMTP 3.1 to libzmq peers
//! (pyzmq, czmq, cppzmq, JeroMQ) and to each other. Every socket can be used blocking
//! ([`Socket::send`], [`Socket::recv`]) or async ([`Socket::send_async`],
//! [`Socket::recv_async`], any executor), on the same value.
//!
//! ```
//! use oxmq::{Context, SocketType};
//!
//! let ctx = Context::new();
//! let mut pull = ctx.socket(SocketType::Pull)?;
//! pull.bind("tcp://127.0.0.1:*")?;
//! let mut push = ctx.socket(SocketType::Push)?;
//! push.connect(&pull.last_endpoint())?;
//! push.send_multipart(["hello", "world"])?;
//! let parts = pull.recv_multipart()?;
//! assert_eq!(parts[0].data(), b"hello");
//! assert_eq!(parts[1].data(), b"world");
//! # Ok::<(), oxmq::Error>(())
//! ```
//!
//! Layers (see `docs/ARCHITECTURE.md`): `oxmq-proto` (sans-IO ZMTP), `oxmq-pattern` (sans-IO
//! socket semantics), and this crate (context, sockets, pipes, engines, transports).

mod admission;
pub mod auth;
mod context;
mod counters;
mod endpoint;
mod engine;
mod error;
mod eventfd;
mod keepawake;
pub mod monitor;
pub mod opt;
mod options;
mod pipe;
mod poll;
mod proxy;
mod security;
mod signal;
mod socket;
mod spsc;
mod transport;
mod zap;

pub use context::Context;
pub use counters::{Counters, PeerCounters, Traffic};
pub use error::{errno, Error, ErrorKind, Result};
pub use monitor::{Monitor, MonitorEvent};
pub use oxmq_proto::{curve, z85};
pub use oxmq_proto::{
    Mechanism, Msg, Properties, SocketType, PROPERTY_PEER_ADDRESS, PROPERTY_ROUTING_ID,
    PROPERTY_SOCKET_TYPE, PROPERTY_USER_ID,
};
pub use poll::{poll, poll_async, PollItem, POLLERR, POLLPRI};
pub use proxy::{proxy, proxy_steerable, ProxyCounters, ProxyStatistics};
pub use socket::{Socket, POLLIN, POLLOUT};
