//! The security options of a socket (`ZMQ_MECHANISM`, the PLAIN and CURVE families, the ZAP
//! domain), stored and validated as libzmq does, and turned into the session's configuration.
//!
//! As in libzmq, setting a credential selects its mechanism and role: a PLAIN username or
//! password makes a PLAIN client, `ZMQ_PLAIN_SERVER = 1` a PLAIN server, `ZMQ_CURVE_SERVERKEY` a
//! CURVE client and `ZMQ_CURVE_SERVER = 1` a CURVE server; an empty username or password, or
//! a server flag of 0, goes back to NULL. The last option set wins.

use bytes::Bytes;
use oxmq_proto::curve::{KeyPair, PublicKey, SecretKey};
use oxmq_proto::{Mechanism, SessionConfig};

use crate::error::{Error, ErrorKind, Result};
use crate::opt;
use crate::options;

/// A socket's security settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct Security {
    mechanism: Option<Mechanism>,
    as_server: bool,
    credentials: oxmq_proto::Credentials,
    zap_domain: Bytes,
    zap_enforce_domain: bool,
}

impl Security {
    /// Whether `option` is one of the options this module keeps.
    pub(crate) fn handles(option: i32) -> bool {
        matches!(
            option,
            opt::MECHANISM
                | opt::PLAIN_SERVER
                | opt::PLAIN_USERNAME
                | opt::PLAIN_PASSWORD
                | opt::CURVE_SERVER
                | opt::CURVE_PUBLICKEY
                | opt::CURVE_SECRETKEY
                | opt::CURVE_SERVERKEY
                | opt::ZAP_DOMAIN
                | opt::ZAP_ENFORCE_DOMAIN
        )
    }

    /// `zmq_setsockopt` for one of the options [`handles`](Security::handles) accepts.
    pub(crate) fn set(&mut self, option: i32, value: &[u8]) -> Result<()> {
        match option {
            opt::PLAIN_SERVER => {
                let server = options::bool_value(value)?;
                self.as_server = server;
                self.mechanism = server.then_some(Mechanism::Plain);
            }
            opt::PLAIN_USERNAME | opt::PLAIN_PASSWORD => {
                let value = short_string(value, option)?;
                if value.is_empty() {
                    self.mechanism = None;
                } else {
                    self.as_server = false;
                    self.mechanism = Some(Mechanism::Plain);
                }
                if option == opt::PLAIN_USERNAME {
                    self.credentials.plain_username = value;
                } else {
                    self.credentials.plain_password = value;
                }
            }
            opt::CURVE_SERVER => {
                let server = options::bool_value(value)?;
                self.as_server = server;
                self.mechanism = server.then_some(Mechanism::Curve);
            }
            opt::CURVE_PUBLICKEY => {
                self.credentials.curve_public =
                    Some(PublicKey::from_slice(value).map_err(bad_key)?);
                self.mechanism = Some(Mechanism::Curve);
            }
            opt::CURVE_SECRETKEY => {
                self.credentials.curve_secret =
                    Some(SecretKey::from_slice(value).map_err(bad_key)?);
                self.mechanism = Some(Mechanism::Curve);
            }
            opt::CURVE_SERVERKEY => {
                self.credentials.curve_server =
                    Some(PublicKey::from_slice(value).map_err(bad_key)?);
                self.as_server = false;
                self.mechanism = Some(Mechanism::Curve);
            }
            opt::ZAP_DOMAIN => self.zap_domain = short_string(value, option)?,
            opt::ZAP_ENFORCE_DOMAIN => self.zap_enforce_domain = options::bool_value(value)?,
            _ => return Err(ErrorKind::InvalidInput.into()),
        }
        Ok(())
    }

    /// `zmq_getsockopt` for one of the options [`handles`](Security::handles) accepts. Strings
    /// come back with libzmq's terminating NUL.
    pub(crate) fn get(&self, option: i32) -> Result<Vec<u8>> {
        let int = |v: i32| Ok(v.to_ne_bytes().to_vec());
        let string = |v: &Bytes| {
            let mut out = v.to_vec();
            out.push(0);
            Ok(out)
        };
        match option {
            opt::MECHANISM => int(match self.mechanism() {
                Mechanism::Plain => opt::PLAIN,
                Mechanism::Curve => opt::CURVE,
                _ => opt::NULL,
            }),
            opt::PLAIN_SERVER => int(i32::from(
                self.as_server && self.mechanism() == Mechanism::Plain,
            )),
            opt::CURVE_SERVER => int(i32::from(
                self.as_server && self.mechanism() == Mechanism::Curve,
            )),
            // libzmq returns 32 zero bytes for a key never set.
            opt::CURVE_PUBLICKEY => Ok(key_bytes(
                self.credentials
                    .curve_public
                    .as_ref()
                    .map(PublicKey::as_bytes),
            )),
            opt::CURVE_SECRETKEY => Ok(key_bytes(
                self.credentials
                    .curve_secret
                    .as_ref()
                    .map(SecretKey::as_bytes),
            )),
            opt::CURVE_SERVERKEY => Ok(key_bytes(
                self.credentials
                    .curve_server
                    .as_ref()
                    .map(PublicKey::as_bytes),
            )),
            opt::PLAIN_USERNAME => string(&self.credentials.plain_username),
            opt::PLAIN_PASSWORD => string(&self.credentials.plain_password),
            opt::ZAP_DOMAIN => string(&self.zap_domain),
            opt::ZAP_ENFORCE_DOMAIN => int(i32::from(self.zap_enforce_domain)),
            _ => Err(ErrorKind::InvalidInput.into()),
        }
    }

