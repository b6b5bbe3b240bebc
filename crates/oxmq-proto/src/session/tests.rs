use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::command::encode_property;
use crate::testing::{Pair, PairError, Side};

// ---- helpers: a hand-driven peer -------------------------------------------------------------

fn greeting_bytes(minor: u8, mechanism: &[u8]) -> Vec<u8> {
    let mut g = Greeting::new(Mechanism::Null, false, 0).encode();
    g[greeting::MINOR_POS] = minor;
    g[12..32].fill(0);
    g[12..12 + mechanism.len()].copy_from_slice(mechanism);
    g.to_vec()
}

fn command_frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let h = FrameHeader::new(body.len() as u64, false, true);
    let mut hdr = [0u8; frame::MAX_HEADER_SIZE];
    let n = frame::encode_header(&h, &mut hdr);
    out.extend_from_slice(&hdr[..n]);
    out.extend_from_slice(body);
    out
}

fn data_frame(body: &[u8], more: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let h = FrameHeader::new(body.len() as u64, more, false);
    let mut hdr = [0u8; frame::MAX_HEADER_SIZE];
    let n = frame::encode_header(&h, &mut hdr);
    out.extend_from_slice(&hdr[..n]);
    out.extend_from_slice(body);
    out
}

fn ready_frame(props: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = b"\x05READY".to_vec();
    for (n, v) in props {
        encode_property(&mut body, n.as_bytes(), v).unwrap();
    }
    command_frame(&body)
}

fn transmit(s: &mut Session) -> Vec<u8> {
    let mut w = WriteBuf::new();
    s.poll_transmit(&mut w);
    w.to_vec()
}

fn feed(s: &mut Session, bytes: &[u8]) -> Result<BytesMut, ProtocolError> {
    let mut buf = BytesMut::from(bytes);
    s.handle_input(&mut buf, Instant::now())?;
    Ok(buf)
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn session(ty: SocketType) -> Session {
    Session::new(SessionConfig::new(ty), Instant::now())
}

/// A session of type `ty` that has completed its handshake with a hand-driven peer of type
/// `peer` announcing ZMTP 3.`minor`. Its output so far is discarded.
fn ready_session(ty: SocketType, peer: SocketType, minor: u8) -> Session {
    let mut s = session(ty);
    let mut input = greeting_bytes(minor, b"NULL");
    input.extend(ready_frame(&[("Socket-Type", peer.as_str().as_bytes())]));
    let rest = feed(&mut s, &input).unwrap();
    assert!(rest.is_empty());
    assert!(s.is_ready());
    transmit(&mut s);
    assert!(matches!(s.poll_event(), Some(Event::HandshakeDone(_))));
    s
}

fn handshake(client: SocketType, server: SocketType) -> (Pair, Result<(), PairError>) {
    let mut pair = Pair::new(SessionConfig::new(client), SessionConfig::new(server));
    let r = pair.drive();
    (pair, r)
}

// ---- greeting --------------------------------------------------------------------------------

#[test]
fn greeting_is_sent_in_three_steps_like_libzmq() {
    let mut s = session(SocketType::Dealer);
    assert_eq!(transmit(&mut s), greeting_bytes(1, b"NULL")[..10].to_vec());

    let peer = greeting_bytes(1, b"NULL");
    feed(&mut s, &peer[..9]).unwrap();
    assert!(
        transmit(&mut s).is_empty(),
        "nothing more before the peer's signature"
    );
    feed(&mut s, &peer[9..10]).unwrap();
    assert_eq!(
        transmit(&mut s),
        vec![3],
        "major version after the peer's signature"
    );
    feed(&mut s, &peer[10..11]).unwrap();
    assert_eq!(
        transmit(&mut s),
        greeting_bytes(1, b"NULL")[11..].to_vec(),
        "the rest after the peer's major version"
    );
    feed(&mut s, &peer[11..63]).unwrap();
    assert!(transmit(&mut s).is_empty());
    assert_eq!(s.input_needed(), 1);
    feed(&mut s, &peer[63..]).unwrap();
    // READY follows the complete greeting.
    let ready = transmit(&mut s);
    assert_eq!(&ready[2..8], b"\x05READY");
}

#[test]
fn golden_null_greeting_and_dealer_ready() {
    let cfg = SessionConfig {
        routing_id: Bytes::from_static(b"id1"),
        ..SessionConfig::new(SocketType::Dealer)
    };
    let mut s = Session::new(cfg, Instant::now());
    let mut sent = transmit(&mut s);
    feed(&mut s, &greeting_bytes(1, b"NULL")).unwrap();
    sent.extend(transmit(&mut s));

    let mut expected = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 4, 0x7F, 3, 1];
    expected.extend_from_slice(b"NULL");
    expected.extend_from_slice(&[0; 16]);
    expected.push(0); // as-server
    expected.extend_from_slice(&[0; 31]);
    assert_eq!(expected.len(), 64);
    // READY: command flag, short size 0x2c = 6 + (1+11+4+6) + (1+8+4+3)
    expected.extend_from_slice(b"\x04\x2c\x05READY");
    expected.extend_from_slice(b"\x0bSocket-Type\x00\x00\x00\x06DEALER");
    expected.extend_from_slice(b"\x08Identity\x00\x00\x00\x03id1");
    assert_eq!(sent, expected);
}

