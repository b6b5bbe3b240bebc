//! The engine: one future per connection, moving bytes between a stream and the socket's pipes.
//!
//! Per wake-up the engine reads as much as the kernel has (into a buffer of at least
//! [`READ_CHUNK`] bytes), lets the sans-IO [`Session`] decode every complete frame, writes the
//! frames into the in-pipe and flushes it once; then it drains the out-pipe up to
//! [`WRITE_BATCH`] bytes, lets the session encode them (small bodies copied, large bodies
//! chained) and writes everything with one vectored write. It never reads from the network while
//! the in-pipe is at its high-water mark, so TCP back-pressure reaches the sender, and it never
//! drains the out-pipe while earlier output is still unwritten. After [`ROUNDS`] rounds of work
//! it yields to the other connections of its I/O thread.
//!
//! A STREAM socket's engine is raw, as libzmq's `raw_engine_t`: no greeting, no handshake and
//! no session timers; each read becomes one message and each outbound frame is written as it
//! is. With ZMQ_STREAM_NOTIFY it queues an empty message when the connection starts and another
//! when the peer ends it (not when the application closed it).

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use oxmq_pattern::ReplyCheck;
use oxmq_proto::zap::{ZapOutcome, ZapReply};
use oxmq_proto::{Event, FrameSink, Msg, Session, SocketType, WriteBuf};
use tokio::time::Sleep;
use tracing::debug;

use crate::admission::Ticket;
use crate::monitor::events;
use crate::pipe::PipeWriter;
use crate::signal::{Attachment, Command};
use crate::socket::{new_pipe_pair, EngineConfig, EngineEnds};
use crate::transport::Stream;
use crate::zap::ZapClient;

/// Why an engine stopped.
#[derive(Debug)]
pub(crate) enum Exit {
    /// The peer closed the connection or it failed; a connecter reconnects.
    Disconnected,
    /// The socket is closed and everything that LINGER allowed was delivered.
    SocketClosed,
}

/// How a connection ended.
pub(crate) struct Ended {
    pub(crate) exit: Exit,
    /// Whether the handshake had completed (ZMQ_RECONNECT_STOP tells the cases apart).
    pub(crate) handshaken: bool,
    /// A connecter's persistent pipes, handed back for the next connection.
    pub(crate) ends: Option<EngineEnds>,
}

/// Runs one connection until it ends. `ends` are the pipes of a connecter that queues before
/// connecting (kept across reconnects and handed back); without them the engine creates the
/// pipes when the handshake completes and tears them down when it ends.
pub(crate) async fn run<S: Stream>(
    stream: S,
    cfg: Arc<EngineConfig>,
    ends: Option<EngineEnds>,
    routing_id: Option<bytes::Bytes>,
    endpoint: String,
    ticket: Option<Ticket>,
) -> Ended {
    let fd = stream.raw_fd() as u32;
    let peer_address = stream.peer_address();
    let meter = cfg.socket.stats.peer(&endpoint, &peer_address);
    cfg.socket.register_engine(&cfg.waker);
    let persistent = ends.is_some();
    let cfg_type = cfg.socket.socket_type;
    let raw = cfg.options.raw;
    let read_chunk = usize::try_from(cfg.options.in_batch_size)
        .unwrap_or(READ_CHUNK)
        .max(64);
    let write_batch = usize::try_from(cfg.options.out_batch_size)
        .unwrap_or(WRITE_BATCH)
        .max(1);
    let session_cfg = cfg.options.session_config(cfg.socket.socket_type);
    let mut engine = Engine {
        io: stream,
        session: Session::new(session_cfg, Instant::now()),
        rbuf: BytesMut::with_capacity(FIRST_READ.min(read_chunk)),
        retired: VecDeque::new(),
        read_chunk,
        write_batch,
        wbuf: WriteBuf::new(),
        ends,
        persistent,
        cfg,
        routing_id,
        ready: false,
        linger: None,
        timer: None,
        timer_at: None,
        peer_addr: endpoint,
        peer_address,
        meter,
        out_more: false,
        failure: None,
        reply_check: (cfg_type == SocketType::Req).then(ReplyCheck::new),
        raw,
        zap: None,
        ticket,
        fans_out: matches!(cfg_type, SocketType::Pub | SocketType::XPub),
        cap_peers: 0,
    };
    if raw {
        engine.start_raw();
    }
    let exit = poll_fn(|cx| engine.poll_run(cx)).await;
    if matches!(exit, Exit::Disconnected) {
        engine.report_failure(fd);
        if raw {
            engine.notify_raw();
        } else if engine.ready {
            engine.peer_gone_message();
        }
    }
    let handshaken = engine.ready;
    let ends = engine.finish();
    Ended {
        exit,
        handshaken,
        ends,
    }
}

