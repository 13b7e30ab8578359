//! ULIDs (being built).
