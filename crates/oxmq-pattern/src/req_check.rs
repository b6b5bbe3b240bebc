//! [`ReplyCheck`]: the shape libzmq's REQ session enforces on what a REQ socket's peer sends.

use oxmq_proto::{flags, Msg};

/// Checks, frame by frame on one connection of a REQ socket, that the peer sends replies:
/// an optional 4-byte request id (ZMQ_REQ_CORRELATE), an empty delimiter, then the body
/// (libzmq's `req_session_t`).
///
/// The caller runs every frame received from a REQ socket's peer through
/// [`ReplyCheck::check`] before queueing it; on `false` libzmq fails the connection (EFAULT in
/// the session, which closes the engine), so the malformed frame never reaches the socket. The
/// REQ pattern itself still drops replies without a delimiter, for peers the check misses.
#[derive(Debug, Default)]
pub struct ReplyCheck {
    state: State,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Bottom,
    RequestId,
    Body,
}

impl ReplyCheck {
    /// A check expecting the start of a reply.
    pub fn new() -> ReplyCheck {
        ReplyCheck::default()
    }

    /// Whether `msg`, the next frame from the peer, fits a reply. Command frames are not part
    /// of the message stream and always pass.
    pub fn check(&mut self, msg: &Msg) -> bool {
        if msg.is_command() {
            return true;
        }
        let more_only = msg.flags() == flags::MORE;
        let last_plain = msg.flags() == 0;
        let (ok, next) = match self.state {
            // The request id is let through whether or not correlation is on, as libzmq does.
            State::Bottom if more_only && msg.len() == 4 => (true, State::RequestId),
            State::Bottom if more_only && msg.is_empty() => (true, State::Body),
            State::RequestId if more_only && msg.is_empty() => (true, State::Body),
            State::Body if more_only => (true, State::Body),
            State::Body if last_plain => (true, State::Bottom),
            s => (false, s),
        };
        self.state = next;
        ok
    }

    /// Starts over, for a new connection on the same session.
    pub fn reset(&mut self) {
        self.state = State::Bottom;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(data: &[u8], more: bool) -> Msg {
        Msg::copy_from_slice(data).with_more(more)
    }

    #[test]
    fn accepts_replies_with_and_without_request_id() {
        let mut c = ReplyCheck::new();
        for _ in 0..2 {
            assert!(c.check(&frame(b"", true)));
            assert!(c.check(&frame(b"a", true)));
            assert!(c.check(&frame(b"b", false)));
        }
        assert!(c.check(&frame(b"\x01\x02\x03\x04", true)));
        assert!(c.check(&frame(b"", true)));
        assert!(c.check(&frame(b"x", false)));
    }

    #[test]
    fn rejects_replies_without_delimiter() {
        let mut c = ReplyCheck::new();
        assert!(!c.check(&frame(b"body", false)));
        let mut c = ReplyCheck::new();
        assert!(!c.check(&frame(b"xx", true)));
        let mut c = ReplyCheck::new();
        // A lone delimiter without a body.
        assert!(!c.check(&frame(b"", false)));
        let mut c = ReplyCheck::new();
        assert!(c.check(&frame(b"1234", true)));
        assert!(!c.check(&frame(b"1234", true)));
        c.reset();
        assert!(c.check(&frame(b"", true)));
    }

    #[test]
    fn commands_pass() {
        let mut c = ReplyCheck::new();
        let mut cmd = Msg::from("PING");
        cmd.set_command(true);
        assert!(c.check(&cmd));
        assert!(c.check(&frame(b"", true)));
    }
}
