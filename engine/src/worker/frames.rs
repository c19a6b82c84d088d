//! A program's own frame path in place of the stack: the hook a bench tool such as
//! `fastpath reflect` runs its per-frame work through (the reflecting itself lives in the
//! tool, on this hook).

/// A program's own per-frame path, in place of the engine's stack. Every frame the
/// steering program hands a worker goes to `on_frame` and nothing else looks at it (no
/// ARP, no ICMP, no TCP, no capture). For bench tools that measure the AF_XDP path itself.
/// Runs on the worker's core between two frames: no blocking.
pub trait FrameHandler: Send + Sync + std::fmt::Debug {
    /// The TCP port whose frames to the engine's addresses the steering program hands
    /// the workers (no listener is opened on it).
    fn port(&self) -> u16;

    /// Frames the first worker sends once, when it starts: writes the `i`th into `buf`
    /// and returns its length, or 0 when there are no more.
    fn initial_frame(&self, i: usize, buf: &mut [u8]) -> usize {
        let _ = (i, buf);
        0
    }

    /// A received frame, writable in place: true sends it back out as it now is, false
    /// releases it.
    fn on_frame(&self, frame: &mut [u8]) -> bool;
}
