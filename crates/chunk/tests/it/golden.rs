//! Chunks whose bytes were derived by hand from the format description
//! (docs/formats/chunk.md), bit group by bit group, not produced by this crate.

use prom_chunk::{Padding, XorAppender, XorChunk};

use crate::{bits, decode, encode};

/// Timestamps 1000, 16000, 31000 ms; values 1.0, 1.0, 2.0.
const THREE: [u8; 18] = [
    0x00, 0x03, // 3 samples
    0xd0, 0x0f, // t0 = 1000: zigzag 2000 as a varint (0x50 | 0x80, 0x0f)
    0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // v0 = 1.0
    0x98, 0x75, // t1 - t0 = 15000 as a uvarint (0x18 | 0x80, 0x75)
    // Bits: '0' v1 unchanged; '0' dod 0; v2: xor 0x7ff0000000000000 (1 leading, 52 trailing
    // zeros) in a new window: '11' '00001' '001011' then 11 ones; 6 padding bits.
    // 0011 0000 | 1001 0111 | 1111 1111 | 1100 0000
    0x30, 0x97, 0xff, 0xc0,
];

#[test]
fn three_samples() {
    let samples = [(1000, 1.0), (16000, 1.0), (31000, 2.0)];
    let app = encode(&samples);
    assert_eq!(app.bytes(), THREE);
    // 122 stream bits: not a byte boundary, so Prometheus 2 padding adds nothing.
    let app = app.with_padding(Padding::Prometheus2);
    assert_eq!(app.bytes(), THREE);
    assert_eq!(bits(&decode(&THREE)), bits(&samples));
}

/// Every timestamp bucket, a negative first timestamp, window reuse and -0.0.
const BUCKETS: [u8; 38] = [
    0x00, 0x07, // 7 samples
    0x01, // t0 = -1: zigzag 1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // v0 = 0.0
    0x0a, // delta 10
    // v1 = 0.5: xor 0x3fe0000000000000, 2 leading, 53 trailing, 9 meaningful:
    //   '11' '00010' '001001' '111111111'
    // t2 = 29: dod 10: '10' + 14 bits '00000000001010'
    // v2 = 2^-9 (0x3f60000000000000): xor 0x0080000000000000 fits the window: '10' '000000100'
    // t3 = 10049: dod 10000: '110' + 17 bits '00010011100010000'; v3 unchanged '0'
    // t4 = 10050: dod -10019: '110' + 17 bits of 131072 - 10019 = '11101100011011101'; '0'
    // t5 = 510051: dod 500000: '1110' + 20 bits '01111010000100100000'
    // v5 = -0.0: xor 0xbf60000000000000, 0 leading, 53 trailing: new window
    //   '11' '00000' '001011' '10111111011'
    // t6 = t5 + 2^40: dod 2^40 - 500001: '1111' + 64 bits 0x000000fffff85edf; v6 unchanged '0'
    // 208 bits in all, no padding.
    0xc4, 0x4f, 0xfe, 0x00, 0x2a, 0x02, 0x61, 0x38, 0x83, 0x76, 0x37, 0x5c, 0xf4, 0x24, 0x18, 0x0b,
    0xbf, 0x7e, 0x00, 0x00, 0x01, 0xff, 0xff, 0xf0, 0xbd, 0xbe,
];

fn bucket_samples() -> [(i64, f64); 7] {
    let v2 = f64::from_bits(0x3f60_0000_0000_0000);
    [
        (-1, 0.0),
        (9, 0.5),
        (29, v2),
        (10_049, v2),
        (10_050, v2),
        (510_051, -0.0),
        (510_051 + (1 << 40), -0.0),
    ]
}

#[test]
fn every_bucket() {
    let samples = bucket_samples();
    let app = encode(&samples);
    assert_eq!(app.bytes(), BUCKETS);
    // On a byte boundary, but the last field is a single bit: no extra byte either.
    assert_eq!(app.with_padding(Padding::Prometheus2).bytes(), BUCKETS);
    assert_eq!(bits(&decode(&BUCKETS)), bits(&samples));
}

