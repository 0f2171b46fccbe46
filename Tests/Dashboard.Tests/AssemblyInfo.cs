// Two collections, each with a silo and a chromium: one after the other, not side by side on a
// two-core machine that other suites share.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
