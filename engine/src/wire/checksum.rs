//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

use std::net::{Ipv4Addr, Ipv6Addr};

/// Ones'-complement sum of `data` as big-endian 16-bit words (odd tail padded with zero),
/// folded to 16 bits, not inverted.
///
/// Summed in native byte order 32 bits at a time into four independent 64-bit
/// accumulators (the compiler vectorises the loop), byte-swapped once at the end: RFC 1071
/// §2(B), the sum is independent of byte order. No carry is lost: a 64 KB segment adds
/// at most 2^14 words below 2^32 into each accumulator.
pub fn sum(data: &[u8]) -> u16 {
    let s = fold(sum_native(data));
    if cfg!(target_endian = "little") {
        s.swap_bytes()
    } else {
        s
    }
}

fn sum_native(data: &[u8]) -> u64 {
    let mut acc = [0u64; 4];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        for (i, a) in acc.iter_mut().enumerate() {
            let w = [c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]];
            *a += u64::from(u32::from_ne_bytes(w));
        }
    }
    let mut total = acc.iter().fold(0u64, |t, &a| {
        // Keep the sum of sums in range by folding each once (ones'-complement safe).
        t + (a & 0xffff_ffff) + (a >> 32)
    });
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        total += u64::from(u16::from_ne_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        // The odd byte, padded with a zero byte after it in memory order.
        total += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    total
}

fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Adds partial sums in ones'-complement arithmetic.
pub fn combine(parts: &[u16]) -> u16 {
    fold(parts.iter().map(|&p| p as u64).sum())
}

/// The IPv4 pseudo-header sum for TCP/UDP (RFC 9293 §3.1): addresses, protocol, length.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    combine(&[
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
        protocol as u16,
        length,
    ])
}

/// The IPv6 pseudo-header sum for upper-layer checksums (RFC 8200 8.1): addresses, the
/// upper-layer packet length as 32 bits, three zero bytes and the next header.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u16 {
    let words = |a: Ipv6Addr| a.segments().into_iter().map(u64::from).sum::<u64>();
    fold(
        words(src)
            + words(dst)
            + u64::from(length >> 16)
            + u64::from(length & 0xffff)
            + u64::from(next_header),
    )
}

/// The checksum field value for `data` (whose own checksum field must be zero or be the
/// value being verified) plus an extra partial sum such as a pseudo-header.
pub fn checksum(data: &[u8], extra: u16) -> u16 {
    !combine(&[sum(data), extra])
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit field changed from `old` to `new`:
/// `HC' = ~(~HC + ~m + m')`.
pub fn update(hc: u16, old: u16, new: u16) -> u16 {
    !combine(&[!hc, !old, new])
}

/// RFC 1624 for a 32-bit field (two 16-bit words).
pub fn update32(hc: u16, old: u32, new: u32) -> u16 {
    let hc = update(hc, (old >> 16) as u16, (new >> 16) as u16);
    update(hc, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for p in data.chunks(2) {
            let w = if p.len() == 2 {
                u16::from_be_bytes([p[0], p[1]])
            } else {
                (p[0] as u16) << 8
            };
            acc += w as u32;
        }
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        assert_eq!(
            sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn wide_sum_matches_naive_for_every_length() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for len in 0..300 {
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            assert_eq!(sum(&data), naive(&data), "len {len}");
        }
        let ones = vec![0xffu8; 1500];
        assert_eq!(sum(&ones), naive(&ones));
    }

    #[test]
    fn incremental_update_equals_recompute() {
        let mut rng = Rng(42);
        for _ in 0..2000 {
            let mut data: Vec<u8> = (0..40).map(|_| rng.next() as u8).collect();
            data[10] = 0;
            data[11] = 0;
            let hc = checksum(&data, 0);
            let at = 2 * (rng.next() as usize % 20);
            if at == 10 {
                continue;
            }
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            let new = rng.next() as u16;
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            let full = checksum(&data, 0);
            let inc = update(hc, old, new);
            // 0x0000 and 0xffff are the same number in ones' complement.
            assert!(inc == full || (inc == 0xffff && full == 0) || (inc == 0 && full == 0xffff));
        }
    }
}
