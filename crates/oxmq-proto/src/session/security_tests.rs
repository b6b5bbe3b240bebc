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
            ..Credentials::default()
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
fn no_handler_refuses_plain_and_accepts_null_unless_the_domain_is_enforced() {
    // libzmq's PLAIN server needs a handler.
    let mut pair = Pair::new(plain_client("a", "b"), plain_server());
    zap_request(&mut pair);
    assert_eq!(
        pair.server.handle_zap(ZapOutcome::NoHandler, pair.now()),
        Err(ProtocolError::NoZapHandler)
    );

    let null_server = |enforce| SessionConfig {
        zap_domain: Bytes::from_static(b"d"),
        zap_enforce_domain: enforce,
        ..SessionConfig::new(SocketType::Router)
    };
    let mut pair = Pair::new(SessionConfig::new(SocketType::Dealer), null_server(false));
    zap_request(&mut pair);
    pair.server
        .handle_zap(ZapOutcome::NoHandler, pair.now())
        .unwrap();
    pair.drive().unwrap();
    assert!(pair.client.is_ready() && pair.server.is_ready());
    assert_eq!(property(&done(&mut pair.server).unwrap(), "User-Id"), None);

    let mut pair = Pair::new(SessionConfig::new(SocketType::Dealer), null_server(true));
    zap_request(&mut pair);
    assert_eq!(
        pair.server.handle_zap(ZapOutcome::NoHandler, pair.now()),
        Err(ProtocolError::NoZapHandler)
    );
}

