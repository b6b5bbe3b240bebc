//! The libzmq [`Backend`], through the `zmq` crate (libzmq built from source by zmq-sys).
//!
//! Shared by the `compare` bench and the smoke tests (`tests/cases.rs` includes this file).

use oxmq_bench::{Backend, Role, SocketSettings, Spec};

/// libzmq 4.3 through rust-zmq, used the way libzmq's perf tools use it: a fresh
/// `zmq_msg_t` of the body's size per send, one reused `zmq_msg_t` per receive.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Libzmq;

/// A libzmq socket with the message it receives into.
pub(crate) struct LibzmqSocket {
    socket: zmq::Socket,
    msg: zmq::Message,
}

impl Backend for Libzmq {
    const NAME: &'static str = "libzmq";
    type Context = zmq::Context;
    type Socket = LibzmqSocket;
    type Error = zmq::Error;

    fn context() -> zmq::Result<zmq::Context> {
        Ok(zmq::Context::new())
    }

    fn socket(
        ctx: &zmq::Context,
        role: Role,
        settings: SocketSettings,
    ) -> zmq::Result<LibzmqSocket> {
        // libzmq's blocking calls always end with EINTR on a signal: `interruptible` is moot.
        let timeout = settings.timeout;
        let socket = ctx.socket(match role {
            Role::Push => zmq::PUSH,
            Role::Pull => zmq::PULL,
            Role::Req => zmq::REQ,
            Role::Rep => zmq::REP,
            Role::Pub => zmq::PUB,
            Role::Sub => zmq::SUB,
            Role::Router => zmq::ROUTER,
            Role::Dealer => zmq::DEALER,
        })?;
        socket.set_linger(0)?;
        if let Some(timeout) = timeout {
            let ms = i32::try_from(timeout.as_millis())
                .unwrap_or(i32::MAX)
                .max(1);
            socket.set_sndtimeo(ms)?;
            socket.set_rcvtimeo(ms)?;
        }
        Ok(LibzmqSocket {
            socket,
            msg: zmq::Message::new(),
        })
    }

    fn bind(s: &mut LibzmqSocket, endpoint: &str) -> zmq::Result<String> {
        s.socket.bind(endpoint)?;
        // A non-UTF-8 endpoint cannot come out of a UTF-8 one.
        Ok(s.socket
            .get_last_endpoint()?
            .unwrap_or_else(|raw| String::from_utf8_lossy(&raw).into_owned()))
    }

    fn connect(s: &mut LibzmqSocket, endpoint: &str) -> zmq::Result<()> {
        s.socket.connect(endpoint)
    }

    fn send(s: &mut LibzmqSocket, body: &[u8]) -> zmq::Result<()> {
        s.socket.send(body, 0)
    }

    fn recv(s: &mut LibzmqSocket) -> zmq::Result<usize> {
        s.socket.recv(&mut s.msg, 0)?;
        Ok(s.msg.len())
    }

    fn echo(s: &mut LibzmqSocket) -> zmq::Result<usize> {
        let mut msg = zmq::Message::new();
        s.socket.recv(&mut msg, 0)?;
        let len = msg.len();
        s.socket.send(msg, 0)?;
        Ok(len)
    }

    fn route_echo(s: &mut LibzmqSocket) -> zmq::Result<usize> {
        let mut id = zmq::Message::new();
        s.socket.recv(&mut id, 0)?;
        s.socket.recv(&mut s.msg, 0)?;
        let len = s.msg.len();
        s.socket.send(id, zmq::SNDMORE)?;
        // The body goes out as received; the receive buffer gets a fresh message.
        let body = std::mem::replace(&mut s.msg, zmq::Message::new());
        s.socket.send(body, 0)?;
        Ok(len)
    }

    fn recv_tagged(s: &mut LibzmqSocket) -> zmq::Result<(usize, Option<u8>)> {
        s.socket.recv(&mut s.msg, 0)?;
        Ok((s.msg.len(), s.msg.first().copied()))
    }

    fn set_hwm(s: &mut LibzmqSocket, hwm: i32) -> zmq::Result<()> {
        s.socket.set_sndhwm(hwm)?;
        s.socket.set_rcvhwm(hwm)
    }

    fn set_backlog(s: &mut LibzmqSocket, backlog: i32) -> zmq::Result<()> {
        s.socket.set_backlog(backlog)
    }

    fn subscribe(s: &mut LibzmqSocket, prefix: &[u8]) -> zmq::Result<()> {
        s.socket.set_subscribe(prefix)
    }

    fn set_curve_server(s: &mut LibzmqSocket, secret: &[u8; 32]) -> zmq::Result<()> {
        s.socket.set_curve_server(true)?;
        s.socket.set_curve_secretkey(secret)
    }

    fn set_curve_client(
        s: &mut LibzmqSocket,
        server: &[u8; 32],
        public: &[u8; 32],
        secret: &[u8; 32],
    ) -> zmq::Result<()> {
        s.socket.set_curve_serverkey(server)?;
        s.socket.set_curve_publickey(public)?;
        s.socket.set_curve_secretkey(secret)
    }

    fn unsupported(spec: &Spec) -> Option<String> {
        (spec.curve().is_some() && !has_curve()).then(|| NO_CURVE.to_owned())
    }
}

/// Whether the linked libzmq was built with CURVE (`zmq_has("curve")`).
pub(crate) fn has_curve() -> bool {
    zmq::has("curve").unwrap_or(false)
}

/// Why libzmq skips the CURVE cases when it lacks CURVE.
const NO_CURVE: &str = "this libzmq was built without CURVE (zmq_has(\"curve\") is 0)";
