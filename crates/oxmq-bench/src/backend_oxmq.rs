//! The oxmq [`Backend`]: the public oxmq API only.

use std::time::Duration;

use oxmq::curve::{PublicKey, SecretKey};
use oxmq::{Context, Socket, SocketType};

use crate::{Backend, Role, SocketSettings};

/// oxmq, through its blocking API.
#[derive(Debug, Clone, Copy, Default)]
pub struct Oxmq;

impl Backend for Oxmq {
    const NAME: &'static str = "oxmq";
    type Context = Context;
    type Socket = Socket;
    type Error = oxmq::Error;

    fn context() -> oxmq::Result<Context> {
        Ok(Context::new())
    }

    fn socket(ctx: &Context, role: Role, settings: SocketSettings) -> oxmq::Result<Socket> {
        let mut socket = ctx.socket(match role {
            Role::Push => SocketType::Push,
            Role::Pull => SocketType::Pull,
            Role::Req => SocketType::Req,
            Role::Rep => SocketType::Rep,
            Role::Pub => SocketType::Pub,
            Role::Sub => SocketType::Sub,
            Role::Router => SocketType::Router,
            Role::Dealer => SocketType::Dealer,
        })?;
        socket.set_linger(0)?;
        socket.set_interruptible(settings.interruptible);
        if let Some(timeout) = settings.timeout {
            let ms = millis(timeout);
            socket.set_sndtimeo(ms)?;
            socket.set_rcvtimeo(ms)?;
        }
        Ok(socket)
    }

    fn bind(socket: &mut Socket, endpoint: &str) -> oxmq::Result<String> {
        socket.bind(endpoint)?;
        Ok(socket.last_endpoint())
    }

    fn connect(socket: &mut Socket, endpoint: &str) -> oxmq::Result<()> {
        socket.connect(endpoint)
    }

    fn send(socket: &mut Socket, body: &[u8]) -> oxmq::Result<()> {
        socket.send_copy(body, false)
    }

    fn recv(socket: &mut Socket) -> oxmq::Result<usize> {
        Ok(socket.recv()?.len())
    }

    fn echo(socket: &mut Socket) -> oxmq::Result<usize> {
        let msg = socket.recv()?;
        let len = msg.len();
        socket.send(msg)?;
        Ok(len)
    }

    fn route_echo(socket: &mut Socket) -> oxmq::Result<usize> {
        let id = socket.recv()?;
        let body = socket.recv()?;
        let len = body.len();
        socket.send(id.with_more(true))?;
        socket.send(body)?;
        Ok(len)
    }

    fn recv_tagged(socket: &mut Socket) -> oxmq::Result<(usize, Option<u8>)> {
        let msg = socket.recv()?;
        Ok((msg.len(), msg.data().first().copied()))
    }

    fn set_hwm(socket: &mut Socket, hwm: i32) -> oxmq::Result<()> {
        socket.set_sndhwm(hwm)?;
        socket.set_rcvhwm(hwm)
    }

    fn set_backlog(socket: &mut Socket, backlog: i32) -> oxmq::Result<()> {
        socket.set_sockopt(oxmq::opt::BACKLOG, &backlog.to_ne_bytes())
    }

    fn subscribe(socket: &mut Socket, prefix: &[u8]) -> oxmq::Result<()> {
        socket.subscribe(prefix)
    }

    fn set_curve_server(socket: &mut Socket, secret: &[u8; 32]) -> oxmq::Result<()> {
        socket.set_curve_server(true)?;
        socket.set_curve_secret_key(&SecretKey::from_bytes(*secret))
    }

    fn set_curve_client(
        socket: &mut Socket,
        server: &[u8; 32],
        public: &[u8; 32],
        secret: &[u8; 32],
    ) -> oxmq::Result<()> {
        socket.set_curve_server_key(&PublicKey::from_bytes(*server))?;
        socket.set_curve_public_key(&PublicKey::from_bytes(*public))?;
        socket.set_curve_secret_key(&SecretKey::from_bytes(*secret))
    }
}

/// A timeout in whole milliseconds for a libzmq-style `i32` option, at least 1 (0 would mean
/// "do not wait").
pub(crate) fn millis(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_millis())
        .unwrap_or(i32::MAX)
        .max(1)
}