/// Bytes captured from libzmq 4.3.5 (pyzmq 27.3) for a DEALER with routing id "abc" and
/// `ZMQ_METADATA` "X-Foo:bar", talking to a raw TCP client that played a ROUTER; oxmq must send
/// the same bytes at the same steps.
#[test]
fn golden_bytes_match_a_libzmq_4_3_5_capture() {
    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    let cfg = SessionConfig {
        routing_id: Bytes::from_static(b"abc"),
        extra_properties: vec![("X-Foo".into(), Bytes::from_static(b"bar"))],
        ..SessionConfig::new(SocketType::Dealer)
    };
    let mut s = Session::new(cfg, Instant::now());
    assert_eq!(transmit(&mut s), hex("ff00000000000000047f"));
    feed(&mut s, b"\xff\0\0\0\0\0\0\0\x01\x7f").unwrap();
    assert_eq!(transmit(&mut s), hex("03"));
    feed(&mut s, b"\x03").unwrap();
    let mut rest = hex("014e554c4c");
    rest.resize(53, 0);
    assert_eq!(transmit(&mut s), rest);
    let mut tail = b"\x01NULL".to_vec();
    tail.resize(53, 0);
    feed(&mut s, &tail).unwrap();
    assert_eq!(
        transmit(&mut s),
        hex(concat!(
            "04390552454144590b536f636b65742d54797065000000064445414c45520849",
            "64656e746974790000000361626305582d466f6f00000003626172"
        ))
    );
    let mut input = ready_frame(&[("Socket-Type", b"ROUTER")]);
    input.extend_from_slice(b"\x04\x07\x04PING\x00\x0a\x04\x09\x04PING\x00\x0aab");
    feed(&mut s, &input).unwrap();
    assert_eq!(transmit(&mut s), hex("040504504f4e47040704504f4e476162"));
}

#[test]
fn identity_is_sent_empty_for_req_dealer_router_and_never_for_others() {
    for ty in [SocketType::Req, SocketType::Dealer, SocketType::Router] {
        let mut s = session(ty);
        transmit(&mut s);
        feed(&mut s, &greeting_bytes(1, b"NULL")).unwrap();
        let ready = transmit(&mut s);
        assert!(
            ready.ends_with(b"\x08Identity\x00\x00\x00\x00"),
            "{ty}: {ready:?}"
        );
    }
    let mut s = session(SocketType::Pub);
    transmit(&mut s);
    feed(&mut s, &greeting_bytes(1, b"NULL")).unwrap();
    let ready = transmit(&mut s);
    assert!(ready.ends_with(b"\x0bSocket-Type\x00\x00\x00\x03PUB"));
}

#[test]
fn bad_signature_is_rejected() {
    let mut s = session(SocketType::Pair);
    assert_eq!(
        feed(&mut s, b"GET / HTTP/1.1\r\n"),
        Err(ProtocolError::BadGreeting)
    );
    // The session stays failed.
    assert_eq!(feed(&mut s, b""), Err(ProtocolError::BadGreeting));
    assert_eq!(
        s.handle_timeout(Instant::now()),
        Err(ProtocolError::BadGreeting)
    );

    let mut s = session(SocketType::Pair);
    let mut g = greeting_bytes(1, b"NULL");
    g[9] = 0x00;
    assert_eq!(feed(&mut s, &g[..10]), Err(ProtocolError::BadGreeting));
}

#[test]
fn zmtp_1_peers_are_unsupported_and_get_no_v3_greeting() {
    let mut s = session(SocketType::Pair);
    let mut g = greeting_bytes(1, b"NULL");
    g[10] = 0;
    assert_eq!(
        feed(&mut s, &g[..12]),
        Err(ProtocolError::UnsupportedVersion { major: 1 })
    );
    // Signature and major version only.
    assert_eq!(transmit(&mut s).len(), 11);
}

/// A ZMTP 2.0 greeting: signature, revision 1, socket type.
fn v2_greeting(ty: SocketType) -> Vec<u8> {
    let mut g = greeting_bytes(1, b"NULL")[..10].to_vec();
    g.push(1);
    g.push(ty.to_raw() as u8);
    g
}

#[test]
fn zmtp_2_peer_gets_a_12_byte_greeting_and_a_routing_id_message() {
    let cfg = SessionConfig {
        routing_id: Bytes::from_static(b"me"),
        ..SessionConfig::new(SocketType::Dealer)
    };
    let mut s = Session::new(cfg, Instant::now());
    let mut sent = transmit(&mut s);
    let mut input = v2_greeting(SocketType::Router);
    input.extend(data_frame(b"peer-id", false));
    input.extend(data_frame(b"hello", true));
    input.extend(data_frame(b"world", false));
    // Greeting and identity in pieces, the rest in one go.
    feed(&mut s, &input[..11]).unwrap();
    let rest = feed(&mut s, &input[11..]).unwrap();
    assert!(rest.is_empty());
    sent.extend(transmit(&mut s));
    let mut expected = greeting_bytes(1, b"NULL")[..10].to_vec();
    expected[8] = 3; // routing id size + 1
    expected.extend_from_slice(&[3, SocketType::Dealer.to_raw() as u8]);
    expected.extend(data_frame(b"me", false));
    assert_eq!(sent, expected);

    let ev = events(&mut s);
    let Event::HandshakeDone(info) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(info.socket_type, SocketType::Router);
    assert_eq!(info.routing_id, Some(Bytes::from_static(b"peer-id")));
    assert_eq!((info.zmtp_major, info.zmtp_minor), (2, 0));
    assert!(info.properties.is_empty());
    assert_eq!(
        ev[1..].to_vec(),
        vec![
            Event::Message(Msg::from("hello").with_more(true)),
            Event::Message(Msg::from("world"))
        ]
    );
    assert_eq!(s.poll_timeout(), None, "no heartbeats or handshake timer");
}

#[test]
fn zmtp_2_peer_gets_subscriptions_as_messages_and_is_type_checked() {
    let mut s = session(SocketType::Sub);
    let mut input = v2_greeting(SocketType::Pub);
    input.extend(data_frame(b"", false));
    feed(&mut s, &input).unwrap();
    transmit(&mut s);
    assert!(s.is_ready());
    assert_eq!(s.peer().unwrap().routing_id, None);
    s.send(Msg::subscribe(b"t")).unwrap();
    assert_eq!(transmit(&mut s), data_frame(b"\x01t", false));

    let mut s = session(SocketType::Sub);
    assert_eq!(
        feed(&mut s, &v2_greeting(SocketType::Push)),
        Err(ProtocolError::IncompatibleSocketType {
            local: SocketType::Sub,
            peer: SocketType::Push
        })
    );
    let mut s = session(SocketType::Sub);
    let mut g = v2_greeting(SocketType::Pub);
    g[11] = 42;
    assert!(matches!(
        feed(&mut s, &g),
        Err(ProtocolError::InvalidSocketType { .. })
    ));
}

