//! The kernel log: /dev/kmsg read from where the fuzz started.

use std::io::Read as _;
use std::os::fd::AsRawFd as _;

/// /dev/kmsg opened at its end: reads the records logged since.
pub(super) struct Kmsg(std::fs::File);

impl Kmsg {
    pub(super) fn open_at_end() -> Result<Kmsg, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .map_err(|e| format!("/dev/kmsg: {e}"))?;
        // SAFETY: lseek on our own fd.
        if unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_END) } < 0 {
            return Err(format!(
                "lseek /dev/kmsg: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Kmsg(f))
    }

    /// The messages logged since the last call, and whether some were
    /// overwritten before they could be read.
    pub(super) fn read_new(&mut self) -> (Vec<String>, bool) {
        let mut out = Vec::new();
        let mut lost = false;
        let mut buf = vec![0u8; 8192];
        loop {
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    if let Some((_, msg)) = rec.split_once(';') {
                        out.push(msg.trim_end_matches('\n').to_string());
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => lost = true,
                Err(_) => break,
            }
        }
        (out, lost)
    }
}
