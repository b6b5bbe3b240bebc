//! PLAIN, NULL-with-ZAP and the ZAP round trip, driven through [`Pair`].

use bytes::Bytes;

use super::*;
use crate::testing::{Pair, PairError, Side};
use crate::zap::{ZapOutcome, ZapReply};

fn plain_client(username: &str, password: &str) -> SessionConfig {
    SessionConfig {
        mechanism: Mechanism::Plain,
        credentials: Credentials {
            plain_username: Bytes::copy_from_slice(username.as_bytes()),
            plain_password: Bytes::copy_from_slice(password.as_bytes()),
        },
        ..SessionConfig::new(SocketType::Dealer)
    }
}

fn plain_server() -> SessionConfig {
    SessionConfig {
        mechanism: Mechanism::Plain,
        as_server: true,
        zap_domain: Bytes::from_static(b"test"),
        ..SessionConfig::new(SocketType::Router)
    }
}

/// Drives the pair until the server asks ZAP; returns the request.
fn zap_request(pair: &mut Pair) -> ZapRequest {
    pair.drive().expect("handshake up to ZAP");
    let mut requests = std::iter::from_fn(|| pair.server.poll_event()).filter_map(|e| match e {
        Event::ZapRequest(r) => Some(r),
        _ => None,
    });
    let r = requests.next().expect("a ZAP request");
    assert!(requests.next().is_none(), "one request per handshake");
    r
}

fn done(s: &mut Session) -> Option<PeerInfo> {
    std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
        Event::HandshakeDone(p) => Some(p),
        _ => None,
    })
}

fn property<'a>(peer: &'a PeerInfo, name: &str) -> Option<&'a [u8]> {
    peer.properties
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_ref())
}

#[test]
fn plain_handshake_sends_credentials_to_zap_and_attaches_its_user_id() {
    let mut pair = Pair::new(plain_client("admin", "secret"), plain_server());
    let request = zap_request(&mut pair);
    assert_eq!(request.mechanism, Mechanism::Plain);
    assert_eq!(request.domain, Bytes::from_static(b"test"));
    assert_eq!(
        request.credentials,
        vec![Bytes::from_static(b"admin"), Bytes::from_static(b"secret")]
    );
    assert!(!pair.client.is_ready() && !pair.server.is_ready());
    let mut reply = ZapReply::ok("alice");
    reply
        .metadata
        .push(("X-Role".into(), Bytes::from_static(b"ops")));
    pair.server
        .handle_zap(ZapOutcome::Reply(reply), pair.now())
        .unwrap();
    pair.drive().unwrap();
    let on_server = done(&mut pair.server).expect("server done");
    let on_client = done(&mut pair.client).expect("client done");
    assert_eq!(on_server.socket_type, SocketType::Dealer);
    assert_eq!(on_client.socket_type, SocketType::Router);
    assert_eq!(property(&on_server, "User-Id"), Some(&b"alice"[..]));
    assert_eq!(property(&on_server, "X-Role"), Some(&b"ops"[..]));
    assert_eq!(property(&on_client, "User-Id"), None);

    pair.client.send(Msg::copy_from_slice(b"hi")).unwrap();
    pair.drive().unwrap();
    assert!(matches!(pair.server.poll_event(), Some(Event::Message(m)) if m.data() == b"hi"));
}

#[test]
fn plain_wire_format_follows_rfc_24() {
    let mut pair = Pair::new(plain_client("ab", "c"), plain_server());
    zap_request(&mut pair);
    // Client: greeting (64) then HELLO with length-prefixed username and password.
    assert_eq!(&pair.client_sent[12..17], b"PLAIN");
    assert_eq!(&pair.client_sent[64..], b"\x04\x0b\x05HELLO\x02ab\x01c");
    assert_eq!(pair.server_sent[32], 1, "as-server bit");
    assert_eq!(pair.client_sent[32], 0);
    pair.server
        .handle_zap(ZapOutcome::Reply(ZapReply::ok("")), pair.now())
        .unwrap();
    pair.drive().unwrap();
    assert_eq!(&pair.server_sent[64..74], b"\x04\x08\x07WELCOME");
    // INITIATE: Socket-Type DEALER (22 bytes) and an empty Identity (13 bytes).
    assert_eq!(&pair.client_sent[77..88], b"\x04\x2c\x08INITIATE");
    assert_eq!(&pair.server_sent[76..82], b"\x05READY");
}