struct Engine<S> {
    io: S,
    session: Session,
    rbuf: BytesMut,
    /// Read buffers still referred to by received large bodies (see `make_room`).
    retired: VecDeque<BytesMut>,
    /// ZMQ_IN_BATCH_SIZE: the read buffer grows by this much.
    read_chunk: usize,
    /// ZMQ_OUT_BATCH_SIZE: bytes encoded before a write.
    write_batch: usize,
    wbuf: WriteBuf,
    ends: Option<EngineEnds>,
    persistent: bool,
    cfg: Arc<EngineConfig>,
    routing_id: Option<bytes::Bytes>,
    ready: bool,
    /// Armed when the socket closed with a positive LINGER.
    linger: Option<Pin<Box<Sleep>>>,
    /// The session's next timer (handshake limit, heartbeats), and when it is set for.
    timer: Option<Pin<Box<Sleep>>>,
    timer_at: Option<Instant>,
    peer_addr: String,
    /// The Peer-Address message property: the remote IP address (tcp) or `localhost:uid:gid:pid` (ipc).
    peer_address: String,
    /// This connection's traffic counters.
    meter: crate::counters::PeerMeter,
    /// The last frame taken from the out-pipe had MORE set.
    out_more: bool,
    /// REQ only: libzmq's per-connection check that the peer sends well-formed replies.
    reply_check: Option<ReplyCheck>,
    /// The protocol error that ended the connection, for the monitor.
    failure: Option<oxmq_proto::ProtocolError>,
    /// STREAM: bytes in and out as they are; the session is never used.
    raw: bool,
    /// The ZAP request the handshake waits for.
    zap: Option<ZapClient>,
    /// An accepted connection's place among the socket's handshakes in progress.
    ticket: Option<Ticket>,
    /// PUB and XPUB: every message goes to every peer (see `review_unsent_cap`).
    fans_out: bool,
    /// The peer count the kernel's unsent cap was last set for (0: not set yet).
    cap_peers: usize,
}

impl<S: Stream> Engine<S> {
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Exit> {
        crate::keepawake::note_activity();
        let r = self.run_rounds(cx);
        self.meter.publish();
        r
    }

