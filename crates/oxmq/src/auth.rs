//! A ready-made ZAP handler (RFC 27), started in one call: [`Authenticator`].
//!
//! It binds a REP socket at `inproc://zeromq.zap.01` in the given context and answers every
//! authentication request of that context's sockets from a policy the application edits
//! while it runs, as pyzmq's `ThreadAuthenticator` does:
//!
//! - **Addresses.** With an allow list, only the listed peer addresses pass; otherwise a deny
//!   list refuses the listed ones. The address is the peer's IP for tcp.
//! - **NULL** peers pass the address check and nothing else.
//! - **PLAIN** peers must give a username and password from the table of their ZAP domain
//!   (or of `"*"`, every domain).
//! - **CURVE** peers must present one of the allowed public keys of their domain (or of
//!   `"*"`), unless that domain accepts any key.
//!
//! Accepted peers get a User-Id: the username for PLAIN, the Z85 public key for CURVE,
//! `anonymous` otherwise. Refused ones get 400 and a reason, which the handler also logs.
//!
//! ```
//! use oxmq::{auth::Authenticator, Context, SocketType};
//! # fn main() -> oxmq::Result<()> {
//! let ctx = Context::new();
//! let auth = Authenticator::start(&ctx)?;
//! auth.configure_plain("*", [("admin", "secret")]);
//!
//! let mut server = ctx.socket(SocketType::Rep)?;
//! server.set_plain_server(true)?;
//! server.bind("tcp://127.0.0.1:*")?;
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use subtle::ConstantTimeEq;
use tracing::{debug, info};

use crate::curve::PublicKey;
use crate::{Context, Result, Socket, SocketType};

/// A ZAP handler thread with an editable policy. Stops when dropped (or with
/// [`stop`](Authenticator::stop)), and when its context terminates.
pub struct Authenticator {
    policy: Arc<Mutex<Policy>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Policy {
    allow: HashSet<String>,
    deny: HashSet<String>,
    /// Domain → username → password.
    passwords: HashMap<String, HashMap<Vec<u8>, Vec<u8>>>,
    /// Domain → allowed CURVE public keys (`None`: any key).
    curve: HashMap<String, Option<Vec<[u8; 32]>>>,
}

/// The domain entry that applies to every domain.
const ANY_DOMAIN: &str = "*";
/// How often the handler thread looks at its stop flag while idle, in ms.
const STOP_CHECK_MS: i32 = 100;

impl Authenticator {
    /// Binds the handler in `ctx` and starts its thread. Fails with `EADDRINUSE` if the
    /// context already has a ZAP handler.
    pub fn start(ctx: &Context) -> Result<Authenticator> {
        let mut rep = ctx.socket(SocketType::Rep)?;
        rep.set_linger(0)?;
        rep.set_rcvtimeo(STOP_CHECK_MS)?;
        rep.bind(&format!("inproc://{}", oxmq_proto::zap::ZAP_ENDPOINT))?;
        let policy = Arc::new(Mutex::new(Policy::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let policy = Arc::clone(&policy);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("oxmq-zap".into())
                .spawn(move || serve(rep, &policy, &stop))?
        };
        Ok(Authenticator {
            policy,
            stop,
            thread: Some(thread),
        })
    }

    /// Lets peers from `address` in, and from then on only peers on the allow list.
    pub fn allow(&self, address: &str) {
        self.policy().allow.insert(address.to_owned());
    }

    /// Refuses peers from `address` (ignored while the allow list is not empty).
    pub fn deny(&self, address: &str) {
        self.policy().deny.insert(address.to_owned());
    }

    /// Sets the PLAIN username/password table of `domain` (`"*"`: every domain without its
    /// own table).
    pub fn configure_plain<U, P>(&self, domain: &str, users: impl IntoIterator<Item = (U, P)>)
    where
        U: AsRef<[u8]>,
        P: AsRef<[u8]>,
    {
        let table = users
            .into_iter()
            .map(|(u, p)| (u.as_ref().to_vec(), p.as_ref().to_vec()))
            .collect();
        self.policy().passwords.insert(domain.to_owned(), table);
    }

    /// Sets the CURVE client public keys allowed in `domain` (`"*"`: every domain without its
    /// own list).
    pub fn configure_curve<'k>(&self, domain: &str, keys: impl IntoIterator<Item = &'k PublicKey>) {
        let keys = keys.into_iter().map(|k| *k.as_bytes()).collect();
        self.policy().curve.insert(domain.to_owned(), Some(keys));
    }

    /// Lets any CURVE client in to `domain` (`"*"`: every domain without its own list): the
    /// connection is encrypted, the client is not authenticated.
    pub fn configure_curve_any(&self, domain: &str) {
        self.policy().curve.insert(domain.to_owned(), None);
    }

    /// Stops the handler thread and unbinds it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn policy(&self) -> MutexGuard<'_, Policy> {
        lock(&self.policy)
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

fn lock(policy: &Mutex<Policy>) -> MutexGuard<'_, Policy> {
    policy.lock().unwrap_or_else(|e| e.into_inner())
}

/// The handler loop: one request, one reply, until stopped or the context ends.
fn serve(mut rep: Socket, policy: &Mutex<Policy>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let request = match rep.recv_multipart() {
            Ok(r) => r,
            Err(e) if e.kind() == crate::ErrorKind::WouldBlock => continue,
            Err(e) => {
                debug!(error = %e, "ZAP handler stops");
                return;
            }
        };
        let request: Vec<Vec<u8>> = request.iter().map(|m| m.data().to_vec()).collect();
        let reply = answer(&request, &lock(policy));
        if let Err(e) = rep.send_multipart(reply) {
            debug!(error = %e, "ZAP handler stops");
            return;
        }
    }
}

