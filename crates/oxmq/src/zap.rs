//! The engine's side of ZAP (RFC 27): carrying a session's request to the handler bound at
//! `inproc://zeromq.zap.01` in the same context, and its reply back.
//!
//! Like libzmq's session, the engine connects to the handler for the one request its handshake
//! needs: the handler's socket (REP or ROUTER) sees a new peer whose message starts with an
//! empty delimiter. The engine's task is woken when the reply arrives.

use std::sync::Arc;

use bytes::Bytes;
use oxmq_proto::zap::ZAP_ENDPOINT;
use oxmq_proto::Msg;

use crate::pipe::{PipeReader, PipeWriter, TaskWaker};
use crate::socket::SocketShared;

/// One outstanding ZAP request.
pub(crate) struct ZapClient {
    reader: PipeReader,
    /// Kept so the handler's end stays open until the reply is in.
    _writer: PipeWriter,
    reply: Vec<Bytes>,
}

impl ZapClient {
    /// Sends `frames` to the context's ZAP handler; `None` if no handler is bound (or the
    /// context is gone).
    pub(crate) fn send(
        socket: &SocketShared,
        waker: &Arc<TaskWaker>,
        frames: Vec<Bytes>,
    ) -> Option<ZapClient> {
        let ctx = socket.ctx.upgrade()?;
        let (reader, mut writer) = ctx.inproc().connect_task(ZAP_ENDPOINT, waker)?;
        let last = frames.len().saturating_sub(1);
        for (i, frame) in frames.into_iter().enumerate() {
            let mut msg = Msg::from_bytes(frame);
            msg.set_more(i < last);
            writer.write_unchecked(msg);
        }
        writer.flush();
        Some(ZapClient {
            reader,
            _writer: writer,
            reply: Vec::new(),
        })
    }

    /// The reply's frames, once all of them have arrived.
    pub(crate) fn poll_reply(&mut self) -> Option<Vec<Bytes>> {
        while let Some(msg) = self.reader.read() {
            let more = msg.more();
            // A reply has seven frames; a handler sending thousands is broken, and parsing
            // will say so without our holding them all.
            if self.reply.len() <= MAX_REPLY_FRAMES {
                self.reply.push(msg.into_bytes());
            }
            if !more {
                return Some(std::mem::take(&mut self.reply));
            }
        }
        None
    }
}

const MAX_REPLY_FRAMES: usize = 16;