    fn run_rounds(&mut self, cx: &mut Context<'_>) -> Poll<Exit> {
        self.cfg.waker.register(cx.waker());
        // Bytes read in this turn: past ZMQ_IN_BATCH_SIZE the engine stops reading and lets
        // the I/O thread's other connections have their turn (as libzmq reads one batch per
        // event), so that one busy connection cannot read megabytes ahead of the others (its
        // socket then holds them all while the application waits on another peer).
        let mut read = 0;
        for _ in 0..ROUNDS {
            let mut progress = false;
            if let Some(exit) = self.check_closed(cx) {
                return Poll::Ready(exit);
            }
            if self.ticket.as_ref().is_some_and(Ticket::is_evicted) {
                debug!(peer = %self.peer_addr, "dropping connection: evicted by newer handshakes");
                return Poll::Ready(Exit::Disconnected);
            }
            if read < self.read_chunk {
                match self.poll_input(cx) {
                    Ok(n) => {
                        progress |= n.is_some();
                        read += n.unwrap_or(0);
                    }
                    Err(exit) => return Poll::Ready(exit),
                }
            }
            match self.poll_timer(cx) {
                Ok(p) => progress |= p,
                Err(exit) => return Poll::Ready(exit),
            }
            match self.poll_zap() {
                Ok(p) => progress |= p,
                Err(exit) => return Poll::Ready(exit),
            }
            match self.poll_output(cx) {
                Ok(p) => progress |= p,
                Err(exit) => return Poll::Ready(exit),
            }
            if !progress {
                if read >= self.read_chunk {
                    // Input was cut short: the kernel may hold more, and no new readiness
                    // event will say so.
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Serves the session's timers: the handshake limit and heartbeats.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Result<bool, Exit> {
        if self.raw {
            return Ok(false);
        }
        let Some(at) = self.session.poll_timeout() else {
            self.timer_at = None;
            return Ok(false);
        };
        if self.timer_at != Some(at) {
            self.timer_at = Some(at);
            match &mut self.timer {
                Some(t) => t.as_mut().reset(at.into()),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(at.into()))),
            }
        }
        let Some(timer) = &mut self.timer else {
            return Ok(false);
        };
        if timer.as_mut().poll(cx).is_pending() {
            return Ok(false);
        }
        self.timer_at = None;
        if let Err(e) = self.session.handle_timeout(Instant::now()) {
            debug!(peer = %self.peer_addr, error = %e, "dropping connection");
            self.failure = Some(e);
            return Err(Exit::Disconnected);
        }
        Ok(true)
    }

    /// Reads and decodes what the network has, unless the in-pipe is full: `Some(bytes read)`
    /// when it did something (0 for a stale readiness), `None` when it could not read.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Result<Option<usize>, Exit> {
        if let Some(ends) = &mut self.ends {
            if self.ready && !ends.writer.check_write() {
                // At RCVHWM: stop reading; the socket's credit wakes us.
                return Ok(None);
            }
        }
        match self.io.poll_read_ready(cx) {
            Poll::Pending => return Ok(None),
            Poll::Ready(Err(e)) => {
                debug!(peer = %self.peer_addr, error = %e, "read failed");
                return Err(Exit::Disconnected);
            }
            Poll::Ready(Ok(())) => {}
        }
        if let Some(chunk) = read_room(
            self.rbuf.capacity(),
            self.rbuf.len(),
            self.read_chunk,
            self.session.input_needed(),
        ) {
            self.make_room(chunk);
        }
        match self.io.try_read_buf(&mut self.rbuf) {
            Ok(0) => {
                debug!(peer = %self.peer_addr, "peer closed the connection");
                Err(Exit::Disconnected)
            }
            Ok(n) => {
                self.decode()?;
                Ok(Some(n))
            }
            // Readiness was stale; the next poll_read_ready registers for the next one.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Some(0)),
            Err(e) => {
                debug!(peer = %self.peer_addr, error = %e, "read failed");
                Err(Exit::Disconnected)
            }
        }
    }

    /// Gives the read buffer room for `chunk` more bytes. Large bodies are slices of the
    /// buffer they were read into, so a buffer stays referred to until the application drops
    /// its messages: rather than allocate a fresh buffer each time (from glibc, which gives
    /// freed large buffers back to the kernel, so that every new one is page faults again), a
    /// buffer given up is kept in `retired` and taken back once its messages are gone.
    fn make_room(&mut self, chunk: usize) {
        if self.rbuf.try_reclaim(chunk) {
            return;
        }
        if chunk <= self.read_chunk {
            // Small frames again: the buffers kept for large ones go once their bodies do.
            self.retired.clear();
            self.rbuf.reserve(chunk);
            return;
        }
        let reclaimed = self
            .retired
            .iter_mut()
            .position(|b| b.try_reclaim(chunk))
            .and_then(|i| self.retired.remove(i));
        let fresh = reclaimed.unwrap_or_else(|| BytesMut::with_capacity(chunk));
        let mut old = std::mem::replace(&mut self.rbuf, fresh);
        self.rbuf.extend_from_slice(&old);
        old.clear();
        if self.retired.len() == RETIRED_BUFFERS {
            self.retired.pop_front();
        }
        self.retired.push_back(old);
    }

