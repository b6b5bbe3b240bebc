//! Socket monitoring: the events of `zmq_socket_monitor`, in libzmq's wire format and typed.
//!
//! [`Socket::monitor`] makes the socket publish its connection events on a PAIR socket bound
//! to an inproc endpoint; any PAIR connected there receives each event as two frames, exactly
//! as libzmq sends them (so code written for libzmq's monitor, pyzmq's
//! `zmq.utils.monitor.recv_monitor_message` included, reads them unchanged):
//!
//! 1. six bytes: the event number (`u16`) and a value (`u32`), native-endian: a file
//!    descriptor, an errno, a reconnect interval or a protocol error code, per event;
//! 2. the endpoint the event concerns.
//!
//! oxmq adds one event of its own, [`events::COUNTERS`], sent only when the application asks
//! for it ([`Socket::monitor_counters`]); it has a third frame with the counters.
//!
//! [`Monitor`] connects such a PAIR and returns [`MonitorEvent`]s, blocking or async.
//! Events are sent without blocking: a monitor that is not read loses events once its queue
//! is full, as in libzmq.

use std::sync::Mutex;

use oxmq_proto::{Msg, SocketType};

use crate::context::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::socket::Socket;

/// Event numbers, as in libzmq's `zmq.h`.
pub mod events {
    /// A connection to a remote peer was made (value: the file descriptor).
    pub const CONNECTED: u32 = 0x0001;
    /// A connect is in progress (value: errno, EINPROGRESS).
    pub const CONNECT_DELAYED: u32 = 0x0002;
    /// A reconnect was scheduled (value: the interval in ms).
    pub const CONNECT_RETRIED: u32 = 0x0004;
    /// The socket listens on the endpoint (value: the file descriptor).
    pub const LISTENING: u32 = 0x0008;
    /// Binding failed (value: errno).
    pub const BIND_FAILED: u32 = 0x0010;
    /// A connection was accepted (value: the file descriptor).
    pub const ACCEPTED: u32 = 0x0020;
    /// Accepting a connection failed (value: errno).
    pub const ACCEPT_FAILED: u32 = 0x0040;
    /// A listener or a failed connection's descriptor was closed (value: the descriptor).
    pub const CLOSED: u32 = 0x0080;
    /// Closing failed (value: errno).
    pub const CLOSE_FAILED: u32 = 0x0100;
    /// A session ended (value: the file descriptor).
    pub const DISCONNECTED: u32 = 0x0200;
    /// Monitoring stopped (value: 0).
    pub const MONITOR_STOPPED: u32 = 0x0400;
    /// The handshake failed without a protocol or authentication reason (value: errno).
    pub const HANDSHAKE_FAILED_NO_DETAIL: u32 = 0x0800;
    /// The handshake completed (value: 0).
    pub const HANDSHAKE_SUCCEEDED: u32 = 0x1000;
    /// The peer broke the protocol (value: a `ZMQ_PROTOCOL_ERROR_*` code).
    pub const HANDSHAKE_FAILED_PROTOCOL: u32 = 0x2000;
    /// Authentication failed (value: the ZAP status code).
    pub const HANDSHAKE_FAILED_AUTH: u32 = 0x4000;
    /// oxmq's own, on request ([`crate::Socket::monitor_counters`]): the socket's counters
    /// (value 0, empty endpoint) or one connection's (value 1, its endpoint), in a third frame
    /// of native-endian `u64`s (see [`super::MonitorEvent::values`]). libzmq 4.3 leaves this
    /// bit unused.
    pub const COUNTERS: u32 = 0x8000;
    /// Every event.
    pub const ALL: u32 = 0xFFFF;
}

/// One monitor event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorEvent {
    /// The event number (see [`events`]).
    pub event: u32,
    /// Its value (descriptor, errno, interval or protocol error code).
    pub value: u32,
    /// The endpoint it concerns.
    pub endpoint: String,
    /// [`events::COUNTERS`] only: messages in, bytes in, messages out, bytes out; for the
    /// socket's totals (value 0) then dropped at HWM, dropped unroutable, dropped without
    /// subscribers, reconnects, and failed handshakes (protocol, auth, no detail). Empty for
    /// every other event.
    pub values: Vec<u64>,
}

impl MonitorEvent {
    /// Encodes the event in libzmq's two-frame format (three frames for
    /// [`events::COUNTERS`]).
    pub fn to_frames(&self) -> Vec<Msg> {
        let mut head = [0u8; 6];
        head[..2].copy_from_slice(&(self.event as u16).to_ne_bytes());
        head[2..].copy_from_slice(&self.value.to_ne_bytes());
        let counters = self.event == events::COUNTERS;
        let mut frames = vec![
            Msg::copy_from_slice(&head).with_more(true),
            Msg::from(self.endpoint.as_str()).with_more(counters),
        ];
        if counters {
            let body: Vec<u8> = self.values.iter().flat_map(|v| v.to_ne_bytes()).collect();
            frames.push(Msg::from(body));
        }
        frames
    }