#[test]
fn plain_errors_use_libzmqs_form_and_both_forms_are_understood() {
    let mut pair = Pair::new(plain_client("a", "b"), plain_server());
    zap_request(&mut pair);
    let refused = ZapReply {
        status: 400,
        ..ZapReply::ok("")
    };
    let sent_before = pair.server_sent.len();
    assert!(pair
        .server
        .handle_zap(ZapOutcome::Reply(refused), pair.now())
        .is_err());
    let e = pair.drive().unwrap_err();
    assert_eq!(&pair.server_sent[sent_before..], b"\x04\x09\x5eRROR\x03400");
    assert_eq!(e.error.zap_status_code(), Some(400));

    // The well-formed ERROR is understood too.
    let mut s = Session::new(plain_client("a", "b"), std::time::Instant::now());
    let mut g = Greeting::new(Mechanism::Plain, true, 0).encode().to_vec();
    g.extend_from_slice(b"\x04\x0a\x05ERROR\x03500");
    let mut buf = bytes::BytesMut::from(&g[..]);
    let e = s
        .handle_input(&mut buf, std::time::Instant::now())
        .unwrap_err();
    assert_eq!(e.zap_status_code(), Some(500));
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

// ---- CURVE -------------------------------------------------------------------------------------

use crate::curve::KeyPair;

fn curve_client(ty: SocketType, server: &KeyPair) -> SessionConfig {
    let me = KeyPair::generate();
    SessionConfig {
        mechanism: Mechanism::Curve,
        credentials: Credentials {
            curve_public: Some(me.public),
            curve_secret: Some(me.secret.clone()),
            curve_server: Some(server.public),
            ..Credentials::default()
        },
        ..SessionConfig::new(ty)
    }
}

fn curve_server(ty: SocketType, keys: &KeyPair) -> SessionConfig {
    SessionConfig {
        mechanism: Mechanism::Curve,
        as_server: true,
        credentials: Credentials {
            curve_secret: Some(keys.secret.clone()),
            ..Credentials::default()
        },
        ..SessionConfig::new(ty)
    }
}

/// A CURVE pair through ZAP (accepted) to traffic.
fn curve_pair(client: SessionConfig, server: SessionConfig) -> Pair {
    let client_key = client.credentials.curve_public;
    let mut pair = Pair::new(client, server);
    let request = zap_request(&mut pair);
    assert_eq!(request.mechanism, Mechanism::Curve);
    let key = client_key.expect("client key");
    assert_eq!(
        request.credentials,
        vec![Bytes::copy_from_slice(key.as_bytes())]
    );
    pair.server
        .handle_zap(ZapOutcome::Reply(ZapReply::ok("curve-user")), pair.now())
        .unwrap();
    pair.drive().unwrap();
    assert!(pair.client.is_ready() && pair.server.is_ready());
    pair
}

fn messages(s: &mut Session) -> Vec<Msg> {
    std::iter::from_fn(|| s.poll_event())
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn curve_handshake_then_encrypted_multipart_traffic_both_ways() {
    let keys = KeyPair::generate();
    let mut pair = curve_pair(
        curve_client(SocketType::Dealer, &keys),
        curve_server(SocketType::Router, &keys),
    );
    let peer = done(&mut pair.server).expect("server done");
    assert_eq!(property(&peer, "User-Id"), Some(&b"curve-user"[..]));
    assert_eq!(&pair.client_sent[12..17], b"CURVE");
    assert_eq!(pair.server_sent[32], 1, "as-server");

    let big = vec![0x5A; 100_000];
    let mut first = Msg::copy_from_slice(b"secret-part-1");
    first.set_more(true);
    pair.client.send(first).unwrap();
    pair.client
        .send(Msg::from_bytes(Bytes::from(big.clone())))
        .unwrap();
    pair.server.send(Msg::copy_from_slice(b"answer")).unwrap();
    let before = pair.client_sent.len();
    pair.drive().unwrap();
    let got = messages(&mut pair.server);
    assert_eq!(got.len(), 2);
    assert!(got[0].more() && !got[1].more());
    assert_eq!(got[0].data(), b"secret-part-1");
    assert_eq!(got[1].data(), &big[..]);
    assert_eq!(messages(&mut pair.client)[0].data(), b"answer");
    // Nothing travels in clear, and MESSAGE frames carry frame flags 0, as libzmq sends them.
    let wire = &pair.client_sent[before..];
    assert!(!wire.windows(13).any(|w| w == b"secret-part-1"));
    assert_eq!(wire[0], 0x00);
    assert_eq!(&wire[2..10], b"\x07MESSAGE");
}

#[test]
fn curve_heartbeats_and_subscriptions_travel_inside_boxes() {
    let keys = KeyPair::generate();
    let mut client = curve_client(SocketType::Sub, &keys);
    client.heartbeat_ivl = Some(std::time::Duration::from_secs(1));
    let mut pair = curve_pair(client, curve_server(SocketType::Pub, &keys));
    let before = pair.client_sent.len();
    pair.client.send(Msg::subscribe(b"weather")).unwrap();
    pair.advance(std::time::Duration::from_secs(1)).unwrap();
    pair.drive().unwrap();
    let got = messages(&mut pair.server);
    assert_eq!(got.len(), 1);
    assert!(got[0].flags() & flags::SUBSCRIBE != 0);
    assert_eq!(got[0].data(), b"weather");
    let wire = &pair.client_sent[before..];
    assert!(!wire.windows(9).any(|w| w == b"SUBSCRIBE"));
    assert!(!wire.windows(4).any(|w| w == b"PING"));
    // The PONG came back encrypted and cancelled the heartbeat timeout.
    assert!(!pair.server_sent.windows(4).any(|w| w == b"PONG"));
    pair.advance(std::time::Duration::from_millis(999)).unwrap();
}

#[test]
fn curve_wrong_server_key_fails_the_hello() {
    let keys = KeyPair::generate();
    let impostor = KeyPair::generate();
    let mut pair = Pair::new(
        curve_client(SocketType::Dealer, &impostor),
        curve_server(SocketType::Router, &keys),
    );
    let e = pair.drive().unwrap_err();
    assert_eq!(e.side, Side::Server);
    assert!(matches!(
        e.error,
        ProtocolError::Cryptographic { command: "HELLO" }
    ));
    assert_eq!(
        e.error.zmq_protocol_error_code(),
        crate::error::codes::ZMTP_CRYPTOGRAPHIC
    );
}

#[test]
fn curve_refusal_sends_a_plaintext_error() {
    let keys = KeyPair::generate();
    let mut pair = Pair::new(
        curve_client(SocketType::Dealer, &keys),
        curve_server(SocketType::Router, &keys),
    );
    zap_request(&mut pair);
    let refused = ZapReply {
        status: 400,
        ..ZapReply::ok("")
    };
    assert!(pair
        .server
        .handle_zap(ZapOutcome::Reply(refused), pair.now())
        .is_err());
    let e = pair.drive().unwrap_err();
    assert_eq!(e.side, Side::Client);
    assert_eq!(e.error.zap_status_code(), Some(400));
}

#[test]
fn curve_replayed_message_fails_with_invalid_nonce() {
    let keys = KeyPair::generate();
    let mut pair = curve_pair(
        curve_client(SocketType::Dealer, &keys),
        curve_server(SocketType::Router, &keys),
    );
    let before = pair.client_sent.len();
    pair.client.send(Msg::copy_from_slice(b"once")).unwrap();
    pair.drive().unwrap();
    assert_eq!(messages(&mut pair.server).len(), 1);
    let replay = pair.client_sent[before..].to_vec();
    let mut buf = bytes::BytesMut::from(&replay[..]);
    let e = pair.server.handle_input(&mut buf, pair.now()).unwrap_err();
    assert!(matches!(e, ProtocolError::InvalidNonce { .. }), "{e:?}");
}

#[test]
fn curve_without_keys_fails_at_the_start_of_the_handshake() {
    let mut client = SessionConfig::new(SocketType::Dealer);
    client.mechanism = Mechanism::Curve;
    let keys = KeyPair::generate();
    let mut pair = Pair::new(client, curve_server(SocketType::Router, &keys));
    let e = pair.drive().unwrap_err();
    assert_eq!(e.side, Side::Client);
    assert!(matches!(e.error, ProtocolError::KeyExchange { .. }));
}

#[test]
fn every_mechanism_handshake_times_out_even_while_zap_decides() {
    let keys = KeyPair::generate();
    let ivl = std::time::Duration::from_secs(5);
    let cases = [
        (plain_client("a", "b"), plain_server()),
        (
            curve_client(SocketType::Dealer, &keys),
            curve_server(SocketType::Router, &keys),
        ),
    ];
    for (client, server) in cases {
        let server = SessionConfig {
            handshake_ivl: Some(ivl),
            ..server
        };
        let mut pair = Pair::new(client, server);
        // The server asks ZAP and never hears back.
        zap_request(&mut pair);
        let e = pair.advance(ivl).unwrap_err();
        assert_eq!(e.side, Side::Server);
        assert_eq!(e.error, ProtocolError::HandshakeTimeout);
    }
}