#[test]
fn zmtp_3_greeting_split_at_byte_12_is_read_whole() {
    let mut s = session(SocketType::Pair);
    let mut input = greeting_bytes(1, b"NULL");
    input.extend(ready_frame(&[("Socket-Type", b"PAIR")]));
    for cut in [11, 12, 13, 63, 64] {
        let mut s2 = session(SocketType::Pair);
        feed(&mut s2, &input[..cut]).unwrap();
        feed(&mut s2, &input[cut..]).unwrap();
        assert!(s2.is_ready(), "cut at {cut}");
    }
    feed(&mut s, &input).unwrap();
    assert!(s.is_ready());
}

#[test]
fn mechanism_mismatch_is_rejected() {
    let mut s = session(SocketType::Pair);
    let err = feed(&mut s, &greeting_bytes(1, b"PLAIN")).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::MechanismMismatch {
            local: "NULL",
            peer: "PLAIN".into()
        }
    );
    assert_eq!(err.zmq_protocol_error_code(), 0x1100_0002);
    // "NULL" followed by garbage instead of NUL padding is another mechanism.
    let mut s = session(SocketType::Pair);
    let mut g = greeting_bytes(1, b"NULL");
    g[16] = b'X';
    assert!(matches!(
        feed(&mut s, &g),
        Err(ProtocolError::MechanismMismatch { .. })
    ));
}

// ---- handshake -------------------------------------------------------------------------------

#[test]
fn every_compatible_pair_completes_and_every_other_fails() {
    let types: Vec<_> = SocketType::ALL
        .into_iter()
        .filter(|t| *t != SocketType::Stream)
        .collect();
    for &c in &types {
        for &s in &types {
            let (mut pair, r) = handshake(c, s);
            if c.is_compatible(s) {
                assert_eq!(r, Ok(()), "{c} -> {s}");
                for (side, peer_ty) in [(&mut pair.client, s), (&mut pair.server, c)] {
                    assert!(side.is_ready());
                    match side.poll_event() {
                        Some(Event::HandshakeDone(info)) => {
                            assert_eq!(info.socket_type, peer_ty);
                            assert_eq!(info.zmtp_minor, 1);
                            assert_eq!(info.routing_id, None);
                        }
                        other => panic!("{c} -> {s}: {other:?}"),
                    }
                    assert_eq!(side.poll_event(), None);
                }
            } else {
                let e = r.expect_err("incompatible pair must fail");
                assert!(
                    matches!(e.error, ProtocolError::IncompatibleSocketType { .. }),
                    "{c} -> {s}: {e:?}"
                );
                let sent = match e.side {
                    Side::Client => &pair.client_sent,
                    Side::Server => &pair.server_sent,
                };
                assert!(
                    sent.ends_with(b"\x05ERROR\x18Incompatible Socket-Type"),
                    "ERROR command on the wire"
                );
            }
        }
    }
}

#[test]
fn incompatible_socket_type_queues_error_then_fails() {
    let mut s = session(SocketType::Push);
    transmit(&mut s);
    let mut input = greeting_bytes(1, b"NULL");
    input.extend(ready_frame(&[("Socket-Type", b"PUB")]));
    let err = feed(&mut s, &input).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::IncompatibleSocketType {
            local: SocketType::Push,
            peer: SocketType::Pub
        }
    );
    let out = transmit(&mut s);
    let error_cmd = command_frame(b"\x05ERROR\x18Incompatible Socket-Type");
    assert!(out.ends_with(&error_cmd));
    assert!(!s.is_ready());
    assert_eq!(s.send(Msg::from("x")), Err(err));
}

#[test]
fn missing_and_unknown_socket_types_are_rejected() {
    let mut s = session(SocketType::Pair);
    let mut input = greeting_bytes(1, b"NULL");
    input.extend(ready_frame(&[("X-Foo", b"bar")]));
    assert_eq!(feed(&mut s, &input), Err(ProtocolError::MissingSocketType));
    assert!(transmit(&mut s).ends_with(b"\x05ERROR\x13Missing Socket-Type"));

    let mut s = session(SocketType::Pair);
    let mut input = greeting_bytes(1, b"NULL");
    input.extend(ready_frame(&[("Socket-Type", b"pair")]));
    assert_eq!(
        feed(&mut s, &input),
        Err(ProtocolError::InvalidSocketType {
            name: "pair".into()
        })
    );
}

#[test]
fn property_names_are_case_insensitive_and_all_are_reported() {
    let mut s = session(SocketType::Router);
    let mut input = greeting_bytes(1, b"NULL");
    input.extend(ready_frame(&[
        ("socket-TYPE", b"DEALER"),
        ("IDENTITY", b"peer-7"),
        ("X-Custom", b"v"),
    ]));
    feed(&mut s, &input).unwrap();
    let Some(Event::HandshakeDone(info)) = s.poll_event() else {
        panic!("no handshake");
    };
    assert_eq!(info.socket_type, SocketType::Dealer);
    assert_eq!(info.routing_id, Some(Bytes::from_static(b"peer-7")));
    assert_eq!(info.properties.len(), 3);
    assert_eq!(
        info.properties[2],
        ("X-Custom".to_string(), Bytes::from_static(b"v"))
    );
    assert_eq!(s.peer(), Some(&info));
}

