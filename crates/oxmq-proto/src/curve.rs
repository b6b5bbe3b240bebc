//! CURVE security (RFC 25 ZMTP-CURVE over RFC 26 CurveZMQ), byte-compatible with libzmq 4.3.5.
//!
//! The public part is key handling: [`PublicKey`], [`SecretKey`] and [`KeyPair`] in the forms
//! libzmq's socket options take (32 raw bytes or 40 Z85 characters), `zmq_curve_keypair`
//! ([`KeyPair::generate`]) and `zmq_curve_public` ([`SecretKey::public_key`]).
//!
//! The crate-internal part is the handshake and the traffic cipher, driven by the session:
//!
//! ```text
//! client                                    server
//! CurveClient::new, hello()   -- HELLO -->   CurveServer::new, on_hello()
//!             on_welcome()    <-- WELCOME --
//!                             -- INITIATE -> on_initiate()  (then ZAP, then) ready()
//!             on_ready()      <-- READY ---
//! CurveCipher::seal / open    <- MESSAGE ->  CurveCipher::seal / open
//! ```
//!
//! Every method takes or returns a whole command body (name included) and does no IO. Each
//! side numbers its HELLO / INITIATE / READY / MESSAGE boxes with one short-nonce counter
//! starting at 1, as libzmq does; a received MESSAGE must carry a nonce above the last one
//! accepted (the INITIATE's or READY's nonce, at first). After WELCOME the server holds only
//! its cookie key: the client's short-term key and the server's short-term secret come back
//! inside the cookie. Any error is final: the machine is left failed and the session should
//! drop the connection.
//!
//! Secrets (long-term and short-term secret keys, the cookie key, precomputed box keys) are
//! wiped on drop. crypto_box 0.9 wipes the scalar of its own `SecretKey` but not that type's
//! copy of the bytes; we only build one for the duration of a key agreement.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use crypto_box::aead::rand_core::RngCore;
use crypto_box::aead::{AeadInPlace, OsRng};
use crypto_box::{Nonce, SalsaBox};
use crypto_secretbox::{KeyInit, XSalsa20Poly1305};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::z85::{self, Z85Error};
use crate::ProtocolError;

/// Size of a CURVE public or secret key in bytes.
pub const KEY_SIZE: usize = 32;

/// A Curve25519 public key (a peer's long-term key, or our own).
///
/// Equality is constant-time. `Debug` prints the Z85 form.
#[derive(Clone, Copy)]
pub struct PublicKey([u8; KEY_SIZE]);

/// A Curve25519 secret key. Wiped from memory on drop; `Debug` does not print it.
#[derive(Clone)]
pub struct SecretKey([u8; KEY_SIZE]);

/// A long-term key pair, as `zmq_curve_keypair` makes.
#[derive(Clone, Debug)]
pub struct KeyPair {
    /// The public half, given to peers.
    pub public: PublicKey,
    /// The secret half.
    pub secret: SecretKey,
}

/// Why a key was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key is 32 raw bytes or 40 Z85 characters (41 with a trailing NUL, as C passes it).
    #[error("a CURVE key is 32 bytes or 40 Z85 characters, got {len}")]
    Length {
        /// The length given.
        len: usize,
    },
    /// The 40 characters are not valid Z85.
    #[error("invalid Z85 key: {0}")]
    Z85(#[from] Z85Error),
}

impl PublicKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; KEY_SIZE]) -> PublicKey {
        PublicKey(bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_SIZE] {
        &self.0
    }

    /// Decodes the 40-character Z85 form.
    pub fn from_z85(text: &str) -> Result<PublicKey, KeyError> {
        Ok(PublicKey(*z85_key(text.as_bytes())?))
    }

    /// The 40-character Z85 form.
    pub fn to_z85(&self) -> String {
        encode_z85(&self.0)
    }

    /// A key in any form libzmq's `ZMQ_CURVE_PUBLICKEY` / `ZMQ_CURVE_SERVERKEY` accept: 32 raw
    /// bytes, 40 Z85 characters, or 41 bytes of Z85 and a NUL.
    pub fn from_slice(data: &[u8]) -> Result<PublicKey, KeyError> {
        Ok(PublicKey(*option_key(data)?))
    }
}

impl SecretKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; KEY_SIZE]) -> SecretKey {
        SecretKey(bytes)
    }

    /// The key's bytes. Handle with care: copies are not wiped.
    pub fn as_bytes(&self) -> &[u8; KEY_SIZE] {
        &self.0
    }

    /// Decodes the 40-character Z85 form.
    pub fn from_z85(text: &str) -> Result<SecretKey, KeyError> {
        Ok(SecretKey(*z85_key(text.as_bytes())?))
    }

    /// The 40-character Z85 form. The caller should wipe it after use (it is a `String`, so
    /// [`Zeroize`] applies).
    pub fn to_z85(&self) -> String {
        encode_z85(&self.0)
    }

    /// A key in any form libzmq's `ZMQ_CURVE_SECRETKEY` accepts: 32 raw bytes, 40 Z85
    /// characters, or 41 bytes of Z85 and a NUL.
    pub fn from_slice(data: &[u8]) -> Result<SecretKey, KeyError> {
        Ok(SecretKey(*option_key(data)?))
    }

    /// The matching public key: the X25519 base-point multiple, as `zmq_curve_public` computes.
    pub fn public_key(&self) -> PublicKey {
        let secret = crypto_box::SecretKey::from_bytes(self.0);
        PublicKey(*secret.public_key().as_bytes())
    }
}

