//! The crate's error type.

/// Everything that can go wrong reading or writing an XOR chunk.
///
/// Decoding errors say which sample failed and at which bit, counted from the first byte of the
/// chunk (the sample count included), so a corrupt chunk can be located in a hex dump.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The chunk is shorter than its 2-byte sample count.
    #[error("chunk is {len} bytes long; an XOR chunk starts with a 2-byte sample count")]
    TooShort {
        /// Length of the input in bytes.
        len: usize,
    },
    /// The bit stream ends before the last sample the header announces.
    #[error(
        "chunk truncated: sample {sample} of {num_samples} needs bits past the end of the data \
         (at bit {bit_offset})"
    )]
    UnexpectedEnd {
        /// Index of the sample being decoded (0-based).
        sample: u16,
        /// Sample count from the chunk header.
        num_samples: u16,
        /// Bit offset, from the start of the chunk, at which reading stopped.
        bit_offset: u64,
    },
    /// The timestamp varint of sample 0 or 1 is longer than 10 bytes or overflows 64 bits.
    #[error("sample {sample}: timestamp varint overflows 64 bits (ends at bit {bit_offset})")]
    VarintOverflow {
        /// Index of the sample being decoded (0-based).
        sample: u16,
        /// Bit offset, from the start of the chunk, just after the offending byte.
        bit_offset: u64,
    },
    /// A value header announces more than 64 bits of leading zeros plus meaningful bits.
    #[error(
        "sample {sample}: value window of {leading} leading zeros and {meaningful} meaningful \
         bits exceeds 64 bits (header ends at bit {bit_offset})"
    )]
    InvalidWindow {
        /// Index of the sample being decoded (0-based).
        sample: u16,
        /// Leading-zero count read from the header.
        leading: u8,
        /// Meaningful-bit count read from the header (0 already turned into 64).
        meaningful: u8,
        /// Bit offset, from the start of the chunk, just after the window header.
        bit_offset: u64,
    },
    /// The chunk already holds 65,535 samples, the most its 16-bit count can express.
    #[error("chunk is full: it holds 65535 samples, the most its 16-bit count can express")]
    ChunkFull,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
