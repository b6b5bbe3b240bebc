//! The security handshake between the greetings and traffic: NULL (RFC 23), PLAIN (RFC 24) and
//! the ZAP round trip (RFC 27) a server side makes before it accepts a peer.
//!
//! Each mechanism is a small state machine over [`Handshake`]; commands go out through the
//! session's write buffer, the peer's metadata (READY or INITIATE) is checked by
//! [`Session::check_metadata`] whichever command carries it, and [`Session::complete`] turns the
//! session to traffic once both sides are satisfied.
//!
//! libzmq's rules, followed here:
//! - NULL asks ZAP only when the socket has a ZAP domain; PLAIN and CURVE servers always ask.
//!   With no handler bound the peer is accepted, unless `ZMQ_ZAP_ENFORCE_DOMAIN` is set.
//! - A NULL server holds its READY until ZAP has answered; a PLAIN server answers HELLO with
//!   WELCOME only after a 200.
//! - A refusal (300, 400, 500) is sent to the peer as an ERROR whose reason is the status code,
//!   except 300, after which the connection just closes.

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use super::{Event, PeerInfo, Session, SessionConfig, State, ERROR_PREFIX, READY_PREFIX};
use crate::command::{self, Command};
use crate::curve::{CurveClient, CurveServer};
use crate::frame::FrameHeader;
use crate::zap::{ZapOutcome, ZapReply, ZapRequest};
use crate::{Mechanism, ProtocolError, SocketType};

/// Where a mechanism's handshake stands.
#[derive(Debug)]
pub(super) enum Handshake {
    /// NULL: our READY goes out at once, or after ZAP's 200 when the socket has a ZAP domain.
    Null {
        ready_sent: bool,
        /// The peer's READY, when it arrived before our ZAP verdict.
        peer: Option<PeerInfo>,
    },
    /// PLAIN client: HELLO sent, waiting for WELCOME, then (INITIATE sent) for READY.
    PlainClient { welcomed: bool },
    /// PLAIN server.
    PlainServer(PlainServer),
    /// CURVE client: HELLO sent, waiting for WELCOME, then (INITIATE sent) for READY.
    CurveClient {
        client: Box<CurveClient>,
        welcomed: bool,
    },
    /// CURVE server. `peer` is the client's INITIATE metadata while ZAP decides.
    CurveServer {
        server: Box<CurveServer>,
        step: CurveStep,
        peer: Option<PeerInfo>,
    },
    /// A mechanism without the keys it needs: the handshake fails as soon as it starts.
    Unconfigured(&'static str),
    /// Between steps (taken out while a command is handled), or finished.
    Idle,
}

/// A CURVE server's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CurveStep {
    /// Waiting for HELLO.
    Hello,
    /// WELCOME sent, waiting for INITIATE.
    Initiate,
    /// INITIATE verified, ZAP asked.
    Zap,
}

/// A PLAIN server's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PlainServer {
    /// Waiting for HELLO.
    Hello,
    /// HELLO received, ZAP asked, waiting for the verdict.
    Zap,
    /// WELCOME sent, waiting for INITIATE.
    Initiate,
}

/// The ERROR a libzmq 4.3 PLAIN server sends, and the only one its PLAIN client understands:
/// libzmq writes the prefix as the C string `"\x05ERROR"`, whose hex escape swallows the `E`,
/// so the command starts with the byte 0x5E and "RROR". A PLAIN server sends it that way so
/// that libzmq clients report the ZAP status; every session also accepts it as an ERROR.
const LIBZMQ_PLAIN_ERROR: &[u8] = b"\x5eRROR";
const WELCOME: &[u8] = b"WELCOME";
const WELCOME_BODY: &[u8] = b"\x07WELCOME";
const INITIATE_PREFIX: &[u8] = b"\x08INITIATE";
const HELLO_PREFIX: &[u8] = b"\x05HELLO";

