//! Interface facts the engine needs before it binds: the MAC address and the IPv4
//! addresses the kernel already has (to decide between owning and sharing an address).
//! Both answer in the calling thread's network namespace.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The index of an interface, or `None` if there is no such interface here.
pub fn ifindex(ifname: &str) -> Option<u32> {
    let name = std::ffi::CString::new(ifname).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// The interface's hardware address (SIOCGIFHWADDR).
pub fn mac_address(ifname: &str) -> io::Result<[u8; 6]> {
    let name = ifname.as_bytes();
    if name.is_empty() || name.len() >= libc::IF_NAMESIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    // SAFETY: ifreq is plain data; all-zero is valid.
    let mut req: libc::ifreq = unsafe { core::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    // SAFETY: plain socket creation.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `req` is a valid ifreq naming the interface; SIOCGIFHWADDR fills ifru_hwaddr.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR as _, &mut req) };
    let err = io::Error::last_os_error();
    // SAFETY: closing the socket we created.
    unsafe { libc::close(fd) };
    if rc < 0 {
        return Err(err);
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds ifru_hwaddr.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

/// Calls `f` with each address of `family` the kernel has on `ifname`, and its netmask
/// (null when the kernel gives none), from one getifaddrs list.
fn each_address(
    ifname: &str,
    family: i32,
    mut f: impl FnMut(*const libc::sockaddr, *const libc::sockaddr),
) -> io::Result<()> {
    let mut head: *mut libc::ifaddrs = core::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        // SAFETY: ifa_addr is non-null and points at a sockaddr.
        if name.to_bytes() == ifname.as_bytes()
            && unsafe { (*ifa.ifa_addr).sa_family } as i32 == family
        {
            f(ifa.ifa_addr, ifa.ifa_netmask);
        }
    }
    // SAFETY: freeing the list getifaddrs allocated, once.
    unsafe { libc::freeifaddrs(head) };
    Ok(())
}

/// The IPv4 addresses (with prefix lengths) the kernel has on `ifname` (getifaddrs).
pub fn ipv4_addresses(ifname: &str) -> io::Result<Vec<(Ipv4Addr, u8)>> {
    let mut out = Vec::new();
    each_address(ifname, libc::AF_INET, |addr, mask| {
        // SAFETY: an AF_INET address is a sockaddr_in; so is its netmask (or null), both
        // alive while the list is.
        let (addr, mask) = unsafe {
            let a = (*(addr as *const libc::sockaddr_in)).sin_addr.s_addr;
            let m =
                (!mask.is_null()).then(|| (*(mask as *const libc::sockaddr_in)).sin_addr.s_addr);
            (a, m)
        };
        let prefix = mask
            .map(|m| u32::from_be(m).count_ones() as u8)
            .unwrap_or(32);
        out.push((Ipv4Addr::from(u32::from_be(addr)), prefix));
    })?;
    Ok(out)
}

/// The IPv6 addresses the kernel has on `ifname` (getifaddrs; prefix lengths not read:
/// the engine only asks whether an address is the kernel's).
pub fn ipv6_addresses(ifname: &str) -> io::Result<Vec<Ipv6Addr>> {
    let mut out = Vec::new();
    each_address(ifname, libc::AF_INET6, |addr, _| {
        // SAFETY: an AF_INET6 address is a sockaddr_in6, alive while the list is.
        let a = unsafe { &*(addr as *const libc::sockaddr_in6) };
        out.push(Ipv6Addr::from(a.sin6_addr.s6_addr));
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_has_127_0_0_1() {
        let addrs = super::ipv4_addresses("lo").unwrap();
        assert!(
            addrs.contains(&(std::net::Ipv4Addr::LOCALHOST, 8)),
            "{addrs:?}"
        );
        assert_eq!(super::mac_address("lo").unwrap(), [0; 6]);
        // ::1 is on lo unless IPv6 is off in this namespace.
        let v6 = super::ipv6_addresses("lo").unwrap();
        assert!(
            v6.is_empty() || v6.contains(&std::net::Ipv6Addr::LOCALHOST),
            "{v6:?}"
        );
        assert!(super::mac_address("no-such-if0").is_err());
    }
}