    fn decode(&mut self) -> Result<(), Exit> {
        if self.raw {
            // One message per read, of whatever size the read returned, as libzmq's raw
            // decoder delivers it.
            if let Some(ends) = &mut self.ends {
                if !self.rbuf.is_empty() {
                    self.meter.frame_in(self.rbuf.len(), true);
                    ends.writer
                        .write_unchecked(Msg::from_bytes(self.rbuf.split().freeze()));
                    ends.writer.flush();
                }
            }
            self.rbuf.clear();
            return Ok(());
        }
        let now = Instant::now();
        let result = match &mut self.ends {
            // Data frames go straight into the in-pipe as they are decoded; REQ's reply check
            // and everything else take the session's queue (drain_events).
            Some(ends) if self.reply_check.is_none() => {
                let mut sink = InPipe {
                    meter: &mut self.meter,
                    writer: &mut ends.writer,
                };
                self.session
                    .handle_input_with(&mut self.rbuf, now, &mut sink)
            }
            _ => self.session.handle_input(&mut self.rbuf, now),
        };
        self.drain_events()?;
        if let Err(e) = result {
            return Err(self.fail(e));
        }
        Ok(())
    }

    /// Serves the session's events: the handshake's completion, messages for the socket, and
    /// ZAP requests.
    fn drain_events(&mut self) -> Result<(), Exit> {
        while let Some(ev) = self.session.poll_event() {
            match ev {
                Event::HandshakeDone(peer) => {
                    self.ready = true;
                    self.ticket = None;
                    self.cfg
                        .socket
                        .monitor
                        .emit(events::HANDSHAKE_SUCCEEDED, 0, &self.peer_addr);
                    let rid = self.routing_id.clone().or(peer.routing_id.clone());
                    let mut props = oxmq_proto::Properties::new();
                    for (name, value) in &peer.properties {
                        props.insert(name.clone(), value.clone());
                    }
                    props.insert(oxmq_proto::PROPERTY_PEER_ADDRESS, self.peer_address.clone());
                    self.on_ready(rid, Some(Arc::new(props)));
                }
                Event::Message(msg) => {
                    if let Some(check) = &mut self.reply_check {
                        if !check.check(&msg) {
                            debug!(peer = %self.peer_addr, "dropping connection: malformed reply to REQ");
                            if let Some(ends) = &mut self.ends {
                                ends.writer.rollback();
                                ends.writer.flush();
                            }
                            return Err(Exit::Disconnected);
                        }
                    }
                    take_in(
                        &mut self.meter,
                        self.ends.as_mut().map(|e| &mut e.writer),
                        msg,
                    );
                }
                Event::ZapRequest(request) => {
                    let frames = request.frames(&self.peer_address);
                    match ZapClient::send(&self.cfg.socket, &self.cfg.waker, frames) {
                        Some(client) => self.zap = Some(client),
                        None => {
                            let r = self
                                .session
                                .handle_zap(ZapOutcome::NoHandler, Instant::now());
                            if let Err(e) = r {
                                return Err(self.fail(e));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(ends) = &mut self.ends {
            ends.writer.flush();
        }
        Ok(())
    }

    /// Hands the ZAP handler's reply, once in, to the session.
    fn poll_zap(&mut self) -> Result<bool, Exit> {
        let Some(frames) = self.zap.as_mut().and_then(ZapClient::poll_reply) else {
            return Ok(false);
        };
        self.zap = None;
        let outcome = match ZapReply::parse(&frames) {
            Ok(reply) => ZapOutcome::Reply(reply),
            Err(e) => return Err(self.fail(e)),
        };
        if let Err(e) = self.session.handle_zap(outcome, Instant::now()) {
            return Err(self.fail(e));
        }
        self.drain_events()?;
        Ok(true)
    }

    /// The session failed: note why for the monitor, give an ERROR command it queued a chance
    /// to reach the peer, and end the connection.
    fn fail(&mut self, e: oxmq_proto::ProtocolError) -> Exit {
        debug!(peer = %self.peer_addr, error = %e, "dropping connection");
        if self.failure.is_none() {
            self.failure = Some(e);
        }
        self.session.poll_transmit(&mut self.wbuf);
        self.try_write_once();
        Exit::Disconnected
    }

    /// The handshake completed: hand the socket its ends of this peer's pipes.
    fn on_ready(
        &mut self,
        routing_id: Option<bytes::Bytes>,
        properties: Option<Arc<oxmq_proto::Properties>>,
    ) {
        if let Some(hello) = &self.cfg.options.hello_msg {
            // ZMQ_HELLO_MSG: the first message this peer gets on every new connection.
            if let Err(e) = self.session.send(Msg::from_bytes(hello.clone())) {
                debug!(peer = %self.peer_addr, error = %e, "cannot encode the hello message");
            }
        }
        if let Some(ends) = &mut self.ends {
            if let Some(p) = properties {
                self.cfg.socket.signal.push(Command::Properties(ends.id, p));
            }
            if ends.connected_before {
                self.cfg.socket.signal.push(Command::Hiccup(ends.id));
            }
            ends.connected_before = true;
            return;
        }
        if self.cfg.socket.is_closed() {
            return;
        }
        let (id, (reader, writer), ends) =
            new_pipe_pair(&self.cfg.socket, &self.cfg.options, &self.cfg.waker);
        self.ends = Some(ends);
        self.cfg
            .socket
            .signal
            .push(Command::Attach(Box::new(Attachment {
                id,
                reader,
                writer,
                routing_id,
                peer: None,
                properties,
            })));
    }

    /// A connection that had completed its handshake ended: queue ZMQ_DISCONNECT_MSG (ROUTER,
    /// received as if the peer had sent it) or ZMQ_HICCUP_MSG (DEALER, on a connection it
    /// made and will remake) for the application.
    fn peer_gone_message(&mut self) {
        let msg = if self.persistent {
            &self.cfg.options.hiccup_msg
        } else {
            &self.cfg.options.disconnect_msg
        };
        if let (Some(msg), Some(ends)) = (msg, &mut self.ends) {
            ends.writer.rollback();
            ends.writer.write_unchecked(Msg::from_bytes(msg.clone()));
            ends.writer.flush();
        }
    }

    /// STREAM: the connection is usable at once; announce it to the socket.
    fn start_raw(&mut self) {
        self.ready = true;
        self.on_ready(self.routing_id.clone(), None);
        self.notify_raw();
    }

    /// STREAM: queues the empty message that tells the application a peer connected or left.
    fn notify_raw(&mut self) {
        if !self.cfg.stream_notify {
            return;
        }
        if let Some(ends) = &mut self.ends {
            ends.writer.write_unchecked(Msg::default());
            ends.writer.flush();
        }
    }

    /// Encodes what the socket queued and writes it.
    fn poll_output(&mut self, cx: &mut Context<'_>) -> Result<bool, Exit> {
        let mut progress = false;
        if self.ready {
            if let Some(ends) = &mut self.ends {
                let mut looks = LOOKS_PER_WRITE;
                while self.wbuf.len() < self.write_batch {
                    let msg = match ends.reader.read_known() {
                        Some(msg) => msg,
                        // Enough for this write: the next round comes back for the rest (this
                        // one took frames, so it made progress), without a notification.
                        None if looks == 0 => break,
                        None => {
                            looks -= 1;
                            let Some(msg) = ends.reader.read() else { break };
                            msg
                        }
                    };
                    progress = true;
                    if ends.skip_partial {
                        ends.skip_partial = msg.more();
                        continue;
                    }
                    self.out_more = msg.more();
                    self.meter.frame_out(msg.len(), !msg.more());
                    if self.raw {
                        self.wbuf.put_body(msg);
                        continue;
                    }
                    if let Err(e) = self.session.send(msg) {
                        debug!(peer = %self.peer_addr, error = %e, "cannot encode message");
                        return Err(Exit::Disconnected);
                    }
                }
            }
        }
        if !self.raw {
            self.session.poll_transmit(&mut self.wbuf);
        }
        while !self.wbuf.is_empty() {
            match self.io.poll_write_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(e)) => {
                    debug!(peer = %self.peer_addr, error = %e, "write failed");
                    return Err(Exit::Disconnected);
                }
                Poll::Ready(Ok(())) => {}
            }
            if self.fans_out {
                self.review_unsent_cap();
            }
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let n = self.wbuf.io_slices(&mut slices);
            match self.io.try_write_vectored(&slices[..n]) {
                Ok(written) => {
                    self.wbuf.advance(written);
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    debug!(peer = %self.peer_addr, error = %e, "write failed");
                    return Err(Exit::Disconnected);
                }
            }
        }
        Ok(progress)
    }

    /// A PUB's or XPUB's connection: caps the bytes the kernel keeps unsent for it at
    /// [`FANOUT_UNSENT`] shared by the socket's live connections (at least
    /// [`MIN_UNSENT_CAP`]), set again whenever their number has changed.
    ///
    /// Why: every message of a PUB goes to every peer. Queued in the pipes, it is one body
    /// that all of them share; queued in the kernel, it is a copy per connection. Without a
    /// cap the kernel takes all it can (TCP grows a send buffer up to 4 MB), and with many
    /// subscribers a backlog there is many megabytes of copies that the cache has lost by the
    /// time they are sent, which slowed the kernel's copies about fourfold: fan-out tcp
    /// 1 KiB x100 had two modes, 1.1M-1.6M and 2.7M-2.9M deliveries/s. The cap moves that
    /// backlog into the pipes. A PUB then reaches its high-water mark (and drops) after up
    /// to this much less in the kernel's send buffer; libzmq's manual calls the mark
    /// approximate. A single subscriber gets the whole budget, which cost a 64 KiB stream
    /// nothing, where a 64 KiB cap cost it a fifth.
    fn review_unsent_cap(&mut self) {
        let peers = self.meter.live_peers().max(1);
        if peers == self.cap_peers {
            return;
        }
        self.cap_peers = peers;
        self.io
            .cap_unsent((FANOUT_UNSENT / peers).max(MIN_UNSENT_CAP));
    }

    /// When the socket is closed: deliver what is queued within LINGER, then stop.
    fn check_closed(&mut self, cx: &mut Context<'_>) -> Option<Exit> {
        // The closed flag covers ends the socket never saw (an Attach still queued when it
        // closed); the pipe's own flag covers everything else.
        let closed = self.cfg.socket.is_closed()
            || self
                .ends
                .as_ref()
                .is_some_and(|e| e.reader.is_writer_closed());
        if !closed {
            return None;
        }
        let deadline = self.cfg.socket.linger_deadline();
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Some(Exit::SocketClosed);
        }
        let drained = match &mut self.ends {
            Some(e) => !e.reader.has_data(),
            None => true,
        };
        if drained && self.wbuf.is_empty() {
            return Some(Exit::SocketClosed);
        }
        if let Some(d) = deadline {
            let timer = self
                .linger
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(d.into())));
            if timer.as_mut().poll(cx).is_ready() {
                return Some(Exit::SocketClosed);
            }
        }
        None
    }

    /// Tells the monitor why the connection ended, as libzmq's engine does: a handshake that
    /// failed on a protocol or authentication error says so, one cut short otherwise says
    /// "no detail", and every ended connection is DISCONNECTED.
    fn report_failure(&self, fd: u32) {
        use crate::counters::HandshakeFailure as Why;
        let monitor = &self.cfg.socket.monitor;
        let stats = &self.cfg.socket.stats;
        let endpoint = &self.peer_addr;
        match &self.failure {
            Some(e) if e.zap_status_code().is_some() => {
                let code = e.zap_status_code().map_or(0, u32::from);
                stats.handshake_failed(Why::Auth);
                monitor.emit(events::HANDSHAKE_FAILED_AUTH, code, endpoint);
            }
            Some(oxmq_proto::ProtocolError::NoZapHandler) => {
                // libzmq: "no detail", with EFAULT.
                stats.handshake_failed(Why::NoDetail);
                monitor.emit(events::HANDSHAKE_FAILED_NO_DETAIL, EFAULT, endpoint);
            }
            Some(e) if reports_protocol_failure(e) => {
                stats.handshake_failed(Why::Protocol);
                monitor.emit(
                    events::HANDSHAKE_FAILED_PROTOCOL,
                    e.zmq_protocol_error_code(),
                    endpoint,
                );
            }
            // libzmq's raw engine has no mechanism, which its error path takes for a
            // handshake still running: every STREAM disconnect reports this too.
            Some(oxmq_proto::ProtocolError::HandshakeTimeout) | None if !self.ready || self.raw => {
                if !self.raw {
                    stats.handshake_failed(Why::NoDetail);
                }
                monitor.emit(events::HANDSHAKE_FAILED_NO_DETAIL, 0, endpoint);
            }
            _ => {}
        }
        monitor.emit(events::DISCONNECTED, fd, endpoint);
    }

    fn try_write_once(&mut self) {
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let n = self.wbuf.io_slices(&mut slices);
        if n > 0 {
            let _ = self.io.try_write_vectored(&slices[..n]);
        }
    }

    /// Tears the connection down: hands persistent pipes back (without any half-transferred
    /// message), or tells the socket that this peer is gone.
    fn finish(mut self) -> Option<EngineEnds> {
        self.meter.finish();
        let mut ends = self.ends.take()?;
        if self.persistent {
            ends.writer.rollback();
            ends.writer.flush();
            ends.skip_partial |= self.out_more;
            Some(ends)
        } else {
            let id = ends.id;
            drop(ends);
            if !self.cfg.socket.is_closed() {
                self.cfg.socket.signal.push(Command::Terminated(id));
            }
            None
        }
    }
}

/// The in-pipe as the session's sink for decoded frames, counting them as they go in.
struct InPipe<'a> {
    meter: &'a mut crate::counters::PeerMeter,
    writer: &'a mut PipeWriter,
}

