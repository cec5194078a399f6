//! MB/s of the whole message path (table, NBFX, SOAP, body JSON) over the flows that
//! `python benchmarks/decode.py FILE` writes from the captures:
//! `cargo run --release --example throughput FILE` (FILE: per flow u32 count, u32 table flag, then
//! per envelope u32 length + bytes). DECODE_ONLY: the document alone; BIG_ONLY: envelopes of
//! 400 kB and more; PASSES=N: N passes, for instruction counts (`valgrind --tool=callgrind`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Instant;
use wirecap_core::session::{SessionStrings, MAX_SESSION_BYTES};
use wirecap_core::soap::message_from_document;
use wirecap_core::structure::{decode, Limits};

fn u32_at(data: &[u8], pos: &mut usize) -> usize {
    let v = u32::from_le_bytes(data[*pos..*pos + 4].try_into().unwrap()) as usize;
    *pos += 4;
    v
}

fn main() {
    let path = std::env::args().nth(1).expect("a file of flows");
    let data = std::fs::read(path).unwrap();
    let mut flows: Vec<(bool, Vec<&[u8]>)> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let (count, table) = (u32_at(&data, &mut pos), u32_at(&data, &mut pos) == 1);
        let mut envs = Vec::new();
        for _ in 0..count {
            let n = u32_at(&data, &mut pos);
            envs.push(&data[pos..pos + n]);
            pos += n;
        }
        flows.push((table, envs));
    }
    if std::env::var_os("BIG_ONLY").is_some() {
        for (_, envs) in &mut flows {
            envs.retain(|env| env.len() >= 400_000);
        }
    }
    let decode_only = std::env::var_os("DECODE_ONLY").is_some();
    let size: usize = flows.iter().flat_map(|f| f.1.iter()).map(|e| e.len()).sum();
    // PASSES=N: exactly N passes (for instruction counts under callgrind), else as many as fit in 2 s
    let fixed: Option<usize> = std::env::var("PASSES").ok().and_then(|p| p.parse().ok());
    let start = Instant::now();
    let mut passes = 0;
    while fixed.map_or(start.elapsed().as_secs_f64() < 2.0, |n| passes < n) {
        for (table, envs) in &flows {
            let mut session = SessionStrings::new(true);
            for env in envs {
                let pos = if *table {
                    session.read_table(env, 0, MAX_SESSION_BYTES).unwrap().0
                } else {
                    0
                };
                let doc = decode(env, pos, &session.known, Limits::default()).unwrap();
                if !decode_only {
                    let message = message_from_document(&doc, &[]).unwrap();
                    std::hint::black_box(message);
                }
                std::hint::black_box(doc);
            }
        }
        passes += 1;
    }
    let mbps = (size * passes) as f64 / start.elapsed().as_secs_f64() / 1e6;
    println!("{mbps:.1} MB/s over {size} bytes x {passes}");
}