impl Handshake {
    /// The state a mechanism starts in, before anything is sent.
    pub(super) fn new(config: &SessionConfig, as_server: bool) -> Handshake {
        let c = &config.credentials;
        match (config.mechanism, as_server) {
            (Mechanism::Plain, false) => Handshake::PlainClient { welcomed: false },
            (Mechanism::Plain, true) => Handshake::PlainServer(PlainServer::Hello),
            (Mechanism::Curve, false) => {
                match (&c.curve_public, &c.curve_secret, &c.curve_server) {
                    (Some(public), Some(secret), Some(server)) => Handshake::CurveClient {
                        client: Box::new(CurveClient::new(*public, secret.clone(), *server)),
                        welcomed: false,
                    },
                    _ => Handshake::Unconfigured(
                        "a CURVE client needs CURVE_PUBLICKEY, CURVE_SECRETKEY and CURVE_SERVERKEY",
                    ),
                }
            }
            (Mechanism::Curve, true) => match &c.curve_secret {
                Some(secret) => Handshake::CurveServer {
                    server: Box::new(CurveServer::new(secret.clone())),
                    step: CurveStep::Hello,
                    peer: None,
                },
                None => Handshake::Unconfigured("a CURVE server needs CURVE_SECRETKEY"),
            },
            (Mechanism::Null, _) => Handshake::Null {
                ready_sent: false,
                peer: None,
            },
        }
    }
}

impl Session {
    /// The greetings are done: queues the mechanism's first command, or asks ZAP.
    pub(super) fn start_handshake(&mut self) -> Result<(), ProtocolError> {
        match self.handshake {
            Handshake::Null { .. } if !self.config.zap_domain.is_empty() => {
                self.request_zap(Vec::new());
            }
            Handshake::Null {
                ref mut ready_sent, ..
            } => {
                *ready_sent = true;
                let metadata = self.our_metadata();
                write_command(&mut self.out, READY_PREFIX, &metadata);
            }
            Handshake::PlainClient { .. } => {
                let c = &self.config.credentials;
                let mut body =
                    Vec::with_capacity(2 + c.plain_username.len() + c.plain_password.len());
                // The option setters keep both at most 255 bytes; longer ones are cut, as the
                // length byte cannot say more.
                for field in [&c.plain_username, &c.plain_password] {
                    let field = &field[..field.len().min(255)];
                    body.push(field.len() as u8);
                    body.extend_from_slice(field);
                }
                write_command(&mut self.out, HELLO_PREFIX, &body);
                body.fill(0);
            }
            Handshake::CurveClient { ref mut client, .. } => {
                let hello = client.hello();
                write_command(&mut self.out, &hello, &[]);
            }
            Handshake::Unconfigured(reason) => {
                return Err(ProtocolError::KeyExchange { reason });
            }
            Handshake::PlainServer(_) | Handshake::CurveServer { .. } | Handshake::Idle => {}
        }
        Ok(())
    }