#[test]
fn refusals_send_the_status_as_error_except_300() {
    for status in [400, 500, 300] {
        let mut pair = Pair::new(plain_client("admin", "wrong"), plain_server());
        zap_request(&mut pair);
        let reply = ZapReply {
            status,
            ..ZapReply::ok("")
        };
        let err = pair
            .server
            .handle_zap(ZapOutcome::Reply(reply), pair.now())
            .unwrap_err();
        assert_eq!(err, ProtocolError::AuthFailed { status });
        assert_eq!(err.zap_status_code(), Some(status));
        let r = pair.drive();
        if status == 300 {
            assert_eq!(r, Ok(()), "300 closes without an ERROR");
            assert!(!pair.client.is_ready());
        } else {
            let e = r.unwrap_err();
            assert_eq!(e.side, Side::Client);
            assert_eq!(
                e.error,
                ProtocolError::PeerError {
                    reason: status.to_string()
                }
            );
            assert_eq!(e.error.zap_status_code(), Some(status));
        }
    }
}

#[test]
fn no_handler_accepts_unless_the_domain_is_enforced() {
    let mut pair = Pair::new(plain_client("a", "b"), plain_server());
    zap_request(&mut pair);
    pair.server
        .handle_zap(ZapOutcome::NoHandler, pair.now())
        .unwrap();
    pair.drive().unwrap();
    assert!(pair.client.is_ready() && pair.server.is_ready());
    assert_eq!(property(&done(&mut pair.server).unwrap(), "User-Id"), None);

    let enforced = SessionConfig {
        zap_enforce_domain: true,
        ..plain_server()
    };
    let mut pair = Pair::new(plain_client("a", "b"), enforced);
    zap_request(&mut pair);
    assert_eq!(
        pair.server.handle_zap(ZapOutcome::NoHandler, pair.now()),
        Err(ProtocolError::NoZapHandler)
    );
}

#[test]
fn null_asks_zap_only_with_a_domain_and_holds_ready_until_the_verdict() {
    // Without a domain: no request, straight through.
    let mut pair = Pair::new(
        SessionConfig::new(SocketType::Dealer),
        SessionConfig::new(SocketType::Router),
    );
    pair.drive().unwrap();
    assert!(pair.server.is_ready());
    assert!(
        !std::iter::from_fn(|| pair.server.poll_event()).any(|e| matches!(e, Event::ZapRequest(_)))
    );

    let server = SessionConfig {
        zap_domain: Bytes::from_static(b"d"),
        ..SessionConfig::new(SocketType::Router)
    };
    let mut pair = Pair::new(SessionConfig::new(SocketType::Dealer), server);
    let request = zap_request(&mut pair);
    assert_eq!(request.mechanism, Mechanism::Null);
    assert!(request.credentials.is_empty());
    assert_eq!(
        pair.server_sent.len(),
        64,
        "READY held back until ZAP answers"
    );
    assert!(!pair.client.is_ready());
    pair.server
        .handle_zap(ZapOutcome::Reply(ZapReply::ok("u")), pair.now())
        .unwrap();
    pair.drive().unwrap();
    assert!(pair.client.is_ready());
    let peer = done(&mut pair.server).expect("server done");
    assert_eq!(property(&peer, "User-Id"), Some(&b"u"[..]));
}

#[test]
fn malformed_and_out_of_order_plain_commands_fail() {
    let hello = |body: &[u8]| {
        let mut s = Session::new(plain_server(), std::time::Instant::now());
        let mut g = Greeting::new(Mechanism::Plain, false, 0).encode().to_vec();
        let mut cmd = b"\x05HELLO".to_vec();
        cmd.extend_from_slice(body);
        g.extend_from_slice(&[0x04, cmd.len() as u8]);
        g.extend_from_slice(&cmd);
        let mut buf = bytes::BytesMut::from(&g[..]);
        s.handle_input(&mut buf, std::time::Instant::now())
    };
    assert!(hello(b"\x01a\x01b").is_ok());
    for bad in [&b""[..], b"\x05ab", b"\x01a", b"\x01a\x05b", b"\x01a\x01bX"] {
        assert!(
            matches!(hello(bad), Err(ProtocolError::MalformedCommand { ref command, .. }) if command == "HELLO"),
            "{bad:?}"
        );
    }
    // A client that does not wait for WELCOME.
    let mut s = Session::new(plain_server(), std::time::Instant::now());
    let mut g = Greeting::new(Mechanism::Plain, false, 0).encode().to_vec();
    g.extend_from_slice(b"\x04\x0a\x05HELLO\x01a\x01b");
    g.extend_from_slice(b"\x04\x09\x08INITIATE");
    let mut buf = bytes::BytesMut::from(&g[..]);
    assert!(matches!(
        s.handle_input(&mut buf, std::time::Instant::now()),
        Err(ProtocolError::UnexpectedCommand { .. })
    ));
}

#[test]
fn plain_client_against_null_server_is_a_mechanism_mismatch() {
    let mut pair = Pair::new(
        plain_client("a", "b"),
        SessionConfig::new(SocketType::Router),
    );
    let e: PairError = pair.drive().unwrap_err();
    assert!(matches!(e.error, ProtocolError::MechanismMismatch { .. }));
}

#[test]
fn credentials_stay_out_of_debug_output() {
    let c = plain_client("admin", "hunter2");
    assert!(!format!("{c:?}").contains("hunter2"));
}
