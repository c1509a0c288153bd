#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pidward_fuzz::rlimit_spec::check(data));