#[test]
fn empty_identity_is_no_routing_id() {
    let mut s = session(SocketType::Router);
    let mut input = greeting_bytes(1, b"NULL");
    input.extend(ready_frame(&[
        ("Socket-Type", b"DEALER"),
        ("Identity", b""),
    ]));
    feed(&mut s, &input).unwrap();
    assert_eq!(s.peer().unwrap().routing_id, None);
}

#[test]
fn malformed_ready_properties_are_rejected() {
    for tail in [
        &b"\x0bSocket-Type\x00\x00\x00\x09PAIR"[..], // value longer than the body
        b"\x0bSocket-Type\x00\x00\x00\x04PAIR\x00",  // one trailing byte
        b"\x20Socket-Type",                          // name longer than the body
        b"\x0bSocket-Type\x00\x00",                  // truncated value length
    ] {
        let mut s = session(SocketType::Pair);
        let mut input = greeting_bytes(1, b"NULL");
        let mut body = b"\x05READY".to_vec();
        body.extend_from_slice(tail);
        input.extend(command_frame(&body));
        let err = feed(&mut s, &input).unwrap_err();
        assert!(
            matches!(err, ProtocolError::MalformedMetadata { .. }),
            "{tail:?}: {err:?}"
        );
        assert_eq!(err.zmq_protocol_error_code(), 0x1000_0018);
    }
}

#[test]
fn peer_error_command_fails_the_handshake() {
    let mut s = session(SocketType::Pair);
    let mut input = greeting_bytes(1, b"NULL");
    input.extend(command_frame(b"\x05ERROR\x03400"));
    let err = feed(&mut s, &input).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::PeerError {
            reason: "400".into()
        }
    );
    assert_eq!(err.zap_status_code(), Some(400));

    let mut s = session(SocketType::Pair);
    let mut input = greeting_bytes(1, b"NULL");
    input.extend(command_frame(b"\x05ERROR\x09short"));
    assert!(matches!(
        feed(&mut s, &input),
        Err(ProtocolError::MalformedCommand { ref command, .. }) if command == "ERROR"
    ));
}

#[test]
fn unexpected_handshake_commands_are_rejected() {
    for body in [&b"\x04PING\x00\x00"[..], b"\x05HELLO", b"", b"\x05READ"] {
        let mut s = session(SocketType::Pair);
        let mut input = greeting_bytes(1, b"NULL");
        input.extend(command_frame(body));
        let err = feed(&mut s, &input).unwrap_err();
        assert!(
            matches!(err, ProtocolError::UnexpectedCommand { .. }),
            "{body:?}: {err:?}"
        );
        assert_eq!(err.zmq_protocol_error_code(), 0x1000_0001);
    }
}

#[test]
fn oversized_handshake_command_is_rejected_before_buffering() {
    let mut s = session(SocketType::Pair);
    let mut input = greeting_bytes(1, b"NULL");
    let size = MAX_HANDSHAKE_COMMAND_SIZE as u64 + 1;
    input.push(0x06);
    input.extend_from_slice(&size.to_be_bytes());
    assert_eq!(
        feed(&mut s, &input),
        Err(ProtocolError::CommandTooLarge {
            size,
            max: MAX_HANDSHAKE_COMMAND_SIZE as u64
        })
    );
}

#[test]
fn send_before_handshake_is_not_ready() {
    let mut s = session(SocketType::Pair);
    assert_eq!(s.send(Msg::from("early")), Err(ProtocolError::NotReady));
}

#[test]
fn handshake_done_precedes_messages_in_the_same_buffer() {
    let mut s = session(SocketType::Pull);
    let mut input = greeting_bytes(1, b"NULL");
    input.extend(ready_frame(&[("Socket-Type", b"PUSH")]));
    input.extend(data_frame(b"first", false));
    feed(&mut s, &input).unwrap();
    let ev = events(&mut s);
    assert!(matches!(ev[0], Event::HandshakeDone(_)));
    assert_eq!(ev[1], Event::Message(Msg::from("first")));
}

// ---- traffic ---------------------------------------------------------------------------------

