//! One AF_XDP socket with its UMEM and rings.
//!
//! Kernel documentation: <https://docs.kernel.org/networking/af_xdp.html>. Setup order is
//! the kernel's: socket, UMEM registration, ring sizes, XDP_MMAP_OFFSETS, mmap, bind.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use super::config::{BindMode, FrameAccounting, GrantedMode, XdpStatistics, XskConfig};
use super::error::XskError;
use super::ethtool;
use super::mmap::Mmap;
use super::netdev::ifindex;
use super::ring::{Consumer, Producer, RingLayout};
use super::sys::*;
pub use super::umem::Frame;
use super::umem::Umem;

struct Rings {
    fill: Producer<u64>,
    comp: Consumer<u64>,
    rx: Consumer<xdp_desc>,
    tx: Producer<xdp_desc>,
    _maps: [Mmap; 4],
}

/// An AF_XDP socket bound to one queue. See the module docs.
pub struct Xsk {
    // Field order is drop order: rings unmap before the socket closes, the UMEM last.
    rings: Rings,
    fd: OwnedFd,
    umem: Umem,
    free: Vec<u64>,
    kernel_rx: u32,
    in_use: u32,
    kernel_tx: u32,
    granted: GrantedMode,
    fallback_reason: Option<String>,
    hugepages: bool,
    driver: String,
    ifindex: u32,
    queue: u32,
    busy_poll: bool,
}

