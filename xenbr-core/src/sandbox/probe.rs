//! Connectivity proof with sockets (there is no `ping` here): a TCP listener
//! in one namespace, a connection from another, one byte there and back.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use super::Netns;
use crate::error::{Error, Result};

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The byte went there and came back.
    Yes,
    /// It did not; why.
    No(String),
}

/// Connects from `from` to `addr` (an address of `to`), within `timeout`,
/// and echoes one byte. The equivalent of `ping -c1 ADDR` run in `from`.
pub fn probe(from: &Netns, to: &Netns, addr: IpAddr, timeout: Duration) -> Result<Reach> {
    let listener = to.run(move || TcpListener::bind(SocketAddr::new(addr, 0)))?;
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            return Ok(Reach::No(format!(
                "cannot listen on {addr} in {}: {e}",
                to.label()
            )))
        }
    };
    let target = listener.local_addr().map_err(|e| Error::io("probe", e))?;
    listener
        .set_nonblocking(false)
        .map_err(|e| Error::io("probe", e))?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?;
        s.write_all(&b)
    });
    let client = from.run(move || -> std::io::Result<()> {
        let mut s = TcpStream::connect_timeout(&target, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.write_all(b"x")?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?;
        if &b != b"x" {
            return Err(std::io::Error::other("wrong echo"));
        }
        Ok(())
    })?;
    match client {
        Ok(()) => {
            let _ = server.join();
            Ok(Reach::Yes)
        }
        Err(e) => {
            // Unblock the listener's accept so its thread ends.
            let _ = to.run(move || TcpStream::connect_timeout(&target, Duration::from_millis(200)));
            let _ = server.join();
            Ok(Reach::No(format!("{} -> {target}: {e}", from.label())))
        }
    }
}