impl KeyPair {
    /// A fresh key pair from the operating system's random number generator.
    pub fn generate() -> KeyPair {
        let mut secret = SecretKey([0; KEY_SIZE]);
        // `fill_bytes` panics only if the OS cannot supply randomness; libzmq asserts there too.
        OsRng.fill_bytes(&mut secret.0);
        KeyPair {
            public: secret.public_key(),
            secret,
        }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &PublicKey) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for PublicKey {}

impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl ConstantTimeEq for PublicKey {
    fn ct_eq(&self, other: &PublicKey) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublicKey").field(&self.to_z85()).finish()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretKey {}

/// The client side of the handshake. Call [`hello`](CurveClient::hello), then
/// [`on_welcome`](CurveClient::on_welcome), then [`on_ready`](CurveClient::on_ready).
pub(crate) struct CurveClient {
    /// HELLO, made at construction (it is always short nonce 1).
    hello: Vec<u8>,
    state: ClientState,
}

/// The server side of the handshake. Call [`on_hello`](CurveServer::on_hello), then
/// [`on_initiate`](CurveServer::on_initiate), then (after ZAP) [`ready`](CurveServer::ready).
pub(crate) struct CurveServer {
    secret: SecretKey,
    public: PublicKey,
    state: ServerState,
}

/// Encrypts and decrypts MESSAGE commands once the handshake is done.
pub(crate) struct CurveCipher {
    /// The short-term key agreement (C' with S'), precomputed.
    shared: SalsaBox,
    /// Short nonce of the next MESSAGE we send.
    next_nonce: u64,
    /// Highest short nonce accepted from the peer.
    peer_nonce: u64,
    /// Nonce prefixes for what we send and what we receive.
    send_prefix: &'static [u8; 16],
    recv_prefix: &'static [u8; 16],
}

enum ClientState {
    /// HELLO made, waiting for WELCOME.
    Welcome(Box<ClientKeys>),
    /// INITIATE sent, waiting for READY.
    Ready {
        /// C' with S'.
        shared: SalsaBox,
    },
    /// Connected (the cipher was handed out) or failed.
    Done,
}

struct ClientKeys {
    public: PublicKey,
    secret: SecretKey,
    server: PublicKey,
    cn_public: PublicKey,
    cn_secret: SecretKey,
    /// C' with S: the HELLO and WELCOME boxes.
    to_server: SalsaBox,
}

enum ServerState {
    /// Waiting for HELLO.
    Hello,
    /// WELCOME sent; nothing about the client is kept but the key its cookie is sealed with.
    Initiate {
        cookie_key: Zeroizing<[u8; KEY_SIZE]>,
    },
    /// A valid INITIATE arrived, READY not yet made (the ZAP request runs here).
    Ready {
        /// S' with C'.
        shared: SalsaBox,
        /// The INITIATE's short nonce.
        peer_nonce: u64,
    },
    /// READY made, or failed.
    Done,
}

impl CurveClient {
    /// A client with long-term key pair `public`/`secret` that will talk to the server whose
    /// long-term public key is `server`. Makes the connection's short-term key pair.
    pub(crate) fn new(public: PublicKey, secret: SecretKey, server: PublicKey) -> CurveClient {
        let cn = KeyPair::generate();
        let to_server = agree(&server, &cn.secret);
        let mut hello = Vec::with_capacity(HELLO_SIZE);
        hello.extend_from_slice(HELLO);
        hello.extend_from_slice(&CURVEZMQ_VERSION);
        hello.resize(HELLO_PADDING_END, 0);
        hello.extend_from_slice(cn.public.as_bytes());
        hello.extend_from_slice(&HELLO_NONCE.to_be_bytes());
        let mut signature = [0u8; TAG_SIZE + HELLO_SIGNATURE_SIZE];
        let (tag, zeros) = signature.split_at_mut(TAG_SIZE);
        let t = seal_in_place(&to_server, &short_nonce(NONCE_HELLO, HELLO_NONCE), zeros);
        tag.copy_from_slice(&t);
        hello.extend_from_slice(&signature);
        CurveClient {
            hello,
            state: ClientState::Welcome(Box::new(ClientKeys {
                public,
                secret,
                server,
                cn_public: cn.public,
                cn_secret: cn.secret,
                to_server,
            })),
        }
    }

    /// The HELLO command body (200 bytes). The same bytes each time it is called.
    pub(crate) fn hello(&mut self) -> Vec<u8> {
        self.hello.clone()
    }

    /// Takes the server's WELCOME and returns our INITIATE, which carries `metadata` (our
    /// encoded ZMTP properties, see [`command::encode_property`](crate::command::encode_property)).
    pub(crate) fn on_welcome(
        &mut self,
        body: &[u8],
        metadata: &[u8],
    ) -> Result<Vec<u8>, ProtocolError> {
        let ClientState::Welcome(keys) = std::mem::replace(&mut self.state, ClientState::Done)
        else {
            return Err(unexpected(body));
        };
        let (server_cn, cookie) = keys.read_welcome(body)?;
        let shared = agree_with_peer(&server_cn, &keys.cn_secret, "WELCOME")?;
        let vouch_shared = agree(&server_cn, &keys.secret);
        let initiate = initiate_body(
            &shared,
            &vouch_shared,
            &cookie,
            &keys.public,
            &keys.cn_public,
            &keys.server,
            metadata,
        );
        self.state = ClientState::Ready { shared };
        Ok(initiate)
    }

    /// Takes the server's READY: returns its metadata (raw properties, to be read with
    /// [`command::properties`](crate::command::properties)) and the cipher for the traffic.
    pub(crate) fn on_ready(
        &mut self,
        body: &[u8],
    ) -> Result<(Vec<u8>, CurveCipher), ProtocolError> {
        let ClientState::Ready { shared } = std::mem::replace(&mut self.state, ClientState::Done)
        else {
            return Err(unexpected(body));
        };
        let (nonce, metadata) = read_ready(&shared, body)?;
        let cipher = CurveCipher {
            shared,
            next_nonce: INITIATE_NONCE + 1,
            peer_nonce: nonce,
            send_prefix: NONCE_MESSAGE_CLIENT,
            recv_prefix: NONCE_MESSAGE_SERVER,
        };
        Ok((metadata, cipher))
    }
}

/// Opens READY with the client's short-term box: the server's short nonce and metadata.
fn read_ready(shared: &SalsaBox, body: &[u8]) -> Result<(u64, Vec<u8>), ProtocolError> {
    check_name(body, READY)?;
    let (Some((nonce, tag)), Some(ciphertext)) = (
        short_header(body, READY.len()),
        body.get(READY_HEADER_SIZE..),
    ) else {
        return Err(malformed("READY", "shorter than 30 bytes"));
    };
    let mut metadata = ciphertext.to_vec();
    open_in_place(shared, &short_nonce(NONCE_READY, nonce), &mut metadata, tag)
        .map_err(|()| cryptographic("READY"))?;
    Ok((nonce, metadata))
}

impl ClientKeys {
    /// Opens WELCOME: the server's short-term key S' and the cookie to send back.
    fn read_welcome(&self, body: &[u8]) -> Result<(PublicKey, [u8; COOKIE_SIZE]), ProtocolError> {
        check_name(body, WELCOME)?;
        let welcome = Welcome::parse(body).ok_or(malformed("WELCOME", "not 168 bytes"))?;
        let mut plain = *welcome.ciphertext;
        open_in_place(
            &self.to_server,
            &long_nonce(NONCE_WELCOME, welcome.nonce),
            &mut plain,
            welcome.tag,
        )
        .map_err(|()| cryptographic("WELCOME"))?;
        let (server_cn, cookie) = plain.split_at(KEY_SIZE);
        match (array(server_cn), array(cookie)) {
            (Some(server_cn), Some(cookie)) => Ok((PublicKey(server_cn), cookie)),
            _ => Err(cryptographic("WELCOME")),
        }
    }
}

impl CurveServer {
    /// A server with long-term secret key `secret`.
    pub(crate) fn new(secret: SecretKey) -> CurveServer {
        CurveServer {
            public: secret.public_key(),
            secret,
            state: ServerState::Hello,
        }
    }

    /// Takes the client's HELLO and returns our WELCOME, which carries a fresh short-term key
    /// and the cookie that will bring it back.
    pub(crate) fn on_hello(&mut self, body: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let ServerState::Hello = std::mem::replace(&mut self.state, ServerState::Done) else {
            return Err(unexpected(body));
        };
        let (client_cn, to_client) = self.read_hello(body)?;
        let cn = KeyPair::generate();
        let cookie_key = Zeroizing::new(random());
        let cookie_nonce: [u8; 16] = random();
        // WELCOME box plaintext: S', then the cookie (its nonce, tag and box [C' + s']).
        let mut plain = [0u8; WELCOME_PLAINTEXT_SIZE];
        let (server_cn, cookie) = plain.split_at_mut(KEY_SIZE);
        server_cn.copy_from_slice(cn.public.as_bytes());
        let (nonce_field, cookie_box) = cookie.split_at_mut(16);
        nonce_field.copy_from_slice(&cookie_nonce);
        let (cookie_tag, cookie_plain) = cookie_box.split_at_mut(TAG_SIZE);
        let (c, s) = cookie_plain.split_at_mut(KEY_SIZE);
        c.copy_from_slice(client_cn.as_bytes());
        s.copy_from_slice(cn.secret.as_bytes());
        let sealer = XSalsa20Poly1305::new(&(*cookie_key).into());
        let t = seal_in_place(
            &sealer,
            &long_nonce(NONCE_COOKIE, &cookie_nonce),
            cookie_plain,
        );
        cookie_tag.copy_from_slice(&t);

        let welcome_nonce: [u8; 16] = random();
        let t = seal_in_place(
            &to_client,
            &long_nonce(NONCE_WELCOME, &welcome_nonce),
            &mut plain,
        );
        let mut welcome = Vec::with_capacity(WELCOME_SIZE);
        welcome.extend_from_slice(WELCOME);
        welcome.extend_from_slice(&welcome_nonce);
        welcome.extend_from_slice(&t);
        welcome.extend_from_slice(&plain);
        self.state = ServerState::Initiate { cookie_key };
        Ok(welcome)
    }

    /// The checks of [`on_hello`](CurveServer::on_hello), leaving the state alone: the
    /// client's short-term key C' and the box between it and our long-term key.
    fn read_hello(&self, body: &[u8]) -> Result<(PublicKey, SalsaBox), ProtocolError> {
        check_name(body, HELLO)?;
        let hello = Hello::parse(body).ok_or(malformed("HELLO", "not 200 bytes"))?;
        if *hello.version != CURVEZMQ_VERSION {
            return Err(malformed("HELLO", "unsupported CurveZMQ version"));
        }
        let client_cn = PublicKey(*hello.client_cn);
        let to_client = agree_with_peer(&client_cn, &self.secret, "HELLO")?;
        // The signature is 64 zeros; libzmq does not look at it either, opening it is the test.
        let mut signature = *hello.signature;
        let nonce = short_nonce(NONCE_HELLO, u64::from_be_bytes(*hello.nonce));
        open_in_place(&to_client, &nonce, &mut signature, hello.tag)
            .map_err(|()| cryptographic("HELLO"))?;
        Ok((client_cn, to_client))
    }

    /// Takes the client's INITIATE: checks the cookie, the box and the vouch, and returns the
    /// client's long-term public key (for ZAP) and its metadata (raw properties).
    pub(crate) fn on_initiate(
        &mut self,
        body: &[u8],
    ) -> Result<(PublicKey, Vec<u8>), ProtocolError> {
        // The cookie key is dropped (wiped) when this returns, whatever the outcome.
        let ServerState::Initiate { cookie_key } =
            std::mem::replace(&mut self.state, ServerState::Done)
        else {
            return Err(unexpected(body));
        };
        let (client, metadata, shared, peer_nonce) = self.read_initiate(&cookie_key, body)?;
        self.state = ServerState::Ready { shared, peer_nonce };
        Ok((client, metadata))
    }

    /// The checks of [`on_initiate`](CurveServer::on_initiate), leaving the state alone: the
    /// client's long-term key, its metadata, the short-term box and the INITIATE's nonce.
    fn read_initiate(
        &self,
        cookie_key: &[u8; KEY_SIZE],
        body: &[u8],
    ) -> Result<(PublicKey, Vec<u8>, SalsaBox, u64), ProtocolError> {
        check_name(body, INITIATE)?;
        let initiate =
            Initiate::parse(body).ok_or(malformed("INITIATE", "shorter than 257 bytes"))?;

        let mut cookie = Zeroizing::new(*initiate.cookie_box);
        let opener = XSalsa20Poly1305::new(cookie_key.into());
        open_in_place(
            &opener,
            &long_nonce(NONCE_COOKIE, initiate.cookie_nonce),
            &mut cookie[..],
            initiate.cookie_tag,
        )
        .map_err(|()| cryptographic("COOKIE"))?;
        let (client_cn, server_cn_secret) = cookie.split_at(KEY_SIZE);
        let client_cn = PublicKey(array(client_cn).ok_or(cryptographic("COOKIE"))?);
        let server_cn_secret = SecretKey(array(server_cn_secret).ok_or(cryptographic("COOKIE"))?);
        // C' was checked for a small order when HELLO came; the cookie proves it is that C'.
        let shared = agree(&client_cn, &server_cn_secret);

        let nonce = u64::from_be_bytes(*initiate.nonce);
        let mut plain = initiate.ciphertext.to_vec();
        open_in_place(
            &shared,
            &short_nonce(NONCE_INITIATE, nonce),
            &mut plain,
            initiate.tag,
        )
        .map_err(|()| cryptographic("INITIATE"))?;
        let vouched = Vouched::parse(&plain).ok_or(cryptographic("INITIATE"))?;
        let client = PublicKey(*vouched.client);
        let vouch_shared = agree_with_peer(&client, &server_cn_secret, "VOUCH")?;
        let mut vouch = *vouched.vouch_box;
        open_in_place(
            &vouch_shared,
            &long_nonce(NONCE_VOUCH, vouched.vouch_nonce),
            &mut vouch,
            vouched.vouch_tag,
        )
        .map_err(|()| cryptographic("VOUCH"))?;
        let (vouch_cn, vouch_server) = vouch.split_at(KEY_SIZE);
        if !bool::from(vouch_cn.ct_eq(client_cn.as_bytes())) {
            return Err(ProtocolError::KeyExchange {
                reason: "the vouch names another short-term key than the cookie",
            });
        }
        if !bool::from(vouch_server.ct_eq(self.public.as_bytes())) {
            return Err(ProtocolError::KeyExchange {
                reason: "the vouch names another server key than ours",
            });
        }
        plain.drain(..INITIATE_VOUCHED_SIZE);
        Ok((client, plain, shared, nonce))
    }

    /// Our READY, carrying `metadata` (our encoded properties), and the cipher for the
    /// traffic. Only after a successful [`on_initiate`](CurveServer::on_initiate) (and a ZAP
    /// handler's approval).
    pub(crate) fn ready(
        &mut self,
        metadata: &[u8],
    ) -> Result<(Vec<u8>, CurveCipher), ProtocolError> {
        let ServerState::Ready { shared, peer_nonce } =
            std::mem::replace(&mut self.state, ServerState::Done)
        else {
            return Err(ProtocolError::KeyExchange {
                reason: "READY without a valid INITIATE",
            });
        };
        let mut ready = Vec::with_capacity(READY_HEADER_SIZE + metadata.len());
        ready.extend_from_slice(READY);
        ready.extend_from_slice(&READY_NONCE.to_be_bytes());
        ready.extend_from_slice(&[0; TAG_SIZE]);
        ready.extend_from_slice(metadata);
        let (head, plain) = ready.split_at_mut(READY_HEADER_SIZE);
        let t = seal_in_place(&shared, &short_nonce(NONCE_READY, READY_NONCE), plain);
        head[READY_HEADER_SIZE - TAG_SIZE..].copy_from_slice(&t);
        let cipher = CurveCipher {
            shared,
            next_nonce: READY_NONCE + 1,
            peer_nonce,
            send_prefix: NONCE_MESSAGE_SERVER,
            recv_prefix: NONCE_MESSAGE_CLIENT,
        };
        Ok((ready, cipher))
    }
}

impl CurveCipher {
    #[cfg(test)]
    /// MESSAGE command body for one frame (flags: bit0 MORE, bit1 COMMAND; other bits are
    /// dropped). One allocation, one copy of `data`, encrypted in place.
    pub(crate) fn seal(&mut self, flags: u8, data: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(MESSAGE_OVERHEAD + data.len());
        self.seal_into(flags, data, &mut out);
        out.freeze()
    }

    /// Like [`seal`](CurveCipher::seal), appending the body to `out` (e.g. after the frame
    /// header, in a buffer that is reused). The body is [`MESSAGE_OVERHEAD`] + `data.len()`
    /// bytes.
    pub(crate) fn seal_into(&mut self, flags: u8, data: &[u8], out: &mut BytesMut) {
        let nonce = self.next_nonce;
        // 2^64 messages cannot be sent in the life of a connection; libzmq does not check either.
        self.next_nonce = self.next_nonce.wrapping_add(1);
        let start = out.len();
        out.reserve(MESSAGE_OVERHEAD + data.len());
        out.put_slice(MESSAGE);
        out.put_u64(nonce);
        out.put_bytes(0, TAG_SIZE);
        out.put_u8(flags & FLAG_MASK);
        out.put_slice(data);
        let (head, plain) = out[start..].split_at_mut(MESSAGE_HEADER_SIZE);
        let t = seal_in_place(&self.shared, &short_nonce(self.send_prefix, nonce), plain);
        head[MESSAGE_HEADER_SIZE - TAG_SIZE..].copy_from_slice(&t);
    }

    #[cfg(test)]
    /// Opens a MESSAGE command body: `(flags & 3, payload)`. Checks the name, the minimum size,
    /// the nonce order and the box. Copies the ciphertext once; see
    /// [`open_in_place`](CurveCipher::open_in_place) to avoid that.
    pub(crate) fn open(&mut self, body: &[u8]) -> Result<(u8, Bytes), ProtocolError> {
        let (nonce, tag) = self.check(body)?;
        let mut plain = BytesMut::from(body.get(MESSAGE_HEADER_SIZE..).unwrap_or_default());
        self.finish_open(nonce, &tag, &mut plain)?;
        Ok(split_flags(plain))
    }

    /// Like [`open`](CurveCipher::open), decrypting in the body's own buffer (e.g. a frame split
    /// off the input buffer): no copy, no allocation.
    pub(crate) fn open_in_place(
        &mut self,
        mut body: BytesMut,
    ) -> Result<(u8, Bytes), ProtocolError> {
        let (nonce, tag) = self.check(&body)?;
        let mut plain = body.split_off(MESSAGE_HEADER_SIZE);
        self.finish_open(nonce, &tag, &mut plain)?;
        Ok(split_flags(plain))
    }

    /// The checks before decryption: name, size, nonce order. Returns the nonce and the tag.
    fn check(&self, body: &[u8]) -> Result<(u64, [u8; TAG_SIZE]), ProtocolError> {
        check_name(body, MESSAGE)?;
        let (true, Some((nonce, &tag))) = (
            body.len() >= MESSAGE_OVERHEAD,
            short_header(body, MESSAGE.len()),
        ) else {
            return Err(malformed("MESSAGE", "shorter than 33 bytes"));
        };
        if nonce <= self.peer_nonce {
            return Err(ProtocolError::InvalidNonce {
                command: "MESSAGE",
                nonce,
                last: self.peer_nonce,
            });
        }
        Ok((nonce, tag))
    }

    fn finish_open(
        &mut self,
        nonce: u64,
        tag: &[u8; TAG_SIZE],
        ciphertext: &mut [u8],
    ) -> Result<(), ProtocolError> {
        open_in_place(
            &self.shared,
            &short_nonce(self.recv_prefix, nonce),
            ciphertext,
            tag,
        )
        .map_err(|()| cryptographic("MESSAGE"))?;
        // Only an authentic message moves the window, so a forged one cannot block the peer.
        self.peer_nonce = nonce;
        Ok(())
    }
}

impl fmt::Debug for CurveClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            ClientState::Welcome(_) => "Welcome",
            ClientState::Ready { .. } => "Ready",
            ClientState::Done => "Done",
        };
        f.debug_struct("CurveClient")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CurveServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            ServerState::Hello => "Hello",
            ServerState::Initiate { .. } => "Initiate",
            ServerState::Ready { .. } => "Ready",
            ServerState::Done => "Done",
        };
        f.debug_struct("CurveServer")
            .field("public", &self.public)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CurveCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveCipher")
            .field("next_nonce", &self.next_nonce)
            .field("peer_nonce", &self.peer_nonce)
            .finish_non_exhaustive()
    }
}

