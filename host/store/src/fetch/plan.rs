//! Planning a blob's range requests: pure arithmetic on chunk ranges, no I/O.
//!
//! A blob is addressed in 1 KiB chunks (`ChunkNum`); iroh-blobs stores and
//! verifies them in groups of 16 (16 KiB). Given the chunk ranges still
//! missing from the store, [`plan_segments`] cuts them into the segments the
//! workers take from their shared queue, one range request per segment:
//!
//! - a lone provider with one stream gets one request for everything missing
//!   (each request has a fixed cost in the receiving store, and there is
//!   nobody to share the work with);
//! - otherwise every missing range is cut at the multiples of a segment size
//!   ([`segment_chunks`]) chosen so that each worker (one per stream per
//!   provider) gets about eight segments, each at least 1 MiB and at most the
//!   configured segment size, in whole chunk groups.
//!
//! The planner does not assign segments to providers: the workers of all
//! providers pull from one queue, so a fast provider takes more segments and
//! a dropped provider's segments go back for the others. What the plan
//! guarantees is that there are enough segments for every worker to get some.

use bao_tree::ChunkNum;
use iroh_blobs::protocol::{ChunkRanges, ChunkRangesExt};
use range_collections::range_set::RangeSetRange;

/// Bytes in a chunk.
const CHUNK_BYTES: u64 = 1024;
/// Chunks in one of iroh-blobs' chunk groups (16 KiB): segment sizes are
/// multiples of it.
pub(super) const CHUNK_GROUP: u64 = 16;
/// The smallest segment size when a blob is split (1 MiB), in chunks.
pub(super) const MIN_SEGMENT_CHUNKS: u64 = 1024;
/// How many segments each worker should get.
pub(super) const SEGMENTS_PER_WORKER: u64 = 8;

/// Who takes the planned requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Workers {
    /// Providers dialed for this fetch; segments are sized for all of them.
    pub(super) providers: usize,
    /// Of those, the ones still taking part (not dropped by the size probe).
    pub(super) active: usize,
    /// Concurrent range requests (workers) per provider.
    pub(super) streams_per_provider: usize,
}

impl Workers {
    /// The workers segments are sized for: one per stream per dialed
    /// provider, at least one.
    pub(super) fn count(&self) -> u64 {
        (self.providers * self.streams_per_provider.max(1)).max(1) as u64
    }

    /// Whether everything missing goes in a single request: one active
    /// provider with one stream.
    pub(super) fn single_request(&self) -> bool {
        self.active == 1 && self.streams_per_provider <= 1
    }
}

/// The largest segment `segment_bytes` allows, in chunks: rounded down to
/// whole chunk groups, at least one group.
pub(super) fn max_segment_chunks(segment_bytes: u64) -> u64 {
    (segment_bytes / CHUNK_BYTES).max(CHUNK_GROUP) / CHUNK_GROUP * CHUNK_GROUP
}

/// The first request of a blob whose size is unknown (its answer tells the
/// size): the first segment, at most 1 MiB, in chunks.
pub(super) fn first_segment_chunks(segment_bytes: u64) -> u64 {
    max_segment_chunks(segment_bytes).min(MIN_SEGMENT_CHUNKS)
}

/// The segment size, in chunks, for `missing_bytes` shared by `workers`:
/// about [`SEGMENTS_PER_WORKER`] segments per worker, clamped to at least
/// [`MIN_SEGMENT_CHUNKS`] and at most `max_segment_chunks` (or the minimum,
/// if that is smaller), rounded up to whole chunk groups.
///
/// Big enough that each stream mostly writes in order (many small
/// interleaved ranges cost ~25% in the bench), small enough that a slow
/// provider holds up the tail by at most one small segment.
pub(super) fn segment_chunks(missing_bytes: u64, workers: u64, max_segment_chunks: u64) -> u64 {
    (missing_bytes / CHUNK_BYTES / (workers.max(1) * SEGMENTS_PER_WORKER))
        .clamp(
            MIN_SEGMENT_CHUNKS,
            max_segment_chunks.max(MIN_SEGMENT_CHUNKS),
        )
        .div_ceil(CHUNK_GROUP)
        * CHUNK_GROUP
}

/// Cuts the `missing` chunk ranges of a blob of `size` bytes into the range
/// requests (segments) the workers take from their queue, in blob order.
///
/// With [`Workers::single_request`], the plan is one request for all of
/// `missing` (even when it is empty). Otherwise each missing range is cut at
/// the multiples of [`segment_chunks`]`(missing bytes, workers,
/// max_segment_chunks(segment_bytes))`, so every segment is one contiguous
/// range within one aligned window of that size.
///
/// In both cases the segments are disjoint and together cover exactly
/// `missing` (clipped to the blob's chunks).
pub(super) fn plan_segments(
    missing: &ChunkRanges,
    size: u64,
    workers: Workers,
    segment_bytes: u64,
) -> Vec<ChunkRanges> {
    if workers.single_request() {
        return vec![missing.clone()];
    }
    let seg = segment_chunks(
        ranges_bytes(missing, size),
        workers.count(),
        max_segment_chunks(segment_bytes),
    );
    let mut segments = Vec::new();
    for r in missing.iter() {
        let (start, end) = range_bounds(&r, size);
        let mut s = start;
        while s < end {
            let e = ((s / seg + 1) * seg).min(end);
            segments.push(ChunkRanges::chunks(s..e));
            s = e;
        }
    }
    segments
}