#[test]
fn messages_round_trip_through_a_pair() {
    let mut pair = Pair::new(
        SessionConfig::new(SocketType::Dealer),
        SessionConfig::new(SocketType::Router),
    )
    .with_chunking(13, 42);
    pair.drive().unwrap();
    events(&mut pair.client);
    events(&mut pair.server);

    let big = Bytes::from((0..100_000u32).map(|i| i as u8).collect::<Vec<_>>());
    let sent = vec![
        Msg::from("part1").with_more(true),
        Msg::new().with_more(true),
        Msg::from(vec![9u8; 300]).with_more(true),
        Msg::from(big.clone()),
        Msg::new(),
        Msg::from(vec![1u8; Msg::INLINE_CAPACITY]),
        Msg::from(vec![2u8; Msg::INLINE_CAPACITY + 1]),
    ];
    for m in &sent {
        pair.client.send(m.clone()).unwrap();
    }
    pair.drive().unwrap();
    let got: Vec<_> = events(&mut pair.server)
        .into_iter()
        .map(|e| match e {
            Event::Message(m) => m,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, sent);
}

#[test]
fn large_bodies_are_split_off_without_copy_and_others_copied_out() {
    let mut s = ready_session(SocketType::Pull, SocketType::Push, 1);
    let mut input = data_frame(&[5u8; COPIED_BODY_MAX + 1], true);
    input.extend(data_frame(&[6u8; COPIED_BODY_MAX], true));
    input.extend(data_frame(b"tiny", false));
    let mut buf = BytesMut::from(&input[..]);
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    s.handle_input(&mut buf, Instant::now()).unwrap();
    assert!(buf.is_empty());
    let Some(Event::Message(big)) = s.poll_event() else {
        panic!()
    };
    assert!(big.more());
    let ptr = big.shared().expect("shared body").as_ptr() as usize;
    assert!(range.contains(&ptr), "body points into the input buffer");
    let Some(Event::Message(medium)) = s.poll_event() else {
        panic!()
    };
    assert!(medium.shared().is_none() && medium.more());
    assert_eq!(medium.data(), &[6u8; COPIED_BODY_MAX][..]);
    let ptr = medium.data().as_ptr() as usize;
    assert!(
        !range.contains(&ptr),
        "a copy: the input buffer is free again"
    );
    let Some(Event::Message(tiny)) = s.poll_event() else {
        panic!()
    };
    assert!(tiny.shared().is_none() && !tiny.more());
}

#[test]
fn bodies_are_split_off_while_the_pool_gets_no_blocks_back() {
    let len = 1000;
    // Blocks given out and not given back, as to an application with a backlog.
    let mut held = Vec::new();
    while crate::pool::recycles(len) {
        held.push(Msg::copy_from_slice(&[1u8; 1000]));
        assert!(held.len() < 100_000, "the pool never stops recycling");
    }
    let decode = |s: &mut Session| {
        let mut buf = BytesMut::from(&data_frame(&[2u8; 1000], false)[..]);
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        s.handle_input(&mut buf, Instant::now()).unwrap();
        let Some(Event::Message(m)) = s.poll_event() else {
            panic!("no message")
        };
        assert_eq!(m.data(), &[2u8; 1000][..]);
        (
            m.shared().is_some(),
            range.contains(&(m.data().as_ptr() as usize)),
        )
    };
    let mut s = ready_session(SocketType::Pull, SocketType::Push, 1);
    assert_eq!(decode(&mut s), (true, true), "shared with the input buffer");
    drop(held);
    assert!(crate::pool::recycles(len));
    assert_eq!(
        decode(&mut s),
        (false, false),
        "blocks came back: copied again"
    );
}

#[test]
fn truncated_frames_stay_pending() {
    let mut s = ready_session(SocketType::Pull, SocketType::Push, 1);
    let frame = data_frame(&[7u8; 600], false);
    let mut buf = BytesMut::from(&frame[..15]);
    s.handle_input(&mut buf, Instant::now()).unwrap();
    assert_eq!(buf.len(), 15, "partial frame left in place");
    assert_eq!(s.input_needed(), 609);
    assert_eq!(s.poll_event(), None);
    buf.extend_from_slice(&frame[15..]);
    s.handle_input(&mut buf, Instant::now()).unwrap();
    assert!(buf.is_empty());
    assert!(matches!(s.poll_event(), Some(Event::Message(m)) if m.len() == 600));

    let mut buf = BytesMut::from(&[0x02u8, 0, 0][..]);
    s.handle_input(&mut buf, Instant::now()).unwrap();
    assert_eq!((buf.len(), s.input_needed()), (3, 9));
}

#[test]
fn frames_over_max_msg_size_are_rejected() {
    let cfg = SessionConfig {
        max_msg_size: Some(30),
        ..SessionConfig::new(SocketType::Pull)
    };
    let mut s = Session::new(cfg, Instant::now());
    let mut input = greeting_bytes(1, b"NULL");
    input.extend(ready_frame(&[("Socket-Type", b"PUSH")]));
    input.extend(data_frame(&[0u8; 30], false));
    input.extend(data_frame(&[0u8; 31], false));
    assert_eq!(
        feed(&mut s, &input),
        Err(ProtocolError::FrameTooLarge { size: 31, max: 30 })
    );
    // The frame that fitted was still delivered.
    let ev = events(&mut s);
    assert_eq!(ev.len(), 2);
}

#[test]
fn max_msg_size_applies_to_the_ready_command() {
    let cfg = SessionConfig {
        max_msg_size: Some(8),
        ..SessionConfig::new(SocketType::Pull)
    };
    let mut s = Session::new(cfg, Instant::now());
    let mut input = greeting_bytes(1, b"NULL");
    input.extend(ready_frame(&[("Socket-Type", b"PUSH")]));
    assert!(matches!(
        feed(&mut s, &input),
        Err(ProtocolError::FrameTooLarge { max: 8, .. })
    ));
}

#[test]
fn huge_long_frame_is_a_typed_error_not_an_allocation() {
    let mut s = ready_session(SocketType::Pull, SocketType::Push, 1);
    let mut input = vec![0x02];
    input.extend_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(
        feed(&mut s, &input),
        Err(ProtocolError::FrameTooLarge {
            size: u64::MAX,
            max: frame::MAX_FRAME_SIZE
        })
    );
    let mut s = ready_session(SocketType::Pull, SocketType::Push, 1);
    let mut input = vec![0x06];
    input.extend_from_slice(&(1u64 << 63).to_be_bytes());
    assert!(matches!(
        feed(&mut s, &input),
        Err(ProtocolError::FrameTooLarge { .. })
    ));
}

#[test]
fn reserved_flag_bits_and_long_small_frames_are_accepted_like_libzmq() {
    let mut s = ready_session(SocketType::Pull, SocketType::Push, 1);
    let mut input = vec![0xF9, 2, b'h', b'i'];
    input.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 0, 0, 1, b'x']);
    feed(&mut s, &input).unwrap();
    assert_eq!(
        events(&mut s),
        vec![
            Event::Message(Msg::from("hi").with_more(true)),
            Event::Message(Msg::from("x"))
        ]
    );
}

#[test]
fn ping_gets_pong_with_at_most_16_bytes_of_context() {
    let mut s = ready_session(SocketType::Pull, SocketType::Push, 1);
    let mut input = command_frame(b"\x04PING\x00\x64ctx");
    input.extend(command_frame(b"\x04PING\x00\x01abcdefghijklmnopqrstuvwxyz"));
    input.extend(command_frame(b"\x04PING\x00\x01"));
    feed(&mut s, &input).unwrap();
    let mut expected = command_frame(b"\x04PONGctx");
    expected.extend(command_frame(b"\x04PONGabcdefghijklmnop"));
    expected.extend(command_frame(b"\x04PONG"));
    assert_eq!(transmit(&mut s), expected);
    assert_eq!(s.poll_event(), None);
}