/// HELLO's fields (RFC 26: name, version, padding, C', short nonce, signature box).
struct Hello<'a> {
    version: &'a [u8; 2],
    client_cn: &'a [u8; KEY_SIZE],
    nonce: &'a [u8; 8],
    tag: &'a [u8; TAG_SIZE],
    signature: &'a [u8; HELLO_SIGNATURE_SIZE],
}

impl<'a> Hello<'a> {
    fn parse(body: &'a [u8]) -> Option<Hello<'a>> {
        if body.len() != HELLO_SIZE {
            return None;
        }
        Some(Hello {
            version: field(body, HELLO.len())?,
            client_cn: field(body, HELLO_PADDING_END)?,
            nonce: field(body, HELLO_PADDING_END + KEY_SIZE)?,
            tag: field(body, HELLO_PADDING_END + KEY_SIZE + 8)?,
            signature: field(body, HELLO_PADDING_END + KEY_SIZE + 8 + TAG_SIZE)?,
        })
    }
}

/// WELCOME's fields (name, long nonce, box [S' + cookie]).
struct Welcome<'a> {
    nonce: &'a [u8; 16],
    tag: &'a [u8; TAG_SIZE],
    ciphertext: &'a [u8; WELCOME_PLAINTEXT_SIZE],
}

impl<'a> Welcome<'a> {
    fn parse(body: &'a [u8]) -> Option<Welcome<'a>> {
        if body.len() != WELCOME_SIZE {
            return None;
        }
        Some(Welcome {
            nonce: field(body, WELCOME.len())?,
            tag: field(body, WELCOME.len() + 16)?,
            ciphertext: field(body, WELCOME.len() + 16 + TAG_SIZE)?,
        })
    }
}

/// INITIATE's fields (name, cookie, short nonce, box [C + vouch + metadata]).
struct Initiate<'a> {
    cookie_nonce: &'a [u8; 16],
    cookie_tag: &'a [u8; TAG_SIZE],
    cookie_box: &'a [u8; 2 * KEY_SIZE],
    nonce: &'a [u8; 8],
    tag: &'a [u8; TAG_SIZE],
    /// At least [`INITIATE_VOUCHED_SIZE`] bytes, and whatever metadata the frame holds.
    ciphertext: &'a [u8],
}

