//! [`Session`]: one ZMTP connection as a sans-IO state machine.
//!
//! Call order, per engine wake-up:
//!
//! ```text
//! session.handle_input(&mut rbuf, now)?;      // consume every complete unit in rbuf
//! while let Some(ev) = session.poll_event() { .. }
//! session.send(msg)?;                         // after Event::HandshakeDone, any number of times
//! session.poll_transmit(&mut wbuf);           // then one vectored write of wbuf
//! timer.reset(session.poll_timeout());
//! ```
//!
//! A ZMTP 2.0 peer (revision byte 1) is served as libzmq serves it: the greeting stops after
//! 12 bytes (our socket type stands where the minor version would be), each side's first
//! message is its routing id, and there are no commands, mechanisms or heartbeats;
//! [`PeerInfo::zmtp_major`] is then 2. ZMTP 1.0 peers are refused.
//!
//! The handshake follows libzmq 4.3.5 byte for byte: [`Session::new`] queues the 10-byte
//! signature; the major version byte follows once the peer's signature has arrived, and the rest
//! of the greeting once the peer's major version has arrived (so a ZMTP 1.0/2.0 peer never sees a
//! ZMTP 3 greeting). When the peer's whole greeting is in, the mechanism names are compared and
//! (NULL) our READY is queued; the peer's READY completes the handshake and produces
//! [`Event::HandshakeDone`], before any [`Event::Message`].
//!
//! After the handshake the decoder runs a tight loop over data frames: a body of at most
//! [`Msg::INLINE_CAPACITY`] bytes is copied inline, one of up to 8 KiB into a recycled block
//! (so that the input buffer is free again for the next read), a larger one is split off the
//! input buffer without a copy. Command frames are handled in place: PING is answered with PONG,
//! SUBSCRIBE/CANCEL become [`Event::Message`]s with the [`flags::SUBSCRIBE`]/[`flags::CANCEL`]
//! flag, and everything else (PONG, unknown or malformed commands, a late READY or ERROR) is
//! dropped, as libzmq drops it.
//!
//! Timers follow libzmq's engine: `ZMQ_HANDSHAKE_IVL` runs from [`Session::new`] until the
//! handshake completes; with `ZMQ_HEARTBEAT_IVL` set, a PING (carrying `ZMQ_HEARTBEAT_TTL`) is
//! queued every interval and `ZMQ_HEARTBEAT_TIMEOUT` runs from a PING until any frame arrives;
//! a PING from the peer with a non-zero TTL fails the session if nothing else arrives within it.
//! The engine arms one timer at [`Session::poll_timeout`] and calls [`Session::handle_timeout`].
//!
//! Errors are fatal: the session keeps the first error and returns it from every later call.
//! Events decoded before the error stay queued, and output queued before it (possibly an ERROR
//! command) stays available to [`Session::poll_transmit`] so the engine can flush it before it
//! closes the connection.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use crate::command::{self, Command};
use crate::frame::{self, FrameHeader};
use crate::greeting::{self, Greeting, ZmtpVersion};
use crate::pool;
use crate::wbuf::WriteBuf;
use crate::zap::ZapRequest;
use crate::{flags, Msg, ProtocolError, SocketType};

/// One ZMTP connection's protocol state.
pub struct Session {
    config: SessionConfig,
    state: State,
    our_greeting: [u8; greeting::GREETING_SIZE],
    greeting_sent: GreetingSent,
    peer_greeting: [u8; greeting::GREETING_SIZE],
    peer_greeting_len: usize,
    /// Whether the peer speaks ZMTP 3.1 (subscriptions as commands).
    peer_v31: bool,
    max_msg_size: u64,
    peer: Option<PeerInfo>,
    events: VecDeque<Event>,
    out: WriteBuf,
    input_needed: usize,
    error: Option<ProtocolError>,
    timers: Timers,
    /// The mechanism's handshake.
    handshake: Handshake,
    /// An [`Event::ZapRequest`] awaits [`Session::handle_zap`].
    zap_pending: bool,
    /// User-Id and metadata from the ZAP reply, added to the peer's properties.
    zap_properties: Vec<(String, Bytes)>,
    /// CURVE: every frame after the handshake is a MESSAGE sealed or opened here.
    cipher: Option<Box<crate::curve::CurveCipher>>,
}

