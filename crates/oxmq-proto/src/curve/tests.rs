use std::sync::{LazyLock, Mutex};

use proptest::prelude::*;

use super::*;
use crate::{command, flags};

/// A client and a server that know each other's long-term keys, before any command.
struct Setup {
    client_keys: KeyPair,
    server_keys: KeyPair,
    client: CurveClient,
    server: CurveServer,
}

/// Every command of one handshake, and the machines after it.
struct Handshake {
    hello: Vec<u8>,
    welcome: Vec<u8>,
    initiate: Vec<u8>,
    ready: Vec<u8>,
    client_key: PublicKey,
    /// The client's metadata as the server got it, and the reverse.
    client_metadata: Vec<u8>,
    server_metadata: Vec<u8>,
    client: CurveCipher,
    server: CurveCipher,
}

fn setup() -> Setup {
    let client_keys = KeyPair::generate();
    let server_keys = KeyPair::generate();
    Setup {
        client: CurveClient::new(
            client_keys.public,
            client_keys.secret.clone(),
            server_keys.public,
        ),
        server: CurveServer::new(server_keys.secret.clone()),
        client_keys,
        server_keys,
    }
}

fn metadata(socket_type: &str) -> Vec<u8> {
    let mut out = Vec::new();
    command::encode_property(&mut out, b"Socket-Type", socket_type.as_bytes()).expect("short");
    command::encode_property(&mut out, b"Identity", b"").expect("short");
    out
}

fn handshake_with(client_metadata: &[u8], server_metadata: &[u8]) -> (Setup, Handshake) {
    let mut s = setup();
    let hello = s.client.hello();
    let welcome = s.server.on_hello(&hello).expect("HELLO accepted");
    let initiate = s
        .client
        .on_welcome(&welcome, client_metadata)
        .expect("WELCOME accepted");
    let (client_key, got_client_metadata) = s.server.on_initiate(&initiate).expect("INITIATE");
    let (ready, server) = s.server.ready(server_metadata).expect("READY made");
    let (got_server_metadata, client) = s.client.on_ready(&ready).expect("READY accepted");
    let h = Handshake {
        hello,
        welcome,
        initiate,
        ready,
        client_key,
        client_metadata: got_client_metadata,
        server_metadata: got_server_metadata,
        client,
        server,
    };
    (s, h)
}

fn handshake() -> Handshake {
    handshake_with(&metadata("DEALER"), &metadata("ROUTER")).1
}

