//! Listeners of the application (`Net::listen`): connections they accept belong to the
//! application, as the ones it opens do (`client.rs` has the calls both share).

use std::net::SocketAddr;

use super::*;

impl Host {
    /// Files a listener in a free slot (one the application closed) or a new one.
    pub(super) fn add_listener(&mut self, local: SocketAddrV4, serves: Serves) -> usize {
        let l = Listener::new(local, self.cfg.tcp, self.cfg.backlog, &self.secrets);
        // A closed slot is reused only once its half-open connections are gone: they still
        // report to it.
        let free = (0..self.listeners.len())
            .find(|&i| self.serves[i] == Serves::Closed && self.listeners[i].half_open() == 0);
        match free {
            Some(i) => {
                self.listeners[i] = l;
                self.serves[i] = serves;
                i
            }
            None => {
                self.listeners.push(l);
                self.serves.push(serves);
                self.listeners.len() - 1
            }
        }
    }

    /// The IPv4 addresses `addr` stands for: one of ours, or all of them for 0.0.0.0.
    fn listen_addrs(&self, addr: SocketAddr) -> Result<Vec<SocketAddrV4>, ListenError> {
        let SocketAddr::V4(a) = addr else {
            return Err(ListenError::Ipv6Unsupported);
        };
        if a.port() == 0 {
            return Err(ListenError::NoPort);
        }
        if a.ip().is_unspecified() {
            let mut v: Vec<SocketAddrV4> = self
                .cfg
                .addrs
                .iter()
                .map(|(ip, _)| SocketAddrV4::new(*ip, a.port()))
                .collect();
            v.dedup();
            return Ok(v);
        }
        if !self.cfg.addrs.iter().any(|(ip, _)| ip == a.ip()) {
            return Err(ListenError::NotOurs(addr));
        }
        Ok(vec![a])
    }

    /// Listens for the application on `addr` (see `Net::listen`).
    pub fn listen(&mut self, addr: SocketAddr) -> Result<(), ListenError> {
        let addrs = self.listen_addrs(addr)?;
        if let Some(ports) = &self.cfg.app_ports {
            if !ports.contains(&addr.port()) {
                return Err(ListenError::NotSteered(addr.port()));
            }
        }
        for a in &addrs {
            let taken = (0..self.listeners.len()).any(|i| {
                self.serves[i] != Serves::Closed
                    && self.listeners[i].local().port() == a.port()
                    && (self.listeners[i].local() == *a
                        || is_loopback(*self.listeners[i].local().ip()))
            });
            if taken {
                return Err(ListenError::InUse((*a).into()));
            }
        }
        for a in addrs {
            self.add_listener(a, Serves::App);
        }
        Ok(())
    }

    /// Stops the application's listening on `addr` (0.0.0.0: on every address, the
    /// loopback ones included). New SYNs get a RST; connections already accepted go on.
    /// Returns whether a listener was closed.
    pub fn unlisten(&mut self, addr: SocketAddr) -> bool {
        let SocketAddr::V4(a) = addr else {
            return false;
        };
        let mut closed = false;
        for i in 0..self.listeners.len() {
            let l = self.listeners[i].local();
            let matches = l.port() == a.port()
                && (a.ip().is_unspecified() || *l.ip() == *a.ip() || is_loopback(*l.ip()));
            if self.serves[i] == Serves::App && matches {
                self.serves[i] = Serves::Closed;
                closed = true;
            }
        }
        closed
    }
}
