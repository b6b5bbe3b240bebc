//! The ipc transport (`ipc://path`, `ipc://@abstract-name`, `ipc://*`) over Unix domain sockets.
//!
//! As libzmq: binding removes a stale socket file first; `ipc://*` binds a socket named
//! `socket` in a new private directory under `$TMPDIR` (or `/tmp`) and reports it through
//! LAST_ENDPOINT; a name starting with `@` lives in Linux's abstract namespace (no file); and
//! unbinding or closing removes the file (and the private directory) the socket created.

use std::io;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener as StdUnixListener};
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
use crate::transport::Transport;

/// ZMQ_IPC_FILTER_PID / _UID / _GID: when any list is non-empty, an accepted peer must match
/// an entry of one of them (its credentials as the kernel reports them, SO_PEERCRED). A peer
/// whose primary group matches passes the group filter; libzmq also accepts members of the
/// group, which oxmq does not look up.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerFilters {
    pids: Vec<i32>,
    uids: Vec<u32>,
    gids: Vec<u32>,
}

impl PeerFilters {
    /// Adds an id to the list of `option`, or clears that list when `id` is `None`.
    pub(crate) fn set(&mut self, option: i32, id: Option<i32>) -> Result<()> {
        let unsigned = |v: i32| {
            u32::try_from(v).map_err(|_| Error::with_source(ErrorKind::InvalidInput, "negative id"))
        };
        match (option, id) {
            (crate::opt::IPC_FILTER_PID, None) => self.pids.clear(),
            (crate::opt::IPC_FILTER_PID, Some(v)) => self.pids.push(v),
            (crate::opt::IPC_FILTER_UID, None) => self.uids.clear(),
            (crate::opt::IPC_FILTER_UID, Some(v)) => self.uids.push(unsigned(v)?),
            (crate::opt::IPC_FILTER_GID, None) => self.gids.clear(),
            (crate::opt::IPC_FILTER_GID, Some(v)) => self.gids.push(unsigned(v)?),
            _ => return Err(ErrorKind::InvalidInput.into()),
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.pids.is_empty() && self.uids.is_empty() && self.gids.is_empty()
    }

    fn admits(&self, stream: &UnixStream) -> bool {
        if self.is_empty() {
            return true;
        }
        let Ok(cred) = stream.peer_cred() else {
            return false;
        };
        self.uids.contains(&cred.uid())
            || self.gids.contains(&cred.gid())
            || cred.pid().is_some_and(|pid| self.pids.contains(&pid))
    }
}

/// An `ipc://` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IpcEndpoint {
    /// The address after `ipc://`: a path, `@name`, or `*`.
    pub(crate) address: String,
}

/// Removes what a bound ipc endpoint created on the file system, when dropped.
#[derive(Debug)]
pub(crate) struct IpcCleanup {
    file: Option<PathBuf>,
    dir: Option<PathBuf>,
}

impl Drop for IpcCleanup {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            let _ = std::fs::remove_file(f);
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir(d);
        }
    }
}

impl IpcEndpoint {
    /// The longest ipc path a Unix socket address holds on Linux (sun_path less its NUL).
    pub(crate) const MAX_PATH_LEN: usize = 107;

    /// Parses the part after `ipc://`.
    pub(crate) fn parse(address: &str) -> Result<IpcEndpoint> {
        if address.is_empty() {
            return Err(Error::with_source(
                ErrorKind::InvalidInput,
                "empty ipc address",
            ));
        }
        // sun_path holds 107 bytes and a NUL on Linux; libzmq reports longer paths as
        // ENAMETOOLONG (pyzmq then names the limit in its message), and so does oxmq.
        if address.len() > Self::MAX_PATH_LEN {
            return Err(std::io::Error::from_raw_os_error(libc::ENAMETOOLONG).into());
        }
        Ok(IpcEndpoint {
            address: address.to_owned(),
        })
    }

