//! Hot pure paths, measured: what tcp-serve does to parse a request and what
//! the client does to parse a response, what the recorder thread does per
//! sample, and what the CSV exporter does per row. If any got slow, a busy
//! server or a perf sweep would measure xfer instead of the peer.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use xfer::load::{Event, Sample, MAX_PHASES};
use xfer::report::csv_out::{Flush, SampleCsv};
use xfer::report::Recorder;
use xfer::sftp::client::PHASES;
use xfer::tcp::protocol::{find_head_end, parse_request, parse_response};

fn sample(i: u64) -> Sample {
    let mut phases = [None; MAX_PHASES];
    phases[5] = Some(Duration::from_micros(800 + (i * 7919) % 5000));
    Sample {
        user: (i % 64) as u32,
        pass: 0,
        step: i,
        attempt: 1,
        offset: i << 20,
        bytes: 1 << 20,
        intended: Duration::from_micros(i * 1000),
        started: Duration::from_micros(i * 1000 + 20),
        elapsed: Duration::from_micros(900),
        phases,
        error: None,
    }
}

fn recording(c: &mut Criterion) {
    let events: Vec<Event> = (0..1024).map(|i| Event::Sample(sample(i))).collect();
    let mut g = c.benchmark_group("recorder");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("observe 1024 samples", |b| {
        let mut r = Recorder::new(PHASES, 5, 64);
        b.iter(|| {
            for e in &events {
                r.observe(black_box(e));
            }
        })
    });
    g.finish();
}

fn csv_rows(c: &mut Criterion) {
    let samples: Vec<Sample> = (0..1024).map(sample).collect();
    let mut g = c.benchmark_group("chunks.csv");
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.bench_function("write 1024 rows", |b| {
        let mut w = SampleCsv::new(std::io::sink(), PHASES, Flush::EveryRow).unwrap();
        b.iter(|| {
            for s in &samples {
                w.write(black_box(s)).unwrap();
            }
        })
    });
    g.finish();
}

fn http_parsing(c: &mut Criterion) {
    let request = b"GET /data/reports/2026/11/file%20name.bin HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n";
    let response = b"HTTP/1.1 200 OK\r\nServer: xfer\r\nContent-Length: 4096\r\nKeep-Alive: timeout=30\r\nConnection: keep-alive\r\n\r\n";
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));
    g.bench_function("find head end + parse request", |b| {
        b.iter(|| {
            let end = find_head_end(black_box(request)).unwrap();
            parse_request(&request[..end]).unwrap()
        })
    });
    g.bench_function("parse response head", |b| {
        b.iter(|| parse_response(black_box(response)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, http_parsing, recording, csv_rows);
criterion_main!(benches);