fn hex(s: &str) -> [u8; KEY_SIZE] {
    let mut out = [0u8; KEY_SIZE];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

fn flip(body: &[u8], at: usize) -> Vec<u8> {
    let mut body = body.to_vec();
    body[at] ^= 0x01;
    body
}

/// The client's keys while it waits for WELCOME.
fn client_keys(client: &CurveClient) -> &ClientKeys {
    match &client.state {
        ClientState::Welcome(keys) => keys,
        _ => panic!("client is past WELCOME"),
    }
}

/// The server's cookie key while it waits for INITIATE.
fn cookie_key(server: &CurveServer) -> [u8; KEY_SIZE] {
    match &server.state {
        ServerState::Initiate { cookie_key } => **cookie_key,
        _ => panic!("server is not waiting for INITIATE"),
    }
}

/// The client's short-term box while it waits for READY.
fn ready_box(client: &CurveClient) -> &SalsaBox {
    match &client.state {
        ClientState::Ready { shared } => shared,
        _ => panic!("client is not waiting for READY"),
    }
}

/// The server's short-term secret s', out of the cookie it sent.
fn server_short_secret(server: &CurveServer, cookie: &[u8; COOKIE_SIZE]) -> SecretKey {
    let (nonce, rest) = cookie.split_first_chunk::<16>().expect("cookie nonce");
    let (tag, sealed) = rest.split_first_chunk::<TAG_SIZE>().expect("cookie tag");
    let mut plain = *sealed.first_chunk::<64>().expect("cookie box");
    let opener = XSalsa20Poly1305::new(&cookie_key(server).into());
    open_in_place(&opener, &long_nonce(NONCE_COOKIE, nonce), &mut plain, tag).expect("opens");
    SecretKey(*plain.last_chunk::<KEY_SIZE>().expect("s'"))
}

/// An INITIATE for `welcome` built from chosen parts, to reach the server's later checks.
fn forged_initiate(
    client: &CurveClient,
    welcome: &[u8],
    vouch_secret: &SecretKey,
    client_key: &PublicKey,
    vouch_cn: &PublicKey,
    vouch_server: &PublicKey,
    metadata: &[u8],
) -> Vec<u8> {
    let keys = client_keys(client);
    let (server_cn, cookie) = keys.read_welcome(welcome).expect("WELCOME opens");
    initiate_body(
        &agree(&server_cn, &keys.cn_secret),
        &agree(&server_cn, vouch_secret),
        &cookie,
        client_key,
        vouch_cn,
        vouch_server,
        metadata,
    )
}

#[test]
fn handshake_then_messages_both_ways() {
    let (s, mut h) = handshake_with(&metadata("DEALER"), &metadata("ROUTER"));
    assert_eq!(h.hello.len(), 200);
    assert_eq!(&h.hello[..8], b"\x05HELLO\x01\x00");
    assert_eq!(h.welcome.len(), 168);
    assert_eq!(h.initiate.len(), 257 + metadata("DEALER").len());
    assert_eq!(h.ready.len(), 30 + metadata("ROUTER").len());
    assert_eq!(h.client_key, s.client_keys.public);
    assert_eq!(h.client_metadata, metadata("DEALER"));
    assert_eq!(h.server_metadata, metadata("ROUTER"));
    // INITIATE carries short nonce 2 (HELLO had 1), READY carries 1.
    assert_eq!(h.initiate[105..113], 2u64.to_be_bytes());
    assert_eq!(h.ready[6..14], 1u64.to_be_bytes());

    let big = vec![0xA5u8; 100_000];
    let frames: [(u8, &[u8]); 5] = [
        (0, b"hello"),
        (flags::MORE, b"first part"),
        (flags::COMMAND, b"\x04PING\x00\x00"),
        (flags::MORE | flags::COMMAND, b""),
        (0, &big),
    ];
    for (i, &(f, data)) in frames.iter().enumerate() {
        let body = h.client.seal(f, data);
        assert_eq!(body.len(), 33 + data.len());
        assert_eq!(&body[..8], b"\x07MESSAGE");
        // The client's MESSAGE nonces follow its INITIATE's.
        assert_eq!(body[8..16], (3 + i as u64).to_be_bytes());
        assert_eq!(h.server.open(&body), Ok((f, Bytes::copy_from_slice(data))));

        let body = h.server.seal(f, data);
        assert_eq!(body[8..16], (2 + i as u64).to_be_bytes());
        let opened = h.client.open_in_place(BytesMut::from(&body[..]));
        assert_eq!(opened, Ok((f, Bytes::copy_from_slice(data))));
    }
    // Reserved flag bits are not sent.
    let body = h.client.seal(0xFF, b"x");
    assert_eq!(h.server.open(&body), Ok((3, Bytes::from_static(b"x"))));
}

#[test]
fn seal_into_appends_to_what_is_there() {
    let mut h = handshake();
    let mut out = BytesMut::from(&b"header"[..]);
    h.client.seal_into(flags::MORE, b"payload", &mut out);
    assert_eq!(&out[..6], b"header");
    assert_eq!(out.len(), 6 + MESSAGE_OVERHEAD + 7);
    assert_eq!(
        h.server.open(&out[6..]),
        Ok((flags::MORE, Bytes::from_static(b"payload")))
    );
}

#[test]
fn hello_for_another_server_key_fails_to_open() {
    let client_keys = KeyPair::generate();
    let wrong = KeyPair::generate();
    let server_keys = KeyPair::generate();
    let mut client = CurveClient::new(client_keys.public, client_keys.secret, wrong.public);
    let mut server = CurveServer::new(server_keys.secret);
    assert_eq!(
        server.on_hello(&client.hello()),
        Err(ProtocolError::Cryptographic { command: "HELLO" })
    );
}

#[test]
fn a_tampered_hello_is_refused() {
    let mut s = setup();
    let hello = s.client.hello();
    // The padding (bytes 8..80) is not looked at, by libzmq either.
    for at in (0..8).chain(80..HELLO_SIZE) {
        let result = s.server.read_hello(&flip(&hello, at));
        assert!(result.is_err(), "byte {at} altered, HELLO accepted");
    }
    assert!(s.server.read_hello(&flip(&hello, 40)).is_ok());
    assert!(s.server.on_hello(&flip(&hello, 150)).is_err());
}

#[test]
fn a_tampered_welcome_is_refused() {
    let mut s = setup();
    let welcome = s.server.on_hello(&s.client.hello()).expect("HELLO");
    for at in 0..WELCOME_SIZE {
        let result = client_keys(&s.client).read_welcome(&flip(&welcome, at));
        assert!(result.is_err(), "byte {at} altered, WELCOME accepted");
    }
    assert!(client_keys(&s.client).read_welcome(&welcome).is_ok());
    assert_eq!(
        s.client.on_welcome(&flip(&welcome, 100), b""),
        Err(ProtocolError::Cryptographic { command: "WELCOME" })
    );
}

#[test]
fn a_tampered_initiate_is_refused() {
    let meta = metadata("REQ");
    let mut s = setup();
    let welcome = s.server.on_hello(&s.client.hello()).expect("HELLO");
    let key = cookie_key(&s.server);
    let initiate = s.client.on_welcome(&welcome, &meta).expect("WELCOME");
    for at in 0..initiate.len() {
        let result = s.server.read_initiate(&key, &flip(&initiate, at));
        assert!(result.is_err(), "byte {at} altered, INITIATE accepted");
    }
    assert!(s.server.read_initiate(&key, &initiate).is_ok());
    assert_eq!(
        s.server.on_initiate(&flip(&initiate, 50)),
        Err(ProtocolError::Cryptographic { command: "COOKIE" })
    );
}

#[test]
fn a_tampered_ready_is_refused() {
    let meta = metadata("ROUTER");
    let mut s = setup();
    let welcome = s.server.on_hello(&s.client.hello()).expect("HELLO");
    let initiate = s.client.on_welcome(&welcome, b"").expect("WELCOME");
    s.server.on_initiate(&initiate).expect("INITIATE");
    let (ready, _) = s.server.ready(&meta).expect("READY");
    for at in 0..ready.len() {
        let result = read_ready(ready_box(&s.client), &flip(&ready, at));
        assert!(result.is_err(), "byte {at} altered, READY accepted");
    }
    assert!(read_ready(ready_box(&s.client), &ready).is_ok());
    assert_eq!(
        s.client.on_ready(&flip(&ready, 40)).map(|_| ()),
        Err(ProtocolError::Cryptographic { command: "READY" })
    );
}

#[test]
fn a_tampered_message_is_refused_and_does_not_move_the_nonce_window() {
    let mut h = handshake();
    let body = h.client.seal(flags::MORE, b"some payload");
    for at in 0..body.len() {
        let result = h.server.open(&flip(&body, at));
        assert!(result.is_err(), "byte {at} altered, MESSAGE accepted");
    }
    assert_eq!(
        h.server.open(&body),
        Ok((flags::MORE, Bytes::from_static(b"some payload")))
    );
}

#[test]
fn a_replayed_or_reordered_message_fails_with_invalid_nonce() {
    let mut h = handshake();
    let first = h.client.seal(0, b"one");
    let second = h.client.seal(0, b"two");
    assert!(h.server.open(&first).is_ok());
    assert_eq!(
        h.server.open(&first),
        Err(ProtocolError::InvalidNonce {
            command: "MESSAGE",
            nonce: 3,
            last: 3
        })
    );
    let third = h.client.seal(0, b"three");
    assert!(h.server.open(&third).is_ok());
    assert_eq!(
        h.server.open(&second),
        Err(ProtocolError::InvalidNonce {
            command: "MESSAGE",
            nonce: 4,
            last: 5
        })
    );
}

#[test]
fn a_message_cannot_reuse_the_handshake_nonces() {
    let mut h = handshake();
    // The server accepted INITIATE with nonce 2: a MESSAGE numbered 2 is a replay.
    let mut body = h.client.seal(0, b"x").to_vec();
    body[8..16].copy_from_slice(&2u64.to_be_bytes());
    assert_eq!(
        h.server.open(&body),
        Err(ProtocolError::InvalidNonce {
            command: "MESSAGE",
            nonce: 2,
            last: 2
        })
    );
}

fn assert_malformed<T: std::fmt::Debug>(result: Result<T, ProtocolError>, command: &str) {
    match result {
        Err(ProtocolError::MalformedCommand { command: c, .. }) if c == command => {}
        other => panic!("expected a malformed {command}, got {other:?}"),
    }
}

#[test]
fn short_or_misnamed_commands_are_refused_by_their_checks() {
    let mut s = setup();
    let hello = s.client.hello();
    let mut server = CurveServer::new(s.server_keys.secret.clone());
    assert_malformed(server.on_hello(&hello[..199]), "HELLO");
    let mut long = hello.clone();
    long.push(0);
    let mut server = CurveServer::new(s.server_keys.secret.clone());
    assert_malformed(server.on_hello(&long), "HELLO");
    let mut version = hello.clone();
    version[6] = 2;
    let mut server = CurveServer::new(s.server_keys.secret.clone());
    assert_malformed(server.on_hello(&version), "HELLO");
    let mut server = CurveServer::new(s.server_keys.secret.clone());
    assert_eq!(
        server.on_hello(b"\x05HELL"),
        Err(ProtocolError::UnexpectedCommand {
            name: "HELL".into()
        })
    );

    let welcome = s.server.on_hello(&hello).expect("HELLO");
    assert_malformed(s.client.on_welcome(&welcome[..167], b""), "WELCOME");

    let (mut s, h) = handshake_with(b"", b"");
    s.server = CurveServer::new(s.server_keys.secret.clone());
    s.server.on_hello(&h.hello).expect("HELLO");
    assert_malformed(s.server.on_initiate(&h.initiate[..256]), "INITIATE");

    let mut s = setup();
    let welcome = s.server.on_hello(&s.client.hello()).expect("HELLO");
    let initiate = s.client.on_welcome(&welcome, b"").expect("WELCOME");
    s.server.on_initiate(&initiate).expect("INITIATE");
    let (ready, _) = s.server.ready(b"").expect("READY");
    assert_eq!(ready.len(), 30);
    assert_malformed(s.client.on_ready(&ready[..29]), "READY");

    let mut h = handshake();
    let body = h.client.seal(0, b"");
    assert_eq!(body.len(), 33);
    assert_malformed(h.server.open(&body[..32]), "MESSAGE");
    assert_eq!(
        h.server.open(b"\x07MESS"),
        Err(ProtocolError::UnexpectedCommand {
            name: "MESS".into()
        })
    );
    assert_eq!(
        h.server.open(b""),
        Err(ProtocolError::UnexpectedCommand { name: "".into() })
    );
}

#[test]
fn commands_out_of_order_are_unexpected() {
    let mut s = setup();
    let hello = s.client.hello();
    assert!(matches!(
        s.server.on_initiate(&hello),
        Err(ProtocolError::UnexpectedCommand { .. })
    ));
    let mut server = CurveServer::new(s.server_keys.secret.clone());
    assert!(matches!(
        server.ready(b""),
        Err(ProtocolError::KeyExchange { .. })
    ));
    assert!(matches!(
        s.client.on_ready(b"\x05READY"),
        Err(ProtocolError::UnexpectedCommand { .. })
    ));

    let mut s = setup();
    let hello = s.client.hello();
    s.server.on_hello(&hello).expect("HELLO");
    assert_eq!(
        s.server.on_hello(&hello),
        Err(ProtocolError::UnexpectedCommand {
            name: "HELLO".into()
        })
    );
    // An ERROR is the session's to read; handed here it is just not a WELCOME.
    assert_eq!(
        s.client.on_welcome(b"\x05ERROR\x03400", b""),
        Err(ProtocolError::UnexpectedCommand {
            name: "ERROR".into()
        })
    );
}

#[test]
fn initiate_metadata_is_bounded_by_the_frame() {
    // CVE-2019-13132: libzmq copied INITIATE metadata into a fixed 256-byte stack buffer.
    // Here the metadata is whatever the frame holds after the vouch, however large.
    let mut huge = Vec::new();
    for i in 0..2_000u32 {
        let name = format!("X-Property-{i}");
        command::encode_property(&mut huge, name.as_bytes(), &[b'v'; 40]).expect("short");
    }
    assert!(huge.len() > 100_000);
    let (_, h) = handshake_with(&huge, b"");
    assert_eq!(h.client_metadata, huge);

    // A valid cookie followed by a megabyte of garbage: the box does not open.
    let mut s = setup();
    let welcome = s.server.on_hello(&s.client.hello()).expect("HELLO");
    let initiate = s.client.on_welcome(&welcome, b"").expect("WELCOME");
    let mut garbage = initiate[..INITIATE_HEADER_SIZE].to_vec();
    garbage.extend((0..1_000_000u32).map(|i| i.wrapping_mul(2_654_435_761) as u8));
    assert_eq!(
        s.server.on_initiate(&garbage),
        Err(ProtocolError::Cryptographic {
            command: "INITIATE"
        })
    );

    // Authentic metadata that lies about its sizes is handed over raw, and the property
    // parser refuses it without reading past the end.
    let s = setup();
    let mut server = s.server;
    let welcome = server.on_hello(&s.client.hello).expect("HELLO");
    let mut lying = vec![11];
    lying.extend_from_slice(b"Socket-Type");
    lying.extend_from_slice(&u32::MAX.to_be_bytes());
    lying.extend_from_slice(b"DEALER");
    let initiate = forged_initiate(
        &s.client,
        &welcome,
        &s.client_keys.secret,
        &s.client_keys.public,
        &client_keys(&s.client).cn_public,
        &s.server_keys.public,
        &lying,
    );
    let (key, got) = server.on_initiate(&initiate).expect("authentic INITIATE");
    assert_eq!(key, s.client_keys.public);
    assert_eq!(got, lying);
    assert!(matches!(
        command::properties(&got).next(),
        Some(Err(ProtocolError::MalformedMetadata { .. }))
    ));
}

#[test]
fn a_vouch_for_other_keys_is_a_key_exchange_error() {
    let other = KeyPair::generate();
    for (vouch_cn, vouch_server) in [(true, false), (false, true)] {
        let s = setup();
        let mut server = s.server;
        let welcome = server.on_hello(&s.client.hello).expect("HELLO");
        let cn = client_keys(&s.client).cn_public;
        let initiate = forged_initiate(
            &s.client,
            &welcome,
            &s.client_keys.secret,
            &s.client_keys.public,
            if vouch_cn { &other.public } else { &cn },
            if vouch_server {
                &other.public
            } else {
                &s.server_keys.public
            },
            b"",
        );
        assert!(matches!(
            server.on_initiate(&initiate),
            Err(ProtocolError::KeyExchange { .. })
        ));
    }
}

#[test]
fn a_vouch_signed_by_another_key_fails_to_open() {
    let s = setup();
    let mut server = s.server;
    let welcome = server.on_hello(&s.client.hello).expect("HELLO");
    let initiate = forged_initiate(
        &s.client,
        &welcome,
        &KeyPair::generate().secret,
        &s.client_keys.public,
        &client_keys(&s.client).cn_public,
        &s.server_keys.public,
        b"",
    );
    assert_eq!(
        server.on_initiate(&initiate),
        Err(ProtocolError::Cryptographic { command: "VOUCH" })
    );
}

#[test]
fn the_small_order_list_is_small_order() {
    // With a small-order key the box key takes at most four values, whatever the secret.
    let normal = KeyPair::generate().public;
    for point in SMALL_ORDER_POINTS
        .iter()
        .map(|&p| PublicKey(p))
        .chain([normal])
    {
        let mut probes: Vec<[u8; TAG_SIZE]> = (0..8)
            .map(|_| seal_probe(&agree(&point, &KeyPair::generate().secret)))
            .collect();
        probes.sort_unstable();
        probes.dedup();
        assert_eq!(probes.len() <= 4, point != normal, "{point:?}");
    }
    // The top bit does not count.
    let mut high = SMALL_ORDER_POINTS[2];
    high[KEY_SIZE - 1] |= 0x80;
    assert!(has_small_order(&PublicKey(high)));
    assert!(!has_small_order(&normal));
}

#[test]
fn small_order_peer_keys_are_refused() {
    for point in SMALL_ORDER_POINTS {
        let weak = PublicKey(point);
        // A HELLO from C' = `weak`, whose box a plain X25519 would open: its key is one of a
        // handful that anybody can try.
        let server_keys = KeyPair::generate();
        let guessable = agree(&weak, &server_keys.secret);
        let mut hello = Vec::new();
        hello.extend_from_slice(HELLO);
        hello.extend_from_slice(&CURVEZMQ_VERSION);
        hello.resize(HELLO_PADDING_END, 0);
        hello.extend_from_slice(&point);
        hello.extend_from_slice(&1u64.to_be_bytes());
        let mut signature = [0u8; HELLO_SIGNATURE_SIZE];
        let tag = seal_in_place(&guessable, &short_nonce(NONCE_HELLO, 1), &mut signature);
        hello.extend_from_slice(&tag);
        hello.extend_from_slice(&signature);
        let mut server = CurveServer::new(server_keys.secret);
        assert_eq!(
            server.on_hello(&hello),
            Err(ProtocolError::Cryptographic { command: "HELLO" })
        );

        // An INITIATE whose vouch comes from C = `weak`, sealed with the key the server's
        // X25519 would find.
        let mut s = setup();
        let welcome = s.server.on_hello(&s.client.hello()).expect("HELLO");
        let keys = client_keys(&s.client);
        let (server_cn, cookie) = keys.read_welcome(&welcome).expect("WELCOME");
        let initiate = initiate_body(
            &agree(&server_cn, &keys.cn_secret),
            &agree(&weak, &server_short_secret(&s.server, &cookie)),
            &cookie,
            &weak,
            &keys.cn_public,
            &s.server_keys.public,
            b"",
        );
        assert_eq!(
            s.server.on_initiate(&initiate),
            Err(ProtocolError::Cryptographic { command: "VOUCH" })
        );
    }
}

#[test]
fn generated_key_pairs_match_and_differ() {
    let a = KeyPair::generate();
    let b = KeyPair::generate();
    assert_eq!(a.secret.public_key(), a.public);
    assert_eq!(b.secret.public_key(), b.public);
    assert_ne!(a.public, b.public);
    assert_ne!(a.secret.as_bytes(), b.secret.as_bytes());
}

#[test]
fn public_key_matches_rfc_7748_x25519_test_vector() {
    // RFC 7748 §6.1.
    let alice = SecretKey::from_bytes(hex(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    ));
    let bob = SecretKey::from_bytes(hex(
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    ));
    assert_eq!(
        alice.public_key().as_bytes(),
        &hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        bob.public_key().as_bytes(),
        &hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
}

#[test]
fn libzmq_test_certificates_derive_their_public_keys() {
    // The key pairs libzmq's own CURVE tests use, in Z85.
    let pairs = [
        (
            "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
        ),
        (
            "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
        ),
    ];
    for (secret, public) in pairs {
        let secret = SecretKey::from_z85(secret).expect("valid Z85");
        assert_eq!(secret.public_key().to_z85(), public);
    }
    // RFC 32's example key is the first public key.
    let public = PublicKey::from_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7").expect("Z85");
    assert_eq!(
        public.as_bytes(),
        &hex("54fcba24e93249969316fb617c872bb0c1d1ff14800427c594cbfacf1bc2d652")
    );
}

#[test]
fn keys_take_libzmqs_option_forms() {
    let keys = KeyPair::generate();
    let text = keys.public.to_z85();
    assert_eq!(text.len(), 40);
    assert_eq!(PublicKey::from_z85(&text), Ok(keys.public));
    assert_eq!(PublicKey::from_slice(text.as_bytes()), Ok(keys.public));
    let mut with_nul = text.clone().into_bytes();
    with_nul.push(0);
    assert_eq!(PublicKey::from_slice(&with_nul), Ok(keys.public));
    assert_eq!(
        PublicKey::from_slice(keys.public.as_bytes()),
        Ok(keys.public)
    );

    let secret_text = keys.secret.to_z85();
    let secret = SecretKey::from_slice(secret_text.as_bytes()).expect("Z85");
    assert_eq!(secret.as_bytes(), keys.secret.as_bytes());
    let secret = SecretKey::from_slice(keys.secret.as_bytes()).expect("raw");
    assert_eq!(secret.public_key(), keys.public);

    for len in [0, 31, 33, 39, 42] {
        assert_eq!(
            PublicKey::from_slice(&vec![b'0'; len]),
            Err(KeyError::Length { len })
        );
    }
    // 41 bytes without the NUL.
    let mut forty_one = text.clone().into_bytes();
    forty_one.push(b'0');
    assert_eq!(
        SecretKey::from_slice(&forty_one).map(|_| ()),
        Err(KeyError::Length { len: 41 })
    );
    assert_eq!(
        PublicKey::from_z85(&text[..35]),
        Err(KeyError::Length { len: 35 })
    );
    let mut bad = text.into_bytes();
    bad[3] = b' ';
    assert_eq!(
        PublicKey::from_slice(&bad),
        Err(KeyError::Z85(Z85Error::Character {
            byte: b' ',
            position: 3
        }))
    );
    bad[3] = 0xC3;
    assert!(matches!(
        PublicKey::from_slice(&bad),
        Err(KeyError::Z85(Z85Error::Character { position: 3, .. }))
    ));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let keys = KeyPair::generate();
    assert_eq!(format!("{:?}", keys.secret), "SecretKey(..)");
    let printed = format!("{keys:?}");
    assert!(printed.contains("SecretKey(..)"));
    assert!(!printed.contains(&keys.secret.to_z85()));
    assert!(printed.contains(&keys.public.to_z85()));
    let s = setup();
    assert!(!format!("{:?}", s.server).contains(&s.server_keys.secret.to_z85()));
}

#[test]
fn secret_keys_are_zeroize_on_drop() {
    fn assert_zeroize_on_drop<T: ZeroizeOnDrop>() {}
    assert_zeroize_on_drop::<SecretKey>();
}

/// Machines waiting for each command, shared by the property tests (the `read_*` checks do
/// not change them, and a key agreement costs milliseconds in a debug build).
struct Fixture {
    server: CurveServer,
    cookie_key: [u8; KEY_SIZE],
    client: CurveClient,
    ready_client: CurveClient,
    traffic: Handshake,
}

static FIXTURE: LazyLock<Mutex<Fixture>> = LazyLock::new(|| {
    let mut s = setup();
    s.server.on_hello(&s.client.hello()).expect("HELLO");
    let mut r = setup();
    let welcome = r.server.on_hello(&r.client.hello()).expect("HELLO");
    r.client.on_welcome(&welcome, b"").expect("WELCOME");
    Mutex::new(Fixture {
        cookie_key: cookie_key(&s.server),
        server: s.server,
        client: s.client,
        ready_client: r.client,
        traffic: handshake(),
    })
});

proptest! {
    #[test]
    fn open_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200), prefixed: bool) {
        let mut f = FIXTURE.lock().expect("not poisoned");
        let body = if prefixed { [MESSAGE, &body].concat() } else { body };
        prop_assert!(f.traffic.server.open(&body).is_err());
        prop_assert!(f.traffic.client.open_in_place(BytesMut::from(&body[..])).is_err());
    }

    #[test]
    fn handshake_checks_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let f = FIXTURE.lock().expect("not poisoned");
        for name in [HELLO, WELCOME, INITIATE, READY] {
            let body = [name, &body].concat();
            prop_assert!(f.server.read_hello(&body).is_err());
            prop_assert!(f.server.read_initiate(&f.cookie_key, &body).is_err());
            prop_assert!(client_keys(&f.client).read_welcome(&body).is_err());
            prop_assert!(read_ready(ready_box(&f.ready_client), &body).is_err());
        }
    }
}