/// Leading zeros clamped to 31 and 64 meaningful bits stored as 0.
const WIDE: [u8; 34] = [
    0x00, 0x04, // 4 samples
    0x00, // t0 = 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // v0 = 0.0
    0x01, // delta 1
    // v1 bits 0x0000000000ff0000: 40 leading zeros clamp to 31, 16 trailing, 17 meaningful:
    //   '11' '11111' '010001' '00000000011111111'
    // t2: '0'; v2 = v1 ^ 0x8000000000000001: 64 meaningful: '11' '00000' '000000' + 64 bits
    // t3: '0'; v3 = v2 ^ 0x100: fits the 64-bit window: '10' + 64 bits; 1 padding bit
    0xfe, 0x88, 0x03, 0xfd, 0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
];

#[test]
fn wide_windows() {
    let v1 = 0x0000_0000_00ff_0000u64;
    let v2 = v1 ^ 0x8000_0000_0000_0001;
    let v3 = v2 ^ 0x100;
    let samples = [
        (0, 0.0),
        (1, f64::from_bits(v1)),
        (2, f64::from_bits(v2)),
        (3, f64::from_bits(v3)),
    ];
    let app = encode(&samples);
    assert_eq!(app.bytes(), WIDE);
    assert_eq!(bits(&decode(&WIDE)), bits(&samples));
}

#[test]
fn prometheus2_padding() {
    // One sample, the staleness marker: Prometheus 2 always leaves an empty byte after it.
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let one = [
        0x00, 0x01, 0x00, 0x7f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    ];
    let app = encode(&[(0, stale)]);
    assert_eq!(app.bytes(), one);
    let app = app.with_padding(Padding::Prometheus2);
    assert_eq!(app.bytes(), [&one[..], &[0x00]].concat());
    assert_eq!(bits(&decode(app.bytes())), bits(&[(0, stale)]));

    // 32 stream bits after the delta, the last field 8 whole bits: one more zero byte.
    // v1 bits 0x00ff000000000000: '11' '01000' '001000' '11111111'
    // t2 '0'; v2 = v1 ^ 0x0081000000000000, same window: '10' '10000001'
    let v1 = 0x00ff_0000_0000_0000u64;
    let samples = [
        (0, 0.0),
        (1, f64::from_bits(v1)),
        (2, f64::from_bits(v1 ^ 0x0081_0000_0000_0000)),
    ];
    let minimal = [
        0x00, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xd0, 0x47, 0xfa, 0x81,
    ];
    let app = encode(&samples);
    assert_eq!(app.bytes(), minimal);
    let app = app.with_padding(Padding::Prometheus2);
    assert_eq!(app.bytes(), [&minimal[..], &[0x00]].concat());

    // Reopening a chunk with the extra byte continues right after the last sample.
    let mut reopened = XorAppender::from_chunk(app.bytes()).unwrap();
    reopened.append(3, 1.0).unwrap();
    let mut straight = encode(&samples);
    straight.append(3, 1.0).unwrap();
    assert_eq!(reopened.bytes(), straight.bytes());
}

#[test]
fn reopened_single_sample_chunk_writes_a_full_window() {
    // Prometheus reopens a chunk by iterating it; its iterator starts with a window of 0
    // leading and 0 trailing zeros, so the next changed value goes out as '10' + 64 bits
    // instead of a new window. We do the same to produce the same bytes.
    let one = [0x00, 0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0];
    let mut app = XorAppender::from_chunk(&one).unwrap();
    app.append(16000, 2.0).unwrap();
    let b = app.bytes();
    // 0x98 0x75: delta 15000; then '10' + 0x7ff0000000000000 over 64 bits; 6 padding bits.
    assert_eq!(
        &b[..14],
        &[
            0x00, 0x02, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x98, 0x75
        ]
    );
    assert_eq!(&b[14..], &[0x9f, 0xfc, 0, 0, 0, 0, 0, 0, 0x00]);
    assert_eq!(decode(b), [(1000, 1.0), (16000, 2.0)]);
    assert_eq!(XorChunk::new(b).unwrap().num_samples(), 2);
}
