//! Opening and replacing the node's own files when someone else may have
//! planted something at their paths: a symbolic link to a file elsewhere
//! (writing through it would overwrite that file), a FIFO (opening it would
//! block forever) or a device.
//!
//! - [`open_regular`] opens an existing file without following a link at
//!   the last component and refuses anything but a regular file.
//! - [`create_unique`] makes a fresh temporary file next to a target (never
//!   an existing path, never through a link).
//! - [`check_replaceable`] says whether a path may be replaced by a rename:
//!   absent or a regular file, never a directory, device, FIFO, socket or
//!   link.
//! - [`write_atomic`] writes a whole file through the two above.
//! - [`read_private`] and [`create_private`] read and create secret files
//!   (keys): never through a link, created 0600 and only once.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a path holds, in words for an error message.
fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

fn not_regular(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is {what}, not a regular file", path.display()),
    )
}

/// Opens the existing file at `path` with `options`, refusing a symbolic
/// link at its last component and anything that is not a regular file
/// (checked on the opened file, so nothing can be swapped in between).
/// A FIFO is opened without blocking, then refused.
pub fn open_regular(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        // O_NOFOLLOW on a link fails with ELOOP: name what is there.
        Err(e) => {
            return Err(match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => not_regular(path, "a symbolic link"),
                _ => e,
            });
        }
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(path, kind(&meta)));
    }
    #[cfg(unix)]
    clear_nonblock(&file)?;
    Ok(file)
}

/// Reads files as usual again once opened (the flag only kept `open` from
/// blocking on a FIFO).
#[cfg(unix)]
fn clear_nonblock(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function's caller owns; no memory
    // is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Refuses a `path` that a rename must not replace: anything present that
/// is not a regular file (a directory, a device, a FIFO, a socket, or a
/// symbolic link, which would be replaced rather than written through).
pub fn check_replaceable(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(()),
        Ok(meta) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is {}; refusing to replace it",
                path.display(),
                kind(&meta)
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A new, empty file in `target`'s directory, named after it with a unique
/// suffix (`.NAME.PID-N.tmp`), created exclusively with mode 0600: it was
/// not there before, so no link planted in advance is followed.
pub fn create_unique(target: &Path) -> io::Result<(File, PathBuf)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&tmp) {
            Ok(file) => return Ok((file, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads at most `max` bytes of the secret file at `path` (through
/// [`open_regular`]) and its permission bits, taken from the opened file.
pub fn read_private(path: &Path, max: u64) -> io::Result<(String, u32)> {
    use std::io::Read;
    let file = open_regular(path, OpenOptions::new().read(true))?;
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        file.metadata()?.permissions().mode() & 0o777
    };
    #[cfg(not(unix))]
    let mode = 0o600;
    let mut text = String::new();
    file.take(max).read_to_string(&mut text)?;
    Ok((text, mode))
}

/// Creates the secret file `path` holding `bytes`, mode 0600, synced;
/// `Ok(false)` if something is already there. `create_new` never follows a
/// link and never opens what exists, so two processes starting at once
/// cannot both write one.
pub fn create_private(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(bytes)?;
            file.sync_all()?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `bytes` atomically (a unique temporary file, synced,
/// then renamed over it, and the directory synced), so a crash leaves the
/// old file or the new one, never half of one. Refuses a `path` that is not
/// a regular file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    check_replaceable(path)?;
    let (mut file, tmp) = create_unique(path)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_planted_link_is_neither_followed_nor_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let link = dir.path().join("key");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = open_regular(&link, OpenOptions::new().read(true)).unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        let err = write_atomic(&link, b"overwritten").unwrap_err();
        assert!(err.to_string().contains("refusing to replace"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        // A dangling link is named the same way.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        let err = open_regular(&dangling, OpenOptions::new().read(true)).unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
    }

    #[test]
    fn a_fifo_a_directory_and_a_device_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = open_regular(&fifo, OpenOptions::new().read(true)).unwrap_err();
        assert!(err.to_string().contains("is a FIFO"), "{err}");
        let err = check_replaceable(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        let err = check_replaceable(Path::new("/dev/null")).unwrap_err();
        assert!(err.to_string().contains("is a device"), "{err}");
    }

    #[test]
    fn atomic_writes_replace_regular_files_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let mut text = String::new();
        use std::io::Read;
        open_regular(&path, OpenOptions::new().read(true))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "two");
    }
}
