//! CURVE traffic (RFC 26 §MESSAGE, as libzmq 4.3 speaks it): once the handshake is done,
//! every frame in either direction is a MESSAGE whose box holds a flags byte (MORE, COMMAND)
//! and the frame. Commands (PING, PONG, SUBSCRIBE, CANCEL) travel inside boxes with the
//! COMMAND flag, so heartbeats and ZMTP 3.1 subscriptions are encrypted too.
//!
//! libzmq sends MESSAGE frames with frame flags 0 and ignores the flags of the ones it
//! receives; so does this. A MESSAGE that fails to open, or whose nonce does not increase,
//! fails the session without an ERROR (RFC 26).

use std::time::Instant;

use bytes::{Buf, BytesMut};

use super::Session;
use crate::command::Command;
use crate::curve::MESSAGE_OVERHEAD;
use crate::frame::{self, FrameHeader};
use crate::{Event, Msg, ProtocolError};

/// The flags byte inside a MESSAGE box.
const MORE: u8 = 0x01;
const COMMAND: u8 = 0x02;

impl Session {
    /// Queues `cmd` for the peer: a command frame, or under CURVE a MESSAGE with the COMMAND
    /// flag.
    pub(super) fn put_command(&mut self, cmd: &Command<'_>) {
        if self.cipher.is_some() {
            self.put_sealed(COMMAND, &cmd.to_body());
        } else {
            cmd.write_frame(&mut self.out);
        }
    }

    /// [`Session::send`] under CURVE, for one frame of `data`.
    pub(super) fn send_sealed(&mut self, data: &[u8], more: bool, command: bool) {
        let inner = if command {
            COMMAND
        } else if more {
            MORE
        } else {
            0
        };
        self.put_sealed(inner, data);
    }

    /// Seals `data` into a MESSAGE and queues its frame.
    fn put_sealed(&mut self, inner_flags: u8, data: &[u8]) {
        let Some(cipher) = self.cipher.as_mut() else {
            return;
        };
        let size = (MESSAGE_OVERHEAD + data.len()) as u64;
        let mut hdr = [0u8; frame::MAX_HEADER_SIZE];
        let n = frame::encode_header(&FrameHeader::new(size, false, false), &mut hdr);
        let mut body = BytesMut::with_capacity(n + MESSAGE_OVERHEAD + data.len());
        body.extend_from_slice(&hdr[..n]);
        cipher.seal_into(inner_flags, data, &mut body);
        self.out.put_bytes(body.freeze());
    }

    /// The post-handshake path under CURVE: opens every complete MESSAGE frame in `buf`.
    pub(super) fn read_sealed(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        let mut received = false;
        let mut last_ping_ttl = None;
        let result = loop {
            let Some((header, hlen)) = frame::decode(buf)? else {
                self.input_needed = super::header_needed(buf);
                break Ok(());
            };
            let size = header.size();
            if let Err(e) = self.check_size(size) {
                break Err(e);
            }
            // Bounded by the size check above.
            let total = hlen + size as usize;
            if buf.len() < total {
                self.input_needed = total;
                break Ok(());
            }
            buf.advance(hlen);
            let body = buf.split_to(size as usize);
            let Some(cipher) = self.cipher.as_mut() else {
                break Ok(());
            };
            let (inner, payload) = match cipher.open_in_place(body) {
                Ok(opened) => opened,
                Err(e) => break Err(e),
            };
            received = true;
            if inner & COMMAND != 0 {
                last_ping_ttl = self.handle_command(&payload);
                continue;
            }
            last_ping_ttl = None;
            let mut msg = if payload.len() <= Msg::INLINE_CAPACITY {
                Msg::copy_from_slice(&payload)
            } else {
                Msg::from_bytes(payload)
            };
            msg.set_more(inner & MORE != 0);
            self.events.push_back(Event::Message(msg));
        };
        self.note_traffic(received, last_ping_ttl, now);
        result
    }
}
