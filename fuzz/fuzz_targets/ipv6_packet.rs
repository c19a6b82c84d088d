#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fastpath_engine::fuzz::ipv6_packet(data));
