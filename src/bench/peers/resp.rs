//! A minimal RESP client for the Redis peer: inline commands and the TPC-B-like
//! transaction (`MULTI; INCRBY ×3; RPUSH; EXEC; WAIT 1 0`) as one write.

use crate::bench::BenchError;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use twosafe_models::services::{Bank, BankOp, Service};

/// Sends one inline command and returns the reply's text (a bulk string's payload).
pub(super) fn command(port: u16, cmd: &str) -> Result<String, BenchError> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(format!("{cmd}\r\n").as_bytes())?;
    let mut r = BufReader::new(s);
    let mut head = String::new();
    r.read_line(&mut head)?;
    let Some(len) = head.strip_prefix('$') else {
        return Ok(head);
    };
    let len: usize = len.trim().parse().map_err(|_| format!("bad reply {head:?}"))?;
    let mut body = vec![0u8; len + 2];
    std::io::Read::read_exact(&mut r, &mut body)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

pub(super) fn resp(args: &[&str]) -> String {
    let mut s = format!("*{}\r\n", args.len());
    for a in args {
        s.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s
}

/// One TPC-B-like transaction and its WAIT, as one write; the reply is 11 lines.
pub(super) fn transaction(op: &BankOp) -> String {
    let BankOp::Transfer { account, teller, branch, delta } = *op else {
        return String::new();
    };
    let d = delta.to_string();
    let mut s = resp(&["MULTI"]);
    s += &resp(&["INCRBY", &format!("a:{account}"), &d]);
    s += &resp(&["INCRBY", &format!("t:{teller}"), &d]);
    s += &resp(&["INCRBY", &format!("b:{branch}"), &d]);
    s += &resp(&["RPUSH", "h", &format!("{account}:{teller}:{branch}:{d}")]);
    s += &resp(&["EXEC"]);
    s += &resp(&["WAIT", "1", "0"]);
    s
}

pub(super) fn client(port: u16, id: usize, until: Instant) -> Result<Vec<u64>, BenchError> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    let mut out = Vec::new();
    let mut line = String::new();
    let mut i = 0;
    while Instant::now() < until {
        let tx = transaction(&Bank::workload(id, i));
        i += 1;
        let t = Instant::now();
        w.write_all(tx.as_bytes())?;
        for k in 0..11 {
            line.clear();
            r.read_line(&mut line)?;
            if line.starts_with('-') {
                return Err(BenchError::Run(format!("Redis: {}", line.trim())));
            }
            if k == 10 && line.trim() == ":0" {
                return Err("WAIT 1 0 returned 0 replicas".into());
            }
        }
        out.push(t.elapsed().as_micros() as u64);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_is_five_commands_then_wait() {
        let t = transaction(&BankOp::Transfer { account: 7, teller: 1, branch: 0, delta: -5 });
        assert_eq!(t.matches("\r\n*").count() + 1, 7);
        assert!(t.starts_with("*1\r\n$5\r\nMULTI\r\n"));
        assert!(t.ends_with("*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n"));
        assert!(t.contains("$3\r\na:7\r\n$2\r\n-5\r\n"));
    }
}
