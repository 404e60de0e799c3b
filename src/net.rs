//! Socket helpers shared by the session, replication and the cluster bus:
//! connecting from the bind address, listening with a backlog, keepalive,
//! loopback peers, reads, and fitting the open-file limit to `maxclients`.

use bytes::BytesMut;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Connects to `addr` from the node's bind address when it names one IP, as
/// Redis does for bus and replication links: peers (and fault-injecting
/// proxies) then see which node a connection comes from.
pub async fn connect_from(
    bind: &str,
    addr: impl tokio::net::ToSocketAddrs,
) -> std::io::Result<TcpStream> {
    let target: std::net::SocketAddr = match tokio::net::lookup_host(addr).await?.next() {
        Some(a) => a,
        None => return Err(std::io::ErrorKind::AddrNotAvailable.into()),
    };
    let source: Option<std::net::IpAddr> = bind
        .split_whitespace()
        .next()
        .and_then(|b| b.trim_start_matches('-').parse().ok())
        .filter(|ip: &std::net::IpAddr| !ip.is_unspecified() && ip.is_ipv4() == target.is_ipv4());
    let socket = if target.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind((ip, 0).into())?;
    }
    socket.connect(target).await
}

/// Reads as `read_some`, first making room for `need` bytes, only once the
/// socket is readable (an idle connection holds no buffer meanwhile).
pub async fn read_some_reserving(
    stream: &TcpStream,
    buf: &mut BytesMut,
    need: usize,
) -> std::io::Result<usize> {
    stream.readable().await?;
    buf.reserve(need);
    read_some(stream, buf).await
}

/// Reads what the socket has. A read that returns less than the free buffer space
/// drained the socket, so readiness is cleared right away instead of paying for
/// one more `read` that would only say EAGAIN: one syscall saved per request.
/// The readiness snapshot is taken before the read, so data that arrives after
/// it raises a newer readiness event that the clear does not touch.
pub async fn read_some(stream: &TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        let mut got = None;
        let res = stream.try_io(Interest::READABLE, || {
            let spare = buf.capacity() - buf.len();
            let n = stream.try_read_buf(buf)?;
            got = Some(n);
            if n > 0 && n < spare {
                Err(std::io::ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        match (got, res) {
            (Some(n), _) => return Ok(n),
            (None, Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            (None, Err(e)) => return Err(e),
            (None, Ok(())) => continue,
        }
    }
}

/// Listens on `host:port` with a backlog of `backlog` connections (Redis's
/// `tcp-backlog`; the kernel caps it at `net.core.somaxconn`). Must run inside
/// the runtime, which the listener registers with.
pub fn listen(host: &str, port: u16, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let mut last = std::io::Error::from(std::io::ErrorKind::AddrNotAvailable);
    for addr in (host, port).to_socket_addrs()? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As Redis's listeners: a restart may bind while old connections linger.
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(backlog)) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The kernel's cap on listen backlogs (`net.core.somaxconn`), if readable.
pub fn somaxconn() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Turns TCP keepalive on for a connection as Redis's `anetKeepAlive`: the
/// first probe after `secs` idle seconds, then every `secs / 3`, three probes
/// before the peer counts as dead. Best effort: a failure leaves it off.
pub fn set_keepalive(fd: std::os::fd::RawFd, secs: u64) {
    let secs = secs.min(i32::MAX as u64) as libc::c_int;
    let opts = [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, (secs / 3).max(1)),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
    ];
    for (level, name, value) in opts {
        // SAFETY: setsockopt reads one c_int through the pointer, which
        // outlives the call; a bad descriptor only makes it fail.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return;
        }
    }
}

/// True for a peer Redis 7.0 calls local (`islocalClient`): exactly
/// 127.0.0.1 or ::1 (an IPv4-mapped 127.0.0.1 too); other 127.x addresses,
/// though loopback, are not.
pub fn is_local_peer(addr: &std::net::SocketAddr) -> bool {
    match addr.ip().to_canonical() {
        std::net::IpAddr::V4(ip) => ip == std::net::Ipv4Addr::LOCALHOST,
        std::net::IpAddr::V6(ip) => ip == std::net::Ipv6Addr::LOCALHOST,
    }
}

/// Descriptors kept for everything but clients (files, the listener, replica
/// and bus links): Redis's `CONFIG_MIN_RESERVED_FDS`.
pub const RESERVED_FDS: u64 = 32;

/// What fitting the open-file limit to `maxclients` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdFit {
    /// The limit already allowed `maxclients` (nothing changed).
    Enough,
    /// The soft limit was raised from the first figure to the second.
    Raised(u64, u64),
    /// The limit could not go high enough: `maxclients` must come down to
    /// `maxclients`; the limit is now `limit` (the OS said `error`).
    Lowered {
        /// The clients the limit allows.
        maxclients: u64,
        /// The open-file limit in effect.
        limit: u64,
        /// Why it could not be raised further.
        error: String,
    },
    /// Not even the reserved descriptors fit: the server cannot start.
    TooLow(u64),
}

/// Raises `RLIMIT_NOFILE` as far as needed for `maxclients` plus the
/// reserved descriptors, as Redis's `adjustOpenFilesLimit`: the best limit
/// the OS accepts, trying 16 fewer each time, never lowering the current one.
pub fn fit_open_files(maxclients: u64) -> FdFit {
    let wanted = maxclients.saturating_add(RESERVED_FDS);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through the pointer, which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        // As Redis: assume 1024.
        return FdFit::Lowered {
            maxclients: 1024 - RESERVED_FDS,
            limit: 1024,
            error: strerror(&std::io::Error::last_os_error()),
        };
    }
    let old: u64 = lim.rlim_cur;
    if old >= wanted {
        return FdFit::Enough;
    }
    let mut best = wanted;
    let mut error = String::new();
    while best > old {
        // The hard limit is kept unless this needs more (only a privileged
        // process may raise it).
        let try_lim = libc::rlimit {
            rlim_cur: best as libc::rlim_t,
            rlim_max: lim.rlim_max.max(best as libc::rlim_t),
        };
        // SAFETY: setrlimit reads one rlimit through the pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &try_lim) } == 0 {
            break;
        }
        error = strerror(&std::io::Error::last_os_error());
        best = if best > lim.rlim_max && lim.rlim_max > old {
            // Above the hard limit every try fails alike: go straight to it.
            lim.rlim_max
        } else if best < 16 {
            old
        } else {
            best - 16
        };
    }
    let best = best.max(old);
    if best >= wanted {
        FdFit::Raised(old, best)
    } else if best <= RESERVED_FDS {
        FdFit::TooLow(old)
    } else {
        FdFit::Lowered {
            maxclients: best - RESERVED_FDS,
            limit: best,
            error,
        }
    }
}

/// An OS error as C's `strerror` words it (what Redis's messages carry),
/// without the " (os error N)" Rust adds.
pub fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
