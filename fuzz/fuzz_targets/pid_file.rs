#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pidward_fuzz::pid_file::check(data));