/// Bytes covered by `ranges` within a blob of `size` bytes (the last chunk
/// may be partial).
pub(super) fn ranges_bytes(ranges: &ChunkRanges, size: u64) -> u64 {
    ranges
        .iter()
        .map(|r| {
            let (s, e) = range_bounds(&r, size);
            (e * CHUNK_BYTES).min(size).saturating_sub(s * CHUNK_BYTES)
        })
        .sum()
}

/// The chunk bounds `[start, end)` of one range, clipped to the blob's
/// chunks (a blob has at least one chunk, even when empty).
pub(super) fn range_bounds(r: &RangeSetRange<&ChunkNum>, size: u64) -> (u64, u64) {
    let last = size.div_ceil(CHUNK_BYTES).max(1);
    match r {
        RangeSetRange::Range(r) => (r.start.0, r.end.0.min(last)),
        RangeSetRange::RangeFrom(r) => (r.start.0, last),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MIB: u64 = 1 << 20;

    /// The chunk bounds of each range of `ranges`, in order.
    fn bounds(ranges: &ChunkRanges, size: u64) -> Vec<(u64, u64)> {
        ranges.iter().map(|r| range_bounds(&r, size)).collect()
    }

    /// The chunk bounds of every segment, in plan order.
    fn segment_bounds(plan: &[ChunkRanges], size: u64) -> Vec<(u64, u64)> {
        plan.iter().flat_map(|s| bounds(s, size)).collect()
    }

    fn split(providers: usize, streams: usize) -> Workers {
        Workers {
            providers,
            active: providers,
            streams_per_provider: streams,
        }
    }

    #[test]
    fn counts_bytes_of_partial_last_chunk() {
        let size = 10 * 1024 + 5;
        assert_eq!(ranges_bytes(&ChunkRanges::chunks(0..11), size), size);
        assert_eq!(ranges_bytes(&ChunkRanges::chunks(10..), size), 5);
        assert_eq!(ranges_bytes(&ChunkRanges::chunks(0..1), size), 1024);
    }

    #[test]
    fn segment_limits_round_to_chunk_groups() {
        assert_eq!(max_segment_chunks(0), 16);
        assert_eq!(max_segment_chunks(16 * MIB), 16 * 1024);
        assert_eq!(max_segment_chunks(MIB + 1023), 1024);
        assert_eq!(max_segment_chunks(MIB + 16 * 1024 + 5), 1024 + 16);
        assert_eq!(first_segment_chunks(16 * MIB), 1024);
        assert_eq!(first_segment_chunks(64 * 1024), 64);
    }

    #[test]
    fn a_lone_provider_with_one_stream_gets_one_request() {
        let size = 100 * MIB;
        let missing = ChunkRanges::chunks(0..100 * 1024) - ChunkRanges::chunks(0..1024);
        let one = Workers {
            providers: 3,
            active: 1,
            streams_per_provider: 1,
        };
        assert_eq!(plan_segments(&missing, size, one, 16 * MIB), vec![missing]);
        // Nothing missing: still one (empty) request, as before.
        let none = ChunkRanges::empty();
        assert_eq!(plan_segments(&none, size, one, 16 * MIB), vec![none]);
    }

    #[test]
    fn about_eight_segments_per_worker() {
        // 64 MiB over 2 providers: 16 segments of 4 MiB.
        let size = 64 * MIB;
        let missing = ChunkRanges::chunks(0..64 * 1024);
        let plan = plan_segments(&missing, size, split(2, 1), 16 * MIB);
        assert_eq!(plan.len(), 16);
        assert!(
            segment_bounds(&plan, size)
                .iter()
                .all(|&(s, e)| e - s == 4096)
        );
    }

    #[test]
    fn segments_respect_the_configured_size() {
        // 256 MiB over 4 streams would be 8 MiB segments; 2 MiB is the cap.
        let size = 256 * MIB;
        let missing = ChunkRanges::chunks(0..256 * 1024);
        let plan = plan_segments(&missing, size, split(1, 4), 2 * MIB);
        assert_eq!(plan.len(), 128);
        // A cap below 1 MiB still gives 1 MiB segments.
        let plan = plan_segments(&missing, size, split(1, 4), 64 * 1024);
        assert_eq!(plan.len(), 256);
    }

    #[test]
    fn a_small_blob_is_cut_into_1_mib_segments() {
        let size = 3 * MIB + 5;
        let missing = ChunkRanges::chunks(0..size.div_ceil(1024));
        let plan = plan_segments(&missing, size, split(4, 4), 16 * MIB);
        assert_eq!(
            segment_bounds(&plan, size),
            vec![(0, 1024), (1024, 2048), (2048, 3072), (3072, 3073)]
        );
    }

    #[test]
    fn a_resume_asks_only_for_the_holes_on_the_segment_grid() {
        // Chunks 1000..1100 and 2500..5000 are already in the store.
        let size = 8 * MIB;
        let all = ChunkRanges::chunks(0..8 * 1024);
        let have = ChunkRanges::chunks(1000..1100) | ChunkRanges::chunks(2500..5000);
        let missing = all - have;
        let plan = plan_segments(&missing, size, split(2, 1), 16 * MIB);
        assert_eq!(
            segment_bounds(&plan, size),
            vec![
                (0, 1000),
                (1100, 2048),
                (2048, 2500),
                (5000, 5120),
                (5120, 6144),
                (6144, 7168),
                (7168, 8192),
            ]
        );
    }

    /// A blob size, weighted towards blobs of a few segments.
    fn blob_size() -> impl Strategy<Value = u64> {
        prop_oneof![0..4 * MIB, 0..256 * MIB, 0..4096 * MIB]
    }

    /// Up to eight chunk ranges already in the store, as fractions of the blob.
    fn present() -> impl Strategy<Value = Vec<(f64, f64)>> {
        prop::collection::vec((0.0..1.0f64, 0.0..0.3f64), 0..8)
    }

    proptest! {
        /// The plan covers exactly what is missing, without overlap, in
        /// segments within the size limits, and enough of them for every
        /// worker to get some.
        #[test]
        fn plan_covers_the_missing_ranges_disjointly(
            size in blob_size(),
            have in present(),
            providers in 0usize..6,
            dropped in 0usize..6,
            streams in 0usize..5,
            segment_bytes in prop_oneof![0..4 * MIB, 0..64 * MIB],
        ) {
            let last = size.div_ceil(1024).max(1);
            let mut present = ChunkRanges::empty();
            for (at, len) in have {
                let s = (at * last as f64) as u64;
                let e = (s + (len * last as f64) as u64).min(last);
                present |= ChunkRanges::chunks(s..e);
            }
            let missing = ChunkRanges::chunks(0..last) - present;
            let workers = Workers {
                providers,
                active: providers.saturating_sub(dropped),
                streams_per_provider: streams,
            };
            let plan = plan_segments(&missing, size, workers, segment_bytes);

            // Disjoint, and together exactly the missing chunks.
            let mut got = segment_bounds(&plan, size);
            got.sort_unstable();
            for w in got.windows(2) {
                prop_assert!(w[0].1 <= w[1].0, "overlapping segments {:?} and {:?}", w[0], w[1]);
            }
            let mut merged: Vec<(u64, u64)> = Vec::new();
            for (s, e) in got {
                match merged.last_mut() {
                    Some(m) if m.1 == s => m.1 = e,
                    _ => merged.push((s, e)),
                }
            }
            prop_assert_eq!(&merged, &bounds(&missing, size));

            let missing_chunks: u64 = merged.iter().map(|(s, e)| e - s).sum();
            if workers.single_request() {
                prop_assert_eq!(plan, vec![missing]);
                return Ok(());
            }
            // Segment size: whole chunk groups, at least 1 MiB, at most the
            // configured size (or 1 MiB if that is less).
            let seg = segment_chunks(ranges_bytes(&missing, size), workers.count(), max_segment_chunks(segment_bytes));
            prop_assert_eq!(seg % CHUNK_GROUP, 0);
            prop_assert!(seg >= MIN_SEGMENT_CHUNKS);
            prop_assert!(seg <= max_segment_chunks(segment_bytes).max(MIN_SEGMENT_CHUNKS));
            for s in &plan {
                let b = bounds(s, size);
                prop_assert_eq!(b.len(), 1, "a segment is one range");
                let (start, end) = b[0];
                prop_assert!(start < end, "empty segment");
                prop_assert!(end - start <= seg);
                // Within one window of the segment grid: cut only at its
                // multiples (so at chunk-group boundaries) or where the
                // missing data ends.
                prop_assert_eq!(start / seg, (end - 1) / seg);
            }
            // Spread: about eight segments per worker (at least seven), unless
            // that would make them smaller than 1 MiB; so every worker on
            // every provider can get one whenever there is 1 MiB for each.
            let wanted = (7 * workers.count()).min(missing_chunks.div_ceil(MIN_SEGMENT_CHUNKS));
            prop_assert!(
                plan.len() as u64 >= wanted,
                "{} segments for {} workers and {} missing chunks",
                plan.len(), workers.count(), missing_chunks
            );
        }
    }
}
