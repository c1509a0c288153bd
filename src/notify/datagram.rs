//! One sd_notify datagram as recvmsg(2) delivers it: the bytes, the sender's kernel-attested
//! credentials (`SCM_CREDENTIALS`) and the descriptors it carried (`SCM_RIGHTS`).

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::error::{Call, Error};
use super::message::MAX_MESSAGE;

/// One received datagram with its sender's credentials.
pub(super) struct Datagram {
    pub(super) bytes: [u8; MAX_MESSAGE],
    pub(super) len: usize,
    pub(super) truncated: bool,
    pub(super) has_credentials: bool,
    pub(super) pid: u32,
    pub(super) uid: u32,
    /// Descriptors the sender attached, held until the datagram has been checked: closing
    /// them answers a barrier, and the sender may exit as soon as it is answered.
    pub(super) _fds: Vec<OwnedFd>,
}

impl Datagram {
    /// recvmsg(2) of one datagram with its credentials; `None` on `EAGAIN`. Descriptors passed
    /// with `SCM_RIGHTS` are closed when the returned datagram is dropped.
    pub(super) fn recv(fd: BorrowedFd<'_>) -> Result<Option<Datagram>, Error> {
        let mut datagram = Datagram {
            bytes: [0; MAX_MESSAGE],
            len: 0,
            truncated: false,
            has_credentials: false,
            pid: 0,
            uid: 0,
            _fds: Vec::new(),
        };
        // Room for the credentials and for a good number of descriptors; if a sender passes
        // more, the kernel closes the ones that do not fit and sets MSG_CTRUNC, and the
        // credentials (which the kernel puts first) are still read.
        let mut control = [0u64; 64];
        let mut iov = libc::iovec {
            iov_base: datagram.bytes.as_mut_ptr().cast(),
            iov_len: MAX_MESSAGE,
        };
        // SAFETY: an all-zero msghdr is valid (no name, no buffers); the fields set below
        // point at `iov` and `control`, which outlive the call.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control) as _;
        let flags = libc::MSG_DONTWAIT | libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC;
        let n = loop {
            // SAFETY: `msg` describes valid, writable buffers of the stated sizes.
            let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, flags) };
            if n >= 0 {
                break n as usize;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(None),
                _ => return Err(Error::sys(Call::Recvmsg)(err)),
            }
        };
        datagram.len = n.min(MAX_MESSAGE);
        datagram.truncated = n > MAX_MESSAGE || msg.msg_flags & libc::MSG_TRUNC != 0;
        // SAFETY: `msg` was filled by a successful recvmsg; CMSG_FIRSTHDR/CMSG_NXTHDR stay
        // within msg_controllen as the kernel set it, and each header's data is read
        // unaligned.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                let header = &*cmsg;
                let data = libc::CMSG_DATA(cmsg);
                let data_len =
                    (header.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                if header.cmsg_level == libc::SOL_SOCKET {
                    if header.cmsg_type == libc::SCM_CREDENTIALS
                        && data_len >= mem::size_of::<libc::ucred>()
                    {
                        let cred: libc::ucred = std::ptr::read_unaligned(data.cast());
                        datagram.has_credentials = true;
                        datagram.pid = u32::try_from(cred.pid).unwrap_or(0);
                        datagram.uid = cred.uid;
                    } else if header.cmsg_type == libc::SCM_RIGHTS {
                        for i in 0..data_len / mem::size_of::<libc::c_int>() {
                            let raw: libc::c_int =
                                std::ptr::read_unaligned(data.cast::<libc::c_int>().add(i));
                            // The kernel installed this descriptor for us: we own it. It is
                            // closed when the datagram is dropped, after the sender check.
                            datagram._fds.push(OwnedFd::from_raw_fd(raw));
                        }
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok(Some(datagram))
    }
}
