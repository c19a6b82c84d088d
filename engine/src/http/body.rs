//! Request bodies in chunked coding (RFC 9112 7.1): chunk sizes, data, trailers, under
//! the body limit.

use super::date::DATE_LEN;
use super::response::Status;
use super::{Chunk, HttpConfig, Read, Session};
use crate::tcp::Conn;
use crate::time::Instant;

impl Session {
    /// Discards a chunked body. Returns whether progress was made.
    pub(super) fn chunked(
        &mut self,
        now: Instant,
        conn: &mut Conn,
        cfg: &HttpConfig,
        date: &[u8; DATE_LEN],
    ) -> bool {
        let Read::Chunked(mut state, mut seen) = self.read else {
            return false;
        };
        self.fill(now, conn, cfg.max_header_bytes);
        let start_len = self.inbuf.len();
        let mut at = 0;
        let result = loop {
            match state {
                Chunk::Size | Chunk::Trailer => {
                    let Some(e) = self.inbuf[at..].windows(2).position(|w| w == b"\r\n") else {
                        if self.inbuf.len() - at >= cfg.max_header_bytes {
                            break Err(Status::BadRequest);
                        }
                        break Ok(());
                    };
                    let line = &self.inbuf[at..at + e];
                    at += e + 2;
                    if state == Chunk::Trailer {
                        if line.is_empty() {
                            self.inbuf.drain(..at);
                            self.active_at = now;
                            self.body_done(date, cfg);
                            return true;
                        }
                        continue;
                    }
                    let size_part = line.split(|&b| b == b';').next().unwrap_or(b"");
                    let size = std::str::from_utf8(size_part)
                        .ok()
                        .map(str::trim)
                        .filter(|s| !s.is_empty() && s.len() <= 16)
                        .and_then(|s| u64::from_str_radix(s, 16).ok());
                    let Some(size) = size else {
                        break Err(Status::BadRequest);
                    };
                    seen = seen.saturating_add(size);
                    if seen > cfg.max_body {
                        break Err(Status::PayloadTooLarge);
                    }
                    state = if size == 0 {
                        Chunk::Trailer
                    } else {
                        Chunk::Data(size)
                    };
                }
                Chunk::Data(n) => {
                    let avail = (self.inbuf.len() - at) as u64;
                    let take = n.min(avail);
                    self.keep_buffered(at..at + take as usize);
                    at += take as usize;
                    let mut left = n - take;
                    if left > 0 && at == self.inbuf.len() {
                        // Straight from the connection, without copying (unless a
                        // handler is to see the body).
                        let direct = (left as usize).min(conn.readable());
                        self.keep_from(conn, direct);
                        conn.recv_consume(direct);
                        left -= direct as u64;
                    }
                    if left > 0 {
                        state = Chunk::Data(left);
                        break Ok(());
                    }
                    state = Chunk::DataEnd;
                }
                Chunk::DataEnd => {
                    if self.inbuf.len() - at < 2 {
                        break Ok(());
                    }
                    if &self.inbuf[at..at + 2] != b"\r\n" {
                        break Err(Status::BadRequest);
                    }
                    at += 2;
                    state = Chunk::Size;
                }
            }
        };
        match result {
            Ok(()) => {
                self.inbuf.drain(..at);
                self.read = Read::Chunked(state, seen);
                let progressed = at > 0 || self.inbuf.len() != start_len;
                if progressed {
                    self.active_at = now;
                }
                progressed && conn.readable() > 0
            }
            Err(status) => {
                self.error(status, date, cfg);
                false
            }
        }
    }
}