fn os(what: &'static str) -> impl FnOnce(io::Error) -> XskError {
    move |err| XskError::Os { what, err }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points at a live T of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            core::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn getsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, val: &mut T) -> io::Result<()> {
    let mut len = core::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` points at a live, writable T of `len` bytes.
    let rc = unsafe { libc::getsockopt(fd, level, name, (val as *mut T).cast(), &mut len) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn ring_layout(map: &Mmap, off: &xdp_ring_offset, size: u32) -> RingLayout {
    let base = map.as_ptr();
    // SAFETY: the kernel's XDP_MMAP_OFFSETS place these fields inside the mapping we just
    // made with length `desc + size * entry`, suitably aligned.
    unsafe {
        RingLayout {
            producer: NonNull::new_unchecked(base.add(off.producer as usize).cast()),
            consumer: NonNull::new_unchecked(base.add(off.consumer as usize).cast()),
            flags: NonNull::new_unchecked(base.add(off.flags as usize).cast()),
            entries: NonNull::new_unchecked(base.add(off.desc as usize)),
            size,
        }
    }
}

/// Creates a socket, registers `umem` and maps the rings. Not yet bound.
fn socket_with_rings(umem: &Umem, cfg: &XskConfig) -> Result<(OwnedFd, Rings), XskError> {
    // SAFETY: plain socket creation; the fd is owned immediately below.
    let raw = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => XskError::Permission(err),
            Some(libc::EAFNOSUPPORT) => XskError::Os {
                what: "this kernel has no AF_XDP (CONFIG_XDP_SOCKETS)",
                err,
            },
            _ => XskError::Os {
                what: "creating the AF_XDP socket",
                err,
            },
        });
    }
    // SAFETY: `raw` is a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };

    // Zero-initialised: newer kernels read fields (tx_metadata_len) older headers lack.
    // SAFETY: xdp_umem_reg is plain integers; all-zero is valid.
    let mut reg: xdp_umem_reg = unsafe { core::mem::zeroed() };
    reg.addr = umem.as_ptr() as u64;
    reg.len = umem.len() as u64;
    reg.chunk_size = cfg.frame_size;
    reg.headroom = 0;
    setsockopt(raw, SOL_XDP, XDP_UMEM_REG, &reg).map_err(os("registering the UMEM"))?;

    // Each ring's size is used three times below (setsockopt, mapping, index mask): one
    // name per ring so they cannot disagree.
    let (fill_size, rx_size, size) = (cfg.fill_ring_size(), cfg.rx_ring_size(), cfg.ring_size());
    for (opt, n) in [
        (XDP_UMEM_FILL_RING, fill_size),
        (XDP_UMEM_COMPLETION_RING, size),
        (XDP_RX_RING, rx_size),
        (XDP_TX_RING, size),
    ] {
        setsockopt(raw, SOL_XDP, opt, &n).map_err(os("sizing the AF_XDP rings"))?;
    }

    // SAFETY: plain integers; all-zero is valid.
    let mut off: xdp_mmap_offsets = unsafe { core::mem::zeroed() };
    getsockopt(raw, SOL_XDP, XDP_MMAP_OFFSETS, &mut off).map_err(os("reading the ring offsets"))?;

    let addr_len = core::mem::size_of::<u64>();
    let desc_len = core::mem::size_of::<xdp_desc>();
    let map = |o: &xdp_ring_offset, n: u32, entry: usize, pgoff: u64| {
        Mmap::shared(raw, o.desc as usize + n as usize * entry, pgoff)
            .map_err(os("mapping an AF_XDP ring"))
    };
    let fill_map = map(&off.fr, fill_size, addr_len, XDP_UMEM_PGOFF_FILL_RING)?;
    let comp_map = map(&off.cr, size, addr_len, XDP_UMEM_PGOFF_COMPLETION_RING)?;
    let rx_map = map(&off.rx, rx_size, desc_len, XDP_PGOFF_RX_RING as u64)?;
    let tx_map = map(&off.tx, size, desc_len, XDP_PGOFF_TX_RING as u64)?;
    // SAFETY: each layout describes the ring in its own live mapping, which moves into
    // `Rings` beside it; userspace is the only producer of fill/TX and the only consumer
    // of completion/RX.
    let rings = unsafe {
        Rings {
            fill: Producer::new(ring_layout(&fill_map, &off.fr, fill_size)),
            comp: Consumer::new(ring_layout(&comp_map, &off.cr, size)),
            rx: Consumer::new(ring_layout(&rx_map, &off.rx, rx_size)),
            tx: Producer::new(ring_layout(&tx_map, &off.tx, size)),
            _maps: [fill_map, comp_map, rx_map, tx_map],
        }
    };
    Ok((fd, rings))
}

/// Binds, retrying EBUSY for up to a second: a socket closed a moment ago (a restart, or
/// the zero-copy attempt of `BindMode::Auto`) holds its queue until the kernel's deferred
/// teardown has run.
fn bind(fd: RawFd, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match bind_once(fd, ifindex, queue, flags) {
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

fn bind_once(fd: RawFd, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
    let sa = sockaddr_xdp {
        sxdp_family: AF_XDP as u16,
        sxdp_flags: flags | XDP_USE_NEED_WAKEUP,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: 0,
    };
    // SAFETY: `sa` is a valid sockaddr_xdp of the size passed.
    let rc = unsafe {
        libc::bind(
            fd,
            (&sa as *const sockaddr_xdp).cast(),
            core::mem::size_of::<sockaddr_xdp>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Xsk {
    /// Opens and binds a socket to `cfg.ifname` queue `cfg.queue`. Acts in the calling
    /// thread's network namespace.
    pub fn open(cfg: &XskConfig) -> Result<Xsk, XskError> {
        cfg.validate()?;
        let ifindex =
            ifindex(&cfg.ifname).ok_or_else(|| XskError::NoInterface(cfg.ifname.clone()))?;
        let queues = ethtool::rx_queue_count(&cfg.ifname).map_err(os("reading the queue count"))?;
        if cfg.queue >= queues {
            return Err(XskError::QueueOutOfRange {
                ifname: cfg.ifname.clone(),
                queue: cfg.queue,
                queues,
            });
        }
        let driver = ethtool::driver_name(&cfg.ifname).unwrap_or_else(|_| "unknown".into());

        let (umem, hugepages) = Umem::new(cfg.frame_size, cfg.frame_count, cfg.hugepages)
            .map_err(os("allocating the UMEM"))?;

        let bind_err = |err: io::Error, driver: &str| match err.raw_os_error() {
            Some(libc::EBUSY) => XskError::QueueBusy {
                ifname: cfg.ifname.clone(),
                queue: cfg.queue,
            },
            Some(libc::EPERM) | Some(libc::EACCES) => XskError::Permission(err),
            Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) if cfg.mode == BindMode::ZeroCopy => {
                XskError::ZeroCopyUnsupported {
                    ifname: cfg.ifname.clone(),
                    driver: driver.to_string(),
                    err,
                }
            }
            _ => XskError::Os {
                what: "binding the AF_XDP socket",
                err,
            },
        };

        let (fd, rings, fallback_reason) = match cfg.mode {
            BindMode::Copy | BindMode::ZeroCopy => {
                let flags = if cfg.mode == BindMode::Copy {
                    XDP_COPY
                } else {
                    XDP_ZEROCOPY
                };
                let (fd, rings) = socket_with_rings(&umem, cfg)?;
                bind(fd.as_raw_fd(), ifindex, cfg.queue, flags)
                    .map_err(|e| bind_err(e, &driver))?;
                (fd, rings, None)
            }
            BindMode::Auto => {
                let (fd, rings) = socket_with_rings(&umem, cfg)?;
                match bind(fd.as_raw_fd(), ifindex, cfg.queue, XDP_ZEROCOPY) {
                    Ok(()) => (fd, rings, None),
                    Err(zc) if matches!(zc.raw_os_error(), Some(libc::EBUSY | libc::EPERM)) => {
                        return Err(bind_err(zc, &driver));
                    }
                    Err(zc) => {
                        // A socket whose bind failed is not reused: start over in copy mode.
                        drop((rings, fd));
                        let (fd, rings) = socket_with_rings(&umem, cfg)?;
                        bind(fd.as_raw_fd(), ifindex, cfg.queue, XDP_COPY)
                            .map_err(|e| bind_err(e, &driver))?;
                        let why = format!("driver {driver} refused zero-copy: {zc}");
                        (fd, rings, Some(why))
                    }
                }
            }
        };

        // SAFETY: plain integer struct.
        let mut opts: xdp_options = unsafe { core::mem::zeroed() };
        getsockopt(fd.as_raw_fd(), SOL_XDP, XDP_OPTIONS, &mut opts)
            .map_err(os("reading the granted AF_XDP mode"))?;
        let granted = if opts.flags & XDP_OPTIONS_ZEROCOPY != 0 {
            GrantedMode::ZeroCopy
        } else {
            GrantedMode::Copy
        };

        if let Some(bp) = cfg.busy_poll {
            let raw = fd.as_raw_fd();
            let one: libc::c_int = 1;
            setsockopt(raw, libc::SOL_SOCKET, SO_PREFER_BUSY_POLL, &one)
                .and_then(|_| {
                    setsockopt(
                        raw,
                        libc::SOL_SOCKET,
                        SO_BUSY_POLL,
                        &(bp.usecs as libc::c_int),
                    )
                })
                .and_then(|_| {
                    setsockopt(
                        raw,
                        libc::SOL_SOCKET,
                        SO_BUSY_POLL_BUDGET,
                        &(bp.budget as libc::c_int),
                    )
                })
                .map_err(os("enabling socket busy polling"))?;
        }

        let frame_size = cfg.frame_size;
        let free = (0..cfg.frame_count as u64)
            .rev()
            .map(|i| i * frame_size as u64)
            .collect();
        let mut xsk = Xsk {
            rings,
            fd,
            umem,
            free,
            kernel_rx: 0,
            in_use: 0,
            kernel_tx: 0,
            granted,
            fallback_reason,
            hugepages,
            driver,
            ifindex,
            queue: cfg.queue,
            busy_poll: cfg.busy_poll.is_some(),
        };
        xsk.refill();
        Ok(xsk)
    }

    /// The mode the kernel granted.
    pub fn granted_mode(&self) -> GrantedMode {
        self.granted
    }

    /// Why zero-copy was not granted under `BindMode::Auto`.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// Whether the UMEM got huge pages.
    pub fn hugepages(&self) -> bool {
        self.hugepages
    }

    /// The interface's driver.
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// The interface's index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The receive queue.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// The socket, for the XDP program's XSKMAP.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Moves free frames to the fill ring, always keeping a quarter of the UMEM on the free
    /// list for transmit. Returns how many were given to the kernel.
    pub fn refill(&mut self) -> usize {
        let tx_reserve = self.total() as usize / 4;
        let want = self.free.len().saturating_sub(tx_reserve) as u32;
        if want == 0 {
            return 0;
        }
        let can = self.rings.fill.free(want).min(want) as usize;
        let start = self.free.len() - can;
        let n = self.rings.fill.push_batch(self.free.drain(start..)) as usize;
        debug_assert_eq!(n, can);
        self.kernel_rx += n as u32;
        if n > 0 && (self.rings.fill.needs_wakeup() || self.busy_poll) {
            self.kick_rx();
        }
        n
    }

    fn kick_rx(&self) {
        // SAFETY: a zero-length recvfrom only wakes the kernel's RX processing.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                core::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
            )
        };
    }

    /// Takes up to `max` received frames into `out` (which the caller reuses: no
    /// allocation once it has grown). Returns how many.
    pub fn recv(&mut self, out: &mut Vec<Frame>, max: usize) -> usize {
        if self.busy_poll || self.rings.fill.needs_wakeup() {
            self.kick_rx();
        }
        let umem = &self.umem;
        let mut bad = 0u32;
        let n = self.rings.rx.pop_batch(max as u32, |d| {
            if umem.within(d.addr, d.len as u64) {
                out.push(umem.frame(d.addr, d.len));
            } else {
                // Never seen from a correct kernel; keep the frame, drop the packet.
                bad += 1;
                out.push(umem.frame(umem.base(d.addr), 0));
            }
        });
        self.kernel_rx -= n;
        self.in_use += n;
        debug_assert_eq!(bad, 0, "kernel returned an RX descriptor outside the UMEM");
        n as usize
    }

    /// A free frame for transmit, or `None` when every frame is busy.
    pub fn alloc(&mut self) -> Option<Frame> {
        let addr = self.free.pop()?;
        self.in_use += 1;
        Some(self.umem.frame(addr, 0))
    }

    /// The bytes of a frame.
    ///
    /// # Panics
    /// If `f` was made by another socket (every frame method of `Xsk` refuses those).
    pub fn data(&self, f: &Frame) -> &[u8] {
        self.umem.bytes(f)
    }

    /// Runs `body` with bytes `range` of frame `f` where they lie in the UMEM, and this
    /// socket, to allocate and send other frames meanwhile (TCP reads a received segment's
    /// payload while it transmits the replies: no copy of the payload first).
    pub fn read_while_sending<R>(
        &mut self,
        f: &mut Frame,
        range: std::ops::Range<usize>,
        body: impl FnOnce(&[u8], &mut Xsk) -> R,
    ) -> R {
        let bytes: *const [u8] = &self.umem.bytes(f)[range];
        // SAFETY: the bytes are `f`'s, inside the mapping, and stay valid and unchanged for
        // the call: `f` is borrowed mutably (its holder cannot write, send or release it),
        // handles are unique (`Frame` is not `Clone`), so no frame `body` receives or
        // allocates is `f`, and the UMEM is only ever reached one frame's range at a time
        // (`Umem::bytes`, `Umem::room_mut`), never borrowed whole. The kernel does not
        // have a frame whose handle is held.
        body(unsafe { &*bytes }, self)
    }

    /// The whole writable room of a frame, from its start to the end of its chunk. Write a
    /// packet here, then `set_len`.
    pub fn buf_mut(&mut self, f: &mut Frame) -> &mut [u8] {
        self.umem.room_mut(f)
    }

    /// The frame's current bytes, writable.
    pub fn data_mut(&mut self, f: &mut Frame) -> &mut [u8] {
        let len = f.len();
        &mut self.buf_mut(f)[..len]
    }

    /// Sets a frame's length, clamped to its room.
    pub fn set_len(&mut self, f: &mut Frame, len: usize) {
        self.umem.set_len(f, len);
    }

    /// Makes a frame `len` bytes starting `start` bytes into its room (a frame built back
    /// to front). The descriptor then points inside the chunk, which the kernel accepts
    /// as long as the frame does not cross the chunk's end (it cannot, by the clamp).
    pub fn set_range(&mut self, f: &mut Frame, start: usize, len: usize) {
        self.umem.set_range(f, start, len);
    }

    /// Puts a frame on the TX ring (a received frame may be sent back as is). Call
    /// `flush_tx` after a batch. Gives the frame back when the ring is full.
    pub fn transmit(&mut self, f: Frame) -> Result<(), Frame> {
        self.umem.check(&f);
        let desc = xdp_desc {
            addr: f.addr,
            len: f.len,
            options: 0,
        };
        if self.rings.tx.push_batch(core::iter::once(desc)) == 0 {
            return Err(f);
        }
        self.in_use -= 1;
        self.kernel_tx += 1;
        Ok(())
    }

    /// Wakes the kernel to send what is on the TX ring, only if it asked for it.
    pub fn flush_tx(&mut self) {
        if self.kernel_tx == 0 || !(self.rings.tx.needs_wakeup() || self.busy_poll) {
            return;
        }
        // Copy mode sends at most 32 descriptors per kick (the kernel's TX_BATCH_SIZE)
        // and answers EAGAIN while more wait; nothing sends the rest until the next kick.
        // Kick until the ring is drained: a worker that went to sleep with frames left on
        // the ring would hold them until its next timer (a lost tail, then an RTO).
        let kicks = self.rings.tx.outstanding() / 32 + 2;
        for _ in 0..kicks {
            // SAFETY: a zero-length sendto only kicks the kernel's TX processing.
            let rc = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    core::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    core::ptr::null(),
                    0,
                )
            };
            if rc >= 0 {
                if self.rings.tx.outstanding() == 0 {
                    break;
                }
                continue;
            }
            match io::Error::last_os_error().raw_os_error() {
                // More wait (EAGAIN), or the device was busy for a moment (EBUSY).
                Some(libc::EAGAIN) | Some(libc::EBUSY) => {}
                // The completion ring is full: reclaim, then go on.
                Some(libc::ENOBUFS) => {
                    self.complete();
                }
                _ => break,
            }
            if self.rings.tx.outstanding() == 0 {
                break;
            }
        }
    }

    /// Returns sent frames from the completion ring to the free list.
    pub fn complete(&mut self) -> usize {
        let (umem, free) = (&self.umem, &mut self.free);
        let n = self
            .rings
            .comp
            .pop_batch(u32::MAX, |addr| free.push(umem.base(addr)));
        self.kernel_tx -= n;
        n as usize
    }

    /// Returns a frame the caller is done with to the free list.
    pub fn release(&mut self, f: Frame) {
        self.umem.check(&f);
        let base = self.umem.base(f.addr);
        self.free.push(base);
        self.in_use -= 1;
    }

    /// Sleeps in poll() until the socket has frames to read or `timeout_ms` passes.
    pub fn wait(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(rc > 0)
    }

    /// Like `wait`, but also returns when `waker` is woken (something queued for this
    /// worker in memory). Returns at once if `ready` says there is work after the sleep
    /// was announced.
    pub fn wait_with(
        &self,
        waker: &super::Waker,
        ready: &dyn Fn() -> bool,
        timeout_ms: i32,
    ) -> io::Result<bool> {
        waker.announce();
        if ready() {
            waker.done();
            return Ok(true);
        }
        let mut pfds = [
            libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: waker.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), 2, timeout_ms) };
        waker.done();
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(rc > 0)
    }

    fn total(&self) -> u32 {
        self.umem.total()
    }

    /// Where every frame of the UMEM is now.
    pub fn accounting(&self) -> FrameAccounting {
        FrameAccounting {
            free: self.free.len() as u32,
            kernel_rx: self.kernel_rx,
            in_use: self.in_use,
            kernel_tx: self.kernel_tx,
            total: self.total(),
        }
    }

    /// The kernel's drop counters for this socket (XDP_STATISTICS).
    pub fn statistics(&self) -> io::Result<XdpStatistics> {
        // SAFETY: plain integers.
        let mut s: xdp_statistics = unsafe { core::mem::zeroed() };
        getsockopt(self.fd.as_raw_fd(), SOL_XDP, XDP_STATISTICS, &mut s)?;
        Ok(XdpStatistics {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_sizes_default_to_half_the_frames_and_are_checked() {
        let mut c = XskConfig::new("eth0", 0);
        c.frame_count = 1024;
        assert_eq!((c.rx_ring_size(), c.fill_ring_size()), (512, 512));
        assert!(c.validate().is_ok());
        c.rx_ring = 1024;
        c.fill_ring = 64;
        assert_eq!((c.rx_ring_size(), c.fill_ring_size()), (1024, 64));
        assert!(c.validate().is_ok());
        for (rx, fill) in [(100, 0), (2048, 0), (0, 32), (0, 3000)] {
            c.rx_ring = rx;
            c.fill_ring = fill;
            let err = c.validate().expect_err("refused").to_string();
            assert!(err.contains("ring size"), "{err}");
        }
    }
}