    /// Hands the session the verdict on its [`Event::ZapRequest`].
    ///
    /// A 200 (or no handler, unless `zap_enforce_domain`) lets the handshake go on; anything
    /// else fails the session with [`ProtocolError::AuthFailed`],
    /// [`ProtocolError::NoZapHandler`] or the reply's own fault, after queueing the ERROR the
    /// peer is owed. Calling it when no request is outstanding is
    /// [`ProtocolError::NotReady`]-free and does nothing.
    pub fn handle_zap(&mut self, outcome: ZapOutcome, now: Instant) -> Result<(), ProtocolError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !self.zap_pending {
            return Ok(());
        }
        self.zap_pending = false;
        let result = self.apply_zap(outcome, now);
        if let Err(e) = &result {
            self.fail(e.clone());
        }
        result
    }

    fn apply_zap(&mut self, outcome: ZapOutcome, now: Instant) -> Result<(), ProtocolError> {
        let reply = match outcome {
            // libzmq's PLAIN server refuses everyone without a handler; NULL and CURVE accept
            // unless the domain is enforced.
            ZapOutcome::NoHandler
                if self.config.zap_enforce_domain || self.config.mechanism == Mechanism::Plain =>
            {
                return Err(ProtocolError::NoZapHandler);
            }
            ZapOutcome::NoHandler => None,
            ZapOutcome::Reply(reply) => Some(reply),
        };
        if let Some(ZapReply {
            status,
            user_id,
            metadata,
            ..
        }) = reply
        {
            if status != 200 {
                if status == 300 {
                    // Closed without an ERROR.
                } else if self.config.mechanism == Mechanism::Plain {
                    let mut body = LIBZMQ_PLAIN_ERROR.to_vec();
                    let reason = status.to_string();
                    body.push(reason.len() as u8);
                    body.extend_from_slice(reason.as_bytes());
                    write_command(&mut self.out, &body, &[]);
                } else {
                    self.queue_error(&status.to_string());
                }
                return Err(ProtocolError::AuthFailed { status });
            }
            self.zap_properties
                .push((crate::PROPERTY_USER_ID.to_owned(), user_id));
            self.zap_properties.extend(metadata);
        }
        let ours = self.our_metadata();
        let mut hs = std::mem::replace(&mut self.handshake, Handshake::Idle);
        let result = match &mut hs {
            Handshake::Null { ready_sent, peer } => {
                *ready_sent = true;
                write_command(&mut self.out, READY_PREFIX, &ours);
                if let Some(peer) = peer.take() {
                    self.complete(peer, now);
                }
                Ok(())
            }
            Handshake::PlainServer(step) => {
                *step = PlainServer::Initiate;
                write_command(&mut self.out, WELCOME_BODY, &[]);
                Ok(())
            }
            Handshake::CurveServer { server, peer, .. } => {
                server.ready(&ours).map(|(ready, cipher)| {
                    write_command(&mut self.out, &ready, &[]);
                    self.cipher = Some(Box::new(cipher));
                    if let Some(peer) = peer.take() {
                        self.complete(peer, now);
                    }
                })
            }
            _ => Ok(()),
        };
        self.handshake = hs;
        result
    }

    /// Queues a ZAP request with the mechanism's credentials and waits for its verdict.
    fn request_zap(&mut self, credentials: Vec<Bytes>) {
        self.zap_pending = true;
        self.events.push_back(Event::ZapRequest(ZapRequest {
            mechanism: self.config.mechanism,
            domain: self.config.zap_domain.clone(),
            routing_id: self.config.routing_id.clone(),
            credentials,
        }));
    }

    /// Our metadata (the READY or INITIATE property list): Socket-Type, Identity for the socket
    /// types that send it, and `ZMQ_METADATA`.
    pub(super) fn our_metadata(&self) -> Vec<u8> {
        let ty = self.config.socket_type;
        let mut metadata = Vec::with_capacity(64);
        // Both names are short constants, so these cannot fail; the routing id is at most 255
        // bytes by libzmq's rules but a longer one would only be skipped.
        let _ = command::encode_property(
            &mut metadata,
            command::PROPERTY_SOCKET_TYPE.as_bytes(),
            ty.as_str().as_bytes(),
        );
        if matches!(
            ty,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        ) {
            let _ = command::encode_property(
                &mut metadata,
                command::PROPERTY_IDENTITY.as_bytes(),
                &self.config.routing_id,
            );
        }
        for (name, value) in &self.config.extra_properties {
            // Unsendable properties are skipped (documented on `extra_properties`).
            let _ = command::encode_property(&mut metadata, name.as_bytes(), value);
        }
        metadata
    }

    /// Reads one handshake command from `buf`; returns whether it did.
    pub(super) fn read_handshake_command(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
    ) -> Result<bool, ProtocolError> {
        let Some(body_at) = self.handshake_frame(buf)? else {
            return Ok(false);
        };
        let total = body_at.end;
        let body = buf[body_at].to_vec();
        buf.advance(total);
        // Like libzmq's mechanisms, any frame here is taken as a command, whatever its flags.
        if body.starts_with(ERROR_PREFIX) {
            return match Command::parse(&body)? {
                Command::Error { reason } => Err(ProtocolError::PeerError {
                    reason: String::from_utf8_lossy(reason).into_owned(),
                }),
                _ => Err(unexpected(&body)),
            };
        }
        if let Some(rest) = body.strip_prefix(LIBZMQ_PLAIN_ERROR) {
            // libzmq's PLAIN ERROR (see `LIBZMQ_PLAIN_ERROR`): a reason length and the reason.
            let reason = rest
                .split_first()
                .and_then(|(&len, r)| r.get(..usize::from(len)))
                .ok_or_else(|| ProtocolError::MalformedCommand {
                    command: "ERROR".into(),
                    reason: "truncated reason",
                })?;
            return Err(ProtocolError::PeerError {
                reason: String::from_utf8_lossy(reason).into_owned(),
            });
        }
        if self.zap_pending && !matches!(self.handshake, Handshake::Null { .. }) {
            // The peer must wait for our answer to its credentials.
            return Err(unexpected(&body));
        }
        let mut hs = std::mem::replace(&mut self.handshake, Handshake::Idle);
        let result = self.handshake_step(&mut hs, &body, now);
        self.handshake = hs;
        result.map(|()| true)
    }

    /// Handles one handshake command (not ERROR) in state `hs`.
    fn handshake_step(
        &mut self,
        hs: &mut Handshake,
        body: &[u8],
        now: Instant,
    ) -> Result<(), ProtocolError> {
        match hs {
            Handshake::Null { ready_sent, peer } => {
                let Some(metadata) = body.strip_prefix(READY_PREFIX) else {
                    return Err(unexpected(body));
                };
                let info = self.check_metadata(metadata)?;
                if *ready_sent {
                    self.complete(info, now);
                } else {
                    // Our READY waits for ZAP; so does the handshake.
                    *peer = Some(info);
                }
            }
            Handshake::PlainClient { welcomed } if !*welcomed => {
                if body != WELCOME_BODY {
                    return Err(malformed_or_unexpected(body, WELCOME));
                }
                *welcomed = true;
                let metadata = self.our_metadata();
                write_command(&mut self.out, INITIATE_PREFIX, &metadata);
            }
            Handshake::PlainClient { .. } => {
                let Some(metadata) = body.strip_prefix(READY_PREFIX) else {
                    return Err(unexpected(body));
                };
                let info = self.check_metadata(metadata)?;
                self.complete(info, now);
            }
            Handshake::PlainServer(step @ PlainServer::Hello) => {
                let Some(credentials) = body.strip_prefix(HELLO_PREFIX) else {
                    return Err(unexpected(body));
                };
                let (username, password) = plain_credentials(credentials)?;
                *step = PlainServer::Zap;
                self.request_zap(vec![username, password]);
            }
            Handshake::PlainServer(PlainServer::Initiate) => {
                let Some(metadata) = body.strip_prefix(INITIATE_PREFIX) else {
                    return Err(unexpected(body));
                };
                let info = self.check_metadata(metadata)?;
                let ours = self.our_metadata();
                write_command(&mut self.out, READY_PREFIX, &ours);
                self.complete(info, now);
            }
            Handshake::CurveClient { client, welcomed } if !*welcomed => {
                let ours = self.our_metadata();
                let initiate = client.on_welcome(body, &ours)?;
                *welcomed = true;
                write_command(&mut self.out, &initiate, &[]);
            }
            Handshake::CurveClient { client, .. } => {
                let (metadata, cipher) = client.on_ready(body)?;
                let info = self.check_metadata(&metadata)?;
                self.cipher = Some(Box::new(cipher));
                self.complete(info, now);
            }
            Handshake::CurveServer { server, step, .. } if *step == CurveStep::Hello => {
                let welcome = server.on_hello(body)?;
                *step = CurveStep::Initiate;
                write_command(&mut self.out, &welcome, &[]);
            }
            Handshake::CurveServer { server, step, peer } if *step == CurveStep::Initiate => {
                let (client_key, metadata) = server.on_initiate(body)?;
                // Checked before ZAP is troubled with a peer that could not talk to us anyway.
                *peer = Some(self.check_metadata(&metadata)?);
                *step = CurveStep::Zap;
                self.request_zap(vec![Bytes::copy_from_slice(client_key.as_bytes())]);
            }
            // `zap_pending` is set in these states, handled above; `Unconfigured` failed at
            // the start.
            Handshake::PlainServer(PlainServer::Zap)
            | Handshake::CurveServer { .. }
            | Handshake::Unconfigured(_)
            | Handshake::Idle => return Err(unexpected(body)),
        }
        Ok(())
    }

    /// The handshake is done: traffic may flow.
    fn complete(&mut self, mut peer: PeerInfo, now: Instant) {
        peer.properties.append(&mut self.zap_properties);
        self.peer = Some(peer.clone());
        self.events.push_back(Event::HandshakeDone(peer));
        self.state = State::Ready;
        self.input_needed = 1;
        self.timers.handshake = None;
        self.timers.ping = self
            .config
            .heartbeat_ivl
            .and_then(|ivl| now.checked_add(ivl));
    }

    /// Checks the peer's metadata (from READY or INITIATE) and builds its [`PeerInfo`].
    fn check_metadata(&mut self, metadata: &[u8]) -> Result<PeerInfo, ProtocolError> {
        let local = self.config.socket_type;
        let mut socket_type = None;
        let mut routing_id = None;
        let mut properties = Vec::new();
        for property in command::properties(metadata) {
            let (name, value) = property?;
            if command::property_name_eq(name, command::PROPERTY_SOCKET_TYPE.as_bytes()) {
                // Checked where it occurs, as libzmq does.
                let Some(peer) = SocketType::from_wire_name(value) else {
                    self.queue_error(super::ERROR_REASON_INVALID);
                    return Err(ProtocolError::InvalidSocketType {
                        name: String::from_utf8_lossy(value).into_owned(),
                    });
                };
                if !local.is_compatible(peer) {
                    self.queue_error(super::ERROR_REASON_INCOMPATIBLE);
                    return Err(ProtocolError::IncompatibleSocketType { local, peer });
                }
                socket_type = Some(peer);
            } else if command::property_name_eq(name, command::PROPERTY_IDENTITY.as_bytes()) {
                routing_id = (!value.is_empty()).then(|| Bytes::copy_from_slice(value));
            }
            properties.push((
                String::from_utf8_lossy(name).into_owned(),
                Bytes::copy_from_slice(value),
            ));
        }
        let Some(socket_type) = socket_type else {
            self.queue_error(super::ERROR_REASON_MISSING);
            return Err(ProtocolError::MissingSocketType);
        };
        Ok(PeerInfo {
            socket_type,
            routing_id,
            properties,
            zmtp_minor: u8::from(self.peer_v31),
            zmtp_major: 3,
        })
    }

    pub(super) fn queue_error(&mut self, reason: &str) {
        Command::Error {
            reason: reason.as_bytes(),
        }
        .write_frame(&mut self.out);
    }
}

