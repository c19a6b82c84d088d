//! Socket table cost: lookup, and insert+remove, with two threads working at once, at 1k,
//! 64k and 1M entries; IPv4 lookups, and IPv6 lookups beside them (64k).
//! `cargo bench -p fastpath-engine --bench socket_table`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fastpath_engine::table::{Owner, SocketTable};
use fastpath_engine::tcp::{FourTuple, FourTuple6};

fn tuple(i: u32) -> FourTuple {
    FourTuple {
        local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
        remote: SocketAddrV4::new(Ipv4Addr::from(0x0a01_0000 + (i >> 16)), (i & 0xffff) as u16),
    }
}

fn tuple6(i: u32) -> FourTuple6 {
    FourTuple6 {
        local: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10),
        remote: Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, (i >> 16) as u16),
        local_port: 80,
        remote_port: (i & 0xffff) as u16,
    }
}

fn filled(n: u32) -> Arc<SocketTable> {
    let t = Arc::new(SocketTable::with_capacity(n as usize));
    for i in 0..n {
        t.insert(
            tuple(i),
            Owner {
                worker: (i % 2) as u16,
                slot: i,
            },
        )
        .unwrap();
    }
    t
}

/// Runs `f` for `iters` on this thread while a second thread does the same kind of work
/// on the same table, so every measured operation contends as it would with two workers.
fn with_contention<F, G>(iters: u64, mut f: F, g: G) -> Duration
where
    F: FnMut(u64),
    G: Fn(u64) + Send + Sync,
{
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                g(i);
                i += 1;
            }
        });
        let start = Instant::now();
        for i in 0..iters {
            f(i);
        }
        let took = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        took
    })
}

fn bench(c: &mut Criterion) {
    for n in [1_000u32, 64_000, 1_000_000] {
        let table = filled(n);
        let mut group = c.benchmark_group("socket_table");
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("lookup_2_threads", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let t2 = table.clone();
                with_contention(
                    iters,
                    |i| {
                        let k = tuple((i.wrapping_mul(2_654_435_761) % n as u64) as u32);
                        assert!(table.get(&k).is_some());
                    },
                    move |i| {
                        let k = tuple((i.wrapping_mul(40_503) % n as u64) as u32);
                        std::hint::black_box(t2.get(&k));
                    },
                )
            })
        });
        group.bench_with_input(
            BenchmarkId::new("insert_remove_2_threads", n),
            &n,
            |b, &n| {
                b.iter_custom(|iters| {
                    let t2 = table.clone();
                    with_contention(
                        iters,
                        |i| {
                            // Keys above the filled range: a connection opens and closes.
                            let k = tuple(n + 1 + (i % 4096) as u32);
                            let me = Owner {
                                worker: 0,
                                slot: i as u32,
                            };
                            table.insert(k, me).unwrap();
                            table.remove(&k, me);
                        },
                        move |i| {
                            let k = tuple(n + 10_000 + (i % 4096) as u32);
                            let me = Owner {
                                worker: 1,
                                slot: i as u32,
                            };
                            let _ = t2.insert(k, me);
                            t2.remove(&k, me);
                        },
                    )
                })
            },
        );
        if n == 64_000 {
            // The same lookups over IPv6 keys, in the same (IPv4-filled) table.
            for i in 0..n {
                let me = Owner {
                    worker: (i % 2) as u16,
                    slot: i,
                };
                table.insert6(tuple6(i), me).unwrap();
            }
            group.bench_with_input(BenchmarkId::new("lookup6_2_threads", n), &n, |b, &n| {
                b.iter_custom(|iters| {
                    let t2 = table.clone();
                    with_contention(
                        iters,
                        |i| {
                            let k = tuple6((i.wrapping_mul(2_654_435_761) % n as u64) as u32);
                            assert!(table.get6(&k).is_some());
                        },
                        move |i| {
                            let k = tuple6((i.wrapping_mul(40_503) % n as u64) as u32);
                            std::hint::black_box(t2.get6(&k));
                        },
                    )
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