/// What a [`Session`] needs to know about its socket.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Our socket type, sent in READY and checked against the peer's.
    pub socket_type: SocketType,
    /// Our routing id (`ZMQ_ROUTING_ID`). Like libzmq, REQ, DEALER and ROUTER send it in READY
    /// as `Identity`, even when empty; other socket types never send it. Its length also goes
    /// into the greeting's padding, as libzmq does.
    pub routing_id: Bytes,
    /// Whether we are the server side of the security mechanism (`ZMQ_PLAIN_SERVER`,
    /// `ZMQ_CURVE_SERVER`). NULL has no roles and always sends as-server = 0.
    pub as_server: bool,
    /// The security mechanism.
    pub mechanism: Mechanism,
    /// The mechanism's credentials.
    pub credentials: Credentials,
    /// `ZMQ_ZAP_DOMAIN`. A NULL server asks ZAP only when it is set; PLAIN and CURVE servers
    /// always ask, with this domain.
    pub zap_domain: Bytes,
    /// `ZMQ_ZAP_ENFORCE_DOMAIN`: with no ZAP handler bound, refuse the peer instead of
    /// accepting it.
    pub zap_enforce_domain: bool,
    /// `ZMQ_MAXMSGSIZE`: frames (data or command) longer than this are a protocol error.
    /// `None` means unlimited.
    pub max_msg_size: Option<u64>,
    /// Extra READY properties (`ZMQ_METADATA`, names like `X-Foo`). A name longer than 255
    /// bytes cannot be sent and is skipped.
    pub extra_properties: Vec<(String, Bytes)>,
    /// `ZMQ_HANDSHAKE_IVL`: the handshake must complete this long after [`Session::new`], or
    /// the session fails with [`ProtocolError::HandshakeTimeout`]. `None` means no limit.
    pub handshake_ivl: Option<Duration>,
    /// `ZMQ_HEARTBEAT_IVL`: once the handshake is done, send a PING this often. `None` (libzmq's
    /// default) sends none.
    pub heartbeat_ivl: Option<Duration>,
    /// `ZMQ_HEARTBEAT_TTL`: the TTL announced in our PINGs (sent in tenths of a second, rounded
    /// down, at most `u16::MAX`), after which the peer may drop us if it hears nothing.
    pub heartbeat_ttl: Duration,
    /// `ZMQ_HEARTBEAT_TIMEOUT`: fail with [`ProtocolError::HeartbeatTimeout`] if nothing
    /// arrives this long after a PING. `None` (libzmq's `-1`) means the heartbeat interval;
    /// `Some(Duration::ZERO)` disables it.
    pub heartbeat_timeout: Option<Duration>,
}

/// The ZMTP security mechanism of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// No security (RFC 23 §"The NULL Security Mechanism").
    Null,
    /// Clear-text username and password (RFC 24).
    Plain,
    /// CurveZMQ: authenticated encryption with X25519 keys (RFC 25, 26).
    Curve,
}

/// What a mechanism needs to prove who we are. Its `Debug` output hides the secrets.
#[derive(Clone, Default)]
pub struct Credentials {
    /// `ZMQ_PLAIN_USERNAME` (a PLAIN client sends it; at most 255 bytes).
    pub plain_username: Bytes,
    /// `ZMQ_PLAIN_PASSWORD` (a PLAIN client sends it; at most 255 bytes).
    pub plain_password: Bytes,
    /// `ZMQ_CURVE_PUBLICKEY`: our long-term public key (a CURVE client needs it; a server
    /// derives it from the secret key).
    pub curve_public: Option<crate::curve::PublicKey>,
    /// `ZMQ_CURVE_SECRETKEY`: our long-term secret key (both CURVE sides need it).
    pub curve_secret: Option<crate::curve::SecretKey>,
    /// `ZMQ_CURVE_SERVERKEY`: the server's long-term public key (a CURVE client needs it).
    pub curve_server: Option<crate::curve::PublicKey>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("plain_username", &self.plain_username)
            .field("plain_password", &"..")
            .field("curve_public", &self.curve_public)
            .field("curve_secret", &self.curve_secret.as_ref().map(|_| ".."))
            .field("curve_server", &self.curve_server)
            .finish()
    }
}

/// What the handshake told us about the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's socket type (its READY `Socket-Type`).
    pub socket_type: SocketType,
    /// The peer's READY `Identity`, if present and non-empty.
    pub routing_id: Option<Bytes>,
    /// Every READY property, in order, names as received (lossy UTF-8).
    pub properties: Vec<(String, Bytes)>,
    /// The peer's ZMTP minor version as libzmq interprets it: 0 for ZMTP 3.0 (subscriptions
    /// travel as `\x01topic` / `\x00topic` messages), 1 for ZMTP 3.1 and anything newer; 0 for
    /// a ZMTP 2.0 peer.
    pub zmtp_minor: u8,
    /// The peer's ZMTP major version: 3, or 2 for a ZMTP 2.0 peer (no READY: `properties` is
    /// empty, the routing id comes from its first message, subscriptions travel as messages).
    pub zmtp_major: u8,
}