/// Writes one command frame whose body is `prefix` (the length-prefixed name, and whatever
/// else is fixed) followed by `rest`.
pub(super) fn write_command(out: &mut crate::WriteBuf, prefix: &[u8], rest: &[u8]) {
    let header = FrameHeader::new((prefix.len() + rest.len()) as u64, false, true);
    let mut hdr = [0u8; crate::frame::MAX_HEADER_SIZE];
    let n = crate::frame::encode_header(&header, &mut hdr);
    out.put_slice(&hdr[..n]);
    out.put_slice(prefix);
    out.put_slice(rest);
}

/// A PLAIN HELLO's username and password (RFC 24: each a length byte and that many bytes,
/// nothing after).
fn plain_credentials(data: &[u8]) -> Result<(Bytes, Bytes), ProtocolError> {
    let malformed = |reason| ProtocolError::MalformedCommand {
        command: "HELLO".into(),
        reason,
    };
    let take = |data: &[u8]| -> Option<(Bytes, usize)> {
        let (&len, rest) = data.split_first()?;
        let field = rest.get(..usize::from(len))?;
        Some((Bytes::copy_from_slice(field), 1 + usize::from(len)))
    };
    let (username, used) = take(data).ok_or_else(|| malformed("truncated username"))?;
    let (password, used2) = take(&data[used..]).ok_or_else(|| malformed("truncated password"))?;
    if used + used2 != data.len() {
        return Err(malformed("trailing bytes after the password"));
    }
    Ok((username, password))
}

/// The error for a command this state did not expect: a command with the expected name but the
/// wrong body is malformed; any other name is unexpected.
fn malformed_or_unexpected(body: &[u8], expected: &'static [u8]) -> ProtocolError {
    if body.get(1..).is_some_and(|rest| rest.starts_with(expected))
        && body[0] as usize == expected.len()
    {
        ProtocolError::MalformedCommand {
            command: String::from_utf8_lossy(expected).into_owned(),
            reason: "unexpected body",
        }
    } else {
        unexpected(body)
    }
}

fn unexpected(body: &[u8]) -> ProtocolError {
    ProtocolError::UnexpectedCommand {
        name: super::command_name_lossy(body),
    }
}
