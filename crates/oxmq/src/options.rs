//! Socket options as the core stores them, with libzmq's defaults and units.

use std::time::Duration;

use bytes::Bytes;

use crate::error::{ErrorKind, Result};

/// The options of one socket. Engines get a snapshot at bind/connect time, as in libzmq.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) sndhwm: i32,
    pub(crate) rcvhwm: i32,
    pub(crate) linger: i32,
    pub(crate) sndtimeo: i32,
    pub(crate) rcvtimeo: i32,
    pub(crate) reconnect_ivl: i32,
    pub(crate) reconnect_ivl_max: i32,
    pub(crate) maxmsgsize: i64,
    pub(crate) ipv6: bool,
    pub(crate) routing_id: Bytes,
    pub(crate) connect_routing_id: Option<Bytes>,
    pub(crate) backlog: i32,
    pub(crate) immediate: bool,
    pub(crate) sndbuf: i32,
    pub(crate) rcvbuf: i32,
    pub(crate) handshake_ivl: i32,
    pub(crate) heartbeat_ivl: i32,
    pub(crate) heartbeat_ttl: i32,
    pub(crate) heartbeat_timeout: i32,
    pub(crate) tcp_keepalive: i32,
    pub(crate) tcp_keepalive_cnt: i32,
    pub(crate) tcp_keepalive_idle: i32,
    pub(crate) tcp_keepalive_intvl: i32,
    pub(crate) tos: i32,
    pub(crate) tcp_maxrt: i32,
    pub(crate) connect_timeout: i32,
    pub(crate) bindtodevice: Option<String>,
    /// ZMQ_AFFINITY: the I/O threads new connections may run on (bit mask; 0: any).
    pub(crate) affinity: u64,
    /// ZMQ_CONFLATE: each queue keeps only the last message.
    pub(crate) conflate: bool,
    /// ZMQ_RECONNECT_STOP: a mask of `opt::RECONNECT_STOP_*`.
    pub(crate) reconnect_stop: i32,
    /// ZMQ_METADATA: `X-` properties sent in READY.
    pub(crate) metadata: Vec<(String, Bytes)>,
    /// ZMQ_USE_FD: a listening descriptor for the next tcp/ipc bind (-1: none).
    pub(crate) use_fd: i32,
    /// ZMQ_HELLO_MSG (DEALER, ROUTER): sent to each new peer first.
    pub(crate) hello_msg: Option<Bytes>,
    /// ZMQ_DISCONNECT_MSG (ROUTER): received from a peer when its connection ends.
    pub(crate) disconnect_msg: Option<Bytes>,
    /// ZMQ_HICCUP_MSG (DEALER): received when a connection made by `connect` ends.
    pub(crate) hiccup_msg: Option<Bytes>,
    /// ZMQ_IN_BATCH_SIZE: bytes read from the network at once.
    pub(crate) in_batch_size: i32,
    /// ZMQ_OUT_BATCH_SIZE: bytes encoded for one write.
    pub(crate) out_batch_size: i32,
    /// ZMQ_TCP_ACCEPT_FILTER: accepted tcp peers must match one of these (none: any).
    pub(crate) tcp_accept_filters: Vec<crate::transport::tcp::AcceptFilter>,
    /// ZMQ_IPC_FILTER_PID / UID / GID: accepted ipc peers must match one (none: any).
    pub(crate) ipc_filters: crate::transport::ipc::PeerFilters,
    /// ROUTER_RAW (ROUTER) or STREAM: raw TCP, no ZMTP.
    pub(crate) raw: bool,
    /// The context's ZMQ_MAX_MSGSZ when the socket was made: a cap on MAXMSGSIZE.
    pub(crate) ctx_max_msgsz: i64,
    /// Mechanism, credentials and ZAP settings, only once a security option was set (they are
    /// 208 bytes, which every socket and every connection's copy of the options would carry
    /// otherwise); none means NULL.
    pub(crate) security: Option<Box<crate::security::Security>>,
    /// ZMQ_INVERT_MATCHING as last set (the pattern applies it; this is for getsockopt).
    pub(crate) invert_matching: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            sndhwm: 1000,
            rcvhwm: 1000,
            linger: -1,
            sndtimeo: -1,
            rcvtimeo: -1,
            reconnect_ivl: 100,
            reconnect_ivl_max: 0,
            maxmsgsize: -1,
            ipv6: false,
            routing_id: Bytes::new(),
            connect_routing_id: None,
            backlog: 100,
            immediate: false,
            sndbuf: -1,
            rcvbuf: -1,
            handshake_ivl: 30_000,
            heartbeat_ivl: 0,
            heartbeat_ttl: 0,
            heartbeat_timeout: -1,
            tcp_keepalive: -1,
            tcp_keepalive_cnt: -1,
            tcp_keepalive_idle: -1,
            tcp_keepalive_intvl: -1,
            tos: 0,
            tcp_maxrt: 0,
            connect_timeout: 0,
            bindtodevice: None,
            affinity: 0,
            conflate: false,
            reconnect_stop: 0,
            metadata: Vec::new(),
            use_fd: -1,
            hello_msg: None,
            disconnect_msg: None,
            hiccup_msg: None,
            in_batch_size: DEFAULT_IN_BATCH_SIZE,
            out_batch_size: DEFAULT_OUT_BATCH_SIZE,
            tcp_accept_filters: Vec::new(),
            ipc_filters: Default::default(),
            raw: false,
            ctx_max_msgsz: i64::from(i32::MAX),
            security: None,
            invert_matching: false,
        }
    }
}

