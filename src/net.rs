//! Socket helpers shared by the session, replication and the cluster bus.

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