/// Something the peer did, returned by [`Session::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed. Emitted once, before any [`Event::Message`].
    HandshakeDone(PeerInfo),
    /// One data frame, its MORE flag preserved; or a SUBSCRIBE / CANCEL command from a ZMTP 3.1
    /// peer as [`Msg::subscribe`] / [`Msg::cancel`] of the topic.
    Message(Msg),
    /// A server-side mechanism wants the ZAP handler's verdict on the peer: send the request
    /// and answer with [`Session::handle_zap`]. The handshake waits until then.
    ZapRequest(ZapRequest),
}

impl SessionConfig {
    /// libzmq's defaults: empty routing id, client side, NULL, no size limit, no extra
    /// properties, a 30-second handshake limit and no heartbeats.
    pub fn new(socket_type: SocketType) -> SessionConfig {
        SessionConfig {
            socket_type,
            routing_id: Bytes::new(),
            as_server: false,
            mechanism: Mechanism::Null,
            credentials: Credentials::default(),
            zap_domain: Bytes::new(),
            zap_enforce_domain: false,
            max_msg_size: None,
            extra_properties: Vec::new(),
            handshake_ivl: Some(DEFAULT_HANDSHAKE_IVL),
            heartbeat_ivl: None,
            heartbeat_ttl: Duration::ZERO,
            heartbeat_timeout: None,
        }
    }
}

impl Mechanism {
    /// The mechanism's name as it appears in the greeting.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::Null => "NULL",
            Mechanism::Plain => "PLAIN",
            Mechanism::Curve => "CURVE",
        }
    }

    /// The greeting's 20-byte, NUL-padded mechanism field.
    pub fn wire_name(&self) -> [u8; greeting::MECHANISM_NAME_SIZE] {
        let mut field = [0u8; greeting::MECHANISM_NAME_SIZE];
        let name = self.name().as_bytes();
        field[..name.len()].copy_from_slice(name);
        field
    }
}

impl Session {
    /// A session that has queued the first part of its greeting (the 10-byte signature).
    pub fn new(config: SessionConfig, now: Instant) -> Session {
        let as_server = config.as_server && config.mechanism != Mechanism::Null;
        let our_greeting =
            Greeting::new(config.mechanism, as_server, config.routing_id.len()).encode();
        let max_msg_size = config
            .max_msg_size
            .map_or(frame::MAX_FRAME_SIZE, |m| m.min(frame::MAX_FRAME_SIZE));
        let mut out = WriteBuf::new();
        out.put_slice(&our_greeting[..greeting::SIGNATURE_SIZE]);
        let timers = Timers {
            handshake: config.handshake_ivl.and_then(|d| now.checked_add(d)),
            ..Timers::default()
        };
        let handshake = Handshake::new(&config, as_server);
        Session {
            config,
            state: State::Greeting,
            our_greeting,
            greeting_sent: GreetingSent::Signature,
            peer_greeting: [0; greeting::GREETING_SIZE],
            peer_greeting_len: 0,
            peer_v31: true,
            max_msg_size,
            peer: None,
            events: VecDeque::with_capacity(EVENT_QUEUE_CAPACITY),
            out,
            input_needed: 1,
            error: None,
            timers,
            handshake,
            zap_pending: false,
            zap_properties: Vec::new(),
            cipher: None,
        }
    }

    /// Consumes every complete unit (greeting bytes, frames) from the front of `buf`, leaving a
    /// trailing partial frame in place, and queues the resulting events and output.
    ///
    /// On a protocol violation the session fails for good: it may first queue bytes to send (an
    /// ERROR command), then returns the error, now and on every later call.
    pub fn handle_input(&mut self, buf: &mut BytesMut, now: Instant) -> Result<(), ProtocolError> {
        self.handle_input_inner(buf, now, None)
    }

    /// [`Session::handle_input`], handing data frames to `on_message` (any `FnMut(Msg)`, or a
    /// [`FrameSink`]) as they are decoded instead of queueing them as [`Event::Message`], while
    /// no other event is queued before them (so the order of frames and events stays the order
    /// they came in). Whatever is queued is still read with [`Session::poll_event`], after this
    /// returns. Spares a receiver with a steady stream the queue's write and read of every
    /// frame.
    pub fn handle_input_with(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
        on_message: &mut dyn FrameSink,
    ) -> Result<(), ProtocolError> {
        self.handle_input_inner(buf, now, Some(on_message))
    }

