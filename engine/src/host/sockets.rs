//! Listeners of the application (`Net::listen`): connections they accept belong to the
//! application, as the ones it opens do (`client.rs` has the calls both share).

use super::*;

impl Host {
    /// Files a listener in a free slot (one the application closed) or a new one.
    pub(super) fn add_listener(&mut self, local: SocketAddr, serves: Serves) -> usize {
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

    /// The addresses `addr` stands for: one of ours, or all of its family's for 0.0.0.0
    /// (IPv4) or `::` (IPv6; as Linux with `bindv6only`: `::` does not take IPv4).
    fn listen_addrs(&self, addr: SocketAddr) -> Result<Vec<SocketAddr>, ListenError> {
        if addr.port() == 0 {
            return Err(ListenError::NoPort);
        }
        let ours: Vec<IpAddr> = match addr {
            SocketAddr::V4(_) => self.cfg.addrs.iter().map(|(ip, _)| (*ip).into()).collect(),
            SocketAddr::V6(_) => self.cfg.addrs6.iter().map(|(ip, _)| (*ip).into()).collect(),
        };
        if addr.ip().is_unspecified() {
            if ours.is_empty() {
                return Err(ListenError::NoAddress);
            }
            let mut v: Vec<SocketAddr> = ours
                .iter()
                .map(|ip| SocketAddr::new(*ip, addr.port()))
                .collect();
            v.dedup();
            return Ok(v);
        }
        if !ours.contains(&addr.ip()) {
            return Err(ListenError::NotOurs(addr));
        }
        Ok(vec![SocketAddr::new(addr.ip(), addr.port())])
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
                        || (is_loopback(self.listeners[i].local().ip())
                            && self.listeners[i].local().is_ipv6() == a.is_ipv6()))
            });
            if taken {
                return Err(ListenError::InUse(*a));
            }
        }
        for a in addrs {
            self.add_listener(a, Serves::App);
        }
        Ok(())
    }

    /// Stops the application's listening on `addr` (0.0.0.0 or `::`: on every address of
    /// the family, the loopback ones included). New SYNs get a RST; connections already
    /// accepted go on. Returns whether a listener was closed.
    pub fn unlisten(&mut self, a: SocketAddr) -> bool {
        let mut closed = false;
        for i in 0..self.listeners.len() {
            let l = self.listeners[i].local();
            let matches = l.port() == a.port()
                && l.is_ipv6() == a.is_ipv6()
                && (a.ip().is_unspecified() || l.ip() == a.ip() || is_loopback(l.ip()));
            if self.serves[i] == Serves::App && matches {
                self.serves[i] = Serves::Closed;
                closed = true;
            }
        }
        closed
    }
}
