//! Socket table cost: lookup, and insert+remove, with two threads working at once, at 1k,
//! 64k and 1M entries. `cargo bench -p fastpath-engine --bench socket_table`.
//!
//! Each runs on a table with one replica (both threads share every lock, as all lookups
//! did before the table had replicas) and with two (each thread reads its own, as each
//! worker does; a write changes both): before and after, side by side in one run. A row
//! for IPv6 lookups (`socket_table_v6`, 64k entries, two replicas) beside the IPv4 ones.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fastpath_engine::table::{Owner, SocketTable};
use fastpath_engine::tcp::{FourTuple, FourTuple6};

fn tuple6(i: u32) -> FourTuple6 {
    FourTuple6 {
        local: "2001:db8::10".parse().unwrap(),
        remote: std::net::Ipv6Addr::from(
            0x2001_0db8_0000_0000_0000_0000_0001_0000u128 + u128::from(i >> 16),
        ),
        local_port: 80,
        remote_port: (i & 0xffff) as u16,
    }
}

fn tuple(i: u32) -> FourTuple {
    FourTuple {
        local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
        remote: SocketAddrV4::new(Ipv4Addr::from(0x0a01_0000 + (i >> 16)), (i & 0xffff) as u16),
    }
}

fn filled(n: u32, replicas: usize) -> Arc<SocketTable> {
    let t = Arc::new(SocketTable::with_readers(n as usize, replicas));
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

fn bench_v6(c: &mut Criterion) {
    let n = 64_000u32;
    let table = Arc::new(SocketTable::with_readers(0, 2));
    for i in 0..n {
        let o = Owner {
            worker: (i % 2) as u16,
            slot: i,
        };
        table.insert6(tuple6(i), o).unwrap();
    }
    let mut group = c.benchmark_group("socket_table_v6/2_replicas");
    group.throughput(Throughput::Elements(1));
    group.bench_with_input(BenchmarkId::new("lookup_2_threads", n), &n, |b, &n| {
        b.iter_custom(|iters| {
            let t2 = table.clone();
            with_contention(
                iters,
                |i| {
                    let k = tuple6((i.wrapping_mul(2_654_435_761) % n as u64) as u32);
                    assert!(table.get6_as(0, &k).is_some());
                },
                move |i| {
                    let k = tuple6((i.wrapping_mul(40_503) % n as u64) as u32);
                    std::hint::black_box(t2.get6_as(1, &k));
                },
            )
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    for n in [1_000u32, 64_000, 1_000_000] {
        // One replica: both threads share every lock (the table before replicas); two:
        // each thread reads its own, as each worker does.
        for replicas in [1usize, 2] {
            let table = filled(n, replicas);
            let mut group = c.benchmark_group(format!("socket_table/{replicas}_replicas"));
            group.throughput(Throughput::Elements(1));
            group.bench_with_input(BenchmarkId::new("lookup_2_threads", n), &n, |b, &n| {
                b.iter_custom(|iters| {
                    let t2 = table.clone();
                    with_contention(
                        iters,
                        |i| {
                            let k = tuple((i.wrapping_mul(2_654_435_761) % n as u64) as u32);
                            assert!(table.get_as(0, &k).is_some());
                        },
                        move |i| {
                            let k = tuple((i.wrapping_mul(40_503) % n as u64) as u32);
                            std::hint::black_box(t2.get_as(1, &k));
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
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = bench, bench_v6
}
criterion_main!(benches);