/// ZMQ_IN_BATCH_SIZE's default. libzmq's is 8 KiB; oxmq reads up to 64 KiB at once, which
/// lets one read system call carry thousands of small messages.
pub(crate) const DEFAULT_IN_BATCH_SIZE: i32 = 64 * 1024;
/// ZMQ_OUT_BATCH_SIZE's default. libzmq's is 8 KiB; oxmq encodes up to 256 KiB per vectored
/// write.
pub(crate) const DEFAULT_OUT_BATCH_SIZE: i32 = 256 * 1024;

/// Reads an `int` option value as `zmq_setsockopt` takes it (native-endian, exactly 4 bytes).
pub(crate) fn int_value(value: &[u8]) -> Result<i32> {
    fixed(value).map(i32::from_ne_bytes)
}

/// Reads an `int64_t` option value (native-endian, exactly 8 bytes).
pub(crate) fn i64_value(value: &[u8]) -> Result<i64> {
    fixed(value).map(i64::from_ne_bytes)
}

/// Reads a `uint64_t` option value (native-endian, exactly 8 bytes).
pub(crate) fn u64_value(value: &[u8]) -> Result<u64> {
    fixed(value).map(u64::from_ne_bytes)
}

/// The value as exactly `N` bytes, or EINVAL.
fn fixed<const N: usize>(value: &[u8]) -> Result<[u8; N]> {
    value
        .try_into()
        .map_err(|_| crate::Error::new(ErrorKind::InvalidInput))
}

/// A binary option where an empty value means "none".
pub(crate) fn optional_bytes(value: &[u8]) -> Option<Bytes> {
    (!value.is_empty()).then(|| Bytes::copy_from_slice(value))
}

/// Parses one ZMQ_METADATA value, `X-name:value`: the name must start with `X-` and have
/// more after it, as libzmq requires.
pub(crate) fn metadata_value(value: &[u8]) -> Result<(String, Bytes)> {
    let value = value.strip_suffix(&[0]).unwrap_or(value);
    let colon = value.iter().position(|&b| b == b':').ok_or_else(|| {
        crate::Error::with_source(ErrorKind::InvalidInput, "metadata needs name:value")
    })?;
    let (name, rest) = value.split_at(colon);
    let name = std::str::from_utf8(name).map_err(|_| crate::Error::new(ErrorKind::InvalidInput))?;
    if name.len() <= 2 || !name.starts_with("X-") || name.len() > 255 {
        return Err(crate::Error::with_source(
            ErrorKind::InvalidInput,
            "metadata names start with X-",
        ));
    }
    Ok((name.to_owned(), Bytes::copy_from_slice(&rest[1..])))
}

/// Reads a boolean `int` option value: 0 or 1, anything else is `EINVAL` as in libzmq.
pub(crate) fn bool_value(value: &[u8]) -> Result<bool> {
    match int_value(value)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(ErrorKind::InvalidInput.into()),
    }
}

impl Options {
    /// The protocol session's configuration for a connection of a `socket_type` socket.
    pub(crate) fn session_config(
        &self,
        socket_type: oxmq_proto::SocketType,
    ) -> oxmq_proto::SessionConfig {
        let ms = |v: i32| {
            u64::try_from(v)
                .ok()
                .filter(|&v| v > 0)
                .map(Duration::from_millis)
        };
        let mut c = oxmq_proto::SessionConfig::new(socket_type);
        c.routing_id = self.routing_id.clone();
        if let Some(security) = &self.security {
            security.apply(&mut c);
        }
        c.extra_properties.clone_from(&self.metadata);
        // libzmq only stores ZMQ_MAX_MSGSZ; oxmq enforces a value the application lowered it
        // to, but its default (INT_MAX) caps nothing: libzmq receives frames of 2 GiB and more.
        let ctx_cap = if self.ctx_max_msgsz >= i64::from(i32::MAX) {
            -1
        } else {
            self.ctx_max_msgsz
        };
        let limit = match (self.maxmsgsize, ctx_cap) {
            (-1, cap) => cap,
            (own, -1) => own,
            (own, cap) => own.min(cap),
        };
        c.max_msg_size = u64::try_from(limit).ok();
        c.handshake_ivl = ms(self.handshake_ivl);
        c.heartbeat_ivl = ms(self.heartbeat_ivl);
        // ZMQ_HEARTBEAT_TTL is in ms but travels in deciseconds; libzmq rounds down.
        c.heartbeat_ttl = Duration::from_millis(u64::try_from(self.heartbeat_ttl).unwrap_or(0));
        c.heartbeat_timeout = match self.heartbeat_timeout {
            -1 => None,
            v => Some(Duration::from_millis(u64::try_from(v).unwrap_or(0))),
        };
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_context_max_msgsz_caps_nothing_but_a_lowered_one_does() {
        let ty = oxmq_proto::SocketType::Pull;
        let o = Options::default();
        assert_eq!(
            o.session_config(ty).max_msg_size,
            None,
            "frames over 2 GiB pass"
        );
        let lowered = Options {
            ctx_max_msgsz: 100,
            ..Options::default()
        };
        assert_eq!(lowered.session_config(ty).max_msg_size, Some(100));
        let both = Options {
            ctx_max_msgsz: 100,
            maxmsgsize: 50,
            ..Options::default()
        };
        assert_eq!(both.session_config(ty).max_msg_size, Some(50));
        let own = Options {
            maxmsgsize: 5_000_000_000,
            ..Options::default()
        };
        assert_eq!(own.session_config(ty).max_msg_size, Some(5_000_000_000));
    }
}