#[test]
fn other_commands_after_handshake_are_dropped_like_libzmq() {
    let mut s = ready_session(SocketType::Pull, SocketType::Push, 1);
    let mut input = command_frame(b"\x04PONGx");
    input.extend(command_frame(b"\x07UNKNOWNdata"));
    input.extend(command_frame(b"\x05READY"));
    input.extend(command_frame(b"\x05ERROR\x01x"));
    input.extend(command_frame(b""));
    input.extend(command_frame(b"\x09SUBSCR"));
    input.extend(command_frame(b"\x04PING\x00"));
    input.extend(data_frame(b"after", false));
    feed(&mut s, &input).unwrap();
    assert_eq!(events(&mut s), vec![Event::Message(Msg::from("after"))]);
    assert!(transmit(&mut s).is_empty());
}

#[test]
fn a_sink_is_asked_to_copy_short_bodies_and_given_long_ones() {
    #[derive(Default)]
    struct Recorder(Vec<(&'static str, Msg)>);
    impl FrameSink for Recorder {
        fn frame(&mut self, msg: Msg) {
            self.0.push(("frame", msg));
        }
        fn copy(&mut self, body: &[u8], more: bool) {
            self.0
                .push(("copy", Msg::copy_from_slice(body).with_more(more)));
        }
    }
    let mut s = ready_session(SocketType::Pull, SocketType::Push, 1);
    let long = vec![9u8; COPIED_BODY_MAX + 1];
    let mut input = data_frame(b"short", true);
    input.extend(data_frame(&long, false));
    let mut buf = BytesMut::from(&input[..]);
    let mut sink = Recorder::default();
    s.handle_input_with(&mut buf, Instant::now(), &mut sink)
        .unwrap();
    assert_eq!(
        sink.0,
        vec![
            ("copy", Msg::from("short").with_more(true)),
            ("frame", Msg::from(long)),
        ]
    );
}

#[test]
fn a_sink_takes_data_frames_as_decoded_until_an_event_is_queued_before_them() {
    let mut s = ready_session(SocketType::XPub, SocketType::Sub, 1);
    let mut input = data_frame(b"one", true);
    input.extend(data_frame(b"two", false));
    input.extend(command_frame(b"\x09SUBSCRIBEnews"));
    input.extend(data_frame(b"three", false));
    let mut buf = BytesMut::from(&input[..]);
    let mut sunk = Vec::new();
    s.handle_input_with(&mut buf, Instant::now(), &mut |m| sunk.push(m))
        .unwrap();
    assert!(buf.is_empty());
    assert_eq!(sunk.len(), 2);
    assert_eq!((sunk[0].data(), sunk[0].more()), (&b"one"[..], true));
    assert_eq!((sunk[1].data(), sunk[1].more()), (&b"two"[..], false));
    // The subscription is queued, so the frame after it is too, behind it.
    assert_eq!(
        events(&mut s),
        vec![
            Event::Message(Msg::subscribe(b"news")),
            Event::Message(Msg::from("three")),
        ]
    );
    let mut buf = BytesMut::from(&data_frame(b"four", false)[..]);
    s.handle_input_with(&mut buf, Instant::now(), &mut |m| sunk.push(m))
        .unwrap();
    assert_eq!(
        sunk.last().map(Msg::data),
        Some(&b"four"[..]),
        "the queue is empty again"
    );
    assert!(events(&mut s).is_empty());
}

#[test]
fn inbound_subscribe_and_cancel_commands_become_flagged_messages() {
    let mut s = ready_session(SocketType::XPub, SocketType::Sub, 1);
    let mut input = command_frame(b"\x09SUBSCRIBEnews");
    input.extend(command_frame(b"\x06CANCELnews"));
    input.extend(command_frame(b"\x09SUBSCRIBE"));
    feed(&mut s, &input).unwrap();
    assert_eq!(
        events(&mut s),
        vec![
            Event::Message(Msg::subscribe(b"news")),
            Event::Message(Msg::cancel(b"news")),
            Event::Message(Msg::subscribe(b"")),
        ]
    );
}

#[test]
fn subscriptions_are_commands_for_zmtp_3_1() {
    let mut s = ready_session(SocketType::Sub, SocketType::Pub, 1);
    s.send(Msg::subscribe(b"topic")).unwrap();
    s.send(Msg::cancel(b"topic")).unwrap();
    let mut expected = command_frame(b"\x09SUBSCRIBEtopic");
    expected.extend(command_frame(b"\x06CANCELtopic"));
    assert_eq!(transmit(&mut s), expected);
}

#[test]
fn subscriptions_are_messages_for_zmtp_3_0() {
    let mut s = ready_session(SocketType::Sub, SocketType::Pub, 0);
    assert_eq!(s.peer().unwrap().zmtp_minor, 0);
    s.send(Msg::subscribe(b"topic")).unwrap();
    s.send(Msg::cancel(b"")).unwrap();
    let mut expected = data_frame(b"\x01topic", false);
    expected.extend(data_frame(b"\x00", false));
    assert_eq!(transmit(&mut s), expected);
}

#[test]
fn subscription_size_crossing_255_uses_a_long_header() {
    let mut s = ready_session(SocketType::Sub, SocketType::Pub, 1);
    let topic = [b't'; 250];
    s.send(Msg::subscribe(&topic)).unwrap();
    let out = transmit(&mut s);
    let (h, n) = frame::decode(&out).unwrap().unwrap();
    assert!(h.is_long() && h.is_command());
    assert_eq!(h.size() as usize, 260);
    assert_eq!(out.len(), n + 260);
}

#[test]
fn pair_subscriptions_with_3_1_and_3_0_peers() {
    // 3.1: the SUB's subscription reaches the XPUB as a SUBSCRIBE command.
    let mut pair = Pair::new(
        SessionConfig::new(SocketType::Sub),
        SessionConfig::new(SocketType::XPub),
    );
    pair.drive().unwrap();
    events(&mut pair.server);
    pair.client.send(Msg::subscribe(b"weather")).unwrap();
    pair.drive().unwrap();
    assert_eq!(
        events(&mut pair.server),
        vec![Event::Message(Msg::subscribe(b"weather"))]
    );

    // The XPUB announces 3.0: the SUB sends "\x01topic" as a data message.
    let mut pair = Pair::new(
        SessionConfig::new(SocketType::Sub),
        SessionConfig::new(SocketType::XPub),
    )
    .with_minor(Side::Server, 0);
    pair.drive().unwrap();
    let Some(Event::HandshakeDone(info)) = pair.client.poll_event() else {
        panic!()
    };
    assert_eq!(info.zmtp_minor, 0);
    events(&mut pair.server);
    pair.client.send(Msg::subscribe(b"weather")).unwrap();
    pair.drive().unwrap();
    assert_eq!(
        events(&mut pair.server),
        vec![Event::Message(Msg::from("\x01weather"))]
    );
}

#[test]
fn command_flagged_msgs_are_sent_as_commands() {
    let mut s = ready_session(SocketType::Pair, SocketType::Pair, 1);
    let mut m = Msg::from("\x04PING\x00\x0a");
    m.set_command(true);
    s.send(m).unwrap();
    assert_eq!(transmit(&mut s), command_frame(b"\x04PING\x00\x0a"));
}

#[test]
fn extra_properties_are_sent_in_ready() {
    let cfg = SessionConfig {
        extra_properties: vec![
            ("X-App".into(), Bytes::from_static(b"demo")),
            ("X".repeat(300), Bytes::new()),
        ],
        ..SessionConfig::new(SocketType::Push)
    };
    let mut pair = Pair::new(cfg, SessionConfig::new(SocketType::Pull));
    pair.drive().unwrap();
    let Some(Event::HandshakeDone(info)) = pair.server.poll_event() else {
        panic!()
    };
    assert_eq!(
        info.properties,
        vec![
            ("Socket-Type".to_string(), Bytes::from_static(b"PUSH")),
            ("X-App".to_string(), Bytes::from_static(b"demo")),
        ]
    );
}

// ---- timers ----------------------------------------------------------------------------------

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Completes a handshake at `t0` with a hand-driven PUSH peer; output discarded.
fn ready_at(cfg: SessionConfig, t0: Instant) -> Session {
    let mut s = Session::new(cfg, t0);
    let mut buf = BytesMut::from(&greeting_bytes(1, b"NULL")[..]);
    buf.extend_from_slice(&ready_frame(&[("Socket-Type", b"PUSH")]));
    s.handle_input(&mut buf, t0).unwrap();
    assert!(s.is_ready());
    transmit(&mut s);
    events(&mut s);
    s
}

#[test]
fn handshake_times_out_after_handshake_ivl() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::new(SocketType::Pull), t0);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(30)));
    s.handle_timeout(t0 + secs(29)).unwrap();
    assert_eq!(
        s.handle_timeout(t0 + secs(30)),
        Err(ProtocolError::HandshakeTimeout)
    );
    assert_eq!(s.poll_timeout(), None);

    let cfg = SessionConfig {
        handshake_ivl: None,
        ..SessionConfig::new(SocketType::Pull)
    };
    let s = Session::new(cfg, t0);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn completed_handshake_cancels_the_handshake_timer() {
    let t0 = Instant::now();
    let mut s = ready_at(SessionConfig::new(SocketType::Pull), t0);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(t0 + secs(3600)).unwrap();
}