/// The reply frames (after the REP envelope) for one request.
fn answer(request: &[Vec<u8>], policy: &Policy) -> Vec<Vec<u8>> {
    let reply = |id: &[u8], status: &str, text: &str, user: &[u8]| {
        vec![
            b"1.0".to_vec(),
            id.to_vec(),
            status.as_bytes().to_vec(),
            text.as_bytes().to_vec(),
            user.to_vec(),
            Vec::new(),
        ]
    };
    let [version, id, domain, address, _routing_id, mechanism, credentials @ ..] = request else {
        return reply(b"", "400", "malformed request", b"");
    };
    if version.as_slice() != b"1.0" {
        return reply(id, "400", "unsupported ZAP version", b"");
    }
    let domain = String::from_utf8_lossy(domain);
    let address = String::from_utf8_lossy(address);
    let verdict = policy.check(&domain, &address, mechanism, credentials);
    match verdict {
        Ok(user) => {
            debug!(%domain, %address, "ZAP: allowed");
            reply(id, "200", "OK", &user)
        }
        Err(why) => {
            info!(%domain, %address, reason = why, "ZAP: denied");
            reply(id, "400", why, b"")
        }
    }
}

impl Policy {
    /// The User-Id of an accepted peer, or why it is refused.
    fn check(
        &self,
        domain: &str,
        address: &str,
        mechanism: &[u8],
        credentials: &[Vec<u8>],
    ) -> std::result::Result<Vec<u8>, &'static str> {
        if !self.allow.is_empty() {
            if !self.allow.contains(address) {
                return Err("address not in the allow list");
            }
        } else if self.deny.contains(address) {
            return Err("address in the deny list");
        }
        match (mechanism, credentials) {
            (b"NULL", []) => Ok(b"anonymous".to_vec()),
            (b"PLAIN", [username, password]) => {
                let table = self
                    .passwords
                    .get(domain)
                    .or_else(|| self.passwords.get(ANY_DOMAIN))
                    .ok_or("no PLAIN passwords for this domain")?;
                match table.get(username) {
                    Some(p) if bool::from(p.as_slice().ct_eq(password)) => Ok(username.clone()),
                    _ => Err("invalid username or password"),
                }
            }
            (b"CURVE", [key]) => {
                let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else {
                    return Err("malformed CURVE key");
                };
                let allowed = self
                    .curve
                    .get(domain)
                    .or_else(|| self.curve.get(ANY_DOMAIN))
                    .ok_or("no CURVE keys for this domain")?;
                // Every key is compared, each in constant time.
                let known = |keys: &[[u8; 32]]| {
                    keys.iter()
                        .fold(subtle::Choice::from(0), |found, k| found | k.ct_eq(&key))
                };
                match allowed {
                    Some(keys) if !bool::from(known(keys)) => Err("unknown CURVE key"),
                    _ => Ok(crate::z85::encode(&key).unwrap_or_default().into_bytes()),
                }
            }
            _ => Err("unsupported mechanism or malformed credentials"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let mut p = Policy::default();
        p.passwords.insert(
            "*".into(),
            HashMap::from([(b"admin".to_vec(), b"secret".to_vec())]),
        );
        p.curve.insert("keys".into(), Some(vec![[7u8; 32]]));
        p.curve.insert("open".into(), None);
        p
    }

    fn plain(user: &[u8], pass: &[u8]) -> Vec<Vec<u8>> {
        vec![user.to_vec(), pass.to_vec()]
    }

    #[test]
    fn plain_checks_the_password_table() {
        let p = policy();
        let ok = p.check("any", "127.0.0.1", b"PLAIN", &plain(b"admin", b"secret"));
        assert_eq!(ok, Ok(b"admin".to_vec()));
        for (u, pw) in [
            (&b"admin"[..], &b"wrong"[..]),
            (b"eve", b"secret"),
            (b"admin", b""),
        ] {
            assert!(p
                .check("any", "127.0.0.1", b"PLAIN", &plain(u, pw))
                .is_err());
        }
    }

    #[test]
    fn curve_checks_keys_per_domain() {
        let p = policy();
        let user = p
            .check("keys", "a", b"CURVE", &[vec![7; 32]])
            .expect("allowed key");
        assert_eq!(user.len(), 40, "User-Id is the Z85 key");
        assert!(p.check("keys", "a", b"CURVE", &[vec![8; 32]]).is_err());
        assert!(p.check("open", "a", b"CURVE", &[vec![8; 32]]).is_ok());
        assert!(p.check("none", "a", b"CURVE", &[vec![7; 32]]).is_err());
        assert!(p.check("keys", "a", b"CURVE", &[vec![7; 31]]).is_err());
    }

    #[test]
    fn addresses_are_allowed_or_denied() {
        let mut p = policy();
        assert!(p.check("d", "10.0.0.1", b"NULL", &[]).is_ok());
        p.deny.insert("10.0.0.1".into());
        assert!(p.check("d", "10.0.0.1", b"NULL", &[]).is_err());
        assert!(p.check("d", "10.0.0.2", b"NULL", &[]).is_ok());
        p.allow.insert("10.0.0.3".into());
        assert!(p.check("d", "10.0.0.2", b"NULL", &[]).is_err());
        assert!(p.check("d", "10.0.0.3", b"NULL", &[]).is_ok());
    }

    #[test]
    fn malformed_requests_get_400() {
        let reply = answer(&[b"1.0".to_vec()], &policy());
        assert_eq!(reply[2], b"400");
        let req: Vec<Vec<u8>> = [&b"2.0"[..], b"1", b"d", b"a", b"", b"NULL"]
            .iter()
            .map(|f| f.to_vec())
            .collect();
        assert_eq!(answer(&req, &policy())[2], b"400");
    }
}