impl<'a> Initiate<'a> {
    fn parse(body: &'a [u8]) -> Option<Initiate<'a>> {
        if body.len() < INITIATE_MIN_SIZE {
            return None;
        }
        let at = INITIATE.len();
        Some(Initiate {
            cookie_nonce: field(body, at)?,
            cookie_tag: field(body, at + 16)?,
            cookie_box: field(body, at + 16 + TAG_SIZE)?,
            nonce: field(body, at + COOKIE_SIZE)?,
            tag: field(body, at + COOKIE_SIZE + 8)?,
            ciphertext: body.get(INITIATE_HEADER_SIZE..)?,
        })
    }
}

/// The start of INITIATE's plaintext: C and the vouch (long nonce, box [C' + S]).
struct Vouched<'a> {
    client: &'a [u8; KEY_SIZE],
    vouch_nonce: &'a [u8; 16],
    vouch_tag: &'a [u8; TAG_SIZE],
    vouch_box: &'a [u8; 2 * KEY_SIZE],
}

impl<'a> Vouched<'a> {
    fn parse(plain: &'a [u8]) -> Option<Vouched<'a>> {
        Some(Vouched {
            client: field(plain, 0)?,
            vouch_nonce: field(plain, KEY_SIZE)?,
            vouch_tag: field(plain, KEY_SIZE + 16)?,
            vouch_box: field(plain, KEY_SIZE + 16 + TAG_SIZE)?,
        })
    }
}

/// INITIATE from its parts: the vouch [C' + S] boxed from C to S', then [C + vouch +
/// metadata] boxed from C' to S', behind the cookie.
fn initiate_body(
    shared: &SalsaBox,
    vouch_shared: &SalsaBox,
    cookie: &[u8],
    public: &PublicKey,
    vouch_cn: &PublicKey,
    vouch_server: &PublicKey,
    metadata: &[u8],
) -> Vec<u8> {
    let vouch_nonce: [u8; 16] = random();
    let mut vouch = [0u8; 16 + TAG_SIZE + 2 * KEY_SIZE];
    let (nonce_field, vouch_box) = vouch.split_at_mut(16);
    nonce_field.copy_from_slice(&vouch_nonce);
    let (vouch_tag, vouch_plain) = vouch_box.split_at_mut(TAG_SIZE);
    let (c, s) = vouch_plain.split_at_mut(KEY_SIZE);
    c.copy_from_slice(vouch_cn.as_bytes());
    s.copy_from_slice(vouch_server.as_bytes());
    let t = seal_in_place(
        vouch_shared,
        &long_nonce(NONCE_VOUCH, &vouch_nonce),
        vouch_plain,
    );
    vouch_tag.copy_from_slice(&t);

    let mut out = Vec::with_capacity(INITIATE_MIN_SIZE + metadata.len());
    out.extend_from_slice(INITIATE);
    out.extend_from_slice(cookie);
    out.extend_from_slice(&INITIATE_NONCE.to_be_bytes());
    out.extend_from_slice(&[0; TAG_SIZE]);
    out.extend_from_slice(public.as_bytes());
    out.extend_from_slice(&vouch);
    out.extend_from_slice(metadata);
    let (head, plain) = out.split_at_mut(INITIATE_HEADER_SIZE);
    let t = seal_in_place(shared, &short_nonce(NONCE_INITIATE, INITIATE_NONCE), plain);
    head[INITIATE_HEADER_SIZE - TAG_SIZE..].copy_from_slice(&t);
    out
}

/// The precomputed box between `public` and `secret` (crypto_box_beforenm).
fn agree(public: &PublicKey, secret: &SecretKey) -> SalsaBox {
    let secret = crypto_box::SecretKey::from_bytes(secret.0);
    SalsaBox::new(&crypto_box::PublicKey::from_bytes(public.0), &secret)
}

/// [`agree`] with a key the peer chose, refusing one of small order: the shared secret would be
/// one of a handful of values anybody can try, whatever our secret. libsodium (under libzmq)
/// refuses the same keys, so the box the key came with fails to open there; `command` names
/// that box.
fn agree_with_peer(
    public: &PublicKey,
    secret: &SecretKey,
    command: &'static str,
) -> Result<SalsaBox, ProtocolError> {
    if has_small_order(public) {
        return Err(cryptographic(command));
    }
    let shared = agree(public, secret);
    // libsodium also refuses an all-zero X25519 output. That output makes the box of the zero
    // point, so compare fingerprints of the two box keys (a false match has chance 2^-128).
    let probe = seal_probe(&shared);
    let zero = ZERO_SHARED_PROBE
        .get_or_init(|| seal_probe(&agree(&PublicKey([0; KEY_SIZE]), &SecretKey([1; KEY_SIZE]))));
    if bool::from(probe.ct_eq(zero)) {
        return Err(cryptographic(command));
    }
    Ok(shared)
}

/// Whether `key` is on libsodium's list of small-order points (`has_small_order`), compared
/// without the top bit, which X25519 ignores, and in constant time.
fn has_small_order(key: &PublicKey) -> bool {
    let mut masked = key.0;
    masked[KEY_SIZE - 1] &= 0x7f;
    let mut found = subtle::Choice::from(0);
    for point in &SMALL_ORDER_POINTS {
        found |= masked.ct_eq(point);
    }
    found.into()
}

/// The tag of an empty box under a fixed nonce: a fingerprint of the box key.
fn seal_probe(shared: &SalsaBox) -> [u8; TAG_SIZE] {
    seal_in_place(shared, &Nonce::default(), &mut [])
}

/// Encrypts `buf` in place and returns the tag that goes before it.
#[cfg(not(fuzzing))]
fn seal_in_place<A: AeadInPlace<TagSize = crypto_box::aead::consts::U16>>(
    aead: &A,
    nonce: &crypto_box::aead::Nonce<A>,
    buf: &mut [u8],
) -> [u8; TAG_SIZE] {
    // NaCl boxes fail only when given associated data, and none is.
    let tag: crypto_box::Tag = aead
        .encrypt_in_place_detached(nonce, b"", buf)
        .expect("a NaCl box without associated data always seals");
    tag.into()
}

/// Checks `tag` and decrypts `buf` in place (left untouched on failure).
#[cfg(not(fuzzing))]
fn open_in_place<A: AeadInPlace<TagSize = crypto_box::aead::consts::U16>>(
    aead: &A,
    nonce: &crypto_box::aead::Nonce<A>,
    buf: &mut [u8],
    tag: &[u8; TAG_SIZE],
) -> Result<(), ()> {
    aead.decrypt_in_place_detached(nonce, b"", buf, &crypto_box::Tag::from(*tag))
        .map_err(|_| ())
}

// Under `cargo fuzz` (cfg `fuzzing`) boxes are the identity with an all-zero tag, so that the
// fuzzer can forge every command and reach the code behind the boxes. Never built otherwise.
#[cfg(fuzzing)]
fn seal_in_place<A: AeadInPlace<TagSize = crypto_box::aead::consts::U16>>(
    _aead: &A,
    _nonce: &crypto_box::aead::Nonce<A>,
    _buf: &mut [u8],
) -> [u8; TAG_SIZE] {
    [0; TAG_SIZE]
}

#[cfg(fuzzing)]
fn open_in_place<A: AeadInPlace<TagSize = crypto_box::aead::consts::U16>>(
    _aead: &A,
    _nonce: &crypto_box::aead::Nonce<A>,
    _buf: &mut [u8],
    tag: &[u8; TAG_SIZE],
) -> Result<(), ()> {
    if *tag == [0; TAG_SIZE] {
        Ok(())
    } else {
        Err(())
    }
}

/// The 24-byte nonce of a box numbered with a short (counter) nonce.
fn short_nonce(prefix: &[u8; 16], n: u64) -> Nonce {
    let mut full = [0u8; 24];
    full[..16].copy_from_slice(prefix);
    full[16..].copy_from_slice(&n.to_be_bytes());
    Nonce::from(full)
}

/// The 24-byte nonce of a box numbered with a long (random) nonce.
fn long_nonce(prefix: &[u8; 8], n: &[u8; 16]) -> Nonce {
    let mut full = [0u8; 24];
    full[..8].copy_from_slice(prefix);
    full[8..].copy_from_slice(n);
    Nonce::from(full)
}

/// The short nonce and the tag that follow a command's name (READY, MESSAGE), if present.
fn short_header(body: &[u8], name_len: usize) -> Option<(u64, &[u8; TAG_SIZE])> {
    let nonce = field::<8>(body, name_len)?;
    let tag = field::<TAG_SIZE>(body, name_len + 8)?;
    Some((u64::from_be_bytes(*nonce), tag))
}

/// `(flags & 3, payload)` of an opened MESSAGE box.
fn split_flags(mut plain: BytesMut) -> (u8, Bytes) {
    // `check` made sure the box holds at least the flags byte.
    let flags = plain.first().copied().unwrap_or(0) & FLAG_MASK;
    plain.advance(1.min(plain.len()));
    (flags, plain.freeze())
}

/// `N` bytes of `buf` at `at`, if it is long enough.
fn field<const N: usize>(buf: &[u8], at: usize) -> Option<&[u8; N]> {
    buf.get(at..)?.first_chunk::<N>()
}

fn array<const N: usize>(buf: &[u8]) -> Option<[u8; N]> {
    buf.try_into().ok()
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

/// Fails unless `body` starts with `name` (length byte included).
fn check_name(body: &[u8], name: &[u8]) -> Result<(), ProtocolError> {
    if body.starts_with(name) {
        Ok(())
    } else {
        Err(unexpected(body))
    }
}

fn unexpected(body: &[u8]) -> ProtocolError {
    let name = match body.split_first() {
        Some((&len, rest)) => rest.get(..usize::from(len)).unwrap_or(rest),
        None => &[],
    };
    ProtocolError::UnexpectedCommand {
        name: String::from_utf8_lossy(name).into_owned(),
    }
}

fn malformed(command: &str, reason: &'static str) -> ProtocolError {
    ProtocolError::MalformedCommand {
        command: command.into(),
        reason,
    }
}

fn cryptographic(command: &'static str) -> ProtocolError {
    ProtocolError::Cryptographic { command }
}

fn z85_key(text: &[u8]) -> Result<Zeroizing<[u8; KEY_SIZE]>, KeyError> {
    if text.len() != Z85_KEY_SIZE {
        return Err(KeyError::Length { len: text.len() });
    }
    // Z85 is ASCII; anything else is refused by the decoder as a bad character.
    let text = std::str::from_utf8(text).map_err(|e| {
        KeyError::Z85(Z85Error::Character {
            byte: text.get(e.valid_up_to()).copied().unwrap_or(0),
            position: e.valid_up_to(),
        })
    })?;
    let bytes = Zeroizing::new(z85::decode(text)?);
    let mut key = Zeroizing::new([0u8; KEY_SIZE]);
    // 40 characters always decode to 32 bytes.
    let decoded = bytes
        .get(..KEY_SIZE)
        .ok_or(KeyError::Length { len: text.len() })?;
    key.copy_from_slice(decoded);
    Ok(key)
}

fn option_key(data: &[u8]) -> Result<Zeroizing<[u8; KEY_SIZE]>, KeyError> {
    match data.len() {
        KEY_SIZE => {
            let mut key = Zeroizing::new([0u8; KEY_SIZE]);
            key.copy_from_slice(data);
            Ok(key)
        }
        Z85_KEY_SIZE => z85_key(data),
        Z85_KEY_SIZE_NUL => match data.split_last() {
            Some((0, text)) => z85_key(text),
            _ => Err(KeyError::Length { len: data.len() }),
        },
        len => Err(KeyError::Length { len }),
    }
}

fn encode_z85(key: &[u8; KEY_SIZE]) -> String {
    // 32 is a multiple of 4, the only way encoding can fail.
    z85::encode(key).unwrap_or_default()
}

/// Fingerprint of the box every small-order peer key leads to (see [`agree_with_peer`]).
static ZERO_SHARED_PROBE: OnceLock<[u8; TAG_SIZE]> = OnceLock::new();

/// libsodium's list: u = 0 and 1, the two u-coordinates of the points of order 8, and p - 1,
/// p and p + 1 (-1, and 0 and 1 encoded without reduction).
const SMALL_ORDER_POINTS: [[u8; KEY_SIZE]; 7] = [
    [0; KEY_SIZE],
    small_int(1),
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    p_plus(-1),
    p_plus(0),
    p_plus(1),
];

/// `n` as a little-endian field element.
const fn small_int(n: u8) -> [u8; KEY_SIZE] {
    let mut out = [0; KEY_SIZE];
    out[0] = n;
    out
}

/// 2^255 - 19 + `delta`, little-endian, for a small `delta`.
const fn p_plus(delta: i8) -> [u8; KEY_SIZE] {
    let mut out = [0xff; KEY_SIZE];
    out[0] = (0xed_i16 + delta as i16) as u8;
    out[KEY_SIZE - 1] = 0x7f;
    out
}

/// Bytes a MESSAGE body adds to a frame: name, short nonce, tag, flags.
pub(crate) const MESSAGE_OVERHEAD: usize = MESSAGE_HEADER_SIZE + 1;

const TAG_SIZE: usize = 16;
const Z85_KEY_SIZE: usize = 40;
const Z85_KEY_SIZE_NUL: usize = 41;

const HELLO: &[u8] = b"\x05HELLO";
const WELCOME: &[u8] = b"\x07WELCOME";
const INITIATE: &[u8] = b"\x08INITIATE";
const READY: &[u8] = b"\x05READY";
const MESSAGE: &[u8] = b"\x07MESSAGE";

/// CurveZMQ 1.0, the only version there is.
const CURVEZMQ_VERSION: [u8; 2] = [1, 0];
/// libzmq pads HELLO with 72 zeros (RFC 26's grammar; its prose says 70).
const HELLO_PADDING_END: usize = 80;
const HELLO_SIGNATURE_SIZE: usize = 64;
/// Sizes libzmq 4.3.5 enforces: HELLO exactly 200, WELCOME exactly 168, INITIATE at least 257
/// (name 9, cookie 96, nonce 8, box of at least 32 + 96 + 16), READY at least 30 (name 6, nonce
/// 8, tag 16), MESSAGE at least 33 (name 8, nonce 8, tag 16, flags 1).
const HELLO_SIZE: usize = 200;
const WELCOME_SIZE: usize = 168;
const WELCOME_PLAINTEXT_SIZE: usize = KEY_SIZE + COOKIE_SIZE;
const COOKIE_SIZE: usize = 16 + TAG_SIZE + 2 * KEY_SIZE;
const INITIATE_HEADER_SIZE: usize = 9 + COOKIE_SIZE + 8 + TAG_SIZE;
/// C and the vouch, before INITIATE's metadata.
const INITIATE_VOUCHED_SIZE: usize = KEY_SIZE + 16 + TAG_SIZE + 2 * KEY_SIZE;
const INITIATE_MIN_SIZE: usize = INITIATE_HEADER_SIZE + INITIATE_VOUCHED_SIZE;
const READY_HEADER_SIZE: usize = 6 + 8 + TAG_SIZE;
const MESSAGE_HEADER_SIZE: usize = 8 + 8 + TAG_SIZE;
const _: () =
    assert!(HELLO_PADDING_END + KEY_SIZE + 8 + TAG_SIZE + HELLO_SIGNATURE_SIZE == HELLO_SIZE);
const _: () = assert!(8 + 16 + TAG_SIZE + WELCOME_PLAINTEXT_SIZE == WELCOME_SIZE);
const _: () = assert!(INITIATE_MIN_SIZE == 257);
const _: () = assert!(READY_HEADER_SIZE == 30);
const _: () = assert!(MESSAGE_OVERHEAD == 33);

/// Short nonces: the client's HELLO is 1 and its INITIATE 2; the server's READY is 1.
const HELLO_NONCE: u64 = 1;
const INITIATE_NONCE: u64 = 2;
const READY_NONCE: u64 = 1;

/// The MESSAGE flags that travel: MORE and COMMAND.
const FLAG_MASK: u8 = 0b11;

const NONCE_HELLO: &[u8; 16] = b"CurveZMQHELLO---";
const NONCE_INITIATE: &[u8; 16] = b"CurveZMQINITIATE";
const NONCE_READY: &[u8; 16] = b"CurveZMQREADY---";
const NONCE_MESSAGE_CLIENT: &[u8; 16] = b"CurveZMQMESSAGEC";
const NONCE_MESSAGE_SERVER: &[u8; 16] = b"CurveZMQMESSAGES";
const NONCE_WELCOME: &[u8; 8] = b"WELCOME-";
const NONCE_COOKIE: &[u8; 8] = b"COOKIE--";
const NONCE_VOUCH: &[u8; 8] = b"VOUCH---";

#[cfg(test)]
mod tests;