#[test]
fn heartbeat_sends_ping_with_ttl_and_times_out_without_traffic() {
    let t0 = Instant::now();
    let cfg = SessionConfig {
        heartbeat_ivl: Some(secs(1)),
        heartbeat_ttl: Duration::from_millis(5_099),
        ..SessionConfig::new(SocketType::Pull)
    };
    let mut s = ready_at(cfg, t0);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(1)));
    s.handle_timeout(t0 + secs(1)).unwrap();
    assert_eq!(transmit(&mut s), command_frame(b"\x04PING\x00\x32"));
    // Next PING and the timeout (defaulting to the interval) are both due at t0 + 2 s.
    assert_eq!(s.poll_timeout(), Some(t0 + secs(2)));

    // Any frame from the peer cancels the timeout.
    let mut buf = BytesMut::from(&command_frame(b"\x04PONG")[..]);
    s.handle_input(&mut buf, t0 + Duration::from_millis(1500))
        .unwrap();
    s.handle_timeout(t0 + secs(2)).unwrap();
    assert_eq!(transmit(&mut s), command_frame(b"\x04PING\x00\x32"));

    // Silence: the timeout started by the second PING fires.
    assert_eq!(
        s.handle_timeout(t0 + secs(3)),
        Err(ProtocolError::HeartbeatTimeout)
    );
}

#[test]
fn zero_heartbeat_timeout_disables_it() {
    let t0 = Instant::now();
    let cfg = SessionConfig {
        heartbeat_ivl: Some(secs(1)),
        heartbeat_timeout: Some(Duration::ZERO),
        ..SessionConfig::new(SocketType::Pull)
    };
    let mut s = ready_at(cfg, t0);
    for i in 1..10 {
        s.handle_timeout(t0 + secs(i)).unwrap();
    }
    assert_eq!(transmit(&mut s).len(), 9 * 9);
}