    /// Decodes libzmq's two-frame format (three frames for [`events::COUNTERS`]);
    /// `InvalidInput` for anything else.
    pub fn from_frames(frames: &[Msg]) -> Result<MonitorEvent> {
        let (head, endpoint, values) = match frames {
            [head, endpoint] => (head, endpoint, Vec::new()),
            [head, endpoint, values] if values.len() % 8 == 0 => (
                head,
                endpoint,
                values
                    .data()
                    .chunks_exact(8)
                    .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or_default()))
                    .collect(),
            ),
            _ => return Err(bad("a monitor event has two frames")),
        };
        let head: &[u8; 6] = head
            .data()
            .try_into()
            .map_err(|_| bad("a monitor event starts with six bytes"))?;
        let event = u16::from_ne_bytes([head[0], head[1]]);
        let value = u32::from_ne_bytes([head[2], head[3], head[4], head[5]]);
        if values.is_empty() != (u32::from(event) != events::COUNTERS) {
            return Err(bad("only a COUNTERS event has a third frame"));
        }
        Ok(MonitorEvent {
            event: u32::from(event),
            value,
            endpoint: String::from_utf8_lossy(endpoint.data()).into_owned(),
            values,
        })
    }
}

/// Sends an event's frames without blocking: a full monitor queue drops the event (never an
/// I/O thread waits for a monitor), and a frame refused mid-event cannot happen, as the HWM
/// counts whole messages.
fn send_event(pair: &mut Socket, ev: &MonitorEvent) {
    for f in ev.to_frames() {
        if pair.try_send(f).is_err() {
            return;
        }
    }
}

/// A receiver of a socket's monitor events: a PAIR connected to the monitor endpoint.
#[derive(Debug)]
pub struct Monitor {
    pair: Socket,
}

impl Monitor {
    /// Connects to the monitor endpoint given to [`Socket::monitor`].
    pub fn connect(ctx: &Context, endpoint: &str) -> Result<Monitor> {
        let mut pair = ctx.socket(SocketType::Pair)?;
        pair.set_linger(0)?;
        pair.connect(endpoint)?;
        Ok(Monitor { pair })
    }

    /// The PAIR socket, to set RCVTIMEO or poll it.
    pub fn socket(&mut self) -> &mut Socket {
        &mut self.pair
    }

    /// The next event, blocking (up to the PAIR's RCVTIMEO).
    pub fn recv(&mut self) -> Result<MonitorEvent> {
        MonitorEvent::from_frames(&self.pair.recv_multipart()?)
    }

    /// The next event, waiting asynchronously.
    pub async fn recv_async(&mut self) -> Result<MonitorEvent> {
        MonitorEvent::from_frames(&self.pair.recv_multipart_async().await?)
    }
}

/// The monitoring state of one socket, shared with its engines.
#[derive(Default)]
pub(crate) struct MonitorSlot {
    /// Boxed: a `Socket` is some 1.3 KB, which every socket would carry for a monitor that
    /// few have (it was 40 % of the memory per socket).
    inner: Mutex<Option<Box<Active>>>,
}

struct Active {
    pair: Socket,
    mask: u32,
}

impl MonitorSlot {
    /// Whether `event` is being monitored (cheap enough for every event site).
    pub(crate) fn emit(&self, event: u32, value: u32, endpoint: &str) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(active) = guard.as_mut() {
            if active.mask & event != 0 {
                let ev = MonitorEvent {
                    event,
                    value,
                    endpoint: endpoint.to_owned(),
                    values: Vec::new(),
                };
                send_event(&mut active.pair, &ev);
            }
        }
    }

    /// Sends `ev` if its event is monitored (for events built by the caller).
    pub(crate) fn emit_event(&self, ev: &MonitorEvent) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(active) = guard.as_mut() {
            if active.mask & ev.event != 0 {
                send_event(&mut active.pair, ev);
            }
        }
    }

    /// Starts monitoring into `pair` (replacing any earlier monitor, which gets
    /// MONITOR_STOPPED). Returns the previous PAIR, which the caller drops on its own thread.
    pub(crate) fn start(&self, pair: Socket, mask: u32) -> Option<Socket> {
        let previous = self.stop();
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Box::new(Active { pair, mask }));
        previous
    }

    /// Stops monitoring after a MONITOR_STOPPED event; returns the PAIR for the caller to
    /// drop (on the application's thread: a socket must never be dropped on an I/O thread).
    pub(crate) fn stop(&self) -> Option<Socket> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut active = guard.take()?;
        if active.mask & events::MONITOR_STOPPED != 0 {
            let ev = MonitorEvent {
                event: events::MONITOR_STOPPED,
                value: 0,
                endpoint: String::new(),
                values: Vec::new(),
            };
            send_event(&mut active.pair, &ev);
        }
        Some(active.pair)
    }
}

