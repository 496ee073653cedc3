//! The physical floors every figure is set against, measured in the same run: the loopback TCP
//! round trip (64-byte ping-pong, as `sockperf` measures it) and the latency of one 8 KiB write
//! forced with fdatasync (as `pg_test_fsync` does) in the bench's own directory.

use super::report::Floors;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Instant;

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Round trips of 64 bytes over loopback TCP (no Nagle), µs, sorted.
pub fn loopback_rtts(n: usize) -> std::io::Result<Vec<f64>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 64];
        loop {
            match s.read_exact(&mut buf) {
                Ok(()) => s.write_all(&buf)?,
                Err(_) => return Ok(()),
            }
        }
    });
    let mut c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let mut buf = [7u8; 64];
    let mut out = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        c.write_all(&buf)?;
        c.read_exact(&mut buf)?;
        if i >= n / 10 {
            // the first tenth warms up
            out.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    drop(c);
    let _ = echo.join();
    out.sort_by(f64::total_cmp);
    Ok(out)
}

/// Writes of 8 KiB at the start of a file in `dir`, each forced with fdatasync, µs, sorted.
pub fn syncs(dir: &Path, n: usize) -> std::io::Result<Vec<f64>> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("floor-sync.tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let block = vec![0x5au8; 8192];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(0))?;
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        out.push(t.elapsed().as_secs_f64() * 1e6);
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    out.sort_by(f64::total_cmp);
    Ok(out)
}

/// Both floors; `smoke` takes fewer samples.
pub fn measure(dir: &Path, smoke: bool) -> std::io::Result<Floors> {
    let rtt = loopback_rtts(if smoke { 2_000 } else { 20_000 })?;
    let sync = syncs(dir, if smoke { 20 } else { 300 })?;
    Ok(Floors {
        loopback_rtt_p50_us: percentile(&rtt, 0.5),
        loopback_rtt_p99_us: percentile(&rtt, 0.99),
        sync_p50_us: percentile(&sync, 0.5),
        sync_p99_us: percentile(&sync, 0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_are_positive_and_ordered() {
        let dir = std::env::temp_dir().join(format!("twosafe-floor-{}", std::process::id()));
        let f = measure(&dir, true).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(f.loopback_rtt_p50_us > 0.0 && f.loopback_rtt_p50_us <= f.loopback_rtt_p99_us);
        assert!(f.sync_p50_us > 0.0 && f.sync_p50_us <= f.sync_p99_us);
    }
}