    pub(crate) fn mechanism(&self) -> Mechanism {
        self.mechanism.unwrap_or(Mechanism::Null)
    }

    /// Puts the mechanism, role, credentials and ZAP settings into a session configuration.
    pub(crate) fn apply(&self, c: &mut SessionConfig) {
        c.mechanism = self.mechanism();
        c.as_server = self.as_server;
        c.credentials = self.credentials.clone();
        c.zap_domain = self.zap_domain.clone();
        c.zap_enforce_domain = self.zap_enforce_domain;
    }
}

fn key_bytes(key: Option<&[u8; 32]>) -> Vec<u8> {
    key.map_or_else(|| vec![0; 32], |k| k.to_vec())
}

fn bad_key(e: oxmq_proto::curve::KeyError) -> Error {
    Error::with_source(ErrorKind::InvalidInput, format!("bad CURVE key: {e}"))
}

/// A string option of at most 255 bytes (libzmq's limit for credentials and the ZAP domain).
fn short_string(value: &[u8], option: i32) -> Result<Bytes> {
    if value.len() > 255 {
        return Err(Error::with_source(
            ErrorKind::InvalidInput,
            format!("socket option {option} takes at most 255 bytes"),
        ));
    }
    Ok(Bytes::copy_from_slice(value))
}

impl crate::Socket {
    /// Sets `ZMQ_PLAIN_SERVER`: `true` makes this socket the server side of PLAIN (it asks
    /// the ZAP handler about each client); `false` goes back to NULL.
    pub fn set_plain_server(&mut self, on: bool) -> Result<()> {
        self.set_sockopt(opt::PLAIN_SERVER, &i32::from(on).to_ne_bytes())
    }

    /// Sets `ZMQ_PLAIN_USERNAME` and `ZMQ_PLAIN_PASSWORD` (each at most 255 bytes), making
    /// this socket a PLAIN client.
    pub fn set_plain_credentials(&mut self, username: &[u8], password: &[u8]) -> Result<()> {
        self.set_sockopt(opt::PLAIN_USERNAME, username)?;
        self.set_sockopt(opt::PLAIN_PASSWORD, password)
    }

    /// Sets `ZMQ_ZAP_DOMAIN` (at most 255 bytes), sent with each ZAP request. A NULL server
    /// consults the ZAP handler only when it is set.
    pub fn set_zap_domain(&mut self, domain: &[u8]) -> Result<()> {
        self.set_sockopt(opt::ZAP_DOMAIN, domain)
    }

    /// Sets `ZMQ_ZAP_ENFORCE_DOMAIN`: with no ZAP handler bound, refuse peers instead of
    /// accepting them.
    pub fn set_zap_enforce_domain(&mut self, on: bool) -> Result<()> {
        self.set_sockopt(opt::ZAP_ENFORCE_DOMAIN, &i32::from(on).to_ne_bytes())
    }

    /// Sets `ZMQ_CURVE_SERVER`: `true` makes this socket the server side of CURVE (it also
    /// needs its secret key, [`set_curve_secret_key`](crate::Socket::set_curve_secret_key));
    /// `false` goes back to NULL.
    pub fn set_curve_server(&mut self, on: bool) -> Result<()> {
        self.set_sockopt(opt::CURVE_SERVER, &i32::from(on).to_ne_bytes())
    }

    /// Sets `ZMQ_CURVE_SECRETKEY`, selecting CURVE.
    pub fn set_curve_secret_key(&mut self, key: &SecretKey) -> Result<()> {
        self.set_sockopt(opt::CURVE_SECRETKEY, key.as_bytes())
    }

    /// Sets `ZMQ_CURVE_PUBLICKEY`, selecting CURVE.
    pub fn set_curve_public_key(&mut self, key: &PublicKey) -> Result<()> {
        self.set_sockopt(opt::CURVE_PUBLICKEY, key.as_bytes())
    }

    /// Sets both keys of this socket's long-term key pair, selecting CURVE.
    pub fn set_curve_keypair(&mut self, keys: &KeyPair) -> Result<()> {
        self.set_curve_public_key(&keys.public)?;
        self.set_curve_secret_key(&keys.secret)
    }

    /// Sets `ZMQ_CURVE_SERVERKEY`, the public key of the server to talk to: this socket
    /// becomes a CURVE client (it also needs its own key pair).
    pub fn set_curve_server_key(&mut self, key: &PublicKey) -> Result<()> {
        self.set_sockopt(opt::CURVE_SERVERKEY, key.as_bytes())
    }

    /// The socket's security mechanism (`ZMQ_MECHANISM`).
    pub fn mechanism(&self) -> Mechanism {
        self.options
            .security
            .as_deref()
            .map_or(Mechanism::Null, Security::mechanism)
    }
}