    fn handle_input_inner(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
        sink: Option<&mut dyn FrameSink>,
    ) -> Result<(), ProtocolError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let result = self.process_input(buf, now, sink);
        if let Err(e) = &result {
            self.fail(e.clone());
        }
        result
    }

    /// Serves the timers that are due at `now`: fails the session when the handshake or the
    /// peer's heartbeat timed out, and queues a PING when one is due. Harmless to call early.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ProtocolError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let t = &mut self.timers;
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        let error = if due(t.handshake) {
            Some(ProtocolError::HandshakeTimeout)
        } else if due(t.peer_ttl) || due(t.pong) {
            Some(ProtocolError::HeartbeatTimeout)
        } else {
            None
        };
        if let Some(e) = error {
            self.fail(e.clone());
            return Err(e);
        }
        if due(t.ping) {
            t.ping = self
                .config
                .heartbeat_ivl
                .and_then(|ivl| now.checked_add(ivl));
            let timeout = self.config.heartbeat_timeout.or(self.config.heartbeat_ivl);
            if t.pong.is_none() {
                t.pong = timeout
                    .filter(|d| !d.is_zero())
                    .and_then(|d| now.checked_add(d));
            }
            let ttl = self.config.heartbeat_ttl.as_millis() / 100;
            self.put_command(&Command::Ping {
                ttl: u16::try_from(ttl).unwrap_or(u16::MAX),
                context: &[],
            });
        }
        Ok(())
    }

    /// Encodes one frame for the peer. Valid only once the handshake is done
    /// ([`ProtocolError::NotReady`] before).
    ///
    /// A [`Msg::subscribe`] / [`Msg::cancel`] becomes a SUBSCRIBE / CANCEL command for a ZMTP 3.1
    /// peer and a `\x01topic` / `\x00topic` data frame for a ZMTP 3.0 peer; a frame with the
    /// COMMAND flag is sent as a command frame with its body as is; anything else is a data frame
    /// with the MORE flag as set.
    pub fn send(&mut self, msg: Msg) -> Result<(), ProtocolError> {
        if self.state != State::Ready {
            return Err(self.error.clone().unwrap_or(ProtocolError::NotReady));
        }
        let f = msg.flags();
        if f & (flags::SUBSCRIBE | flags::CANCEL) != 0 {
            let subscribe = f & flags::SUBSCRIBE != 0;
            if self.peer_v31 {
                let topic = msg.data();
                let cmd = if subscribe {
                    Command::Subscribe { topic }
                } else {
                    Command::Cancel { topic }
                };
                self.put_command(&cmd);
            } else if self.cipher.is_some() {
                self.send_sealed(
                    &[&[u8::from(subscribe)], msg.data()].concat(),
                    msg.more(),
                    false,
                );
            } else {
                let header = FrameHeader::new(msg.len() as u64 + 1, msg.more(), false);
                self.put_header(&header);
                self.out.put_slice(&[u8::from(subscribe)]);
                self.out.put_slice(msg.data());
            }
            return Ok(());
        }
        if self.cipher.is_some() {
            self.send_sealed(msg.data(), msg.more(), msg.is_command());
            return Ok(());
        }
        if let Some(body) = msg.inline_padded() {
            // A short body (INLINE_CAPACITY < 256 bytes): a short header, then the body.
            let command = if msg.is_command() { frame::COMMAND } else { 0 };
            self.out
                .put_short_frame((f & flags::MORE) | command, body, msg.len());
            return Ok(());
        }
        let header = FrameHeader::new(msg.len() as u64, msg.more(), msg.is_command());
        self.out.put_frame(&header, msg);
        Ok(())
    }

    /// Appends everything queued for the peer to `out` (cheap when `out` is empty).
    pub fn poll_transmit(&mut self, out: &mut WriteBuf) {
        out.append(&mut self.out);
    }

    /// Whether [`poll_transmit`](Session::poll_transmit) has something to give.
    pub fn has_transmit(&self) -> bool {
        !self.out.is_empty()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Session::handle_timeout) wants to be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.error.is_some() {
            return None;
        }
        let t = &self.timers;
        [t.handshake, t.ping, t.pong, t.peer_ttl]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the handshake is done (and the session has not failed).
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// The peer's handshake information, once the handshake is done.
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// The error the session failed with, if it has.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.error.as_ref()
    }

    /// How many bytes the input buffer must hold, from its start, before the next
    /// [`handle_input`](Session::handle_input) can make progress: the size of the partial unit
    /// left in it. The frame's size has already been checked against the limits, so the engine
    /// can reserve this much.
    pub fn input_needed(&self) -> usize {
        self.input_needed
    }

    fn fail(&mut self, e: ProtocolError) {
        self.state = State::Failed;
        self.error = Some(e);
    }

    fn process_input(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
        sink: Option<&mut dyn FrameSink>,
    ) -> Result<(), ProtocolError> {
        loop {
            let progressed = match self.state {
                State::Greeting => self.read_greeting(buf)?,
                State::Handshake => self.read_handshake_command(buf, now)?,
                State::V2Identity { peer } => self.read_v2_identity(buf, peer)?,
                State::Ready if self.cipher.is_some() => return self.read_sealed(buf, now),
                State::Ready => return self.read_traffic(buf, now, sink),
                // `handle_input` returns the stored error before getting here.
                State::Failed => return Ok(()),
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Takes greeting bytes from `buf`; returns whether the greeting is complete.
    ///
    /// Like libzmq, reads no further than the 12 bytes of a ZMTP 2.0 greeting until the peer's
    /// major version shows it sends the 64 bytes of ZMTP 3.x, so a ZMTP 2.0 peer's first frame
    /// stays in `buf`.
    fn read_greeting(&mut self, buf: &mut BytesMut) -> Result<bool, ProtocolError> {
        loop {
            let have = self.peer_greeting_len;
            let target = match self.peer_greeting.get(greeting::MAJOR_POS) {
                Some(&major) if have > greeting::MAJOR_POS => {
                    match greeting::version_of(major, 0) {
                        ZmtpVersion::V3 { .. } => greeting::GREETING_SIZE,
                        ZmtpVersion::V1 | ZmtpVersion::V2 => V2_GREETING_SIZE,
                    }
                }
                _ => V2_GREETING_SIZE,
            };
            let take = (target - have).min(buf.len());
            self.peer_greeting[have..have + take].copy_from_slice(&buf[..take]);
            buf.advance(take);
            self.peer_greeting_len += take;
            let got = &self.peer_greeting[..self.peer_greeting_len];
            // The signature alone decides whether libzmq answers with its major version.
            greeting::check_prefix(&got[..got.len().min(greeting::SIGNATURE_SIZE)])?;
            if got.len() >= greeting::SIGNATURE_SIZE
                && self.greeting_sent == GreetingSent::Signature
            {
                self.out
                    .put_slice(&self.our_greeting[greeting::SIGNATURE_SIZE..greeting::MINOR_POS]);
                self.greeting_sent = GreetingSent::Major;
            }
            let Some(&major) = got.get(greeting::MAJOR_POS) else {
                self.input_needed = target - self.peer_greeting_len;
                return Ok(false);
            };
            let version =
                greeting::version_of(major, got.get(greeting::MINOR_POS).copied().unwrap_or(0));
            match version {
                ZmtpVersion::V1 => return Err(ProtocolError::UnsupportedVersion { major: 1 }),
                ZmtpVersion::V2 => return self.read_greeting_v2(),
                ZmtpVersion::V3 { .. } => {}
            }
            // The peer's major version decides whether libzmq sends the rest of its greeting.
            if self.greeting_sent == GreetingSent::Major {
                self.out
                    .put_slice(&self.our_greeting[greeting::MINOR_POS..]);
                self.greeting_sent = GreetingSent::All;
            }
            let got = &self.peer_greeting[..self.peer_greeting_len];
            if got.len() < greeting::GREETING_SIZE {
                if buf.is_empty() {
                    self.input_needed = greeting::GREETING_SIZE - got.len();
                    return Ok(false);
                }
                // The target just grew from 12 to 64 bytes: take more.
                continue;
            }
            let Some((peer, _)) = Greeting::decode(got)? else {
                return Ok(false);
            };
            if peer.mechanism_field() != &self.config.mechanism.wire_name() {
                return Err(ProtocolError::MechanismMismatch {
                    local: self.config.mechanism.name(),
                    peer: String::from_utf8_lossy(peer.mechanism_name()).into_owned(),
                });
            }
            self.peer_v31 = peer.version() != ZmtpVersion::V3 { minor: 0 };
            self.state = State::Handshake;
            self.start_handshake()?;
            self.input_needed = 1;
            return Ok(true);
        }
    }

    /// The peer sent a ZMTP 2.0 greeting (signature, revision 1, socket type). libzmq answers
    /// with its socket type in place of the minor version, then exchanges routing-id messages;
    /// there are no commands, no security mechanism and no heartbeats.
    fn read_greeting_v2(&mut self) -> Result<bool, ProtocolError> {
        if self.greeting_sent == GreetingSent::Major {
            // Socket type numbers are 0..=11, so the cast keeps the value.
            self.out
                .put_slice(&[self.config.socket_type.to_raw() as u8]);
            self.greeting_sent = GreetingSent::All;
        }
        let Some(&peer_type) = self.peer_greeting.get(V2_GREETING_SIZE - 1) else {
            return Ok(false);
        };
        if self.peer_greeting_len < V2_GREETING_SIZE {
            self.input_needed = V2_GREETING_SIZE - self.peer_greeting_len;
            return Ok(false);
        }
        if self.config.mechanism != Mechanism::Null {
            return Err(ProtocolError::MechanismMismatch {
                local: self.config.mechanism.name(),
                peer: String::new(),
            });
        }
        let local = self.config.socket_type;
        let Some(peer) = SocketType::from_raw(i32::from(peer_type)) else {
            return Err(ProtocolError::InvalidSocketType {
                name: peer_type.to_string(),
            });
        };
        // libzmq does not check the socket type of a ZMTP 2.0 peer; oxmq holds it to the same
        // rule as a ZMTP 3 peer.
        if !local.is_compatible(peer) {
            return Err(ProtocolError::IncompatibleSocketType { local, peer });
        }
        self.peer_v31 = false;
        // Our routing id goes out as the first message.
        let routing_id = self.config.routing_id.clone();
        self.put_header(&FrameHeader::new(routing_id.len() as u64, false, false));
        self.out.put_slice(&routing_id);
        self.state = State::V2Identity { peer };
        self.input_needed = 1;
        Ok(true)
    }

    /// Finds the next whole handshake frame in `buf`, checked against MAXMSGSIZE and
    /// [`MAX_HANDSHAKE_COMMAND_SIZE`] before anything waits for its body. Returns the body's
    /// range, which lies within `buf`; `None` (with `input_needed` set) while it is incomplete.
    fn handshake_frame(
        &mut self,
        buf: &BytesMut,
    ) -> Result<Option<std::ops::Range<usize>>, ProtocolError> {
        let Some((header, hlen)) = frame::decode(buf)? else {
            self.input_needed = header_needed(buf);
            return Ok(None);
        };
        let size = header.size();
        self.check_size(size)?;
        if size > MAX_HANDSHAKE_COMMAND_SIZE as u64 {
            return Err(ProtocolError::CommandTooLarge {
                size,
                max: MAX_HANDSHAKE_COMMAND_SIZE as u64,
            });
        }
        // Bounded by MAX_HANDSHAKE_COMMAND_SIZE + 9 above.
        let total = hlen + size as usize;
        if buf.len() < total {
            self.input_needed = total;
            return Ok(None);
        }
        Ok(Some(hlen..total))
    }

    /// Reads a ZMTP 2.0 peer's routing-id message, which completes the handshake.
    fn read_v2_identity(
        &mut self,
        buf: &mut BytesMut,
        socket_type: SocketType,
    ) -> Result<bool, ProtocolError> {
        let Some(body_at) = self.handshake_frame(buf)? else {
            return Ok(false);
        };
        let total = body_at.end;
        let body = &buf[body_at];
        let routing_id = (!body.is_empty()).then(|| Bytes::copy_from_slice(body));
        buf.advance(total);
        let peer = PeerInfo {
            socket_type,
            routing_id,
            properties: Vec::new(),
            zmtp_minor: 0,
            zmtp_major: 2,
        };
        self.peer = Some(peer.clone());
        self.events.push_back(Event::HandshakeDone(peer));
        self.state = State::Ready;
        self.input_needed = 1;
        // libzmq runs no heartbeats without a mechanism.
        self.timers = Timers::default();
        Ok(true)
    }

    /// The post-handshake fast path: decodes every complete frame in `buf`.
    fn read_traffic(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
        mut sink: Option<&mut dyn FrameSink>,
    ) -> Result<(), ProtocolError> {
        let max = self.max_msg_size;
        // Bytes of `buf` already consumed but not yet advanced over.
        let mut pos = 0;
        // Heartbeat bookkeeping, applied once per call rather than per frame: whether any frame
        // arrived, and the TTL of the last one if it was a PING.
        let mut received = false;
        let mut last_ping_ttl = None;
        let result = loop {
            let rest = &buf[pos..];
            let Some(&flags_byte) = rest.first() else {
                self.input_needed = 1;
                break Ok(());
            };
            let (size, hlen) = if flags_byte & frame::LONG == 0 {
                match rest.get(1) {
                    Some(&s) => (u64::from(s), 2),
                    None => {
                        self.input_needed = 2;
                        break Ok(());
                    }
                }
            } else {
                match rest.get(1..frame::MAX_HEADER_SIZE) {
                    Some(s) => {
                        let mut be = [0u8; 8];
                        be.copy_from_slice(s);
                        (u64::from_be_bytes(be), frame::MAX_HEADER_SIZE)
                    }
                    None => {
                        self.input_needed = frame::MAX_HEADER_SIZE;
                        break Ok(());
                    }
                }
            };
            if size > max {
                break Err(ProtocolError::FrameTooLarge { size, max });
            }
            // `max` is at most isize::MAX, so neither conversion nor sum can overflow.
            let size = size as usize;
            let total = hlen + size;
            let Some(body) = rest.get(hlen..total) else {
                self.input_needed = total;
                break Ok(());
            };
            received = true;
            if flags_byte & frame::COMMAND != 0 {
                last_ping_ttl = self.handle_command(body);
                pos += total;
                continue;
            }
            last_ping_ttl = None;
            if size <= COPIED_BODY_MAX && (size <= Msg::INLINE_CAPACITY || pool::recycles(size)) {
                let more = flags_byte & frame::MORE != 0;
                match self.sink_now(&mut sink) {
                    Some(sink) => sink.copy(body, more),
                    None => self
                        .events
                        .push_back(Event::Message(Msg::copy_from_slice(body).with_more(more))),
                }
                pos += total;
            } else {
                buf.advance(pos + hlen);
                pos = 0;
                let mut msg = Msg::from_bytes(buf.split_to(size).freeze());
                msg.set_more(flags_byte & frame::MORE != 0);
                self.deliver(msg, &mut sink);
            }
        };
        buf.advance(pos);
        self.note_traffic(received, last_ping_ttl, now);
        result
    }

    /// Hands a decoded data frame to the sink, or queues it when there is none or events are
    /// queued already (which must come out first).
    #[inline]
    fn deliver(&mut self, msg: Msg, sink: &mut Option<&mut dyn FrameSink>) {
        match self.sink_now(sink) {
            Some(sink) => sink.frame(msg),
            None => self.events.push_back(Event::Message(msg)),
        }
    }

    /// The sink, if a frame decoded now may go to it: only while no event is queued, which
    /// must come out first.
    #[inline]
    fn sink_now<'s, 'a>(
        &self,
        sink: &'s mut Option<&'a mut (dyn FrameSink + 'a)>,
    ) -> Option<&'s mut (dyn FrameSink + 'a)> {
        sink.as_deref_mut().filter(|_| self.events.is_empty())
    }

    /// Heartbeat bookkeeping after a batch of frames: whether any arrived, and the TTL of the
    /// last one if it was a PING.
    fn note_traffic(&mut self, received: bool, last_ping_ttl: Option<u16>, now: Instant) {
        if received {
            // libzmq: any frame from the peer cancels the heartbeat timeout and the peer's TTL;
            // a PING then (re)starts the TTL.
            self.timers.pong = None;
            self.timers.peer_ttl = last_ping_ttl
                .filter(|&ttl| ttl > 0)
                .and_then(|ttl| now.checked_add(Duration::from_millis(u64::from(ttl) * 100)));
        }
    }

    /// Handles a command frame after the handshake; returns the TTL if it was a PING.
    fn handle_command(&mut self, body: &[u8]) -> Option<u16> {
        match Command::parse(body) {
            Ok(Command::Ping { ttl, context }) => {
                let context = &context[..context.len().min(command::MAX_PING_CONTEXT)];
                self.put_command(&Command::Pong { context });
                return Some(ttl);
            }
            Ok(Command::Subscribe { topic }) => {
                self.events.push_back(Event::Message(Msg::subscribe(topic)));
            }
            Ok(Command::Cancel { topic }) => {
                self.events.push_back(Event::Message(Msg::cancel(topic)));
            }
            // libzmq's session drops every other command once the handshake is done, malformed
            // ones included (a PING without TTL is malformed).
            Ok(_) | Err(_) => {}
        }
        None
    }

    fn check_size(&self, size: u64) -> Result<(), ProtocolError> {
        if size > self.max_msg_size {
            return Err(ProtocolError::FrameTooLarge {
                size,
                max: self.max_msg_size,
            });
        }
        Ok(())
    }

    fn put_header(&mut self, header: &FrameHeader) {
        let mut hdr = [0u8; frame::MAX_HEADER_SIZE];
        let n = frame::encode_header(header, &mut hdr);
        self.out.put_slice(&hdr[..n]);
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("socket_type", &self.config.socket_type)
            .field("state", &self.state)
            .field("peer", &self.peer)
            .field("pending_events", &self.events.len())
            .field("pending_out", &self.out.len())
            .field("error", &self.error)
            .finish()
    }
}

/// Deadlines, each `None` when its timer is not running (libzmq's `_has_*_timer` flags).
#[derive(Clone, Copy, Debug, Default)]
struct Timers {
    /// `ZMQ_HANDSHAKE_IVL`, until the handshake completes.
    handshake: Option<Instant>,
    /// When to send the next PING.
    ping: Option<Instant>,
    /// `ZMQ_HEARTBEAT_TIMEOUT` after a PING, until anything arrives.
    pong: Option<Instant>,
    /// The TTL of the peer's last PING, until anything else arrives.
    peer_ttl: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Exchanging greetings.
    Greeting,
    /// Greetings done, our READY sent, waiting for the peer's READY (or ERROR).
    Handshake,
    /// ZMTP 2.0 greetings done, our routing id sent, waiting for the peer's.
    V2Identity {
        /// The socket type the peer announced in its greeting.
        peer: SocketType,
    },
    /// Traffic.
    Ready,
    /// A fatal error happened.
    Failed,
}

/// How much of our greeting has been queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GreetingSent {
    Signature,
    Major,
    All,
}

/// The size of the frame header that starts `buf`, as far as its first byte tells.
fn header_needed(buf: &[u8]) -> usize {
    if buf.first().is_some_and(|f| f & frame::LONG != 0) {
        frame::MAX_HEADER_SIZE
    } else {
        2
    }
}

fn command_name_lossy(body: &[u8]) -> String {
    let name = match body.split_first() {
        Some((&len, rest)) => &rest[..rest.len().min(usize::from(len))],
        None => &[],
    };
    String::from_utf8_lossy(name).into_owned()
}

/// The largest command frame accepted before the handshake completes, checked before the body
/// is buffered. libzmq applies only `ZMQ_MAXMSGSIZE` here; READY metadata is a few hundred bytes
/// in practice (a routing id is at most 255), so this bounds what an unauthenticated peer can
/// make us hold without getting in the way of any real peer.
pub const MAX_HANDSHAKE_COMMAND_SIZE: usize = 64 * 1024;

const READY_PREFIX: &[u8] = b"\x05READY";
const ERROR_PREFIX: &[u8] = b"\x05ERROR";
/// Size of a ZMTP 2.0 greeting: signature, revision, socket type.
const V2_GREETING_SIZE: usize = 12;
// `send` writes inline bodies behind a short (one-byte size) header.
const _: () = assert!(Msg::INLINE_CAPACITY <= frame::MAX_SHORT_SIZE as usize);

/// Bodies up to this long are copied out of the input buffer (inline, or into a recycled block
/// of the decoding thread's pool); longer ones are split off it. So are bodies that fit a block
/// while the pool gets none back ([`pool::recycles`]: the application has a backlog): a copy
/// would then cost an allocation here and a free on the application's thread per message,
/// where a split costs one allocation per read buffer.
///
/// Shorter than 1 KiB, as on the sending side ([`WriteBuf::COPY_THRESHOLD`]). It was 8 KiB
/// until 2026-12-07, when sharing 1 KiB bodies instead of copying them measured better on the
/// Intel machine (medians of two alternations, --runs 3): fanout tcp 1 KiB x10 1.52M, 1.40M ->
/// 1.85M, 1.72M deliveries/s; x100 1.35M, 1.31M -> 1.52M, 1.50M; thr ipc 1 KiB 2.71M, 2.74M ->
/// 2.84M, 2.89M msg/s; thr tcp 1 KiB 3.26M, 3.25M -> 3.37M, 3.55M; fanout tcp 1 KiB x1 1.72M,
/// 1.60M -> 1.63M, 1.56M; 8 KiB within the noise.
pub(crate) const COPIED_BODY_MAX: usize = WriteBuf::COPY_THRESHOLD - 1;

/// Where [`Session::handle_input_with`] puts the data frames it decodes, in order.
pub trait FrameSink {
    /// A frame.
    fn frame(&mut self, msg: Msg);

    /// A frame whose body is a copy of `body` (a short one), with the MORE flag `more`. A sink
    /// that keeps frames in memory of its own can build it there with [`Msg::write_copy`],
    /// rather than take a frame built elsewhere and move it.
    fn copy(&mut self, body: &[u8], more: bool) {
        self.frame(Msg::copy_from_slice(body).with_more(more));
    }
}

impl<F: FnMut(Msg)> FrameSink for F {
    fn frame(&mut self, msg: Msg) {
        self(msg);
    }
}

/// libzmq's default `ZMQ_HANDSHAKE_IVL`.
const DEFAULT_HANDSHAKE_IVL: Duration = Duration::from_secs(30);
/// ERROR reasons we send when the peer's READY is unacceptable (libzmq sends none and just
/// closes; the peer sees the same outcome).
const ERROR_REASON_MISSING: &str = "Missing Socket-Type";
const ERROR_REASON_INVALID: &str = "Invalid Socket-Type";
const ERROR_REASON_INCOMPATIBLE: &str = "Incompatible Socket-Type";
/// Initial event queue capacity; it grows to the largest batch of one input buffer and stays
/// there, so steady-state decoding never allocates.
const EVENT_QUEUE_CAPACITY: usize = 64;

mod handshake;
mod sealed;
#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod tests;

use handshake::Handshake;
