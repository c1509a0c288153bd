#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pidward_fuzz::notify_datagram::check(data));
