//! Postings: sorted series references behind a cursor, and their lazy set operations.

/// A cursor over a strictly increasing sequence of series references.
///
/// The contract every implementation MUST keep:
/// - Before the first [`next`](Self::next) or [`seek`](Self::seek) the cursor is positioned
///   before the first element; [`at`](Self::at) is unspecified there.
/// - `next` advances by one and returns whether an element is now current.
/// - `seek(v)` advances to the first element `>= v` and returns whether there is one. It MUST
///   NOT move backwards: if the current element is already `>= v` it stays. Seeking after the
///   end returns false.
/// - Once `next` or `seek` has returned false, both keep returning false.
/// - `at` returns the current element after a call that returned true.
pub trait Postings {
    /// Advances to the next element; false at the end.
    fn next(&mut self) -> bool;
    /// Advances to the first element `>= v`; never moves backwards; false at the end.
    fn seek(&mut self, v: u64) -> bool;
    /// The current element.
    fn at(&self) -> u64;
}

impl<P: Postings + ?Sized> Postings for Box<P> {
    fn next(&mut self) -> bool {
        (**self).next()
    }
    fn seek(&mut self, v: u64) -> bool {
        (**self).seek(v)
    }
    fn at(&self) -> u64 {
        (**self).at()
    }
}

impl<P: Postings + ?Sized> Postings for &mut P {
    fn next(&mut self) -> bool {
        (**self).next()
    }
    fn seek(&mut self, v: u64) -> bool {
        (**self).seek(v)
    }
    fn at(&self) -> u64 {
        (**self).at()
    }
}