    /// Binds and listens; returns the listener, the endpoint as LAST_ENDPOINT reports it, and
    /// what to remove from the file system at unbind/close.
    pub(crate) fn listen(&self) -> Result<(StdUnixListener, String, IpcCleanup)> {
        if let Some(name) = self.address.strip_prefix('@') {
            let addr = abstract_addr(name)?;
            let l = StdUnixListener::bind_addr(&addr)?;
            l.set_nonblocking(true)?;
            let cleanup = IpcCleanup {
                file: None,
                dir: None,
            };
            return Ok((l, format!("ipc://@{name}"), cleanup));
        }
        let (path, dir) = if self.address == "*" {
            let dir = private_dir()?;
            (dir.join("socket"), Some(dir))
        } else {
            (PathBuf::from(&self.address), None)
        };
        // A file left behind by an earlier run would make bind fail (libzmq unlinks it too).
        let _ = std::fs::remove_file(&path);
        let l = match StdUnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                if let Some(d) = &dir {
                    let _ = std::fs::remove_dir(d);
                }
                return Err(e.into());
            }
        };
        l.set_nonblocking(true)?;
        let endpoint = format!("ipc://{}", path.display());
        Ok((
            l,
            endpoint,
            IpcCleanup {
                file: Some(path),
                dir,
            },
        ))
    }
}

/// ZMQ_USE_FD: listens on the application's Unix socket; nothing to remove afterwards, as
/// oxmq did not create the file.
pub(crate) fn adopt(fd: std::os::fd::OwnedFd) -> Result<(StdUnixListener, String, IpcCleanup)> {
    let l = StdUnixListener::from(fd);
    let addr = l.local_addr()?;
    let endpoint = match (
        addr.as_pathname(),
        std::os::linux::net::SocketAddrExt::as_abstract_name(&addr),
    ) {
        (Some(p), _) => format!("ipc://{}", p.display()),
        (None, Some(name)) => format!("ipc://@{}", String::from_utf8_lossy(name)),
        (None, None) => "ipc://".to_owned(),
    };
    Ok((
        l,
        endpoint,
        IpcCleanup {
            file: None,
            dir: None,
        },
    ))
}

impl Transport for IpcEndpoint {
    type Stream = UnixStream;
    type StdStream = std::os::unix::net::UnixStream;
    type Listener = UnixListener;
    type StdListener = StdUnixListener;
    const CONNECT_IS_DELAYED: bool = false;

    fn listener_from_std(l: StdUnixListener) -> io::Result<UnixListener> {
        UnixListener::from_std(l)
    }

    fn admits(stream: &UnixStream, options: &Options) -> bool {
        options.ipc_filters.admits(stream)
    }

    async fn accept(l: &UnixListener) -> io::Result<(UnixStream, String)> {
        let (s, _) = l.accept().await?;
        let name = l
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
            .unwrap_or_default();
        Ok((s, name))
    }

    async fn connect(&self, _options: &Options) -> io::Result<(UnixStream, String)> {
        let stream = if let Some(name) = self.address.strip_prefix('@') {
            let addr = abstract_addr(name).map_err(io::Error::from)?;
            // Connecting a Unix socket completes at once (or fails): no need to wait.
            let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
            s.set_nonblocking(true)?;
            UnixStream::from_std(s)?
        } else {
            UnixStream::connect(Path::new(&self.address)).await?
        };
        Ok((stream, self.address.clone()))
    }

    fn stream_to_std(s: UnixStream) -> io::Result<std::os::unix::net::UnixStream> {
        s.into_std()
    }

    fn stream_from_std(s: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        UnixStream::from_std(s)
    }

    fn configure(_: &UnixStream, _: &Options) {}
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &str) -> Result<UnixAddr> {
    use std::os::linux::net::SocketAddrExt;
    Ok(UnixAddr::from_abstract_name(name.as_bytes())?)
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_: &str) -> Result<UnixAddr> {
    Err(Error::with_source(
        ErrorKind::ProtocolNotSupported,
        "abstract ipc names exist on Linux only",
    ))
}

/// A new private directory for `ipc://*`, as libzmq's `mkdtemp("tmpXXXXXX")` under `$TMPDIR`.
fn private_dir() -> Result<PathBuf> {
    let base = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        ^ u128::from(std::process::id());
    for attempt in 0..100u32 {
        let name = format!(
            "tmp{:06x}",
            (seed.wrapping_add(u128::from(attempt) * 7919)) & 0xff_ffff
        );
        let dir = base.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::with_source(
        ErrorKind::AddrInUse,
        "no free ipc wildcard directory",
    ))
}