impl FrameSink for InPipe<'_> {
    #[inline]
    fn frame(&mut self, msg: Msg) {
        take_in(self.meter, Some(self.writer), msg);
    }

    #[inline]
    fn copy(&mut self, body: &[u8], more: bool) {
        self.meter.frame_in(body.len(), !more);
        self.writer.write_copy_unchecked(body, more);
    }
}

/// A received data frame, decoded through the session's sink or its event queue: counted, then
/// written into the in-pipe (when there is one).
fn take_in(meter: &mut crate::counters::PeerMeter, writer: Option<&mut PipeWriter>, msg: Msg) {
    meter.frame_in(msg.len(), !msg.more());
    if let Some(writer) = writer {
        writer.write_unchecked(msg);
    }
}

/// The protocol errors libzmq reports as HANDSHAKE_FAILED_PROTOCOL (others only disconnect).
fn reports_protocol_failure(e: &oxmq_proto::ProtocolError) -> bool {
    use oxmq_proto::ProtocolError as P;
    matches!(
        e,
        P::MechanismMismatch { .. }
            | P::CommandTooLarge { .. }
            | P::MalformedCommand { .. }
            | P::UnexpectedCommand { .. }
            | P::MalformedMetadata { .. }
            | P::MissingSocketType
            | P::InvalidSocketType { .. }
            | P::IncompatibleSocketType { .. }
            | P::ZapMalformedReply { .. }
            | P::Cryptographic { .. }
            | P::InvalidNonce { .. }
            | P::KeyExchange { .. }
    )
}

