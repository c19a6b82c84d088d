//! A pcap writer for `--pcap`: AF_XDP traffic bypasses the kernel, so tcpdump on the
//! interface cannot see it; the engine writes what it receives and sends itself.
//! Format: <https://www.tcpdump.org/manpages/pcap-savefile.5.html> (microsecond
//! timestamps, LINKTYPE_ETHERNET).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const MAGIC: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 65535;

pub struct PcapWriter {
    out: BufWriter<File>,
}

impl PcapWriter {
    pub fn create(path: &Path) -> io::Result<PcapWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&MAGIC.to_ne_bytes());
        h.extend_from_slice(&2u16.to_ne_bytes());
        h.extend_from_slice(&4u16.to_ne_bytes());
        h.extend_from_slice(&0i32.to_ne_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_ne_bytes()); // sigfigs
        h.extend_from_slice(&SNAPLEN.to_ne_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out })
    }

    /// Appends one frame stamped with the wall clock.
    pub fn write(&mut self, frame: &[u8]) -> io::Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let len = frame.len().min(SNAPLEN as usize) as u32;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&(now.as_secs() as u32).to_ne_bytes());
        h[4..8].copy_from_slice(&now.subsec_micros().to_ne_bytes());
        h[8..12].copy_from_slice(&len.to_ne_bytes());
        h[12..16].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&frame[..len as usize])
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for PcapWriter {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let dir = std::env::temp_dir().join(format!("fp-pcap-{}", std::process::id()));
        {
            let mut w = PcapWriter::create(&dir).unwrap();
            w.write(&[1, 2, 3]).unwrap();
        }
        let b = std::fs::read(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(b.len(), 24 + 16 + 3);
        assert_eq!(u32::from_ne_bytes(b[0..4].try_into().unwrap()), MAGIC);
        assert_eq!(
            u32::from_ne_bytes(b[20..24].try_into().unwrap()),
            LINKTYPE_ETHERNET
        );
        assert_eq!(u32::from_ne_bytes(b[32..36].try_into().unwrap()), 3);
        assert_eq!(&b[40..], &[1, 2, 3]);
    }
}
