//! A key-value server on the engine speaking the Redis protocol (RESP, and inline
//! commands): GET, SET, DEL, PING, INCR. Driven by `redis-cli` and `redis-benchmark`:
//!
//!     sudo cargo run --release -p fastpath-engine --example kv -- \
//!         --iface eth1 --ip 192.0.2.10/24 --port 6379
//!     redis-cli -h 192.0.2.10 SET greeting hello && redis-cli -h 192.0.2.10 GET greeting
//!     redis-benchmark -h 192.0.2.10 -t set,get,ping -P 16 -q
//!
//! An application per worker, all sharing one map behind a mutex; pipelined commands
//! answered in order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use clap::Parser;
use fastpath_engine::app::{App, ConnId, Event, Net};
use fastpath_engine::runtime::AppFactory;
use fastpath_engine::time::Instant;

mod common;

type Store = Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>;
const OUT_MAX: usize = 1 << 20; // replies waiting beyond: read no more (the client waits)

struct Kv {
    port: u16,
    store: Store,
    conns: HashMap<ConnId, (Vec<u8>, Vec<u8>)>, // (unparsed input, unsent replies)
}

type Command<'a> = (Vec<&'a [u8]>, usize); // words, and bytes taken
/// One command from `buf`; `Ok(None)`: not all there yet.
fn parse(buf: &[u8]) -> Result<Option<Command<'_>>, ()> {
    let line = |at: usize| Some(at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?);
    let num = |s: &[u8]| std::str::from_utf8(s).ok()?.parse::<usize>().ok();
    let Some(end) = line(0) else { return Ok(None) };
    if buf[0] != b'*' {
        // Inline: words separated by spaces (`PING\r\n`, what nc and telnet send).
        let words = buf[..end].split(|&b| b == b' ').filter(|w| !w.is_empty());
        return Ok(Some((words.collect(), end + 2)));
    }
    let n = num(&buf[1..end]).ok_or(())?;
    let (mut words, mut at) = (Vec::with_capacity(n), end + 2);
    for _ in 0..n {
        let Some(e) = line(at) else { return Ok(None) };
        let len = num(&buf[at + 1..e]).filter(|_| buf[at] == b'$').ok_or(())?;
        let Some(word) = buf.get(e + 2..e + 4 + len) else {
            return Ok(None);
        };
        words.push(&word[..len]);
        at = e + 2 + len + 2;
    }
    Ok(Some((words, at)))
}

fn bulk(v: &[u8]) -> Vec<u8> {
    [format!("${}\r\n", v.len()).as_bytes(), v, b"\r\n"].concat()
}

/// Runs one command, its reply appended to `out`.
fn run(store: &Store, w: &[&[u8]], out: &mut Vec<u8>) {
    let name = w.first().map_or(Vec::new(), |w| w.to_ascii_uppercase());
    let mut map = store.lock().unwrap_or_else(|e| e.into_inner());
    let reply = match (name.as_slice(), w.len()) {
        (b"PING", 1) => b"+PONG\r\n".to_vec(),
        (b"PING", 2) => bulk(w[1]),
        (b"GET", 2) => map.get(w[1]).map_or(b"$-1\r\n".to_vec(), |v| bulk(v)),
        (b"SET", 3) => {
            map.insert(w[1].to_vec(), w[2].to_vec());
            b"+OK\r\n".to_vec()
        }
        (b"DEL", 2..) => {
            let gone = w[1..].iter().filter(|k| map.remove(**k).is_some()).count();
            format!(":{gone}\r\n").into_bytes()
        }
        (b"INCR", 2) => {
            let int = |v: &Vec<u8>| std::str::from_utf8(v).ok()?.parse::<i64>().ok();
            let old = map.get(w[1]).map_or(Some(0), int);
            match old.and_then(|v| v.checked_add(1)) {
                Some(n) => {
                    map.insert(w[1].to_vec(), n.to_string().into_bytes());
                    format!(":{n}\r\n").into_bytes()
                }
                None => b"-ERR value is not an integer or out of range\r\n".to_vec(),
            }
        }
        (b"GET" | b"SET" | b"DEL" | b"INCR" | b"PING", _) => b"-ERR wrong arguments\r\n".to_vec(),
        _ => b"-ERR unknown command (known: GET SET DEL PING INCR)\r\n".to_vec(),
    };
    out.extend_from_slice(&reply);
}

impl Kv {
    /// Reads what arrived, answers every whole command, sends what fits.
    fn serve(&mut self, net: &mut Net<'_>, id: ConnId) {
        let (input, out) = self.conns.entry(id).or_default();
        while out.len() < OUT_MAX && net.readable(id) > 0 {
            let (a, b) = net.recv_view(id);
            input.extend_from_slice(a);
            input.extend_from_slice(b);
            net.consume(id, a.len() + b.len());
            let mut used = 0;
            while let Ok(Some((words, len))) = parse(&input[used..]) {
                run(&self.store, &words, out);
                used += len;
            }
            input.drain(..used);
            if parse(input).is_err() {
                return net.abort(id); // not RESP: Redis closes too
            }
        }
        let sent = net.send(id, out);
        out.drain(..sent); // the rest when `Writable` comes
    }
}

impl App for Kv {
    fn start(&mut self, _now: Instant, net: &mut Net<'_>) {
        let any = SocketAddr::from(([0, 0, 0, 0], self.port));
        if let Err(e) = net.listen(any) {
            eprintln!("worker {}: cannot listen on {any}: {e}", net.worker());
        }
    }

    fn on_event(&mut self, _now: Instant, net: &mut Net<'_>, id: ConnId, event: Event) {
        match event {
            Event::Accepted { .. } | Event::Readable | Event::Writable => self.serve(net, id),
            Event::PeerClosed => net.close(id),
            Event::Closed(_) => drop(self.conns.remove(&id)),
            Event::Connected => {}
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Common::parse();
    let (port, store) = (args.port, Store::default());
    let mut config = args.config();
    config.apps = Some(AppFactory::new(move |_, _| {
        let conns = HashMap::new();
        Some(Box::new(Kv {
            port,
            store: store.clone(),
            conns,
        }))
    }));
    common::run(config, &format!("the key-value store on port {port}"))
}