/// `EFAULT`, the value of libzmq's HANDSHAKE_FAILED_NO_DETAIL when ZAP is enforced and absent.
const EFAULT: u32 = libc::EFAULT as u32;

/// Read buffer growth step. 64 KiB lets one read pick up thousands of small messages.
const READ_CHUNK: usize = 64 * 1024;
/// Whether the read buffer (`capacity`, holding `len` bytes) must grow before the next read,
/// and by how much: `read_chunk` (ZMQ_IN_BATCH_SIZE), or four times that while a frame larger
/// than half of it is on its way (`input_needed`), so that a 64 KiB message stream takes one
/// system call per several messages instead of one or two per message. A new or quiet
/// connection reads into a small buffer ([`FIRST_READ`]) until a read fills it or a frame
/// needs more room: an idle connection then keeps a few hundred bytes, not the page it would
/// have touched of a full-size buffer.
fn read_room(capacity: usize, len: usize, read_chunk: usize, input_needed: usize) -> Option<usize> {
    let chunk = if input_needed > read_chunk / 2 {
        read_chunk * 4
    } else {
        read_chunk
    };
    let spare = capacity - len;
    let grow = if capacity < read_chunk {
        spare == 0 || input_needed > capacity
    } else {
        spare < chunk / 4
    };
    grow.then_some(chunk)
}