#[test]
fn peer_ping_ttl_expires_unless_traffic_follows() {
    let t0 = Instant::now();
    let mut s = ready_at(SessionConfig::new(SocketType::Pull), t0);
    let mut buf = BytesMut::from(&command_frame(b"\x04PING\x00\x0a")[..]);
    s.handle_input(&mut buf, t0).unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + secs(1)));

    // Traffic after the PING cancels the TTL, like libzmq.
    let mut buf = BytesMut::from(&data_frame(b"x", false)[..]);
    s.handle_input(&mut buf, t0 + Duration::from_millis(500))
        .unwrap();
    assert_eq!(s.poll_timeout(), None);

    // A PING as the last frame of a batch starts it again; silence then kills the session.
    let mut input = data_frame(b"y", false);
    input.extend(command_frame(b"\x04PING\x00\x0a"));
    let mut buf = BytesMut::from(&input[..]);
    s.handle_input(&mut buf, t0 + secs(2)).unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + secs(3)));
    assert_eq!(
        s.handle_timeout(t0 + secs(3)),
        Err(ProtocolError::HeartbeatTimeout)
    );
}

#[test]
fn pair_heartbeats_keep_a_quiet_connection_alive() {
    let hb = |ty| SessionConfig {
        heartbeat_ivl: Some(secs(1)),
        heartbeat_ttl: secs(3),
        ..SessionConfig::new(ty)
    };
    let mut pair = Pair::new(hb(SocketType::Dealer), hb(SocketType::Router));
    pair.drive().unwrap();
    for _ in 0..20 {
        pair.advance(Duration::from_millis(500)).unwrap();
        pair.drive().unwrap();
    }
    assert!(pair.client.is_ready() && pair.server.is_ready());
}

// ---- properties ------------------------------------------------------------------------------

fn arb_msgs() -> impl Strategy<Value = Vec<(Vec<u8>, bool)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..=48),
                proptest::collection::vec(any::<u8>(), 200..=300),
                proptest::collection::vec(any::<u8>(), 1000..3000),
            ],
            any::<bool>(),
        ),
        0..20,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn frames_round_trip_in_arbitrary_chunks(msgs in arb_msgs(), chunk in 1usize..600, seed: u64) {
        let mut pair = Pair::new(
            SessionConfig::new(SocketType::Push),
            SessionConfig::new(SocketType::Pull),
        )
        .with_chunking(chunk, seed);
        pair.drive().unwrap();
        events(&mut pair.server);
        let sent: Vec<Msg> = msgs
            .into_iter()
            .map(|(b, more)| Msg::from(b).with_more(more))
            .collect();
        for m in &sent {
            pair.client.send(m.clone()).unwrap();
        }
        pair.drive().unwrap();
        let got: Vec<Event> = events(&mut pair.server);
        let expected: Vec<Event> = sent.into_iter().map(Event::Message).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn decoder_never_panics_before_handshake(bytes in proptest::collection::vec(any::<u8>(), 0..200), split in 0usize..200) {
        let mut s = session(SocketType::Dealer);
        let mut input = greeting_bytes(1, b"NULL");
        input.extend_from_slice(&bytes);
        let split = split.min(input.len());
        let mut buf = BytesMut::from(&input[..split]);
        if s.handle_input(&mut buf, Instant::now()).is_ok() {
            buf.extend_from_slice(&input[split..]);
            let _ = s.handle_input(&mut buf, Instant::now());
        }
        let _ = events(&mut s);
    }

    #[test]
    fn decoder_never_panics_on_raw_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut s = session(SocketType::Dealer);
        let _ = feed(&mut s, &bytes);
    }

    #[test]
    fn decoder_never_panics_after_handshake(bytes in proptest::collection::vec(any::<u8>(), 0..300), split in 0usize..300) {
        let mut s = ready_session(SocketType::XPub, SocketType::Sub, 1);
        let split = split.min(bytes.len());
        let mut buf = BytesMut::from(&bytes[..split]);
        if s.handle_input(&mut buf, Instant::now()).is_ok() {
            buf.extend_from_slice(&bytes[split..]);
            if s.handle_input(&mut buf, Instant::now()).is_ok() {
                prop_assert!(buf.len() < s.input_needed());
            }
        }
        let _ = events(&mut s);
        let _ = transmit(&mut s);
    }
}

/// Decode throughput on 64 KiB buffers of small frames. Run with
/// `cargo test -p oxmq-proto --release -- --ignored --nocapture decode_throughput`.
#[test]
#[ignore = "measurement, not a check"]
fn decode_throughput() {
    for body_len in [0usize, 16, 40, 256] {
        let mut s = ready_session(SocketType::Pull, SocketType::Push, 1);
        let frame = data_frame(&vec![7u8; body_len], false);
        let per_buf = 65536 / frame.len();
        let mut input = Vec::with_capacity(per_buf * frame.len());
        for _ in 0..per_buf {
            input.extend_from_slice(&frame);
        }
        let rounds = 2_000_000 / per_buf + 1;
        let mut buf = BytesMut::with_capacity(input.len());
        let start = std::time::Instant::now();
        let mut n = 0usize;
        for _ in 0..rounds {
            buf.clear();
            buf.extend_from_slice(&input);
            s.handle_input(&mut buf, Instant::now()).unwrap();
            while let Some(ev) = s.poll_event() {
                std::hint::black_box(&ev);
                n += 1;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{body_len:>4} B bodies: {:.1} M frames/s ({:.0} MB/s)",
            n as f64 / secs / 1e6,
            (n * frame.len()) as f64 / secs / 1e6
        );
    }
}

/// Encode throughput: `send` of small frames plus one `poll_transmit` per 1000. Run like
/// [`decode_throughput`].
#[test]
#[ignore = "measurement, not a check"]
fn encode_throughput() {
    for body_len in [16usize, 256, 4096] {
        let mut s = ready_session(SocketType::Push, SocketType::Pull, 1);
        let msg = Msg::from(vec![7u8; body_len]);
        let mut out = WriteBuf::new();
        let start = std::time::Instant::now();
        let n = 2_000_000usize;
        for i in 0..n {
            s.send(msg.clone()).unwrap();
            if i % 1000 == 999 {
                s.poll_transmit(&mut out);
                std::hint::black_box(out.len());
                out.advance(out.len());
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{body_len:>4} B bodies: {:.1} M frames/s encoded",
            n as f64 / secs / 1e6
        );
    }
}
