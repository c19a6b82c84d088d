//! The two ethtool questions the engine asks: which driver (for error messages about
//! zero-copy) and how many queues (to check `--queues`). Both through SIOCETHTOOL on a
//! throwaway socket, which answers in the calling thread's network namespace.

use std::io;

use super::sys::{
    EthtoolChannels, EthtoolDrvinfo, IfreqData, ETHTOOL_GCHANNELS, ETHTOOL_GDRVINFO, SIOCETHTOOL,
};

fn ethtool(ifname: &str, data: *mut libc::c_void) -> io::Result<()> {
    let mut req = IfreqData {
        name: [0; libc::IF_NAMESIZE],
        data,
        _pad: [0; 16],
    };
    let name = ifname.as_bytes();
    if name.is_empty() || name.len() >= libc::IF_NAMESIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{ifname}' is not a valid interface name"),
        ));
    }
    req.name[..name.len()].copy_from_slice(name);
    // SAFETY: plain socket creation.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `req` is a valid ifreq whose data pointer points at a struct of the type the
    // command expects, alive for the duration of the call.
    let rc = unsafe { libc::ioctl(fd, SIOCETHTOOL as _, &mut req as *mut IfreqData) };
    let err = io::Error::last_os_error();
    // SAFETY: closing the socket we created.
    unsafe { libc::close(fd) };
    if rc < 0 {
        return Err(err);
    }
    Ok(())
}

/// The driver behind an interface (`veth`, `ice`, `mlx5_core`, ...).
pub fn driver_name(ifname: &str) -> io::Result<String> {
    // SAFETY: EthtoolDrvinfo is plain integers and byte arrays; all-zero is valid.
    let mut info: EthtoolDrvinfo = unsafe { core::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    ethtool(ifname, (&mut info as *mut EthtoolDrvinfo).cast())?;
    let len = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    Ok(String::from_utf8_lossy(&info.driver[..len]).into_owned())
}

/// How many RX queues an interface has (combined or RX channels, whichever it reports).
pub fn rx_queue_count(ifname: &str) -> io::Result<u32> {
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    match ethtool(ifname, (&mut ch as *mut EthtoolChannels).cast()) {
        Ok(()) => Ok(ch.rx_count.max(ch.combined_count).max(1)),
        // Drivers without channel control have one queue.
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(1),
        Err(e) => Err(e),
    }
}