/// The size of a connection's first read buffer: a greeting, a handshake and a few small
/// messages fit; the buffer grows to ZMQ_IN_BATCH_SIZE once traffic needs it.
const FIRST_READ: usize = 512;
/// How many read buffers an engine keeps for taking back (`Engine::make_room`).
const RETIRED_BUFFERS: usize = 4;
/// Bytes encoded per write: enough to amortise the system call over ~16k small messages
/// while keeping latency for large ones bounded.
const WRITE_BATCH: usize = 256 * 1024;
/// How many times an engine looks for newly published frames in its out-pipe per write (each
/// look at a pipe whose writer runs on another core is a cache miss, and an engine that keeps
/// up with its writer found a frame or two per look: in the placement where both I/O threads
/// share a CPU, the I/O threads spent a tenth of it on those looks).
const LOOKS_PER_WRITE: usize = 2;
/// The bytes a PUB's or XPUB's connections together may leave unsent in the kernel (see
/// `Engine::review_unsent_cap`): 1 MiB, which a single stream of 64 KiB messages does not
/// notice (90k-94k msg/s against 85k-93k without a cap, thr tcp 64 KiB --pin).
const FANOUT_UNSENT: usize = 1 << 20;
/// The smallest such cap per connection: a hundred subscribers get 16 KiB each.
const MIN_UNSENT_CAP: usize = 16 << 10;
/// At most this many slices per vectored write (Linux allows 1024).
const MAX_IOV: usize = 64;
/// Rounds of read/write work before the engine yields to others on its thread.
const ROUNDS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_connection_reads_into_a_small_buffer_until_traffic_needs_more() {
        let chunk = READ_CHUNK;
        // The greeting, the handshake and small messages fit.
        assert_eq!(read_room(FIRST_READ, 0, chunk, 0), None);
        assert_eq!(read_room(FIRST_READ, 100, chunk, 64), None);
        // A read that filled it, or a frame that cannot fit: full size.
        assert_eq!(read_room(FIRST_READ, FIRST_READ, chunk, 0), Some(chunk));
        assert_eq!(read_room(FIRST_READ, 300, chunk, 2_000), Some(chunk));
        // A large frame on its way: four times that.
        assert_eq!(read_room(FIRST_READ, 300, chunk, 100_000), Some(4 * chunk));
    }

    #[test]
    fn a_full_size_buffer_grows_when_less_than_a_quarter_is_left() {
        let chunk = READ_CHUNK;
        assert_eq!(read_room(chunk, 0, chunk, 0), None);
        assert_eq!(read_room(chunk, chunk - chunk / 4, chunk, 0), None);
        assert_eq!(
            read_room(chunk, chunk - chunk / 4 + 1, chunk, 0),
            Some(chunk)
        );
        assert_eq!(read_room(4 * chunk, 0, chunk, 100_000), None);
        assert_eq!(
            read_room(4 * chunk, 4 * chunk - 10, chunk, 100_000),
            Some(4 * chunk)
        );
    }
}