fn bad(msg: &'static str) -> Error {
    Error::with_source(ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use super::events::*;
    use super::*;

    fn monitor(ctx: &Context, s: &mut Socket, name: &str) -> Monitor {
        let endpoint = format!("inproc://{name}");
        s.monitor(Some(&endpoint), ALL).expect("monitor");
        let mut m = Monitor::connect(ctx, &endpoint).expect("connect monitor");
        m.socket().set_rcvtimeo(5000).expect("rcvtimeo");
        m
    }

    fn next(m: &mut Monitor) -> MonitorEvent {
        m.recv().expect("an event within 5 s")
    }

    #[test]
    fn connection_events_arrive_in_libzmq_order() {
        let ctx = Context::new();
        let mut rep = ctx.socket(SocketType::Rep).expect("socket");
        rep.set_linger(0).expect("linger");
        let mut server = monitor(&ctx, &mut rep, "mon-server");
        rep.bind("tcp://127.0.0.1:*").expect("bind");
        let endpoint = rep.last_endpoint();
        let listening = next(&mut server);
        assert_eq!(
            (listening.event, listening.endpoint.as_str()),
            (LISTENING, &*endpoint)
        );

        let mut req = ctx.socket(SocketType::Req).expect("socket");
        req.set_linger(0).expect("linger");
        req.set_reconnect_ivl(50).expect("ivl");
        let mut client = monitor(&ctx, &mut req, "mon-client");
        req.connect(&endpoint).expect("connect");
        let seq: Vec<u32> = (0..3).map(|_| next(&mut client).event).collect();
        assert_eq!(seq, [CONNECT_DELAYED, CONNECTED, HANDSHAKE_SUCCEEDED]);
        let seq: Vec<u32> = (0..2).map(|_| next(&mut server).event).collect();
        assert_eq!(seq, [ACCEPTED, HANDSHAKE_SUCCEEDED]);

        drop(rep);
        let seq: Vec<u32> = (0..2).map(|_| next(&mut server).event).collect();
        assert_eq!(seq, [CLOSED, MONITOR_STOPPED]);
        let e = next(&mut client);
        assert_eq!((e.event, e.endpoint.as_str()), (DISCONNECTED, &*endpoint));
        assert_eq!(next(&mut client).event, CONNECT_RETRIED);
        req.monitor(None, 0).expect("stop");
        // Reconnect attempts may come first; the stop notice ends the stream.
        while next(&mut client).event != MONITOR_STOPPED {}
    }

    #[test]
    fn a_bad_handshake_is_reported_with_libzmqs_protocol_code() {
        use std::io::Write;
        let ctx = Context::new();
        let mut pull = ctx.socket(SocketType::Pull).expect("socket");
        pull.set_linger(0).expect("linger");
        let mut mon = monitor(&ctx, &mut pull, "mon-proto");
        pull.bind("tcp://127.0.0.1:*").expect("bind");
        assert_eq!(next(&mut mon).event, LISTENING);
        let addr = pull.last_endpoint().trim_start_matches("tcp://").to_owned();
        let mut raw = std::net::TcpStream::connect(addr).expect("connect");
        // A ZMTP 3.0 greeting asking for the PLAIN mechanism: a mechanism mismatch.
        let mut greeting = [0u8; 64];
        greeting[0] = 0xff;
        greeting[9] = 0x7f;
        greeting[10] = 3;
        greeting[12..17].copy_from_slice(b"PLAIN");
        raw.write_all(&greeting).expect("write");
        assert_eq!(next(&mut mon).event, ACCEPTED);
        let failed = next(&mut mon);
        assert_eq!(failed.event, HANDSHAKE_FAILED_PROTOCOL);
        // ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
        assert_eq!(failed.value, 0x1100_0002);
        assert_eq!(next(&mut mon).event, DISCONNECTED);
    }

    #[test]
    fn frames_round_trip_in_libzmq_layout() {
        let e = MonitorEvent {
            event: CONNECTED,
            value: 42,
            endpoint: "tcp://127.0.0.1:5555".into(),
            values: Vec::new(),
        };
        let frames = e.to_frames();
        assert_eq!(frames.len(), 2);
        assert!(!frames[1].more());
        assert_eq!(frames[0].len(), 6);
        assert!(frames[0].more());
        assert_eq!(MonitorEvent::from_frames(&frames).expect("decode"), e);
        assert!(MonitorEvent::from_frames(&frames[..1]).is_err());
        let mut three = frames.clone();
        three.push(Msg::from(vec![0u8; 8]));
        assert!(
            MonitorEvent::from_frames(&three).is_err(),
            "only COUNTERS has a third frame"
        );
    }
}
