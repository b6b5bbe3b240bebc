//! The ZeroMQ socket types, their wire names and which pairs may talk to each other.

use std::fmt;

/// A ZeroMQ socket type, numbered as in libzmq's `zmq.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SocketType {
    /// Exclusive pair (RFC 31).
    Pair = 0,
    /// Publisher (RFC 29).
    Pub = 1,
    /// Subscriber (RFC 29).
    Sub = 2,
    /// Requester (RFC 28).
    Req = 3,
    /// Replier (RFC 28).
    Rep = 4,
    /// Asynchronous requester (RFC 28).
    Dealer = 5,
    /// Asynchronous replier with routing ids (RFC 28).
    Router = 6,
    /// Pipeline sink (RFC 30).
    Pull = 7,
    /// Pipeline source (RFC 30).
    Push = 8,
    /// Publisher that sees subscriptions (RFC 29).
    XPub = 9,
    /// Subscriber that sends subscriptions as messages (RFC 29).
    XSub = 10,
    /// Raw TCP peers with routing ids.
    Stream = 11,
}

impl SocketType {
    /// Every socket type, in libzmq's numbering order.
    pub const ALL: [SocketType; 12] = [
        SocketType::Pair,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pull,
        SocketType::Push,
        SocketType::XPub,
        SocketType::XSub,
        SocketType::Stream,
    ];

    /// The name sent in the READY command's `Socket-Type` property.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
            SocketType::Stream => "STREAM",
        }
    }

    /// Parses a `Socket-Type` property value. Socket type names are case sensitive on the wire
    /// (libzmq compares them with `strcmp`-like equality), so only the upper-case names match.
    pub fn from_wire_name(name: &[u8]) -> Option<SocketType> {
        SocketType::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes() == name)
    }

    /// The socket type with libzmq's number `n` (`ZMQ_PAIR` = 0 … `ZMQ_STREAM` = 11).
    pub fn from_raw(n: i32) -> Option<SocketType> {
        usize::try_from(n)
            .ok()
            .and_then(|i| SocketType::ALL.get(i).copied())
    }

    /// libzmq's number for this socket type.
    pub fn to_raw(self) -> i32 {
        self as i32
    }

    /// Whether a socket of this type accepts a peer of type `peer` (RFC 23, "The Socket Types").
    pub fn is_compatible(self, peer: SocketType) -> bool {
        use SocketType::*;
        match self {
            Pair => peer == Pair,
            Pub | XPub => matches!(peer, Sub | XSub),
            Sub | XSub => matches!(peer, Pub | XPub),
            Req => matches!(peer, Rep | Router),
            Rep => matches!(peer, Req | Dealer),
            Dealer => matches!(peer, Rep | Dealer | Router),
            Router => matches!(peer, Req | Dealer | Router),
            Pull => peer == Push,
            Push => peer == Pull,
            // STREAM speaks raw TCP, never ZMTP.
            Stream => false,
        }
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_is_symmetric() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.is_compatible(b), b.is_compatible(a), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn wire_names_round_trip() {
        for t in SocketType::ALL {
            assert_eq!(SocketType::from_wire_name(t.as_str().as_bytes()), Some(t));
            assert_eq!(SocketType::from_raw(t.to_raw()), Some(t));
        }
        assert_eq!(SocketType::from_wire_name(b"pub"), None);
        assert_eq!(SocketType::from_raw(12), None);
        assert_eq!(SocketType::from_raw(-1), None);
    }
}
