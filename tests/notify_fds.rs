//! Descriptors a sender attaches to a notify message are closed by the listener, however
//! many there are (alone in this file: it counts this process's open descriptors).

mod support;

use std::time::Duration;

use pidward::notify::Listener;
use support::notify::{open_fds, python_send, recv_within};

#[test]
fn attached_descriptors_are_closed() {
    let listener = Listener::bind_private().unwrap();
    // A few descriptors, then more than the control buffer has room for (the kernel then
    // discards the extra ones and the credentials must still be read).
    for (count, status) in [(3, "three"), (200, "many")] {
        let _sender = python_send(&listener, format!("STATUS={status}").as_bytes(), count);
        let before = open_fds();
        let n = recv_within(&listener, Duration::from_secs(5)).expect("accepted");
        assert_eq!(n.status.as_deref(), Some(status));
        assert_eq!(open_fds(), before, "after {count} descriptors");
    }
    assert_eq!(listener.ignored(), 0);
}
